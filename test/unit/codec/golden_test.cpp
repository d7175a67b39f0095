// Golden bytes for every MQTT control packet in every protocol version that has it, written by hand from the
// specifications (MQTT 3.1, OASIS MQTT 3.1.1 and 5.0, chapter 3) with a comment on every byte or field.
// Each test checks that the encoder produces exactly these bytes, that the decoder turns them back into the same
// packet, and that decoding them one byte at a time gives the same result.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include "codec/decoder.hpp"
#include "codec/encoder.hpp"
#include "codec/packets.hpp"
#include "support/codec_helpers.hpp"

namespace moth::codec {
namespace {

using test::as_bytes;
using test::ByteVec;
using test::bytes;
using test::client;
using test::DecoderSetup;
using test::fresh_server;
using test::hex;
using test::server;

constexpr auto V31 = ProtocolVersion::V3_1;
constexpr auto V311 = ProtocolVersion::V3_1_1;
constexpr auto V5 = ProtocolVersion::V5;

Subscription sub(std::string_view filter, QoS qos) {
    Subscription s;
    s.filter = filter;
    s.options.qos = qos;
    return s;
}

// Encodes `p` and compares with `wire`; decodes `wire` with each decoder set-up and compares with `p`.
void check_golden(const Packet& p, ProtocolVersion v, const ByteVec& wire, std::initializer_list<DecoderSetup> setups) {
    // The golden bytes themselves: the Remaining Length must announce exactly the bytes written after it.
    ASSERT_EQ(test::announced_packet_size(wire), wire.size()) << "golden Remaining Length is wrong: " << hex(wire);

    const auto size = encoded_size(p, v);
    ASSERT_TRUE(size.has_value()) << encode_error_text(size.error());
    EXPECT_EQ(*size, wire.size());

    ByteVec out(wire.size());
    const auto written = encode(p, v, out);
    ASSERT_TRUE(written.has_value()) << encode_error_text(written.error());
    EXPECT_EQ(*written, wire.size());
    out.resize(std::min(out.size(), *written));
    EXPECT_EQ(out, wire) << "\n  encoded:  " << hex(out) << "\n  expected: " << hex(wire);

    ByteVec appended = bytes({0xAA});  // encode_append appends after what is there
    const auto appended_n = encode_append(p, v, appended);
    ASSERT_TRUE(appended_n.has_value());
    EXPECT_EQ(*appended_n, wire.size());
    EXPECT_EQ(ByteVec(appended.begin() + 1, appended.end()), wire);
    EXPECT_EQ(appended[0], std::byte{0xAA});

    for (const auto& setup : setups) {
        SCOPED_TRACE(setup.role == Role::Server ? "Server-role decoder" : "Client-role decoder");
        EXPECT_TRUE(test::decodes_to(setup, wire, p, v));
    }
}

// A CONNECT is the first packet a server decodes; afterwards the decoder knows the version.
void check_golden_connect(const Connect& c, const ByteVec& wire) {
    check_golden(c, c.version, wire, {fresh_server()});
    Decoder d = test::make_decoder(fresh_server());
    EXPECT_EQ(d.version(), std::nullopt);
    // A CONNECT still arriving does not set the version.
    const auto partial = d.decode(std::span<const std::byte>(wire).first(wire.size() - 1));
    EXPECT_EQ(partial.status, DecodeStatus::NeedMore);
    EXPECT_EQ(d.version(), std::nullopt);
    const auto r = d.decode(wire);
    ASSERT_EQ(r.status, DecodeStatus::Ok) << test::describe(r);
    EXPECT_EQ(d.version(), c.version);
}

// Decode-only: an alternative encoding the receiver must accept, which the encoder does not produce.
void check_decodes(const Packet& p, ProtocolVersion v, const ByteVec& wire, std::initializer_list<DecoderSetup> setups) {
    ASSERT_EQ(test::announced_packet_size(wire), wire.size()) << "Remaining Length is wrong: " << hex(wire);
    for (const auto& setup : setups) {
        SCOPED_TRACE(setup.role == Role::Server ? "Server-role decoder" : "Client-role decoder");
        EXPECT_TRUE(test::decodes_to(setup, wire, p, v));
    }
}

// ---------------------------------------------------------------------------------------------------------------
// CONNECT (3.1 section 3.1, 3.1.1 section 3.1, 5.0 section 3.1)

TEST(GoldenConnect, V31Minimal) {
    Connect c;
    c.version = V31;
    c.clean_start = true;
    c.keep_alive_s = 60;
    c.client_id = "c1";
    check_golden_connect(c, bytes({
                                0x10,                                // CONNECT, flags 0
                                0x10,                                // Remaining Length 16
                                0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p',  // Protocol Name "MQIsdp"
                                0x03,                                // Protocol Version 3
                                0x02,                                // Connect Flags: Clean Session
                                0x00, 0x3C,                          // Keep Alive 60 s
                                0x00, 0x02, 'c', '1',                // Client Identifier "c1"
                            }));
}

TEST(GoldenConnect, V31WithWillUserNameAndPassword) {
    Connect c;
    c.version = V31;
    c.clean_start = true;
    c.keep_alive_s = 10;
    c.client_id = "c1";
    c.will = Will{};
    c.will->topic = "w";
    c.will->payload = as_bytes("bye");
    c.will->qos = QoS::ExactlyOnce;
    c.will->retain = false;
    c.username = "u";
    c.password = as_bytes("pw");
    check_golden_connect(c, bytes({
                                0x10,                                // CONNECT, flags 0
                                0x1F,                                // Remaining Length 31
                                0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p',  // Protocol Name "MQIsdp"
                                0x03,                                // Protocol Version 3
                                0xD6,  // Flags: User Name, Password, Will QoS 2, Will Flag, Clean Session
                                0x00, 0x0A,                 // Keep Alive 10 s
                                0x00, 0x02, 'c', '1',       // Client Identifier "c1"
                                0x00, 0x01, 'w',            // Will Topic "w"
                                0x00, 0x03, 'b', 'y', 'e',  // Will Message "bye"
                                0x00, 0x01, 'u',            // User Name "u"
                                0x00, 0x02, 'p', 'w',       // Password "pw"
                            }));
}

TEST(GoldenConnect, V311Minimal) {
    Connect c;
    c.version = V311;
    c.clean_start = true;
    c.keep_alive_s = 60;
    c.client_id = "c1";
    check_golden_connect(c, bytes({
                                0x10,                          // CONNECT, flags 0
                                0x0E,                          // Remaining Length 14
                                0x00, 0x04, 'M', 'Q', 'T', 'T',  // Protocol Name "MQTT"
                                0x04,                          // Protocol Level 4
                                0x02,                          // Connect Flags: Clean Session
                                0x00, 0x3C,                    // Keep Alive 60 s
                                0x00, 0x02, 'c', '1',          // Client Identifier "c1"
                            }));
}

TEST(GoldenConnect, V311EmptyClientIdentifier) {  // allowed with Clean Session 1 [MQTT-3.1.3-7]
    Connect c;
    c.version = V311;
    c.clean_start = true;
    c.keep_alive_s = 0;
    c.client_id = "";
    check_golden_connect(c, bytes({
                                0x10,                          // CONNECT, flags 0
                                0x0C,                          // Remaining Length 12
                                0x00, 0x04, 'M', 'Q', 'T', 'T',  // Protocol Name "MQTT"
                                0x04,                          // Protocol Level 4
                                0x02,                          // Connect Flags: Clean Session
                                0x00, 0x00,                    // Keep Alive 0 (off)
                                0x00, 0x00,                    // Client Identifier "" (zero length)
                            }));
}

TEST(GoldenConnect, V311WithWill) {
    Connect c;
    c.version = V311;
    c.clean_start = true;
    c.keep_alive_s = 60;
    c.client_id = "c1";
    c.will = Will{};
    c.will->topic = "w/t";
    c.will->payload = as_bytes("bye");
    c.will->qos = QoS::AtLeastOnce;
    c.will->retain = true;
    check_golden_connect(c, bytes({
                                0x10,                          // CONNECT, flags 0
                                0x18,                          // Remaining Length 24
                                0x00, 0x04, 'M', 'Q', 'T', 'T',  // Protocol Name "MQTT"
                                0x04,                          // Protocol Level 4
                                0x2E,                          // Flags: Will Retain, Will QoS 1, Will, Clean Session
                                0x00, 0x3C,                    // Keep Alive 60 s
                                0x00, 0x02, 'c', '1',          // Client Identifier "c1"
                                0x00, 0x03, 'w', '/', 't',     // Will Topic "w/t"
                                0x00, 0x03, 'b', 'y', 'e',     // Will Message "bye"
                            }));
}

TEST(GoldenConnect, V311WithUserNameAndPasswordNoCleanSession) {
    Connect c;
    c.version = V311;
    c.clean_start = false;
    c.keep_alive_s = 300;
    c.client_id = "c1";
    c.username = "u";
    c.password = as_bytes("pw");
    check_golden_connect(c, bytes({
                                0x10,                          // CONNECT, flags 0
                                0x15,                          // Remaining Length 21
                                0x00, 0x04, 'M', 'Q', 'T', 'T',  // Protocol Name "MQTT"
                                0x04,                          // Protocol Level 4
                                0xC0,                          // Flags: User Name, Password (Clean Session 0)
                                0x01, 0x2C,                    // Keep Alive 300 s
                                0x00, 0x02, 'c', '1',          // Client Identifier "c1"
                                0x00, 0x01, 'u',               // User Name "u"
                                0x00, 0x02, 'p', 'w',          // Password "pw"
                            }));
}

TEST(GoldenConnect, V311WithUserNameOnly) {
    Connect c;
    c.version = V311;
    c.clean_start = true;
    c.keep_alive_s = 60;
    c.client_id = "c1";
    c.username = "user";
    check_golden_connect(c, bytes({
                                0x10,                           // CONNECT, flags 0
                                0x14,                           // Remaining Length 20
                                0x00, 0x04, 'M', 'Q', 'T', 'T',   // Protocol Name "MQTT"
                                0x04,                           // Protocol Level 4
                                0x82,                           // Flags: User Name, Clean Session
                                0x00, 0x3C,                     // Keep Alive 60 s
                                0x00, 0x02, 'c', '1',           // Client Identifier "c1"
                                0x00, 0x04, 'u', 's', 'e', 'r',  // User Name "user"
                            }));
}

TEST(GoldenConnect, V5Minimal) {
    Connect c;
    c.version = V5;
    c.clean_start = true;
    c.keep_alive_s = 60;
    c.client_id = "c1";
    check_golden_connect(c, bytes({
                                0x10,                          // CONNECT, flags 0
                                0x0F,                          // Remaining Length 15
                                0x00, 0x04, 'M', 'Q', 'T', 'T',  // Protocol Name "MQTT"
                                0x05,                          // Protocol Version 5
                                0x02,                          // Connect Flags: Clean Start
                                0x00, 0x3C,                    // Keep Alive 60 s
                                0x00,                          // Property Length 0
                                0x00, 0x02, 'c', '1',          // Client Identifier "c1"
                            }));
}

TEST(GoldenConnect, V5PasswordWithoutUserName) {  // allowed in 5.0 (3.1.2.9), unlike 3.1.1 [MQTT-3.1.2-22]
    Connect c;
    c.version = V5;
    c.clean_start = true;
    c.keep_alive_s = 60;
    c.client_id = "c1";
    c.password = as_bytes("pw");
    check_golden_connect(c, bytes({
                                0x10,                          // CONNECT, flags 0
                                0x13,                          // Remaining Length 19
                                0x00, 0x04, 'M', 'Q', 'T', 'T',  // Protocol Name "MQTT"
                                0x05,                          // Protocol Version 5
                                0x42,                          // Connect Flags: Password, Clean Start
                                0x00, 0x3C,                    // Keep Alive 60 s
                                0x00,                          // Property Length 0
                                0x00, 0x02, 'c', '1',          // Client Identifier "c1"
                                0x00, 0x02, 'p', 'w',          // Password "pw"
                            }));
}

TEST(GoldenConnect, V5WithPropertiesWillPropertiesUserNameAndPassword) {
    const std::array<UserProperty, 1> user{{{"k", "v"}}};
    const std::array<UserProperty, 1> will_user{{{"a", "b"}}};
    const std::array<std::byte, 2> correlation{std::byte{0xCA}, std::byte{0xFE}};
    Connect c;
    c.version = V5;
    c.clean_start = true;
    c.keep_alive_s = 30;
    c.client_id = "c1";
    c.properties.session_expiry_interval = 120;
    c.properties.receive_maximum = 20;
    c.properties.topic_alias_maximum = 10;
    c.properties.user_properties = user;
    c.properties.maximum_packet_size = 4096;
    c.will = Will{};
    c.will->topic = "w/t";
    c.will->payload = as_bytes("bye");
    c.will->qos = QoS::AtLeastOnce;
    c.will->retain = true;
    c.will->properties.payload_format_indicator = 1;
    c.will->properties.message_expiry_interval = 60;
    c.will->properties.content_type = "t/p";
    c.will->properties.response_topic = "r";
    c.will->properties.correlation_data = correlation;
    c.will->properties.will_delay_interval = 5;
    c.will->properties.user_properties = will_user;
    c.username = "u";
    c.password = as_bytes("pw");
    check_golden_connect(c, bytes({
        0x10,                            // CONNECT, flags 0
        0x5A,                            // Remaining Length 90
        0x00, 0x04, 'M', 'Q', 'T', 'T',  // Protocol Name "MQTT"
        0x05,                            // Protocol Version 5
        0xEE,                            // Flags: User Name, Password, Will Retain, Will QoS 1, Will, Clean Start
        0x00, 0x1E,                      // Keep Alive 30 s
        0x17,                            // Property Length 23
        0x11, 0x00, 0x00, 0x00, 0x78,    //   Session Expiry Interval 120
        0x21, 0x00, 0x14,                //   Receive Maximum 20
        0x22, 0x00, 0x0A,                //   Topic Alias Maximum 10
        0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v',  // User Property "k" = "v"
        0x27, 0x00, 0x00, 0x10, 0x00,    //   Maximum Packet Size 4096
        0x00, 0x02, 'c', '1',            // Client Identifier "c1"
        0x22,                            // Will Property Length 34
        0x01, 0x01,                      //   Payload Format Indicator 1 (UTF-8)
        0x02, 0x00, 0x00, 0x00, 0x3C,    //   Message Expiry Interval 60
        0x03, 0x00, 0x03, 't', '/', 'p',  //  Content Type "t/p"
        0x08, 0x00, 0x01, 'r',           //   Response Topic "r"
        0x09, 0x00, 0x02, 0xCA, 0xFE,    //   Correlation Data CA FE
        0x18, 0x00, 0x00, 0x00, 0x05,    //   Will Delay Interval 5
        0x26, 0x00, 0x01, 'a', 0x00, 0x01, 'b',  // User Property "a" = "b"
        0x00, 0x03, 'w', '/', 't',       // Will Topic "w/t"
        0x00, 0x03, 'b', 'y', 'e',       // Will Payload "bye"
        0x00, 0x01, 'u',                 // User Name "u"
        0x00, 0x02, 'p', 'w',            // Password "pw"
    }));
}

// ---------------------------------------------------------------------------------------------------------------
// CONNACK

TEST(GoldenConnack, V31Accepted) {
    Connack a;
    check_golden(a, V31, bytes({
                             0x20,  // CONNACK, flags 0
                             0x02,  // Remaining Length 2
                             0x00,  // reserved (topic name compression response, unused)
                             0x00,  // Return Code 0: Connection Accepted
                         }),
                 {client(V31)});
}

TEST(GoldenConnack, V31IdentifierRejected) {
    Connack a;
    a.reason = ReasonCode::ClientIdentifierNotValid;
    check_golden(a, V31, bytes({
                             0x20,  // CONNACK, flags 0
                             0x02,  // Remaining Length 2
                             0x00,  // reserved
                             0x02,  // Return Code 2: identifier rejected
                         }),
                 {client(V31)});
}

TEST(GoldenConnack, V311SessionPresent) {
    Connack a;
    a.session_present = true;
    check_golden(a, V311, bytes({
                              0x20,  // CONNACK, flags 0
                              0x02,  // Remaining Length 2
                              0x01,  // Connect Acknowledge Flags: Session Present
                              0x00,  // Return Code 0: Connection Accepted
                          }),
                 {client(V311)});
}

TEST(GoldenConnack, V311EveryReturnCode) {  // 3.1.1 Table 3.1 - Connect Return code values
    const std::array<ReasonCode, 6> reasons{ReasonCode::Success,
                                            ReasonCode::UnsupportedProtocolVersion,  // 1 unacceptable protocol version
                                            ReasonCode::ClientIdentifierNotValid,    // 2 identifier rejected
                                            ReasonCode::ServerUnavailable,           // 3 server unavailable
                                            ReasonCode::BadUserNameOrPassword,       // 4 bad user name or password
                                            ReasonCode::NotAuthorized};              // 5 not authorized
    for (int rc = 0; rc < 6; ++rc) {
        SCOPED_TRACE(rc);
        Connack a;
        a.reason = reasons[static_cast<std::size_t>(rc)];
        check_golden(a, V311, bytes({0x20, 0x02, 0x00, rc}), {client(V311)});
    }
}

TEST(GoldenConnack, V311ReasonWithoutReturnCodeIsServerUnavailable) {  // see connack_return_code
    Connack a;
    a.reason = ReasonCode::ServerBusy;
    ByteVec out = test::encode_or_fail(a, V311);
    EXPECT_EQ(out, bytes({0x20, 0x02, 0x00, 0x03})) << hex(out);
}

TEST(GoldenConnack, V5Minimal) {
    Connack a;
    check_golden(a, V5, bytes({
                            0x20,  // CONNACK, flags 0
                            0x03,  // Remaining Length 3
                            0x00,  // Connect Acknowledge Flags: none
                            0x00,  // Reason Code 0x00 Success
                            0x00,  // Property Length 0
                        }),
                 {client(V5)});
}

TEST(GoldenConnack, V5NotAuthorized) {
    Connack a;
    a.reason = ReasonCode::NotAuthorized;
    check_golden(a, V5, bytes({
                            0x20,  // CONNACK, flags 0
                            0x03,  // Remaining Length 3
                            0x00,  // Connect Acknowledge Flags: none
                            0x87,  // Reason Code 0x87 Not authorized
                            0x00,  // Property Length 0
                        }),
                 {client(V5)});
}

TEST(GoldenConnack, V5WithCapabilityProperties) {
    Connack a;
    a.session_present = true;
    a.properties.session_expiry_interval = 60;
    a.properties.assigned_client_identifier = "auto-1";
    a.properties.server_keep_alive = 60;
    a.properties.reason_string = "ok";
    a.properties.receive_maximum = 10;
    a.properties.topic_alias_maximum = 5;
    a.properties.maximum_qos = 1;
    a.properties.retain_available = 0;
    a.properties.maximum_packet_size = 65536;
    a.properties.wildcard_subscription_available = 0;
    a.properties.subscription_identifier_available = 1;
    a.properties.shared_subscription_available = 1;
    check_golden(a, V5, bytes({
                            0x20,                          // CONNACK, flags 0
                            0x2E,                          // Remaining Length 46
                            0x01,                          // Connect Acknowledge Flags: Session Present
                            0x00,                          // Reason Code Success
                            0x2B,                          // Property Length 43
                            0x11, 0x00, 0x00, 0x00, 0x3C,  //   Session Expiry Interval 60
                            0x12, 0x00, 0x06, 'a', 'u', 't', 'o', '-', '1',  // Assigned Client Identifier
                            0x13, 0x00, 0x3C,              //   Server Keep Alive 60
                            0x1F, 0x00, 0x02, 'o', 'k',    //   Reason String "ok"
                            0x21, 0x00, 0x0A,              //   Receive Maximum 10
                            0x22, 0x00, 0x05,              //   Topic Alias Maximum 5
                            0x24, 0x01,                    //   Maximum QoS 1
                            0x25, 0x00,                    //   Retain Available 0
                            0x27, 0x00, 0x01, 0x00, 0x00,  //   Maximum Packet Size 65536
                            0x28, 0x00,                    //   Wildcard Subscription Available 0
                            0x29, 0x01,                    //   Subscription Identifier Available 1
                            0x2A, 0x01,                    //   Shared Subscription Available 1
                        }),
                 {client(V5)});
}

TEST(GoldenConnack, V5UseAnotherServerWithAuthAndUserProperties) {
    const std::array<UserProperty, 2> user{{{"a", "1"}, {"a", "2"}}};  // same key twice, order kept
    const std::array<std::byte, 3> auth_data{std::byte{1}, std::byte{2}, std::byte{3}};
    Connack a;
    a.reason = ReasonCode::UseAnotherServer;
    a.properties.authentication_method = "SCRAM";
    a.properties.authentication_data = auth_data;
    a.properties.response_information = "resp/";
    a.properties.server_reference = "other:1883";
    a.properties.user_properties = user;
    check_golden(a, V5, bytes({
                            0x20,  // CONNACK, flags 0
                            0x34,  // Remaining Length 52
                            0x00,  // Connect Acknowledge Flags: none
                            0x9C,  // Reason Code 0x9C Use another server
                            0x31,  // Property Length 49
                            0x15, 0x00, 0x05, 'S', 'C', 'R', 'A', 'M',  // Authentication Method "SCRAM"
                            0x16, 0x00, 0x03, 0x01, 0x02, 0x03,         // Authentication Data 01 02 03
                            0x1A, 0x00, 0x05, 'r', 'e', 's', 'p', '/',  // Response Information "resp/"
                            0x1C, 0x00, 0x0A, 'o', 't', 'h', 'e', 'r', ':', '1', '8', '8', '3',  // Server Reference
                            0x26, 0x00, 0x01, 'a', 0x00, 0x01, '1',     // User Property "a" = "1"
                            0x26, 0x00, 0x01, 'a', 0x00, 0x01, '2',     // User Property "a" = "2"
                        }),
                 {client(V5)});
}

// ---------------------------------------------------------------------------------------------------------------
// PUBLISH

TEST(GoldenPublish, QoS0InEveryV3Version) {
    Publish p;
    p.topic = "a/b";
    p.payload = as_bytes("hi");
    for (const auto v : {V31, V311}) {
        SCOPED_TRACE(protocol_version_name(v));
        check_golden(p, v, bytes({
                               0x30,                       // PUBLISH, DUP 0, QoS 0, RETAIN 0
                               0x07,                       // Remaining Length 7
                               0x00, 0x03, 'a', '/', 'b',  // Topic Name "a/b" (no Packet Identifier at QoS 0)
                               'h', 'i',                   // Payload "hi"
                           }),
                     {server(v), client(v)});
    }
}

TEST(GoldenPublish, QoS1DupRetainInEveryV3Version) {
    Publish p;
    p.topic = "a/b";
    p.qos = QoS::AtLeastOnce;
    p.dup = true;
    p.retain = true;
    p.packet_id = 0x1234;
    p.payload = as_bytes("hi");
    for (const auto v : {V31, V311}) {
        SCOPED_TRACE(protocol_version_name(v));
        check_golden(p, v, bytes({
                               0x3B,                       // PUBLISH, DUP 1, QoS 1, RETAIN 1
                               0x09,                       // Remaining Length 9
                               0x00, 0x03, 'a', '/', 'b',  // Topic Name "a/b"
                               0x12, 0x34,                 // Packet Identifier 0x1234
                               'h', 'i',                   // Payload "hi"
                           }),
                     {server(v), client(v)});
    }
}

TEST(GoldenPublish, V311QoS2) {
    Publish p;
    p.topic = "a/b";
    p.qos = QoS::ExactlyOnce;
    p.packet_id = 0xFFFF;
    p.payload = as_bytes("hi");
    check_golden(p, V311, bytes({
                              0x34,                       // PUBLISH, DUP 0, QoS 2, RETAIN 0
                              0x09,                       // Remaining Length 9
                              0x00, 0x03, 'a', '/', 'b',  // Topic Name "a/b"
                              0xFF, 0xFF,                 // Packet Identifier 65535
                              'h', 'i',                   // Payload "hi"
                          }),
                 {server(V311), client(V311)});
}

TEST(GoldenPublish, V311EmptyRetainedPayload) {  // clears the retained message [MQTT-3.3.1-10 in 3.1.1]
    Publish p;
    p.topic = "a/b";
    p.retain = true;
    check_golden(p, V311, bytes({
                              0x31,                       // PUBLISH, DUP 0, QoS 0, RETAIN 1
                              0x05,                       // Remaining Length 5
                              0x00, 0x03, 'a', '/', 'b',  // Topic Name "a/b", then an empty payload
                          }),
                 {server(V311), client(V311)});
}

TEST(GoldenPublish, V311TwoByteRemainingLength) {
    const std::vector<std::byte> payload(200, std::byte{'x'});
    Publish p;
    p.topic = "t";
    p.payload = payload;
    ByteVec wire = bytes({
        0x30,              // PUBLISH, QoS 0
        0xCB, 0x01,        // Remaining Length 203 = 0x4B + 1 * 128
        0x00, 0x01, 't',   // Topic Name "t"
    });
    wire.insert(wire.end(), payload.begin(), payload.end());  // Payload: 200 x 'x'
    check_golden(p, V311, wire, {server(V311), client(V311)});
}

TEST(GoldenPublish, V5QoS0NoProperties) {
    Publish p;
    p.topic = "a/b";
    p.payload = as_bytes("hi");
    check_golden(p, V5, bytes({
                            0x30,                       // PUBLISH, DUP 0, QoS 0, RETAIN 0
                            0x08,                       // Remaining Length 8
                            0x00, 0x03, 'a', '/', 'b',  // Topic Name "a/b"
                            0x00,                       // Property Length 0
                            'h', 'i',                   // Payload "hi"
                        }),
                 {server(V5), client(V5)});
}

TEST(GoldenPublish, V5QoS1WithProperties) {
    const std::array<UserProperty, 1> user{{{"k", "v"}}};
    const std::array<std::byte, 2> correlation{std::byte{0x00}, std::byte{0x01}};
    Publish p;
    p.topic = "a/b";
    p.qos = QoS::AtLeastOnce;
    p.packet_id = 10;
    p.properties.payload_format_indicator = 1;
    p.properties.message_expiry_interval = 3600;
    p.properties.content_type = "text/plain";
    p.properties.response_topic = "a/r";
    p.properties.correlation_data = correlation;
    p.properties.topic_alias = 3;
    p.properties.user_properties = user;
    p.payload = as_bytes("hi");
    check_golden(p, V5, bytes({
        0x32,                          // PUBLISH, DUP 0, QoS 1, RETAIN 0
        0x33,                          // Remaining Length 51
        0x00, 0x03, 'a', '/', 'b',     // Topic Name "a/b"
        0x00, 0x0A,                    // Packet Identifier 10
        0x29,                          // Property Length 41
        0x01, 0x01,                    //   Payload Format Indicator 1
        0x02, 0x00, 0x00, 0x0E, 0x10,  //   Message Expiry Interval 3600
        0x03, 0x00, 0x0A, 't', 'e', 'x', 't', '/', 'p', 'l', 'a', 'i', 'n',  // Content Type "text/plain"
        0x08, 0x00, 0x03, 'a', '/', 'r',  // Response Topic "a/r"
        0x09, 0x00, 0x02, 0x00, 0x01,     // Correlation Data 00 01
        0x23, 0x00, 0x03,                 // Topic Alias 3
        0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v',  // User Property "k" = "v"
        'h', 'i',                         // Payload "hi"
    }),
                 {server(V5), client(V5)});
}

TEST(GoldenPublish, V5TopicAliasWithEmptyTopic) {  // 3.3.2.3.4: zero-length Topic Name with a Topic Alias
    Publish p;
    p.topic = "";
    p.properties.topic_alias = 5;
    p.payload = as_bytes("hi");
    check_golden(p, V5, bytes({
                            0x30,              // PUBLISH, QoS 0
                            0x08,              // Remaining Length 8
                            0x00, 0x00,        // Topic Name "" (zero length)
                            0x03,              // Property Length 3
                            0x23, 0x00, 0x05,  //   Topic Alias 5
                            'h', 'i',          // Payload "hi"
                        }),
                 {server(V5), client(V5)});
}

TEST(GoldenPublish, V5QoS2WithSubscriptionIdentifiersToAClient) {  // server to client only [MQTT-3.3.4-6]
    const std::array<std::uint32_t, 2> ids{1, 128};
    Publish p;
    p.topic = "a/b";
    p.qos = QoS::ExactlyOnce;
    p.retain = true;
    p.packet_id = 7;
    p.properties.subscription_identifiers = ids;
    p.payload = as_bytes("x");
    check_golden(p, V5, bytes({
                            0x35,                       // PUBLISH, DUP 0, QoS 2, RETAIN 1
                            0x0E,                       // Remaining Length 14
                            0x00, 0x03, 'a', '/', 'b',  // Topic Name "a/b"
                            0x00, 0x07,                 // Packet Identifier 7
                            0x05,                       // Property Length 5
                            0x0B, 0x01,                 //   Subscription Identifier 1
                            0x0B, 0x80, 0x01,           //   Subscription Identifier 128 (two-byte varint)
                            'x',                        // Payload "x"
                        }),
                 {client(V5)});
}

// ---------------------------------------------------------------------------------------------------------------
// PUBACK, PUBREC, PUBREL, PUBCOMP

template <class Ack>
void check_ack_v3(int first_byte) {
    Ack a;
    a.packet_id = 0x1234;
    for (const auto v : {V31, V311}) {
        SCOPED_TRACE(protocol_version_name(v));
        check_golden(a, v, bytes({
                               first_byte,  // packet type and its fixed flags
                               0x02,        // Remaining Length 2
                               0x12, 0x34,  // Packet Identifier 0x1234
                           }),
                     {server(v), client(v)});
    }
}

TEST(GoldenAck, PubackV3) { check_ack_v3<Puback>(0x40); }   // PUBACK, flags 0
TEST(GoldenAck, PubrecV3) { check_ack_v3<Pubrec>(0x50); }   // PUBREC, flags 0
TEST(GoldenAck, PubrelV3) { check_ack_v3<Pubrel>(0x62); }   // PUBREL, flags 0010 [MQTT-3.6.1-1]
TEST(GoldenAck, PubcompV3) { check_ack_v3<Pubcomp>(0x70); }  // PUBCOMP, flags 0

template <class Ack>
void check_ack_v5_short(int first_byte) {
    Ack a;
    a.packet_id = 0x1234;
    check_golden(a, V5, bytes({
                            first_byte,  // packet type and its fixed flags
                            0x02,        // Remaining Length 2: Reason Code and Property Length omitted (Success)
                            0x12, 0x34,  // Packet Identifier 0x1234
                        }),
                 {server(V5), client(V5)});
    // The receiver also accepts the long forms (3.4.2.1: "If the Remaining Length is less than 4 there is no
    // Property Length and the value of 0 is used").
    check_decodes(a, V5, bytes({first_byte, 0x03, 0x12, 0x34, 0x00}), {server(V5), client(V5)});
    check_decodes(a, V5, bytes({first_byte, 0x04, 0x12, 0x34, 0x00, 0x00}), {server(V5), client(V5)});
}

TEST(GoldenAck, PubackV5Short) { check_ack_v5_short<Puback>(0x40); }
TEST(GoldenAck, PubrecV5Short) { check_ack_v5_short<Pubrec>(0x50); }
TEST(GoldenAck, PubrelV5Short) { check_ack_v5_short<Pubrel>(0x62); }
TEST(GoldenAck, PubcompV5Short) { check_ack_v5_short<Pubcomp>(0x70); }

TEST(GoldenAck, PubackV5ReasonWithoutProperties) {
    Puback a;
    a.packet_id = 0x1234;
    a.reason = ReasonCode::NoMatchingSubscribers;
    check_golden(a, V5, bytes({
                            0x40,        // PUBACK, flags 0
                            0x03,        // Remaining Length 3: Property Length omitted
                            0x12, 0x34,  // Packet Identifier 0x1234
                            0x10,        // Reason Code 0x10 No matching subscribers
                        }),
                 {server(V5), client(V5)});
    check_decodes(a, V5, bytes({0x40, 0x04, 0x12, 0x34, 0x10, 0x00}), {server(V5), client(V5)});
}

TEST(GoldenAck, PubrelV5PacketIdentifierNotFound) {
    Pubrel a;
    a.packet_id = 0x1234;
    a.reason = ReasonCode::PacketIdentifierNotFound;
    check_golden(a, V5, bytes({
                            0x62,        // PUBREL, flags 0010
                            0x03,        // Remaining Length 3
                            0x12, 0x34,  // Packet Identifier 0x1234
                            0x92,        // Reason Code 0x92 Packet Identifier not found
                        }),
                 {server(V5), client(V5)});
}

TEST(GoldenAck, PubrecV5ReasonAndProperties) {
    const std::array<UserProperty, 1> user{{{"k", "v"}}};
    Pubrec a;
    a.packet_id = 0x1234;
    a.reason = ReasonCode::UnspecifiedError;
    a.properties.reason_string = "busy";
    a.properties.user_properties = user;
    check_golden(a, V5, bytes({
                            0x50,                                    // PUBREC, flags 0
                            0x12,                                    // Remaining Length 18
                            0x12, 0x34,                              // Packet Identifier 0x1234
                            0x80,                                    // Reason Code 0x80 Unspecified error
                            0x0E,                                    // Property Length 14
                            0x1F, 0x00, 0x04, 'b', 'u', 's', 'y',    //   Reason String "busy"
                            0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v',  //   User Property "k" = "v"
                        }),
                 {server(V5), client(V5)});
}

TEST(GoldenAck, PubcompV5SuccessWithProperties) {  // the Reason Code is written when there are properties
    Pubcomp a;
    a.packet_id = 0x1234;
    a.properties.reason_string = "ok";
    check_golden(a, V5, bytes({
                            0x70,                        // PUBCOMP, flags 0
                            0x09,                        // Remaining Length 9
                            0x12, 0x34,                  // Packet Identifier 0x1234
                            0x00,                        // Reason Code 0x00 Success
                            0x05,                        // Property Length 5
                            0x1F, 0x00, 0x02, 'o', 'k',  //   Reason String "ok"
                        }),
                 {server(V5), client(V5)});
}

// ---------------------------------------------------------------------------------------------------------------
// SUBSCRIBE

TEST(GoldenSubscribe, SeveralFiltersInEveryV3Version) {
    const std::array<Subscription, 2> subs{sub("a/b", QoS::AtLeastOnce), sub("c", QoS::ExactlyOnce)};
    Subscribe s;
    s.packet_id = 10;
    s.subscriptions = subs;
    for (const auto v : {V31, V311}) {
        SCOPED_TRACE(protocol_version_name(v));
        check_golden(s, v, bytes({
                               0x82,                       // SUBSCRIBE, flags 0010 [MQTT-3.8.1-1]
                               0x0C,                       // Remaining Length 12
                               0x00, 0x0A,                 // Packet Identifier 10
                               0x00, 0x03, 'a', '/', 'b',  // Topic Filter "a/b"
                               0x01,                       //   Requested QoS 1
                               0x00, 0x01, 'c',            // Topic Filter "c"
                               0x02,                       //   Requested QoS 2
                           }),
                     {server(v)});
    }
}

TEST(GoldenSubscribe, V5OptionsAndSubscriptionIdentifier) {
    const std::array<std::uint32_t, 1> id{5};
    SubscribeOptions all;
    all.qos = QoS::ExactlyOnce;
    all.no_local = true;
    all.retain_as_published = true;
    all.retain_handling = 2;
    const std::array<Subscription, 2> subs{sub("a/b", QoS::AtLeastOnce), Subscription{"c/#", all}};
    Subscribe s;
    s.packet_id = 10;
    s.properties.subscription_identifiers = id;
    s.subscriptions = subs;
    check_golden(s, V5, bytes({
                            0x82,                       // SUBSCRIBE, flags 0010
                            0x11,                       // Remaining Length 17
                            0x00, 0x0A,                 // Packet Identifier 10
                            0x02,                       // Property Length 2
                            0x0B, 0x05,                 //   Subscription Identifier 5
                            0x00, 0x03, 'a', '/', 'b',  // Topic Filter "a/b"
                            0x01,                       //   Options: QoS 1
                            0x00, 0x03, 'c', '/', '#',  // Topic Filter "c/#"
                            0x2E,  //   Options: Retain Handling 2, Retain As Published, No Local, QoS 2
                        }),
                 {server(V5)});
}

TEST(GoldenSubscribe, V5SharedFilterRetainHandling1UserPropertyLargestIdentifier) {
    const std::array<std::uint32_t, 1> id{268'435'455};
    const std::array<UserProperty, 1> user{{{"k", "v"}}};
    SubscribeOptions o;
    o.qos = QoS::AtLeastOnce;
    o.retain_handling = 1;
    const std::array<Subscription, 1> subs{Subscription{"$share/g/t", o}};
    Subscribe s;
    s.packet_id = 11;
    s.properties.subscription_identifiers = id;
    s.properties.user_properties = user;
    s.subscriptions = subs;
    check_golden(s, V5, bytes({
        0x82,                                    // SUBSCRIBE, flags 0010
        0x1C,                                    // Remaining Length 28
        0x00, 0x0B,                              // Packet Identifier 11
        0x0C,                                    // Property Length 12
        0x0B, 0xFF, 0xFF, 0xFF, 0x7F,            //   Subscription Identifier 268435455
        0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v',  //   User Property "k" = "v"
        0x00, 0x0A, '$', 's', 'h', 'a', 'r', 'e', '/', 'g', '/', 't',  // Topic Filter "$share/g/t"
        0x11,                                    //   Options: Retain Handling 1, QoS 1
    }),
                 {server(V5)});
}

// ---------------------------------------------------------------------------------------------------------------
// SUBACK

TEST(GoldenSuback, V31) {  // 3.1 has no failure code: only granted QoS values
    const std::array<ReasonCode, 3> codes{ReasonCode::GrantedQoS0, ReasonCode::GrantedQoS1, ReasonCode::GrantedQoS2};
    Suback a;
    a.packet_id = 10;
    a.reason_codes = codes;
    check_golden(a, V31, bytes({
                             0x90,              // SUBACK, flags 0
                             0x05,              // Remaining Length 5
                             0x00, 0x0A,        // Packet Identifier 10
                             0x00, 0x01, 0x02,  // Granted QoS 0, 1, 2
                         }),
                 {client(V31)});
}

TEST(GoldenSuback, V311WithFailure) {
    const std::array<ReasonCode, 4> codes{ReasonCode::GrantedQoS0, ReasonCode::GrantedQoS1, ReasonCode::GrantedQoS2,
                                          ReasonCode::UnspecifiedError};
    Suback a;
    a.packet_id = 10;
    a.reason_codes = codes;
    check_golden(a, V311, bytes({
                              0x90,                    // SUBACK, flags 0
                              0x06,                    // Remaining Length 6
                              0x00, 0x0A,              // Packet Identifier 10
                              0x00, 0x01, 0x02, 0x80,  // Success QoS 0, 1, 2, Failure
                          }),
                 {client(V311)});
}

TEST(GoldenSuback, V5Minimal) {
    const std::array<ReasonCode, 1> codes{ReasonCode::GrantedQoS1};
    Suback a;
    a.packet_id = 10;
    a.reason_codes = codes;
    check_golden(a, V5, bytes({
                            0x90,        // SUBACK, flags 0
                            0x04,        // Remaining Length 4
                            0x00, 0x0A,  // Packet Identifier 10
                            0x00,        // Property Length 0
                            0x01,        // Granted QoS 1
                        }),
                 {client(V5)});
}

TEST(GoldenSuback, V5ReasonCodesAndReasonString) {
    const std::array<ReasonCode, 7> codes{ReasonCode::GrantedQoS0,        ReasonCode::GrantedQoS1,
                                          ReasonCode::GrantedQoS2,        ReasonCode::UnspecifiedError,
                                          ReasonCode::TopicFilterInvalid, ReasonCode::QuotaExceeded,
                                          ReasonCode::SubscriptionIdentifiersNotSupported};
    Suback a;
    a.packet_id = 10;
    a.properties.reason_string = "no";
    a.reason_codes = codes;
    check_golden(a, V5, bytes({
                            0x90,                                      // SUBACK, flags 0
                            0x0F,                                      // Remaining Length 15
                            0x00, 0x0A,                                // Packet Identifier 10
                            0x05,                                      // Property Length 5
                            0x1F, 0x00, 0x02, 'n', 'o',                //   Reason String "no"
                            0x00, 0x01, 0x02, 0x80, 0x8F, 0x97, 0xA1,  // Reason Codes
                        }),
                 {client(V5)});
}

// ---------------------------------------------------------------------------------------------------------------
// UNSUBSCRIBE

TEST(GoldenUnsubscribe, TwoFiltersInEveryV3Version) {
    const std::array<std::string_view, 2> filters{"a/b", "c/#"};
    Unsubscribe u;
    u.packet_id = 11;
    u.filters = filters;
    for (const auto v : {V31, V311}) {
        SCOPED_TRACE(protocol_version_name(v));
        check_golden(u, v, bytes({
                               0xA2,                       // UNSUBSCRIBE, flags 0010 [MQTT-3.10.1-1]
                               0x0C,                       // Remaining Length 12
                               0x00, 0x0B,                 // Packet Identifier 11
                               0x00, 0x03, 'a', '/', 'b',  // Topic Filter "a/b"
                               0x00, 0x03, 'c', '/', '#',  // Topic Filter "c/#"
                           }),
                     {server(v)});
    }
}

TEST(GoldenUnsubscribe, V5WithUserProperty) {
    const std::array<std::string_view, 2> filters{"a/b", "c/#"};
    const std::array<UserProperty, 1> user{{{"k", "v"}}};
    Unsubscribe u;
    u.packet_id = 11;
    u.properties.user_properties = user;
    u.filters = filters;
    check_golden(u, V5, bytes({
                            0xA2,                                    // UNSUBSCRIBE, flags 0010
                            0x14,                                    // Remaining Length 20
                            0x00, 0x0B,                              // Packet Identifier 11
                            0x07,                                    // Property Length 7
                            0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v',  //   User Property "k" = "v"
                            0x00, 0x03, 'a', '/', 'b',               // Topic Filter "a/b"
                            0x00, 0x03, 'c', '/', '#',               // Topic Filter "c/#"
                        }),
                 {server(V5)});
}

TEST(GoldenUnsubscribe, V5NoProperties) {
    const std::array<std::string_view, 1> filters{"a/b"};
    Unsubscribe u;
    u.packet_id = 11;
    u.filters = filters;
    check_golden(u, V5, bytes({
                            0xA2,                       // UNSUBSCRIBE, flags 0010
                            0x08,                       // Remaining Length 8
                            0x00, 0x0B,                 // Packet Identifier 11
                            0x00,                       // Property Length 0
                            0x00, 0x03, 'a', '/', 'b',  // Topic Filter "a/b"
                        }),
                 {server(V5)});
}

// ---------------------------------------------------------------------------------------------------------------
// UNSUBACK

TEST(GoldenUnsuback, V3HasNoReasonCodes) {
    Unsuback a;
    a.packet_id = 11;
    for (const auto v : {V31, V311}) {
        SCOPED_TRACE(protocol_version_name(v));
        check_golden(a, v, bytes({
                               0xB0,        // UNSUBACK, flags 0
                               0x02,        // Remaining Length 2
                               0x00, 0x0B,  // Packet Identifier 11
                           }),
                     {client(v)});
    }
}

TEST(GoldenUnsuback, V5ReasonCodes) {
    const std::array<ReasonCode, 2> codes{ReasonCode::Success, ReasonCode::NoSubscriptionExisted};
    Unsuback a;
    a.packet_id = 11;
    a.reason_codes = codes;
    check_golden(a, V5, bytes({
                            0xB0,        // UNSUBACK, flags 0
                            0x05,        // Remaining Length 5
                            0x00, 0x0B,  // Packet Identifier 11
                            0x00,        // Property Length 0
                            0x00, 0x11,  // Reason Codes: Success, No subscription existed
                        }),
                 {client(V5)});
}

TEST(GoldenUnsuback, V5ReasonStringAndError) {
    const std::array<ReasonCode, 3> codes{ReasonCode::Success, ReasonCode::NoSubscriptionExisted,
                                          ReasonCode::NotAuthorized};
    Unsuback a;
    a.packet_id = 11;
    a.properties.reason_string = "x";
    a.reason_codes = codes;
    check_golden(a, V5, bytes({
                            0xB0,                   // UNSUBACK, flags 0
                            0x0A,                   // Remaining Length 10
                            0x00, 0x0B,             // Packet Identifier 11
                            0x04,                   // Property Length 4
                            0x1F, 0x00, 0x01, 'x',  //   Reason String "x"
                            0x00, 0x11, 0x87,       // Reason Codes: Success, No subscription existed, Not authorized
                        }),
                 {client(V5)});
}

// ---------------------------------------------------------------------------------------------------------------
// PINGREQ, PINGRESP

TEST(GoldenPing, PingreqInEveryVersion) {
    for (const auto v : {V31, V311, V5}) {
        SCOPED_TRACE(protocol_version_name(v));
        check_golden(Pingreq{}, v, bytes({0xC0, 0x00}), {server(v)});  // PINGREQ, flags 0; Remaining Length 0
    }
}

TEST(GoldenPing, PingrespInEveryVersion) {
    for (const auto v : {V31, V311, V5}) {
        SCOPED_TRACE(protocol_version_name(v));
        check_golden(Pingresp{}, v, bytes({0xD0, 0x00}), {client(v)});  // PINGRESP, flags 0; Remaining Length 0
    }
}

// ---------------------------------------------------------------------------------------------------------------
// DISCONNECT

TEST(GoldenDisconnect, V3IsTwoBytes) {
    for (const auto v : {V31, V311}) {
        SCOPED_TRACE(protocol_version_name(v));
        check_golden(Disconnect{}, v, bytes({0xE0, 0x00}), {server(v)});  // DISCONNECT, flags 0; Remaining Length 0
    }
}

TEST(GoldenDisconnect, V5NormalIsTwoBytes) {  // 3.14.2.1: Reason Code and Property Length omitted
    check_golden(Disconnect{}, V5, bytes({0xE0, 0x00}), {server(V5), client(V5)});
    // Long forms the receiver accepts ("If the Remaining Length is less than 2, a value of 0 is used").
    check_decodes(Disconnect{}, V5, bytes({0xE0, 0x01, 0x00}), {server(V5), client(V5)});
    check_decodes(Disconnect{}, V5, bytes({0xE0, 0x02, 0x00, 0x00}), {server(V5), client(V5)});
}

TEST(GoldenDisconnect, V5WithWillMessage) {
    Disconnect d;
    d.reason = ReasonCode::DisconnectWithWillMessage;
    check_golden(d, V5, bytes({
                            0xE0,  // DISCONNECT, flags 0
                            0x01,  // Remaining Length 1: Property Length omitted
                            0x04,  // Reason Code 0x04 Disconnect with Will Message
                        }),
                 {server(V5)});
}

TEST(GoldenDisconnect, V5ClientSessionExpiry) {
    Disconnect d;
    d.properties.session_expiry_interval = 0;
    check_golden(d, V5, bytes({
                            0xE0,                          // DISCONNECT, flags 0
                            0x07,                          // Remaining Length 7
                            0x00,                          // Reason Code Normal disconnection
                            0x05,                          // Property Length 5
                            0x11, 0x00, 0x00, 0x00, 0x00,  //   Session Expiry Interval 0
                        }),
                 {server(V5)});
}

TEST(GoldenDisconnect, V5ServerShuttingDownWithServerReference) {
    Disconnect d;
    d.reason = ReasonCode::ServerShuttingDown;
    d.properties.server_reference = "srv2";
    d.properties.reason_string = "bye";
    check_golden(d, V5, bytes({
                            0xE0,                                  // DISCONNECT, flags 0
                            0x0F,                                  // Remaining Length 15
                            0x8B,                                  // Reason Code 0x8B Server shutting down
                            0x0D,                                  // Property Length 13
                            0x1C, 0x00, 0x04, 's', 'r', 'v', '2',  //   Server Reference "srv2"
                            0x1F, 0x00, 0x03, 'b', 'y', 'e',       //   Reason String "bye"
                        }),
                 {client(V5)});
}

// ---------------------------------------------------------------------------------------------------------------
// AUTH (5.0 only)

TEST(GoldenAuth, SuccessIsTwoBytes) {  // 3.15.2.1: Reason Code and Property Length omitted
    check_golden(Auth{}, V5, bytes({0xF0, 0x00}), {server(V5), client(V5)});
    check_decodes(Auth{}, V5, bytes({0xF0, 0x01, 0x00}), {server(V5), client(V5)});
}

TEST(GoldenAuth, ContinueAuthentication) {
    const std::array<std::byte, 3> data{std::byte{1}, std::byte{2}, std::byte{3}};
    Auth a;
    a.reason = ReasonCode::ContinueAuthentication;
    a.properties.authentication_method = "SCRAM";
    a.properties.authentication_data = data;
    check_golden(a, V5, bytes({
                            0xF0,                                       // AUTH, flags 0
                            0x10,                                       // Remaining Length 16
                            0x18,                                       // Reason Code 0x18 Continue authentication
                            0x0E,                                       // Property Length 14
                            0x15, 0x00, 0x05, 'S', 'C', 'R', 'A', 'M',  //   Authentication Method "SCRAM"
                            0x16, 0x00, 0x03, 0x01, 0x02, 0x03,         //   Authentication Data 01 02 03
                        }),
                 {server(V5), client(V5)});
}

TEST(GoldenAuth, ReAuthenticate) {
    Auth a;
    a.reason = ReasonCode::ReAuthenticate;
    a.properties.authentication_method = "X";
    check_golden(a, V5, bytes({
                            0xF0,                   // AUTH, flags 0
                            0x06,                   // Remaining Length 6
                            0x19,                   // Reason Code 0x19 Re-authenticate
                            0x04,                   // Property Length 4
                            0x15, 0x00, 0x01, 'X',  //   Authentication Method "X"
                        }),
                 {server(V5)});
}

}  // namespace
}  // namespace moth::codec
