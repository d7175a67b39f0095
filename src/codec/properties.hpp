#pragma once
// MQTT 5.0 properties (section 2.2.2.2): identifiers, data types, the packets each may appear in,
// and the decoded/encodable set as one plain struct.
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "codec/types.hpp"

namespace moth::codec {

enum class PropertyId : std::uint8_t {
    PayloadFormatIndicator = 0x01,
    MessageExpiryInterval = 0x02,
    ContentType = 0x03,
    ResponseTopic = 0x08,
    CorrelationData = 0x09,
    SubscriptionIdentifier = 0x0B,
    SessionExpiryInterval = 0x11,
    AssignedClientIdentifier = 0x12,
    ServerKeepAlive = 0x13,
    AuthenticationMethod = 0x15,
    AuthenticationData = 0x16,
    RequestProblemInformation = 0x17,
    WillDelayInterval = 0x18,
    RequestResponseInformation = 0x19,
    ResponseInformation = 0x1A,
    ServerReference = 0x1C,
    ReasonString = 0x1F,
    ReceiveMaximum = 0x21,
    TopicAliasMaximum = 0x22,
    TopicAlias = 0x23,
    MaximumQoS = 0x24,
    RetainAvailable = 0x25,
    UserProperty = 0x26,
    MaximumPacketSize = 0x27,
    WildcardSubscriptionAvailable = 0x28,
    SubscriptionIdentifierAvailable = 0x29,
    SharedSubscriptionAvailable = 0x2A,
};

enum class PropertyType : std::uint8_t { Byte, TwoByteInteger, FourByteInteger, VariableByteInteger, Utf8String, BinaryData, Utf8StringPair };

// Where a property may appear: one bit per PacketType value, plus bit 0 for the Will Properties of CONNECT.
using PropertyScope = std::uint16_t;
inline constexpr PropertyScope kWillScope = 1U << 0;
[[nodiscard]] constexpr PropertyScope scope_of(PacketType t) noexcept {
    return static_cast<PropertyScope>(1U << static_cast<unsigned>(t));
}

struct PropertyInfo {
    PropertyId id;
    PropertyType type;
    std::string_view name;  // the specification's name, e.g. "Message Expiry Interval"
    PropertyScope scope;    // packets (and Will) it may appear in
};

// nullptr for identifiers MQTT 5.0 does not define.
[[nodiscard]] const PropertyInfo* property_info(std::uint8_t id) noexcept;
[[nodiscard]] std::span<const PropertyInfo> all_properties() noexcept;

struct UserProperty {
    std::string_view key;
    std::string_view value;
    friend bool operator==(const UserProperty&, const UserProperty&) = default;
};

// Every MQTT 5.0 property. A field that is not set is absent on the wire. Strings and binary data are
// views: when decoded they point into the decoder's input (or its scratch storage for the two list
// fields); when encoding, the caller keeps the referenced memory alive until encode() returns.
// For MQTT 3.1/3.1.1 the encoder ignores properties and the decoder leaves them empty.
// The encoder writes properties in ascending identifier order, user properties in their given order.
struct Properties {
    std::optional<std::uint8_t> payload_format_indicator;  // 0 unspecified bytes, 1 UTF-8
    std::optional<std::uint32_t> message_expiry_interval;
    std::optional<std::string_view> content_type;
    std::optional<std::string_view> response_topic;
    std::optional<Bytes> correlation_data;
    std::span<const std::uint32_t> subscription_identifiers;  // SUBSCRIBE: at most one; PUBLISH: any number
    std::optional<std::uint32_t> session_expiry_interval;
    std::optional<std::string_view> assigned_client_identifier;
    std::optional<std::uint16_t> server_keep_alive;
    std::optional<std::string_view> authentication_method;
    std::optional<Bytes> authentication_data;
    std::optional<std::uint8_t> request_problem_information;
    std::optional<std::uint32_t> will_delay_interval;
    std::optional<std::uint8_t> request_response_information;
    std::optional<std::string_view> response_information;
    std::optional<std::string_view> server_reference;
    std::optional<std::string_view> reason_string;
    std::optional<std::uint16_t> receive_maximum;
    std::optional<std::uint16_t> topic_alias_maximum;
    std::optional<std::uint16_t> topic_alias;
    std::optional<std::uint8_t> maximum_qos;
    std::optional<std::uint8_t> retain_available;
    std::span<const UserProperty> user_properties;
    // More User Properties, already in wire form: each the identifier 0x26, then the key and the value as UTF-8
    // strings. The encoder copies them verbatim after `user_properties` (the broker keeps a message's user
    // properties this way: one block, not one allocation per string); the caller guarantees they are well formed.
    // The decoder never sets it.
    std::span<const std::byte> encoded_user_properties;
    std::optional<std::uint32_t> maximum_packet_size;
    std::optional<std::uint8_t> wildcard_subscription_available;
    std::optional<std::uint8_t> subscription_identifier_available;
    std::optional<std::uint8_t> shared_subscription_available;

    [[nodiscard]] bool empty() const noexcept;
};

// Content equality (string and binary views compared by content).
[[nodiscard]] bool operator==(const Properties& a, const Properties& b) noexcept;

}  // namespace moth::codec
