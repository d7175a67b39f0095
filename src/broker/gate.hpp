#pragma once
// Abuse limits the core asks at each CONNECT (connection rates, bans, flapping): src/server's AbuseGate over
// src/limits implements it, tests use fakes. Publish rates are the core's own (broker/throttle.hpp): they are per
// connection and need no sharing.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/message.hpp"
#include "limits/ban_list.hpp"

namespace moth::broker {

struct ConnectAttempt {
    std::string_view listener;  // the listener's name; empty in unit tests
    std::string_view client_id;  // as the CONNECT gave it (empty: the broker assigns one)
    std::optional<std::string_view> username;  // the CONNECT's, or the certificate's CN
    std::string_view remote;    // "ip:port" as the connection prints it
};

struct GateVerdict {
    enum class Kind : std::uint8_t { Admit, RateExceeded, Banned } kind = Kind::Admit;
    std::string why;  // for the log: which rate, which ban (and until when)
};

// Called on the worker thread that owns the client id, concurrently from every worker: implementations
// synchronize themselves and answer fast (no I/O on the caller's thread).
class Gate {
public:
    virtual ~Gate() = default;
    // Once per CONNECT, before authentication: within the connection rates (the listener's, the address's), not
    // banned, not flapping (this connect may be the one that gets the client id banned).
    virtual GateVerdict on_connect(const ConnectAttempt& attempt, TimePoint now) = 0;
    // Whether a connected client is banned now (bans added while it is connected).
    [[nodiscard]] virtual std::optional<std::string> banned(std::string_view client_id,
                                                            std::optional<std::string_view> username,
                                                            std::string_view remote) const = 0;
    // Bans flapping detection gave since start ($SYS, /metrics).
    [[nodiscard]] virtual std::uint64_t flapping_bans() const = 0;

    // ---- The ban list, for the HTTP API (any thread) ----
    // Bans in force, in kind then value order.
    [[nodiscard]] virtual std::vector<limits::Ban> bans() const = 0;
    // Adds or replaces a ban (its source becomes Api, created now): persisted, and connected clients it matches are
    // disconnected (5.0: DISCONNECT 0x98).
    virtual void add_ban(limits::Ban ban) = 0;
    // Removes a ban whatever its source (a config file's comes back at the next reload). False: there was none.
    virtual bool remove_ban(limits::Ban::Kind kind, std::string_view value) = 0;
    // The wall clock bans are written in (Unix seconds).
    [[nodiscard]] virtual std::int64_t wall_now() const = 0;
};

}  // namespace moth::broker
