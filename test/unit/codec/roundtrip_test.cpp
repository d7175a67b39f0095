// Encode -> decode round trips: every packet type in every version, every MQTT 5.0 property alone in every packet
// (and the Will) that allows it, list-valued properties, sizes, buffer limits, the PUBLISH patch helpers and several
// packets in one buffer.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "codec/decoder.hpp"
#include "codec/encoder.hpp"
#include "codec/packets.hpp"
#include "codec/properties.hpp"
#include "support/codec_helpers.hpp"

namespace moth::codec {
namespace {

using test::as_bytes;
using test::ByteVec;
using test::bytes;
using test::DecoderSetup;
using test::hex;

constexpr auto V31 = ProtocolVersion::V3_1;
constexpr auto V311 = ProtocolVersion::V3_1_1;
constexpr auto V5 = ProtocolVersion::V5;

// Storage the sample packets' views point at; static so that the samples can be built in functions.
const std::array<Subscription, 3> kSubs{Subscription{"a/b", SubscribeOptions{QoS::AtMostOnce, false, false, 0}},
                                        Subscription{"+/x/#", SubscribeOptions{QoS::AtLeastOnce, false, false, 0}},
                                        Subscription{"#", SubscribeOptions{QoS::ExactlyOnce, false, false, 0}}};
const std::array<Subscription, 2> kSubsV5{
    Subscription{"a/b", SubscribeOptions{QoS::AtLeastOnce, true, false, 1}},
    Subscription{"$share/grp/s/+", SubscribeOptions{QoS::ExactlyOnce, false, true, 2}}};
const std::array<ReasonCode, 3> kGranted{ReasonCode::GrantedQoS0, ReasonCode::GrantedQoS1, ReasonCode::GrantedQoS2};
const std::array<ReasonCode, 2> kGrantedFailure{ReasonCode::GrantedQoS2, ReasonCode::UnspecifiedError};
const std::array<ReasonCode, 3> kSubackV5{ReasonCode::GrantedQoS1, ReasonCode::NotAuthorized,
                                          ReasonCode::SharedSubscriptionsNotSupported};
const std::array<std::string_view, 3> kFilters{"a/b", "+/x/#", "#"};
const std::array<ReasonCode, 3> kUnsubackV5{ReasonCode::Success, ReasonCode::NoSubscriptionExisted,
                                            ReasonCode::TopicFilterInvalid};
const std::array<UserProperty, 3> kUser{{{"k", "v1"}, {"k", "v2"}, {"", ""}}};  // repeated key, empty strings
const std::array<UserProperty, 2> kWillUser{{{"will", "1"}, {"x", "y"}}};
const std::array<std::uint32_t, 3> kSubIds{1, 16'384, 268'435'455};
const std::vector<std::byte> kBigPayload(20'000, std::byte{0x5A});

struct Sample {
    std::string name;
    Packet packet;
    ProtocolVersion version;
    std::vector<DecoderSetup> setups;
};

void PrintTo(const Sample& s, std::ostream* os) { *os << s.name; }

Connect make_connect(ProtocolVersion v, bool full) {
    Connect c;
    c.version = v;
    c.clean_start = !full;
    c.keep_alive_s = full ? 65'535 : 0;
    c.client_id = full ? "client-Identifier_23chr" : "c";
    if (full) {
        c.will = Will{};
        c.will->topic = "will/topic";
        c.will->payload = as_bytes(std::string_view("\0\x01\xFF", 3));
        c.will->qos = QoS::ExactlyOnce;
        c.will->retain = true;
        c.username = "user";
        c.password = as_bytes(std::string_view("p\0ss", 4));  // binary data may hold any byte
        if (v == V5) {
            c.properties.session_expiry_interval = 0xFFFF'FFFF;
            c.properties.user_properties = kUser;
            c.will->properties.will_delay_interval = 10;
            c.will->properties.user_properties = kWillUser;
        }
    }
    return c;
}

template <class Ack>
Ack make_ack(ProtocolVersion v, bool with_reason) {
    Ack a;
    a.packet_id = 0xBEEF;
    if (with_reason && v == V5) {
        a.reason = Ack::kType == PacketType::Pubrel || Ack::kType == PacketType::Pubcomp
                       ? ReasonCode::PacketIdentifierNotFound
                       : ReasonCode::ImplementationSpecificError;
        a.properties.reason_string = "why";
    }
    return a;
}

std::vector<Sample> samples() {
    std::vector<Sample> out;
    for (const auto v : {V31, V311, V5}) {
        const std::string vn = v == V31 ? "v31" : v == V311 ? "v311" : "v5";
        const DecoderSetup srv = test::server(v);
        const DecoderSetup cli = test::client(v);
        const bool v5 = v == V5;

        out.push_back({vn + "_connect_minimal", make_connect(v, false), v, {test::fresh_server()}});
        out.push_back({vn + "_connect_full", make_connect(v, true), v, {test::fresh_server()}});

        Connack ca;
        ca.session_present = v != V31;  // 3.1 has no Session Present flag
        if (v5) ca.properties.assigned_client_identifier = "id";
        out.push_back({vn + "_connack_session_present", ca, v, {cli}});
        Connack refused;
        refused.reason = ReasonCode::BadUserNameOrPassword;
        out.push_back({vn + "_connack_refused", refused, v, {cli}});

        Publish p0;
        p0.topic = "sport/tennis/player1";
        p0.payload = as_bytes("{\"score\": 15}");
        out.push_back({vn + "_publish_qos0", p0, v, {srv, cli}});
        Publish p1;
        p1.topic = "a";
        p1.qos = QoS::AtLeastOnce;
        p1.packet_id = 1;
        p1.retain = true;
        p1.payload = kBigPayload;  // three-byte Remaining Length
        out.push_back({vn + "_publish_qos1_big", p1, v, {srv, cli}});
        Publish p2;
        p2.topic = "caf\xC3\xA9/\xE2\x82\xAC";  // multi-byte UTF-8 topic
        p2.qos = QoS::ExactlyOnce;
        p2.dup = true;
        p2.packet_id = 65'535;
        if (v5) p2.properties.user_properties = kUser;
        out.push_back({vn + "_publish_qos2_dup", p2, v, {srv, cli}});

        out.push_back({vn + "_puback", make_ack<Puback>(v, false), v, {srv, cli}});
        out.push_back({vn + "_pubrec", make_ack<Pubrec>(v, true), v, {srv, cli}});
        out.push_back({vn + "_pubrel", make_ack<Pubrel>(v, true), v, {srv, cli}});
        out.push_back({vn + "_pubcomp", make_ack<Pubcomp>(v, false), v, {srv, cli}});

        Subscribe s;
        s.packet_id = 2;
        s.subscriptions = v5 ? std::span<const Subscription>(kSubsV5) : std::span<const Subscription>(kSubs);
        out.push_back({vn + "_subscribe", s, v, {srv}});
        Suback sa;
        sa.packet_id = 2;
        sa.reason_codes = v5 ? std::span<const ReasonCode>(kSubackV5)
                             : v == V311 ? std::span<const ReasonCode>(kGrantedFailure)
                                         : std::span<const ReasonCode>(kGranted);
        out.push_back({vn + "_suback", sa, v, {cli}});
        Unsubscribe u;
        u.packet_id = 3;
        u.filters = kFilters;
        out.push_back({vn + "_unsubscribe", u, v, {srv}});
        Unsuback ua;
        ua.packet_id = 3;
        if (v5) ua.reason_codes = kUnsubackV5;
        out.push_back({vn + "_unsuback", ua, v, {cli}});

        out.push_back({vn + "_pingreq", Pingreq{}, v, {srv}});
        out.push_back({vn + "_pingresp", Pingresp{}, v, {cli}});
        out.push_back({vn + "_disconnect", Disconnect{}, v, {srv}});
        if (v5) {
            Disconnect d;
            d.reason = ReasonCode::KeepAliveTimeout;
            d.properties.reason_string = "idle";
            out.push_back({vn + "_disconnect_keep_alive_timeout", d, v, {cli}});
            Auth a;
            a.reason = ReasonCode::ContinueAuthentication;
            a.properties.authentication_method = "m";
            out.push_back({vn + "_auth", a, v, {srv, cli}});
        }
    }
    return out;
}

class RoundTrip : public ::testing::TestWithParam<Sample> {};

TEST_P(RoundTrip, EncodesDecodesAndSizesAgree) {
    const Sample& s = GetParam();
    const auto size = encoded_size(s.packet, s.version);
    ASSERT_TRUE(size.has_value()) << encode_error_text(size.error());

    ByteVec out(*size + 8, std::byte{0xEE});
    const auto n = encode(s.packet, s.version, out);
    ASSERT_TRUE(n.has_value()) << encode_error_text(n.error());
    EXPECT_EQ(*n, *size) << "encoded_size() disagrees with the bytes written";
    EXPECT_EQ(out[*n], std::byte{0xEE}) << "encode() wrote past the bytes it reported";
    out.resize(*n);
    EXPECT_EQ(test::announced_packet_size(out), out.size()) << "Remaining Length disagrees with the packet size";

    for (const auto& setup : s.setups) {
        SCOPED_TRACE(setup.role == Role::Server ? "Server-role decoder" : "Client-role decoder");
        EXPECT_TRUE(test::decodes_to(setup, out, s.packet, s.version));
    }
}

TEST_P(RoundTrip, BufferOneByteShortIsBufferTooSmall) {
    const Sample& s = GetParam();
    const auto size = encoded_size(s.packet, s.version);
    ASSERT_TRUE(size.has_value());
    ByteVec out(*size - 1);
    const auto r = encode(s.packet, s.version, out);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error(), EncodeError::BufferTooSmall);
    const auto empty = encode(s.packet, s.version, std::span<std::byte>());
    ASSERT_FALSE(empty.has_value());
    EXPECT_EQ(empty.error(), EncodeError::BufferTooSmall);
}

INSTANTIATE_TEST_SUITE_P(EveryPacket, RoundTrip, ::testing::ValuesIn(samples()),
                         [](const ::testing::TestParamInfo<Sample>& p) { return p.param.name; });

// ---- Every MQTT 5.0 property alone in every packet that allows it (Table 2-4) -------------------------------

const std::array<std::byte, 3> kBinary{std::byte{0x00}, std::byte{0xFF}, std::byte{0x10}};
const std::array<UserProperty, 1> kOneUser{{{"key", "value"}}};
const std::array<std::uint32_t, 1> kOneSubId{268'435'455};

// Sets `id` to a sample value that is valid wherever the property is allowed.
void set_sample(Properties& p, PropertyId id) {
    switch (id) {
        case PropertyId::PayloadFormatIndicator: p.payload_format_indicator = 1; break;
        case PropertyId::MessageExpiryInterval: p.message_expiry_interval = 0x0102'0304; break;
        case PropertyId::ContentType: p.content_type = "text/plain; charset=utf-8"; break;
        case PropertyId::ResponseTopic: p.response_topic = "resp/topic"; break;
        case PropertyId::CorrelationData: p.correlation_data = kBinary; break;
        case PropertyId::SubscriptionIdentifier: p.subscription_identifiers = kOneSubId; break;
        case PropertyId::SessionExpiryInterval: p.session_expiry_interval = 0xFFFF'FFFF; break;
        case PropertyId::AssignedClientIdentifier: p.assigned_client_identifier = "assigned-1"; break;
        case PropertyId::ServerKeepAlive: p.server_keep_alive = 0x1234; break;
        case PropertyId::AuthenticationMethod: p.authentication_method = "SCRAM-SHA-1"; break;
        case PropertyId::AuthenticationData:  // needs a method beside it (3.1.2.11.10)
            p.authentication_method = "SCRAM-SHA-1";
            p.authentication_data = kBinary;
            break;
        case PropertyId::RequestProblemInformation: p.request_problem_information = 0; break;
        case PropertyId::WillDelayInterval: p.will_delay_interval = 300; break;
        case PropertyId::RequestResponseInformation: p.request_response_information = 1; break;
        case PropertyId::ResponseInformation: p.response_information = "resp-info"; break;
        case PropertyId::ServerReference: p.server_reference = "other.example:1883"; break;
        case PropertyId::ReasonString: p.reason_string = "because"; break;
        case PropertyId::ReceiveMaximum: p.receive_maximum = 0xFFFF; break;
        case PropertyId::TopicAliasMaximum: p.topic_alias_maximum = 10; break;
        case PropertyId::TopicAlias: p.topic_alias = 0xFFFF; break;
        case PropertyId::MaximumQoS: p.maximum_qos = 1; break;
        case PropertyId::RetainAvailable: p.retain_available = 0; break;
        case PropertyId::UserProperty: p.user_properties = kOneUser; break;
        case PropertyId::MaximumPacketSize: p.maximum_packet_size = 268'435'460; break;
        case PropertyId::WildcardSubscriptionAvailable: p.wildcard_subscription_available = 0; break;
        case PropertyId::SubscriptionIdentifierAvailable: p.subscription_identifier_available = 1; break;
        case PropertyId::SharedSubscriptionAvailable: p.shared_subscription_available = 0; break;
    }
}

const std::array<Subscription, 1> kOneSub{Subscription{"a/b", SubscribeOptions{QoS::AtLeastOnce, false, false, 0}}};
const std::array<ReasonCode, 1> kOneGranted{ReasonCode::GrantedQoS1};
const std::array<std::string_view, 1> kOneFilter{"a/b"};
const std::array<ReasonCode, 1> kOneSuccess{ReasonCode::Success};

// A packet of type `t` carrying `p` (or, for the Will scope, a CONNECT whose Will carries it).
Packet carrier(PropertyScope scope, const Properties& p) {
    if (scope == kWillScope) {
        Connect c;
        c.client_id = "c";
        c.will = Will{};
        c.will->topic = "w";
        c.will->payload = as_bytes("m");
        c.will->properties = p;
        return c;
    }
    for (unsigned t = 1; t <= 15; ++t) {
        if (scope != scope_of(static_cast<PacketType>(t))) continue;
        switch (static_cast<PacketType>(t)) {
            case PacketType::Connect: {
                Connect c;
                c.client_id = "c";
                c.properties = p;
                return c;
            }
            case PacketType::Connack: return Connack{false, ReasonCode::Success, p};
            case PacketType::Publish: {
                Publish pub;
                pub.topic = "a/b";
                pub.qos = QoS::AtLeastOnce;
                pub.packet_id = 1;
                pub.properties = p;
                pub.payload = as_bytes("x");
                return pub;
            }
            case PacketType::Puback: return Puback{1, ReasonCode::Success, p};
            case PacketType::Pubrec: return Pubrec{1, ReasonCode::Success, p};
            case PacketType::Pubrel: return Pubrel{1, ReasonCode::Success, p};
            case PacketType::Pubcomp: return Pubcomp{1, ReasonCode::Success, p};
            case PacketType::Subscribe: return Subscribe{1, p, kOneSub};
            case PacketType::Suback: return Suback{1, p, kOneGranted};
            case PacketType::Unsubscribe: return Unsubscribe{1, p, kOneFilter};
            case PacketType::Unsuback: return Unsuback{1, p, kOneSuccess};
            case PacketType::Disconnect: return Disconnect{ReasonCode::NormalDisconnection, p};
            case PacketType::Auth: return Auth{ReasonCode::ContinueAuthentication, p};
            default: break;
        }
    }
    ADD_FAILURE() << "no carrier for scope " << scope;
    return Pingreq{};
}

// The ends that receive this packet with this property (MQTT 5.0 2.1.2 and the property's direction rules).
std::vector<DecoderSetup> receivers(PropertyScope scope, PropertyId id) {
    const auto srv = test::server(V5);
    const auto cli = test::client(V5);
    if (scope == kWillScope || scope == scope_of(PacketType::Connect)) return {test::fresh_server()};
    if (scope == scope_of(PacketType::Subscribe) || scope == scope_of(PacketType::Unsubscribe)) return {srv};
    if (scope == scope_of(PacketType::Connack) || scope == scope_of(PacketType::Suback) ||
        scope == scope_of(PacketType::Unsuback)) {
        return {cli};
    }
    if (scope == scope_of(PacketType::Publish) && id == PropertyId::SubscriptionIdentifier) return {cli};  // [MQTT-3.3.4-6]
    if (scope == scope_of(PacketType::Disconnect) && id == PropertyId::SessionExpiryInterval) return {srv};  // [MQTT-3.14.2-2]
    if (scope == scope_of(PacketType::Disconnect) && id == PropertyId::ServerReference) return {cli};  // 3.14.2.2.5
    return {srv, cli};
}

TEST(RoundTripProperties, EveryPropertyAloneInEveryPacketThatAllowsIt) {
    int checked = 0;
    for (const auto& info : all_properties()) {
        for (unsigned bit = 0; bit <= 15; ++bit) {
            const auto scope = static_cast<PropertyScope>(1U << bit);
            if ((info.scope & scope) == 0) continue;
            SCOPED_TRACE(std::string(info.name) + " in scope bit " + std::to_string(bit));
            Properties p;
            set_sample(p, info.id);
            ASSERT_FALSE(p.empty());
            const Packet packet = carrier(scope, p);
            const ByteVec wire = test::encode_or_fail(packet, V5);
            // The property is on the wire: the packet is longer than the same packet without it.
            const ByteVec bare = test::encode_or_fail(carrier(scope, Properties{}), V5);
            EXPECT_GT(wire.size(), bare.size());
            for (const auto& setup : receivers(scope, info.id)) {
                SCOPED_TRACE(setup.role == Role::Server ? "Server-role decoder" : "Client-role decoder");
                EXPECT_TRUE(test::decodes_to(setup, wire, packet, V5));
            }
            ++checked;
        }
    }
    EXPECT_GE(checked, 50);
}

TEST(RoundTripProperties, EveryPropertyOnceInOnePacketComesOutInAscendingOrder) {  // properties.hpp promise
    Properties all;
    for (const auto& info : all_properties()) {
        if ((info.scope & scope_of(PacketType::Connack)) != 0) set_sample(all, info.id);
    }
    const Packet packet = carrier(scope_of(PacketType::Connack), all);
    const ByteVec wire = test::encode_or_fail(packet, V5);
    EXPECT_TRUE(test::decodes_to(test::client(V5), wire, packet, V5));
    // Walk the property block (after fixed header, flags, reason code and its own length) and check the order.
    const std::size_t header = test::fixed_header_size(wire);
    const auto len = common::decode_varint(std::span<const std::byte>(wire).subspan(header + 2));
    ASSERT_EQ(len.status, common::VarIntStatus::Ok);
    std::size_t pos = header + 2 + len.size;
    const std::size_t end = pos + len.value;
    ASSERT_EQ(end, wire.size());
    int previous = -1;
    int count = 0;
    while (pos < end) {
        const int id = std::to_integer<int>(wire[pos]);
        const PropertyInfo* info = property_info(static_cast<std::uint8_t>(id));
        ASSERT_NE(info, nullptr) << "at offset " << pos << ": " << hex(wire);
        EXPECT_GE(id, previous) << "property " << info->name << " out of order: " << hex(wire);
        previous = id;
        ++count;
        ++pos;
        switch (info->type) {
            case PropertyType::Byte: pos += 1; break;
            case PropertyType::TwoByteInteger: pos += 2; break;
            case PropertyType::FourByteInteger: pos += 4; break;
            case PropertyType::VariableByteInteger:
                pos += common::decode_varint(std::span<const std::byte>(wire).subspan(pos)).size;
                break;
            case PropertyType::Utf8String:
            case PropertyType::BinaryData:
                pos += 2 + ((std::to_integer<std::size_t>(wire[pos]) << 8) | std::to_integer<std::size_t>(wire[pos + 1]));
                break;
            case PropertyType::Utf8StringPair:
                for (int i = 0; i < 2; ++i) {
                    pos += 2 + ((std::to_integer<std::size_t>(wire[pos]) << 8) |
                                std::to_integer<std::size_t>(wire[pos + 1]));
                }
                break;
        }
    }
    EXPECT_EQ(pos, end);
    EXPECT_GE(count, 17);  // every CONNACK property of Table 2-4
}

TEST(RoundTripProperties, UserPropertiesKeepTheirOrderInConnectAndWill) {
    const Connect c = make_connect(V5, true);
    const ByteVec wire = test::encode_or_fail(c, V5);
    Decoder d = test::make_decoder(test::fresh_server());
    const auto r = d.decode(wire);
    ASSERT_EQ(r.status, DecodeStatus::Ok) << test::describe(r);
    const auto& got = std::get<Connect>(r.packet);
    ASSERT_EQ(got.properties.user_properties.size(), kUser.size());
    for (std::size_t i = 0; i < kUser.size(); ++i) EXPECT_EQ(got.properties.user_properties[i], kUser[i]) << i;
    ASSERT_TRUE(got.will.has_value());
    ASSERT_EQ(got.will->properties.user_properties.size(), kWillUser.size());
    for (std::size_t i = 0; i < kWillUser.size(); ++i) {
        EXPECT_EQ(got.will->properties.user_properties[i], kWillUser[i]) << i;
    }
}

TEST(RoundTripProperties, SeveralSubscriptionIdentifiersInAPublishToAClient) {  // 3.3.2.3.8: any number
    Publish p;
    p.topic = "a/b";
    p.properties.subscription_identifiers = kSubIds;
    p.properties.user_properties = kUser;
    const ByteVec wire = test::encode_or_fail(p, V5);
    EXPECT_TRUE(test::decodes_to(test::client(V5), wire, p, V5));
    Decoder d = test::make_decoder(test::client(V5));
    const auto r = d.decode(wire);
    ASSERT_EQ(r.status, DecodeStatus::Ok);
    const auto& ids = std::get<Publish>(r.packet).properties.subscription_identifiers;
    ASSERT_EQ(ids.size(), 3U);
    EXPECT_EQ(ids[0], 1U);
    EXPECT_EQ(ids[1], 16'384U);
    EXPECT_EQ(ids[2], 268'435'455U);
    // The same PUBLISH from a client is a Protocol Error [MQTT-3.3.4-6].
    EXPECT_TRUE(test::rejected_with(test::server(V5), wire, ReasonCode::ProtocolError));
}

TEST(RoundTripProperties, AreIgnoredWhenEncodingV3) {
    Publish with;
    with.topic = "a/b";
    with.qos = QoS::AtLeastOnce;
    with.packet_id = 5;
    with.properties.message_expiry_interval = 10;
    with.properties.user_properties = kUser;
    Publish without = with;
    without.properties = Properties{};
    for (const auto v : {V31, V311}) {
        EXPECT_EQ(test::encode_or_fail(with, v), test::encode_or_fail(without, v));
    }
    Puback ack;
    ack.packet_id = 5;
    ack.reason = ReasonCode::NoMatchingSubscribers;  // 5.0 only: not on the 3.1.1 wire
    ack.properties.reason_string = "x";
    EXPECT_EQ(test::encode_or_fail(ack, V311), bytes({0x40, 0x02, 0x00, 0x05}));
}

// ---- Encoder refusals ---------------------------------------------------------------------------------------

TEST(Encoder, RefusesWhatTheWireCannotCarry) {
    Publish no_id;
    no_id.topic = "a";
    no_id.qos = QoS::AtLeastOnce;  // packet id 0 with QoS 1 [MQTT-2.2.1-3]
    auto r = encoded_size(no_id, V5);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error(), EncodeError::InvalidPacket);

    Subscribe none;  // no filters [MQTT-3.8.3-2]
    none.packet_id = 1;
    r = encoded_size(Packet{none}, V311);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error(), EncodeError::InvalidPacket);

    ByteVec out;
    const auto auth = encode_append(Auth{}, V311, out);  // AUTH does not exist before 5.0
    ASSERT_FALSE(auth.has_value());
    EXPECT_EQ(auth.error(), EncodeError::InvalidPacket);
    EXPECT_TRUE(out.empty()) << "nothing is appended on failure: " << hex(out);

    const std::string long_topic(65'536, 'a');
    Publish too_long;
    too_long.topic = long_topic;
    r = encoded_size(too_long, V311);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error(), EncodeError::StringTooLong);

    const std::string max_topic(65'535, 'a');
    Publish longest;
    longest.topic = max_topic;
    const ByteVec wire = test::encode_or_fail(longest, V311);
    EXPECT_EQ(wire.size(), 1U + 3U + 2U + 65'535U);
    EXPECT_TRUE(test::decodes_to(test::server(V311), wire, longest, V311));
}

TEST(Encoder, PacketTooLargeAboveTheMaximumRemainingLength) {
    // A payload that takes the Remaining Length past 268,435,455 bytes. Only sizes are computed, nothing written,
    // so the span may point at a small buffer that is never read.
    static const std::byte dummy{};
    Publish p;
    p.topic = "t";
    p.payload = std::span<const std::byte>(&dummy, kMaxRemainingLength);  // + 3 bytes of topic: too large
    const auto r = encoded_size(p, V311);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error(), EncodeError::PacketTooLarge);
    p.payload = std::span<const std::byte>(&dummy, kMaxRemainingLength - 3);  // exactly the maximum
    const auto ok = encoded_size(p, V311);
    ASSERT_TRUE(ok.has_value());
    EXPECT_EQ(*ok, kMaxPacketSize);
}

// encode_measured() writes what encode() writes, given the size encoded_size() returned: around the Remaining
// Length's varint size steps (127/128, 16,383/16,384 bytes), for each version, with and without properties.
TEST(Encoder, EncodeMeasuredMatchesEncode) {
    const std::vector<std::byte> payload(20000, std::byte{0x5A});
    for (const auto v : {V311, V5}) {
        std::vector<std::size_t> sizes{0, 20000};
        for (std::size_t n = 100; n <= 130; ++n) sizes.push_back(n);
        for (std::size_t n = 16350; n <= 16380; ++n) sizes.push_back(n);
        for (const std::size_t n : sizes) {
            for (const auto qos : {QoS::AtMostOnce, QoS::AtLeastOnce}) {
                Publish p;
                p.topic = "a/b";
                p.qos = qos;
                p.packet_id = qos == QoS::AtMostOnce ? 0 : 7;
                p.payload = std::span(payload).first(n);
                if (v == V5) p.properties.content_type = "text/plain";
                const auto size = encoded_size(p, v);
                ASSERT_TRUE(size.has_value());
                std::vector<std::byte> expected(*size);
                ASSERT_TRUE(encode(p, v, expected).has_value());
                std::vector<std::byte> got(*size);
                encode_measured(p, v, got);
                EXPECT_EQ(got, expected) << "payload " << n;
            }
        }
    }
}

TEST(Encoder, ErrorTextsAreDistinct) {
    EXPECT_FALSE(encode_error_text(EncodeError::BufferTooSmall).empty());
    EXPECT_NE(encode_error_text(EncodeError::BufferTooSmall), encode_error_text(EncodeError::StringTooLong));
    EXPECT_NE(encode_error_text(EncodeError::PacketTooLarge), encode_error_text(EncodeError::InvalidPacket));
}

// ---- PUBLISH fast path and patch helpers ----------------------------------------------------------------------

TEST(PublishPatch, PublishOverloadsMatchThePacketOverloads) {
    Publish p;
    p.topic = "a/b";
    p.qos = QoS::AtLeastOnce;
    p.packet_id = 1;
    p.properties.content_type = "c";
    p.payload = as_bytes("payload");
    for (const auto v : {V31, V311, V5}) {
        const auto size = encoded_size(p, v);
        ASSERT_TRUE(size.has_value());
        EXPECT_EQ(*size, *encoded_size(Packet{p}, v));
        ByteVec out(*size);
        ASSERT_TRUE(encode(p, v, out).has_value());
        EXPECT_EQ(out, test::encode_or_fail(p, v));
        ByteVec small(*size - 1);
        const auto r = encode(p, v, small);
        ASSERT_FALSE(r.has_value());
        EXPECT_EQ(r.error(), EncodeError::BufferTooSmall);
    }
}

TEST(PublishPatch, PacketIdAndDupArePatchedInPlace) {
    for (const auto v : {V311, V5}) {
        SCOPED_TRACE(protocol_version_name(v));
        Publish p;
        p.topic = "topic/x";
        p.qos = QoS::ExactlyOnce;
        p.packet_id = 1;
        p.payload = kBigPayload;  // a three-byte Remaining Length moves the offset
        if (v == V5) p.properties.user_properties = kUser;
        ByteVec wire = test::encode_or_fail(p, v);
        // Fixed header (1 + 3), then the Topic Name (2 + 7): the Packet Identifier follows it.
        EXPECT_EQ(publish_packet_id_offset(wire), 1U + 3U + 2U + 7U);

        patch_publish_packet_id(wire, 0xABCD);
        patch_publish_dup(wire, true);
        Publish expected = p;
        expected.packet_id = 0xABCD;
        expected.dup = true;
        EXPECT_EQ(wire, test::encode_or_fail(expected, v));
        EXPECT_TRUE(test::decodes_to(test::client(v), wire, expected, v));

        patch_publish_dup(wire, false);
        expected.dup = false;
        EXPECT_EQ(wire, test::encode_or_fail(expected, v));
        EXPECT_EQ(wire[0], std::byte{0x34}) << "QoS and RETAIN bits are left alone";
    }
}

TEST(PublishPatch, OffsetWithShortHeaderAndEmptyTopic) {
    Publish p;
    p.topic = "";
    p.qos = QoS::AtLeastOnce;
    p.packet_id = 7;
    p.retain = true;
    p.properties.topic_alias = 2;
    ByteVec wire = test::encode_or_fail(p, V5);
    EXPECT_EQ(publish_packet_id_offset(wire), 1U + 1U + 2U);
    patch_publish_packet_id(wire, 8);
    patch_publish_dup(wire, true);
    EXPECT_EQ(wire[0], std::byte{0x3B});
    p.packet_id = 8;
    p.dup = true;
    EXPECT_TRUE(test::decodes_to(test::server(V5), wire, p, V5));
}

// ---- Several packets in one buffer ----------------------------------------------------------------------------

TEST(Stream, SeveralPacketsConcatenatedDecodeOneAfterAnother) {
    std::vector<Sample> list;
    for (auto& s : samples()) {
        if (s.version == V5 && !s.setups.empty() && s.setups[0].role == Role::Server &&
            !std::holds_alternative<Connect>(s.packet)) {
            list.push_back(s);
        }
    }
    ASSERT_GE(list.size(), 8U);
    ByteVec stream = test::minimal_connect(V5);
    std::vector<std::size_t> sizes{stream.size()};
    for (const auto& s : list) {
        const std::size_t before = stream.size();
        ASSERT_TRUE(encode_append(s.packet, V5, stream).has_value());
        sizes.push_back(stream.size() - before);
    }
    Decoder d = test::make_decoder(test::fresh_server());
    std::span<const std::byte> rest(stream);
    for (std::size_t i = 0; i < sizes.size(); ++i) {
        const auto r = d.decode(rest);
        ASSERT_EQ(r.status, DecodeStatus::Ok) << "packet " << i << ": " << test::describe(r);
        ASSERT_EQ(r.consumed, sizes[i]) << "packet " << i;
        if (i > 0) {
            EXPECT_TRUE(r.packet == list[i - 1].packet) << list[i - 1].name;
        }
        rest = rest.subspan(r.consumed);
    }
    EXPECT_TRUE(rest.empty());
    const auto r = d.decode(rest);
    EXPECT_EQ(r.status, DecodeStatus::NeedMore);
    EXPECT_EQ(r.needed, 0U);
}

TEST(Stream, PartialSecondPacketAsksForItsSize) {
    ByteVec stream = bytes({0xC0, 0x00});                    // PINGREQ
    const ByteVec publish = bytes({0x30, 0x05, 0x00, 0x01, 't', 'h', 'i'});  // PUBLISH "t" "hi"
    stream.insert(stream.end(), publish.begin(), publish.begin() + 4);
    Decoder d = test::make_decoder(test::server(V311));
    auto r = d.decode(stream);
    ASSERT_EQ(r.status, DecodeStatus::Ok);
    EXPECT_EQ(r.consumed, 2U);
    r = d.decode(std::span<const std::byte>(stream).subspan(2));
    EXPECT_EQ(r.status, DecodeStatus::NeedMore);
    EXPECT_EQ(r.needed, 7U);
}

TEST(Stream, EmptyInputNeedsMore) {
    for (const auto& setup : {test::fresh_server(), test::server(V311), test::client(V5)}) {
        Decoder d = test::make_decoder(setup);
        const auto r = d.decode(std::span<const std::byte>());
        EXPECT_EQ(r.status, DecodeStatus::NeedMore);
        EXPECT_EQ(r.needed, 0U);
    }
}

TEST(Stream, ClientRoleDefaultsToV5) {  // decoder.hpp: "Client role: set it before decoding (default 5.0)"
    Decoder d(DecoderOptions{Role::Client, kMaxPacketSize});
    const ByteVec connack = bytes({0x20, 0x03, 0x00, 0x00, 0x00});
    const auto r = d.decode(connack);
    ASSERT_EQ(r.status, DecodeStatus::Ok) << test::describe(r);
    EXPECT_EQ(r.consumed, 5U);
    // The same decoder set to 3.1.1 takes the two-byte form and rejects the 5.0 one.
    d.set_version(V311);
    EXPECT_EQ(d.version(), V311);
    EXPECT_EQ(d.decode(bytes({0x20, 0x02, 0x00, 0x00})).status, DecodeStatus::Ok);
    const auto e = d.decode(connack);
    EXPECT_EQ(e.status, DecodeStatus::Error);
    EXPECT_EQ(e.reason, ReasonCode::MalformedPacket);
}

TEST(Stream, ServerLearnsTheVersionFromTheFirstConnect) {
    for (const auto v : {V31, V311, V5}) {
        Decoder d = test::make_decoder(test::fresh_server());
        const ByteVec connect = test::minimal_connect(v);
        ASSERT_EQ(d.decode(connect).status, DecodeStatus::Ok);
        EXPECT_EQ(d.version(), v);
        // A 5.0 PUBLISH has a Property Length; 3.x does not. The same bytes decode per the learnt version.
        const ByteVec p = bytes({0x30, 0x04, 0x00, 0x01, 't', 0x00});
        const auto r = d.decode(p);
        ASSERT_EQ(r.status, DecodeStatus::Ok);
        EXPECT_EQ(std::get<Publish>(r.packet).payload.size(), v == V5 ? 0U : 1U);
    }
}

}  // namespace
}  // namespace moth::codec
