// The MQTT decoder. Every check names the normative statement it enforces; Malformed Packet is used
// where the encoding itself is wrong, Protocol Error where a well-formed encoding breaks a rule
// (MQTT 5.0 section 4.13.1).
#include "codec/decoder.hpp"

#include "codec/topic.hpp"
#include "common/utf8.hpp"
#include "common/varint.hpp"

namespace moth::codec {

namespace {

constexpr std::uint8_t bit(unsigned n) { return static_cast<std::uint8_t>(1U << n); }

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

bool is_v5(ProtocolVersion v) noexcept { return v == ProtocolVersion::V5; }

}  // namespace

// Reads the body of one packet. Each reader returns false after recording why it failed.
class DecodeContext {
public:
    DecodeContext(Decoder& d, Bytes body, ProtocolVersion v) : d_(d), in_(body), v_(v) {}

    bool fail(ReasonCode reason, std::string_view message) {
        reason_ = reason;
        message_ = message;
        return false;
    }
    bool malformed(std::string_view message) { return fail(ReasonCode::MalformedPacket, message); }
    bool protocol_error(std::string_view message) { return fail(ReasonCode::ProtocolError, message); }

    [[nodiscard]] std::size_t left() const { return in_.size() - pos_; }
    [[nodiscard]] bool at_end() const { return pos_ == in_.size(); }
    [[nodiscard]] ProtocolVersion version() const { return v_; }
    [[nodiscard]] Role role() const { return d_.options_.role; }
    [[nodiscard]] ReasonCode reason() const { return reason_; }
    [[nodiscard]] std::string_view message() const { return message_; }

    bool u8(std::uint8_t& out) {
        if (left() < 1) return malformed("field extends past the end of the packet");
        out = std::to_integer<std::uint8_t>(in_[pos_++]);
        return true;
    }
    bool u16(std::uint16_t& out) {
        if (left() < 2) return malformed("field extends past the end of the packet");
        out = static_cast<std::uint16_t>((std::to_integer<unsigned>(in_[pos_]) << 8) |
                                         std::to_integer<unsigned>(in_[pos_ + 1]));
        pos_ += 2;
        return true;
    }
    bool u32(std::uint32_t& out) {
        if (left() < 4) return malformed("field extends past the end of the packet");
        out = 0;
        for (int i = 0; i < 4; ++i) out = (out << 8) | std::to_integer<std::uint32_t>(in_[pos_++]);
        return true;
    }
    bool varint(std::uint32_t& out) {
        const auto r = common::decode_varint(in_.subspan(pos_));
        if (r.status != common::VarIntStatus::Ok) {
            return malformed("variable byte integer is longer than 4 bytes or past the end of the packet");
        }
        out = r.value;
        pos_ += r.size;
        return true;
    }
    bool binary(Bytes& out) {
        std::uint16_t len = 0;
        if (!u16(len)) return false;
        if (left() < len) return malformed("string or binary data extends past the end of the packet");
        out = in_.subspan(pos_, len);
        pos_ += len;
        return true;
    }
    // A UTF-8 Encoded String: well formed, no surrogates [MQTT-1.5.4-1], no U+0000 [MQTT-1.5.4-2].
    bool utf8(std::string_view& out) {
        Bytes raw;
        if (!binary(raw)) return false;
        out = std::string_view(reinterpret_cast<const char*>(raw.data()), raw.size());
        if (!common::is_valid_mqtt_utf8(out)) {
            return malformed("string is not valid UTF-8, or contains U+0000 or a surrogate");
        }
        return true;
    }
    Bytes rest() {
        auto r = in_.subspan(pos_);
        pos_ = in_.size();
        return r;
    }
    bool packet_id(std::uint16_t& out) {
        if (!u16(out)) return false;
        // [MQTT-2.2.1-3] (5.0) / [MQTT-2.3.1-1] (3.1.1): a non-zero Packet Identifier.
        if (out == 0) return protocol_error("packet identifier is 0");
        return true;
    }
    bool expect_end(std::string_view message) { return at_end() || malformed(message); }

    // Properties block (5.0 section 2.2.2): length, then identifier/value pairs allowed in `scope`.
    bool properties(Properties& p, PropertyScope scope, std::vector<UserProperty>& user_props);

    bool connect(Connect& c);
    bool connack(Connack& c);
    bool publish(Publish& p, std::uint8_t flags);
    template <PacketType T>
    bool ack(AckPacket<T>& a);
    bool subscribe(Subscribe& s);
    bool suback(Suback& s);
    bool unsubscribe(Unsubscribe& u);
    bool unsuback(Unsuback& u);
    bool disconnect(Disconnect& d);
    bool auth(Auth& a);

    std::optional<ProtocolVersion> connect_version;

private:
    bool reason_code(ReasonCode& out, PacketType t) {
        std::uint8_t rc = 0;
        if (!u8(rc)) return false;
        out = static_cast<ReasonCode>(rc);
        // e.g. [MQTT-3.4.2-1]: the sender MUST use one of the reason codes listed for the packet.
        if (!reason_code_allowed(out, t)) return protocol_error("reason code not allowed in this packet");
        return true;
    }

    Decoder& d_;
    Bytes in_;
    std::size_t pos_ = 0;
    ProtocolVersion v_;
    ReasonCode reason_ = ReasonCode::Success;
    std::string_view message_;
};

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

bool DecodeContext::connect(Connect& c) {
    std::string_view name;
    if (!utf8(name)) return false;
    std::uint8_t level = 0;
    if (!u8(level)) return false;
    // [MQTT-3.1.2-1] protocol name "MQTT" (3.1.1, 5.0) or "MQIsdp" (3.1); [MQTT-3.1.2-2] the level.
    if (name == "MQTT") {
        if (level != 4 && level != 5) return fail(ReasonCode::UnsupportedProtocolVersion, "unsupported protocol level");
    } else if (name == "MQIsdp") {
        if (level != 3) return fail(ReasonCode::UnsupportedProtocolVersion, "unsupported protocol level for MQIsdp");
    } else {
        // [MQTT-3.1.2-1]: the Server MAY answer a wrong protocol name with 0x84 (Unsupported Protocol Version).
        return fail(ReasonCode::UnsupportedProtocolVersion, "protocol name is neither MQTT nor MQIsdp");
    }
    c.version = static_cast<ProtocolVersion>(level);
    v_ = c.version;
    connect_version = c.version;

    std::uint8_t flags = 0;
    if (!u8(flags)) return false;
    // [MQTT-3.1.2-3] the reserved flag MUST be 0.
    if ((flags & bit(0)) != 0) return malformed("CONNECT reserved flag is set");
    const bool will = (flags & bit(2)) != 0;
    const auto will_qos = static_cast<std::uint8_t>((flags >> 3) & 3U);
    const bool will_retain = (flags & bit(5)) != 0;
    const bool has_password = (flags & bit(6)) != 0;
    const bool has_username = (flags & bit(7)) != 0;
    c.clean_start = (flags & bit(1)) != 0;
    if (!will && (will_qos != 0 || will_retain)) {
        // [MQTT-3.1.2-11] (3.1.1 [MQTT-3.1.2-13], [MQTT-3.1.2-15]): no Will, so Will QoS and Will Retain are 0.
        return malformed("will QoS or will retain set without the will flag");
    }
    // [MQTT-3.1.2-12] (3.1.1 [MQTT-3.1.2-14]): Will QoS MUST NOT be 3.
    if (will_qos == 3) return malformed("will QoS is 3");
    // 3.1.1 [MQTT-3.1.2-22]: no password without a user name (5.0 allows it).
    if (!is_v5(v_) && has_password && !has_username) return malformed("password flag set without user name flag");
    if (!u16(c.keep_alive_s)) return false;
    if (is_v5(v_) && !properties(c.properties, scope_of(PacketType::Connect), d_.user_properties_)) return false;

    // Payload: Client Identifier [MQTT-3.1.3-3/4], Will Properties, Will Topic, Will Payload, User Name, Password.
    if (!utf8(c.client_id)) return false;
    if (will) {
        Will& w = c.will.emplace();
        w.qos = static_cast<QoS>(will_qos);
        w.retain = will_retain;
        if (is_v5(v_) && !properties(w.properties, kWillScope, d_.will_user_properties_)) return false;
        if (!utf8(w.topic)) return false;
        if (validate_topic_name(w.topic) != TopicError::None) {
            return malformed("will topic is not a valid topic name");
        }
        if (!binary(w.payload)) return false;
    }
    if (has_username) {
        std::string_view user;
        if (!utf8(user)) return false;
        c.username = user;
    }
    if (has_password) {
        Bytes pw;
        if (!binary(pw)) return false;
        c.password = pw;
    }
    return expect_end("CONNECT has bytes after its last field");
}

bool DecodeContext::connack(Connack& c) {
    std::uint8_t ack_flags = 0;
    std::uint8_t rc = 0;
    if (!u8(ack_flags) || !u8(rc)) return false;
    if (v_ == ProtocolVersion::V3_1) {
        ack_flags = 0;  // 3.1: the first byte is reserved and unused.
    }
    // [MQTT-3.2.2-1] bits 7-1 of the Connect Acknowledge Flags are reserved and MUST be 0.
    if ((ack_flags & 0xFEU) != 0) return malformed("CONNACK reserved flags are set");
    c.session_present = (ack_flags & 1U) != 0;
    if (is_v5(v_)) {
        c.reason = static_cast<ReasonCode>(rc);
        if (!reason_code_allowed(c.reason, PacketType::Connack)) return protocol_error("reason code not allowed in CONNACK");
        if (!properties(c.properties, scope_of(PacketType::Connack), d_.user_properties_)) return false;
    } else {
        auto mapped = reason_from_connack_return_code(rc);
        if (!mapped) return protocol_error("unknown CONNACK return code");
        c.reason = *mapped;
    }
    // [MQTT-3.2.2-4] (3.1.1): a non-zero return code comes with Session Present 0.
    if (c.session_present && c.reason != ReasonCode::Success) {
        return protocol_error("session present set on a refused connection");
    }
    return expect_end("CONNACK has bytes after its last field");
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

bool DecodeContext::subscribe(Subscribe& s) {
    if (!packet_id(s.packet_id)) return false;
    if (is_v5(v_) && !properties(s.properties, scope_of(PacketType::Subscribe), d_.user_properties_)) return false;
    auto& subs = d_.subscriptions_;
    subs.clear();
    while (!at_end()) {
        Subscription sub;
        std::uint8_t opts = 0;
        if (!utf8(sub.filter) || !u8(opts)) return false;
        const auto qos = static_cast<std::uint8_t>(opts & 3U);
        // 3.1.1 [MQTT-3-8.3-4]: malformed. 5.0 section 3.8.3.1: "It is a Protocol Error if the Maximum QoS field
        // has the value 3".
        if (qos == 3) return is_v5(v_) ? protocol_error("maximum QoS is 3") : malformed("requested QoS is 3");
        sub.options.qos = static_cast<QoS>(qos);
        if (is_v5(v_)) {
            // [MQTT-3.8.3-5]: bits 6 and 7 of the Subscription Options are reserved and MUST be 0.
            if ((opts & 0xC0U) != 0) return malformed("subscription options reserved bits are set");
            sub.options.no_local = (opts & bit(2)) != 0;
            sub.options.retain_as_published = (opts & bit(3)) != 0;
            sub.options.retain_handling = static_cast<std::uint8_t>((opts >> 4) & 3U);
            // Section 3.8.3.1: "It is a Protocol Error to send a Retain Handling value of 3".
            if (sub.options.retain_handling == 3) return protocol_error("retain handling is 3");
            // [MQTT-3.8.3-4]: No Local on a Shared Subscription is a Protocol Error.
            if (sub.options.no_local && parse_shared_filter(sub.filter)) {
                return protocol_error("no local set on a shared subscription");
            }
        } else if ((opts & 0xFCU) != 0) {
            // 3.1.1 [MQTT-3-8.3-4]: the upper 6 bits of the Requested QoS byte are reserved.
            return malformed("requested QoS byte has reserved bits set");
        }
        subs.push_back(sub);
    }
    // [MQTT-3.8.3-3] (3.1.1 [MQTT-3.8.3-3]): at least one Topic Filter.
    if (subs.empty()) {
        return is_v5(v_) ? protocol_error("SUBSCRIBE without topic filters")
                         : malformed("SUBSCRIBE without topic filters");
    }
    s.subscriptions = subs;
    return true;
}

bool DecodeContext::suback(Suback& s) {
    if (!packet_id(s.packet_id)) return false;
    if (is_v5(v_) && !properties(s.properties, scope_of(PacketType::Suback), d_.user_properties_)) return false;
    auto& codes = d_.reason_codes_;
    codes.clear();
    while (!at_end()) {
        ReasonCode rc{};
        if (is_v5(v_)) {
            if (!reason_code(rc, PacketType::Suback)) return false;
        } else {
            std::uint8_t b = 0;
            if (!u8(b)) return false;
            // 3.1.1 [MQTT-3.9.3-2]: 0x00, 0x01, 0x02 or 0x80.
            if (b > 2 && b != 0x80) return protocol_error("SUBACK return code not allowed");
            rc = static_cast<ReasonCode>(b);
        }
        codes.push_back(rc);
    }
    if (codes.empty()) return malformed("SUBACK without return codes");
    s.reason_codes = codes;
    return true;
}

bool DecodeContext::unsubscribe(Unsubscribe& u) {
    if (!packet_id(u.packet_id)) return false;
    if (is_v5(v_) && !properties(u.properties, scope_of(PacketType::Unsubscribe), d_.user_properties_)) return false;
    auto& filters = d_.filters_;
    filters.clear();
    while (!at_end()) {
        std::string_view f;
        if (!utf8(f)) return false;
        filters.push_back(f);
    }
    // [MQTT-3.10.3-2]: at least one Topic Filter.
    if (filters.empty()) {
        return is_v5(v_) ? protocol_error("UNSUBSCRIBE without topic filters")
                         : malformed("UNSUBSCRIBE without topic filters");
    }
    u.filters = filters;
    return true;
}

bool DecodeContext::unsuback(Unsuback& u) {
    if (!packet_id(u.packet_id)) return false;
    if (!is_v5(v_)) return expect_end("UNSUBACK longer than 2 bytes");
    if (!properties(u.properties, scope_of(PacketType::Unsuback), d_.user_properties_)) return false;
    auto& codes = d_.reason_codes_;
    codes.clear();
    while (!at_end()) {
        ReasonCode rc{};
        if (!reason_code(rc, PacketType::Unsuback)) return false;
        codes.push_back(rc);
    }
    if (codes.empty()) return malformed("UNSUBACK without reason codes");
    u.reason_codes = codes;
    return true;
}

bool DecodeContext::disconnect(Disconnect& d) {
    if (!is_v5(v_)) return expect_end("DISCONNECT has a body");  // 3.1.1: Remaining Length 0
    if (at_end()) return true;  // 5.0 section 3.14.2.1: no reason code means 0x00
    if (!reason_code(d.reason, PacketType::Disconnect)) return false;
    if (at_end()) return true;
    if (!properties(d.properties, scope_of(PacketType::Disconnect), d_.user_properties_)) return false;
    // [MQTT-3.14.2-2]: the Server MUST NOT send a Session Expiry Interval in DISCONNECT.
    if (role() == Role::Client && d.properties.session_expiry_interval) {
        return protocol_error("session expiry interval in a DISCONNECT from the server");
    }
    return expect_end("DISCONNECT has bytes after its properties");
}

bool DecodeContext::auth(Auth& a) {
    if (at_end()) return true;  // 5.0 section 3.15.2.1: Remaining Length 0 means Success, no properties
    if (!reason_code(a.reason, PacketType::Auth)) return false;
    if (at_end()) return true;
    if (!properties(a.properties, scope_of(PacketType::Auth), d_.user_properties_)) return false;
    return expect_end("AUTH has bytes after its properties");
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
