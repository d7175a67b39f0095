// Datagrams decode() must refuse (MQTT-SN 1.2 section 5): each is Malformed with a reason for the log, never a
// crash, never a read past the datagram (ASan checks the last in the ci preset). The reason is matched loosely, on
// a word or two, so that rewording a message does not break a test while the wrong reason still does.
#include <gtest/gtest.h>

#include <string>

#include "mqttsn/packets.hpp"
#include "support/codec_helpers.hpp"

namespace moth::mqttsn {
namespace {

using test::bytes;
using test::hex;

void expect_malformed(const Buffer& wire, std::string_view reason) {
    const auto r = decode(wire);
    EXPECT_EQ(r.status, DecodeStatus::Malformed) << hex(wire);
    EXPECT_NE(std::string(r.message).find(reason), std::string::npos)
        << "reason \"" << r.message << "\" lacks \"" << reason << "\" for " << hex(wire);
}

TEST(SnMalformed, LengthMustBeTheDatagramSize) {
    expect_malformed(bytes({}), "empty");
    expect_malformed(bytes({0x00, 0x18}), "Length");                    // Length 0
    expect_malformed(bytes({0x05, 0x18, 0x00, 0x10}), "Length");        // Length 5, 4 octets
    expect_malformed(bytes({0x03, 0x18, 0x00, 0x10}), "Length");        // Length 3, 4 octets
    expect_malformed(bytes({0x02}), "MsgType");                         // no MsgType
    expect_malformed(bytes({0x01, 0x00}), "3-octet");                   // cut inside the 3-octet Length
    expect_malformed(bytes({0x01, 0x00, 0x03}), "MsgType");             // 3-octet Length, no MsgType
    expect_malformed(bytes({0x01, 0x00, 0x03, 0x18}), "Length");        // 3-octet Length 3 < 4
    expect_malformed(bytes({0x01, 0x00, 0x05, 0x18}), "Length");        // 3-octet Length 5, 4 octets
    expect_malformed(bytes({0x01, 0x01, 0x00, 0x18, 0x00}), "Length");  // 3-octet Length 256, 5 octets
}

TEST(SnMalformed, UnknownMsgType) {
    for (const int type : {0x03, 0x11, 0x19, 0x1E, 0x80, 0xFD, 0xFF}) {
        SCOPED_TRACE(type);
        expect_malformed(bytes({0x02, type}), "unknown MsgType");
    }
}

TEST(SnMalformed, MissingFields) {
    expect_malformed(bytes({0x04, 0x00, 0x07, 0x03}), "too short");                    // ADVERTISE, Duration cut
    expect_malformed(bytes({0x02, 0x01}), "too short");                                // SEARCHGW, no Radius
    expect_malformed(bytes({0x02, 0x02}), "too short");                                // GWINFO, no GwId
    expect_malformed(bytes({0x05, 0x04, 0x00, 0x01, 0x00}), "too short");              // CONNECT, Duration cut
    expect_malformed(bytes({0x02, 0x05}), "too short");                                // CONNACK, no ReturnCode
    expect_malformed(bytes({0x06, 0x0A, 0x00, 0x00, 0x00, 0x01}), "topic name");      // REGISTER, no TopicName
    expect_malformed(bytes({0x06, 0x0B, 0x00, 0x05, 0x00, 0x01}), "too short");        // REGACK, no ReturnCode
    expect_malformed(bytes({0x06, 0x0C, 0x00, 0x00, 0x01, 0x00}), "too short");        // PUBLISH, MsgId cut
    expect_malformed(bytes({0x06, 0x0D, 0x00, 0x05, 0x00, 0x01}), "too short");        // PUBACK, no ReturnCode
    expect_malformed(bytes({0x03, 0x0F, 0x00}), "too short");                          // PUBREC, MsgId cut
    expect_malformed(bytes({0x05, 0x12, 0x00, 0x00, 0x01}), "topic name");             // SUBSCRIBE, no TopicName
    expect_malformed(bytes({0x07, 0x13, 0x00, 0x00, 0x09, 0x00, 0x01}), "too short");  // SUBACK, no ReturnCode
    expect_malformed(bytes({0x05, 0x14, 0x00, 0x00, 0x01}), "topic name");             // UNSUBSCRIBE, no TopicName
    expect_malformed(bytes({0x02, 0x1B}), "too short");                                // WILLTOPICRESP, no code
}

TEST(SnMalformed, ExtraOctets) {
    expect_malformed(bytes({0x06, 0x00, 0x07, 0x00, 0x01, 0x00}), "extra");        // ADVERTISE + 1
    expect_malformed(bytes({0x04, 0x05, 0x00, 0x00}), "extra");                    // CONNACK + 1
    expect_malformed(bytes({0x03, 0x06, 0x00}), "extra");                          // WILLTOPICREQ + 1
    expect_malformed(bytes({0x05, 0x10, 0x00, 0x01, 0x00}), "extra");              // PUBREL + 1
    expect_malformed(bytes({0x03, 0x17, 0x00}), "extra");                          // PINGRESP + 1
    expect_malformed(bytes({0x05, 0x18, 0x00, 0x01, 0x00}), "extra");              // DISCONNECT, Length 5
    expect_malformed(bytes({0x08, 0x12, 0x01, 0x00, 0x01, 0x00, 0x02, 0x00}), "extra");  // predefined id + 1
}

TEST(SnMalformed, DisconnectOfLength3) {
    expect_malformed(bytes({0x03, 0x18, 0x00}), "DISCONNECT of Length 3");
}

TEST(SnMalformed, ReservedTopicIdType) {
    expect_malformed(bytes({0x07, 0x0C, 0x03, 0x00, 0x01, 0x00, 0x00}), "TopicIdType");  // PUBLISH
    expect_malformed(bytes({0x06, 0x12, 0x03, 0x00, 0x01, 'a'}), "TopicIdType");         // SUBSCRIBE
    expect_malformed(bytes({0x06, 0x14, 0x03, 0x00, 0x01, 'a'}), "TopicIdType");         // UNSUBSCRIBE
    expect_malformed(bytes({0x07, 0x04, 0x07, 0x01, 0x00, 0x00, 'c'}), "TopicIdType");   // CONNECT
}

TEST(SnMalformed, QosMinusOneOnlyInPublish) {
    expect_malformed(bytes({0x06, 0x12, 0x60, 0x00, 0x01, 'a'}), "QoS -1");                // SUBSCRIBE
    expect_malformed(bytes({0x08, 0x13, 0x60, 0x00, 0x00, 0x00, 0x01, 0x00}), "QoS -1");  // SUBACK
    expect_malformed(bytes({0x06, 0x14, 0x60, 0x00, 0x01, 'a'}), "QoS -1");                // UNSUBSCRIBE
    expect_malformed(bytes({0x07, 0x04, 0x60, 0x01, 0x00, 0x00, 'c'}), "QoS -1");          // CONNECT
    expect_malformed(bytes({0x04, 0x07, 0x60, 'w'}), "QoS -1");                            // WILLTOPIC
    expect_malformed(bytes({0x04, 0x1A, 0x60, 'w'}), "QoS -1");                            // WILLTOPICUPD
}

TEST(SnMalformed, ProtocolIdMustBe1) {
    for (const int id : {0x00, 0x02, 0x03, 0xFF}) {
        SCOPED_TRACE(id);
        expect_malformed(bytes({0x07, 0x04, 0x00, id, 0x00, 0x00, 'c'}), "ProtocolId");
    }
}

TEST(SnMalformed, ReservedReturnCode) {
    expect_malformed(bytes({0x03, 0x05, 0x04}), "ReturnCode");                          // CONNACK
    expect_malformed(bytes({0x07, 0x0D, 0x00, 0x01, 0x00, 0x01, 0xFF}), "ReturnCode");  // PUBACK
    expect_malformed(bytes({0x03, 0x1D, 0x80}), "ReturnCode");                          // WILLMSGRESP
}

TEST(SnMalformed, ShortTopicIsExactlyTwoOctets) {
    expect_malformed(bytes({0x06, 0x12, 0x02, 0x00, 0x01, 'a'}), "2 octets");            // SUBSCRIBE, 1 octet
    expect_malformed(bytes({0x08, 0x14, 0x02, 0x00, 0x01, 'a', 'b', 'c'}), "2 octets");  // UNSUBSCRIBE, 3 octets
    expect_malformed(bytes({0x06, 0x12, 0x01, 0x00, 0x01, 0x00}), "too short");         // predefined, 1 octet
}

TEST(SnMalformed, TextMustBeUtf8) {
    expect_malformed(bytes({0x07, 0x04, 0x00, 0x01, 0x00, 0x00, 0xC3}), "UTF-8");         // CONNECT ClientId
    expect_malformed(bytes({0x07, 0x0A, 0x00, 0x00, 0x00, 0x01, 0xFF}), "UTF-8");         // REGISTER TopicName
    expect_malformed(bytes({0x08, 0x0A, 0x00, 0x00, 0x00, 0x01, 'a', 0x00}), "UTF-8");    // U+0000 in a name
    expect_malformed(bytes({0x08, 0x12, 0x00, 0x00, 0x01, 0xED, 0xA0, 0x80}), "UTF-8");  // a surrogate
    expect_malformed(bytes({0x07, 0x12, 0x02, 0x00, 0x01, 'a', 0x00}), "UTF-8");          // short name with U+0000
    expect_malformed(bytes({0x06, 0x14, 0x00, 0x00, 0x01, 0x80}), "UTF-8");               // UNSUBSCRIBE TopicName
    expect_malformed(bytes({0x03, 0x16, 0xC0}), "UTF-8");                                 // PINGREQ ClientId
    expect_malformed(bytes({0x04, 0x07, 0x00, 0xFE}), "UTF-8");                           // WILLTOPIC
    expect_malformed(bytes({0x04, 0x1A, 0x00, 0xFE}), "UTF-8");                           // WILLTOPICUPD
}

TEST(SnMalformed, BinaryFieldsTakeAnyOctets) {  // the counterpart: GwAdd, Data and WillMsg are not text
    EXPECT_EQ(decode(bytes({0x04, 0x02, 0x01, 0xFF})).status, DecodeStatus::Ok);
    EXPECT_EQ(decode(bytes({0x08, 0x0C, 0x00, 0x00, 0x01, 0x00, 0x00, 0xFF})).status, DecodeStatus::Ok);
    EXPECT_EQ(decode(bytes({0x03, 0x09, 0x00})).status, DecodeStatus::Ok);
    EXPECT_EQ(decode(bytes({0x03, 0x1C, 0xC0})).status, DecodeStatus::Ok);
}

// Section 5.5: the Length of the encapsulation covers its header only; the inner message has its own.
TEST(SnMalformed, Encapsulation) {
    expect_malformed(bytes({0x04, 0xFE, 0x00, 0x01}), "inner message");                  // nothing inside
    expect_malformed(bytes({0x03, 0xFE, 0x00, 0x02, 0x18}), "Wireless Node Id");          // no node id
    expect_malformed(bytes({0x02, 0xFE, 0x02, 0x18}), "Wireless Node Id");                // no Ctrl
    expect_malformed(bytes({0x09, 0xFE, 0x00, 0x01, 0x02, 0x18}), "inner message");       // header past the end
    expect_malformed(bytes({0x04, 0xFE, 0x00, 0x01, 0x03, 0x18}), "Length");              // inner Length 3, 2 octets
    expect_malformed(bytes({0x04, 0xFE, 0x00, 0x01, 0x02, 0x18, 0x00}), "Length");        // inner Length 2, 3 octets
    expect_malformed(bytes({0x04, 0xFE, 0x00, 0x01, 0x00, 0x18}), "Length");              // inner Length 0
    expect_malformed(bytes({0x04, 0xFE, 0x00, 0x01, 0x03, 0x05, 0x07}), "ReturnCode");    // inner error is reported
    expect_malformed(bytes({0x04, 0xFE, 0x00, 0x01, 0x02, 0x03}), "unknown MsgType");     // inner unknown type
    expect_malformed(bytes({0x04, 0xFE, 0x00, 0x01,                                       // encapsulation ...
                            0x04, 0xFE, 0x00, 0x01, 0x02, 0x18}),                         // ... of an encapsulation
                     "encapsulated message inside");
}

TEST(SnMalformed, EncapsulationWithThe3OctetLengthIsAccepted) {  // liberal, as for any message
    const auto r = decode(bytes({0x01, 0x00, 0x06, 0xFE, 0x01, 0x2A,  // Length 6 (3-octet form), Ctrl 1, node 0x2A
                                 0x02, 0x17}));                       // PINGRESP
    ASSERT_EQ(r.status, DecodeStatus::Ok) << r.message;
    EXPECT_TRUE(std::holds_alternative<PingResp>(r.packet));
    EXPECT_EQ(r.forwarder, (Forwarder{.ctrl = 1, .node_id = bytes({0x2A})}));
}

// Every datagram of up to 3 octets, every one: only the valid ones decode, and nothing reads past the end.
TEST(SnMalformed, EveryShortDatagram) {
    std::size_t ok = 0;
    for (int a = 0; a < 256; ++a) {
        for (int b = 0; b < 256; ++b) {
            const auto two = bytes({a, b});
            if (decode(two).status == DecodeStatus::Ok) ++ok;
            for (const int c : {0x00, 0x01, 0x20, 0x7F, 0xFF}) {
                const auto r = decode(bytes({a, b, c}));
                if (r.status == DecodeStatus::Malformed) {
                    EXPECT_FALSE(r.message.empty());
                }
            }
        }
    }
    // Length 2 is valid for WILLTOPICREQ, WILLTOPIC, WILLMSGREQ, WILLMSG, PINGREQ, PINGRESP, DISCONNECT,
    // WILLTOPICUPD, WILLMSGUPD.
    EXPECT_EQ(ok, 9U);
}

}  // namespace
}  // namespace moth::mqttsn
