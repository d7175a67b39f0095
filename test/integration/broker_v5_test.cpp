// MQTT 5.0 features against the real mothd: Message Expiry, Topic Aliases in both directions, Maximum Packet
// Size in both directions, Receive Maximum in both directions, properties passed through, Payload Format
// Indicator, shared subscriptions, and the DISCONNECT sent at shutdown.
//
// Statement ids are those of MQTT 5.0 unless marked "(3.1.1)".

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "broker_test_util.hpp"

namespace moth::test {
namespace {

class BrokerV5Test : public BrokerFixture {};

// The DISCONNECT a misbehaving client gets, then the close.
void expect_disconnect(MqttTestClient& c, ReasonCode reason,
                       std::source_location where = std::source_location::current()) {
    auto d = c.expect<codec::Disconnect>(kReceiveTimeout, where);
    EXPECT_EQ(d->reason, reason) << "at " << where.line() << ": " << d.received().describe();
    EXPECT_TRUE(c.wait_closed()) << "at " << where.line() << ": the connection stayed open after DISCONNECT";
}

// ---------------------------------------------------------------------------------------------------------
// Message Expiry Interval

// [MQTT-3.3.2-5]: a message whose expiry interval passed before delivery started is not delivered;
// [MQTT-3.3.2-6]: the PUBLISH sent carries the interval minus the time the message waited in the server.
// A message without the property is delivered without it.
TEST_F(BrokerV5Test, MessageExpiryIntervalDecrementedAndExpiredMessagesDropped) {
    start();
    {
        auto s = connected_client(kV5, persistent_session("expiry", kV5));
        s->subscribe("mx/t", QoS::AtLeastOnce);
        s->disconnect();
    }
    auto pub = connected_client(kV5, "pub");
    Message m;
    m.topic = "mx/t";
    m.qos = QoS::AtLeastOnce;
    m.payload = "short";
    m.message_expiry_interval = 1;
    pub->publish(m);
    m.payload = "long";
    m.message_expiry_interval = 60;
    pub->publish(m);
    m.payload = "none";
    m.message_expiry_interval.reset();
    pub->publish(m);
    pub->expect_silence(2500ms);  // let 2.5 s pass while the messages wait

    auto s = tcp_client(kV5, "expiry");
    EXPECT_TRUE(s->connect(persistent_session("expiry", kV5))->session_present);
    auto first = s->receive_message();
    EXPECT_EQ(payload_of(*first), "long") << "the expired message was delivered";
    ASSERT_TRUE(first->properties.message_expiry_interval.has_value()) << first.received().describe();
    EXPECT_LE(*first->properties.message_expiry_interval, 58U) << "not decremented by the 2.5 s it waited";
    EXPECT_GE(*first->properties.message_expiry_interval, 40U);
    auto second = s->receive_message();
    EXPECT_EQ(payload_of(*second), "none");
    EXPECT_FALSE(second->properties.message_expiry_interval.has_value());

    // Delivered at once: at most the published value.
    m.payload = "live";
    m.message_expiry_interval = 100;
    pub->publish(m);
    auto live = s->receive_message();
    ASSERT_TRUE(live->properties.message_expiry_interval.has_value());
    EXPECT_LE(*live->properties.message_expiry_interval, 100U);
    EXPECT_GE(*live->properties.message_expiry_interval, 95U);
    s->disconnect();
    pub->disconnect();
}

// ---------------------------------------------------------------------------------------------------------
// Topic aliases

// [MQTT-3.3.2-12]: the server accepts every Topic Alias from 1 to the Topic Alias Maximum of its CONNACK: a PUBLISH
// with a topic and an alias sets the mapping, one with an empty topic uses it, a new topic re-maps it (section
// 3.3.2.3.4). Subscribers get the full topic [MQTT-3.3.2-3], and no alias unless they allowed some
// [MQTT-3.1.2-27].
TEST_F(BrokerV5Test, InboundTopicAliases) {
    start();
    auto sub = connected_client(kV5, "sub");
    sub->subscribe("ta/#", QoS::AtLeastOnce);
    auto pub = tcp_client(kV5, "pub");
    auto connack = pub->connect(clean_session("pub"));
    ASSERT_EQ(connack->properties.topic_alias_maximum, std::optional<std::uint16_t>(32));

    struct Step {
        std::string topic;
        std::uint16_t alias;
        std::string expected_topic;
    };
    const std::vector<Step> steps = {
        {"ta/x", 1, "ta/x"}, {"", 1, "ta/x"}, {"ta/y", 32, "ta/y"}, {"", 32, "ta/y"},
        {"ta/z", 1, "ta/z"}, {"", 1, "ta/z"}, {"", 32, "ta/y"},
    };
    for (std::size_t i = 0; i < steps.size(); ++i) {
        Message m;
        m.topic = steps[i].topic;
        m.payload = std::to_string(i);
        m.qos = QoS::AtLeastOnce;
        m.topic_alias = steps[i].alias;
        EXPECT_EQ(pub->publish(m), ReasonCode::Success) << "step " << i;
    }
    for (std::size_t i = 0; i < steps.size(); ++i) {
        auto got = sub->receive_message();
        EXPECT_EQ(payload_of(*got), std::to_string(i));
        EXPECT_EQ(topic_of(*got), steps[i].expected_topic) << "step " << i;
        EXPECT_FALSE(got->properties.topic_alias.has_value()) << got.received().describe();
    }
    sub->disconnect();
    pub->disconnect();
}

// [MQTT-3.3.2-8]: Topic Alias 0 is not allowed; the server answers DISCONNECT 0x94 (Topic Alias invalid), section
// 3.3.2.3.4.
TEST_F(BrokerV5Test, TopicAliasZeroIsTopicAliasInvalid) {
    start();
    auto c = connected_client(kV5, "zero");
    // PUBLISH QoS 0, topic "t", properties: Topic Alias (0x23) = 0, payload "x". Written by hand: the encoder
    // would refuse it.
    c->send_raw(raw_packet(0x30, concat(raw_string("t"), to_bytes({0x03, 0x23, 0x00, 0x00, 'x'}))));
    expect_disconnect(*c, ReasonCode::TopicAliasInvalid);
}

// [MQTT-3.3.2-9]: a Topic Alias above the server's Topic Alias Maximum (here 5) gets DISCONNECT 0x94; with a maximum
// of 0 every alias does [MQTT-3.2.2-18].
TEST_F(BrokerV5Test, TopicAliasAboveMaximumIsTopicAliasInvalid) {
    start("[limits]\ntopic_alias_maximum = 5\n");
    auto c = tcp_client(kV5, "above");
    EXPECT_EQ(c->connect(clean_session("above"))->properties.topic_alias_maximum, std::optional<std::uint16_t>(5));
    Message m;
    m.topic = "ta/t";
    m.payload = "x";
    m.topic_alias = 5;
    c->publish(m);  // the maximum itself is fine
    c->ping();
    m.topic_alias = 6;
    c->publish(m);
    expect_disconnect(*c, ReasonCode::TopicAliasInvalid);
}

TEST_F(BrokerV5Test, TopicAliasWhenMaximumIsZeroIsTopicAliasInvalid) {
    start("[limits]\ntopic_alias_maximum = 0\n");
    auto c = tcp_client(kV5, "none");
    EXPECT_EQ(c->connect(clean_session("none"))->properties.topic_alias_maximum.value_or(0), 0);
    Message m;
    m.topic = "ta/t";
    m.payload = "x";
    m.topic_alias = 1;
    c->publish(m);
    expect_disconnect(*c, ReasonCode::TopicAliasInvalid);
}

// Section 3.3.2.3.4: an empty Topic Name with an alias that has no mapping on this connection is a Protocol Error
// (0x82). Mappings do not carry over to a new connection [MQTT-3.3.2-7].
TEST_F(BrokerV5Test, UnknownTopicAliasIsProtocolError) {
    start();
    {
        auto c = connected_client(kV5, persistent_session("forgetful", kV5));
        Message m;
        m.topic = "ta/t";
        m.payload = "sets alias 3";
        m.topic_alias = 3;
        c->publish(m);
        c->disconnect();
    }
    auto c = connected_client(kV5, persistent_session("forgetful", kV5));
    Message m;
    m.topic = "";
    m.payload = "uses alias 3";
    m.topic_alias = 3;
    c->publish(m);
    expect_disconnect(*c, ReasonCode::ProtocolError);
}

// Outbound aliases: [MQTT-3.3.2-11] / [MQTT-3.1.2-26]: the server never sends an alias above the client's Topic
// Alias Maximum (2 here); an alias-only PUBLISH uses a mapping the server set earlier on the connection; the
// resolved topics are the published ones. [MQTT-3.1.2-27]: a client without a Topic Alias Maximum gets no alias.
TEST_F(BrokerV5Test, OutboundTopicAliasesWithinClientMaximum) {
    start();
    ConnectOptions o = clean_session("aliased");
    o.topic_alias_maximum = 2;
    auto aliased = connected_client(kV5, o);
    aliased->subscribe("to/#", QoS::AtLeastOnce);
    auto plain = connected_client(kV5, "plain");
    plain->subscribe("to/#", QoS::AtLeastOnce);
    auto pub = connected_client(kV5, "pub");
    const std::vector<std::string> topics = {"to/a", "to/b", "to/c", "to/a", "to/b", "to/c", "to/a", "to/a"};
    for (const auto& t : topics) pub->publish(t, t, QoS::AtLeastOnce);

    std::map<std::uint16_t, std::string> mapping;
    for (const auto& t : topics) {
        auto m = aliased->receive_message();
        std::string topic = topic_of(*m);
        if (m->properties.topic_alias) {
            const auto alias = *m->properties.topic_alias;
            EXPECT_GE(alias, 1);
            EXPECT_LE(alias, 2) << "alias above the client's Topic Alias Maximum";
            if (topic.empty()) {
                ASSERT_TRUE(mapping.count(alias)) << "alias " << alias << " used before it was set";
                topic = mapping[alias];
            } else {
                mapping[alias] = topic;
            }
        }
        EXPECT_EQ(topic, t);
        EXPECT_EQ(payload_of(*m), t);
    }
    for (const auto& t : topics) {
        auto m = plain->receive_message();
        EXPECT_EQ(topic_of(*m), t);
        EXPECT_FALSE(m->properties.topic_alias.has_value()) << m.received().describe();
    }
    for (auto* c : {aliased.get(), plain.get(), pub.get()}) c->disconnect();
}

// ---------------------------------------------------------------------------------------------------------
// Maximum Packet Size

// [MQTT-3.1.2-24]: the server does not send a packet larger than the client's Maximum Packet Size;
// [MQTT-3.1.2-25]: it discards it and goes on as if it had been sent: the next, smaller message arrives first.
TEST_F(BrokerV5Test, MessageLargerThanClientMaximumPacketSizeNotSent) {
    start();
    ConnectOptions o = clean_session("small");
    o.maximum_packet_size = 128;
    auto small = connected_client(kV5, o);
    small->subscribe("mp/t", QoS::AtLeastOnce);
    auto big = connected_client(kV5, "big");
    big->subscribe("mp/t", QoS::AtLeastOnce);
    auto pub = connected_client(kV5, "pub");
    EXPECT_EQ(pub->publish("mp/t", std::string(300, 'x'), QoS::AtLeastOnce), ReasonCode::Success);
    pub->publish("mp/t", "fits", QoS::AtLeastOnce);

    auto m = small->receive_message();
    EXPECT_EQ(payload_of(*m), "fits") << "a packet over the client's Maximum Packet Size was sent";
    EXPECT_LE(m.received().bytes.size(), 128U);
    auto b1 = big->receive_message();
    EXPECT_EQ(b1->payload.size(), 300U) << "other subscribers still get it";
    auto b2 = big->receive_message();
    EXPECT_EQ(payload_of(*b2), "fits");
    for (auto* c : {small.get(), big.get(), pub.get()}) c->disconnect();
}

// 5.0 section 3.2.2.3.6: the CONNACK announces the server's Maximum Packet Size ([limits] max_packet_size, here
// 1024), which the client must respect [MQTT-3.2.2-15]; a larger packet gets DISCONNECT 0x95 (Packet too large).
TEST_F(BrokerV5Test, InboundPacketLargerThanMaximumPacketSizeGetsPacketTooLarge) {
    start("[limits]\nmax_packet_size = 1024\n");
    auto c = tcp_client(kV5, "oversize");
    auto connack = c->connect(clean_session("oversize"));
    EXPECT_EQ(connack->properties.maximum_packet_size, std::optional<std::uint32_t>(1024));
    c->publish("mp/t", std::string(1000, 'y'), QoS::AtLeastOnce);  // 1011 bytes: fits
    c->publish("mp/t", std::string(2000, 'y'), QoS::AtMostOnce);
    expect_disconnect(*c, ReasonCode::PacketTooLarge);
}

// ---------------------------------------------------------------------------------------------------------
// Receive Maximum

// Section 3.2.2.3.3: the CONNACK's Receive Maximum (here 2) bounds the client's unacknowledged QoS 1/2 PUBLISH
// [MQTT-3.3.4-7]; the server answers one more with DISCONNECT 0x93 (Receive Maximum exceeded). A QoS 2 PUBLISH
// stays unacknowledged until PUBCOMP, so three without PUBREL exceed it.
TEST_F(BrokerV5Test, ClientExceedingReceiveMaximumGetsReceiveMaximumExceeded) {
    start("[limits]\nreceive_maximum = 2\n");
    auto c = tcp_client(kV5, "greedy");
    EXPECT_EQ(c->connect(clean_session("greedy"))->properties.receive_maximum, std::optional<std::uint16_t>(2));
    Message m;
    m.topic = "rm/t";
    m.payload = "x";
    m.qos = QoS::ExactlyOnce;
    for (int i = 0; i < 2; ++i) {
        const auto p = c->make_publish(m);
        c->send(p);
        EXPECT_EQ(c->expect<codec::Pubrec>()->packet_id, p.packet_id);
    }
    c->send(c->make_publish(m));
    expect_disconnect(*c, ReasonCode::ReceiveMaximumExceeded);
}

// [MQTT-3.3.4-9]: the server sends at most the client's Receive Maximum (here 2) unacknowledged QoS 1 PUBLISH;
// [MQTT-3.3.4-10]: other packets are not held back (PINGRESP comes); each PUBACK lets one more through.
TEST_F(BrokerV5Test, ServerRespectsClientReceiveMaximum) {
    start();
    ConnectOptions o = clean_session("slow");
    o.receive_maximum = 2;
    auto slow = connected_client(kV5, o);
    slow->subscribe("rx/t", QoS::AtLeastOnce);
    auto pub = connected_client(kV5, "pub");
    for (int i = 1; i <= 5; ++i) pub->publish("rx/t", std::to_string(i), QoS::AtLeastOnce);

    auto m1 = slow->expect<codec::Publish>();
    auto m2 = slow->expect<codec::Publish>();
    EXPECT_EQ(payload_of(*m1), "1");
    EXPECT_EQ(payload_of(*m2), "2");
    slow->expect_silence();  // the quota is used up
    slow->ping();
    slow->ack(*m1);
    auto m3 = slow->expect<codec::Publish>();
    EXPECT_EQ(payload_of(*m3), "3");
    slow->expect_silence();
    slow->ack(*m2);
    slow->ack(*m3);
    auto m4 = slow->receive_message();
    auto m5 = slow->receive_message();
    EXPECT_EQ(payload_of(*m4), "4");
    EXPECT_EQ(payload_of(*m5), "5");
    slow->disconnect();
    pub->disconnect();
}

// ---------------------------------------------------------------------------------------------------------
// Properties

// Forwarded unaltered: Payload Format Indicator [MQTT-3.3.2-4], Response Topic [MQTT-3.3.2-15], Correlation Data
// [MQTT-3.3.2-16], User Properties [MQTT-3.3.2-17] in their order, repeated keys included [MQTT-3.3.2-18],
// Content Type [MQTT-3.3.2-20].
TEST_F(BrokerV5Test, PublishPropertiesPassedThroughUnaltered) {
    start();
    auto sub = connected_client(kV5, "sub");
    sub->subscribe("props/t", QoS::AtLeastOnce);
    auto pub = connected_client(kV5, "pub");
    Message m;
    m.topic = "props/t";
    m.payload = "{\"temp\":21.5}";
    m.qos = QoS::AtLeastOnce;
    m.payload_format_indicator = 1;
    m.content_type = "application/json";
    m.response_topic = "props/reply/42";
    m.correlation_data = std::string("\x00\x01\xfe\xff", 4);
    m.user_properties = {{"b", "2"},
                         {"a", "1"},
                         {"b", "1"},
                         {"unit",
                          "\xc2\xb0"
                          "C"}};
    pub->publish(m);

    auto got = sub->receive_message();
    const auto& p = got->properties;
    EXPECT_EQ(payload_of(*got), m.payload);
    EXPECT_EQ(p.payload_format_indicator, std::optional<std::uint8_t>(1));
    EXPECT_EQ(p.content_type, std::optional<std::string_view>("application/json"));
    EXPECT_EQ(p.response_topic, std::optional<std::string_view>("props/reply/42"));
    ASSERT_TRUE(p.correlation_data.has_value());
    EXPECT_EQ(as_string(*p.correlation_data), *m.correlation_data);
    std::vector<std::pair<std::string, std::string>> props;
    for (const auto& up : p.user_properties) props.emplace_back(up.key, up.value);
    EXPECT_EQ(props, m.user_properties);
    sub->disconnect();
    pub->disconnect();
}

// Section 3.3.2.3.2: a receiver MAY check that a payload marked UTF-8 (Payload Format Indicator 1) is valid UTF-8;
// Moth does, and answers an invalid one with reason 0x99 (Payload format invalid) in the PUBACK or in a DISCONNECT.
// Either way the message is not forwarded.
TEST_F(BrokerV5Test, InvalidUtf8PayloadWithFormatIndicatorRejected) {
    start();
    auto sub = connected_client(kV5, "sub");
    sub->subscribe("pf/#", QoS::AtLeastOnce);
    auto pub = connected_client(kV5, "pub");
    Message m;
    m.topic = "pf/t";
    m.payload = std::string("\xff\xfe not utf-8", 12);
    m.qos = QoS::AtLeastOnce;
    m.payload_format_indicator = 1;
    const auto p = pub->make_publish(m);
    pub->send(p);
    auto r = pub->receive();
    ASSERT_NE(r, nullptr) << "no answer to the PUBLISH; closed=" << pub->closed();
    if (r->is<codec::Puback>()) {
        EXPECT_EQ(r->as<codec::Puback>().packet_id, p.packet_id);
        EXPECT_EQ(r->as<codec::Puback>().reason, ReasonCode::PayloadFormatInvalid);
    } else {
        ASSERT_TRUE(r->is<codec::Disconnect>()) << r->describe();
        EXPECT_EQ(r->as<codec::Disconnect>().reason, ReasonCode::PayloadFormatInvalid);
        EXPECT_TRUE(pub->wait_closed());
    }
    auto other = connected_client(kV5, "other");
    Message ok = m;
    ok.topic = "pf/marker";
    ok.payload = "valid \xc3\xa9";
    other->publish(ok);
    auto got = sub->receive_message();
    EXPECT_EQ(topic_of(*got), "pf/marker") << "the invalid payload was forwarded";
    EXPECT_EQ(payload_of(*got), "valid \xc3\xa9");
    sub->disconnect();
    other->disconnect();
}

// ---------------------------------------------------------------------------------------------------------
// Shared subscriptions

class BrokerSharedTest : public VersionedBrokerTest {};

// Section 4.8.2: each message matching a shared subscription "$share/g/<filter>" goes to one member of the group
// only; with the default shared_policy "round_robin" the two members take turns. [MQTT-4.8.2-3]: each gets it at
// its own granted QoS (member b subscribed at QoS 0). A non-shared subscription to the same topic gets them all.
TEST_P(BrokerSharedTest, SharedSubscriptionRoundRobin) {
    start();
    auto a = connected_client(version(), "membera");
    EXPECT_EQ(a->subscribe("$share/g/sh/t", QoS::AtLeastOnce), granted(QoS::AtLeastOnce));
    auto b = connected_client(version(), "memberb");
    EXPECT_EQ(b->subscribe("$share/g/sh/t", QoS::AtMostOnce), granted(QoS::AtMostOnce));
    auto all = connected_client(version(), "everything");
    all->subscribe("sh/t", QoS::AtLeastOnce);
    for (auto* c : {a.get(), b.get()}) c->subscribe("sh/marker", QoS::AtLeastOnce);

    auto pub = connected_client(version(), "pub");
    constexpr int kCount = 10;
    for (int i = 0; i < kCount; ++i) pub->publish("sh/t", std::to_string(i), QoS::AtLeastOnce);
    pub->publish("sh/marker", "marker", QoS::AtLeastOnce);

    std::vector<int> got_a;
    std::vector<int> got_b;
    for (auto [c, got, qos] :
         {std::tuple{a.get(), &got_a, QoS::AtLeastOnce}, std::tuple{b.get(), &got_b, QoS::AtMostOnce}}) {
        while (true) {
            auto m = c->receive_message();
            if (topic_of(*m) == "sh/marker") break;
            EXPECT_EQ(topic_of(*m), "sh/t");
            EXPECT_EQ(m->qos, qos) << c->name();
            got->push_back(std::stoi(payload_of(*m)));
        }
    }
    std::vector<int> both = got_a;
    both.insert(both.end(), got_b.begin(), got_b.end());
    std::sort(both.begin(), both.end());
    std::vector<int> expected(kCount);
    for (int i = 0; i < kCount; ++i) expected[static_cast<std::size_t>(i)] = i;
    EXPECT_EQ(both, expected) << "each message goes to exactly one member";
    EXPECT_EQ(got_a.size(), 5U);
    EXPECT_EQ(got_b.size(), 5U);
    for (std::size_t i = 1; i < got_a.size(); ++i) EXPECT_EQ(got_a[i] - got_a[i - 1], 2) << "round robin";
    for (std::size_t i = 1; i < got_b.size(); ++i) EXPECT_EQ(got_b[i] - got_b[i - 1], 2) << "round robin";

    for (int i = 0; i < kCount; ++i) {
        auto m = all->receive_message();
        EXPECT_EQ(payload_of(*m), std::to_string(i));
    }
    for (auto* c : {a.get(), b.get(), all.get(), pub.get()}) c->disconnect();
}

INSTANTIATE_TEST_SUITE_P(Versions, BrokerSharedTest, ::testing::Values(kV311, kV5), version_suffix);

// [MQTT-3.8.3-4]: No Local on a shared subscription is a Protocol Error: DISCONNECT 0x82.
TEST_F(BrokerV5Test, NoLocalOnSharedSubscriptionIsProtocolError) {
    start();
    auto c = connected_client(kV5, "nolocal");
    codec::Subscribe s;
    s.packet_id = c->next_packet_id();
    const codec::Subscription subs[] = {{"$share/g/t", sub_options(QoS::AtMostOnce, /*no_local=*/true)}};
    s.subscriptions = subs;
    c->send(s);
    expect_disconnect(*c, ReasonCode::ProtocolError);
}

// ---------------------------------------------------------------------------------------------------------
// Shutdown

// On SIGTERM Moth sends 5.0 clients DISCONNECT 0x8B (Server shutting down; section 3.14.2.1 lists it for the
// server) before closing, and exits 0.
TEST_F(BrokerV5Test, ShutdownSendsServerShuttingDown) {
    start();
    auto c = connected_client(kV5, "bystander");
    stop();
    auto d = c->expect<codec::Disconnect>();
    EXPECT_EQ(d->reason, ReasonCode::ServerShuttingDown);
    EXPECT_TRUE(c->wait_closed());
}

}  // namespace
}  // namespace moth::test
