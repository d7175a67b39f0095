// CONNECT: refusals before authentication, the authenticator's decision, then the session (taken over or new),
// the negotiated limits, the will, and the CONNACK (connack.cpp).
#include <algorithm>
#include <random>

#include "broker/connack.hpp"
#include "broker/core.hpp"
#include "broker/util.hpp"
#include "codec/topic.hpp"
#include "common/utf8.hpp"

namespace moth::broker {

using codec::ProtocolVersion;
using codec::QoS;
using codec::ReasonCode;

bool Core::refuses_keepalive_v3(std::uint16_t keep_alive_s) const {
    // A 3.x CONNECT whose keepalive (0: none) is beyond limits.max_keepalive, refused unless max_keepalive_v3 says
    // "apply".
    const auto& l = cfg_.limits;
    return l.max_keepalive_v3 == config::KeepaliveV3::Refuse && l.max_keepalive < 65535 &&
           (keep_alive_s == 0 || keep_alive_s > l.max_keepalive);
}

ReasonCode Core::connect_refusal(Connection& c, const codec::Connect& p) {
    const auto v = p.version;
    const auto& limits = cfg_.limits;
    if (shared_.connection_count.load(std::memory_order_relaxed) >= limits.max_connections) {
        return is_v5(v) ? ReasonCode::ServerBusy : ReasonCode::ServerUnavailable;
    }
    if (p.client_id.empty()) {
        // 3.1 requires 1 to 23 characters; 3.1.1 [MQTT-3.1.3-7/8]: only with Clean Session 1.
        const bool allowed = cfg_.features.allow_zero_length_client_id && v != ProtocolVersion::V3_1 &&
                             (is_v5(v) || p.clean_start);
        if (!allowed) return ReasonCode::ClientIdentifierNotValid;
    } else if (p.client_id.size() > limits.max_client_id_length) {
        return ReasonCode::ClientIdentifierNotValid;
    } else if (p.client_id.starts_with(kBridgeClientPrefix) && !(c.tag && c.tag->internal())) {
        return ReasonCode::ClientIdentifierNotValid;  // a bridge's local session is not for others to take over
    }
    if (!is_v5(v) && refuses_keepalive_v3(p.keep_alive_s)) {
        if (shared_.log) {
            shared_.log(1, "refusing client " + std::string(p.client_id) + " from " + c.remote + ": keepalive " +
                               std::to_string(p.keep_alive_s) + " is not within limits.max_keepalive " +
                               std::to_string(limits.max_keepalive) +
                               " and MQTT 3.x cannot be told a lower one (limits.max_keepalive_v3 = \"apply\" accepts it)");
        }
        return ReasonCode::ClientIdentifierNotValid;  // 3.x return code 2, as Mosquitto
    }
    return ReasonCode::Success;
}

ReasonCode Core::will_refusal(const codec::Connect& p, std::string_view listener) const {
    const auto v = p.version;
    const auto& features = cfg_.features;
    if (p.will) {
        // [MQTT-3.2.2-12] / [MQTT-3.2.2-13]: a Will the server cannot honour is refused in CONNACK.
        if (static_cast<std::uint8_t>(p.will->qos) > features.maximum_qos) {
            return is_v5(v) ? ReasonCode::QoSNotSupported : ReasonCode::ServerUnavailable;
        }
        if (p.will->retain && !features.retain_available) {
            return is_v5(v) ? ReasonCode::RetainNotSupported : ReasonCode::ServerUnavailable;
        }
        if (is_v5(v) && p.will->properties.payload_format_indicator == 1 &&
            !common::is_valid_mqtt_utf8(as_text(p.will->payload))) {
            return ReasonCode::PayloadFormatInvalid;
        }
    }
    const std::string_view method = p.properties.authentication_method.value_or(std::string_view{});
    if (!method.empty() && !shared_.authenticator->supports_method(method, listener)) {
        return ReasonCode::BadAuthenticationMethod;
    }
    return ReasonCode::Success;
}

void Core::handle_connect(Connection& c, const codec::Connect& p, TimePoint now) {
    c.version = p.version;
    const auto v = p.version;
    const bool internal = c.tag && c.tag->internal();
    c.bridge = p.bridge && !is_v5(v);
    // first: a refused connection costs no more work than this (mothd's own bridge clients are not limited)
    if (!internal && gate_refuses(c, p, now)) return;
    if (const auto refusal = connect_refusal(c, p); refusal != ReasonCode::Success) {
        connack_error(c, v, refusal);
        return;
    }
    if (!cfg_.server_reference.empty()) {
        if (is_v5(v)) {
            codec::Connack ack;
            ack.reason = ReasonCode::UseAnotherServer;
            ack.properties.server_reference = cfg_.server_reference;
            send_packet(c, ack);
            c.state = Connection::State::Closed;
            host_.close(c.id);
        } else {
            connack_error(c, v, ReasonCode::ServerUnavailable);
        }
        return;
    }
    if (const auto refusal = will_refusal(p, c.tag ? std::string_view(c.tag->name) : std::string_view());
        refusal != ReasonCode::Success) {
        connack_error(c, v, refusal);
        return;
    }
    if (internal) {
        // mothd's own bridge client: trusted, and its subscriptions must see everything its rules name.
        auth::Grants all;
        all.superuser = true;
        auto d = AuthDecision::allow();
        d.grants = std::make_shared<const auth::Grants>(std::move(all));
        complete_connect(c, p, now, std::move(d));
        return;
    }
    if (const auto refusal = listener_auth_refusal(c, p); refusal != ReasonCode::Success) {
        refuse_auth(c, v, refusal, p.client_id);
        return;
    }
    authenticate(c, p, now);
}

void Core::authenticate(Connection& c, const codec::Connect& p, TimePoint now) {
    const auto v = p.version;
    const std::string_view method = p.properties.authentication_method.value_or(std::string_view{});
    std::optional<std::string_view> username = p.username;
    if (c.rare && c.rare->transport_username) {
        username = *c.rare->transport_username;
        if (shared_.log) {
            shared_.log(1, "client " + std::string(p.client_id) + " from " + c.remote + ": username \"" +
                               *c.rare->transport_username +
                               (c.tag && c.tag->transport.starts_with("mqttsn") ? "\" from [mqttsn] username"
                                                                                : "\" from its client certificate"));
        }
    }
    AuthRequest req;
    req.client_id = p.client_id;
    req.username = username;
    req.password = p.password;
    req.method = method;
    req.data = p.properties.authentication_data;
    req.remote = c.remote;
    req.listener = c.tag ? std::string_view(c.tag->name) : std::string_view();
    req.certificate_identity = c.rare && c.rare->transport_username;
    req.version = v;
    if (!method.empty()) {
        auto& rare = c.rare_state();
        rare.auth_exchange.reset();  // a new CONNECT starts a new exchange
        req.exchange = &rare.auth_exchange;
    }
    const std::uint32_t ticket = ++c.auth_ticket;
    req.later = [host = &host_, w = index_, id = c.id, ticket](AuthDecision d) {
        host->post(w, [id, ticket, d = std::move(d)](Core& core, TimePoint t) mutable {
            core.auth_decided(id, ticket, std::move(d), t);
        });
    };
    auto decision = shared_.authenticator->authenticate(req, 0);
    // [MQTT-4.12.0-5]: the CONNACK of an enhanced authentication names its method, even without AUTH packets.
    if (!method.empty()) {
        c.rare_state().auth_method.assign(method);
    } else if (c.rare) {
        c.rare->auth_method.clear();
    }
    switch (decision.kind) {
        case AuthDecision::Kind::Deny:
            refuse_auth(c, v, decision.reason == ReasonCode::Success ? ReasonCode::NotAuthorized : decision.reason,
                        p.client_id);
            return;
        case AuthDecision::Kind::Pending:
            // The CONNECT waits (its packet kept, later input paused by on_data) until auth_decided().
            c.state = Connection::State::Authenticating;
            c.auth_pending = true;
            c.rare_state().pending_connect.emplace(current_raw_.begin(), current_raw_.end());
            return;
        case AuthDecision::Kind::Continue: {
            if (!is_v5(v) || method.empty()) {
                refuse_auth(c, v, ReasonCode::NotAuthorized, p.client_id);
                return;
            }
            c.state = Connection::State::Authenticating;
            auto& rare = c.rare_state();
            rare.auth_method.assign(method);
            rare.auth_step = 1;
            rare.pending_connect.emplace(current_raw_.begin(), current_raw_.end());
            send_auth(c, ReasonCode::ContinueAuthentication, decision.data);
            return;
        }
        case AuthDecision::Kind::Allow: break;
    }
    complete_connect(c, p, now, std::move(decision));
}

std::string Core::assign_client_id() {
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    for (;;) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "moth-%016llx", static_cast<unsigned long long>(rng()));
        std::string id(buf);
        if (owner_of(id) == index_ && sessions_.find(id) == sessions_.end()) return id;
    }
}

Session& Core::take_session(const std::string& client_id, bool clean_start, bool& present, TimePoint now) {
    present = false;
    if (auto it = sessions_.find(client_id); it != sessions_.end()) {
        Session& old = *it->second;
        if (Connection* oc = session_connection(old)) {
            // [MQTT-3.1.4-3]: the existing connection is closed; 5.0 tells it why.
            if (is_v5(oc->version)) {
                codec::Disconnect d;
                d.reason = ReasonCode::SessionTakenOver;
                send_packet(*oc, d);
            }
            drop_connection(*oc, true, now);
        }
    }
    // drop_connection may have ended a session that expires with its connection.
    auto again = sessions_.find(client_id);
    if (again == sessions_.end()) return new_session(client_id);
    Session& s = *again->second;
    if (clean_start) {
        // [MQTT-3.1.2-4] (3.1.1 [MQTT-3.1.2-6]): Clean Start discards the existing session.
        s.pending_will.reset();  // a new session starts; the old will is not due yet
        end_session(s);
        return new_session(client_id);
    }
    present = true;  // [MQTT-3.2.2-2]
    if (s.pending_will && durable(s)) {
        StoreBatch b{now};
        b.erase_will(s.client_id);
        commit(b);
    }
    s.pending_will.reset();  // reconnected within the Will Delay Interval
    return s;
}

Session& Core::new_session(const std::string& client_id) {
    auto ns = std::make_unique<Session>();
    ns->id = make_session_id(index_, next_session_++);
    // A copy of just its size: assigned to the empty string, an id over 15 characters would reserve 30.
    ns->client_id = std::string(client_id);
    ns->tag = std::make_shared<SessionTag>(client_id);
    Session& s = *ns;
    sessions_by_id_.emplace(s.id, &s);
    sessions_.emplace(s.client_id, std::move(ns));
    ++sessions_known_;
    Stats::add(stats_.sessions);
    return s;
}

void Core::negotiate(Connection& c, Session& s, const codec::Connect& p,
                     std::optional<std::uint16_t>& server_keep_alive) {
    const auto& limits = cfg_.limits;
    const auto& props = p.properties;
    if (is_v5(p.version)) {
        s.expiry_s = std::min(props.session_expiry_interval.value_or(0), limits.max_session_expiry_interval);
    } else {
        s.expiry_s = p.clean_start ? 0 : std::min(kNeverExpires, limits.max_session_expiry_interval);
    }
    c.keep_alive_s = p.keep_alive_s;
    if (p.keep_alive_s > limits.max_keepalive || (p.keep_alive_s == 0 && limits.max_keepalive < 65535)) {
        // 5.0 section 3.2.2.3.14: the client must use this value. A 3.x client got here only with
        // max_keepalive_v3 = "apply": the limit holds although the client cannot be told.
        c.keep_alive_s = limits.max_keepalive;
        if (is_v5(p.version)) server_keep_alive = limits.max_keepalive;
    }
    c.send_window = std::min<std::uint16_t>(props.receive_maximum.value_or(65535), limits.max_inflight);
    if (c.send_window == 0) c.send_window = 1;
    c.max_packet_size = props.maximum_packet_size.value_or(0);
    c.alias_max_out = props.topic_alias_maximum.value_or(0);
    c.request_problem_info = props.request_problem_information.value_or(1) != 0;
}

void Core::keep_will(Connection& c, const Session& s, const codec::Connect& p, TimePoint now) {
    if (!p.will) return;
    codec::Publish wp;
    wp.topic = p.will->topic;
    wp.payload = p.will->payload;
    wp.qos = p.will->qos;
    wp.retain = p.will->retain;
    wp.properties = p.will->properties;
    auto m = make_message(wp, p.will->topic, now);
    m->origin_session = s.id;
    m->expires_at.reset();
    // The Message Expiry Interval of a will counts from when it is published, not from CONNECT.
    StoredWill w{std::move(m), p.will->properties.will_delay_interval.value_or(0), std::nullopt};
    if (p.will->properties.message_expiry_interval) w.expiry_s = *p.will->properties.message_expiry_interval;
    c.will = std::move(w);
}

bool Core::replace_will(ConnectionId id, const codec::Publish* will, TimePoint now) {
    Connection* c = find_connection(id);
    if (c == nullptr || c->state != Connection::State::Connected || c->session == nullptr) return false;
    if (will == nullptr) {
        c->will.reset();
        return true;
    }
    if (static_cast<std::uint8_t>(will->qos) > cfg_.features.maximum_qos ||
        (will->retain && !cfg_.features.retain_available) ||
        codec::validate_topic_name(will->topic) != codec::TopicError::None) {
        return false;
    }
    if (!may(*c->session->tag->identity(), will->topic, Access::Write)) {
        note_denied(*c, "will on", will->topic);
        return false;
    }
    auto m = make_message(*will, will->topic, now);
    m->origin_session = c->session->id;
    m->expires_at.reset();
    c->will = StoredWill{std::move(m), 0, std::nullopt};
    return true;
}

void Core::complete_connect(Connection& c, const codec::Connect& p, TimePoint now, AuthDecision decision) {
    const auto v = p.version;
    std::string client_id(p.client_id);
    const bool assigned = client_id.empty();
    if (assigned) client_id = assign_client_id();
    auto identity = make_identity(c, client_id, p, decision);
    if (p.will && !may(*identity, p.will->topic, Access::Write)) {
        // The will is checked now, not only when it is published: a client learns at once that it will not go out.
        note_denied(c, "will on", p.will->topic);
        connack_error(c, v, ReasonCode::NotAuthorized);
        return;
    }
    // [MQTT-3.1.4-3] across the cluster: another node's connection of this client ends, and a session this node
    // does not hold may be on another node (not for a bridge: each node has its own "$bridge/<name>" session).
    const std::int64_t taken_at = c.rare ? std::exchange(c.rare->cluster_at, 0) : 0;
    const bool cluster_wide = clustered() && !c.bridge && !client_id.starts_with(kBridgeClientPrefix);
    if (cluster_wide && !assigned && taken_at == 0 && sessions_.find(client_id) == sessions_.end()) {
        take_from_cluster(c, p, client_id, now, std::move(decision));
        return;
    }
    bool present = false;
    Session& s = take_session(client_id, p.clean_start, present, now);
    if (cluster_wide) {
        s.claimed_at = taken_at != 0 ? taken_at : to_unix_ms(now, now);
        if (taken_at == 0) shared_.cluster->claim(client_id, s.claimed_at, nullptr);
    }
    s.version = v;
    s.connection = c.id;
    c.session = &s;
    s.tag->set_identity(std::move(identity));  // before the session record is written: it carries the user name
    std::optional<std::uint16_t> server_keep_alive;
    negotiate(c, s, p, server_keep_alive);
    if (store_ != nullptr) {
        // The session record (expiry, subscriptions) is rewritten on every CONNECT of a durable session; a
        // session that stops being durable leaves the store.
        StoreBatch b{now};
        if (durable(s) || s.spilled != 0) {
            // A session with messages in the store only stays there until they are delivered or it ends.
            persist_session(s, b);
        } else if (s.tag->durable.exchange(false)) {
            b.erase_session(s.client_id);
        }
        commit(b);
    }
    keep_will(c, s, p, now);
    c.state = Connection::State::Connected;
    if (c.keep_alive_s != 0) wheel_.schedule(c.id, c.due_tick, now + std::chrono::milliseconds(c.keep_alive_s * 1500LL));
    // The identity the transport established (a certificate's CN, the MQTT-SN gateway's user name) replaced the
    // CONNECT's User Name for the authenticator: the API and the logs show that one too.
    c.username = decision.username                           ? *decision.username
                 : (c.rare && c.rare->transport_username) ? *c.rare->transport_username
                 : p.username                             ? std::string(*p.username)
                                                          : std::string();
    if (decision.valid_for) {
        // An identity that holds only so long (a token's exp): check_connection closes the connection then.
        c.rare_state().expires_at = now + *decision.valid_for;
        wheel_.schedule(c.id, c.due_tick, *c.rare->expires_at);
    } else if (c.rare) {
        c.rare->expires_at.reset();
    }
    c.clean_start = p.clean_start;
    c.connected_at = now;
    start_throttle(c, now);
    Stats::add(stats_.connections);
    shared_.connection_count.fetch_add(1, std::memory_order_relaxed);

    ConnackTerms terms;
    terms.session_present = present;
    if (assigned) terms.assigned_client_id = client_id;
    terms.server_keep_alive = server_keep_alive;
    if (p.properties.session_expiry_interval.value_or(0) != s.expiry_s) terms.session_expiry_s = s.expiry_s;
    terms.auth_method = c.auth_method();
    if (decision.data) terms.auth_data = codec::Bytes(*decision.data);
    auto ack = accepted_connack(cfg_, v, terms);
    fit_connack(ack, v, c.max_packet_size);
    send_packet(c, ack);
    if (present) {
        // [MQTT-4.4.0-1]: resend unacknowledged PUBLISH (with DUP) and PUBREL, in their original order.
        resend_inflight(c, s, now);
        pump(s, now);
    }
}

}  // namespace moth::broker
