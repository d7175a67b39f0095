// The core's messages on their way to the client (section 6.10 gateway's publish procedure): topic ids by
// predefined id, short name or registration (a REGISTER first, 6.5), at most max_inflight unanswered at once, in
// order, retransmitted (6.13), and kept while the client sleeps (6.14).
#include <algorithm>

#include "mqttsn/gateway_impl.hpp"

namespace moth::mqttsn {

namespace {

// The MQTT reason code with which the gateway answers the core for a message the client refused.
codec::ReasonCode refused_reason(ReturnCode rc) {
    switch (rc) {
        case ReturnCode::Congestion:
            return codec::ReasonCode::QuotaExceeded;
        case ReturnCode::InvalidTopicId:
            return codec::ReasonCode::TopicNameInvalid;
        default:
            return codec::ReasonCode::ImplementationSpecificError;
    }
}

}  // namespace

void GatewaySession::Impl::on_core_publish(const codec::Publish& p) {
    Message m{.topic = std::string(p.topic),
              .data = Buffer(p.payload.begin(), p.payload.end()),
              .qos = static_cast<std::uint8_t>(p.qos),
              .retain = p.retain,
              .packet_id = p.packet_id,
              .dup = false};
    if (m.data.size() > max_publish_data(cfg().max_datagram)) {
        drop();  // cannot fit one datagram
        ack_dropped(m, codec::ReasonCode::ImplementationSpecificError);
        return;
    }
    if (m.qos == 0) ++queued_qos0;
    // QoS 1/2 need no cap here: the core sends at most receive_maximum of them before they are answered.
    queue.push_back(std::move(m));
    pump();
    // What could not go at once is kept, QoS 0 up to sleep_buffer, the oldest dropped first. The cap holds in every
    // state, though only a sleeping (or stalled) client lets the queue grow.
    while (queued_qos0 > cfg().sleep_buffer) {
        const auto oldest = std::find_if(queue.begin(), queue.end(), [](const Message& q) { return q.qos == 0; });
        drop();
        queue.erase(oldest);  // exists: queued_qos0 counts the queue's QoS 0 messages
        --queued_qos0;
    }
}

// The topic's id without a REGISTER: a predefined name, a short (two-character) name, or a registered name.
std::optional<std::pair<TopicIdType, std::uint16_t>> GatewaySession::Impl::resolve(const std::string& topic) const {
    if (const PredefinedTopics* pre = cfg().predefined.get(); pre != nullptr) {
        if (const auto it = pre->by_name.find(topic); it != pre->by_name.end()) {
            return std::pair{TopicIdType::Predefined, it->second};
        }
    }
    if (topic.size() == 2) return std::pair{TopicIdType::Short, short_topic_id(topic)};
    if (const auto it = id_by_name.find(topic); it != id_by_name.end())
        return std::pair{TopicIdType::Normal, it->second};
    return std::nullopt;
}

const GatewaySession::Impl::Outstanding* GatewaySession::Impl::registering() const {
    const auto it = std::find_if(outstanding.begin(), outstanding.end(),
                                 [](const Outstanding& o) { return o.what == Await::Regack; });
    return it == outstanding.end() ? nullptr : &*it;
}

// Sends what the queue's head allows, in order: a message behind a REGISTER or a full window waits, and so does
// every message after it.
void GatewaySession::Impl::pump() {
    if (!connected()) return;
    while (!queue.empty()) {
        const bool window_full = outstanding.size() >= cfg().max_inflight;
        Message& m = queue.front();
        const auto topic = resolve(m.topic);
        if (!topic) {
            if (registering() != nullptr || window_full) return;
            const std::uint16_t id = registry_full() ? 0 : allocate_topic_id();
            if (id == 0) {  // no id left for it: the message cannot be delivered
                drop();
                ack_dropped(m, codec::ReasonCode::ImplementationSpecificError);
                if (m.qos == 0) --queued_qos0;
                queue.pop_front();
                continue;
            }
            next_topic_id = static_cast<std::uint16_t>(id + 1);
            Outstanding reg{
                .what = Await::Regack,
                .msg_id = next_register_msg_id,
                .msg = Message{.topic = m.topic, .data = {}, .qos = 0, .retain = false, .packet_id = 0, .dup = false},
                .type = TopicIdType::Normal,
                .topic_id = id,
                .sent_at = std::nullopt,
                .retries = 0};
            next_register_msg_id =
                static_cast<std::uint16_t>(next_register_msg_id == 0xFFFF ? 1 : next_register_msg_id + 1);
            outstanding.push_back(std::move(reg));
            send_entry(outstanding.back(), false);
            return;
        }
        if (m.qos > 0 && window_full) return;
        Outstanding o{.what = Await::Ack,
                      .msg_id = m.packet_id,
                      .msg = std::move(m),
                      .type = topic->first,
                      .topic_id = topic->second,
                      .sent_at = std::nullopt,
                      .retries = 0};
        queue.pop_front();
        if (o.msg.qos == 0) {
            --queued_qos0;
            send_entry(o, false);
        } else {
            outstanding.push_back(std::move(o));
            send_entry(outstanding.back(), false);
        }
    }
}

// Sends (or resends, with DUP on a PUBLISH) what `o` waits an answer for.
void GatewaySession::Impl::send_entry(Outstanding& o, bool resend) {
    switch (o.what) {
        case Await::Ack: {
            Flags f{.dup = resend || o.msg.dup,
                    .qos = static_cast<std::int8_t>(o.msg.qos),
                    .retain = o.msg.retain,
                    .will = false,
                    .clean_session = false,
                    .topic_id_type = o.type};
            send(Publish{.flags = f,
                         .topic_id = o.topic_id,
                         .msg_id = o.msg.qos > 0 ? o.msg_id : std::uint16_t{0},
                         .data = o.msg.data});
            break;
        }
        case Await::Comp:
            send(Pubrel{.msg_id = o.msg_id});
            break;
        case Await::Regack:
            send(Register{.topic_id = o.topic_id, .msg_id = o.msg_id, .topic_name = o.msg.topic});
            break;
        case Await::CoreRel:
            return;  // the core's turn
    }
    o.sent_at = now;
}

// On waking (or a resume) everything unanswered goes again at once: the client could not answer while asleep, and
// the retransmission clock restarts.
void GatewaySession::Impl::resend_all() {
    for (Outstanding& o : outstanding) {
        if (o.what == Await::CoreRel) continue;
        send_entry(o, o.sent_at.has_value());  // not counted as a retry
    }
}

// A message the client will never see is still acknowledged to the core: the core counts it against the internal
// connection's Receive Maximum until then, and would stop sending anything else.
void GatewaySession::Impl::ack_dropped(const Message& m, codec::ReasonCode reason) {
    if (m.qos == 1) to_core(codec::Puback{.packet_id = m.packet_id, .reason = reason, .properties = {}});
    // An error PUBREC ends a QoS 2 flow (MQTT 5.0 section 4.3.3): no PUBREL follows.
    if (m.qos == 2) to_core(codec::Pubrec{.packet_id = m.packet_id, .reason = reason, .properties = {}});
}

void GatewaySession::Impl::on_regack(const Regack& r) {
    const auto it = std::find_if(outstanding.begin(), outstanding.end(),
                                 [&](const Outstanding& o) { return o.what == Await::Regack && o.msg_id == r.msg_id; });
    if (it == outstanding.end()) {
        drop();
        return;
    }
    const std::string name = it->msg.topic;
    const std::uint16_t id = it->topic_id;
    outstanding.erase(it);
    if (r.rc == ReturnCode::Accepted) {
        add_registration(name, id);
    } else if (!id_by_name.contains(name)) {  // (unless the client registered the name itself meanwhile)
        // Refused: every message held for this topic is dropped; the others keep their order.
        for (auto q = queue.begin(); q != queue.end();) {
            if (q->topic != name) {
                ++q;
                continue;
            }
            drop();
            ack_dropped(*q, codec::ReasonCode::ImplementationSpecificError);
            if (q->qos == 0) --queued_qos0;
            q = queue.erase(q);
        }
    }
    pump();
}

void GatewaySession::Impl::on_client_puback(const Puback& a) {
    const auto it = std::find_if(outstanding.begin(), outstanding.end(),
                                 [&](const Outstanding& o) { return o.what == Await::Ack && o.msg_id == a.msg_id; });
    if (it == outstanding.end() || (it->msg.qos == 2 && a.rc == ReturnCode::Accepted)) {
        drop();  // unknown, or a QoS 2 message "accepted" with the wrong answer: its PUBREC may still come
        return;
    }
    if (a.rc != ReturnCode::Accepted) {
        drop();  // the client refused it: nothing more to do than to tell the core
        // A client that does not know the id forgot it (a restart): register it again for the next message.
        if (a.rc == ReturnCode::InvalidTopicId && it->type == TopicIdType::Normal) forget_registration(it->topic_id);
        ack_dropped(it->msg, refused_reason(a.rc));
    } else {
        to_core(codec::Puback{.packet_id = a.msg_id, .reason = codec::ReasonCode::Success, .properties = {}});
    }
    outstanding.erase(it);
    pump();
}

void GatewaySession::Impl::on_client_pubrec(const Pubrec& r) {
    const auto it = std::find_if(outstanding.begin(), outstanding.end(), [&](const Outstanding& o) {
        return o.msg_id == r.msg_id && o.what != Await::Regack && o.msg.qos == 2;
    });
    if (it == outstanding.end()) {
        drop();
        return;
    }
    if (it->what == Await::Ack) {
        to_core(codec::Pubrec{.packet_id = r.msg_id, .reason = codec::ReasonCode::Success, .properties = {}});
        it->what = Await::CoreRel;
        it->sent_at.reset();
        it->retries = 0;
        it->msg.data = {};  // the payload is delivered: only the id matters from here
    } else if (it->what == Await::Comp) {
        send_entry(*it, true);  // the client missed our PUBREL
    }
}

void GatewaySession::Impl::on_core_pubrel(const codec::Pubrel& r) {
    const auto it = std::find_if(outstanding.begin(), outstanding.end(), [&](const Outstanding& o) {
        return o.what == Await::CoreRel && o.msg_id == r.packet_id;
    });
    if (it == outstanding.end()) {
        to_core(codec::Pubcomp{
            .packet_id = r.packet_id, .reason = codec::ReasonCode::PacketIdentifierNotFound, .properties = {}});
        return;
    }
    it->what = Await::Comp;
    it->retries = 0;
    if (connected()) send_entry(*it, false);  // asleep: sent on waking
}

void GatewaySession::Impl::on_client_pubcomp(const Pubcomp& c) {
    const auto it = std::find_if(outstanding.begin(), outstanding.end(),
                                 [&](const Outstanding& o) { return o.what == Await::Comp && o.msg_id == c.msg_id; });
    if (it == outstanding.end()) {
        drop();
        return;
    }
    to_core(codec::Pubcomp{.packet_id = c.msg_id, .reason = codec::ReasonCode::Success, .properties = {}});
    outstanding.erase(it);
    pump();
}

// A resumed client forgot its topic ids: unanswered PUBLISHes go back to the front of the queue (in order, DUP set)
// to be registered again; a REGISTER in flight is moot.
void GatewaySession::Impl::requeue_for_resume() {
    std::vector<Message> again;
    for (auto it = outstanding.begin(); it != outstanding.end();) {
        if (it->what == Await::Ack) {
            it->msg.dup = true;
            again.push_back(std::move(it->msg));
        }
        if (it->what == Await::Ack || it->what == Await::Regack) {
            it = outstanding.erase(it);
        } else {
            ++it;
        }
    }
    queue.insert(queue.begin(), std::make_move_iterator(again.begin()), std::make_move_iterator(again.end()));
}

// 6.13: resend what is due; false once something went unanswered max_retries times.
bool GatewaySession::Impl::retransmit() {
    for (Outstanding& o : outstanding) {
        if (!o.sent_at || o.what == Await::CoreRel || now < *o.sent_at + cfg().retry_interval) continue;
        if (o.retries >= cfg().max_retries) return false;
        ++o.retries;
        send_entry(o, true);
    }
    return true;
}

}  // namespace moth::mqttsn
