// Names of packet types, versions, reason codes and errors; the reason-code-per-packet tables of MQTT 5.0.
#include <array>
#include <cstdint>
#include <initializer_list>

#include "codec/encoder.hpp"
#include "codec/reason_code.hpp"
#include "codec/topic.hpp"
#include "codec/types.hpp"

namespace moth::codec {

std::string_view packet_type_name(PacketType t) noexcept {
    static constexpr std::array<std::string_view, 16> kNames = {
        "RESERVED", "CONNECT",  "CONNACK",     "PUBLISH",  "PUBACK",  "PUBREC",  "PUBREL",     "PUBCOMP",
        "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH"};
    const auto i = static_cast<std::size_t>(t);
    return i < kNames.size() ? kNames[i] : "RESERVED";
}

std::string_view protocol_version_name(ProtocolVersion v) noexcept {
    switch (v) {
        case ProtocolVersion::V3_1: return "3.1";
        case ProtocolVersion::V3_1_1: return "3.1.1";
        case ProtocolVersion::V5: return "5.0";
    }
    return "unknown";
}

std::string_view reason_code_name(ReasonCode code) noexcept {
    switch (static_cast<std::uint8_t>(code)) {
        case 0x00: return "Success";
        case 0x01: return "Granted QoS 1";
        case 0x02: return "Granted QoS 2";
        case 0x04: return "Disconnect with Will Message";
        case 0x10: return "No matching subscribers";
        case 0x11: return "No subscription existed";
        case 0x18: return "Continue authentication";
        case 0x19: return "Re-authenticate";
        case 0x80: return "Unspecified error";
        case 0x81: return "Malformed Packet";
        case 0x82: return "Protocol Error";
        case 0x83: return "Implementation specific error";
        case 0x84: return "Unsupported Protocol Version";
        case 0x85: return "Client Identifier not valid";
        case 0x86: return "Bad User Name or Password";
        case 0x87: return "Not authorized";
        case 0x88: return "Server unavailable";
        case 0x89: return "Server busy";
        case 0x8A: return "Banned";
        case 0x8B: return "Server shutting down";
        case 0x8C: return "Bad authentication method";
        case 0x8D: return "Keep Alive timeout";
        case 0x8E: return "Session taken over";
        case 0x8F: return "Topic Filter invalid";
        case 0x90: return "Topic Name invalid";
        case 0x91: return "Packet Identifier in use";
        case 0x92: return "Packet Identifier not found";
        case 0x93: return "Receive Maximum exceeded";
        case 0x94: return "Topic Alias invalid";
        case 0x95: return "Packet too large";
        case 0x96: return "Message rate too high";
        case 0x97: return "Quota exceeded";
        case 0x98: return "Administrative action";
        case 0x99: return "Payload format invalid";
        case 0x9A: return "Retain not supported";
        case 0x9B: return "QoS not supported";
        case 0x9C: return "Use another server";
        case 0x9D: return "Server moved";
        case 0x9E: return "Shared Subscriptions not supported";
        case 0x9F: return "Connection rate exceeded";
        case 0xA0: return "Maximum connect time";
        case 0xA1: return "Subscription Identifiers not supported";
        case 0xA2: return "Wildcard Subscriptions not supported";
        default: return "Unknown reason code";
    }
}

std::string_view reason_code_name(ReasonCode code, PacketType packet) noexcept {
    if (code == ReasonCode::Success) {
        if (packet == PacketType::Disconnect) return "Normal disconnection";
        if (packet == PacketType::Suback) return "Granted QoS 0";
    }
    return reason_code_name(code);
}

namespace {

// One bit per reason code value, as four 64-bit words.
struct CodeSet {
    std::array<std::uint64_t, 4> bits{};
    constexpr CodeSet(std::initializer_list<std::uint8_t> codes) {
        for (auto c : codes) bits[c / 64U] |= std::uint64_t{1} << (c % 64U);
    }
    [[nodiscard]] constexpr bool has(std::uint8_t c) const { return (bits[c / 64U] >> (c % 64U)) & 1U; }
};

// MQTT 5.0 sections 3.2.2.2, 3.4.2.1, 3.5.2.1, 3.6.2.1, 3.7.2.1, 3.9.3, 3.11.3, 3.14.2.1, 3.15.2.1.
constexpr CodeSet kConnack{0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
                           0x8A, 0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F};
constexpr CodeSet kPubackPubrec{0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99};
constexpr CodeSet kPubrelPubcomp{0x00, 0x92};
constexpr CodeSet kSuback{0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2};
constexpr CodeSet kUnsuback{0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91};
constexpr CodeSet kDisconnect{0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94,
                              0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2};
constexpr CodeSet kAuth{0x00, 0x18, 0x19};

}  // namespace

bool reason_code_allowed(ReasonCode code, PacketType packet) noexcept {
    const auto c = static_cast<std::uint8_t>(code);
    switch (packet) {
        case PacketType::Connack: return kConnack.has(c);
        case PacketType::Puback:
        case PacketType::Pubrec: return kPubackPubrec.has(c);
        case PacketType::Pubrel:
        case PacketType::Pubcomp: return kPubrelPubcomp.has(c);
        case PacketType::Suback: return kSuback.has(c);
        case PacketType::Unsuback: return kUnsuback.has(c);
        case PacketType::Disconnect: return kDisconnect.has(c);
        case PacketType::Auth: return kAuth.has(c);
        default: return false;
    }
}

std::uint8_t connack_return_code(ReasonCode code) noexcept {
    switch (code) {
        case ReasonCode::Success: return 0;
        case ReasonCode::UnsupportedProtocolVersion: return 1;
        case ReasonCode::ClientIdentifierNotValid: return 2;
        case ReasonCode::ServerUnavailable: return 3;
        case ReasonCode::BadUserNameOrPassword: return 4;
        case ReasonCode::NotAuthorized: return 5;
        case ReasonCode::Banned: return 5;  // a ban refuses the client as such: "not authorized" is what 3.x can say
        default: return 3;
    }
}

std::optional<ReasonCode> reason_from_connack_return_code(std::uint8_t rc) noexcept {
    switch (rc) {
        case 0: return ReasonCode::Success;
        case 1: return ReasonCode::UnsupportedProtocolVersion;
        case 2: return ReasonCode::ClientIdentifierNotValid;
        case 3: return ReasonCode::ServerUnavailable;
        case 4: return ReasonCode::BadUserNameOrPassword;
        case 5: return ReasonCode::NotAuthorized;
        default: return std::nullopt;
    }
}

std::string_view topic_error_text(TopicError e) noexcept {
    switch (e) {
        case TopicError::None: return "valid";
        case TopicError::Empty: return "topic is empty";
        case TopicError::TooLong: return "topic is longer than 65535 bytes";
        case TopicError::InvalidUtf8: return "topic is not valid UTF-8 (or contains U+0000)";
        case TopicError::WildcardInName: return "topic name contains a wildcard ('+' or '#')";
        case TopicError::MisplacedWildcard: return "wildcard not alone on its level, or '#' not last";
        case TopicError::BadSharedFilter: return "shared subscription needs $share/<name>/<filter>";
    }
    return "invalid topic";
}

std::string_view encode_error_text(EncodeError e) noexcept {
    switch (e) {
        case EncodeError::BufferTooSmall: return "output buffer too small";
        case EncodeError::StringTooLong: return "string or binary field longer than 65535 bytes";
        case EncodeError::PacketTooLarge: return "packet larger than the maximum remaining length";
        case EncodeError::InvalidPacket: return "packet cannot be encoded for this protocol version";
    }
    return "encode error";
}

}  // namespace moth::codec
