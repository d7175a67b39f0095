// The MQTT decoder: the fixed header, dispatch to the packet readers, and the readers on the hot path (PUBLISH,
// its acknowledgements, properties), kept in one file with the dispatch so that the compiler sees them together.
// The other readers are in decode_connect.cpp and decode_subscribe.cpp. Every check names the normative
// statement it enforces; Malformed Packet is used where the encoding itself is wrong, Protocol Error where a
// well-formed encoding breaks a rule (MQTT 5.0 section 4.13.1).
#include "codec/decoder.hpp"

#include "codec/decode_context.hpp"
#include "codec/topic.hpp"
#include "common/varint.hpp"

namespace moth::codec {

namespace {

// Which packets each end may receive (MQTT 5.0 section 2.1.2, "Direction of flow").
bool receivable(PacketType t, Role role) noexcept {
    switch (t) {
        case PacketType::Publish:
        case PacketType::Puback:
        case PacketType::Pubrec:
        case PacketType::Pubrel:
        case PacketType::Pubcomp:
        case PacketType::Disconnect:
        case PacketType::Auth: return true;
        case PacketType::Connect:
        case PacketType::Subscribe:
        case PacketType::Unsubscribe:
        case PacketType::Pingreq: return role == Role::Server;
        case PacketType::Connack:
        case PacketType::Suback:
        case PacketType::Unsuback:
        case PacketType::Pingresp: return role == Role::Client;
    }
    return false;
}

}  // namespace

bool DecodeContext::properties(Properties& p, PropertyScope scope, std::vector<UserProperty>& user_props) {
    std::uint32_t len = 0;
    if (!varint(len)) return false;
    if (len > left()) return malformed("property length extends past the end of the packet");
    const std::size_t end = pos_ + len;
    std::uint64_t seen = 0;  // one bit per identifier, for "included more than once"
    const bool is_subscribe = (scope & scope_of(PacketType::Subscribe)) != 0;
    std::size_t sub_ids_begin = d_.subscription_ids_.size();
    bool has_sub_ids = false;
    user_props.clear();
    while (pos_ < end) {
        std::uint32_t id32 = 0;
        if (!varint(id32)) return false;
        const auto* info = id32 < 256 ? property_info(static_cast<std::uint8_t>(id32)) : nullptr;
        if (info == nullptr) return malformed("unknown property identifier");
        // Section 2.2.2.2: "A Control Packet which contains an Identifier which is not valid for its packet type
        // ... is a Malformed Packet".
        if ((info->scope & scope) == 0) return malformed("property not allowed in this packet");
        const auto id = info->id;
        const auto idbit = std::uint64_t{1} << static_cast<unsigned>(id);
        const bool repeatable =
            id == PropertyId::UserProperty || (id == PropertyId::SubscriptionIdentifier && !is_subscribe);
        // Section 2.2.2.2: "It is a Protocol Error to include <property> more than once".
        if ((seen & idbit) != 0 && !repeatable) return protocol_error("property included more than once");
        seen |= idbit;

        std::uint8_t b = 0;
        std::uint16_t s = 0;
        std::uint32_t w = 0;
        std::string_view str;
        Bytes bin;
        auto boolean = [&](std::optional<std::uint8_t>& out) {
            if (!u8(b)) return false;
            if (b > 1) return protocol_error("property value must be 0 or 1");
            out = b;
            return true;
        };
        switch (id) {
            case PropertyId::PayloadFormatIndicator:
                if (!boolean(p.payload_format_indicator)) return false;
                break;
            case PropertyId::MessageExpiryInterval:
                if (!u32(w)) return false;
                p.message_expiry_interval = w;
                break;
            case PropertyId::ContentType:
                if (!utf8(str)) return false;
                p.content_type = str;
                break;
            case PropertyId::ResponseTopic:
                if (!utf8(str)) return false;
                // [MQTT-3.3.2-14] the Response Topic MUST NOT contain wildcards (it is a Topic Name).
                if (validate_topic_name(str) != TopicError::None) return protocol_error("response topic is invalid");
                p.response_topic = str;
                break;
            case PropertyId::CorrelationData:
                if (!binary(bin)) return false;
                p.correlation_data = bin;
                break;
            case PropertyId::SubscriptionIdentifier:
                if (!varint(w)) return false;
                // Section 3.8.2.1.2: "It is a Protocol Error if the Subscription Identifier has a value of 0".
                if (w == 0) return protocol_error("subscription identifier is 0");
                d_.subscription_ids_.push_back(w);
                has_sub_ids = true;
                break;
            case PropertyId::SessionExpiryInterval:
                if (!u32(w)) return false;
                p.session_expiry_interval = w;
                break;
            case PropertyId::AssignedClientIdentifier:
                if (!utf8(str)) return false;
                p.assigned_client_identifier = str;
                break;
            case PropertyId::ServerKeepAlive:
                if (!u16(s)) return false;
                p.server_keep_alive = s;
                break;
            case PropertyId::AuthenticationMethod:
                if (!utf8(str)) return false;
                p.authentication_method = str;
                break;
            case PropertyId::AuthenticationData:
                if (!binary(bin)) return false;
                p.authentication_data = bin;
                break;
            case PropertyId::RequestProblemInformation:
                if (!boolean(p.request_problem_information)) return false;
                break;
            case PropertyId::WillDelayInterval:
                if (!u32(w)) return false;
                p.will_delay_interval = w;
                break;
            case PropertyId::RequestResponseInformation:
                if (!boolean(p.request_response_information)) return false;
                break;
            case PropertyId::ResponseInformation:
                if (!utf8(str)) return false;
                p.response_information = str;
                break;
            case PropertyId::ServerReference:
                if (!utf8(str)) return false;
                p.server_reference = str;
                break;
            case PropertyId::ReasonString:
                if (!utf8(str)) return false;
                p.reason_string = str;
                break;
            case PropertyId::ReceiveMaximum:
                if (!u16(s)) return false;
                // Section 3.1.2.11.3 / 3.2.2.3.3: "It is a Protocol Error ... to have the value 0".
                if (s == 0) return protocol_error("receive maximum is 0");
                p.receive_maximum = s;
                break;
            case PropertyId::TopicAliasMaximum:
                if (!u16(s)) return false;
                p.topic_alias_maximum = s;
                break;
            case PropertyId::TopicAlias:
                if (!u16(s)) return false;
                // [MQTT-3.3.2-8]: a Topic Alias of 0 is not permitted. Section 3.3.2.3.4: "A Topic Alias value of 0
                // ... is a Protocol Error, the receiver uses DISCONNECT with Reason Code of 0x94 (Topic Alias invalid)".
                if (s == 0) return fail(ReasonCode::TopicAliasInvalid, "topic alias is 0");
                p.topic_alias = s;
                break;
            case PropertyId::MaximumQoS:
                if (!boolean(p.maximum_qos)) return false;
                break;
            case PropertyId::RetainAvailable:
                if (!boolean(p.retain_available)) return false;
                break;
            case PropertyId::UserProperty: {
                std::string_view key;
                std::string_view value;
                if (!utf8(key) || !utf8(value)) return false;
                user_props.push_back({key, value});
                break;
            }
            case PropertyId::MaximumPacketSize:
                if (!u32(w)) return false;
                // Section 3.1.2.11.4: "It is a Protocol Error to include ... the value zero".
                if (w == 0) return protocol_error("maximum packet size is 0");
                p.maximum_packet_size = w;
                break;
            case PropertyId::WildcardSubscriptionAvailable:
                if (!boolean(p.wildcard_subscription_available)) return false;
                break;
            case PropertyId::SubscriptionIdentifierAvailable:
                if (!boolean(p.subscription_identifier_available)) return false;
                break;
            case PropertyId::SharedSubscriptionAvailable:
                if (!boolean(p.shared_subscription_available)) return false;
                break;
        }
        if (pos_ > end) return malformed("property value extends past the property length");
    }
    // Section 3.1.2.11.10: "It is a Protocol Error to include Authentication Data if there is no
    // Authentication Method".
    if (p.authentication_data && !p.authentication_method) {
        return protocol_error("authentication data without authentication method");
    }
    if (!user_props.empty()) p.user_properties = user_props;
    if (has_sub_ids) {
        p.subscription_identifiers = std::span<const std::uint32_t>(d_.subscription_ids_).subspan(sub_ids_begin);
    }
    return true;
}

bool DecodeContext::publish(Publish& p, std::uint8_t flags) {
    p.retain = (flags & 1U) != 0;
    p.qos = static_cast<QoS>((flags >> 1) & 3U);
    p.dup = (flags & 8U) != 0;
    if (!utf8(p.topic)) return false;
    if (p.qos != QoS::AtMostOnce && !packet_id(p.packet_id)) return false;
    if (is_v5(v_) && !properties(p.properties, scope_of(PacketType::Publish), d_.user_properties_)) return false;
    if (p.topic.empty()) {
        // 5.0 section 3.3.2.1: an empty Topic Name is allowed only with a Topic Alias; 3.1.1 [MQTT-4.7.3-1].
        if (!is_v5(v_)) return malformed("topic name is empty");
        if (!p.properties.topic_alias) return protocol_error("topic name is empty and there is no topic alias");
    } else if (has_wildcard(p.topic)) {
        return malformed("topic name contains a wildcard");  // [MQTT-3.3.2-2]
    }
    // [MQTT-3.3.4-6]: a PUBLISH sent from a Client to a Server MUST NOT contain a Subscription Identifier.
    if (role() == Role::Server && !p.properties.subscription_identifiers.empty()) {
        return protocol_error("subscription identifier in a PUBLISH from a client");
    }
    p.payload = rest();
    return true;
}

template <PacketType T>
bool DecodeContext::ack(AckPacket<T>& a) {
    if (!packet_id(a.packet_id)) return false;
    if (!is_v5(v_) || at_end()) return expect_end("acknowledgement longer than 2 bytes");
    // 5.0 section 3.4.2.1: the Reason Code may be followed by properties, or end the packet.
    if (!reason_code(a.reason, T)) return false;
    if (at_end()) return true;
    if (!properties(a.properties, scope_of(T), d_.user_properties_)) return false;
    return expect_end("acknowledgement has bytes after its properties");
}

DecodeResult Decoder::decode(Bytes in) {
    // One named result filled in place: returned by NRVO, never moved (a Packet is a large variant, and decode()
    // runs twice per packet on a busy connection, once more for the NeedMore at the end of each read).
    DecodeResult r;
    decode_into(in, r);
    return r;
}

void Decoder::decode_into(Bytes in, DecodeResult& r) {
    auto error = [&r](ReasonCode reason, std::string_view message) {
        r.status = DecodeStatus::Error;
        r.reason = reason;
        r.message = message;
    };
    if (in.empty()) return;

    // Fixed header, first byte: checked before anything else arrives.
    const auto b0 = std::to_integer<std::uint8_t>(in[0]);
    const auto type_value = static_cast<std::uint8_t>(b0 >> 4);
    const auto flags = static_cast<std::uint8_t>(b0 & 0x0FU);
    if (type_value == 0) return error(ReasonCode::MalformedPacket, "packet type 0 is reserved");
    const auto type = static_cast<PacketType>(type_value);

    const bool version_known = version_.has_value() || options_.role == Role::Client;
    const ProtocolVersion version = version_.value_or(ProtocolVersion::V5);
    if (!version_known && type != PacketType::Connect) {
        // [MQTT-3.1.0-1]: the first packet from the Client to the Server MUST be CONNECT.
        return error(ReasonCode::ProtocolError, "first packet is not CONNECT");
    }
    if (type == PacketType::Auth && version_known && !is_v5(version)) {
        return error(ReasonCode::ProtocolError, "AUTH packet before MQTT 5.0");  // type 15 is reserved in 3.1.1
    }
    if (!receivable(type, options_.role)) {
        return error(ReasonCode::ProtocolError, options_.role == Role::Server ? "packet only a server may send"
                                                                                 : "packet only a client may send");
    }
    // [MQTT-2.1.3-1] (5.0 section 2.1.3, 3.1.1 [MQTT-2.2.2-1]): reserved flag bits hold fixed values.
    switch (type) {
        case PacketType::Publish:
            if (((flags >> 1) & 3U) == 3U) return error(ReasonCode::MalformedPacket, "PUBLISH with QoS 3");  // [MQTT-3.3.1-4]
            if ((flags & 0x06U) == 0 && (flags & 0x08U) != 0) {
                return error(ReasonCode::MalformedPacket, "DUP set on a QoS 0 PUBLISH");  // [MQTT-3.3.1-2]
            }
            break;
        case PacketType::Pubrel:
        case PacketType::Subscribe:
        case PacketType::Unsubscribe:
            // MQTT 3.1 clients may set DUP on a retransmitted PUBREL/SUBSCRIBE/UNSUBSCRIBE.
            if (flags != 0x02 && !(version_known && version == ProtocolVersion::V3_1 && flags == 0x0A)) {
                return error(ReasonCode::MalformedPacket, "reserved fixed header flags must be 0010");
            }
            break;
        default:
            if (flags != 0) return error(ReasonCode::MalformedPacket, "reserved fixed header flags must be 0000");
    }

    const auto rl = common::decode_varint(in.subspan(1));
    if (rl.status == common::VarIntStatus::Malformed) {
        return error(ReasonCode::MalformedPacket, "remaining length is longer than 4 bytes");
    }
    if (rl.status == common::VarIntStatus::NeedMore) return;
    const std::size_t header = 1 + rl.size;
    const std::size_t total = header + rl.value;
    if (total > options_.max_packet_size) {
        // 5.0 section 3.1.2.11.4 / 3.2.2.3.6: a packet larger than the Maximum Packet Size.
        return error(ReasonCode::PacketTooLarge, "packet exceeds the maximum packet size");
    }
    if (in.size() < total) {
        r.needed = total;
        return;
    }

    DecodeContext ctx(*this, in.subspan(header, rl.value), version);
    subscription_ids_.clear();
    bool ok = false;
    switch (type) {
        case PacketType::Connect: ok = ctx.connect(r.packet.emplace<Connect>()); break;
        case PacketType::Connack: ok = ctx.connack(r.packet.emplace<Connack>()); break;
        case PacketType::Publish: ok = ctx.publish(r.packet.emplace<Publish>(), flags); break;
        case PacketType::Puback: ok = ctx.ack(r.packet.emplace<Puback>()); break;
        case PacketType::Pubrec: ok = ctx.ack(r.packet.emplace<Pubrec>()); break;
        case PacketType::Pubrel: ok = ctx.ack(r.packet.emplace<Pubrel>()); break;
        case PacketType::Pubcomp: ok = ctx.ack(r.packet.emplace<Pubcomp>()); break;
        case PacketType::Subscribe: ok = ctx.subscribe(r.packet.emplace<Subscribe>()); break;
        case PacketType::Suback: ok = ctx.suback(r.packet.emplace<Suback>()); break;
        case PacketType::Unsubscribe: ok = ctx.unsubscribe(r.packet.emplace<Unsubscribe>()); break;
        case PacketType::Unsuback: ok = ctx.unsuback(r.packet.emplace<Unsuback>()); break;
        case PacketType::Pingreq:
            r.packet.emplace<Pingreq>();
            ok = ctx.expect_end("PINGREQ has a body");
            break;
        case PacketType::Pingresp:
            r.packet.emplace<Pingresp>();
            ok = ctx.expect_end("PINGRESP has a body");
            break;
        case PacketType::Disconnect: ok = ctx.disconnect(r.packet.emplace<Disconnect>()); break;
        case PacketType::Auth: ok = ctx.auth(r.packet.emplace<Auth>()); break;
    }
    if (!ok) {
        r.connect_version = ctx.connect_version;
        r.packet = Pingreq{};  // drop views into the failed packet
        return error(ctx.reason(), ctx.message());
    }
    if (type == PacketType::Connect && !version_) version_ = std::get<Connect>(r.packet).version;
    r.status = DecodeStatus::Ok;
    r.consumed = total;
}

}  // namespace moth::codec
