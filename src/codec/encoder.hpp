#pragma once
// MQTT encoder: computes a packet's exact size and writes it into a caller-supplied buffer.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include <boost/system/result.hpp>

#include "codec/packets.hpp"

namespace moth::codec {

enum class EncodeError : std::uint8_t {
    BufferTooSmall,   // `out` is smaller than encoded_size()
    StringTooLong,    // a string or binary field over 65535 bytes
    PacketTooLarge,   // Remaining Length over 268435455
    InvalidPacket,    // a value the wire cannot carry: packet id 0 with QoS > 0, QoS 3, no filters,
                      // a packet or reason code the version does not have (AUTH before 5.0), ...
};

[[nodiscard]] std::string_view encode_error_text(EncodeError e) noexcept;
[[noreturn]] void throw_exception_from_error(EncodeError e, boost::source_location const& loc);

template <class T>
using EncodeResult = boost::system::result<T, EncodeError>;

// Exact number of bytes `p` takes on the wire for version `v`.
[[nodiscard]] EncodeResult<std::size_t> encoded_size(const Packet& p, ProtocolVersion v);

// Writes `p` to the front of `out` and returns the number of bytes written. Nothing is allocated.
[[nodiscard]] EncodeResult<std::size_t> encode(const Packet& p, ProtocolVersion v, std::span<std::byte> out);

// Appends `p` to `out` (convenience for tests, tools and the client).
[[nodiscard]] EncodeResult<std::size_t> encode_append(const Packet& p, ProtocolVersion v, std::vector<std::byte>& out);

// The same, for a PUBLISH, without building a Packet (the fan-out hot path).
[[nodiscard]] EncodeResult<std::size_t> encoded_size(const Publish& p, ProtocolVersion v);
[[nodiscard]] EncodeResult<std::size_t> encode(const Publish& p, ProtocolVersion v, std::span<std::byte> out);
// encode() into `out` of exactly the size encoded_size(p, v) returned, without measuring again: for a caller that
// measures to reserve the bytes, then writes them.
void encode_measured(const Publish& p, ProtocolVersion v, std::span<std::byte> out);

// A PUBLISH encoded once is reused for many receivers of the same version and QoS: only the packet
// identifier and the DUP flag differ, and both are patched in place. The packet identifier of a
// QoS > 0 PUBLISH sits right after the topic name.
[[nodiscard]] std::size_t publish_packet_id_offset(std::span<const std::byte> encoded_publish) noexcept;
void patch_publish_packet_id(std::span<std::byte> encoded_publish, std::uint16_t packet_id) noexcept;
void patch_publish_dup(std::span<std::byte> encoded_publish, bool dup) noexcept;

}  // namespace moth::codec
