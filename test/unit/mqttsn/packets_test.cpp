// Golden bytes for every MQTT-SN 1.2 message, written by hand from the specification (section 5: 5.2 header, 5.3
// fields, 5.4 messages, 5.5 encapsulation) with a comment on every field. Each test checks that encode() gives
// exactly these bytes, that decode() gives the same message back, and that every truncation of the datagram (the
// "one byte at a time" rule, for datagrams: a cut datagram never becomes a shorter valid one) is Malformed.
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "mqttsn/packets.hpp"
#include "support/codec_helpers.hpp"

namespace moth::mqttsn {
namespace {

using test::bytes;
using test::cat;
using test::hex;

Buffer text(std::string_view s) { return test::bytes(s); }

void expect_every_truncation_malformed(const Buffer& wire) {
    for (std::size_t n = 0; n < wire.size(); ++n) {
        const auto r = decode(Bytes(wire).first(n));
        EXPECT_EQ(r.status, DecodeStatus::Malformed) << "first " << n << " octets of " << hex(wire);
        EXPECT_FALSE(r.message.empty()) << "first " << n << " octets of " << hex(wire);
    }
}

// Decode-only: an encoding the decoder must accept that the encoder does not produce.
void check_decodes(const Packet& p, const Buffer& wire, const std::optional<Forwarder>& fwd = std::nullopt) {
    const auto r = decode(wire);
    ASSERT_EQ(r.status, DecodeStatus::Ok) << r.message << ": " << hex(wire);
    EXPECT_TRUE(r.packet == p) << msg_type_name(msg_type(r.packet)) << " differs: " << hex(wire);
    EXPECT_EQ(r.forwarder, fwd);
    expect_every_truncation_malformed(wire);
}

void check_golden(const Packet& p, const Buffer& wire, const std::optional<Forwarder>& fwd = std::nullopt) {
    const auto out = encode(p, fwd);
    EXPECT_EQ(out, wire) << "\n  encoded:  " << hex(out) << "\n  expected: " << hex(wire);
    check_decodes(p, wire, fwd);
}

// ---------------------------------------------------------------------------------------------------------------
// Gateway discovery (sections 5.4.2 to 5.4.4)

TEST(SnGolden, Advertise) {
    check_golden(Advertise{.gw_id = 7, .duration_s = 900}, bytes({
                                                               0x05,        // Length 5
                                                               0x00,        // MsgType ADVERTISE
                                                               0x07,        // GwId 7
                                                               0x03, 0x84,  // Duration 900 s
                                                           }));
}

TEST(SnGolden, SearchGw) {
    check_golden(SearchGw{.radius = 1}, bytes({
                                            0x03,  // Length 3
                                            0x01,  // MsgType SEARCHGW
                                            0x01,  // Radius 1
                                        }));
}

TEST(SnGolden, GwInfoFromTheGatewayHasNoAddress) {
    check_golden(GwInfo{.gw_id = 9, .gw_address = {}}, bytes({
                                         0x03,  // Length 3
                                         0x02,  // MsgType GWINFO
                                         0x09,  // GwId 9, and no GwAdd
                                     }));
}

TEST(SnGolden, GwInfoFromAClientCarriesTheAddress) {
    check_golden(GwInfo{.gw_id = 9, .gw_address = bytes({10, 0, 0, 1})}, bytes({
                                                                              0x07,  // Length 7
                                                                              0x02,  // MsgType GWINFO
                                                                              0x09,  // GwId 9
                                                                              10, 0, 0, 1,  // GwAdd (4 octets)
                                                                          }));
}

// ---------------------------------------------------------------------------------------------------------------
// Connection set-up (sections 5.4.4 to 5.4.9)

TEST(SnGolden, Connect) {
    Connect c;
    c.flags.will = true;
    c.flags.clean_session = true;
    c.duration_s = 60;
    c.client_id = "dev1";
    check_golden(c, bytes({
                        0x0A,                // Length 10
                        0x04,                // MsgType CONNECT
                        0x0C,                // Flags: Will (bit 3), CleanSession (bit 2)
                        0x01,                // ProtocolId 0x01
                        0x00, 0x3C,          // Duration 60 s
                        'd', 'e', 'v', '1',  // ClientId "dev1"
                    }));
}

TEST(SnGolden, ConnectWithEmptyClientIdDecodes) {  // the gateway, not the codec, refuses it
    check_golden(Connect{}, bytes({
                                0x06,        // Length 6
                                0x04,        // MsgType CONNECT
                                0x00,        // Flags: none
                                0x01,        // ProtocolId
                                0x00, 0x00,  // Duration 0
                            }));
}

TEST(SnGolden, Connack) {
    check_golden(Connack{.rc = ReturnCode::Congestion}, bytes({
                                                            0x03,  // Length 3
                                                            0x05,  // MsgType CONNACK
                                                            0x01,  // ReturnCode: rejected, congestion
                                                        }));
}

TEST(SnGolden, WillTopicReq) {
    check_golden(WillTopicReq{}, bytes({0x02,    // Length 2
                                        0x06}));  // MsgType WILLTOPICREQ
}

TEST(SnGolden, WillTopic) {
    WillTopic w;
    w.flags.qos = 1;
    w.flags.retain = true;
    w.topic = "a/b";
    check_golden(w, bytes({
                        0x06,           // Length 6
                        0x07,           // MsgType WILLTOPIC
                        0x30,           // Flags: QoS 1 (bits 6-5 = 01), Retain (bit 4)
                        'a', '/', 'b',  // WillTopic "a/b"
                    }));
}

TEST(SnGolden, EmptyWillTopicDeletesTheWill) {
    check_golden(WillTopic{.flags = {}, .topic = {}, .empty = true}, bytes({0x02,    // Length 2: no Flags, no WillTopic
                                                  0x07}));  // MsgType WILLTOPIC
}

TEST(SnGolden, WillTopicWithFlagsButNoTopicReadsAsEmpty) {  // liberal: some clients always write the Flags
    check_decodes(WillTopic{.flags = {}, .topic = {}, .empty = true}, bytes({0x03, 0x07, 0x20}));  // Length 3, WILLTOPIC, Flags QoS 1
    check_decodes(WillTopicUpd{.flags = {}, .topic = {}, .empty = true}, bytes({0x03, 0x1A, 0x00}));
}

TEST(SnGolden, WillMsgReq) {
    check_golden(WillMsgReq{}, bytes({0x02,    // Length 2
                                      0x08}));  // MsgType WILLMSGREQ
}

TEST(SnGolden, WillMsg) {
    check_golden(WillMsg{.message = text("bye")}, bytes({
                                                      0x05,           // Length 5
                                                      0x09,           // MsgType WILLMSG
                                                      'b', 'y', 'e',  // WillMsg "bye"
                                                  }));
}

TEST(SnGolden, EmptyWillMsg) {
    check_golden(WillMsg{}, bytes({0x02,    // Length 2
                                   0x09}));  // MsgType WILLMSG, an empty will message
}

// ---------------------------------------------------------------------------------------------------------------
// Topic registration and publishing (sections 5.4.10 to 5.4.14)

TEST(SnGolden, Register) {
    check_golden(Register{.topic_id = 0, .msg_id = 0x1234, .topic_name = "t/1"}, bytes({
                                                                                       0x09,        // Length 9
                                                                                       0x0A,        // REGISTER
                                                                                       0x00, 0x00,  // TopicId 0
                                                                                       0x12, 0x34,  // MsgId
                                                                                       't', '/', '1',  // TopicName
                                                                                   }));
}

TEST(SnGolden, Regack) {
    check_golden(Regack{.topic_id = 5, .msg_id = 0x1234, .rc = ReturnCode::Accepted}, bytes({
                                                                                          0x07,  // Length 7
                                                                                          0x0B,  // REGACK
                                                                                          0x00, 0x05,  // TopicId 5
                                                                                          0x12, 0x34,  // MsgId
                                                                                          0x00,  // ReturnCode
                                                                                      }));
}

TEST(SnGolden, PublishQos1) {
    Publish p;
    p.flags.qos = 1;
    p.topic_id = 5;
    p.msg_id = 2;
    p.data = text("21.5");
    check_golden(p, bytes({
                        0x0B,                // Length 11
                        0x0C,                // MsgType PUBLISH
                        0x20,                // Flags: QoS 1, TopicIdType normal
                        0x00, 0x05,          // TopicId 5
                        0x00, 0x02,          // MsgId 2
                        '2', '1', '.', '5',  // Data "21.5"
                    }));
}

TEST(SnGolden, PublishQosMinusOneToAShortTopic) {
    Publish p;
    p.flags.qos = -1;
    p.flags.topic_id_type = TopicIdType::Short;
    p.topic_id = short_topic_id("ab");
    check_golden(p, bytes({
                        0x07,        // Length 7
                        0x0C,        // MsgType PUBLISH
                        0x62,        // Flags: QoS -1 (bits 6-5 = 11), TopicIdType short (10)
                        'a', 'b',    // TopicId: the short name "ab"
                        0x00, 0x00,  // MsgId 0 (QoS -1)
                    }));            // no Data
}

TEST(SnGolden, Puback) {
    check_golden(Puback{.topic_id = 5, .msg_id = 2, .rc = ReturnCode::InvalidTopicId}, bytes({
                                                                                          0x07,  // Length 7
                                                                                          0x0D,  // PUBACK
                                                                                          0x00, 0x05,  // TopicId 5
                                                                                          0x00, 0x02,  // MsgId 2
                                                                                          0x02,  // invalid topic
                                                                                      }));
}

TEST(SnGolden, PubrecPubrelPubcomp) {
    check_golden(Pubrec{.msg_id = 0x0102}, bytes({0x04, 0x0F, 0x01, 0x02}));  // Length 4, PUBREC, MsgId 0x0102
    check_golden(Pubrel{.msg_id = 0x0102}, bytes({0x04, 0x10, 0x01, 0x02}));  // Length 4, PUBREL, MsgId 0x0102
    check_golden(Pubcomp{.msg_id = 0x0102}, bytes({0x04, 0x0E, 0x01, 0x02}));  // Length 4, PUBCOMP, MsgId 0x0102
}

// The 3-octet Length form (section 5.2.1): 0x01, then the Length in 2 octets, for 256 octets and more.
TEST(SnGolden, PublishOf300OctetsUsesThe3OctetLength) {
    Publish p;
    p.flags.qos = 2;
    p.topic_id = 1;
    p.msg_id = 3;
    p.data = Buffer(291, std::byte{'x'});
    const auto wire = cat(bytes({
                              0x01, 0x01, 0x2C,  // Length: 3-octet form, 300
                              0x0C,              // MsgType PUBLISH
                              0x40,              // Flags: QoS 2
                              0x00, 0x01,        // TopicId 1
                              0x00, 0x03,        // MsgId 3
                          }),
                          p.data);  // Data, 291 octets
    ASSERT_EQ(wire.size(), 300U);
    check_golden(p, wire);
}

TEST(SnGolden, LengthFormBoundary) {
    Publish p;
    p.data = Buffer(248, std::byte{'x'});  // 7 + 248 = 255: the largest 1-octet Length
    auto wire = encode(p);
    EXPECT_EQ(wire.size(), 255U);
    EXPECT_EQ(wire[0], std::byte{0xFF});
    p.data.push_back(std::byte{'x'});  // 256 octets in the short form, so 258 in the long one
    wire = encode(p);
    ASSERT_EQ(wire.size(), 258U);
    EXPECT_EQ(Buffer(wire.begin(), wire.begin() + 4), bytes({0x01, 0x01, 0x02, 0x0C}));
    EXPECT_TRUE(decode(wire).packet == Packet(p));
    Publish largest;  // max_publish_data() leaves room for the 3-octet Length
    largest.data = Buffer(max_publish_data(1000), std::byte{'x'});
    EXPECT_LE(encode(largest).size(), 1000U);
}

TEST(SnGolden, The3OctetLengthFormIsAcceptedForAShortMessage) {  // liberal: the encoder never writes it
    check_decodes(Disconnect{}, bytes({0x01, 0x00, 0x04,  // Length: 3-octet form, 4
                                       0x18}));           // MsgType DISCONNECT
    check_decodes(Pubrec{.msg_id = 7}, bytes({0x01, 0x00, 0x06, 0x0F, 0x00, 0x07}));
}

// ---------------------------------------------------------------------------------------------------------------
// Subscriptions (sections 5.4.15 to 5.4.18)

TEST(SnGolden, SubscribeByName) {
    Subscribe s;
    s.flags.qos = 1;
    s.msg_id = 0x0A0B;
    s.topic_name = "s/#";
    check_golden(s, bytes({
                        0x08,           // Length 8
                        0x12,           // MsgType SUBSCRIBE
                        0x20,           // Flags: QoS 1, TopicIdType normal (a topic name)
                        0x0A, 0x0B,     // MsgId
                        's', '/', '#',  // TopicName "s/#"
                    }));
}

TEST(SnGolden, SubscribeByShortNameKeepsTheTwoCharacters) {
    Subscribe s;
    s.flags.dup = true;
    s.flags.qos = 2;
    s.flags.topic_id_type = TopicIdType::Short;
    s.msg_id = 1;
    s.topic_name = "ab";
    check_golden(s, bytes({
                        0x07,        // Length 7
                        0x12,        // MsgType SUBSCRIBE
                        0xC2,        // Flags: DUP, QoS 2, TopicIdType short
                        0x00, 0x01,  // MsgId 1
                        'a', 'b',    // TopicId: short name "ab"
                    }));
}

TEST(SnGolden, SubscribeByPredefinedId) {
    Subscribe s;
    s.flags.topic_id_type = TopicIdType::Predefined;
    s.msg_id = 1;
    s.topic_id = 0x0102;
    check_golden(s, bytes({
                        0x07,        // Length 7
                        0x12,        // MsgType SUBSCRIBE
                        0x01,        // Flags: QoS 0, TopicIdType predefined
                        0x00, 0x01,  // MsgId 1
                        0x01, 0x02,  // TopicId 0x0102
                    }));
}

TEST(SnGolden, Suback) {
    Suback s;
    s.flags.qos = 1;
    s.topic_id = 9;
    s.msg_id = 1;
    s.rc = ReturnCode::Accepted;
    check_golden(s, bytes({
                        0x08,        // Length 8
                        0x13,        // MsgType SUBACK
                        0x20,        // Flags: granted QoS 1
                        0x00, 0x09,  // TopicId 9
                        0x00, 0x01,  // MsgId 1
                        0x00,        // ReturnCode accepted
                    }));
}

TEST(SnGolden, UnsubscribeByNameShortAndPredefined) {
    check_golden(Unsubscribe{.flags = {}, .msg_id = 2, .topic_name = "x"}, bytes({
                                                                  0x06,        // Length 6
                                                                  0x14,        // MsgType UNSUBSCRIBE
                                                                  0x00,        // Flags: TopicIdType normal
                                                                  0x00, 0x02,  // MsgId 2
                                                                  'x',         // TopicName "x"
                                                              }));
    Unsubscribe u{.flags = {}, .msg_id = 2, .topic_name = "zz"};
    u.flags.topic_id_type = TopicIdType::Short;
    check_golden(u, bytes({0x07, 0x14, 0x02, 0x00, 0x02, 'z', 'z'}));  // Flags short, TopicId "zz"
    Unsubscribe p{.flags = {}, .msg_id = 2, .topic_name = {}, .topic_id = 3};
    p.flags.topic_id_type = TopicIdType::Predefined;
    check_golden(p, bytes({0x07, 0x14, 0x01, 0x00, 0x02, 0x00, 0x03}));  // Flags predefined, TopicId 3
}

TEST(SnGolden, Unsuback) {
    check_golden(Unsuback{.msg_id = 2}, bytes({0x04, 0x15,     // Length 4, MsgType UNSUBACK
                                               0x00, 0x02}));  // MsgId 2
}

// ---------------------------------------------------------------------------------------------------------------
// Keep alive, sleep and disconnect (sections 5.4.19 to 5.4.21)

TEST(SnGolden, PingReqWithoutClientId) {
    check_golden(PingReq{}, bytes({0x02,    // Length 2
                                   0x16}));  // MsgType PINGREQ, no ClientId: an awake client
}

TEST(SnGolden, PingReqWithClientId) {
    check_golden(PingReq{.client_id = "s1"}, bytes({
                                                 0x04,      // Length 4
                                                 0x16,      // MsgType PINGREQ
                                                 's', '1',  // ClientId "s1": a sleeping client checks in
                                             }));
}

TEST(SnGolden, PingResp) {
    check_golden(PingResp{}, bytes({0x02,    // Length 2
                                    0x17}));  // MsgType PINGRESP
}

TEST(SnGolden, DisconnectWithoutDuration) {
    check_golden(Disconnect{}, bytes({0x02,    // Length 2
                                      0x18}));  // MsgType DISCONNECT
}

TEST(SnGolden, DisconnectWithDuration) {
    check_golden(Disconnect{.duration_s = 600}, bytes({
                                                    0x04,        // Length 4
                                                    0x18,        // MsgType DISCONNECT
                                                    0x02, 0x58,  // Duration 600 s: going to sleep
                                                }));
}

// ---------------------------------------------------------------------------------------------------------------
// Will updates (sections 5.4.22 to 5.4.25)

TEST(SnGolden, WillTopicUpd) {
    WillTopicUpd w;
    w.flags.qos = 2;
    w.topic = "w";
    check_golden(w, bytes({
                        0x04,  // Length 4
                        0x1A,  // MsgType WILLTOPICUPD
                        0x40,  // Flags: QoS 2
                        'w',   // WillTopic "w"
                    }));
}

TEST(SnGolden, EmptyWillTopicUpdDeletesTheWill) {
    check_golden(WillTopicUpd{.flags = {}, .topic = {}, .empty = true}, bytes({0x02,    // Length 2
                                                     0x1A}));  // MsgType WILLTOPICUPD, nothing else
}

TEST(SnGolden, WillTopicResp) {
    check_golden(WillTopicResp{.rc = ReturnCode::NotSupported}, bytes({
                                                                  0x03,  // Length 3
                                                                  0x1B,  // MsgType WILLTOPICRESP
                                                                  0x03,  // ReturnCode not supported
                                                              }));
}

TEST(SnGolden, WillMsgUpd) {
    check_golden(WillMsgUpd{.message = text("off")}, bytes({
                                                         0x05,           // Length 5
                                                         0x1C,           // MsgType WILLMSGUPD
                                                         'o', 'f', 'f',  // WillMsg "off"
                                                     }));
}

TEST(SnGolden, WillMsgResp) {
    check_golden(WillMsgResp{}, bytes({
                                    0x03,  // Length 3
                                    0x1D,  // MsgType WILLMSGRESP
                                    0x00,  // ReturnCode accepted
                                }));
}

// ---------------------------------------------------------------------------------------------------------------
// Encapsulation by a forwarder (section 5.5)

TEST(SnGolden, EncapsulatedConnect) {
    Connect c;
    c.duration_s = 30;
    c.client_id = "n";
    const Forwarder fwd{.ctrl = 0x01, .node_id = bytes({0xAB, 0xCD})};
    check_golden(c, bytes({
                        0x05,        // Length 5: up to the end of the Wireless Node Id
                        0xFE,        // MsgType Encapsulated
                        0x01,        // Ctrl: radius 1
                        0xAB, 0xCD,  // Wireless Node Id (Length - 3 = 2 octets)
                        0x07,        // inner Length 7
                        0x04,        // inner MsgType CONNECT
                        0x00,        // Flags
                        0x01,        // ProtocolId
                        0x00, 0x1E,  // Duration 30 s
                        'n',         // ClientId "n"
                    }),
                 fwd);
}

TEST(SnGolden, EncapsulatedLongPublish) {  // the inner message in the 3-octet form, the header in the 1-octet one
    Publish p;
    p.data = Buffer(300, std::byte{0x55});
    const Forwarder fwd{.ctrl = 0x00, .node_id = bytes({0x01})};
    const auto wire = cat(bytes({
                              0x04,              // Length 4
                              0xFE,              // MsgType Encapsulated
                              0x00,              // Ctrl: radius 0
                              0x01,              // Wireless Node Id (1 octet)
                              0x01, 0x01, 0x35,  // inner Length: 3-octet form, 309
                              0x0C,              // inner MsgType PUBLISH
                              0x00,              // Flags: QoS 0
                              0x00, 0x00,        // TopicId 0
                              0x00, 0x00,        // MsgId 0
                          }),
                          p.data);
    check_golden(p, wire, fwd);
}

// ---------------------------------------------------------------------------------------------------------------
// The Flags octet (section 5.3.4), each field alone, through PUBLISH (the one message that takes every QoS).

struct FlagsCase {
    Flags flags;
    std::uint8_t octet;
};

TEST(SnFlags, EachFieldAndEachValue) {
    const FlagsCase cases[] = {
        {Flags{}, 0x00},
        {Flags{.dup = true}, 0x80},
        {Flags{.qos = 1}, 0x20},
        {Flags{.qos = 2}, 0x40},
        {Flags{.qos = -1}, 0x60},
        {Flags{.retain = true}, 0x10},
        {Flags{.will = true}, 0x08},
        {Flags{.clean_session = true}, 0x04},
        {Flags{.topic_id_type = TopicIdType::Predefined}, 0x01},
        {Flags{.topic_id_type = TopicIdType::Short}, 0x02},
        {Flags{true, 2, true, true, true, TopicIdType::Short}, 0xDE},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(static_cast<int>(c.octet));
        EXPECT_EQ(encode_flags(c.flags), c.octet);
        Publish p;
        p.flags = c.flags;
        p.topic_id = 1;
        check_golden(p, bytes({0x07, 0x0C, c.octet, 0x00, 0x01, 0x00, 0x00}));
    }
}

TEST(SnShortTopic, TwoCharactersAndBack) {
    EXPECT_EQ(short_topic_id("ab"), 0x6162);
    EXPECT_EQ(short_topic_name(0x6162), "ab");
    EXPECT_EQ(short_topic_name(short_topic_id("Zz")), "Zz");
    EXPECT_EQ(short_topic_name(0x00FF), std::string("\x00\xFF", 2));
}

TEST(SnNames, EveryTypeHasItsName) {
    EXPECT_EQ(msg_type_name(MsgType::Advertise), "ADVERTISE");
    EXPECT_EQ(msg_type_name(MsgType::WillMsgResp), "WILLMSGRESP");
    EXPECT_EQ(msg_type_name(MsgType::Encapsulated), "ENCAPSULATED");
    EXPECT_EQ(msg_type_name(static_cast<MsgType>(0x03)), "UNKNOWN");
    EXPECT_EQ(msg_type(Publish{}), MsgType::Publish);
    EXPECT_EQ(msg_type(WillMsgResp{}), MsgType::WillMsgResp);
}

}  // namespace
}  // namespace moth::mqttsn
