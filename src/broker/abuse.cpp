// Abuse limits in the core (docs/security.md, "Limits"): the gate's verdict at CONNECT (connection rates, bans,
// flapping), a listener's authentication choice, publish rates per connection, and bans applied to clients that
// are already connected.
#include "broker/core.hpp"
#include "broker/util.hpp"

namespace moth::broker {

using codec::ReasonCode;

const config::Listener* Core::listener_config(const Connection& c) const {
    if (!c.tag) return nullptr;
    for (const auto& l : cfg_.listeners) {
        if (l.name == c.tag->name) return &l;
    }
    return nullptr;
}

bool Core::gate_refuses(Connection& c, const codec::Connect& p, TimePoint now) {
    if (shared_.gate == nullptr) return false;
    ConnectAttempt a;
    a.listener = c.tag ? std::string_view(c.tag->name) : std::string_view();
    a.client_id = p.client_id;
    a.username = p.username;
    if (c.rare && c.rare->transport_username) a.username = *c.rare->transport_username;
    a.remote = c.remote;
    const auto verdict = shared_.gate->on_connect(a, now);
    if (verdict.kind == GateVerdict::Kind::Admit) return false;
    const bool banned = verdict.kind == GateVerdict::Kind::Banned;
    Stats::add(banned ? stats_.banned_refused : stats_.connect_rate_refused);
    // 3.x: a ban is "not authorized" (return code 5), a rate "server unavailable" (3): what they can say. Logged
    // at debug level: a client in a reconnect loop would fill the log (the counters and the ban's own warning
    // say it).
    connack_error(c, p.version, banned ? ReasonCode::Banned : ReasonCode::ConnectionRateExceeded,
                  "client " + std::string(p.client_id) + ": " + verdict.why, 0);
    return true;
}

ReasonCode Core::listener_auth_refusal(const Connection& c, const codec::Connect& p) const {
    const auto* l = listener_config(c);
    if (l == nullptr) return ReasonCode::Success;
    const bool has_cert = c.rare && c.rare->transport_username;
    switch (l->auth) {
        case config::ListenerAuth::Any: return ReasonCode::Success;
        case config::ListenerAuth::Certificate:
            // Only a verified client certificate's CN identifies a client here; a password proves nothing.
            return has_cert ? ReasonCode::Success : ReasonCode::NotAuthorized;
        case config::ListenerAuth::Password:
            // A user name and password that the password file accepts, whatever allow_anonymous says.
            return p.username && p.password ? ReasonCode::Success : ReasonCode::NotAuthorized;
    }
    return ReasonCode::Success;
}

void Core::start_throttle(Connection& c, TimePoint now) {
    static const config::Listener kNone;
    const auto* l = listener_config(c);
    const auto msgs = config::publish_rate(l ? *l : kNone, cfg_.limits);
    const auto bytes = config::publish_byte_rate(l ? *l : kNone, cfg_.limits);
    if (msgs.rate <= 0 && bytes.rate <= 0) {
        c.throttle.reset();
        return;
    }
    // The server resumes a paused connection on its tick (kWheelTick): a burst smaller than what a tick's worth of
    // rate brings would lose tokens at each resume, and the rate would fall below the one configured.
    const double tick_s = std::chrono::duration<double>(kWheelTick).count();
    c.throttle = std::make_unique<Throttle>();
    c.throttle->messages = limits::TokenBucket(msgs.rate, std::max(msgs.burst, msgs.rate * tick_s), now);
    c.throttle->bytes = limits::TokenBucket(bytes.rate, std::max(bytes.burst, bytes.rate * tick_s), now);
    c.throttle->window_start = now;
}

bool Core::charge_publish(Connection& c, TimePoint now) {
    Throttle& t = *c.throttle;
    const auto wait = t.charge(current_raw_.size(), now);
    if (wait.count() <= 0) return true;
    if (cfg_.limits.over_rate == config::OverRate::Disconnect) {
        Stats::add(stats_.rate_disconnects);
        protocol_close(c, ReasonCode::MessageRateTooHigh, "publish rate above limits.publish_rate / publish_byte_rate");
        return false;
    }
    // This PUBLISH goes on; the next ones wait in the socket until the debt is paid (TCP back-pressure).
    t.paused = true;
    t.resume_at = now + std::chrono::duration_cast<Clock::duration>(wait);
    ++t.times;
    Stats::add(stats_.throttled);
    wheel_.schedule(c.id, c.due_tick, t.resume_at);
    return true;
}

void Core::on_bans_changed(TimePoint now) {
    now_ = now;
    if (shared_.gate == nullptr) return;
    std::vector<ConnectionId> banned;
    for (const auto& [id, c] : connections_) {
        if (c->state != Connection::State::Connected || c->session == nullptr) continue;
        std::optional<std::string_view> user;
        if (c->rare && c->rare->transport_username) {
            user = *c->rare->transport_username;
        } else if (!c->username.empty()) {
            user = c->username;
        }
        if (auto why = shared_.gate->banned(c->session->client_id, user, c->remote)) {
            if (shared_.log) shared_.log(1, "disconnecting " + c->session->client_id + " from " + c->remote + ": " + *why);
            banned.push_back(id);
        }
    }
    for (ConnectionId id : banned) {
        if (Connection* c = find_connection(id)) protocol_close(*c, ReasonCode::AdministrativeAction, "banned");
    }
}

}  // namespace moth::broker
