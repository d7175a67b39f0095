// GatewaySession, the core's QoS 1/2 publications towards the client (MQTT-SN 1.2 section 6.10), max_inflight,
// retransmission (6.13) and sleeping clients (6.14).
#include "gateway_fixture.hpp"

namespace moth::mqttsn::test {
namespace {

using R = codec::ReasonCode;
using State = GatewaySession::State;

// 6.10 QoS 1: msg_id = the core's packet id; the client's PUBACK becomes the core's.
TEST_F(GatewayTest, DeliveryQos1IsAcknowledgedToTheCore) {
    connect();
    deliver("ab", "m", 1, 42);
    EXPECT_EQ(out.to_client, only(sn_publish(TopicIdType::Short, short_topic_id("ab"), "m", 1, 42)));
    EXPECT_TRUE(mqtt.empty());
    client(Puback{.topic_id = short_topic_id("ab"), .msg_id = 42, .rc = ReturnCode::Accepted});
    ASSERT_EQ(mqtt.size(), 1U);
    EXPECT_EQ(mqtt[0].type, codec::PacketType::Puback);
    EXPECT_EQ(mqtt[0].id, 42);
    EXPECT_EQ(mqtt[0].reason, R::Success);
    EXPECT_EQ(s().dropped(), 0U);
}

// 6.10: a client that refuses a message (PUBACK with an error) still releases it at the core; it is counted.
TEST_F(GatewayTest, DeliveryRefusedByTheClientIsAcknowledgedWithAnError) {
    connect();
    deliver("ab", "m", 1, 43);
    client(Puback{.topic_id = short_topic_id("ab"), .msg_id = 43, .rc = ReturnCode::Congestion});
    ASSERT_EQ(mqtt.size(), 1U);
    EXPECT_EQ(mqtt[0].type, codec::PacketType::Puback);
    EXPECT_EQ(mqtt[0].id, 43);
    EXPECT_EQ(mqtt[0].reason, R::QuotaExceeded);
    EXPECT_EQ(s().dropped(), 1U);
    client(Puback{.topic_id = short_topic_id("ab"), .msg_id = 43, .rc = ReturnCode::Accepted});  // nothing in flight
    EXPECT_TRUE(mqtt.empty());
    EXPECT_EQ(s().dropped(), 2U);
}

// 6.10 QoS 2: PUBLISH, PUBREC (to the core), the core's PUBREL (to the client), PUBCOMP (to the core).
TEST_F(GatewayTest, DeliveryQos2Flow) {
    connect();
    deliver("ab", "m", 2, 50);
    EXPECT_EQ(out.to_client, only(sn_publish(TopicIdType::Short, short_topic_id("ab"), "m", 2, 50)));
    client(Pubrec{.msg_id = 50});
    ASSERT_EQ(mqtt.size(), 1U);
    EXPECT_EQ(mqtt[0].type, codec::PacketType::Pubrec);
    EXPECT_EQ(mqtt[0].id, 50);
    core(codec::Pubrel{.packet_id = 50, .reason = R::Success, .properties = {}});
    EXPECT_EQ(out.to_client, only(Pubrel{.msg_id = 50}));
    client(Pubcomp{.msg_id = 50});
    ASSERT_EQ(mqtt.size(), 1U);
    EXPECT_EQ(mqtt[0].type, codec::PacketType::Pubcomp);
    EXPECT_EQ(mqtt[0].id, 50);
}

// 6.10: at most max_inflight unanswered towards the client; REGISTERs count; the rest waits in order.
TEST_F(GatewayTest, MaxInflightBoundsUnansweredMessages) {
    settings.max_inflight = 1;
    connect();
    deliver("ab", "1", 1, 1);
    EXPECT_EQ(out.to_client.size(), 1U);
    deliver("ab", "2", 1, 2);
    deliver("new/one", "3", 1, 3);
    EXPECT_TRUE(out.to_client.empty());
    client(Puback{.topic_id = short_topic_id("ab"), .msg_id = 1, .rc = ReturnCode::Accepted});
    EXPECT_EQ(out.to_client, only(sn_publish(TopicIdType::Short, short_topic_id("ab"), "2", 1, 2)));
    client(Puback{.topic_id = short_topic_id("ab"), .msg_id = 2, .rc = ReturnCode::Accepted});
    EXPECT_EQ(out.to_client, only(Register{.topic_id = 3, .msg_id = 1, .topic_name = "new/one"}));  // takes the slot
    client(Regack{.topic_id = 3, .msg_id = 1, .rc = ReturnCode::Accepted});
    EXPECT_EQ(out.to_client, only(sn_publish(TopicIdType::Normal, 3, "3", 1, 3)));
}

// 6.13: unanswered PUBLISHes go again after Tretry with DUP set; after Nretry resends the client is lost.
TEST_F(GatewayTest, RetransmissionThenLost) {
    connect(true, 0);  // no keep-alive supervision: only the retransmissions count here
    deliver("ab", "m", 1, 9);
    EXPECT_EQ(s().next_timer(), now + 10s);
    for (unsigned i = 0; i < settings.max_retries; ++i) {
        tick_next();
        EXPECT_EQ(out.to_client, only(sn_publish(TopicIdType::Short, short_topic_id("ab"), "m", 1, 9, true)));
        EXPECT_FALSE(out.forget);
    }
    tick_next();
    EXPECT_TRUE(out.to_client.empty());
    EXPECT_TRUE(out.end_lost);  // the core publishes the will
    EXPECT_TRUE(out.forget);
}

// 6.13: the REGISTER and the PUBREL are retransmitted too (a REGISTER is resent unchanged).
TEST_F(GatewayTest, RegisterAndPubrelAreRetransmitted) {
    connect(true, 0);
    deliver("new/one", "m", 2, 5);
    const Register reg{.topic_id = 3, .msg_id = 1, .topic_name = "new/one"};
    EXPECT_EQ(out.to_client, only(reg));
    tick_next();
    EXPECT_EQ(out.to_client, only(reg));
    client(Regack{.topic_id = 3, .msg_id = 1, .rc = ReturnCode::Accepted});
    client(Pubrec{.msg_id = 5});
    EXPECT_FALSE(s().next_timer().has_value());  // the core's turn: nothing to resend
    core(codec::Pubrel{.packet_id = 5, .reason = R::Success, .properties = {}});
    tick_next();
    EXPECT_EQ(out.to_client, only(Pubrel{.msg_id = 5}));
}

// 6.14: DISCONNECT with a duration: asleep; QoS 0 kept up to sleep_buffer (the oldest dropped, counted).
TEST_F(GatewayTest, SleepingClientKeepsMessagesOldestDroppedFirst) {
    settings.sleep_buffer = 2;
    connect();
    client(Disconnect{.duration_s = 60});
    EXPECT_EQ(out.to_client, only(Disconnect{}));
    EXPECT_TRUE(mqtt.empty());  // the internal connection stays
    EXPECT_FALSE(out.forget);
    EXPECT_EQ(s().state(), State::Asleep);
    deliver("ab", "1");
    deliver("ab", "2");
    deliver("ab", "3");
    EXPECT_TRUE(out.to_client.empty());
    EXPECT_EQ(s().dropped(), 1U);

    client(PingReq{.client_id = "sn1"});
    const std::vector<Packet> expected{sn_publish(TopicIdType::Short, short_topic_id("ab"), "2"),
                                       sn_publish(TopicIdType::Short, short_topic_id("ab"), "3"), PingResp{}};
    EXPECT_EQ(out.to_client, expected);
    EXPECT_EQ(s().state(), State::Asleep);
}

// sleep_buffer bounds what is kept, not what goes at once: with 0, an active client still gets its QoS 0 messages.
TEST_F(GatewayTest, SleepBufferZeroKeepsNothingButDeliversWhileActive) {
    settings.sleep_buffer = 0;
    connect();
    deliver("ab", "now");
    EXPECT_EQ(out.to_client, only(sn_publish(TopicIdType::Short, short_topic_id("ab"), "now")));
    client(Disconnect{.duration_s = 60});
    deliver("ab", "lost");
    client(PingReq{.client_id = "sn1"});
    EXPECT_EQ(out.to_client, only(PingResp{}));
    EXPECT_EQ(s().dropped(), 1U);
}

// 6.14: awake, QoS 1 messages are sent under the max_inflight rule; the PINGRESP waits for the last answer, and a
// message the core sends meanwhile goes in the same wake-up.
TEST_F(GatewayTest, WakeUpDeliversEverythingThenPingresp) {
    connect();
    client(Disconnect{.duration_s = 60});
    deliver("ab", "1", 1, 1);
    deliver("ab", "2", 1, 2);
    EXPECT_TRUE(out.to_client.empty());
    client(PingReq{.client_id = "sn1"});
    EXPECT_EQ(s().state(), State::Awake);
    EXPECT_EQ(out.to_client, only(sn_publish(TopicIdType::Short, short_topic_id("ab"), "1", 1, 1)));
    deliver("ab", "3", 0);
    EXPECT_TRUE(out.to_client.empty());  // behind "2"
    client(Puback{.topic_id = short_topic_id("ab"), .msg_id = 1, .rc = ReturnCode::Accepted});
    const std::vector<Packet> expected{sn_publish(TopicIdType::Short, short_topic_id("ab"), "2", 1, 2),
                                       sn_publish(TopicIdType::Short, short_topic_id("ab"), "3")};
    EXPECT_EQ(out.to_client, expected);  // QoS 0 needs no slot: it follows at once, in order
    client(Puback{.topic_id = short_topic_id("ab"), .msg_id = 2, .rc = ReturnCode::Accepted});
    EXPECT_EQ(out.to_client, only(PingResp{}));
    EXPECT_EQ(s().state(), State::Asleep);
}

// 6.14: nothing kept: PINGRESP at once; nothing is sent or resent while asleep (the clock restarts on waking).
TEST_F(GatewayTest, AsleepSendsNothingAndWakesWithNothingKept) {
    connect();
    deliver("ab", "m", 1, 4);  // unanswered when the client falls asleep
    client(Disconnect{.duration_s = 100});
    now += 50s;
    tick();
    EXPECT_TRUE(out.to_client.empty());
    client(PingReq{.client_id = "sn1"});
    EXPECT_EQ(out.to_client, only(sn_publish(TopicIdType::Short, short_topic_id("ab"), "m", 1, 4, true)));
    client(Puback{.topic_id = short_topic_id("ab"), .msg_id = 4, .rc = ReturnCode::Accepted});
    EXPECT_EQ(out.to_client, only(PingResp{}));
    client(PingReq{.client_id = "sn1"});
    EXPECT_EQ(out.to_client, only(PingResp{}));
    EXPECT_EQ(s().state(), State::Asleep);
    client(PingReq{.client_id = "someone-else"});
    EXPECT_TRUE(out.to_client.empty());
}

// 6.14: asleep longer than the duration x grace without a PINGREQ: lost. A PINGREQ restarts the sleep clock.
TEST_F(GatewayTest, SleepOverrunIsLost) {
    connect(true, 10);
    client(Disconnect{.duration_s = 100});
    EXPECT_EQ(s().next_timer(), now + 150s);
    now += 140s;
    client(PingReq{.client_id = "sn1"});
    EXPECT_EQ(out.to_client, only(PingResp{}));
    EXPECT_EQ(s().next_timer(), now + 150s);
    tick_next();
    EXPECT_TRUE(out.end_lost);
    EXPECT_TRUE(out.forget);
}

// 6.14: a PUBREL that fell due while the client slept goes out when it wakes.
TEST_F(GatewayTest, PubrelDueWhileAsleepIsSentOnWaking) {
    connect();
    deliver("ab", "m", 2, 8);
    client(Pubrec{.msg_id = 8});
    client(Disconnect{.duration_s = 100});
    core(codec::Pubrel{.packet_id = 8, .reason = R::Success, .properties = {}});
    EXPECT_TRUE(out.to_client.empty());
    client(PingReq{.client_id = "sn1"});
    EXPECT_EQ(out.to_client, only(Pubrel{.msg_id = 8}));
    client(Pubcomp{.msg_id = 8});
    EXPECT_EQ(out.to_client, only(PingResp{}));
    ASSERT_EQ(mqtt.size(), 1U);
    EXPECT_EQ(mqtt[0].type, codec::PacketType::Pubcomp);
}

}  // namespace
}  // namespace moth::mqttsn::test
