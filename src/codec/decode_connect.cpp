// The decoder's readers for the packets that open and close a connection: CONNECT, CONNACK, DISCONNECT and AUTH
// (see decoder.cpp for the fixed header and the dispatch). Every check names the normative statement it enforces.
#include "codec/decode_context.hpp"
#include "codec/topic.hpp"

namespace moth::codec {

bool DecodeContext::connect(Connect& c) {
    std::string_view name;
    if (!utf8(name)) return false;
    std::uint8_t level = 0;
    if (!u8(level)) return false;
    // The bridge bit (Mosquitto's try_private, FlashMQ): 0x80 | level for 3.1 and 3.1.1 only, so 0x83 and 0x84;
    // 0x85 falls through to the level check below and is refused (5.0 has no-local instead).
    constexpr std::uint8_t kBridgeBit = 0x80;
    if ((level & kBridgeBit) != 0 && (level & ~kBridgeBit) <= 4) {
        c.bridge = true;
        level = static_cast<std::uint8_t>(level & ~kBridgeBit);
    }
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

}  // namespace moth::codec
