// GatewaySession, the connection side: CONNECT and the will exchange (MQTT-SN 1.2 section 6.2), CleanSession and
// resume (6.3), will updates (6.4), keep alive (6.11), DISCONNECT (6.12), retransmission (6.13), sleeping clients
// (6.14). The topic side is in gateway_topics_test.cpp.
#include "gateway_fixture.hpp"

namespace moth::mqttsn::test {
namespace {

using State = GatewaySession::State;

// 6.2: without a will the CONNECT goes to the core at once, as an MQTT 5.0 CONNECT.
TEST_F(GatewayTest, ConnectWithoutWillOpensTheInternalConnection) {
    settings.username = "gw-user";
    settings.receive_maximum = 7;
    settings.max_datagram = 1000;
    client(Connect{.flags = {.clean_session = true}, .protocol_id = 1, .duration_s = 30, .client_id = "sn1"});
    EXPECT_TRUE(out.to_client.empty());
    EXPECT_EQ(s().state(), State::Connecting);
    EXPECT_EQ(s().client_id(), "sn1");
    ASSERT_EQ(mqtt.size(), 1U);
    const Mqtt& c = mqtt[0];
    EXPECT_EQ(c.type, codec::PacketType::Connect);
    EXPECT_EQ(c.client_id, "sn1");
    EXPECT_TRUE(c.clean_start);
    EXPECT_EQ(c.keep_alive, 0);  // the gateway supervises the client itself
    EXPECT_EQ(c.username, std::optional<std::string>("gw-user"));
    EXPECT_EQ(c.session_expiry, std::optional<std::uint32_t>(0));
    EXPECT_EQ(c.receive_maximum, std::optional<std::uint16_t>(7));
    ASSERT_TRUE(c.maximum_packet_size.has_value());
    EXPECT_GE(*c.maximum_packet_size, 1000U + 64U);  // room for MQTT's longer PUBLISH header
    EXPECT_EQ(c.topic_alias_maximum, std::optional<std::uint16_t>(0));
    EXPECT_FALSE(c.has_will);

    core(codec::Connack{});
    EXPECT_EQ(out.to_client, only(Connack{ReturnCode::Accepted}));
    EXPECT_EQ(s().state(), State::Active);
    EXPECT_EQ(state_name(s().state()), "active");
}

// 6.3: CleanSession=0 asks the core to keep the session for session_expiry_s; no username means none.
TEST_F(GatewayTest, PersistentSessionGetsTheConfiguredExpiry) {
    settings.session_expiry_s = 3600;
    client(Connect{.flags = {.clean_session = false}, .protocol_id = 1, .duration_s = 30, .client_id = "sn1"});
    ASSERT_EQ(mqtt.size(), 1U);
    EXPECT_FALSE(mqtt[0].clean_start);
    EXPECT_EQ(mqtt[0].session_expiry, std::optional<std::uint32_t>(3600));
    EXPECT_FALSE(mqtt[0].username.has_value());
}

// 6.2: Will flag: WILLTOPICREQ / WILLTOPIC / WILLMSGREQ / WILLMSG, then the CONNECT carries the will.
TEST_F(GatewayTest, ConnectWithWillAsksForTopicAndMessage) {
    client(Connect{
        .flags = {.will = true, .clean_session = true}, .protocol_id = 1, .duration_s = 30, .client_id = "sn1"});
    EXPECT_EQ(out.to_client, only(WillTopicReq{}));
    EXPECT_TRUE(mqtt.empty());
    EXPECT_EQ(s().state(), State::WillTopic);
    client(WillTopic{.flags = {.qos = 1, .retain = true}, .topic = "dev/sn1/status", .empty = false});
    EXPECT_EQ(out.to_client, only(WillMsgReq{}));
    EXPECT_EQ(s().state(), State::WillMsg);
    client(WillMsg{.message = buf("gone")});
    EXPECT_TRUE(out.to_client.empty());
    ASSERT_EQ(mqtt.size(), 1U);
    EXPECT_TRUE(mqtt[0].has_will);
    EXPECT_EQ(mqtt[0].topic, "dev/sn1/status");
    EXPECT_EQ(mqtt[0].payload, "gone");
    EXPECT_EQ(mqtt[0].qos, 1);
    EXPECT_TRUE(mqtt[0].retain);
    EXPECT_EQ(s().state(), State::Connecting);
}

// 6.2: an empty WILLTOPIC means no will: the CONNECT goes at once, without WILLMSGREQ.
TEST_F(GatewayTest, EmptyWillTopicMeansNoWill) {
    client(Connect{.flags = {.will = true}, .protocol_id = 1, .duration_s = 30, .client_id = "sn1"});
    client(WillTopic{.flags = {}, .topic = {}, .empty = true});
    EXPECT_TRUE(out.to_client.empty());
    ASSERT_EQ(mqtt.size(), 1U);
    EXPECT_FALSE(mqtt[0].has_will);
}

// 6.13: the will requests are resent after Tretry; after Nretry resends the attempt is forgotten silently.
TEST_F(GatewayTest, WillRequestIsRetriedThenForgotten) {
    client(Connect{.flags = {.will = true}, .protocol_id = 1, .duration_s = 30, .client_id = "sn1"});
    EXPECT_EQ(s().next_timer(), now + 10s);
    for (unsigned i = 0; i < settings.max_retries; ++i) {
        tick_next();
        EXPECT_EQ(out.to_client, only(WillTopicReq{}));
        EXPECT_FALSE(out.forget);
    }
    tick_next();
    EXPECT_TRUE(out.to_client.empty());
    EXPECT_TRUE(out.forget);
    EXPECT_FALSE(out.end_lost);  // there was no internal connection yet
}

// 6.2: the core's refusal becomes the CONNACK's return code; the core then closes, and the session is forgotten.
TEST_F(GatewayTest, RefusedConnackMapsToCongestionOrNotSupported) {
    const std::pair<codec::ReasonCode, ReturnCode> cases[] = {
        {codec::ReasonCode::ServerBusy, ReturnCode::Congestion},
        {codec::ReasonCode::QuotaExceeded, ReturnCode::Congestion},
        {codec::ReasonCode::ConnectionRateExceeded, ReturnCode::Congestion},
        {codec::ReasonCode::NotAuthorized, ReturnCode::NotSupported},
        {codec::ReasonCode::ClientIdentifierNotValid, ReturnCode::NotSupported},
    };
    for (const auto& [reason, rc] : cases) {
        session.reset();
        client(Connect{.flags = {.clean_session = true}, .protocol_id = 1, .duration_s = 30, .client_id = "sn1"});
        core(codec::Connack{.session_present = false, .reason = reason, .properties = {}});
        EXPECT_EQ(out.to_client, only(Connack{rc})) << static_cast<int>(reason);
        EXPECT_FALSE(out.forget);
        core_closed();
        EXPECT_TRUE(out.forget);
        EXPECT_TRUE(out.to_client.empty());  // it heard the CONNACK already
    }
}

// A client repeating its CONNECT while the CONNACK is on its way (6.13) does not end the connection (that would
// publish its will).
TEST_F(GatewayTest, RepeatedConnectWhileConnectingIsIgnored) {
    client(Connect{.flags = {.clean_session = true}, .protocol_id = 1, .duration_s = 30, .client_id = "sn1"});
    client(Connect{.flags = {.clean_session = true}, .protocol_id = 1, .duration_s = 30, .client_id = "sn1"});
    EXPECT_FALSE(out.end_lost);
    EXPECT_TRUE(mqtt.empty());
    core(codec::Connack{});
    EXPECT_EQ(out.to_client, only(Connack{ReturnCode::Accepted}));
}

// 6.3: a clean CONNECT (or another client id) while connected ends the old connection as a failure and opens a new.
TEST_F(GatewayTest, CleanConnectWhileActiveReplacesTheConnection) {
    connect(true);
    client(Connect{.flags = {.clean_session = true}, .protocol_id = 1, .duration_s = 30, .client_id = "sn1"});
    EXPECT_TRUE(out.end_lost);
    ASSERT_EQ(mqtt.size(), 1U);
    EXPECT_EQ(mqtt[0].type, codec::PacketType::Connect);
    EXPECT_EQ(s().state(), State::Connecting);
    core(codec::Connack{});
    EXPECT_EQ(s().state(), State::Active);

    client(Connect{.flags = {.clean_session = false}, .protocol_id = 1, .duration_s = 30, .client_id = "other"});
    EXPECT_TRUE(out.end_lost);
    ASSERT_EQ(mqtt.size(), 1U);
    EXPECT_EQ(mqtt[0].client_id, "other");
}

// 6.3 / 6.14: CleanSession=0 from a sleeping client resumes its session without a new internal connection; its
// topic ids are forgotten on both sides, and what was kept is delivered (registered again).
TEST_F(GatewayTest, ResumeByConnectDeliversWhatWasKeptAfterRegisteringAgain) {
    connect(false);
    client(Register{.topic_id = 0, .msg_id = 1, .topic_name = "a/b"});
    EXPECT_EQ(out.to_client, only(Regack{.topic_id = 3, .msg_id = 1, .rc = ReturnCode::Accepted}));  // 1, 2 predefined
    client(Disconnect{.duration_s = 100});
    deliver("a/b", "kept", 1, 9);
    EXPECT_TRUE(out.to_client.empty());

    client(Connect{.flags = {.clean_session = false}, .protocol_id = 1, .duration_s = 45, .client_id = "sn1"});
    EXPECT_FALSE(out.end_lost);
    EXPECT_TRUE(mqtt.empty());  // no new internal connection
    EXPECT_EQ(s().state(), State::Active);
    ASSERT_EQ(out.to_client.size(), 2U);
    EXPECT_EQ(out.to_client[0], Packet{Connack{ReturnCode::Accepted}});
    ASSERT_TRUE(std::holds_alternative<Register>(out.to_client[1]));  // the old id is not trusted any more
    const Register reg = std::get<Register>(out.to_client[1]);
    EXPECT_EQ(reg.topic_name, "a/b");
    client(Regack{.topic_id = reg.topic_id, .msg_id = reg.msg_id, .rc = ReturnCode::Accepted});
    ASSERT_EQ(out.to_client.size(), 1U);
    const auto& p = std::get<Publish>(out.to_client[0]);
    EXPECT_EQ(p.topic_id, reg.topic_id);
    EXPECT_EQ(p.msg_id, 9);
    EXPECT_EQ(p.data, buf("kept"));

    // The keep alive is the new Duration: 45 s x 1.5.
    EXPECT_EQ(s().next_timer(), std::min(now + 10s, now + 67'500ms));
}

// 6.4: WILLTOPICUPD / WILLMSGUPD change the will; each keeps the other half.
TEST_F(GatewayTest, WillUpdatesKeepTheOtherHalf) {
    client(Connect{.flags = {.will = true}, .protocol_id = 1, .duration_s = 30, .client_id = "sn1"});
    client(WillTopic{.flags = {.qos = 0}, .topic = "w/old", .empty = false});
    client(WillMsg{.message = buf("bye")});
    core(codec::Connack{});

    client(WillTopicUpd{.flags = {.qos = 2, .retain = true}, .topic = "w/new", .empty = false});
    EXPECT_EQ(out.to_client, only(WillTopicResp{ReturnCode::Accepted}));
    ASSERT_TRUE(out.will.has_value());
    EXPECT_FALSE(out.will->remove);
    EXPECT_EQ(out.will->topic, "w/new");
    EXPECT_EQ(out.will->message, buf("bye"));
    EXPECT_EQ(out.will->qos, 2);
    EXPECT_TRUE(out.will->retain);

    client(WillMsgUpd{.message = buf("later")});
    EXPECT_EQ(out.to_client, only(WillMsgResp{ReturnCode::Accepted}));
    ASSERT_TRUE(out.will.has_value());
    EXPECT_EQ(out.will->topic, "w/new");
    EXPECT_EQ(out.will->message, buf("later"));

    client(WillTopicUpd{.flags = {}, .topic = {}, .empty = true});
    EXPECT_EQ(out.to_client, only(WillTopicResp{ReturnCode::Accepted}));
    ASSERT_TRUE(out.will.has_value());
    EXPECT_TRUE(out.will->remove);

    client(WillTopicUpd{.flags = {}, .topic = "bad/#", .empty = false});
    EXPECT_EQ(out.to_client, only(WillTopicResp{ReturnCode::NotSupported}));
    EXPECT_FALSE(out.will.has_value());
}

// 6.11: no datagram for Duration x grace: lost (the core publishes the will). Any datagram restarts the clock.
TEST_F(GatewayTest, KeepAliveLossEndsTheConnectionAsLost) {
    connect(true, 10);
    EXPECT_EQ(s().next_timer(), now + 15s);
    now += 14s;
    client(PingReq{});
    EXPECT_EQ(out.to_client, only(PingResp{}));
    EXPECT_EQ(s().next_timer(), now + 15s);
    now += 14'999ms;
    tick();
    EXPECT_FALSE(out.forget);
    tick_next();
    EXPECT_TRUE(out.end_lost);
    EXPECT_TRUE(out.forget);
    EXPECT_EQ(s().state(), State::Ended);
}

TEST_F(GatewayTest, DurationZeroIsNotSupervised) {
    connect(true, 0);
    EXPECT_FALSE(s().next_timer().has_value());
}

// 6.12: DISCONNECT ends the session cleanly: no will (MQTT DISCONNECT 0x00), forgotten at once.
TEST_F(GatewayTest, DisconnectEndsCleanly) {
    connect();
    client(Disconnect{});
    EXPECT_EQ(out.to_client, only(Disconnect{}));
    ASSERT_EQ(mqtt.size(), 1U);
    EXPECT_EQ(mqtt[0].type, codec::PacketType::Disconnect);
    EXPECT_EQ(mqtt[0].reason, codec::ReasonCode::NormalDisconnection);
    EXPECT_FALSE(out.end_lost);
    EXPECT_TRUE(out.forget);
    core_closed();  // a late close changes nothing
    EXPECT_TRUE(out.to_client.empty());
}

// The core's DISCONNECT (take-over, administrative, ...) reaches the client; the close then forgets the session.
TEST_F(GatewayTest, CoresDisconnectIsPassedOn) {
    connect();
    core(codec::Disconnect{.reason = codec::ReasonCode::SessionTakenOver, .properties = {}});
    EXPECT_EQ(out.to_client, only(Disconnect{}));
    EXPECT_FALSE(out.forget);
    core_closed();
    EXPECT_TRUE(out.forget);
    EXPECT_TRUE(out.to_client.empty());
}

TEST_F(GatewayTest, CloseWithoutDisconnectTellsTheClient) {
    connect();
    core_closed();
    EXPECT_EQ(out.to_client, only(Disconnect{}));
    EXPECT_TRUE(out.forget);
}

// Messages a gateway never receives, and messages the state does not allow, are dropped and counted.
TEST_F(GatewayTest, UnexpectedMessagesAreDroppedAndCounted) {
    client(Publish{});  // before any CONNECT
    client(Advertise{});
    client(Connect{.flags = {.clean_session = true}, .protocol_id = 1, .duration_s = 30, .client_id = "sn1"});
    client(sn_publish(TopicIdType::Short, short_topic_id("ab"), "x"));  // before the CONNACK
    client(Register{.topic_id = 0, .msg_id = 1, .topic_name = "a"});
    EXPECT_TRUE(out.to_client.empty());
    EXPECT_TRUE(mqtt.empty());
    core(codec::Connack{});
    client(GwInfo{});
    client(Connack{});
    client(WillTopicReq{});
    client(Suback{});
    EXPECT_EQ(s().dropped(), 8U);
    core(codec::Pingresp{});  // ignored, not counted
    EXPECT_EQ(s().dropped(), 8U);
    EXPECT_TRUE(out.to_client.empty());
}

// The core's output may arrive split anywhere; something that does not decode means the connection is lost.
TEST_F(GatewayTest, CoreBytesSplitAnywhereAndMalformedIsLost) {
    client(Connect{.flags = {.clean_session = true}, .protocol_id = 1, .duration_s = 30, .client_id = "sn1"});
    Buffer bytes;
    ASSERT_TRUE(codec::encode_append(codec::Connack{}, codec::ProtocolVersion::V5, bytes));
    codec::Publish p;
    p.topic = "ab";
    const Buffer payload = buf("hi");
    p.payload = payload;
    ASSERT_TRUE(codec::encode_append(p, codec::ProtocolVersion::V5, bytes));
    std::vector<Packet> seen;
    for (const std::byte b : bytes) {
        core_bytes(Bytes(&b, 1));
        seen.insert(seen.end(), out.to_client.begin(), out.to_client.end());
    }
    ASSERT_EQ(seen.size(), 2U);
    EXPECT_EQ(seen[0], Packet{Connack{ReturnCode::Accepted}});
    EXPECT_EQ(seen[1], Packet{sn_publish(TopicIdType::Short, short_topic_id("ab"), "hi")});

    const Buffer junk{std::byte{0x00}, std::byte{0x00}};  // packet type 0 is reserved
    core_bytes(junk);
    EXPECT_TRUE(out.end_lost);
    EXPECT_TRUE(out.forget);
}

TEST_F(GatewayTest, StateNames) {
    EXPECT_EQ(state_name(State::Disconnected), "disconnected");
    EXPECT_EQ(state_name(State::Connecting), "connecting");
    EXPECT_EQ(state_name(State::Asleep), "asleep");
    EXPECT_EQ(state_name(State::Awake), "awake");
    EXPECT_EQ(state_name(State::Ended), "ended");
}

// The session may move (the owner keeps it in a container): it keeps working.
TEST_F(GatewayTest, MovedSessionKeepsWorking) {
    connect();
    GatewaySession moved = std::move(*session);
    Actions a;
    moved.on_packet(PingReq{}, now, a);
    EXPECT_EQ(a.to_client, only(PingResp{}));
    EXPECT_EQ(moved.client_id(), "sn1");
    EXPECT_TRUE(moved.next_timer().has_value());
}

}  // namespace
}  // namespace moth::mqttsn::test
