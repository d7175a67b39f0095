#pragma once
// Internal to the decoder (src/codec/decoder*.cpp, decode_*.cpp), not installed and not for other modules: the
// cursor every packet reader works with. It lives in a header only because the readers are split over files by
// packet family; the primitives stay inline so that splitting costs the hot path (PUBLISH, acks) nothing.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "codec/decoder.hpp"
#include "common/utf8.hpp"
#include "common/varint.hpp"

namespace moth::codec {

constexpr std::uint8_t bit(unsigned n) { return static_cast<std::uint8_t>(1U << n); }

inline bool is_v5(ProtocolVersion v) noexcept { return v == ProtocolVersion::V5; }

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

}  // namespace moth::codec
