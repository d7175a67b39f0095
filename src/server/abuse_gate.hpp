#pragma once
// What mothd gives the broker against abusive clients (issue 19, docs/security.md "Limits"): connection rates per
// listener and per source address, flapping detection per client id and per address, and the ban list (the
// config's [[ban]] tables, the HTTP API's, flapping's). Bans of the API and of flapping are written to the store
// (when there is one) so that they survive a restart.
//
// Thread affinity: on_connect() and banned() on any worker, concurrently; the ban API (bans/add_ban/remove_ban)
// on any thread; reconfigure() and restore() on the main thread.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/gate.hpp"
#include "broker/store.hpp"
#include "config/config.hpp"
#include "limits/ban_list.hpp"
#include "limits/flapping.hpp"
#include "limits/keyed_rates.hpp"

namespace moth::server {

class AbuseGate final : public broker::Gate {
public:
    using Log = std::function<void(int, const std::string&)>;
    using WallClock = std::function<std::int64_t()>;  // Unix seconds; tests pass their own
    AbuseGate(const config::Config& config, Log log, WallClock wall = {});

    // SIGHUP: new rates, flapping settings and config bans.
    void reconfigure(const config::Config& config);
    // Start-up: the store to keep the API's and flapping's bans in (may be null), and the bans it held.
    void attach_store(broker::Store* store, const std::vector<limits::Ban>& restored);
    // Called after a ban was added (by any thread): the server disconnects the clients it matches.
    void on_ban_added(std::function<void()> fn) { ban_added_ = std::move(fn); }

    broker::GateVerdict on_connect(const broker::ConnectAttempt& attempt, broker::TimePoint now) override;
    [[nodiscard]] std::optional<std::string> banned(std::string_view client_id,
                                                    std::optional<std::string_view> username,
                                                    std::string_view remote) const override;
    [[nodiscard]] std::uint64_t flapping_bans() const override { return flapping_bans_.load(std::memory_order_relaxed); }

    // ---- The HTTP API ----
    [[nodiscard]] std::vector<limits::Ban> bans() const override;
    void add_ban(limits::Ban ban) override;
    bool remove_ban(limits::Ban::Kind kind, std::string_view value) override;
    [[nodiscard]] std::int64_t wall_now() const override { return wall_(); }

private:
    struct Settings {
        config::Limits limits;
        config::Flapping flapping;
        std::vector<config::Listener> listeners;
    };
    [[nodiscard]] std::shared_ptr<const Settings> settings() const;
    std::optional<std::string> over_rate(const Settings& s, const broker::ConnectAttempt& a,
                                         broker::TimePoint now);
    // Bans `value` for f.ban_s (logged, counted, persisted). False when it is no valid ban value.
    bool flapped(limits::Ban::Kind kind, std::string value, const config::Flapping& f);
    void persist(const limits::Ban& ban, bool erase);

    Log log_;
    std::atomic<std::uint64_t> flapping_bans_{0};
    WallClock wall_;
    mutable std::mutex settings_mutex_;
    std::shared_ptr<const Settings> settings_;
    limits::KeyedRates listener_rates_;
    limits::KeyedRates address_rates_;
    limits::FlapDetector flapping_ids_;
    limits::FlapDetector flapping_addresses_;
    limits::BanList bans_;
    std::atomic<broker::Store*> store_{nullptr};
    std::function<void()> ban_added_;
};

// The address part of a connection's "ip:port" / "[v6]:port" text ("10.0.0.1", "::1"); the text itself otherwise.
[[nodiscard]] std::string_view address_of(std::string_view remote);

}  // namespace moth::server
