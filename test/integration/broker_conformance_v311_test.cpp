// MQTT 3.1.1 normative statements checked against the real mothd, one test per statement or per small group of
// statements that one exchange shows. Each test names the ids it checks (3.1.1 numbering); docs/conformance.md
// points back here.
//
// Where a check is "nothing arrives", it is backed by a positive control: a marker message published afterwards
// that must arrive first, or a PINGREQ whose PINGRESP must be the next packet.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "broker_test_util.hpp"

namespace moth::test {
namespace {

using Bytes = std::vector<std::byte>;

class ConformanceV311Test : public BrokerFixture {};

// A 3.1.1 CONNECT written by hand: protocol name, level 4, `flags`, keep alive 0, then `payload`.
Bytes v311_connect(int flags, const Bytes& payload) {
    return raw_packet(0x10, concat(raw_string("MQTT"), to_bytes({0x04, flags, 0x00, 0x00}), payload));
}

Bytes text(std::string_view s) {
    const auto b = as_bytes(s);
    return {b.begin(), b.end()};
}

codec::Publish publish_packet(std::string_view topic, std::string_view payload, QoS qos, std::uint16_t id) {
    codec::Publish p;
    p.topic = topic;
    p.payload = as_bytes(payload);
    p.qos = qos;
    p.packet_id = qos == QoS::AtMostOnce ? 0 : id;
    return p;
}

// [MQTT-2.3.1-5]: a QoS 0 PUBLISH carries no Packet Identifier: the subscriber gets exactly fixed header, topic,
// payload.
TEST_F(ConformanceV311Test, Qos0PublishHasNoPacketIdentifier) {
    start();
    auto sub = connected_client(kV311, "sub");
    sub->subscribe("q0/t", QoS::ExactlyOnce);
    auto pub = connected_client(kV311, "pub");
    pub->publish("q0/t", "hi", QoS::AtMostOnce);
    auto got = sub->expect<codec::Publish>();
    EXPECT_EQ(got.received().bytes, raw_packet(0x30, concat(raw_string("q0/t"), text("hi"))))
        << got.received().describe();
}

// [MQTT-2.3.1-6]: PUBACK, PUBREC and PUBREL (and PUBCOMP) carry the Packet Identifier of the PUBLISH / PUBREC;
// [MQTT-2.3.1-7], [MQTT-3.8.4-2]: SUBACK and UNSUBACK that of the SUBSCRIBE / UNSUBSCRIBE.
TEST_F(ConformanceV311Test, AcknowledgementsEchoPacketIdentifiers) {
    start();
    auto c = connected_client(kV311, "acker");
    const std::vector<codec::Subscription> subs = {{"ack/t", sub_options(QoS::ExactlyOnce)}};
    codec::Subscribe s;
    s.packet_id = 0x4321;
    s.subscriptions = subs;
    c->send(s);
    auto suback = c->expect<codec::Suback>();
    EXPECT_EQ(suback->packet_id, 0x4321);
    const std::vector<std::string_view> filters = {"never/subscribed"};
    codec::Unsubscribe u;
    u.packet_id = 0x5678;
    u.filters = filters;
    c->send(u);
    EXPECT_EQ(c->expect<codec::Unsuback>()->packet_id, 0x5678);

    auto pub = connected_client(kV311, "pub");
    pub->send(publish_packet("ack/t", "one", QoS::AtLeastOnce, 0x1234));
    EXPECT_EQ(pub->expect<codec::Puback>()->packet_id, 0x1234);
    pub->send(publish_packet("ack/t", "two", QoS::ExactlyOnce, 0xABCD));
    EXPECT_EQ(pub->expect<codec::Pubrec>()->packet_id, 0xABCD);
    pub->send(ack_packet<codec::Pubrel>(0xABCD));
    EXPECT_EQ(pub->expect<codec::Pubcomp>()->packet_id, 0xABCD);

    // The server's PUBREL for the subscriber's PUBREC.
    auto m1 = c->expect<codec::Publish>();
    c->ack(*m1);
    auto m2 = c->expect<codec::Publish>();
    ASSERT_EQ(m2->qos, QoS::ExactlyOnce);
    c->ack(*m2);
    EXPECT_EQ(c->expect<codec::Pubrel>()->packet_id, m2->packet_id);
    c->send(ack_packet<codec::Pubcomp>(m2->packet_id));
    c->ping();
}

// [MQTT-3.1.2.7]: retained messages are not part of the Session State: discarding the session of the client that
// published one (reconnect with CleanSession 1) leaves it in place for a later subscriber.
TEST_F(ConformanceV311Test, RetainedMessagesOutliveTheSession) {
    start();
    {
        auto c = connected_client(kV311, persistent_session("owner", kV311));
        c->publish("keep/t", "retained", QoS::AtLeastOnce, true);
        c->disconnect();
    }
    {
        auto c = tcp_client(kV311, "owner");
        EXPECT_FALSE(c->connect(clean_session("owner"))->session_present);
        c->disconnect();  // CleanSession 1: the session ends here
    }
    auto sub = connected_client(kV311, "sub");
    sub->subscribe("keep/t", QoS::AtLeastOnce);
    auto m = sub->receive_message();
    EXPECT_EQ(payload_of(*m), "retained");
    EXPECT_TRUE(m->retain);
}

// [MQTT-3.1.2-12]: without the Will Flag no Will Message is published when the connection breaks. The same
// ClientID then connects with a Will and breaks too: its Will (the positive control) is the first message.
TEST_F(ConformanceV311Test, NoWillWithoutWillFlag) {
    start();
    auto sub = connected_client(kV311, "sub");
    sub->subscribe("#", QoS::AtLeastOnce);
    {
        auto c = connected_client(kV311, "mortal");
        c->close_abruptly();
    }
    // The CONNECT of the same ClientID is handled after the first connection is gone or taken over, so whatever
    // Will it could have had was published before this CONNACK.
    auto c = tcp_client(kV311, "mortal");
    ConnectOptions o = clean_session("mortal");
    WillOptions w;
    w.topic = "will/mortal";
    w.payload = "control";
    o.will = w;
    c->connect(o);
    c->close_abruptly();
    auto m = sub->receive_message();
    EXPECT_EQ(topic_of(*m), "will/mortal") << "a message was published for the connection without a Will";
    EXPECT_EQ(payload_of(*m), "control");
}

// [MQTT-3.1.2-17]: a Will with Will Retain 1 is published as a retained message.
TEST_F(ConformanceV311Test, WillRetainPublishesRetained) {
    start();
    auto live = connected_client(kV311, "live");
    live->subscribe("will/#", QoS::AtLeastOnce);
    {
        auto c = tcp_client(kV311, "dying");
        ConnectOptions o = clean_session("dying");
        WillOptions w;
        w.topic = "will/r";
        w.payload = "gone";
        w.qos = QoS::AtLeastOnce;
        w.retain = true;
        o.will = w;
        c->connect(o);
        c->close_abruptly();
    }
    EXPECT_EQ(payload_of(*live->receive_message()), "gone");
    auto late = connected_client(kV311, "late");
    late->subscribe("will/#", QoS::AtLeastOnce);
    auto m = late->receive_message();
    EXPECT_EQ(payload_of(*m), "gone");
    EXPECT_TRUE(m->retain);
}

// Malformed CONNECTs are closed without CONNACK, since 3.1.1 has no return code for them [MQTT-3.2.2-6]:
// [MQTT-3.1.2-18] a User Name without its flag, [MQTT-3.1.2-20] a Password without its flag, [MQTT-3.1.3-3] no
// ClientId, [MQTT-3.1.3-11] a User Name that is not UTF-8. The well-formed CONNECT is accepted.
TEST_F(ConformanceV311Test, MalformedConnectClosedWithoutConnack) {
    start();
    const std::vector<std::pair<std::string, Bytes>> bad = {
        {"user name without its flag", v311_connect(0x02, concat(raw_string("c1"), raw_string("user")))},
        {"password without its flag",
         v311_connect(0x82, concat(raw_string("c2"), raw_string("user"), raw_string("pw")))},
        {"no client id", v311_connect(0x02, {})},
        {"user name not UTF-8", v311_connect(0x82, concat(raw_string("c3"), raw_string("\xff\xfe")))},
    };
    for (const auto& [what, bytes] : bad) {
        SCOPED_TRACE(what);
        auto c = tcp_client(kV311, what);
        c->send_raw(bytes);
        EXPECT_TRUE(c->wait_closed()) << "the connection stayed open";
        EXPECT_EQ(c->dropped_count(), 0U) << "sent before closing: " << c->dropped();
    }
    auto good = tcp_client(kV311, "good");
    good->send_raw(v311_connect(0xC2, concat(raw_string("c4"), raw_string("user"), raw_string("pw"))));
    EXPECT_EQ(good->expect<codec::Connack>()->reason, ReasonCode::Success);
}

// [MQTT-3.1.3-2]: the ClientId identifies the Session: each of two persistent sessions gets back its own
// subscription and queued message; an unknown ClientId gets no session.
TEST_F(ConformanceV311Test, ClientIdIdentifiesTheSession) {
    start();
    for (const char* id : {"sess-a", "sess-b"}) {
        auto c = connected_client(kV311, persistent_session(id, kV311));
        c->subscribe(std::string("sid/") + id, QoS::AtLeastOnce);
        c->disconnect();
    }
    auto pub = connected_client(kV311, "pub");
    pub->publish("sid/sess-a", "for a", QoS::AtLeastOnce);
    pub->publish("sid/sess-b", "for b", QoS::AtLeastOnce);
    for (const char* id : {"sess-b", "sess-a"}) {
        SCOPED_TRACE(id);
        auto c = tcp_client(kV311, id);
        EXPECT_TRUE(c->connect(persistent_session(id, kV311))->session_present);
        EXPECT_EQ(payload_of(*c->receive_message()), std::string("for ") + std::string(id).substr(5));
        pub->publish(std::string("sid/") + id, "marker", QoS::AtLeastOnce);
        EXPECT_EQ(payload_of(*c->receive_message()), "marker") << "a message of the other session arrived";
        c->disconnect();
    }
    auto other = tcp_client(kV311, "sess-c");
    EXPECT_FALSE(other->connect(persistent_session("sess-c", kV311))->session_present);
}

// [MQTT-3.1.4-5]: after a refused CONNECT (zero-byte ClientId with CleanSession 0: return code 0x02) the server
// processes nothing that follows: a PUBLISH in the same write is not delivered (a marker comes first).
TEST_F(ConformanceV311Test, RefusedConnectStopsProcessing) {
    start();
    auto sub = connected_client(kV311, "sub");
    sub->subscribe("refused/t", QoS::AtMostOnce);
    auto c = tcp_client(kV311, "refused");
    c->send_raw(concat(v311_connect(0x00, raw_string("")),
                       raw_packet(0x30, concat(raw_string("refused/t"), text("leak")))));
    auto ack = c->expect<codec::Connack>();
    ASSERT_EQ(ack.received().bytes, to_bytes({0x20, 0x02, 0x00, 0x02})) << ack.received().describe();
    EXPECT_TRUE(c->wait_closed());
    auto pub = connected_client(kV311, "pub");
    pub->publish("refused/t", "marker", QoS::AtMostOnce);
    EXPECT_EQ(payload_of(*sub->receive_message()), "marker") << "the PUBLISH after the refused CONNECT was processed";
}

// [MQTT-3.3.1-3]: the DUP flag the server sends is independent of the incoming one: PUBLISH received with DUP 1
// (QoS 1 and 2) is forwarded with DUP 0.
TEST_F(ConformanceV311Test, OutgoingDupIsNotCopiedFromIncoming) {
    start();
    auto sub = connected_client(kV311, "sub");
    sub->subscribe("dup/t", QoS::ExactlyOnce);
    auto pub = connected_client(kV311, "pub");
    auto p1 = publish_packet("dup/t", "one", QoS::AtLeastOnce, 1);
    p1.dup = true;
    pub->send(p1);
    pub->expect<codec::Puback>();
    auto p2 = publish_packet("dup/t", "two", QoS::ExactlyOnce, 2);
    p2.dup = true;
    pub->send(p2);
    pub->expect<codec::Pubrec>();
    pub->send(ack_packet<codec::Pubrel>(2));
    pub->expect<codec::Pubcomp>();
    for (const char* want : {"one", "two"}) {
        auto got = sub->receive_message();
        EXPECT_EQ(payload_of(*got), want);
        EXPECT_FALSE(got->dup) << got.received().describe();
    }
}

// [MQTT-3.3.1-7]: a QoS 0 PUBLISH with RETAIN 1 replaces the retained message: a new subscriber gets it (QoS 0),
// not the earlier QoS 1 one.
TEST_F(ConformanceV311Test, Qos0RetainedReplacesRetained) {
    start();
    auto pub = connected_client(kV311, "pub");
    pub->publish("r0/t", "old", QoS::AtLeastOnce, true);
    pub->publish("r0/t", "new", QoS::AtMostOnce, true);
    pub->ping();  // the QoS 0 PUBLISH was processed before the PINGRESP
    auto sub = connected_client(kV311, "sub");
    sub->subscribe("r0/t", QoS::AtLeastOnce);
    auto m = sub->receive_message();
    EXPECT_EQ(payload_of(*m), "new");
    EXPECT_EQ(m->qos, QoS::AtMostOnce);
    EXPECT_TRUE(m->retain);
    pub->publish("r0/t", "marker", QoS::AtLeastOnce);
    EXPECT_EQ(payload_of(*sub->receive_message()), "marker") << "the old retained message was sent too";
}

// [MQTT-3.3.1-12]: a PUBLISH with RETAIN 0 neither stores, removes nor replaces a retained message.
TEST_F(ConformanceV311Test, RetainZeroLeavesRetainedMessagesAlone) {
    start();
    auto pub = connected_client(kV311, "pub");
    pub->publish("rz/a", "kept", QoS::AtLeastOnce, true);
    pub->publish("rz/a", "not retained", QoS::AtLeastOnce, false);
    pub->publish("rz/b", "not retained", QoS::AtLeastOnce, false);
    auto sub = connected_client(kV311, "sub");
    sub->subscribe("rz/#", QoS::AtLeastOnce);
    auto first = sub->receive_message();
    EXPECT_EQ(topic_of(*first), "rz/a");
    EXPECT_EQ(payload_of(*first), "kept");
    EXPECT_TRUE(first->retain);
    pub->publish("rz/marker", "marker", QoS::AtLeastOnce);
    EXPECT_EQ(payload_of(*sub->receive_message()), "marker");
}

// [MQTT-3.3.5-2]: a PUBLISH the client may not make ($SYS belongs to the broker) gets a positive acknowledgement
// (3.1.1 cannot say otherwise) and the connection stays usable.
TEST_F(ConformanceV311Test, UnauthorizedPublishAcknowledged) {
    start();
    auto c = connected_client(kV311, "intruder");
    EXPECT_EQ(c->publish("$SYS/x", "one", QoS::AtLeastOnce), ReasonCode::Success);
    EXPECT_EQ(c->publish("$SYS/x", "two", QoS::ExactlyOnce), ReasonCode::Success);
    c->ping();
}

// [MQTT-3.8.3-2]: a server without wildcard support rejects subscriptions with wildcards (0x80) and grants the
// others.
TEST_F(ConformanceV311Test, WildcardsRejectedWhenUnsupported) {
    start("[features]\nwildcard_subscriptions = false\n");
    auto c = connected_client(kV311, "sub");
    const auto codes = c->subscribe_many({{"nw/+", sub_options(QoS::AtLeastOnce)},
                                          {"nw/#", sub_options(QoS::AtLeastOnce)},
                                          {"nw/t", sub_options(QoS::AtLeastOnce)}});
    ASSERT_EQ(codes.size(), 3U);
    EXPECT_EQ(static_cast<int>(codes[0]), 0x80);
    EXPECT_EQ(static_cast<int>(codes[1]), 0x80);
    EXPECT_EQ(codes[2], ReasonCode::GrantedQoS1);
}

// [MQTT-3.10.4-6]: an UNSUBSCRIBE with several filters is handled as a sequence and answered with one UNSUBACK
// (the PINGRESP is next); the removed subscriptions deliver nothing more (a marker on the kept one comes first).
TEST_F(ConformanceV311Test, UnsubscribeSeveralFiltersOneUnsuback) {
    start();
    auto c = connected_client(kV311, "sub");
    c->subscribe_many({{"us/a", sub_options(QoS::AtLeastOnce)},
                       {"us/c", sub_options(QoS::AtLeastOnce)},
                       {"us/keep", sub_options(QoS::AtLeastOnce)}});
    const std::vector<std::string_view> filters = {"us/a", "us/b", "us/c"};
    codec::Unsubscribe u;
    u.packet_id = 77;
    u.filters = filters;
    c->send(u);
    EXPECT_EQ(c->expect<codec::Unsuback>()->packet_id, 77);
    c->ping();
    auto pub = connected_client(kV311, "pub");
    pub->publish("us/a", "a", QoS::AtLeastOnce);
    pub->publish("us/c", "c", QoS::AtLeastOnce);
    pub->publish("us/keep", "marker", QoS::AtLeastOnce);
    EXPECT_EQ(payload_of(*c->receive_message()), "marker");
}

// [MQTT-3.10.4-3]: deliveries already started complete after UNSUBSCRIBE: the QoS 2 flow goes on (PUBREC gets
// PUBREL) and an unacknowledged QoS 1 message is still sent again after a reconnect.
TEST_F(ConformanceV311Test, UnsubscribeCompletesStartedDeliveries) {
    start();
    auto pub = connected_client(kV311, "pub");
    std::uint16_t q1_id = 0;
    {
        auto s = connected_client(kV311, persistent_session("leaver", kV311));
        s->subscribe("ul/t", QoS::ExactlyOnce);
        pub->publish("ul/t", "q1", QoS::AtLeastOnce);
        pub->publish("ul/t", "q2", QoS::ExactlyOnce);
        auto a = s->expect<codec::Publish>();
        auto b = s->expect<codec::Publish>();
        q1_id = a->packet_id;
        s->unsubscribe("ul/t");
        s->ack(*b);
        EXPECT_EQ(s->expect<codec::Pubrel>()->packet_id, b->packet_id);
        s->send(ack_packet<codec::Pubcomp>(b->packet_id));
        s->close_abruptly();
    }
    auto s = tcp_client(kV311, "leaver");
    ASSERT_TRUE(s->connect(persistent_session("leaver", kV311))->session_present);
    auto again = s->expect<codec::Publish>();
    EXPECT_EQ(payload_of(*again), "q1");
    EXPECT_EQ(again->packet_id, q1_id);
    EXPECT_TRUE(again->dup);
    s->ack(*again);
    s->disconnect();
}

// [MQTT-4.1.0-2]: a CleanSession 1 session lasts as long as its connection: after 1.5 s connected and idle the
// subscription still delivers. [MQTT-4.1.0-1]: a CleanSession 0 session keeps its state across connections: an
// unacknowledged QoS 1 message (same identifier) and one queued while offline both arrive after reconnecting.
TEST_F(ConformanceV311Test, SessionStateKeptForTheWholeSession) {
    start();
    auto pub = connected_client(kV311, "pub");
    {
        auto c = connected_client(kV311, "clean");
        c->subscribe("ss/clean", QoS::AtLeastOnce);
        c->expect_silence(1500ms);
        pub->publish("ss/clean", "still here", QoS::AtLeastOnce);
        EXPECT_EQ(payload_of(*c->receive_message()), "still here");
    }
    std::uint16_t id = 0;
    {
        auto c = connected_client(kV311, persistent_session("kept", kV311));
        c->subscribe("ss/kept", QoS::AtLeastOnce);
        pub->publish("ss/kept", "inflight", QoS::AtLeastOnce);
        id = c->expect<codec::Publish>()->packet_id;
        c->close_abruptly();
    }
    pub->publish("ss/kept", "queued", QoS::AtLeastOnce);
    auto c = tcp_client(kV311, "kept");
    ASSERT_TRUE(c->connect(persistent_session("kept", kV311))->session_present);
    auto a = c->receive_message();
    EXPECT_EQ(payload_of(*a), "inflight");
    EXPECT_EQ(a->packet_id, id);
    EXPECT_EQ(payload_of(*c->receive_message()), "queued");
    c->disconnect();
}

// [MQTT-4.8.0-2]: an error on an inbound packet (a PUBLISH above the 1024-byte packet limit) closes that
// connection, and only that one.
TEST_F(ConformanceV311Test, PacketErrorClosesOnlyThatConnection) {
    start("[limits]\nmax_packet_size = 1024\n");
    auto sub = connected_client(kV311, "sub");
    sub->subscribe("big/t", QoS::AtLeastOnce);
    auto c = connected_client(kV311, "big");
    c->send(publish_packet("big/t", std::string(2000, 'x'), QoS::AtLeastOnce, 1));
    EXPECT_TRUE(c->wait_closed());
    EXPECT_EQ(c->dropped_count(), 0U) << c->dropped();
    auto pub = connected_client(kV311, "pub");
    pub->publish("big/t", "small", QoS::AtLeastOnce);
    EXPECT_EQ(payload_of(*sub->receive_message()), "small");
}

// [MQTT-7.1.1-1]: the transport is an ordered, lossless byte stream both ways: three PUBLISH in one write and one
// written a byte at a time arrive complete and in order.
TEST_F(ConformanceV311Test, PacketsReadInOrderHoweverSplit) {
    start();
    auto sub = connected_client(kV311, "sub");
    sub->subscribe("tr/t", QoS::AtLeastOnce);
    auto pub = connected_client(kV311, "pub");
    auto pk = [](std::string_view payload) { return raw_packet(0x30, concat(raw_string("tr/t"), text(payload))); };
    pub->send_raw(concat(pk("one"), pk("two"), pk("three")));
    pub->send_bytewise(pk("four"));
    for (const char* want : {"one", "two", "three", "four"}) EXPECT_EQ(payload_of(*sub->receive_message()), want);
}

}  // namespace
}  // namespace moth::test
