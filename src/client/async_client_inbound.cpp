// AsyncClient, packets from the broker: messages (with inbound topic aliases and QoS 2 duplicates), the
// acknowledgements that move our publishes and subscriptions along, DISCONNECT and AUTH.
#include <string>

#include "client/async_client_impl.hpp"
#include "codec/encoder.hpp"

namespace moth {

bool AsyncClient::Impl::handle(Connection& c, const codec::Packet& packet) {
    switch (codec::packet_type(packet)) {
        case PacketType::Publish: return handle_publish(c, std::get<codec::Publish>(packet));
        case PacketType::Puback: return handle_puback(std::get<codec::Puback>(packet));
        case PacketType::Pubrec: return handle_pubrec(c, std::get<codec::Pubrec>(packet));
        case PacketType::Pubcomp: return handle_pubcomp(std::get<codec::Pubcomp>(packet));
        case PacketType::Pubrel: return handle_pubrel(c, std::get<codec::Pubrel>(packet));
        case PacketType::Suback: return handle_suback(std::get<codec::Suback>(packet));
        case PacketType::Unsuback: return handle_unsuback(std::get<codec::Unsuback>(packet));
        case PacketType::Pingresp: c.ping_outstanding = false; return true;
        case PacketType::Disconnect: {
            const auto& d = std::get<codec::Disconnect>(packet);
            auto err = client::refused(d.reason, PacketType::Disconnect, d.properties.reason_string);
            err.message = "disconnected by the broker: " + err.message;
            if (!c.error) c.error = std::move(err);
            return false;
        }
        case PacketType::Auth: return handle_auth(c, std::get<codec::Auth>(packet));
        default:
            fail_connection(c, ReasonCode::ProtocolError,
                            make_error(Error::Kind::Protocol,
                                       "unexpected " + std::string(codec::packet_type_name(codec::packet_type(packet)))));
            return false;
    }
}

bool AsyncClient::Impl::handle_puback(const codec::Puback& a) {
    auto it = inflight_.find(a.packet_id);
    if (it == inflight_.end() || it->second.stage != OutMessage::Stage::AwaitPuback) return true;
    if (it->second.done) {
        if (codec::is_error(a.reason)) {
            it->second.done->set(client::refused(a.reason, PacketType::Puback, a.properties.reason_string));
        } else {
            it->second.done->set(PublishResult{static_cast<std::uint8_t>(a.reason), opt_string(a.properties.reason_string)});
        }
    }
    inflight_.erase(it);
    pump();
    return true;
}

bool AsyncClient::Impl::handle_pubrec(Connection& c, const codec::Pubrec& a) {
    auto it = inflight_.find(a.packet_id);
    if (it == inflight_.end() || it->second.stage == OutMessage::Stage::AwaitPuback) {
        if (c.version == codec::ProtocolVersion::V5) {
            send(c, client::ack<codec::Pubrel>(a.packet_id, ReasonCode::PacketIdentifierNotFound));
        } else {
            send(c, client::ack<codec::Pubrel>(a.packet_id));
        }
        return true;
    }
    if (codec::is_error(a.reason)) {
        if (it->second.done) {
            it->second.done->set(client::refused(a.reason, PacketType::Pubrec, a.properties.reason_string));
        }
        inflight_.erase(it);
        pump();
        return true;
    }
    it->second.stage = OutMessage::Stage::AwaitPubcomp;
    it->second.pubrec_reason = static_cast<std::uint8_t>(a.reason);
    it->second.reason_string = opt_string(a.properties.reason_string);
    send(c, client::ack<codec::Pubrel>(a.packet_id));
    return true;
}

bool AsyncClient::Impl::handle_pubcomp(const codec::Pubcomp& a) {
    auto it = inflight_.find(a.packet_id);
    if (it == inflight_.end() || it->second.stage != OutMessage::Stage::AwaitPubcomp) return true;
    if (it->second.done) {
        it->second.done->set(PublishResult{it->second.pubrec_reason, it->second.reason_string});
    }
    inflight_.erase(it);
    pump();
    return true;
}

bool AsyncClient::Impl::handle_pubrel(Connection& c, const codec::Pubrel& a) {
    const bool known = inbound_qos2_.erase(a.packet_id) > 0;
    auto comp = client::ack<codec::Pubcomp>(a.packet_id);
    if (!known && c.version == codec::ProtocolVersion::V5) comp.reason = ReasonCode::PacketIdentifierNotFound;
    send(c, comp);
    return true;
}

bool AsyncClient::Impl::handle_suback(const codec::Suback& a) {
    auto node = sub_pending_.extract(a.packet_id);
    if (node.empty()) return true;
    auto& pending = node.mapped();
    SubscribeResult result;
    bool any_granted = false;
    for (std::size_t i = 0; i < a.reason_codes.size(); ++i) {
        result.reason_codes.push_back(static_cast<std::uint8_t>(a.reason_codes[i]));
        if (!codec::is_error(a.reason_codes[i]) && i < pending.subscriptions.size()) {
            any_granted = true;
            const auto& s = pending.subscriptions[i];
            subscriptions_[s.filter] = {s.options, pending.subscription_id};
        }
    }
    result.reason_string = opt_string(a.properties.reason_string);
    result.user_properties = client::copy_user_properties(a.properties.user_properties);
    if (pending.done) {
        if (!any_granted && !a.reason_codes.empty()) {
            pending.done->set(client::refused(a.reason_codes[0], PacketType::Suback, a.properties.reason_string));
        } else {
            pending.done->set(std::move(result));
        }
    }
    return true;
}

bool AsyncClient::Impl::handle_unsuback(const codec::Unsuback& a) {
    auto node = unsub_pending_.extract(a.packet_id);
    if (node.empty()) return true;
    UnsubscribeResult result;
    for (auto rc : a.reason_codes) result.reason_codes.push_back(static_cast<std::uint8_t>(rc));
    for (const auto& f : node.mapped().filters) subscriptions_.erase(f);
    if (node.mapped().done) node.mapped().done->set(std::move(result));
    return true;
}

bool AsyncClient::Impl::handle_publish(Connection& c, const codec::Publish& p) {
    std::string topic(p.topic);
    if (p.properties.topic_alias) {
        const auto alias = *p.properties.topic_alias;
        if (alias == 0 || alias > opts_.topic_alias_maximum) {
            fail_connection(c, ReasonCode::TopicAliasInvalid,
                            make_error(Error::Kind::Protocol, "the broker used topic alias " +
                                                                  std::to_string(alias) + " beyond our maximum",
                                       static_cast<std::uint8_t>(ReasonCode::TopicAliasInvalid)));
            return false;
        }
        if (!topic.empty()) {
            c.in_aliases[alias] = topic;
        } else if (auto it = c.in_aliases.find(alias); it != c.in_aliases.end()) {
            topic = it->second;
        } else {
            fail_connection(c, ReasonCode::ProtocolError,
                            make_error(Error::Kind::Protocol,
                                       "the broker used topic alias " + std::to_string(alias) + " before setting it",
                                       static_cast<std::uint8_t>(ReasonCode::ProtocolError)));
            return false;
        }
    } else if (topic.empty()) {
        fail_connection(c, ReasonCode::ProtocolError,
                        make_error(Error::Kind::Protocol, "PUBLISH without a topic",
                                   static_cast<std::uint8_t>(ReasonCode::ProtocolError)));
        return false;
    }
    if (resend_of_held_message(c, p)) return true;
    bool deliver_it = true;
    if (p.qos == codec::QoS::ExactlyOnce) {
        // Delivered once, when first received; a resent PUBLISH with the same id before PUBREL is a duplicate.
        deliver_it = inbound_qos2_.insert(p.packet_id).second;
    }
    const bool app_acks = opts_.manual_ack && p.qos != codec::QoS::AtMostOnce;
    if (deliver_it) {
        Message m;
        m.topic = std::move(topic);
        m.payload = client::copy_bytes(p.payload);
        m.qos = static_cast<QoS>(p.qos);
        m.retain = p.retain;
        m.dup = p.dup;
        m.packet_id = p.qos == codec::QoS::AtMostOnce ? 0 : p.packet_id;
        m.properties = client::copy_message_properties(p.properties);
        // Recorded before delivery, so that on_message may ack() at once.
        if (app_acks) awaiting_ack_[p.packet_id] = {m.qos, m.topic, payload_hash(m.payload)};
        deliver(std::move(m));
        if (app_acks) return true;  // acknowledged by ack()
    }
    if (p.qos == codec::QoS::AtLeastOnce) send(c, client::ack<codec::Puback>(p.packet_id));
    if (p.qos == codec::QoS::ExactlyOnce) send(c, client::ack<codec::Pubrec>(p.packet_id));
    return true;
}

bool AsyncClient::Impl::resend_of_held_message(Connection& c, const codec::Publish& p) {
    if (!opts_.manual_ack || p.qos == codec::QoS::AtMostOnce) return false;
    // The broker cannot reuse an identifier we have not acknowledged, so this is the message the application
    // holds, resent after a reconnect ([MQTT-4.4.0-1]): its ack() acknowledges this copy. Before our PUBACK it is
    // not a new message yet ([MQTT-4.3.2-5] says when it becomes one).
    if (awaiting_ack_.contains(p.packet_id)) return true;
    if (p.qos == codec::QoS::AtLeastOnce && acked_offline_.erase(p.packet_id) > 0) {
        send(c, client::ack<codec::Puback>(p.packet_id));  // the application acked it while we were offline
        return true;
    }
    return false;  // QoS 2 acked offline: still in inbound_qos2_, so answered with PUBREC at once below
}

void AsyncClient::Impl::acknowledge(const Message& m) {
    if (m.qos == QoS::AtMostOnce || m.packet_id == 0) return;
    auto it = awaiting_ack_.find(m.packet_id);
    if (it == awaiting_ack_.end() || it->second.qos != m.qos || it->second.topic != m.topic ||
        it->second.payload_hash != payload_hash(m.payload)) {
        return;
    }
    awaiting_ack_.erase(it);
    Connection* c = current_ && !current_->closed ? current_.get() : nullptr;
    if (m.qos == QoS::AtLeastOnce) {
        if (c) {
            send(*c, client::ack<codec::Puback>(m.packet_id));
        } else {
            acked_offline_.insert(m.packet_id);
        }
        return;
    }
    // QoS 2: the id stays in inbound_qos2_ until PUBREL, so a resend (if this PUBREC is lost, or we are offline)
    // is answered with PUBREC at once and not delivered again [MQTT-4.3.3-10].
    if (c) send(*c, client::ack<codec::Pubrec>(m.packet_id));
}

void AsyncClient::Impl::deliver(Message m) {
    if (on_message_) {
        on_message_(m);
        return;
    }
    inbox_.push_back(std::move(m));
    receivers_.notify_all();
}

bool AsyncClient::Impl::handle_auth(Connection& c, const codec::Auth& a) {
    if (a.reason == ReasonCode::Success) {
        // The end of a re-authentication: the broker's final word is checked as the CONNACK's is.
        if (reauth_) {
            auto verdict = auth_complete(a.properties.authentication_data);
            if (!verdict) {
                reauth_->set(verdict.error());
                reauth_.reset();
                fail_connection(c, ReasonCode::NotAuthorized, verdict.error());
                return false;
            }
        }
        if (reauth_) {
            reauth_->set(Result<void>());
            reauth_.reset();
        }
        return true;
    }
    if (a.reason != ReasonCode::ContinueAuthentication || !opts_.on_auth) {
        fail_connection(c, ReasonCode::ProtocolError, make_error(Error::Kind::Protocol, "unexpected AUTH"));
        return false;
    }
    auto answer = opts_.on_auth(a.properties.authentication_data.value_or(codec::Bytes{}));
    if (!answer) {
        if (reauth_) {
            reauth_->set(answer.error());
            reauth_.reset();
        }
        fail_connection(c, ReasonCode::NotAuthorized, answer.error());
        return false;
    }
    codec::Auth reply;
    reply.reason = ReasonCode::ContinueAuthentication;
    reply.properties.authentication_method = opts_.authentication_method;
    reply.properties.authentication_data = codec::Bytes(*answer);
    send(c, reply);
    return true;
}

}  // namespace moth
