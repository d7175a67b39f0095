// What a client sends into the broker after CONNECT, other than subscriptions: PUBLISH (with its checks, topic
// aliases and QoS 2 receive state), the acknowledgements of what the broker sent (PUBACK, PUBREC, PUBREL, PUBCOMP)
// and DISCONNECT.
#include <algorithm>

#include "broker/core.hpp"
#include "broker/util.hpp"
#include "codec/topic.hpp"
#include "common/utf8.hpp"

namespace moth::broker {

using codec::QoS;
using codec::ReasonCode;

void Core::send_publish_ack(Connection& c, QoS qos, std::uint16_t id, ReasonCode reason) {
    if (qos == QoS::AtLeastOnce) {
        codec::Puback a;
        a.packet_id = id;
        if (is_v5(c.version)) a.reason = reason;
        send_packet(c, a);
    } else if (qos == QoS::ExactlyOnce) {
        codec::Pubrec a;
        a.packet_id = id;
        if (is_v5(c.version)) a.reason = reason;
        send_packet(c, a);
    }
}

bool Core::resolve_alias(Connection& c, const codec::Publish& p, std::string_view& topic) {
    if (!is_v5(c.version) || !p.properties.topic_alias) return true;
    const auto alias = *p.properties.topic_alias;
    // [MQTT-3.3.2-9/10]: an alias above the Topic Alias Maximum we announced is a Topic Alias invalid.
    if (alias > cfg_.limits.topic_alias_maximum) {
        protocol_close(c, ReasonCode::TopicAliasInvalid, "topic alias above the maximum");
        return false;
    }
    if (!topic.empty()) {
        c.aliases_in[alias].assign(topic);
        return true;
    }
    auto it = c.aliases_in.find(alias);
    if (it == c.aliases_in.end()) {
        protocol_close(c, ReasonCode::ProtocolError, "unknown topic alias");
        return false;
    }
    topic = it->second;
    return true;
}

ReasonCode Core::publish_refusal(const Connection& c, const codec::Publish& p, std::string_view topic) const {
    if (codec::topic_level_count(topic) > cfg_.limits.max_topic_levels) return ReasonCode::TopicNameInvalid;
    if (topic.starts_with("$SYS")) return ReasonCode::NotAuthorized;  // $SYS belongs to the broker
    // 5.0 section 3.3.2.3.2: PUBACK/PUBREC or DISCONNECT with 0x99 Payload format invalid.
    if (is_v5(c.version) && p.properties.payload_format_indicator == 1 &&
        !common::is_valid_mqtt_utf8(as_text(p.payload))) {
        return ReasonCode::PayloadFormatInvalid;
    }
    return ReasonCode::Success;
}

void Core::handle_publish(Connection& c, const codec::Publish& p, TimePoint now) {
    Session& s = *c.session;
    if (!replaying_) {  // a packet back from the authorization hook was counted and charged the first time
        Stats::add(stats_.publish_received);
        if (c.throttle && !charge_publish(c, now)) return;
    }
    std::string_view topic = p.topic;
    if (!resolve_alias(c, p, topic)) return;
    if (static_cast<std::uint8_t>(p.qos) > cfg_.features.maximum_qos) {
        protocol_close(c, ReasonCode::QoSNotSupported, "QoS above the maximum");  // [MQTT-3.2.2-11]
        return;
    }
    if (p.retain && !cfg_.features.retain_available) {
        protocol_close(c, ReasonCode::RetainNotSupported, "retain not available");  // [MQTT-3.2.2-14]
        return;
    }
    if (p.qos == QoS::ExactlyOnce && s.incoming_qos2.count(p.packet_id) != 0) {
        duplicate_qos2(c, s, p);
        return;
    }
    if (p.qos == QoS::ExactlyOnce && s.incoming_qos2.size() >= cfg_.limits.receive_maximum) {
        // 5.0 section 3.3.4: more unacknowledged QoS > 0 PUBLISH than Receive Maximum -> 0x93.
        protocol_close(c, ReasonCode::ReceiveMaximumExceeded, "receive maximum exceeded");
        return;
    }
    if (const auto refusal = publish_refusal(c, p, topic); refusal != ReasonCode::Success) {
        if (p.qos == QoS::AtMostOnce && refusal == ReasonCode::PayloadFormatInvalid) {
            protocol_close(c, refusal, "payload is not UTF-8");
        } else {
            send_publish_ack(c, p.qos, p.packet_id, refusal);
        }
        return;
    }
    if (!may(s, topic, Access::Write)) {
        deny_publish(c, p, topic);
        return;
    }
    if (hooked()) {
        const auto verdict = ask_hook(c, Access::Write, topic, p.qos, p.retain);
        if (verdict == HookVerdict::Waiting) return;  // handled again once the hook answered (hook.cpp)
        if (verdict == HookVerdict::Denied) {
            deny_publish(c, p, topic, "the hook");
            return;
        }
    }
    auto m = make_message(p, topic, now);
    m->origin_session = s.id;
    MessagePtr msg = std::move(m);
    if (clustered() && p.qos != QoS::AtMostOnce) {
        cluster_publish(c, s, p, std::move(msg));  // acknowledged once the cluster stored it (cluster.cpp)
        return;
    }
    to_cluster(msg);
    if (store_ != nullptr && p.qos != QoS::AtMostOnce) {
        publish_durably(&c, s, p.packet_id, std::move(msg), now);
        return;
    }
    if (p.retain) {
        StoreBatch b{now};
        set_retained(msg, &b);  // [MQTT-3.3.1-5..7]
        commit(b);
    }
    const auto matched = route(msg);
    if (p.qos == QoS::ExactlyOnce) s.incoming_qos2.insert(p.packet_id);
    send_publish_ack(c, p.qos, p.packet_id, matched == 0 ? ReasonCode::NoMatchingSubscribers : ReasonCode::Success);
}

void Core::duplicate_qos2(Connection& c, Session& s, const codec::Publish& p) {
    // A duplicate of a QoS 2 message not yet released: not delivered again. With a store its PUBREC, like the first
    // copy's, goes out only once the receive state is stored: the first copy may have come on an earlier connection
    // a moment ago, its write still under way (batches are written in order).
    if (store_ == nullptr || !store_->acks_wait()) {
        send_publish_ack(c, QoS::ExactlyOnce, p.packet_id, ReasonCode::Success);
        return;
    }
    StoreBatch b{now_};
    if (durable(s)) b.put_incoming(s.client_id, p.packet_id);
    commit_then(b, [cid = c.id, pid = p.packet_id](Core& core, bool ok, TimePoint) {
        Connection* cc = core.find_connection(cid);
        if (cc == nullptr || cc->state != Connection::State::Connected) return;
        if (!ok && !is_v5(cc->version)) {
            core.protocol_close(*cc, ReasonCode::UnspecifiedError, "store write failed");
            return;
        }
        core.send_publish_ack(*cc, QoS::ExactlyOnce, pid, ok ? ReasonCode::Success : ReasonCode::UnspecifiedError);
    });
}

void Core::publish_durably(Connection* c, Session& s, std::uint16_t packet_id, MessagePtr msg, TimePoint now) {
    // Acknowledged means stored: the message, its place in every durable session's queue, the retained update and
    // the QoS 2 receive state go into one batch; in sync mode the message is delivered and acknowledged only once
    // that batch is fsynced. `c` is null when the connection went while the cluster stored the message.
    auto pending = std::make_shared<PendingPublish>();
    pending->connection = c != nullptr ? c->id : 0;
    pending->session = s.id;
    pending->message = msg;
    pending->packet_id = packet_id;
    pending->retain_update = msg->retain;
    StoreBatch b{now};
    capture(*pending, b);
    if (msg->retain) {
        if (msg->payload.empty()) {
            b.erase_retained(msg->topic);
        } else {
            b.put_retained(*msg);
        }
    }
    if (msg->qos == QoS::ExactlyOnce) {
        if (durable(s)) b.put_incoming(s.client_id, packet_id);
        // Known from now on, not from the write's completion: a copy resent meanwhile on a new connection is then a
        // duplicate (acknowledged after this write), not a second message.
        s.incoming_qos2.insert(packet_id);
    }
    if ((b.empty() && (c == nullptr || c->stores_pending == 0)) || !store_->acks_wait()) {
        commit(b);
        finish_publish(*pending, true, now);
    } else {
        // Batches complete in the order committed, so an empty one here completes after the writes before it.
        if (c != nullptr) ++c->stores_pending;
        commit_then(b, [pending](Core& core, bool ok, TimePoint t) {
            if (Connection* cc = core.find_connection(pending->connection); cc && cc->stores_pending != 0) {
                --cc->stores_pending;
            }
            core.finish_publish(*pending, ok, t);
        });
    }
}

void Core::handle_puback(Session& s, const codec::Puback& p, TimePoint now) {
    auto it = std::find_if(s.inflight.begin(), s.inflight.end(), [&](const Outgoing& o) {
        return o.packet_id == p.packet_id && o.qos == QoS::AtLeastOnce && !o.held;
    });
    if (it != s.inflight.end()) {
        forget(s, *it);
        s.inflight.erase(it);
    }
    pump(s, now);
}

void Core::handle_pubrec(Connection& c, Session& s, const codec::Pubrec& p, TimePoint now) {
    auto it = std::find_if(s.inflight.begin(), s.inflight.end(), [&](const Outgoing& o) {
        return o.packet_id == p.packet_id && o.qos == QoS::ExactlyOnce && !o.held;
    });
    codec::Pubrel rel;
    rel.packet_id = p.packet_id;
    if (it == s.inflight.end()) {
        if (is_v5(c.version)) rel.reason = ReasonCode::PacketIdentifierNotFound;
        send_packet(c, rel);
    } else if (codec::is_error(p.reason)) {
        forget(s, *it);
        s.inflight.erase(it);  // 5.0 section 4.3.3: an error PUBREC ends the flow
        pump(s, now);
    } else {
        it->pubrec = true;  // [MQTT-4.3.3-?] answer PUBREC with PUBREL
        if (mark_pubrec(s, *it, p.packet_id)) send_packet(c, rel);
    }
}

void Core::handle_pubcomp(Session& s, const codec::Pubcomp& p, TimePoint now) {
    auto it = std::find_if(s.inflight.begin(), s.inflight.end(), [&](const Outgoing& o) {
        return o.packet_id == p.packet_id && o.qos == QoS::ExactlyOnce && o.pubrec;
    });
    if (it != s.inflight.end()) {
        forget(s, *it);
        s.inflight.erase(it);
    }
    pump(s, now);
}

void Core::handle_pubrel(Connection& c, Session& s, const codec::Pubrel& p) {
    codec::Pubcomp comp;
    comp.packet_id = p.packet_id;
    // [MQTT-4.3.3-?] the packet identifier is released once PUBCOMP is sent.
    const bool known = s.incoming_qos2.erase(p.packet_id) != 0;
    if (!known && is_v5(c.version)) comp.reason = ReasonCode::PacketIdentifierNotFound;
    if (known && durable(s)) {
        // The PUBCOMP waits until the receive state is gone from the store: a stale one would make a later message
        // reusing the packet identifier look like a duplicate.
        StoreBatch b{now_};
        b.erase_incoming(s.client_id, p.packet_id);
        if (store_->acks_wait()) {
            commit_then(b, [cid = c.id, pid = p.packet_id](Core& core, bool, TimePoint) {
                if (Connection* cc = core.find_connection(cid)) {
                    codec::Pubcomp cp;
                    cp.packet_id = pid;
                    core.send_packet(*cc, cp);
                }
            });
            return;
        }
        commit(b);
    }
    send_packet(c, comp);
}

void Core::handle_disconnect(Connection& c, const codec::Disconnect& p, TimePoint now) {
    Session& s = *c.session;
    if (is_v5(c.version) && p.properties.session_expiry_interval) {
        // 5.0 section 3.14.2.2.2: zero in CONNECT then non-zero in DISCONNECT is a Protocol Error.
        if (s.expiry_s == 0 && *p.properties.session_expiry_interval != 0) {
            protocol_close(c, ReasonCode::ProtocolError, "session expiry set on DISCONNECT after 0 in CONNECT");
            return;
        }
        s.expiry_s = std::min(*p.properties.session_expiry_interval, cfg_.limits.max_session_expiry_interval);
        if (durable(s)) {
            StoreBatch b{now};
            persist_session(s, b);
            commit(b);
        }
    }
    // [MQTT-3.14.4-3]: a normal DISCONNECT discards the Will; 5.0 0x04 asks for it to be published.
    const bool with_will = is_v5(c.version) && p.reason == ReasonCode::DisconnectWithWillMessage;
    if (!with_will) c.will.reset();
    drop_connection(c, with_will, now);
}

}  // namespace moth::broker
