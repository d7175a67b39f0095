// Sessions against the real mothd: what a session keeps while its client is away, redelivery on reconnect,
// Clean Start, the 5.0 Session Expiry Interval, and the offline queue limits.
//
// Statement ids: "(3.1.1)" and "(5.0)" mark ids whose numbering differs between the two specifications.

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "broker_test_util.hpp"

namespace moth::test {
namespace {

class BrokerSessionTest : public BrokerFixture {};
// 3.1.1 and 5.0 (3.1 has no Session Present flag to check).
class BrokerSessionVersionTest : public VersionedBrokerTest {};

// [MQTT-3.1.2-4] (3.1.1) / [MQTT-3.1.2-5] (5.0): a Clean Start 0 connection resumes the stored session, with its
// subscriptions; [MQTT-3.1.2-5] (3.1.1) / [MQTT-3.1.2-23] (5.0): QoS 1 and 2 messages matching them while the
// client is away are stored; [MQTT-4.5.0-1]: and delivered when it returns, in order [MQTT-4.6.0-6] (3.1.1).
TEST_P(BrokerSessionVersionTest, PersistentSessionKeepsSubscriptionsAndQueuesWhileOffline) {
    start();
    {
        auto s = connected_client(version(), persistent_session("keeper", version()));
        s->subscribe("ps/t", QoS::ExactlyOnce);
        s->disconnect();
    }
    auto pub = connected_client(version(), "pub");
    pub->publish("ps/t", "q1", QoS::AtLeastOnce);
    pub->publish("ps/t", "q2", QoS::ExactlyOnce);

    auto s = tcp_client(version(), "keeper");
    auto connack = s->connect(persistent_session("keeper", version()));
    EXPECT_TRUE(connack->session_present);
    auto m1 = s->receive_message();
    EXPECT_EQ(payload_of(*m1), "q1");
    EXPECT_EQ(m1->qos, QoS::AtLeastOnce);
    auto m2 = s->receive_message();
    EXPECT_EQ(payload_of(*m2), "q2");
    EXPECT_EQ(m2->qos, QoS::ExactlyOnce);

    // The subscription is still there for live messages.
    pub->publish("ps/t", "live", QoS::AtLeastOnce);
    auto m3 = s->receive_message();
    EXPECT_EQ(payload_of(*m3), "live");
    s->disconnect();
    pub->disconnect();
}

// [MQTT-4.4.0-1]: on reconnection with Clean Start 0 the server resends unacknowledged QoS 1 PUBLISH packets with
// their original packet ids; [MQTT-3.3.1-1]: with DUP 1. Once acknowledged, it is not sent again.
TEST_P(BrokerSessionVersionTest, UnacknowledgedQos1RedeliveredWithDupOnReconnect) {
    start();
    auto s = connected_client(version(), persistent_session("redeliver", version()));
    s->subscribe("rd/t", QoS::AtLeastOnce);
    auto pub = connected_client(version(), "pub");
    pub->publish("rd/t", "unacked", QoS::AtLeastOnce);
    auto first = s->expect<codec::Publish>();
    EXPECT_FALSE(first->dup);
    const std::uint16_t id = first->packet_id;
    s->close_abruptly();  // no PUBACK

    auto again = tcp_client(version(), "redeliver");
    auto connack = again->connect(persistent_session("redeliver", version()));
    EXPECT_TRUE(connack->session_present);
    auto resent = again->expect<codec::Publish>();
    EXPECT_EQ(payload_of(*resent), "unacked");
    EXPECT_EQ(resent->packet_id, id);
    EXPECT_TRUE(resent->dup);
    EXPECT_EQ(resent->qos, QoS::AtLeastOnce);
    again->ack(*resent);
    again->expect_silence();
    again->disconnect();
    pub->disconnect();
}

// [MQTT-4.4.0-1]: unacknowledged PUBREL packets are resent on reconnection with their original ids, and
// [MQTT-4.3.3-1] (3.1.1) / [MQTT-4.3.3-6] (5.0): the PUBLISH is not sent again once PUBREL was sent.
TEST_P(BrokerSessionVersionTest, OutboundQos2PubrelResentOnReconnect) {
    start();
    auto s = connected_client(version(), persistent_session("rel", version()));
    s->subscribe("rel/t", QoS::ExactlyOnce);
    auto pub = connected_client(version(), "pub");
    pub->publish("rel/t", "exactly once", QoS::ExactlyOnce);
    auto p = s->expect<codec::Publish>();
    const std::uint16_t id = p->packet_id;
    s->send(ack_packet<codec::Pubrec>(id));
    auto pubrel = s->expect<codec::Pubrel>();
    EXPECT_EQ(pubrel->packet_id, id);
    s->close_abruptly();  // no PUBCOMP

    auto again = tcp_client(version(), "rel");
    auto connack = again->connect(persistent_session("rel", version()));
    EXPECT_TRUE(connack->session_present);
    auto resent = again->expect<codec::Pubrel>();
    EXPECT_EQ(resent->packet_id, id);
    again->send(ack_packet<codec::Pubcomp>(id));
    again->expect_silence();
    again->disconnect();
    pub->disconnect();
}

// Inbound QoS 2 state survives a reconnect: the publisher got PUBREC, lost its connection before PUBREL, resumes,
// resends the PUBLISH with DUP 1 (allowed until PUBREL [MQTT-4.4.0-1]); the server answers PUBREC again and does not
// deliver it twice [MQTT-4.3.3-2] (3.1.1) / [MQTT-4.3.3-10] (5.0); PUBREL gets PUBCOMP [MQTT-4.3.3-11] (5.0).
TEST_P(BrokerSessionVersionTest, InboundQos2StateSurvivesReconnect) {
    start();
    auto sub = connected_client(version(), "sub");
    sub->subscribe("in2/t", QoS::ExactlyOnce);

    auto pub = connected_client(version(), persistent_session("pub2", version()));
    Message m;
    m.topic = "in2/t";
    m.payload = "once";
    m.qos = QoS::ExactlyOnce;
    codec::Publish p = pub->make_publish(m);
    pub->send(p);
    auto pubrec = pub->expect<codec::Pubrec>();
    EXPECT_EQ(pubrec->packet_id, p.packet_id);
    pub->close_abruptly();

    auto again = tcp_client(version(), "pub2");
    auto connack = again->connect(persistent_session("pub2", version()));
    EXPECT_TRUE(connack->session_present);
    p.dup = true;
    again->send(p);
    auto pubrec2 = again->expect<codec::Pubrec>();
    EXPECT_EQ(pubrec2->packet_id, p.packet_id);
    again->send(ack_packet<codec::Pubrel>(p.packet_id));
    auto pubcomp = again->expect<codec::Pubcomp>();
    EXPECT_EQ(pubcomp->packet_id, p.packet_id);
    again->publish("in2/t", "marker", QoS::AtLeastOnce);

    auto first = sub->receive_message();
    EXPECT_EQ(payload_of(*first), "once");
    auto second = sub->receive_message();
    EXPECT_EQ(payload_of(*second), "marker") << "the QoS 2 message was delivered twice";
    sub->disconnect();
    again->disconnect();
}

// [MQTT-3.1.2-6] (3.1.1) / [MQTT-3.1.2-4] (5.0): Clean Start 1 discards the session: Session Present 0
// [MQTT-3.2.2-1] (3.1.1) / [MQTT-3.2.2-2] (5.0), no queued messages, no subscriptions.
TEST_P(BrokerSessionVersionTest, CleanStartDiscardsSession) {
    start();
    {
        auto s = connected_client(version(), persistent_session("cleaner", version()));
        s->subscribe("cs/t", QoS::AtLeastOnce);
        s->disconnect();
    }
    auto pub = connected_client(version(), "pub");
    pub->publish("cs/t", "queued", QoS::AtLeastOnce);

    auto s = tcp_client(version(), "cleaner");
    auto connack = s->connect(clean_session("cleaner"));
    EXPECT_FALSE(connack->session_present);
    s->subscribe("cs/marker", QoS::AtLeastOnce);
    pub->publish("cs/t", "live", QoS::AtLeastOnce);
    pub->publish("cs/marker", "marker", QoS::AtLeastOnce);
    auto m = s->receive_message();
    EXPECT_EQ(topic_of(*m), "cs/marker") << "the discarded session's queue or subscription delivered "
                                         << m.received().describe();
    s->disconnect();

    // 3.1.1: the Clean Session 1 session ended with its connection; 5.0: it had no Session Expiry Interval.
    auto again = tcp_client(version(), "cleaner");
    EXPECT_FALSE(again->connect(persistent_session("cleaner", version()))->session_present);
    again->disconnect();
    pub->disconnect();
}

// 5.0 section 3.1.2.11.2: an absent Session Expiry Interval means 0: the session ends when the connection closes,
// so a later Clean Start 0 connection gets Session Present 0 [MQTT-3.2.2-3] (5.0) and none of its subscriptions.
TEST_F(BrokerSessionTest, Mqtt5AbsentSessionExpiryEndsSessionWithConnection) {
    start();
    ConnectOptions o;
    o.client_id = "brief";
    o.clean_start = false;  // no session_expiry_interval
    {
        auto s = connected_client(kV5, o);
        s->subscribe("brief/t", QoS::AtLeastOnce);
        s->disconnect();
    }
    auto pub = connected_client(kV5, "pub");
    pub->publish("brief/t", "nobody", QoS::AtLeastOnce);
    auto s = tcp_client(kV5, "brief");
    EXPECT_FALSE(s->connect(o)->session_present);
    s->subscribe("brief/marker", QoS::AtLeastOnce);
    pub->publish("brief/marker", "marker", QoS::AtLeastOnce);
    auto m = s->receive_message();
    EXPECT_EQ(topic_of(*m), "brief/marker");
    s->disconnect();
    pub->disconnect();
}

// [MQTT-4.1.0-2] (5.0): the server discards the session once the connection is closed and the Session Expiry
// Interval has passed. The moment the session ends is observed through its Will: with a Will Delay Interval far
// longer than the session's 1 s expiry, the Will is published when the session ends [MQTT-3.1.2-8] (5.0), not
// before. Then a Clean Start 0 connection finds no session [MQTT-3.2.2-3] (5.0). (Polling with reconnects would not
// do: each Clean Start 0 reconnect resumes the session and restarts its expiry.)
TEST_F(BrokerSessionTest, Mqtt5SessionEndsAfterSessionExpiryInterval) {
    start();
    auto watcher = connected_client(kV5, "watcher");
    watcher->subscribe("se/will", QoS::AtLeastOnce);

    ConnectOptions o;
    o.client_id = "expiring";
    o.clean_start = true;
    o.session_expiry_interval = 1;
    o.will = WillOptions{"se/will", "session ended", QoS::AtLeastOnce, false,
                         3600,      std::nullopt,    std::nullopt,     std::nullopt};
    auto s = connected_client(kV5, o);
    s->subscribe("se/t", QoS::AtLeastOnce);
    const auto closed_at = TestClock::now();
    s->close_abruptly();

    auto will = watcher->receive_message(6s);
    const auto elapsed = TestClock::now() - closed_at;
    EXPECT_EQ(payload_of(*will), "session ended");
    EXPECT_GE(elapsed, 900ms) << "the session ended before its 1 s expiry interval";

    auto again = tcp_client(kV5, "expiring");
    ConnectOptions resume;
    resume.client_id = "expiring";
    resume.clean_start = false;
    EXPECT_FALSE(again->connect(resume)->session_present) << "the expired session was resumed";
    again->disconnect();
    watcher->disconnect();
}

// The other side: within its Session Expiry Interval the session is still there [MQTT-3.1.2-23] (5.0).
TEST_F(BrokerSessionTest, Mqtt5SessionResumedWithinExpiryInterval) {
    start();
    ConnectOptions o;
    o.client_id = "lasting";
    o.clean_start = false;
    o.session_expiry_interval = 30;
    {
        auto s = connected_client(kV5, o);
        s->subscribe("last/t", QoS::AtLeastOnce);
        s->close_abruptly();
    }
    auto s = tcp_client(kV5, "lasting");
    EXPECT_TRUE(s->connect(o)->session_present);
    s->disconnect();
}

// [limits] max_queued_messages with queue_full_policy: an offline session queues at most 3 messages; "drop_new"
// keeps the first three, "drop_oldest" the last three. Either way the kept ones arrive in order and nothing else.
class BrokerQueueLimitTest : public BrokerFixture, public ::testing::WithParamInterface<std::string> {};

TEST_P(BrokerQueueLimitTest, OfflineQueueKeepsConfiguredMessages) {
    const std::string policy = GetParam();
    start("[limits]\nmax_queued_messages = 3\nqueue_full_policy = \"" + policy + "\"\n");
    {
        auto s = connected_client(kV5, persistent_session("queued", kV5));
        s->subscribe("ql/t", QoS::AtLeastOnce);
        s->subscribe("ql/marker", QoS::AtMostOnce);
        s->disconnect();
    }
    auto pub = connected_client(kV5, "pub");
    for (int i = 1; i <= 6; ++i) pub->publish("ql/t", std::to_string(i), QoS::AtLeastOnce);

    auto s = tcp_client(kV5, "queued");
    EXPECT_TRUE(s->connect(persistent_session("queued", kV5))->session_present);
    const std::vector<std::string> expected =
        policy == "drop_new" ? std::vector<std::string>{"1", "2", "3"} : std::vector<std::string>{"4", "5", "6"};
    for (const auto& want : expected) {
        auto m = s->receive_message();
        EXPECT_EQ(payload_of(*m), want);
    }
    pub->publish("ql/marker", "marker", QoS::AtMostOnce);
    auto m = s->receive_message();
    EXPECT_EQ(topic_of(*m), "ql/marker") << "more than max_queued_messages were queued";
    s->disconnect();
    pub->disconnect();
}

INSTANTIATE_TEST_SUITE_P(Policies, BrokerQueueLimitTest, ::testing::Values("drop_new", "drop_oldest"),
                         [](const ::testing::TestParamInfo<std::string>& param_info) {
                             return param_info.param == "drop_new" ? std::string("DropNew") : std::string("DropOldest");
                         });

INSTANTIATE_TEST_SUITE_P(Versions, BrokerSessionVersionTest, ::testing::Values(kV311, kV5), version_suffix);

}  // namespace
}  // namespace moth::test
