#include "server/abuse_gate.hpp"

#include <chrono>

namespace moth::server {

namespace {

std::int64_t system_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string describe(const limits::Ban& b, std::int64_t now) {
    std::string s = "banned (" + std::string(to_string(b.kind)) + " " + b.value;
    if (!b.reason.empty()) s += ": " + b.reason;
    if (b.until) s += ", for " + std::to_string(*b.until - now) + " s more";
    return s + ")";
}

}  // namespace

std::string_view address_of(std::string_view remote) {
    if (remote.starts_with('[')) {
        const auto end = remote.find(']');
        return end == std::string_view::npos ? remote : remote.substr(1, end - 1);
    }
    const auto colon = remote.find(':');
    // One colon: "ip:port". More: an IPv6 address without brackets (no port).
    if (colon != std::string_view::npos && remote.find(':', colon + 1) == std::string_view::npos) {
        return remote.substr(0, colon);
    }
    return remote;
}

AbuseGate::AbuseGate(const config::Config& config, Log log, WallClock wall)
    : log_(std::move(log)), wall_(wall ? std::move(wall) : WallClock(system_now)) {
    reconfigure(config);
}

void AbuseGate::reconfigure(const config::Config& config) {
    auto s = std::make_shared<Settings>(Settings{config.limits, config.flapping, config.listeners});
    {
        std::lock_guard lock(settings_mutex_);
        settings_ = std::move(s);
    }
    bans_.set_config_bans(config.bans);  // config::Ban is limits::Ban
    if (!config.bans.empty() && ban_added_) ban_added_();
}

std::shared_ptr<const AbuseGate::Settings> AbuseGate::settings() const {
    std::lock_guard lock(settings_mutex_);
    return settings_;
}

void AbuseGate::attach_store(broker::Store* store, const std::vector<limits::Ban>& restored) {
    store_.store(store);
    const auto now = wall_();
    for (const auto& b : restored) {
        if (b.expired(now)) {
            persist(b, true);  // gone while mothd was down
        } else {
            bans_.add(b);
        }
    }
}

broker::GateVerdict AbuseGate::on_connect(const broker::ConnectAttempt& a, broker::TimePoint now) {
    using Kind = broker::GateVerdict::Kind;
    const auto wall = wall_();
    if (auto b = bans_.match(a.client_id, a.username, a.remote, wall)) return {Kind::Banned, describe(*b, wall)};
    const auto s = settings();
    if (auto why = over_rate(*s, a, now)) return {Kind::RateExceeded, std::move(*why)};
    const auto& f = s->flapping;
    if (!f.enabled) return {};
    const std::chrono::seconds window(f.window_s);
    if (!a.client_id.empty() && flapping_ids_.record(a.client_id, f.max_connects, window, now) &&
        flapped(limits::Ban::Kind::ClientId, std::string(a.client_id), f)) {
        return {Kind::Banned, "flapping: more than " + std::to_string(f.max_connects) + " connects in " +
                                  std::to_string(f.window_s) + " s; banned for " + std::to_string(f.ban_s) + " s"};
    }
    const auto address = address_of(a.remote);
    if (f.address_max_connects > 0 && flapping_addresses_.record(address, f.address_max_connects, window, now) &&
        flapped(limits::Ban::Kind::Address, std::string(address), f)) {
        return {Kind::Banned, "flapping address: more than " + std::to_string(f.address_max_connects) +
                                  " connects in " + std::to_string(f.window_s) + " s; banned for " +
                                  std::to_string(f.ban_s) + " s"};
    }
    return {};
}

std::optional<std::string> AbuseGate::over_rate(const Settings& s, const broker::ConnectAttempt& a,
                                                broker::TimePoint now) {
    static const config::Listener kNone;
    const config::Listener* l = &kNone;
    for (const auto& c : s.listeners) {
        if (c.name == a.listener) l = &c;
    }
    const auto rate = config::connection_rate(*l, s.limits);
    if (!listener_rates_.admit(a.listener, rate.rate, rate.burst, now)) {
        return "connection rate of listener " + std::string(a.listener) + " (" + std::to_string(rate.rate) + "/s)";
    }
    const auto per = config::connection_rate_per_address(s.limits);
    if (!address_rates_.admit(address_of(a.remote), per.rate, per.burst, now)) {
        return "connection rate per address (" + std::to_string(per.rate) + "/s)";
    }
    return std::nullopt;
}

bool AbuseGate::flapped(limits::Ban::Kind kind, std::string value, const config::Flapping& f) {
    auto ban = limits::make_ban(kind, value);
    if (!ban) return false;  // an address mothd cannot parse: nothing to ban, the CONNECT goes on
    ban->source = limits::Ban::Source::Flapping;
    ban->created = wall_();
    // Whole seconds: the ban ends in the second after ban_s has passed, never before (created is rounded down).
    ban->until = ban->created + 1 + f.ban_s;
    ban->reason = "flapping: more than " +
                  std::to_string(kind == limits::Ban::Kind::ClientId ? f.max_connects : f.address_max_connects) +
                  " connects in " + std::to_string(f.window_s) + " s";
    if (log_) log_(2, "banning " + std::string(to_string(kind)) + " " + ban->value + " for " + std::to_string(f.ban_s) +
                          " s: " + ban->reason);
    flapping_bans_.fetch_add(1, std::memory_order_relaxed);
    persist(*ban, false);
    bans_.add(std::move(*ban));
    // A flapping client is refused at this CONNECT; others it matches (an address ban) go too.
    if (kind == limits::Ban::Kind::Address && ban_added_) ban_added_();
    return true;
}

std::optional<std::string> AbuseGate::banned(std::string_view client_id, std::optional<std::string_view> username,
                                             std::string_view remote) const {
    const auto wall = wall_();
    if (auto b = bans_.match(client_id, username, remote, wall)) return describe(*b, wall);
    return std::nullopt;
}

std::vector<limits::Ban> AbuseGate::bans() const { return bans_.list(wall_()); }

void AbuseGate::add_ban(limits::Ban ban) {
    ban.source = limits::Ban::Source::Api;
    ban.created = wall_();
    persist(ban, false);
    if (log_) {
        log_(1, "ban added: " + std::string(to_string(ban.kind)) + " " + ban.value +
                    (ban.until ? " until " + std::to_string(*ban.until) : std::string()));
    }
    bans_.add(std::move(ban));
    for (const auto& gone : bans_.purge_expired(wall_())) persist(gone, true);
    if (ban_added_) ban_added_();
}

bool AbuseGate::remove_ban(limits::Ban::Kind kind, std::string_view value) {
    const std::string key = limits::canonical_value(kind, value);
    if (!bans_.remove(kind, key)) return false;
    // The key counts from zero again, so a client unbanned by hand is not banned again at its next connect.
    if (kind == limits::Ban::Kind::ClientId) flapping_ids_.forget(key);
    if (kind == limits::Ban::Kind::Address) flapping_addresses_.forget(key);
    limits::Ban gone;
    gone.kind = kind;
    gone.value = key;
    persist(gone, true);
    if (log_) log_(1, "ban removed: " + std::string(to_string(kind)) + " " + key);
    return true;
}

void AbuseGate::persist(const limits::Ban& ban, bool erase) {
    broker::Store* store = store_.load();
    // Config bans come from the file at each start: never written. An erase is harmless for any source.
    if (store == nullptr || (!erase && ban.source == limits::Ban::Source::Config)) return;
    broker::StoreBatch b(broker::Clock::now());
    if (erase) {
        b.erase_ban(ban.kind, ban.value);
    } else {
        b.put_ban(ban);
    }
    store->commit(b.take(), nullptr);
}

}  // namespace moth::server
