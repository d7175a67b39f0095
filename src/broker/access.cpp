// Access control in the core: the answer of an authenticator that took its time (a password hash on another
// thread), refusals at CONNECT, and the authorizer's checks (PUBLISH, SUBSCRIBE, wills; reads are checked by the
// Router), with denials as each protocol version's clients expect them (docs/security.md).
#include "broker/core.hpp"
#include "broker/util.hpp"
#include "codec/decoder.hpp"
#include "codec/topic.hpp"

namespace moth::broker {

using codec::ProtocolVersion;
using codec::QoS;
using codec::ReasonCode;

void Core::auth_decided(ConnectionId id, std::uint32_t ticket, AuthDecision d, TimePoint now) {
    now_ = now;
    Connection* c = find_connection(id);
    if (c == nullptr || !c->auth_pending || c->auth_ticket != ticket || !c->rare || !c->rare->pending_connect) return;
    c->auth_pending = false;
    auto raw = std::move(*c->rare->pending_connect);
    c->rare->pending_connect.reset();
    codec::Decoder decoder;
    auto r = decoder.decode(raw);
    const auto& connect = std::get<codec::Connect>(r.packet);
    c->state = Connection::State::AwaitConnect;
    if (d.kind == AuthDecision::Kind::Allow) {
        current_raw_ = raw;  // kept again if the CONNECT waits for the cluster
        complete_connect(*c, connect, now, std::move(d));
        current_raw_ = {};
    } else {
        const auto reason = d.kind == AuthDecision::Kind::Deny && d.reason != ReasonCode::Success
                                ? d.reason
                                : ReasonCode::NotAuthorized;
        refuse_auth(*c, connect.version, reason, connect.client_id);
    }
    // Packets sent after the CONNECT were kept: they are read now (unless the connection was closed, or the CONNECT
    // waits again: for the cluster, cluster_sessions.cpp).
    if (c->state != Connection::State::Closed && in_input_ != id && !c->auth_pending) host_.resume_input(id);
}

void Core::refuse_auth(Connection& c, ProtocolVersion v, ReasonCode reason, std::string_view client_id) {
    Stats::add(stats_.auth_failures);
    if (shared_.log) {
        shared_.log(2, "refusing client " + std::string(client_id) + " from " + c.remote + ": " +
                           std::string(codec::reason_code_name(reason)));
    }
    connack_error(c, v, reason);
}

IdentityPtr Core::make_identity(const Connection& c, const std::string& client_id, const codec::Connect& p,
                                const AuthDecision& d) const {
    auto i = std::make_shared<Identity>();
    i->client_id = client_id;
    i->grants = d.grants;
    if (d.username) {
        i->username = *d.username;  // the provider's name for it (a JWT claim, the SCRAM user)
        i->anonymous = false;
        if (c.rare && c.rare->transport_username) i->cert_cn = *c.rare->transport_username;
    } else if (c.rare && c.rare->transport_username) {
        i->username = *c.rare->transport_username;
        i->cert_cn = *c.rare->transport_username;
        i->anonymous = false;
    } else if (p.username) {
        i->username = std::string(*p.username);
        i->anonymous = false;
    }
    if (c.tag) {
        i->listener = c.tag->name;
        i->queue = c.tag->queue;
    }
    return i;
}

bool Core::may(const Identity& who, std::string_view topic, Access access) const {
    return !checks_access() || shared_.authorizer->allows(who, topic, access);
}

bool Core::may(const Session& s, std::string_view topic, Access access) {
    if (!checks_access()) return true;
    // Read and Write are cached by the router (per identity and topic, until the rules change); SUBSCRIBE is rare.
    if (access != Access::Subscribe) return router_.may(*s.tag, topic, access);
    return shared_.authorizer->allows(*s.tag->identity(), topic, access);
}

bool Core::checks_access() const {
    return shared_.authorizer != nullptr && shared_.authorizer->generation() != 0;  // 0: no rules at all
}

void Core::note_denied(Connection& c, std::string_view what, std::string_view topic, std::string_view by) {
    Stats::add(stats_.denied);
    ++c.denied;
    if (shared_.log) {
        shared_.log(1, "denied " + std::string(what) + " " + std::string(topic) + " to " +
                           (c.session ? c.session->client_id : std::string()) + " from " + c.remote +
                           " (" + std::string(by) + ")");
    }
}

void Core::deny_publish(Connection& c, const codec::Publish& p, std::string_view topic, std::string_view by) {
    note_denied(c, "PUBLISH to", topic, by);
    if (cfg_.auth.deny_action == config::DenyAction::Disconnect) {
        protocol_close(c, ReasonCode::NotAuthorized, "publish not authorized");  // 5.0: DISCONNECT 0x87
        return;
    }
    // 5.0: the reason code says it [MQTT-3.4.2.1], QoS 0 has nothing to say it with. 3.x has no reason code: the
    // message is acknowledged and dropped, as Mosquitto, FlashMQ and EMQX do (a QoS 2 flow then ends with PUBCOMP).
    send_publish_ack(c, p.qos, p.packet_id, is_v5(c.version) ? ReasonCode::NotAuthorized : ReasonCode::Success);
}

void Core::on_rules_changed(TimePoint now) {
    now_ = now;
    if (shared_.authorizer == nullptr) return;
    for (auto& [client_id, sp] : sessions_) {
        Session& s = *sp;
        const IdentityPtr who = s.tag->identity();
        std::vector<std::string> revoked;
        for (const auto& [filter, e] : s.subscriptions) {
            const auto shared = codec::parse_shared_filter(filter);
            const std::string_view plain = shared ? shared->filter : std::string_view(filter);
            if (!shared_.authorizer->allows(*who, plain, Access::Subscribe)) revoked.push_back(filter);
        }
        for (const auto& filter : revoked) {
            // 5.0 has no packet to tell the client: the log and the API (its subscriptions) show it.
            if (shared_.log) shared_.log(2, "subscription " + filter + " of " + s.client_id + " revoked (acl_file)");
            tree_.erase(filter, s.id);
            broadcast_unsubscribe(filter, s.id);
            stop_retained(s, filter);
            const auto gone = s.subscriptions.find(filter);
            cluster_interest(s, filter, gone->second, Interest::Remove);
            s.subscriptions.erase(gone);
            Stats::subtract(stats_.subscriptions);
        }
        if (!revoked.empty() && durable(s)) {
            StoreBatch b{now};
            persist_session(s, b);
            commit(b);
        }
    }
}

}  // namespace moth::broker
