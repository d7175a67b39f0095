#pragma once
// Typed MQTT control packets, one struct per packet type, for all three protocol versions.
// Fields that a version does not carry (properties and reason codes before 5.0) are ignored by the
// encoder for that version and left at their defaults by the decoder.
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <variant>

#include "codec/properties.hpp"
#include "codec/reason_code.hpp"
#include "codec/types.hpp"

namespace moth::codec {

struct Will {
    std::string_view topic;
    Bytes payload;
    QoS qos = QoS::AtMostOnce;
    bool retain = false;
    Properties properties;  // Will Properties (5.0)
};

struct Connect {
    ProtocolVersion version = ProtocolVersion::V5;  // protocol name follows: "MQIsdp" for 3.1, else "MQTT"
    bool clean_start = true;                        // Clean Session in 3.1/3.1.1
    // 3.1/3.1.1 only: the bridge bit Mosquitto (try_private) and FlashMQ set, 0x80 | level on the wire (0x83,
    // 0x84). The client says it is a broker bridging to us, so we do not send it its own messages back and keep
    // their retain flag. Not in any specification; 5.0 has no-local and retain-as-published instead, so the
    // encoder ignores it there and the decoder refuses level 0x85.
    bool bridge = false;
    std::uint16_t keep_alive_s = 0;
    std::string_view client_id;
    std::optional<Will> will;
    std::optional<std::string_view> username;
    std::optional<Bytes> password;
    Properties properties;
};

struct Connack {
    bool session_present = false;
    ReasonCode reason = ReasonCode::Success;  // 3.x: mapped to/from the return code, see connack_return_code
    Properties properties;
};

struct Publish {
    std::string_view topic;  // may be empty in 5.0 when a Topic Alias is set
    QoS qos = QoS::AtMostOnce;
    bool dup = false;
    bool retain = false;
    std::uint16_t packet_id = 0;  // present on the wire only for QoS 1 and 2
    Properties properties;
    Bytes payload;
};

// PUBACK, PUBREC, PUBREL, PUBCOMP share one shape. In 5.0 the reason code and properties are omitted
// on the wire when the reason is Success and there are no properties (sections 3.4.2.1, 3.4.2.2.1).
template <PacketType T>
struct AckPacket {
    static constexpr PacketType kType = T;
    std::uint16_t packet_id = 0;
    ReasonCode reason = ReasonCode::Success;
    Properties properties;
};
using Puback = AckPacket<PacketType::Puback>;
using Pubrec = AckPacket<PacketType::Pubrec>;
using Pubrel = AckPacket<PacketType::Pubrel>;
using Pubcomp = AckPacket<PacketType::Pubcomp>;

struct SubscribeOptions {
    QoS qos = QoS::AtMostOnce;  // 3.x: the Requested QoS byte
    bool no_local = false;      // 5.0 only
    bool retain_as_published = false;
    std::uint8_t retain_handling = 0;  // 0 send retained, 1 only if the subscription is new, 2 never
    friend bool operator==(const SubscribeOptions&, const SubscribeOptions&) = default;
};

struct Subscription {
    std::string_view filter;
    SubscribeOptions options;
    friend bool operator==(const Subscription&, const Subscription&) = default;
};

// The decoder checks the filters' UTF-8 but not their wildcard syntax: the broker answers an invalid
// filter in its SUBACK (0x8F in 5.0, 0x80 in 3.1.1) using validate_topic_filter().
struct Subscribe {
    std::uint16_t packet_id = 0;
    Properties properties;
    std::span<const Subscription> subscriptions;  // at least one on the wire
};

struct Suback {
    std::uint16_t packet_id = 0;
    Properties properties;
    std::span<const ReasonCode> reason_codes;  // 3.x: GrantedQoS0..2 or UnspecifiedError (0x80)
};

struct Unsubscribe {
    std::uint16_t packet_id = 0;
    Properties properties;
    std::span<const std::string_view> filters;  // at least one on the wire
};

struct Unsuback {
    std::uint16_t packet_id = 0;
    Properties properties;
    std::span<const ReasonCode> reason_codes;  // 5.0 only; 3.x UNSUBACK carries none
};

struct Pingreq {};
struct Pingresp {};

struct Disconnect {
    ReasonCode reason = ReasonCode::NormalDisconnection;  // 5.0 only
    Properties properties;
};

struct Auth {  // 5.0 only
    ReasonCode reason = ReasonCode::Success;
    Properties properties;
};

using Packet = std::variant<Connect, Connack, Publish, Puback, Pubrec, Pubrel, Pubcomp, Subscribe, Suback, Unsubscribe,
                            Unsuback, Pingreq, Pingresp, Disconnect, Auth>;

[[nodiscard]] PacketType packet_type(const Packet& p) noexcept;

// Content equality for tests and tools: every field, views compared by content.
[[nodiscard]] bool operator==(const Will&, const Will&) noexcept;
[[nodiscard]] bool operator==(const Connect&, const Connect&) noexcept;
[[nodiscard]] bool operator==(const Connack&, const Connack&) noexcept;
[[nodiscard]] bool operator==(const Publish&, const Publish&) noexcept;
template <PacketType T>
[[nodiscard]] bool operator==(const AckPacket<T>& a, const AckPacket<T>& b) noexcept {
    return a.packet_id == b.packet_id && a.reason == b.reason && a.properties == b.properties;
}
[[nodiscard]] bool operator==(const Subscribe&, const Subscribe&) noexcept;
[[nodiscard]] bool operator==(const Suback&, const Suback&) noexcept;
[[nodiscard]] bool operator==(const Unsubscribe&, const Unsubscribe&) noexcept;
[[nodiscard]] bool operator==(const Unsuback&, const Unsuback&) noexcept;
[[nodiscard]] inline bool operator==(const Pingreq&, const Pingreq&) noexcept { return true; }
[[nodiscard]] inline bool operator==(const Pingresp&, const Pingresp&) noexcept { return true; }
[[nodiscard]] bool operator==(const Disconnect&, const Disconnect&) noexcept;
[[nodiscard]] bool operator==(const Auth&, const Auth&) noexcept;

}  // namespace moth::codec
