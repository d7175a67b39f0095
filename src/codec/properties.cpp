#include "codec/properties.hpp"

#include <algorithm>
#include <array>

namespace moth::codec {

namespace {

constexpr PropertyScope S(PacketType t) { return scope_of(t); }
constexpr PropertyScope kConnect = S(PacketType::Connect);
constexpr PropertyScope kConnack = S(PacketType::Connack);
constexpr PropertyScope kPublish = S(PacketType::Publish);
constexpr PropertyScope kAcks =
    S(PacketType::Puback) | S(PacketType::Pubrec) | S(PacketType::Pubrel) | S(PacketType::Pubcomp);
constexpr PropertyScope kSubscribe = S(PacketType::Subscribe);
constexpr PropertyScope kSuback = S(PacketType::Suback);
constexpr PropertyScope kUnsubscribe = S(PacketType::Unsubscribe);
constexpr PropertyScope kUnsuback = S(PacketType::Unsuback);
constexpr PropertyScope kDisconnect = S(PacketType::Disconnect);
constexpr PropertyScope kAuth = S(PacketType::Auth);

using T = PropertyType;
using I = PropertyId;

// MQTT 5.0 section 2.2.2.2, table "Properties".
constexpr std::array<PropertyInfo, 27> kProperties{{
    {I::PayloadFormatIndicator, T::Byte, "Payload Format Indicator", kPublish | kWillScope},
    {I::MessageExpiryInterval, T::FourByteInteger, "Message Expiry Interval", kPublish | kWillScope},
    {I::ContentType, T::Utf8String, "Content Type", kPublish | kWillScope},
    {I::ResponseTopic, T::Utf8String, "Response Topic", kPublish | kWillScope},
    {I::CorrelationData, T::BinaryData, "Correlation Data", kPublish | kWillScope},
    {I::SubscriptionIdentifier, T::VariableByteInteger, "Subscription Identifier", kPublish | kSubscribe},
    {I::SessionExpiryInterval, T::FourByteInteger, "Session Expiry Interval", kConnect | kConnack | kDisconnect},
    {I::AssignedClientIdentifier, T::Utf8String, "Assigned Client Identifier", kConnack},
    {I::ServerKeepAlive, T::TwoByteInteger, "Server Keep Alive", kConnack},
    {I::AuthenticationMethod, T::Utf8String, "Authentication Method", kConnect | kConnack | kAuth},
    {I::AuthenticationData, T::BinaryData, "Authentication Data", kConnect | kConnack | kAuth},
    {I::RequestProblemInformation, T::Byte, "Request Problem Information", kConnect},
    {I::WillDelayInterval, T::FourByteInteger, "Will Delay Interval", kWillScope},
    {I::RequestResponseInformation, T::Byte, "Request Response Information", kConnect},
    {I::ResponseInformation, T::Utf8String, "Response Information", kConnack},
    {I::ServerReference, T::Utf8String, "Server Reference", kConnack | kDisconnect},
    {I::ReasonString, T::Utf8String, "Reason String",
     kConnack | kAcks | kSuback | kUnsuback | kDisconnect | kAuth},
    {I::ReceiveMaximum, T::TwoByteInteger, "Receive Maximum", kConnect | kConnack},
    {I::TopicAliasMaximum, T::TwoByteInteger, "Topic Alias Maximum", kConnect | kConnack},
    {I::TopicAlias, T::TwoByteInteger, "Topic Alias", kPublish},
    {I::MaximumQoS, T::Byte, "Maximum QoS", kConnack},
    {I::RetainAvailable, T::Byte, "Retain Available", kConnack},
    {I::UserProperty, T::Utf8StringPair, "User Property",
     kConnect | kConnack | kPublish | kWillScope | kAcks | kSubscribe | kSuback | kUnsubscribe | kUnsuback |
         kDisconnect | kAuth},
    {I::MaximumPacketSize, T::FourByteInteger, "Maximum Packet Size", kConnect | kConnack},
    {I::WildcardSubscriptionAvailable, T::Byte, "Wildcard Subscription Available", kConnack},
    {I::SubscriptionIdentifierAvailable, T::Byte, "Subscription Identifier Available", kConnack},
    {I::SharedSubscriptionAvailable, T::Byte, "Shared Subscription Available", kConnack},
}};

// Direct lookup by identifier byte; identifiers are all below 0x2B.
constexpr auto kIndex = [] {
    std::array<std::int8_t, 64> idx{};
    idx.fill(-1);
    for (std::size_t i = 0; i < kProperties.size(); ++i) {
        idx[static_cast<std::size_t>(kProperties[i].id)] = static_cast<std::int8_t>(i);
    }
    return idx;
}();

template <class A, class B>
bool span_equal(std::span<A> a, std::span<B> b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
}

bool bytes_equal(const std::optional<Bytes>& a, const std::optional<Bytes>& b) {
    if (a.has_value() != b.has_value()) return false;
    return !a || span_equal(*a, *b);
}

}  // namespace

const PropertyInfo* property_info(std::uint8_t id) noexcept {
    if (id >= kIndex.size() || kIndex[id] < 0) return nullptr;
    return &kProperties[static_cast<std::size_t>(kIndex[id])];
}

std::span<const PropertyInfo> all_properties() noexcept { return kProperties; }

bool Properties::empty() const noexcept { return *this == Properties{}; }

bool operator==(const Properties& a, const Properties& b) noexcept {
    return a.payload_format_indicator == b.payload_format_indicator &&
           a.message_expiry_interval == b.message_expiry_interval && a.content_type == b.content_type &&
           a.response_topic == b.response_topic && bytes_equal(a.correlation_data, b.correlation_data) &&
           span_equal(a.subscription_identifiers, b.subscription_identifiers) &&
           a.session_expiry_interval == b.session_expiry_interval &&
           a.assigned_client_identifier == b.assigned_client_identifier &&
           a.server_keep_alive == b.server_keep_alive && a.authentication_method == b.authentication_method &&
           bytes_equal(a.authentication_data, b.authentication_data) &&
           a.request_problem_information == b.request_problem_information &&
           a.will_delay_interval == b.will_delay_interval &&
           a.request_response_information == b.request_response_information &&
           a.response_information == b.response_information && a.server_reference == b.server_reference &&
           a.reason_string == b.reason_string && a.receive_maximum == b.receive_maximum &&
           a.topic_alias_maximum == b.topic_alias_maximum && a.topic_alias == b.topic_alias &&
           a.maximum_qos == b.maximum_qos && a.retain_available == b.retain_available &&
           span_equal(a.user_properties, b.user_properties) &&
           std::ranges::equal(a.encoded_user_properties, b.encoded_user_properties) && a.maximum_packet_size == b.maximum_packet_size &&
           a.wildcard_subscription_available == b.wildcard_subscription_available &&
           a.subscription_identifier_available == b.subscription_identifier_available &&
           a.shared_subscription_available == b.shared_subscription_available;
}

}  // namespace moth::codec
