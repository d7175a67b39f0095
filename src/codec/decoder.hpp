#pragma once
// Incremental MQTT decoder: one call takes the bytes received so far and yields one packet, asks for
// more bytes, or reports why the input is invalid, with the reason code the specification names.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "codec/packets.hpp"
#include "common/varint.hpp"

namespace moth::codec {

struct DecoderOptions {
    Role role = Role::Server;
    // Largest whole packet (fixed header included) accepted; a larger Remaining Length is rejected as
    // soon as the fixed header is complete, before any of the body needs to be buffered.
    std::size_t max_packet_size = kMaxPacketSize;
};

enum class DecodeStatus : std::uint8_t {
    Ok,        // `packet` holds a packet of `consumed` bytes
    NeedMore,  // the input ends inside a packet; `needed` says how many bytes the packet has if known
    Error,     // the input is invalid: `reason` (MalformedPacket, ProtocolError, PacketTooLarge,
               // UnsupportedProtocolVersion, TopicNameInvalid, ...) and `message` say why
};

struct DecodeResult {
    DecodeStatus status = DecodeStatus::NeedMore;
    std::size_t consumed = 0;  // Ok: bytes of this packet, to be dropped from the input
    std::size_t needed = 0;    // NeedMore: total bytes of the packet once its fixed header is complete, else 0
    Packet packet;             // Ok only
    ReasonCode reason = ReasonCode::Success;  // Error only
    std::string_view message;                 // Error only: a static English sentence, for logs
    // Error while decoding a CONNECT whose version was already read: that version, so a server can
    // answer with a CONNACK the client understands (3.x return code or 5.0 reason code).
    std::optional<ProtocolVersion> connect_version;
};

// Not thread safe; one decoder per connection. A decoded packet's views point into the input passed
// to decode() and into the decoder's scratch storage: they are valid until the next decode() call or
// until the input buffer changes, whichever comes first. In steady state decode() does not allocate:
// PUBLISH never does; lists (subscriptions, reason codes, user properties, subscription identifiers)
// reuse scratch vectors that only grow.
class Decoder {
public:
    explicit Decoder(DecoderOptions options = {}) : options_(options) {}

    // Server role: the version is learnt from the first CONNECT, and any other first packet is a
    // Protocol Error [MQTT-3.1.0-1]. Client role: set it before decoding (default 5.0).
    void set_version(ProtocolVersion v) noexcept { version_ = v; }
    // For a decoder shared by many connections (one per broker core): each connection's version, as version()
    // returned after its last decode(), is put back before decoding its bytes.
    void set_version(std::optional<ProtocolVersion> v) noexcept { version_ = v; }
    [[nodiscard]] std::optional<ProtocolVersion> version() const noexcept { return version_; }

    void set_max_packet_size(std::size_t n) noexcept { options_.max_packet_size = n; }
    [[nodiscard]] const DecoderOptions& options() const noexcept { return options_; }

    [[nodiscard]] DecodeResult decode(Bytes in);

private:
    void decode_into(Bytes in, DecodeResult& r);

    DecoderOptions options_;
    std::optional<ProtocolVersion> version_;
    // Scratch storage for the list-valued fields of the last decoded packet.
    std::vector<Subscription> subscriptions_;
    std::vector<std::string_view> filters_;
    std::vector<ReasonCode> reason_codes_;
    std::vector<UserProperty> user_properties_;
    std::vector<UserProperty> will_user_properties_;
    std::vector<std::uint32_t> subscription_ids_;

    friend class DecodeContext;
};

// Bytes of the whole packet at the start of `in` (fixed header plus Remaining Length), read from the fixed header
// alone; 0 when `in` ends inside the fixed header or its Remaining Length is malformed. For splitting a run of
// packets the broker itself encoded (one WebSocket message each), not for validating input.
[[nodiscard]] constexpr std::size_t packet_size(std::span<const std::byte> in) noexcept {
    if (in.size() < 2) return 0;
    const auto len = common::decode_varint(in.subspan(1));
    return len.status == common::VarIntStatus::Ok ? 1 + len.size + len.value : 0;
}

}  // namespace moth::codec
