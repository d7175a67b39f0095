#pragma once
// MQTT 5.0 reason codes (section 2.4) with their names. MQTT 3.1/3.1.1 return codes are expressed with
// the 5.0 code of the same meaning and mapped when encoding (see connack_return_code).
#include <cstdint>
#include <optional>
#include <string_view>

#include "codec/types.hpp"

namespace moth::codec {

enum class ReasonCode : std::uint8_t {
    Success = 0x00,
    NormalDisconnection = 0x00,
    GrantedQoS0 = 0x00,
    GrantedQoS1 = 0x01,
    GrantedQoS2 = 0x02,
    DisconnectWithWillMessage = 0x04,
    NoMatchingSubscribers = 0x10,
    NoSubscriptionExisted = 0x11,
    ContinueAuthentication = 0x18,
    ReAuthenticate = 0x19,
    UnspecifiedError = 0x80,
    MalformedPacket = 0x81,
    ProtocolError = 0x82,
    ImplementationSpecificError = 0x83,
    UnsupportedProtocolVersion = 0x84,
    ClientIdentifierNotValid = 0x85,
    BadUserNameOrPassword = 0x86,
    NotAuthorized = 0x87,
    ServerUnavailable = 0x88,
    ServerBusy = 0x89,
    Banned = 0x8A,
    ServerShuttingDown = 0x8B,
    BadAuthenticationMethod = 0x8C,
    KeepAliveTimeout = 0x8D,
    SessionTakenOver = 0x8E,
    TopicFilterInvalid = 0x8F,
    TopicNameInvalid = 0x90,
    PacketIdentifierInUse = 0x91,
    PacketIdentifierNotFound = 0x92,
    ReceiveMaximumExceeded = 0x93,
    TopicAliasInvalid = 0x94,
    PacketTooLarge = 0x95,
    MessageRateTooHigh = 0x96,
    QuotaExceeded = 0x97,
    AdministrativeAction = 0x98,
    PayloadFormatInvalid = 0x99,
    RetainNotSupported = 0x9A,
    QoSNotSupported = 0x9B,
    UseAnotherServer = 0x9C,
    ServerMoved = 0x9D,
    SharedSubscriptionsNotSupported = 0x9E,
    ConnectionRateExceeded = 0x9F,
    MaximumConnectTime = 0xA0,
    SubscriptionIdentifiersNotSupported = 0xA1,
    WildcardSubscriptionsNotSupported = 0xA2,
};

// The specification's name of `code` as used in `packet`, e.g. "Normal disconnection" for 0x00 in
// DISCONNECT, "Granted QoS 0" in SUBACK, "Success" elsewhere; "Unknown reason code" for gaps.
[[nodiscard]] std::string_view reason_code_name(ReasonCode code, PacketType packet) noexcept;
[[nodiscard]] std::string_view reason_code_name(ReasonCode code) noexcept;  // packet-neutral name

// Whether MQTT 5.0 allows `code` in `packet` (the tables of sections 3.2.2.2, 3.4.2.1, ..., 3.15.2.1).
[[nodiscard]] bool reason_code_allowed(ReasonCode code, PacketType packet) noexcept;

[[nodiscard]] constexpr bool is_error(ReasonCode code) noexcept {
    return static_cast<std::uint8_t>(code) >= 0x80;
}

// MQTT 3.1/3.1.1 CONNACK return codes (3.1.1 section 3.2.2.3) <-> their 5.0 equivalents. Codes with no
// 3.x equivalent map to 3 (Server unavailable).
[[nodiscard]] std::uint8_t connack_return_code(ReasonCode code) noexcept;
[[nodiscard]] std::optional<ReasonCode> reason_from_connack_return_code(std::uint8_t rc) noexcept;

}  // namespace moth::codec
