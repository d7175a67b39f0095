// Topic ids (section 6.5 registration, 6.7 predefined ids and short names) and what the client asks of the core:
// PUBLISH (6.6, 6.8), SUBSCRIBE and UNSUBSCRIBE (6.9), with the core's answers mapped back.
#include <algorithm>

#include "codec/topic.hpp"
#include "mqttsn/gateway_impl.hpp"

namespace moth::mqttsn {

namespace {

std::optional<std::string> predefined_name(const PredefinedTopics* p, std::uint16_t id) {
    if (p == nullptr) return std::nullopt;
    const auto it = p->by_id.find(id);
    if (it == p->by_id.end()) return std::nullopt;
    return it->second;
}

bool is_predefined_id(const PredefinedTopics* p, std::uint16_t id) {
    return p != nullptr && p->by_id.contains(id);
}

}  // namespace

// ---- The registry: one name <-> id table per session, for both directions ------------------------------------

bool GatewaySession::Impl::registry_full() const {
    const std::size_t pending = registering() != nullptr ? 1 : 0;
    return name_by_id.size() + pending >= cfg().max_registrations;
}

// The lowest free id from next_topic_id upward, skipping predefined ids and the one a REGISTER in flight offers.
std::uint16_t GatewaySession::Impl::allocate_topic_id() const {
    const PredefinedTopics* pre = cfg().predefined.get();
    const Outstanding* reg = registering();
    std::uint16_t id = next_topic_id;
    for (unsigned tries = 0; tries < 0xFFFF; ++tries) {
        if (id != 0 && id != 0xFFFF && !is_predefined_id(pre, id) && !name_by_id.contains(id) &&
            (reg == nullptr || reg->topic_id != id)) {
            return id;
        }
        id = static_cast<std::uint16_t>(id + 1);
    }
    return 0;
}

// The id `name` is registered under, registering it now (under `id`, or a new one) when it is not; 0 when the
// table is full. The name the gateway is registering itself right now gets the id offered in that REGISTER.
std::uint16_t GatewaySession::Impl::add_registration(const std::string& name, std::uint16_t id) {
    if (const auto it = id_by_name.find(name); it != id_by_name.end()) return it->second;
    if (const Outstanding* reg = registering(); id == 0 && reg != nullptr && reg->msg.topic == name) id = reg->topic_id;
    if (id == 0) {
        if (registry_full()) return 0;
        id = allocate_topic_id();
        if (id == 0) return 0;
        next_topic_id = static_cast<std::uint16_t>(id + 1);
    }
    id_by_name.emplace(name, id);
    name_by_id.emplace(id, name);
    return id;
}

void GatewaySession::Impl::forget_registration(std::uint16_t id) {
    const auto it = name_by_id.find(id);
    if (it == name_by_id.end()) return;
    id_by_name.erase(it->second);
    name_by_id.erase(it);
}

// 6.5: the client registers a topic name to publish to it by id.
void GatewaySession::Impl::on_register(const Register& r) {
    if (r.topic_name.empty() || codec::validate_topic_name(r.topic_name) != codec::TopicError::None) {
        send(Regack{.topic_id = 0, .msg_id = r.msg_id, .rc = ReturnCode::NotSupported});
        return;
    }
    const std::uint16_t id = add_registration(r.topic_name);
    if (id == 0) {
        send(Regack{.topic_id = 0, .msg_id = r.msg_id, .rc = ReturnCode::Congestion});
        return;
    }
    send(Regack{.topic_id = id, .msg_id = r.msg_id, .rc = ReturnCode::Accepted});
}

// ---- PUBLISH from the client ------------------------------------------------------------------------------------

void GatewaySession::Impl::on_publish(const Publish& p) {
    std::optional<std::string> topic;
    switch (p.flags.topic_id_type) {
        case TopicIdType::Normal:
            if (const auto it = name_by_id.find(p.topic_id); it != name_by_id.end()) topic = it->second;
            break;
        case TopicIdType::Predefined:
            topic = predefined_name(cfg().predefined.get(), p.topic_id);
            break;
        case TopicIdType::Short:
            topic = short_topic_name(p.topic_id);
            break;
    }
    // 6.6: an unknown id is refused with PUBACK, whatever the QoS.
    if (!topic) {
        drop();
        send(Puback{.topic_id = p.topic_id, .msg_id = p.msg_id, .rc = ReturnCode::InvalidTopicId});
        return;
    }
    const std::uint8_t qos = p.flags.qos < 0 ? 0 : static_cast<std::uint8_t>(p.flags.qos);  // 6.8: -1 is 0 here
    // A name the core would refuse as malformed (a short name "a#", a predefined name from a bad table) would end
    // the whole internal connection: refused here instead. A QoS 1/2 message needs a msg_id to be acknowledged.
    if ((qos > 0 && p.msg_id == 0) || codec::validate_topic_name(*topic) != codec::TopicError::None) {
        drop();
        send(Puback{.topic_id = p.topic_id, .msg_id = p.msg_id, .rc = ReturnCode::NotSupported});
        return;
    }
    codec::Publish m;
    m.topic = *topic;
    m.qos = static_cast<codec::QoS>(qos);
    m.dup = qos > 0 && p.flags.dup;
    m.retain = p.flags.retain;
    m.packet_id = qos > 0 ? p.msg_id : 0;
    m.payload = p.data;
    to_core(m);
    if (qos > 0) publishes_in_flight[p.msg_id] = p.topic_id;
}

// The core's PUBACK for the client's QoS 1 PUBLISH.
void GatewaySession::Impl::on_core_puback(const codec::Puback& a) {
    const auto it = publishes_in_flight.find(a.packet_id);
    const std::uint16_t topic_id = it != publishes_in_flight.end() ? it->second : 0;
    if (it != publishes_in_flight.end()) publishes_in_flight.erase(it);
    send(Puback{.topic_id = topic_id, .msg_id = a.packet_id, .rc = sn_return_code(a.reason)});
}

// QoS 2: a PUBREC with an error ends the flow (MQTT 5.0 section 4.3.3); MQTT-SN says so with a PUBACK.
void GatewaySession::Impl::on_core_pubrec(const codec::Pubrec& a) {
    if (!codec::is_error(a.reason)) {
        send(Pubrec{.msg_id = a.packet_id});
        return;
    }
    on_core_puback(codec::Puback{.packet_id = a.packet_id, .reason = a.reason, .properties = {}});
}

void GatewaySession::Impl::on_core_pubcomp(const codec::Pubcomp& a) {
    publishes_in_flight.erase(a.packet_id);
    send(Pubcomp{.msg_id = a.packet_id});
}

// ---- SUBSCRIBE / UNSUBSCRIBE --------------------------------------------------------------------------------

void GatewaySession::Impl::on_subscribe(const Subscribe& s) {
    SubInFlight sub{.subscribe = true, .type = s.flags.topic_id_type, .name = s.topic_name, .topic_id = 0};
    if (s.flags.topic_id_type == TopicIdType::Predefined) {
        const auto name = predefined_name(cfg().predefined.get(), s.topic_id);
        if (!name) {
            send(Suback{.flags = {}, .topic_id = s.topic_id, .msg_id = s.msg_id, .rc = ReturnCode::InvalidTopicId});
            return;
        }
        sub.name = *name;
        sub.topic_id = s.topic_id;
    }
    // An invalid filter is answered here: the core would answer 0x8F too, but only with a packet id to carry it.
    if (codec::validate_topic_filter(sub.name) != codec::TopicError::None) {
        send(Suback{.flags = {}, .topic_id = 0, .msg_id = s.msg_id, .rc = ReturnCode::InvalidTopicId});
        return;
    }
    if (s.msg_id == 0) {
        send(Suback{.flags = {}, .topic_id = 0, .msg_id = 0, .rc = ReturnCode::NotSupported});
        return;
    }
    const codec::Subscription one{.filter = sub.name,
                                  .options = {.qos = static_cast<codec::QoS>(std::clamp<int>(s.flags.qos, 0, 2)),
                                              .no_local = false,
                                              .retain_as_published = false,
                                              .retain_handling = 0}};
    to_core(codec::Subscribe{.packet_id = s.msg_id, .properties = {}, .subscriptions = {&one, 1}});
    subs_in_flight[s.msg_id] = std::move(sub);
}

void GatewaySession::Impl::on_unsubscribe(const Unsubscribe& u) {
    std::string name = u.topic_name;
    if (u.flags.topic_id_type == TopicIdType::Predefined) {
        const auto pre = predefined_name(cfg().predefined.get(), u.topic_id);
        if (pre)
            name = *pre;
        else
            name.clear();
    }
    // UNSUBACK carries no return code: a filter that cannot be subscribed is not subscribed.
    if (u.msg_id == 0 || codec::validate_topic_filter(name) != codec::TopicError::None) {
        send(Unsuback{.msg_id = u.msg_id});
        return;
    }
    const std::string_view filter = name;
    to_core(codec::Unsubscribe{.packet_id = u.msg_id, .properties = {}, .filters = {&filter, 1}});
    subs_in_flight[u.msg_id] =
        SubInFlight{.subscribe = false, .type = u.flags.topic_id_type, .name = name, .topic_id = u.topic_id};
}

void GatewaySession::Impl::on_core_suback(const codec::Suback& a) {
    const auto it = subs_in_flight.find(a.packet_id);
    if (it == subs_in_flight.end() || !it->second.subscribe) {
        drop();
        return;
    }
    const SubInFlight sub = std::move(it->second);
    subs_in_flight.erase(it);
    const codec::ReasonCode r = a.reason_codes.empty() ? codec::ReasonCode::UnspecifiedError : a.reason_codes[0];
    Suback sn{.flags = {}, .topic_id = 0, .msg_id = a.packet_id, .rc = sn_return_code(r)};
    if (sn.rc == ReturnCode::Accepted) {
        sn.flags.qos = static_cast<std::int8_t>(std::min<unsigned>(static_cast<unsigned>(r), 2U));
        if (sub.type == TopicIdType::Predefined) sn.topic_id = sub.topic_id;
        // 6.9: a name without wildcards gets its id now, so the client's PUBLISHes and the gateway's deliveries
        // need no REGISTER. A full table leaves it 0: a delivery then tries to REGISTER it.
        if (sub.type == TopicIdType::Normal && !codec::has_wildcard(sub.name)) sn.topic_id = add_registration(sub.name);
    }
    send(sn);
}

void GatewaySession::Impl::on_core_unsuback(const codec::Unsuback& a) {
    const auto it = subs_in_flight.find(a.packet_id);
    if (it == subs_in_flight.end() || it->second.subscribe) {
        drop();
        return;
    }
    subs_in_flight.erase(it);
    send(Unsuback{.msg_id = a.packet_id});
}

// ---- QoS -1 -----------------------------------------------------------------------------------------------------

std::optional<std::string> qos_minus_one_topic(const Publish& p, const PredefinedTopics* predefined) {
    switch (p.flags.topic_id_type) {
        case TopicIdType::Predefined:
            return predefined_name(predefined, p.topic_id);
        case TopicIdType::Short:
            return short_topic_name(p.topic_id);
        case TopicIdType::Normal:
            break;
    }
    return std::nullopt;
}

}  // namespace moth::mqttsn
