#pragma once
// Basic MQTT vocabulary shared by every packet type.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace moth::codec {

// A view of binary data (payloads, Binary Data fields). Decoded packets hold views into the decoder's
// input buffer; see Decoder for how long they stay valid.
using Bytes = std::span<const std::byte>;

// The protocol level byte of CONNECT: 3 = MQTT 3.1 ("MQIsdp"), 4 = 3.1.1, 5 = 5.0.
enum class ProtocolVersion : std::uint8_t { V3_1 = 3, V3_1_1 = 4, V5 = 5 };

enum class PacketType : std::uint8_t {
    Connect = 1,
    Connack = 2,
    Publish = 3,
    Puback = 4,
    Pubrec = 5,
    Pubrel = 6,
    Pubcomp = 7,
    Subscribe = 8,
    Suback = 9,
    Unsubscribe = 10,
    Unsuback = 11,
    Pingreq = 12,
    Pingresp = 13,
    Disconnect = 14,
    Auth = 15,  // MQTT 5.0 only
};

enum class QoS : std::uint8_t { AtMostOnce = 0, AtLeastOnce = 1, ExactlyOnce = 2 };

// Which end of the connection decodes: a server accepts only client-to-server packets and the
// properties a client may send, and the other way round.
enum class Role : std::uint8_t { Server, Client };

[[nodiscard]] std::string_view packet_type_name(PacketType t) noexcept;  // "CONNECT", ...
[[nodiscard]] std::string_view protocol_version_name(ProtocolVersion v) noexcept;  // "3.1", "3.1.1", "5.0"

// Largest value the Remaining Length field can carry; plus at most 5 header bytes.
inline constexpr std::uint32_t kMaxRemainingLength = 268'435'455;
inline constexpr std::size_t kMaxPacketSize = kMaxRemainingLength + 5;
inline constexpr std::size_t kMaxStringLength = 65'535;

}  // namespace moth::codec
