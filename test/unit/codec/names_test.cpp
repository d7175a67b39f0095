// Names and tables from the specification: reason codes (5.0 section 2.4, Table 2-6, and the per-packet tables),
// 3.1.1 CONNACK return codes (Table 3.1), packet type names (2.1.2) and the property table (2.2.2.2, Table 2-4).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <string_view>
#include <vector>

#include "codec/properties.hpp"
#include "codec/reason_code.hpp"
#include "codec/types.hpp"

namespace moth::codec {
namespace {

ReasonCode rc(int v) { return static_cast<ReasonCode>(v); }

TEST(ReasonCodeName, ZeroDependsOnThePacket) {
    EXPECT_EQ(reason_code_name(ReasonCode::Success, PacketType::Connack), "Success");
    EXPECT_EQ(reason_code_name(ReasonCode::Success, PacketType::Puback), "Success");
    EXPECT_EQ(reason_code_name(ReasonCode::Success, PacketType::Pubrel), "Success");
    EXPECT_EQ(reason_code_name(ReasonCode::Success, PacketType::Unsuback), "Success");
    EXPECT_EQ(reason_code_name(ReasonCode::Success, PacketType::Auth), "Success");
    EXPECT_EQ(reason_code_name(ReasonCode::NormalDisconnection, PacketType::Disconnect), "Normal disconnection");
    EXPECT_EQ(reason_code_name(ReasonCode::GrantedQoS0, PacketType::Suback), "Granted QoS 0");
    EXPECT_EQ(reason_code_name(ReasonCode::GrantedQoS1, PacketType::Suback), "Granted QoS 1");
    EXPECT_EQ(reason_code_name(ReasonCode::GrantedQoS2, PacketType::Suback), "Granted QoS 2");
    EXPECT_EQ(reason_code_name(ReasonCode::Success), "Success");
}

TEST(ReasonCodeName, TableTwoSix) {
    const std::pair<int, std::string_view> names[] = {
        {0x04, "Disconnect with Will Message"},
        {0x10, "No matching subscribers"},
        {0x11, "No subscription existed"},
        {0x18, "Continue authentication"},
        {0x19, "Re-authenticate"},
        {0x80, "Unspecified error"},
        {0x81, "Malformed Packet"},
        {0x82, "Protocol Error"},
        {0x83, "Implementation specific error"},
        {0x84, "Unsupported Protocol Version"},
        {0x85, "Client Identifier not valid"},
        {0x86, "Bad User Name or Password"},
        {0x87, "Not authorized"},
        {0x88, "Server unavailable"},
        {0x89, "Server busy"},
        {0x8A, "Banned"},
        {0x8B, "Server shutting down"},
        {0x8C, "Bad authentication method"},
        {0x8D, "Keep Alive timeout"},
        {0x8E, "Session taken over"},
        {0x8F, "Topic Filter invalid"},
        {0x90, "Topic Name invalid"},
        {0x91, "Packet Identifier in use"},
        {0x92, "Packet Identifier not found"},
        {0x93, "Receive Maximum exceeded"},
        {0x94, "Topic Alias invalid"},
        {0x95, "Packet too large"},
        {0x96, "Message rate too high"},
        {0x97, "Quota exceeded"},
        {0x98, "Administrative action"},
        {0x99, "Payload format invalid"},
        {0x9A, "Retain not supported"},
        {0x9B, "QoS not supported"},
        {0x9C, "Use another server"},
        {0x9D, "Server moved"},
        {0x9E, "Shared Subscriptions not supported"},
        {0x9F, "Connection rate exceeded"},
        {0xA0, "Maximum connect time"},
        {0xA1, "Subscription Identifiers not supported"},
        {0xA2, "Wildcard Subscriptions not supported"},
    };
    for (const auto& [code, name] : names) {
        EXPECT_EQ(reason_code_name(rc(code)), name) << std::hex << code;
    }
    EXPECT_EQ(reason_code_name(ReasonCode::ServerBusy, PacketType::Disconnect), "Server busy");
    EXPECT_EQ(reason_code_name(ReasonCode::NotAuthorized, PacketType::Suback), "Not authorized");
}

TEST(ReasonCodeName, GapsAreUnknown) {
    for (const int code : {0x03, 0x05, 0x12, 0x7F, 0xA3, 0xFF}) {
        EXPECT_EQ(reason_code_name(rc(code)), "Unknown reason code") << std::hex << code;
        EXPECT_EQ(reason_code_name(rc(code), PacketType::Disconnect), "Unknown reason code") << std::hex << code;
    }
}

TEST(ReasonCode, IsError) {
    EXPECT_FALSE(is_error(ReasonCode::Success));
    EXPECT_FALSE(is_error(ReasonCode::GrantedQoS2));
    EXPECT_FALSE(is_error(ReasonCode::ReAuthenticate));
    EXPECT_TRUE(is_error(ReasonCode::UnspecifiedError));
    EXPECT_TRUE(is_error(ReasonCode::WildcardSubscriptionsNotSupported));
}

// The per-packet tables of MQTT 5.0: every code 0..255 is allowed exactly when the table lists it.
void expect_allowed_exactly(PacketType t, std::initializer_list<int> allowed) {
    for (int code = 0; code <= 0xFF; ++code) {
        const bool listed = std::find(allowed.begin(), allowed.end(), code) != allowed.end();
        EXPECT_EQ(reason_code_allowed(rc(code), t), listed)
            << packet_type_name(t) << " reason code 0x" << std::hex << code;
    }
}

TEST(ReasonCodeAllowed, Connack) {  // 3.2.2.2
    expect_allowed_exactly(PacketType::Connack, {0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
                                                 0x8A, 0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F});
}
TEST(ReasonCodeAllowed, PubackAndPubrec) {  // 3.4.2.1, 3.5.2.1
    for (const auto t : {PacketType::Puback, PacketType::Pubrec}) {
        expect_allowed_exactly(t, {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99});
    }
}
TEST(ReasonCodeAllowed, PubrelAndPubcomp) {  // 3.6.2.1, 3.7.2.1
    for (const auto t : {PacketType::Pubrel, PacketType::Pubcomp}) expect_allowed_exactly(t, {0x00, 0x92});
}
TEST(ReasonCodeAllowed, Suback) {  // 3.9.3
    expect_allowed_exactly(PacketType::Suback,
                           {0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2});
}
TEST(ReasonCodeAllowed, Unsuback) {  // 3.11.3
    expect_allowed_exactly(PacketType::Unsuback, {0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91});
}
TEST(ReasonCodeAllowed, Disconnect) {  // 3.14.2.1
    expect_allowed_exactly(PacketType::Disconnect,
                           {0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94,
                            0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2});
}
TEST(ReasonCodeAllowed, Auth) {  // 3.15.2.1
    expect_allowed_exactly(PacketType::Auth, {0x00, 0x18, 0x19});
}

TEST(ConnackReturnCode, MapsTheSixV311Codes) {  // 3.1.1 Table 3.1
    const std::pair<ReasonCode, std::uint8_t> map[] = {
        {ReasonCode::Success, 0},
        {ReasonCode::UnsupportedProtocolVersion, 1},  // unacceptable protocol version
        {ReasonCode::ClientIdentifierNotValid, 2},    // identifier rejected
        {ReasonCode::ServerUnavailable, 3},
        {ReasonCode::BadUserNameOrPassword, 4},
        {ReasonCode::NotAuthorized, 5},
    };
    for (const auto& [reason, code] : map) {
        EXPECT_EQ(connack_return_code(reason), code) << reason_code_name(reason);
        EXPECT_EQ(reason_from_connack_return_code(code), reason) << int{code};
    }
}

TEST(ConnackReturnCode, CodesWithoutAV3EquivalentAreServerUnavailable) {
    for (const auto r : {ReasonCode::ConnectionRateExceeded, ReasonCode::ServerBusy, ReasonCode::ServerMoved,
                         ReasonCode::UseAnotherServer, ReasonCode::QuotaExceeded}) {
        EXPECT_EQ(connack_return_code(r), 3) << reason_code_name(r);
    }
}

TEST(ConnackReturnCode, BannedIsNotAuthorized) {  // a banned 3.x client is refused as one not authorized
    EXPECT_EQ(connack_return_code(ReasonCode::Banned), 5);
}

TEST(ConnackReturnCode, ReservedV3CodesHaveNoReason) {  // 3.1.1 Table 3.1: 6-255 reserved
    for (const int code : {6, 7, 0x80, 0xFF}) {
        EXPECT_EQ(reason_from_connack_return_code(static_cast<std::uint8_t>(code)), std::nullopt) << code;
    }
}

TEST(Names, PacketTypes) {  // 2.1.2 Table 2-1
    const std::string_view names[] = {"CONNECT",     "CONNACK",  "PUBLISH", "PUBACK",   "PUBREC",
                                      "PUBREL",      "PUBCOMP",  "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE",
                                      "UNSUBACK",    "PINGREQ",  "PINGRESP", "DISCONNECT", "AUTH"};
    for (int t = 1; t <= 15; ++t) {
        EXPECT_EQ(packet_type_name(static_cast<PacketType>(t)), names[t - 1]) << t;
    }
}

TEST(Names, ProtocolVersions) {
    EXPECT_EQ(protocol_version_name(ProtocolVersion::V3_1), "3.1");
    EXPECT_EQ(protocol_version_name(ProtocolVersion::V3_1_1), "3.1.1");
    EXPECT_EQ(protocol_version_name(ProtocolVersion::V5), "5.0");
}

// Table 2-4 Properties: identifier, name, type, and where each may appear.
constexpr PropertyScope W = kWillScope;
constexpr PropertyScope sc(PacketType t) { return scope_of(t); }
constexpr PropertyScope CONNECT = sc(PacketType::Connect), CONNACK = sc(PacketType::Connack),
                        PUBLISH = sc(PacketType::Publish), PUBACK = sc(PacketType::Puback),
                        PUBREC = sc(PacketType::Pubrec), PUBREL = sc(PacketType::Pubrel),
                        PUBCOMP = sc(PacketType::Pubcomp), SUBSCRIBE = sc(PacketType::Subscribe),
                        SUBACK = sc(PacketType::Suback), UNSUBSCRIBE = sc(PacketType::Unsubscribe),
                        UNSUBACK = sc(PacketType::Unsuback), DISCONNECT = sc(PacketType::Disconnect),
                        AUTH = sc(PacketType::Auth);

struct SpecProperty {
    int id;
    std::string_view name;
    PropertyType type;
    PropertyScope scope;
};

constexpr PropertyType B = PropertyType::Byte, I2 = PropertyType::TwoByteInteger, I4 = PropertyType::FourByteInteger,
                       VBI = PropertyType::VariableByteInteger, S = PropertyType::Utf8String,
                       BIN = PropertyType::BinaryData, PAIR = PropertyType::Utf8StringPair;

const SpecProperty kTable24[] = {
    {0x01, "Payload Format Indicator", B, PUBLISH | W},
    {0x02, "Message Expiry Interval", I4, PUBLISH | W},
    {0x03, "Content Type", S, PUBLISH | W},
    {0x08, "Response Topic", S, PUBLISH | W},
    {0x09, "Correlation Data", BIN, PUBLISH | W},
    {0x0B, "Subscription Identifier", VBI, PUBLISH | SUBSCRIBE},
    {0x11, "Session Expiry Interval", I4, CONNECT | CONNACK | DISCONNECT},
    {0x12, "Assigned Client Identifier", S, CONNACK},
    {0x13, "Server Keep Alive", I2, CONNACK},
    {0x15, "Authentication Method", S, CONNECT | CONNACK | AUTH},
    {0x16, "Authentication Data", BIN, CONNECT | CONNACK | AUTH},
    {0x17, "Request Problem Information", B, CONNECT},
    {0x18, "Will Delay Interval", I4, W},
    {0x19, "Request Response Information", B, CONNECT},
    {0x1A, "Response Information", S, CONNACK},
    {0x1C, "Server Reference", S, CONNACK | DISCONNECT},
    {0x1F, "Reason String", S,
     CONNACK | PUBACK | PUBREC | PUBREL | PUBCOMP | SUBACK | UNSUBACK | DISCONNECT | AUTH},
    {0x21, "Receive Maximum", I2, CONNECT | CONNACK},
    {0x22, "Topic Alias Maximum", I2, CONNECT | CONNACK},
    {0x23, "Topic Alias", I2, PUBLISH},
    {0x24, "Maximum QoS", B, CONNACK},
    {0x25, "Retain Available", B, CONNACK},
    {0x26, "User Property", PAIR,
     CONNECT | CONNACK | PUBLISH | W | PUBACK | PUBREC | PUBREL | PUBCOMP | SUBSCRIBE | SUBACK | UNSUBSCRIBE |
         UNSUBACK | DISCONNECT | AUTH},
    {0x27, "Maximum Packet Size", I4, CONNECT | CONNACK},
    {0x28, "Wildcard Subscription Available", B, CONNACK},
    {0x29, "Subscription Identifier Available", B, CONNACK},
    {0x2A, "Shared Subscription Available", B, CONNACK},
};

TEST(PropertyInfo, EveryIdentifierOfTableTwoFour) {
    for (const auto& p : kTable24) {
        const PropertyInfo* info = property_info(static_cast<std::uint8_t>(p.id));
        ASSERT_NE(info, nullptr) << std::hex << p.id;
        EXPECT_EQ(static_cast<int>(info->id), p.id);
        EXPECT_EQ(info->name, p.name) << std::hex << p.id;
        EXPECT_EQ(info->type, p.type) << p.name;
        EXPECT_EQ(info->scope, p.scope) << p.name << ": scope bits 0x" << std::hex << info->scope << ", expected 0x"
                                        << p.scope;
    }
}

TEST(PropertyInfo, UndefinedIdentifiersHaveNoInfo) {
    int defined = 0;
    for (int id = 0; id <= 0xFF; ++id) {
        const bool in_table =
            std::any_of(std::begin(kTable24), std::end(kTable24), [id](const SpecProperty& p) { return p.id == id; });
        if (in_table) {
            ++defined;
            continue;
        }
        EXPECT_EQ(property_info(static_cast<std::uint8_t>(id)), nullptr) << std::hex << id;
    }
    EXPECT_EQ(defined, 27);
}

TEST(PropertyInfo, AllPropertiesListsTheTableInOrder) {
    const auto all = all_properties();
    ASSERT_EQ(all.size(), std::size(kTable24));
    for (std::size_t i = 0; i < all.size(); ++i) {
        EXPECT_EQ(static_cast<int>(all[i].id), kTable24[i].id) << i;
        EXPECT_EQ(&all[i], property_info(static_cast<std::uint8_t>(all[i].id)));
    }
}

}  // namespace
}  // namespace moth::codec
