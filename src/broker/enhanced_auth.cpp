// Enhanced authentication (5.0 section 4.12): AUTH exchanges at CONNECT and re-authentication, driven by the
// Authenticator. The CONNECT is kept while its exchange runs and completed by connect.cpp when it succeeds.
#include "broker/core.hpp"
#include "broker/util.hpp"

namespace moth::broker {

using codec::ReasonCode;

void Core::send_auth(Connection& c, ReasonCode reason, const std::optional<std::vector<std::byte>>& data) {
    codec::Auth a;
    a.reason = reason;
    a.properties.authentication_method = c.auth_method();
    if (data) a.properties.authentication_data = codec::Bytes(*data);
    send_packet(c, a);
}

void Core::handle_auth(Connection& c, const codec::Auth& p, TimePoint now) {
    if (!is_v5(c.version) || c.auth_method().empty() ||
        p.properties.authentication_method.value_or(std::string_view{}) != c.auth_method()) {
        // [MQTT-4.12.0-?]: AUTH without the method of the exchange in progress is a Protocol Error.
        protocol_close(c, ReasonCode::ProtocolError, "unexpected AUTH");
        return;
    }
    const bool reauth = c.state == Connection::State::Connected;
    if ((reauth && p.reason != ReasonCode::ReAuthenticate && p.reason != ReasonCode::ContinueAuthentication) ||
        (!reauth && p.reason != ReasonCode::ContinueAuthentication)) {
        protocol_close(c, ReasonCode::ProtocolError, "unexpected AUTH reason code");
        return;
    }
    auto& rare = *c.rare;  // there is an authentication method
    if (reauth && p.reason == ReasonCode::ReAuthenticate) rare.auth_step = 0;
    std::string_view client = c.session ? std::string_view(c.session->client_id) : std::string_view{};
    const IdentityPtr who = reauth && c.session ? c.session->tag->identity() : nullptr;
    AuthRequest req;
    req.client_id = client;
    if (who && !who->anonymous) req.username = who->username;
    req.method = rare.auth_method;
    req.data = p.properties.authentication_data;
    req.remote = c.remote;
    req.listener = c.tag ? std::string_view(c.tag->name) : std::string_view();
    req.version = c.version;
    req.exchange = &rare.auth_exchange;
    req.reauthenticating = reauth;
    auto decision = shared_.authenticator->authenticate(req, rare.auth_step++);
    if (decision.kind == AuthDecision::Kind::Continue) {
        send_auth(c, ReasonCode::ContinueAuthentication, decision.data);
        return;
    }
    if (decision.kind == AuthDecision::Kind::Deny) {
        const auto reason = decision.reason == ReasonCode::Success ? ReasonCode::NotAuthorized : decision.reason;
        if (reauth) {
            // DISCONNECT has no 0x86 or 0x8C (5.0 section 3.14.2.1): a refused proof is "Not authorized".
            protocol_close(c, reason == ReasonCode::ProtocolError ? reason : ReasonCode::NotAuthorized,
                           "re-authentication failed");
        } else {
            connack_error(c, c.version, reason);
        }
        return;
    }
    if (reauth) {
        // Re-authentication proves the same identity again (5.0 section 4.12.1); it cannot become another user.
        if (decision.username && who && *decision.username != who->username) {
            protocol_close(c, ReasonCode::NotAuthorized, "re-authentication as another user");
            return;
        }
        if (decision.valid_for) {
            c.rare_state().expires_at = now + *decision.valid_for;
            wheel_.schedule(c.id, c.due_tick, *c.rare->expires_at);
        }
        send_auth(c, ReasonCode::Success, decision.data);
        return;
    }
    // The exchange succeeded: finish the CONNECT kept since it arrived.
    auto raw = std::move(*rare.pending_connect);
    rare.pending_connect.reset();
    codec::Decoder d;
    auto r = d.decode(raw);
    c.state = Connection::State::AwaitConnect;
    current_raw_ = raw;  // kept again if the CONNECT waits for the cluster
    complete_connect(c, std::get<codec::Connect>(r.packet), now, std::move(decision));
    current_raw_ = {};
}

}  // namespace moth::broker
