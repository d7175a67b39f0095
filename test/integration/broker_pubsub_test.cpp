// PUBLISH and SUBSCRIBE against the real mothd: the QoS 0/1/2 flows in both directions, granted QoS, topic
// matching, '$' topics, overlapping subscriptions, mixed protocol versions, No Local, Retain As Published,
// UNSUBSCRIBE, and message order.
//
// Statement ids: "(3.1.1)" and "(5.0)" mark ids whose numbering differs between the two specifications.
//
// Where a test checks that a message is NOT delivered, the publisher sends a later "marker" message that the
// subscriber must receive first: Moth keeps a publisher's messages in order per subscriber (DESIGN.md section 3,
// [MQTT-4.6.0-6] (3.1.1) / [MQTT-4.6.0-5] (5.0)), so an unwanted message would arrive before the marker.

#include <algorithm>
#include <map>
#include <ostream>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "broker_test_util.hpp"

namespace moth::test {
namespace {

class BrokerPubSubTest : public BrokerFixture {};
class BrokerPubSubVersionTest : public VersionedBrokerTest {};
// 3.1.1 and 5.0 only: MQTT 3.1 has no SUBACK failure code.
class BrokerSubAckTest : public VersionedBrokerTest {};

// ---------------------------------------------------------------------------------------------------------
// QoS flows

struct FlowCase {
    ProtocolVersion version;
    QoS qos;
};

void PrintTo(const FlowCase& c, std::ostream* os) {
    *os << "MQTT " << codec::protocol_version_name(c.version) << " QoS " << static_cast<int>(c.qos);
}

class BrokerQosFlowTest : public BrokerFixture, public ::testing::WithParamInterface<FlowCase> {};

// One message at QoS 0, 1 or 2 from a publisher to a subscriber (granted QoS 2), every packet of both handshakes
// checked by hand:
// inbound  [MQTT-3.3.4-1]; QoS 1 PUBACK with the PUBLISH's packet id [MQTT-4.3.2-2] (3.1.1) / [MQTT-4.3.2-4] (5.0);
//          QoS 2 PUBREC [MQTT-4.3.3-2] (3.1.1) / [MQTT-4.3.3-8] (5.0), PUBCOMP for PUBREL [MQTT-4.3.3-11] (5.0);
// outbound QoS 0 with DUP 0 [MQTT-4.3.1-1]; QoS 1/2 with a non-zero packet id [MQTT-2.3.1-1] (3.1.1) /
//          [MQTT-2.2.1-4] (5.0) and DUP 0 [MQTT-4.3.2-1]/[MQTT-4.3.3-1] (3.1.1) / [MQTT-4.3.2-2]/[MQTT-4.3.3-2]
//          (5.0); PUBREL after PUBREC with the same id [MQTT-4.3.3-1] (3.1.1) / [MQTT-4.3.3-4] (5.0);
//          the topic matches the filter [MQTT-3.3.2-3]; RETAIN 0 on a live message [MQTT-3.3.1-9] (3.1.1).
TEST_P(BrokerQosFlowTest, PublishAndDeliverWithFullHandshakes) {
    const auto [version, qos] = GetParam();
    start();
    auto sub = connected_client(version, "sub");
    EXPECT_EQ(sub->subscribe("flow/t", QoS::ExactlyOnce), granted(QoS::ExactlyOnce));
    auto pub = connected_client(version, "pub");

    for (int round = 1; round <= 2; ++round) {
        SCOPED_TRACE("message " + std::to_string(round));
        const std::string payload = "payload " + std::to_string(round);
        Message m;
        m.topic = "flow/t";
        m.payload = payload;
        m.qos = qos;
        const codec::Publish p = pub->make_publish(m);
        pub->send(p);
        if (qos == QoS::AtLeastOnce) {
            auto puback = pub->expect<codec::Puback>();
            EXPECT_EQ(puback->packet_id, p.packet_id);
            EXPECT_EQ(puback->reason, ReasonCode::Success);
        } else if (qos == QoS::ExactlyOnce) {
            auto pubrec = pub->expect<codec::Pubrec>();
            EXPECT_EQ(pubrec->packet_id, p.packet_id);
            EXPECT_EQ(pubrec->reason, ReasonCode::Success);
            pub->send(ack_packet<codec::Pubrel>(p.packet_id));
            auto pubcomp = pub->expect<codec::Pubcomp>();
            EXPECT_EQ(pubcomp->packet_id, p.packet_id);
        }

        auto got = sub->expect<codec::Publish>();
        EXPECT_EQ(topic_of(*got), "flow/t");
        EXPECT_EQ(payload_of(*got), payload);
        EXPECT_EQ(got->qos, qos);
        EXPECT_FALSE(got->dup);
        EXPECT_FALSE(got->retain);
        if (qos == QoS::AtMostOnce) continue;
        EXPECT_NE(got->packet_id, 0);
        if (qos == QoS::AtLeastOnce) {
            sub->send(ack_packet<codec::Puback>(got->packet_id));
        } else {
            sub->send(ack_packet<codec::Pubrec>(got->packet_id));
            auto pubrel = sub->expect<codec::Pubrel>();
            EXPECT_EQ(pubrel->packet_id, got->packet_id);
            sub->send(ack_packet<codec::Pubcomp>(got->packet_id));
        }
    }
    // Fully acknowledged: nothing is sent again [MQTT-4.4.0-1] (no resend within a connection).
    sub->expect_silence();
    sub->disconnect();
    pub->disconnect();
}

std::string flow_name(const ::testing::TestParamInfo<FlowCase>& info) {
    return version_suffix({info.param.version, info.index}) + "Qos" + std::to_string(static_cast<int>(info.param.qos));
}

INSTANTIATE_TEST_SUITE_P(Flows, BrokerQosFlowTest,
                         ::testing::Values(FlowCase{kV31, QoS::AtMostOnce}, FlowCase{kV31, QoS::AtLeastOnce},
                                           FlowCase{kV31, QoS::ExactlyOnce}, FlowCase{kV311, QoS::AtMostOnce},
                                           FlowCase{kV311, QoS::AtLeastOnce}, FlowCase{kV311, QoS::ExactlyOnce},
                                           FlowCase{kV5, QoS::AtMostOnce}, FlowCase{kV5, QoS::AtLeastOnce},
                                           FlowCase{kV5, QoS::ExactlyOnce}),
                         flow_name);

// [MQTT-3.8.4-6] (3.1.1) / [MQTT-3.8.4-8] (5.0): a message is delivered at the minimum of its QoS and the
// subscription's granted QoS; [MQTT-3.8.4-5] (3.1.1) / [MQTT-3.8.4-7] (5.0): the SUBACK shows the granted QoS.
TEST_P(BrokerPubSubVersionTest, DeliveredQosIsMinimumOfPublishedAndGranted) {
    start();
    std::vector<std::unique_ptr<MqttTestClient>> subs;
    for (const QoS q : {QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce}) {
        auto s = connected_client(version(), "sub" + std::to_string(static_cast<int>(q)));
        EXPECT_EQ(s->subscribe("min/t", q), granted(q));
        subs.push_back(std::move(s));
    }
    auto pub = connected_client(version(), "pub");
    for (const QoS published : {QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce}) {
        const std::string payload = "published at " + std::to_string(static_cast<int>(published));
        pub->publish("min/t", payload, published);
        for (std::size_t i = 0; i < subs.size(); ++i) {
            SCOPED_TRACE("subscription QoS " + std::to_string(i) + ", " + payload);
            auto got = subs[i]->receive_message();
            EXPECT_EQ(payload_of(*got), payload);
            EXPECT_EQ(static_cast<std::size_t>(got->qos), std::min(i, static_cast<std::size_t>(published)));
        }
    }
    for (auto& s : subs) s->disconnect();
    pub->disconnect();
}

// ---------------------------------------------------------------------------------------------------------
// Topic matching

struct MatchCase {
    std::string filter;
    std::vector<std::string> expected;  // topics of kMatchTopics it matches, in publication order
    bool matches_marker;
};

// Published in this order; the marker "zz/end/x/y/z" follows them.
const std::vector<std::string> kMatchTopics = {"a", "a/b", "a/b/c", "a/b/c/d", "a/x/c", "b/b/c", "/a", "a/", "A/b"};

// Section 4.7: '#' matches the parent level and any number of child levels ("sport/#" matches "sport"),
// [MQTT-4.7.1-2] (3.1.1) / [MQTT-4.7.1-1] (5.0); '+' matches exactly one level, empty ones included,
// [MQTT-4.7.1-3] (3.1.1) / [MQTT-4.7.1-2] (5.0); topics are compared without normalisation, case-sensitively
// [MQTT-4.7.3-4]; the topic delivered matches the filter [MQTT-3.3.2-3].
TEST_P(BrokerPubSubVersionTest, WildcardMatching) {
    start();
    const std::vector<MatchCase> cases = {
        {"a/#", {"a", "a/b", "a/b/c", "a/b/c/d", "a/x/c", "a/"}, false},
        {"a/+/c", {"a/b/c", "a/x/c"}, false},
        {"+", {"a"}, false},
        {"+/+", {"a/b", "/a", "a/", "A/b"}, false},
        {"#", kMatchTopics, true},
        {"a/b/c", {"a/b/c"}, false},
        {"+/b/#", {"a/b", "a/b/c", "a/b/c/d", "b/b/c", "A/b"}, false},
        {"/+", {"/a"}, false},
        {"a/b/+/#", {"a/b/c", "a/b/c/d"}, false},
    };
    const std::string marker = "zz/end/x/y/z";
    std::vector<std::unique_ptr<MqttTestClient>> subs;
    for (std::size_t i = 0; i < cases.size(); ++i) {
        auto s = connected_client(version(), "sub" + std::to_string(i));
        EXPECT_EQ(s->subscribe(cases[i].filter, QoS::AtLeastOnce), granted(QoS::AtLeastOnce)) << cases[i].filter;
        if (!cases[i].matches_marker) s->subscribe(marker, QoS::AtLeastOnce);
        subs.push_back(std::move(s));
    }
    auto pub = connected_client(version(), "pub");
    for (const auto& t : kMatchTopics) pub->publish(t, t, QoS::AtLeastOnce);
    pub->publish(marker, marker, QoS::AtLeastOnce);

    for (std::size_t i = 0; i < cases.size(); ++i) {
        SCOPED_TRACE("filter \"" + cases[i].filter + "\"");
        std::vector<std::string> got;
        while (true) {
            auto m = subs[i]->receive_message();
            EXPECT_EQ(payload_of(*m), topic_of(*m));
            if (topic_of(*m) == marker) break;
            got.push_back(topic_of(*m));
        }
        EXPECT_EQ(got, cases[i].expected);
    }
    for (auto& s : subs) s->disconnect();
    pub->disconnect();
}

// [MQTT-4.7.2-1]: filters starting with a wildcard do not match topics starting with '$'; "$SYS/#" does.
// One 5.0 connection holds "#" (Subscription Identifier 1), "+/broker/#" (2) and "$SYS/#" (3): every $SYS message
// it gets must carry identifier 3 only ([MQTT-3.3.4-3] (5.0): the identifiers of the subscriptions that matched).
TEST_F(BrokerPubSubTest, DollarTopicsNotMatchedByLeadingWildcards) {
    start();
    auto c = connected_client(kV5, "dollar");
    EXPECT_EQ(c->subscribe("#", sub_options(QoS::AtMostOnce), 1), granted(QoS::AtMostOnce));
    EXPECT_EQ(c->subscribe("+/broker/#", sub_options(QoS::AtMostOnce), 2), granted(QoS::AtMostOnce));
    EXPECT_EQ(c->subscribe("$SYS/#", sub_options(QoS::AtMostOnce), 3), granted(QoS::AtMostOnce));
    int sys_messages = 0;
    while (sys_messages < 5) {
        auto m = c->receive_message(4s);  // sys_interval_s = 1
        const std::string topic = topic_of(*m);
        ASSERT_EQ(topic.rfind("$SYS/", 0), 0U) << "only $SYS topics are published here: " << m.received().describe();
        EXPECT_EQ(subscription_ids_of(*m), std::vector<std::uint32_t>{3}) << m.received().describe();
        ++sys_messages;
    }
    c->disconnect();
}

// The same for 3.1.1, with two connections: the "#" and "+/broker/#" subscribers get nothing while the "$SYS/#"
// subscriber gets $SYS messages, and the next message they do get is a normal one published afterwards.
TEST_F(BrokerPubSubTest, Mqtt311DollarTopicsNotMatchedByLeadingWildcards) {
    start();
    auto all = connected_client(kV311, "all");
    all->subscribe("#", QoS::AtMostOnce);
    auto plus = connected_client(kV311, "plus");
    plus->subscribe("+/broker/#", QoS::AtMostOnce);
    auto sys = connected_client(kV311, "sys");
    sys->subscribe("$SYS/#", QoS::AtMostOnce);
    for (int i = 0; i < 3; ++i) {
        auto m = sys->receive_message(4s);
        EXPECT_EQ(topic_of(*m).rfind("$SYS/", 0), 0U);
    }
    auto pub = connected_client(kV311, "pub");
    pub->publish("x/broker/marker", "marker", QoS::AtLeastOnce);
    for (auto* c : {all.get(), plus.get()}) {
        SCOPED_TRACE(c->name());
        auto m = c->receive_message();
        EXPECT_EQ(topic_of(*m), "x/broker/marker") << "a '$' topic reached a wildcard subscription";
    }
    for (auto* c : {all.get(), plus.get(), sys.get(), pub.get()}) c->disconnect();
}

// ---------------------------------------------------------------------------------------------------------
// Overlapping subscriptions

// One 5.0 client with three matching subscriptions: "ov/#" QoS 0 id 1, "ov/+" QoS 1 id 2, "ov/x" QoS 2 without
// an id. [MQTT-3.3.4-2] (5.0): delivered respecting the maximum QoS of the matching subscriptions. Either one
// copy, at QoS 2, carrying identifiers 1 and 2 [MQTT-3.3.4-3], [MQTT-3.3.4-4]; or one copy per subscription,
// each at its subscription's QoS with its own identifier [MQTT-3.3.4-5] (the server MAY send further copies).
TEST_F(BrokerPubSubTest, Mqtt5OverlappingSubscriptionsMaxQosAndAllSubscriptionIds) {
    start();
    auto sub = connected_client(kV5, "overlap");
    EXPECT_EQ(sub->subscribe("ov/#", sub_options(QoS::AtMostOnce), 1), granted(QoS::AtMostOnce));
    EXPECT_EQ(sub->subscribe("ov/+", sub_options(QoS::AtLeastOnce), 2), granted(QoS::AtLeastOnce));
    EXPECT_EQ(sub->subscribe("ov/x", sub_options(QoS::ExactlyOnce)), granted(QoS::ExactlyOnce));
    auto pub = connected_client(kV5, "pub");
    pub->publish("ov/x", "overlap", QoS::ExactlyOnce);
    pub->publish("ov/end/z", "marker", QoS::AtLeastOnce);  // matches "ov/#" only

    std::vector<std::pair<QoS, std::vector<std::uint32_t>>> copies;
    while (true) {
        auto m = sub->receive_message();
        if (topic_of(*m) == "ov/end/z") {
            EXPECT_EQ(subscription_ids_of(*m), std::vector<std::uint32_t>{1});
            break;
        }
        EXPECT_EQ(payload_of(*m), "overlap");
        auto ids = subscription_ids_of(*m);
        std::sort(ids.begin(), ids.end());
        copies.emplace_back(m->qos, ids);
    }
    if (copies.size() == 1) {
        EXPECT_EQ(copies[0].first, QoS::ExactlyOnce);
        EXPECT_EQ(copies[0].second, (std::vector<std::uint32_t>{1, 2}));
    } else {
        ASSERT_EQ(copies.size(), 3U) << "one copy, or one per matching subscription";
        std::sort(copies.begin(), copies.end());
        EXPECT_EQ(copies[0], (std::pair<QoS, std::vector<std::uint32_t>>{QoS::AtMostOnce, {1}}));
        EXPECT_EQ(copies[1], (std::pair<QoS, std::vector<std::uint32_t>>{QoS::AtLeastOnce, {2}}));
        EXPECT_EQ(copies[2], (std::pair<QoS, std::vector<std::uint32_t>>{QoS::ExactlyOnce, {}}));
    }
    sub->disconnect();
    pub->disconnect();
}

// [MQTT-3.3.5-1] (3.1.1): overlapping subscriptions: the message is delivered respecting the maximum QoS of the
// matching subscriptions (one copy at QoS 2, or one copy per subscription with one at QoS 2).
TEST_F(BrokerPubSubTest, Mqtt311OverlappingSubscriptionsMaxQos) {
    start();
    auto sub = connected_client(kV311, "overlap");
    sub->subscribe("ov/#", QoS::AtMostOnce);
    sub->subscribe("ov/x", QoS::ExactlyOnce);
    auto pub = connected_client(kV311, "pub");
    pub->publish("ov/x", "overlap", QoS::ExactlyOnce);
    pub->publish("ov/end/z", "marker", QoS::AtLeastOnce);
    std::vector<QoS> qos;
    while (true) {
        auto m = sub->receive_message();
        if (topic_of(*m) == "ov/end/z") break;
        qos.push_back(m->qos);
    }
    std::sort(qos.begin(), qos.end());
    ASSERT_FALSE(qos.empty());
    EXPECT_LE(qos.size(), 2U);
    EXPECT_EQ(qos.back(), QoS::ExactlyOnce);
    sub->disconnect();
    pub->disconnect();
}

// ---------------------------------------------------------------------------------------------------------
// Mixed protocol versions

struct CrossCase {
    ProtocolVersion publisher;
    ProtocolVersion subscriber;
};

void PrintTo(const CrossCase& c, std::ostream* os) {
    *os << "MQTT " << codec::protocol_version_name(c.publisher) << " to MQTT "
        << codec::protocol_version_name(c.subscriber);
}

class BrokerCrossVersionTest : public BrokerFixture, public ::testing::WithParamInterface<CrossCase> {};

// One broker serves all versions: a message published with one version reaches a subscriber of another, at
// the right QoS, encoded in the subscriber's version (a 3.x subscriber gets no 5.0 properties; its decoder would
// reject them). [MQTT-4.5.0-1]: the server adds the message to the session of every matching subscriber.
TEST_P(BrokerCrossVersionTest, MessageCrossesProtocolVersions) {
    const auto [pv, sv] = GetParam();
    start();
    auto sub = connected_client(sv, "sub");
    sub->subscribe("cross/t", QoS::ExactlyOnce);
    auto pub = connected_client(pv, "pub");
    Message m;
    m.topic = "cross/t";
    m.payload = "across versions";
    m.qos = QoS::AtLeastOnce;
    m.content_type = "text/plain";  // 5.0 publishers only
    m.user_properties = {{"k", "v"}};
    EXPECT_EQ(pub->publish(m), ReasonCode::Success);
    auto got = sub->receive_message();
    EXPECT_EQ(topic_of(*got), "cross/t");
    EXPECT_EQ(payload_of(*got), "across versions");
    EXPECT_EQ(got->qos, QoS::AtLeastOnce);
    if (sv == kV5 && pv == kV5) {
        EXPECT_EQ(got->properties.content_type, std::optional<std::string_view>("text/plain"));
    }
    sub->disconnect();
    pub->disconnect();
}

std::string cross_name(const ::testing::TestParamInfo<CrossCase>& info) {
    return "From" + version_suffix({info.param.publisher, 0}) + "To" + version_suffix({info.param.subscriber, 0});
}

INSTANTIATE_TEST_SUITE_P(Versions, BrokerCrossVersionTest,
                         ::testing::Values(CrossCase{kV5, kV31}, CrossCase{kV311, kV5}, CrossCase{kV31, kV311},
                                           CrossCase{kV5, kV311}, CrossCase{kV31, kV5}),
                         cross_name);

// ---------------------------------------------------------------------------------------------------------
// Subscription options (5.0)

// [MQTT-3.8.3-3] (5.0): with No Local, the server does not forward a client's own messages to it. A client without
// No Local does get its own messages.
TEST_F(BrokerPubSubTest, Mqtt5NoLocal) {
    start();
    auto a = connected_client(kV5, "a");
    EXPECT_EQ(a->subscribe("nl/t", sub_options(QoS::AtLeastOnce, /*no_local=*/true)), granted(QoS::AtLeastOnce));
    auto b = connected_client(kV5, "b");
    EXPECT_EQ(b->subscribe("nl/t", sub_options(QoS::AtLeastOnce)), granted(QoS::AtLeastOnce));

    a->publish("nl/t", "from a", QoS::AtLeastOnce);
    b->publish("nl/t", "from b", QoS::AtLeastOnce);

    auto first_b = b->receive_message();
    EXPECT_EQ(payload_of(*first_b), "from a");
    auto second_b = b->receive_message();
    EXPECT_EQ(payload_of(*second_b), "from b") << "without No Local a client gets its own messages";

    auto first_a = a->receive_message();
    EXPECT_EQ(payload_of(*first_a), "from b") << "No Local: a's own message must not come back to it";
    a->expect_silence();
    a->disconnect();
    b->disconnect();
}

// [MQTT-3.3.1-12] (5.0): Retain As Published 0 forwards with RETAIN 0; [MQTT-3.3.1-13] (5.0): 1 keeps the RETAIN
// flag of the PUBLISH.
TEST_F(BrokerPubSubTest, Mqtt5RetainAsPublished) {
    start();
    auto keep = connected_client(kV5, "keep");
    keep->subscribe("rap/t", sub_options(QoS::AtLeastOnce, false, /*retain_as_published=*/true));
    auto clear = connected_client(kV5, "clear");
    clear->subscribe("rap/t", sub_options(QoS::AtLeastOnce, false, /*retain_as_published=*/false));
    auto pub = connected_client(kV5, "pub");
    pub->publish("rap/t", "retained", QoS::AtLeastOnce, /*retain=*/true);
    pub->publish("rap/t", "not retained", QoS::AtLeastOnce, /*retain=*/false);

    auto k1 = keep->receive_message();
    EXPECT_EQ(payload_of(*k1), "retained");
    EXPECT_TRUE(k1->retain);
    auto k2 = keep->receive_message();
    EXPECT_EQ(payload_of(*k2), "not retained");
    EXPECT_FALSE(k2->retain);

    auto c1 = clear->receive_message();
    EXPECT_EQ(payload_of(*c1), "retained");
    EXPECT_FALSE(c1->retain);
    auto c2 = clear->receive_message();
    EXPECT_FALSE(c2->retain);
    for (auto* c : {keep.get(), clear.get(), pub.get()}) c->disconnect();
}

// ---------------------------------------------------------------------------------------------------------
// SUBSCRIBE and UNSUBSCRIBE details

// [MQTT-3.8.4-4] (3.1.1) / [MQTT-3.8.4-5] (5.0): several filters in one SUBSCRIBE are handled as several
// SUBSCRIBEs with one SUBACK; [MQTT-3.9.3-1]: the reason codes in filter order; a filter that breaks the wildcard
// rules ([MQTT-4.7.1-2] (3.1.1) / [MQTT-4.7.1-1] (5.0)) fails alone: 0x80 (3.1.1 Failure, [MQTT-3.9.3-2]) or
// 0x8F (5.0 Topic Filter invalid), as src/codec/packets.hpp decides for Moth. The other filters work.
TEST_P(BrokerSubAckTest, SubscribeSeveralFiltersOneInvalid) {
    start();
    auto sub = connected_client(version(), "multi");
    const auto codes = sub->subscribe_many({{"m/a", sub_options(QoS::AtLeastOnce)},
                                            {"m/#/bad", sub_options(QoS::AtMostOnce)},
                                            {"m/b", sub_options(QoS::ExactlyOnce)},
                                            {"m/c+", sub_options(QoS::AtMostOnce)}});
    const ReasonCode invalid = v5() ? ReasonCode::TopicFilterInvalid : ReasonCode::UnspecifiedError;
    EXPECT_EQ(codes, (std::vector<ReasonCode>{granted(QoS::AtLeastOnce), invalid, granted(QoS::ExactlyOnce), invalid}));
    auto pub = connected_client(version(), "pub");
    pub->publish("m/a", "a", QoS::ExactlyOnce);
    pub->publish("m/b", "b", QoS::ExactlyOnce);
    auto a = sub->receive_message();
    EXPECT_EQ(topic_of(*a), "m/a");
    EXPECT_EQ(a->qos, QoS::AtLeastOnce);
    auto b = sub->receive_message();
    EXPECT_EQ(topic_of(*b), "m/b");
    EXPECT_EQ(b->qos, QoS::ExactlyOnce);
    sub->disconnect();
    pub->disconnect();
}

// [MQTT-3.8.4-3]: a SUBSCRIBE with a filter identical to an existing one replaces that subscription: one copy of
// each message, at the new QoS.
TEST_P(BrokerPubSubVersionTest, ResubscribeReplacesSubscription) {
    start();
    auto sub = connected_client(version(), "resub");
    EXPECT_EQ(sub->subscribe("rp/t", QoS::AtMostOnce), granted(QoS::AtMostOnce));
    EXPECT_EQ(sub->subscribe("rp/t", QoS::ExactlyOnce), granted(QoS::ExactlyOnce));
    auto pub = connected_client(version(), "pub");
    pub->publish("rp/t", "one", QoS::ExactlyOnce);
    pub->publish("rp/t", "two", QoS::ExactlyOnce);
    auto first = sub->receive_message();
    EXPECT_EQ(payload_of(*first), "one");
    EXPECT_EQ(first->qos, QoS::ExactlyOnce);
    auto second = sub->receive_message();
    EXPECT_EQ(payload_of(*second), "two") << "a replaced subscription must not deliver a second copy";
    sub->disconnect();
    pub->disconnect();
}

// [MQTT-3.10.4-1]: UNSUBSCRIBE deletes the subscription with an identical filter; [MQTT-3.10.4-2]: no new messages
// for it; [MQTT-3.10.4-4] (3.1.1) / [MQTT-3.10.4-5] (5.0): UNSUBACK with the same packet id, also when nothing was
// deleted [MQTT-3.10.4-5] (3.1.1); 5.0 reason codes 0x00 and 0x11 (No subscription existed), section 3.11.3.
TEST_P(BrokerPubSubVersionTest, UnsubscribeStopsDelivery) {
    start();
    auto sub = connected_client(version(), "unsub");
    sub->subscribe("un/t", QoS::AtLeastOnce);
    sub->subscribe("un/marker", QoS::AtLeastOnce);
    auto unsuback = sub->unsubscribe("un/t");
    if (v5()) {
        EXPECT_EQ(std::vector<ReasonCode>(unsuback->reason_codes.begin(), unsuback->reason_codes.end()),
                  std::vector<ReasonCode>{ReasonCode::Success});
    }
    auto none = sub->unsubscribe("un/never");
    if (v5()) {
        EXPECT_EQ(std::vector<ReasonCode>(none->reason_codes.begin(), none->reason_codes.end()),
                  std::vector<ReasonCode>{ReasonCode::NoSubscriptionExisted});
    }
    auto pub = connected_client(version(), "pub");
    pub->publish("un/t", "after unsubscribe", QoS::AtLeastOnce);
    pub->publish("un/marker", "marker", QoS::AtLeastOnce);
    auto m = sub->receive_message();
    EXPECT_EQ(topic_of(*m), "un/marker") << "a message for the deleted subscription was delivered";
    sub->disconnect();
    pub->disconnect();
}

// ---------------------------------------------------------------------------------------------------------
// Order and size

// [MQTT-4.6.0-6] (3.1.1) / [MQTT-4.6.0-5] (5.0): messages of one publisher on one topic reach a subscriber in
// the order they were published; checked with 200 QoS 1 messages sent without waiting for each PUBACK.
TEST_P(BrokerPubSubVersionTest, MessagesArriveInPublicationOrder) {
    start();
    auto sub = connected_client(version(), "order");
    sub->subscribe("order/t", QoS::AtLeastOnce);
    auto pub = connected_client(version(), "pub");
    constexpr int kCount = 200;
    std::vector<std::uint16_t> ids;
    for (int i = 0; i < kCount; ++i) {
        Message m;
        m.topic = "order/t";
        m.payload = std::to_string(i);
        m.qos = QoS::AtLeastOnce;
        const auto p = pub->make_publish(m);
        ids.push_back(p.packet_id);
        pub->send(p);
    }
    for (int i = 0; i < kCount; ++i) {
        auto puback = pub->expect<codec::Puback>();
        EXPECT_EQ(puback->packet_id, ids[static_cast<std::size_t>(i)]);
    }
    for (int i = 0; i < kCount; ++i) {
        auto m = sub->receive_message();
        ASSERT_EQ(payload_of(*m), std::to_string(i));
    }
    sub->disconnect();
    pub->disconnect();
}

// A 200 KiB payload (under the default 1 MiB Maximum Packet Size) arrives intact.
TEST_P(BrokerPubSubVersionTest, LargePayloadDeliveredIntact) {
    start();
    auto sub = connected_client(version(), "big");
    sub->subscribe("big/t", QoS::AtLeastOnce);
    auto pub = connected_client(version(), "pub");
    std::string payload(200 * 1024, '\0');
    for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>('a' + i % 26);
    EXPECT_EQ(pub->publish("big/t", payload, QoS::AtLeastOnce), ReasonCode::Success);
    auto m = sub->receive_message();
    EXPECT_EQ(m->payload.size(), payload.size());
    EXPECT_TRUE(payload_of(*m) == payload);
    sub->disconnect();
    pub->disconnect();
}

INSTANTIATE_TEST_SUITE_P(Versions, BrokerPubSubVersionTest, ::testing::Values(kV31, kV311, kV5), version_suffix);
INSTANTIATE_TEST_SUITE_P(Versions, BrokerSubAckTest, ::testing::Values(kV311, kV5), version_suffix);

}  // namespace
}  // namespace moth::test
