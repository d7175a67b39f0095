// Malformed and forbidden input, sent as raw bytes after a valid CONNECT, against the real mothd. A 5.0 client
// gets a DISCONNECT with the reason code and then the connection is closed (5.0 section 4.13: the server SHOULD
// send the DISCONNECT, MUST close; Moth sends it); a 3.1.1 client's connection is just closed, since 3.1.1 has
// no server DISCONNECT ([MQTT-4.8.0-1] (3.1.1)). A misbehaving client does not disturb the others, and
// packets split across writes or packed into one write are read correctly.
//
// Statement ids: "(3.1.1)" and "(5.0)" mark ids whose numbering differs between the two specifications.

#include <algorithm>
#include <ostream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "broker_test_util.hpp"

namespace moth::test {
namespace {

using Bytes = std::vector<std::byte>;

class BrokerBadInputTest : public BrokerFixture {};

// The body of a PUBLISH after the topic: the packet id for QoS > 0, then (5.0) an empty property block.
Bytes publish_packet(ProtocolVersion v, int first_byte, const Bytes& topic_field, const Bytes& packet_id = {},
                     const Bytes& payload = to_bytes({'x'})) {
    Bytes props = v == kV5 ? to_bytes({0x00}) : Bytes{};
    return raw_packet(first_byte, concat(topic_field, packet_id, props, payload));
}

Bytes subscribe_packet(ProtocolVersion v, int first_byte, std::string_view filter, int options) {
    Bytes props = v == kV5 ? to_bytes({0x00}) : Bytes{};
    return raw_packet(first_byte, concat(to_bytes({0x00, 0x01}), props, raw_string(filter), to_bytes({options})));
}

struct BadInput {
    std::string name;
    std::string statement;               // the rule broken, for failure messages
    Bytes (*make)(ProtocolVersion);      // the bytes, for the client's version
    std::vector<ReasonCode> v5_reasons;  // acceptable DISCONNECT reasons in 5.0
};

const std::vector<BadInput>& bad_inputs() {
    using RC = ReasonCode;
    static const std::vector<BadInput> cases = {
        {"SubscribeReservedFlags",
         "[MQTT-3.8.1-1], [MQTT-2.2.2-2] (3.1.1) / [MQTT-2.1.3-1] (5.0)",
         [](ProtocolVersion v) { return subscribe_packet(v, 0x80, "a", 0); },
         {RC::MalformedPacket}},
        {"UnsubscribeReservedFlags",
         "[MQTT-3.10.1-1]",
         [](ProtocolVersion v) {
             Bytes props = v == kV5 ? to_bytes({0x00}) : Bytes{};
             return raw_packet(0xA0, concat(to_bytes({0x00, 0x01}), props, raw_string("a")));
         },
         {RC::MalformedPacket}},
        {"PubrelReservedFlags",
         "[MQTT-3.6.1-1]",
         [](ProtocolVersion) {
             return to_bytes({0x60, 0x02, 0x00, 0x01});
         },
         {RC::MalformedPacket}},
        {"PingreqReservedFlags",
         "[MQTT-2.2.2-2] (3.1.1) / [MQTT-2.1.3-1] (5.0)",
         [](ProtocolVersion) {
             return to_bytes({0xC1, 0x00});
         },
         {RC::MalformedPacket}},
        {"DisconnectReservedFlags",
         "[MQTT-3.14.1-1]",
         [](ProtocolVersion) {
             return to_bytes({0xE1, 0x00});
         },
         {RC::MalformedPacket}},
        {"PublishQos3",
         "[MQTT-3.3.1-4]",
         [](ProtocolVersion v) {
             return publish_packet(v, 0x36, raw_string("a"), to_bytes({0x00, 0x01}));
         },
         {RC::MalformedPacket}},
        {"PacketType0",
         "packet type 0 is reserved (3.1.1 section 2.2.1, 5.0 section 2.1.2)",
         [](ProtocolVersion) {
             return to_bytes({0x00, 0x00});
         },
         {RC::MalformedPacket}},
        {"RemainingLengthOverFourBytes",
         "Remaining Length is at most 4 bytes (3.1.1 section 2.2.3, 5.0 section 1.5.5)",
         [](ProtocolVersion) {
             return to_bytes({0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F});
         },
         {RC::MalformedPacket}},
        {"StringPastEndOfPacket",
         "a field longer than the Remaining Length (5.0 section 4.13.1)",
         [](ProtocolVersion) {
             return to_bytes({0x30, 0x03, 0x00, 0x0A, 'a'});
         },
         {RC::MalformedPacket}},
        {"InvalidUtf8Topic",
         "[MQTT-1.5.3-1] (3.1.1) / [MQTT-1.5.4-1] (5.0)",
         [](ProtocolVersion v) { return publish_packet(v, 0x30, raw_string("a/\xff")); },
         {RC::MalformedPacket}},
        {"SurrogateInTopic",
         "[MQTT-1.5.3-1] (3.1.1) / [MQTT-1.5.4-1] (5.0)",
         [](ProtocolVersion v) { return publish_packet(v, 0x30, raw_string("a/\xed\xa0\x80")); },
         {RC::MalformedPacket}},
        {"NullCharacterInTopic",
         "[MQTT-1.5.3-2] (3.1.1) / [MQTT-1.5.4-2] (5.0)",
         [](ProtocolVersion v) { return publish_packet(v, 0x30, raw_string(std::string("a\0b", 3))); },
         {RC::MalformedPacket}},
        // 0x81 per the codec; 0x90 (Topic Name invalid) would also be a fair reading of 5.0 section 3.3.2.1.
        {"SingleLevelWildcardInTopicName",
         "[MQTT-3.3.2-2], [MQTT-4.7.1-1] (3.1.1) / [MQTT-4.7.0-1] (5.0)",
         [](ProtocolVersion v) { return publish_packet(v, 0x30, raw_string("a/+")); },
         {RC::MalformedPacket, RC::TopicNameInvalid}},
        {"MultiLevelWildcardInTopicName",
         "[MQTT-3.3.2-2]",
         [](ProtocolVersion v) {
             return publish_packet(v, 0x32, raw_string("a/#"), to_bytes({0x00, 0x01}));
         },
         {RC::MalformedPacket, RC::TopicNameInvalid}},
        {"EmptyTopicName",
         "[MQTT-4.7.3-1]; 5.0 section 3.3.2.3.4 (no Topic Alias: Protocol Error)",
         [](ProtocolVersion v) { return publish_packet(v, 0x30, raw_string("")); },
         {RC::ProtocolError, RC::MalformedPacket}},
        {"PublishPacketIdZero",
         "[MQTT-2.3.1-1] (3.1.1) / [MQTT-2.2.1-3] (5.0)",
         [](ProtocolVersion v) {
             return publish_packet(v, 0x32, raw_string("a"), to_bytes({0x00, 0x00}));
         },
         {RC::ProtocolError, RC::MalformedPacket}},
        {"SubscribeWithoutFilters",
         "[MQTT-3.8.3-3] (3.1.1) / [MQTT-3.8.3-2] (5.0)",
         [](ProtocolVersion v) {
             return v == kV5 ? to_bytes({0x82, 0x03, 0x00, 0x01, 0x00}) : to_bytes({0x82, 0x02, 0x00, 0x01});
         },
         {RC::ProtocolError, RC::MalformedPacket}},
        // 3.1.1 treats it as malformed; 5.0 section 3.8.3.1: "It is a Protocol Error if the Maximum QoS field has the
        // value 3".
        {"SubscribeRequestedQos3",
         "[MQTT-3-8.3-4] (3.1.1) / section 3.8.3.1 (5.0)",
         [](ProtocolVersion v) { return subscribe_packet(v, 0x82, "a", 0x03); },
         {RC::ProtocolError}},
        {"SubscribeOptionsReservedBits",
         "[MQTT-3-8.3-4] (3.1.1) / [MQTT-3.8.3-5] (5.0)",
         [](ProtocolVersion v) { return subscribe_packet(v, 0x82, "a", 0xC1); },
         {RC::MalformedPacket}},
        {"SubscribeInvalidUtf8Filter",
         "[MQTT-3.8.3-1]",
         [](ProtocolVersion v) { return subscribe_packet(v, 0x82, "a/\xc0\xaf", 0x00); },
         {RC::MalformedPacket}},
        {"ServerOnlyPacketConnack",
         "CONNACK flows from server to client only (3.1.1 section 3.2, 5.0 section 3.2)",
         [](ProtocolVersion) {
             return to_bytes({0x20, 0x02, 0x00, 0x00});
         },
         {RC::ProtocolError, RC::MalformedPacket}},
    };
    return cases;
}

struct BadInputCase {
    std::size_t index;
    ProtocolVersion version;
};

void PrintTo(const BadInputCase& c, std::ostream* os) {
    *os << bad_inputs()[c.index].name << " over MQTT " << codec::protocol_version_name(c.version);
}

class BrokerBadInputCaseTest : public BrokerFixture, public ::testing::WithParamInterface<BadInputCase> {};

TEST_P(BrokerBadInputCaseTest, ConnectionClosedWithReason) {
    const auto& bad = bad_inputs()[GetParam().index];
    const ProtocolVersion v = GetParam().version;
    SCOPED_TRACE(bad.name + ": " + bad.statement);
    start();
    auto c = connected_client(v, "bad");
    const Bytes bytes = bad.make(v);
    c->send_raw(bytes);
    if (v == kV5) {
        auto d = c->expect<codec::Disconnect>();
        EXPECT_NE(std::find(bad.v5_reasons.begin(), bad.v5_reasons.end(), d->reason), bad.v5_reasons.end())
            << "sent [" << hex_dump(bytes) << "], got " << d.received().describe();
        EXPECT_TRUE(c->wait_closed()) << "still open after the DISCONNECT";
    } else {
        EXPECT_TRUE(c->wait_closed()) << "sent [" << hex_dump(bytes) << "]; the connection stayed open";
        EXPECT_EQ(c->dropped_count(), 0U) << c->dropped();
    }
}

std::vector<BadInputCase> all_bad_input_cases() {
    std::vector<BadInputCase> out;
    for (std::size_t i = 0; i < bad_inputs().size(); ++i) {
        out.push_back({i, kV311});
        out.push_back({i, kV5});
    }
    return out;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BrokerBadInputCaseTest, ::testing::ValuesIn(all_bad_input_cases()),
    [](const ::testing::TestParamInfo<BadInputCase>& param_info) {
        return bad_inputs()[param_info.param.index].name + version_suffix({param_info.param.version, 0});
    });

// 5.0 section 3.2.2.3.6 with the default 1 MiB limit: a PUBLISH announcing a 100 MB Remaining Length is refused
// with DISCONNECT 0x95 (Packet too large) as soon as its fixed header is in, without waiting for the body.
TEST_F(BrokerBadInputTest, Mqtt5AnnouncedOversizePacketRefusedBeforeBody) {
    start();
    auto c = connected_client(kV5, "huge");
    // 100'000'000 = 0x05F5E100 -> varint 80 C2 D7 2F
    c->send_raw(to_bytes({0x30, 0x80, 0xC2, 0xD7, 0x2F, 0x00, 0x01, 'a'}));
    auto d = c->expect<codec::Disconnect>();
    EXPECT_EQ(d->reason, ReasonCode::PacketTooLarge);
    EXPECT_TRUE(c->wait_closed());
}

// 3.1.1 with [limits] max_packet_size = 1024: a larger PUBLISH closes the connection (3.1.1 has no way to say why).
TEST_F(BrokerBadInputTest, Mqtt311OversizePacketClosesConnection) {
    start("[limits]\nmax_packet_size = 1024\n");
    auto c = connected_client(kV311, "oversize");
    c->publish("big/t", std::string(1000, 'y'), QoS::AtLeastOnce);
    c->publish("big/t", std::string(2000, 'y'), QoS::AtMostOnce);
    EXPECT_TRUE(c->wait_closed());
    EXPECT_EQ(c->dropped_count(), 0U) << c->dropped();
}

// A client that sends garbage (before CONNECT, after CONNECT, or half a packet and then vanishes) loses only its
// own connection: a subscriber on another connection keeps receiving, and new clients can still connect.
TEST_F(BrokerBadInputTest, BadClientsDoNotAffectOthers) {
    start();
    auto sub = connected_client(kV5, "good");
    sub->subscribe("good/t", QoS::AtLeastOnce);
    auto pub = connected_client(kV311, "pub");
    pub->publish("good/t", "before", QoS::AtLeastOnce);

    auto noise = tcp_client(kV311, "noise");
    noise->send_raw(to_bytes({'G', 'E', 'T', ' ', '/', ' ', 'H', 'T', 'T', 'P', '/', '1', '.', '1', '\r', '\n'}));
    auto broken = connected_client(kV5, "broken");
    broken->send_raw(to_bytes({0xF0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}));
    auto half = connected_client(kV311, "half");
    half->send_raw(to_bytes({0x30, 0x40, 0x00, 0x05, 'g', 'o'}));
    half->close_abruptly();
    EXPECT_TRUE(noise->wait_closed());
    EXPECT_TRUE(broken->wait_closed());

    pub->publish("good/t", "after", QoS::AtLeastOnce);
    EXPECT_EQ(payload_of(*sub->receive_message()), "before");
    EXPECT_EQ(payload_of(*sub->receive_message()), "after");
    auto late = connected_client(kV5, "late");
    late->ping();
    for (auto* c : {sub.get(), pub.get(), late.get()}) c->disconnect();
}

// The broker reassembles packets that arrive one byte per write: CONNECT, SUBSCRIBE and PUBLISH all byte by byte.
TEST_F(BrokerBadInputTest, PacketsSplitIntoSingleBytesAreReassembled) {
    start();
    auto sub = tcp_client(kV5, "trickle");
    std::vector<std::byte> wire;
    codec::Connect connect;
    connect.client_id = "trickle";
    ASSERT_TRUE(codec::encode_append(connect, kV5, wire).has_value());
    sub->send_bytewise(wire);
    EXPECT_EQ(sub->expect<codec::Connack>()->reason, ReasonCode::Success);

    wire.clear();
    codec::Subscribe s;
    s.packet_id = 7;
    const codec::Subscription subs[] = {{"trickle/t", sub_options(QoS::AtLeastOnce)}};
    s.subscriptions = subs;
    ASSERT_TRUE(codec::encode_append(s, kV5, wire).has_value());
    sub->send_bytewise(wire);
    auto suback = sub->expect<codec::Suback>();
    EXPECT_EQ(suback->packet_id, 7);

    auto pub = connected_client(kV311, "pub");
    wire.clear();
    codec::Publish p;
    p.topic = "trickle/t";
    p.payload = as_bytes("one byte at a time");
    p.qos = QoS::AtLeastOnce;
    p.packet_id = 9;
    ASSERT_TRUE(codec::encode_append(p, kV311, wire).has_value());
    pub->send_bytewise(wire);
    EXPECT_EQ(pub->expect<codec::Puback>()->packet_id, 9);
    EXPECT_EQ(payload_of(*sub->receive_message()), "one byte at a time");
    sub->disconnect();
    pub->disconnect();
}

// Several packets in one write are all processed, in order: CONNECT, SUBSCRIBE, PUBLISH (to itself), PINGREQ.
TEST_F(BrokerBadInputTest, SeveralPacketsInOneWrite) {
    start();
    auto c = tcp_client(kV311, "batch");
    std::vector<std::byte> wire;
    codec::Connect connect;
    connect.version = kV311;
    connect.client_id = "batch";
    codec::Subscribe s;
    s.packet_id = 1;
    const codec::Subscription subs[] = {{"batch/t", sub_options(QoS::AtLeastOnce)}};
    s.subscriptions = subs;
    codec::Publish p;
    p.topic = "batch/t";
    p.payload = as_bytes("batched");
    p.qos = QoS::AtLeastOnce;
    p.packet_id = 2;
    for (const codec::Packet& packet :
         {codec::Packet{connect}, codec::Packet{s}, codec::Packet{p}, codec::Packet{codec::Pingreq{}}}) {
        ASSERT_TRUE(codec::encode_append(packet, kV311, wire).has_value());
    }
    c->send_raw(wire);
    EXPECT_EQ(c->expect<codec::Connack>()->reason, ReasonCode::Success);
    EXPECT_EQ(c->expect<codec::Suback>()->packet_id, 1);
    // The PUBACK and the delivery of the message to this same client may come in either order; the PINGRESP
    // comes after the PUBACK.
    bool puback = false;
    bool delivered = false;
    bool pingresp = false;
    while (!(puback && delivered && pingresp)) {
        auto r = c->receive();
        ASSERT_NE(r, nullptr);
        if (r->is<codec::Puback>()) {
            EXPECT_EQ(r->as<codec::Puback>().packet_id, 2);
            puback = true;
        } else if (r->is<codec::Publish>()) {
            EXPECT_EQ(payload_of(r->as<codec::Publish>()), "batched");
            c->ack(r->as<codec::Publish>());
            delivered = true;
        } else {
            ASSERT_TRUE(r->is<codec::Pingresp>() && puback) << "out of order: " << r->describe();
            pingresp = true;
        }
    }
    c->disconnect();
}

}  // namespace
}  // namespace moth::test
