// GatewaySession, the topic side: registration (MQTT-SN 1.2 section 6.5), the client's PUBLISH (6.6, 6.8 QoS -1),
// predefined ids and short names (6.7), SUBSCRIBE/UNSUBSCRIBE (6.9), and the core's publications: 6.10, with
// max_inflight, retransmission (6.13) and sleeping clients (6.14) in gateway_deliver_test.cpp.
#include "gateway_fixture.hpp"

namespace moth::mqttsn::test {
namespace {

using R = codec::ReasonCode;

// 6.5: ids from 1 upward skipping the predefined ones; the same name the same id; no wildcards; a cap.
TEST_F(GatewayTest, RegisterAssignsIdsPerSession) {
    settings.max_registrations = 2;
    connect();
    client(Register{.topic_id = 0, .msg_id = 5, .topic_name = "a/b"});
    EXPECT_EQ(out.to_client, only(Regack{.topic_id = 3, .msg_id = 5, .rc = ReturnCode::Accepted}));
    client(Register{.topic_id = 0, .msg_id = 6, .topic_name = "c"});
    EXPECT_EQ(out.to_client, only(Regack{.topic_id = 4, .msg_id = 6, .rc = ReturnCode::Accepted}));
    client(Register{.topic_id = 0, .msg_id = 7, .topic_name = "a/b"});
    EXPECT_EQ(out.to_client, only(Regack{.topic_id = 3, .msg_id = 7, .rc = ReturnCode::Accepted}));
    client(Register{.topic_id = 0, .msg_id = 8, .topic_name = "d"});
    EXPECT_EQ(out.to_client, only(Regack{.topic_id = 0, .msg_id = 8, .rc = ReturnCode::Congestion}));
    client(Register{.topic_id = 0, .msg_id = 9, .topic_name = "a/+"});
    EXPECT_EQ(out.to_client, only(Regack{.topic_id = 0, .msg_id = 9, .rc = ReturnCode::NotSupported}));
    client(Register{.topic_id = 0, .msg_id = 10, .topic_name = ""});
    EXPECT_EQ(out.to_client, only(Regack{.topic_id = 0, .msg_id = 10, .rc = ReturnCode::NotSupported}));
    EXPECT_TRUE(mqtt.empty());
}

// 6.6 / 6.7 / 6.8: the topic by registered id, predefined id or short name; QoS -1 from a connected client is 0.
TEST_F(GatewayTest, PublishByEachTopicIdType) {
    connect();
    client(Register{.topic_id = 0, .msg_id = 1, .topic_name = "a/b"});
    client(sn_publish(TopicIdType::Normal, 3, "n", 0));
    ASSERT_EQ(mqtt.size(), 1U);
    EXPECT_EQ(mqtt[0].type, codec::PacketType::Publish);
    EXPECT_EQ(mqtt[0].topic, "a/b");
    EXPECT_EQ(mqtt[0].payload, "n");
    EXPECT_EQ(mqtt[0].qos, 0);
    EXPECT_TRUE(out.to_client.empty());
    client(sn_publish(TopicIdType::Predefined, 2, "p", -1));
    ASSERT_EQ(mqtt.size(), 1U);
    EXPECT_EQ(mqtt[0].topic, "pre/two");
    EXPECT_EQ(mqtt[0].qos, 0);
    Publish retained = sn_publish(TopicIdType::Short, short_topic_id("xy"), "s", 1, 77);
    retained.flags.retain = true;
    client(retained);
    ASSERT_EQ(mqtt.size(), 1U);
    EXPECT_EQ(mqtt[0].topic, "xy");
    EXPECT_EQ(mqtt[0].qos, 1);
    EXPECT_EQ(mqtt[0].id, 77);
    EXPECT_TRUE(mqtt[0].retain);
    EXPECT_EQ(s().dropped(), 0U);
}

// 6.6: an unknown topic id is answered PUBACK InvalidTopicId, for QoS 0 too; nothing reaches the core.
TEST_F(GatewayTest, PublishToUnknownTopicIdIsRefused) {
    connect();
    client(sn_publish(TopicIdType::Normal, 3, "x", 0));
    EXPECT_EQ(out.to_client, only(Puback{.topic_id = 3, .msg_id = 0, .rc = ReturnCode::InvalidTopicId}));
    client(sn_publish(TopicIdType::Predefined, 9, "x", 1, 4));
    EXPECT_EQ(out.to_client, only(Puback{.topic_id = 9, .msg_id = 4, .rc = ReturnCode::InvalidTopicId}));
    client(sn_publish(TopicIdType::Short, short_topic_id("a#"), "x", 0));  // a name the core would call malformed
    EXPECT_EQ(out.to_client,
              only(Puback{.topic_id = short_topic_id("a#"), .msg_id = 0, .rc = ReturnCode::NotSupported}));
    client(sn_publish(TopicIdType::Predefined, 1, "x", 1, 0));  // QoS 1 needs a msg_id
    EXPECT_EQ(out.to_client, only(Puback{.topic_id = 1, .msg_id = 0, .rc = ReturnCode::NotSupported}));
    EXPECT_TRUE(mqtt.empty());
    EXPECT_EQ(s().dropped(), 4U);
}

// 6.6: the core's PUBACK becomes the SN PUBACK, with the topic id of that publish echoed and the reason mapped.
TEST_F(GatewayTest, CorePubackMapsToReturnCodes) {
    connect();
    const std::pair<R, ReturnCode> cases[] = {
        {R::Success, ReturnCode::Accepted},
        {R::NoMatchingSubscribers, ReturnCode::Accepted},
        {R::QuotaExceeded, ReturnCode::Congestion},
        {R::NotAuthorized, ReturnCode::NotSupported},
        {R::TopicNameInvalid, ReturnCode::NotSupported},
    };
    std::uint16_t msg_id = 10;
    for (const auto& [reason, rc] : cases) {
        client(sn_publish(TopicIdType::Predefined, 1, "x", 1, msg_id));
        ASSERT_EQ(mqtt.size(), 1U);
        core(codec::Puback{.packet_id = msg_id, .reason = reason, .properties = {}});
        EXPECT_EQ(out.to_client, only(Puback{.topic_id = 1, .msg_id = msg_id, .rc = rc})) << int(reason);
        ++msg_id;
    }
}

// 6.6 QoS 2: PUBLISH, PUBREC, PUBREL, PUBCOMP pass through; a DUP resend goes to the core again; an error PUBREC
// is answered with PUBACK.
TEST_F(GatewayTest, ClientQos2Flow) {
    connect();
    client(sn_publish(TopicIdType::Short, short_topic_id("q2"), "x", 2, 21));
    ASSERT_EQ(mqtt.size(), 1U);
    EXPECT_EQ(mqtt[0].qos, 2);
    client(sn_publish(TopicIdType::Short, short_topic_id("q2"), "x", 2, 21, true));
    ASSERT_EQ(mqtt.size(), 1U);
    EXPECT_TRUE(mqtt[0].dup);
    core(codec::Pubrec{.packet_id = 21, .reason = R::Success, .properties = {}});
    EXPECT_EQ(out.to_client, only(Pubrec{.msg_id = 21}));
    client(Pubrel{.msg_id = 21});
    ASSERT_EQ(mqtt.size(), 1U);
    EXPECT_EQ(mqtt[0].type, codec::PacketType::Pubrel);
    EXPECT_EQ(mqtt[0].id, 21);
    core(codec::Pubcomp{.packet_id = 21, .reason = R::Success, .properties = {}});
    EXPECT_EQ(out.to_client, only(Pubcomp{.msg_id = 21}));

    client(sn_publish(TopicIdType::Short, short_topic_id("q2"), "x", 2, 22));
    core(codec::Pubrec{.packet_id = 22, .reason = R::QuotaExceeded, .properties = {}});
    EXPECT_EQ(out.to_client,
              only(Puback{.topic_id = short_topic_id("q2"), .msg_id = 22, .rc = ReturnCode::Congestion}));
}

// 6.9: SUBSCRIBE by name (registered now when it has no wildcard), by short name, by predefined id.
TEST_F(GatewayTest, SubscribeByNameShortAndPredefined) {
    connect();
    client(Subscribe{
        .flags = {.qos = 1, .topic_id_type = TopicIdType::Normal}, .msg_id = 1, .topic_name = "s/t", .topic_id = 0});
    ASSERT_EQ(mqtt.size(), 1U);
    EXPECT_EQ(mqtt[0].type, codec::PacketType::Subscribe);
    EXPECT_EQ(mqtt[0].id, 1);
    EXPECT_EQ(mqtt[0].topic, "s/t");
    EXPECT_EQ(mqtt[0].qos, 1);
    const R granted1[] = {R::GrantedQoS1};
    core(codec::Suback{.packet_id = 1, .properties = {}, .reason_codes = granted1});
    EXPECT_EQ(out.to_client, only(Suback{.flags = {.qos = 1}, .topic_id = 3, .msg_id = 1, .rc = ReturnCode::Accepted}));
    // The id given in the SUBACK is the registration: a delivery needs no REGISTER, and the client may publish.
    deliver("s/t", "m");
    EXPECT_EQ(out.to_client, only(sn_publish(TopicIdType::Normal, 3, "m")));

    client(Subscribe{
        .flags = {.qos = 2, .topic_id_type = TopicIdType::Normal}, .msg_id = 2, .topic_name = "s/#", .topic_id = 0});
    EXPECT_EQ(mqtt[0].topic, "s/#");
    const R granted2[] = {R::GrantedQoS2};
    core(codec::Suback{.packet_id = 2, .properties = {}, .reason_codes = granted2});
    EXPECT_EQ(out.to_client, only(Suback{.flags = {.qos = 2}, .topic_id = 0, .msg_id = 2, .rc = ReturnCode::Accepted}));

    client(Subscribe{
        .flags = {.qos = 0, .topic_id_type = TopicIdType::Short}, .msg_id = 3, .topic_name = "ab", .topic_id = 0});
    EXPECT_EQ(mqtt[0].topic, "ab");
    const R granted0[] = {R::GrantedQoS0};
    core(codec::Suback{.packet_id = 3, .properties = {}, .reason_codes = granted0});
    EXPECT_EQ(out.to_client, only(Suback{.flags = {.qos = 0}, .topic_id = 0, .msg_id = 3, .rc = ReturnCode::Accepted}));

    client(Subscribe{
        .flags = {.qos = 1, .topic_id_type = TopicIdType::Predefined}, .msg_id = 4, .topic_name = {}, .topic_id = 2});
    EXPECT_EQ(mqtt[0].topic, "pre/two");
    core(codec::Suback{.packet_id = 4, .properties = {}, .reason_codes = granted1});
    EXPECT_EQ(out.to_client, only(Suback{.flags = {.qos = 1}, .topic_id = 2, .msg_id = 4, .rc = ReturnCode::Accepted}));
}

// 6.9: an unknown predefined id is refused at once; the core's refusals map to return codes.
TEST_F(GatewayTest, SubscribeRefusals) {
    connect();
    client(Subscribe{
        .flags = {.qos = 1, .topic_id_type = TopicIdType::Predefined}, .msg_id = 1, .topic_name = {}, .topic_id = 99});
    EXPECT_TRUE(mqtt.empty());
    EXPECT_EQ(out.to_client, only(Suback{.flags = {}, .topic_id = 99, .msg_id = 1, .rc = ReturnCode::InvalidTopicId}));
    const std::pair<R, ReturnCode> cases[] = {
        {R::QuotaExceeded, ReturnCode::Congestion},
        {R::TopicFilterInvalid, ReturnCode::InvalidTopicId},
        {R::NotAuthorized, ReturnCode::NotSupported},
    };
    std::uint16_t msg_id = 2;
    for (const auto& [reason, rc] : cases) {
        client(Subscribe{.flags = {.qos = 0, .topic_id_type = TopicIdType::Normal},
                         .msg_id = msg_id,
                         .topic_name = "x/y",
                         .topic_id = 0});
        const R codes[] = {reason};
        core(codec::Suback{.packet_id = msg_id, .properties = {}, .reason_codes = codes});
        EXPECT_EQ(out.to_client, only(Suback{.flags = {}, .topic_id = 0, .msg_id = msg_id, .rc = rc})) << int(reason);
        ++msg_id;
    }
}

// 6.9: UNSUBSCRIBE by name or predefined id; the core's UNSUBACK is the client's.
TEST_F(GatewayTest, Unsubscribe) {
    connect();
    client(
        Unsubscribe{.flags = {.topic_id_type = TopicIdType::Normal}, .msg_id = 5, .topic_name = "s/#", .topic_id = 0});
    ASSERT_EQ(mqtt.size(), 1U);
    EXPECT_EQ(mqtt[0].type, codec::PacketType::Unsubscribe);
    EXPECT_EQ(mqtt[0].topic, "s/#");
    EXPECT_EQ(mqtt[0].id, 5);
    const R ok[] = {R::Success};
    core(codec::Unsuback{.packet_id = 5, .properties = {}, .reason_codes = ok});
    EXPECT_EQ(out.to_client, only(Unsuback{.msg_id = 5}));
    client(
        Unsubscribe{.flags = {.topic_id_type = TopicIdType::Predefined}, .msg_id = 6, .topic_name = {}, .topic_id = 1});
    ASSERT_EQ(mqtt.size(), 1U);
    EXPECT_EQ(mqtt[0].topic, "pre/one");
}

// 6.10 / 6.7: the core's publications by predefined id, short name, or a registered name.
TEST_F(GatewayTest, DeliveryUsesPredefinedShortOrRegisteredIds) {
    connect();
    deliver("pre/one", "1");
    EXPECT_EQ(out.to_client, only(sn_publish(TopicIdType::Predefined, 1, "1")));
    deliver("ab", "2");
    EXPECT_EQ(out.to_client, only(sn_publish(TopicIdType::Short, short_topic_id("ab"), "2")));
    client(Register{.topic_id = 0, .msg_id = 1, .topic_name = "c/d"});
    deliver("c/d", "3");
    EXPECT_EQ(out.to_client, only(sn_publish(TopicIdType::Normal, 3, "3")));
}

// 6.10 / 6.5: an unknown name is REGISTERed first; it and every later message wait, in order, for the REGACK.
TEST_F(GatewayTest, DeliveryWaitsBehindRegisterInOrder) {
    connect();
    deliver("new/topic", "first");
    EXPECT_EQ(out.to_client, only(Register{.topic_id = 3, .msg_id = 1, .topic_name = "new/topic"}));
    deliver("ab", "second");  // needs no registration, but keeps its place
    deliver("new/topic", "third");
    EXPECT_TRUE(out.to_client.empty());
    client(Regack{.topic_id = 3, .msg_id = 1, .rc = ReturnCode::Accepted});
    const std::vector<Packet> expected{sn_publish(TopicIdType::Normal, 3, "first"),
                                       sn_publish(TopicIdType::Short, short_topic_id("ab"), "second"),
                                       sn_publish(TopicIdType::Normal, 3, "third")};
    EXPECT_EQ(out.to_client, expected);
    // The client may publish with the id the gateway registered.
    client(sn_publish(TopicIdType::Normal, 3, "back", 0));
    ASSERT_EQ(mqtt.size(), 1U);
    EXPECT_EQ(mqtt[0].topic, "new/topic");
}

// 6.5: a refused REGISTER drops that topic's held messages (counted), acknowledging QoS 1/2 to the core so its
// window does not stall; the others go on.
TEST_F(GatewayTest, RefusedRegisterDropsThatTopicsMessages) {
    settings.max_inflight = 4;
    connect();
    deliver("bad/topic", "a", 1, 100);
    ASSERT_EQ(out.to_client.size(), 1U);
    const Register reg = std::get<Register>(out.to_client[0]);
    deliver("ab", "b");
    deliver("bad/topic", "c", 2, 101);
    client(Regack{.topic_id = reg.topic_id, .msg_id = reg.msg_id, .rc = ReturnCode::NotSupported});
    EXPECT_EQ(out.to_client, only(sn_publish(TopicIdType::Short, short_topic_id("ab"), "b")));
    ASSERT_EQ(mqtt.size(), 2U);
    EXPECT_EQ(mqtt[0].type, codec::PacketType::Puback);
    EXPECT_EQ(mqtt[0].id, 100);
    EXPECT_TRUE(codec::is_error(mqtt[0].reason));
    EXPECT_EQ(mqtt[1].type, codec::PacketType::Pubrec);  // an error PUBREC ends a QoS 2 flow
    EXPECT_EQ(mqtt[1].id, 101);
    EXPECT_TRUE(codec::is_error(mqtt[1].reason));
    EXPECT_EQ(s().dropped(), 2U);
}

// A message larger than a datagram can carry is dropped, counted, and still acknowledged to the core.
TEST_F(GatewayTest, TooLargeDeliveryIsDroppedAndAcknowledged) {
    settings.max_datagram = 100;
    connect();
    deliver("ab", std::string(max_publish_data(100), 'x'), 0);
    EXPECT_EQ(out.to_client.size(), 1U);
    deliver("ab", std::string(max_publish_data(100) + 1, 'x'), 1, 7);
    EXPECT_TRUE(out.to_client.empty());
    ASSERT_EQ(mqtt.size(), 1U);
    EXPECT_EQ(mqtt[0].type, codec::PacketType::Puback);
    EXPECT_EQ(mqtt[0].id, 7);
    EXPECT_EQ(s().dropped(), 1U);
}

TEST_F(GatewayTest, QosMinusOneTopic) {
    const PredefinedTopics* pre = settings.predefined.get();
    EXPECT_EQ(qos_minus_one_topic(sn_publish(TopicIdType::Predefined, 1, "", -1), pre),
              std::optional<std::string>("pre/one"));
    EXPECT_EQ(qos_minus_one_topic(sn_publish(TopicIdType::Predefined, 7, "", -1), pre), std::nullopt);
    EXPECT_EQ(qos_minus_one_topic(sn_publish(TopicIdType::Predefined, 1, "", -1), nullptr), std::nullopt);
    EXPECT_EQ(qos_minus_one_topic(sn_publish(TopicIdType::Short, short_topic_id("zz"), "", -1), pre),
              std::optional<std::string>("zz"));
    EXPECT_EQ(qos_minus_one_topic(sn_publish(TopicIdType::Normal, 1, "", -1), pre), std::nullopt);
}

}  // namespace
}  // namespace moth::mqttsn::test
