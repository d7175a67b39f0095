// The [features] and [limits] switches that change what clients may do, against the real mothd: retain,
// maximum QoS, wildcard, shared and Subscription Identifier support, and subscriptions per client. Each is
// announced to 5.0 clients in the CONNACK and enforced for every version.
//
// Statement ids: "(3.1.1)" and "(5.0)" mark ids whose numbering differs between the two specifications.

#include <gtest/gtest.h>

#include "broker_test_util.hpp"

namespace moth::test {
namespace {

class BrokerFeaturesTest : public BrokerFixture {};

void expect_disconnect(MqttTestClient& c, ReasonCode reason,
                       std::source_location where = std::source_location::current()) {
    auto d = c.expect<codec::Disconnect>(kReceiveTimeout, where);
    EXPECT_EQ(d->reason, reason) << "at " << where.line() << ": " << d.received().describe();
    EXPECT_TRUE(c.wait_closed()) << "at " << where.line() << ": the connection stayed open after DISCONNECT";
}

// retain_available = false. 5.0: CONNACK Retain Available 0 (section 3.2.2.3.5); the client must then not send
// RETAIN 1 [MQTT-3.2.2-14], and a server that gets one answers DISCONNECT 0x9A (Retain not supported), section
// 3.2.2.3.5; a CONNECT with Will Retain 1 is refused with CONNACK 0x9A and closed [MQTT-3.2.2-13].
TEST_F(BrokerFeaturesTest, Mqtt5RetainNotAvailable) {
    start("[features]\nretain_available = false\n");
    auto c = tcp_client(kV5, "noretain");
    EXPECT_EQ(c->connect(clean_session("noretain"))->properties.retain_available, std::optional<std::uint8_t>(0));
    c->publish("nr/t", "not retained", QoS::AtLeastOnce, false);
    c->publish("nr/t", "retained", QoS::AtMostOnce, true);
    expect_disconnect(*c, ReasonCode::RetainNotSupported);

    auto w = tcp_client(kV5, "willretain");
    ConnectOptions o = clean_session("willretain");
    o.will =
        WillOptions{"nr/will", "bye", QoS::AtMostOnce, true, std::nullopt, std::nullopt, std::nullopt, std::nullopt};
    w->send_connect(o);
    auto connack = w->expect<codec::Connack>();
    EXPECT_EQ(connack->reason, ReasonCode::RetainNotSupported);
    EXPECT_TRUE(w->wait_closed());
}

// maximum_qos = 1. 5.0: CONNACK Maximum QoS 1 [MQTT-3.2.2-9]; a SUBSCRIBE asking QoS 2 is still accepted
// [MQTT-3.2.2-10] and granted QoS 1 [MQTT-3.8.4-7]; a QoS 2 PUBLISH gets DISCONNECT 0x9B (QoS not supported),
// section 3.2.2.3.4; a Will QoS 2 is refused with CONNACK 0x9B [MQTT-3.2.2-12].
TEST_F(BrokerFeaturesTest, Mqtt5MaximumQos1) {
    start("[features]\nmaximum_qos = 1\n");
    auto c = tcp_client(kV5, "qos1");
    EXPECT_EQ(c->connect(clean_session("qos1"))->properties.maximum_qos, std::optional<std::uint8_t>(1));
    EXPECT_EQ(c->subscribe("mq/t", QoS::ExactlyOnce), granted(QoS::AtLeastOnce));
    EXPECT_EQ(c->publish("mq/t", "one", QoS::AtLeastOnce), ReasonCode::Success);
    auto m = c->receive_message();
    EXPECT_EQ(m->qos, QoS::AtLeastOnce);
    Message two;
    two.topic = "mq/t";
    two.payload = "two";
    two.qos = QoS::ExactlyOnce;
    c->send(c->make_publish(two));
    expect_disconnect(*c, ReasonCode::QoSNotSupported);

    auto w = tcp_client(kV5, "will2");
    ConnectOptions o = clean_session("will2");
    o.will =
        WillOptions{"mq/will", "bye", QoS::ExactlyOnce, false, std::nullopt, std::nullopt, std::nullopt, std::nullopt};
    w->send_connect(o);
    auto connack = w->expect<codec::Connack>();
    EXPECT_EQ(connack->reason, ReasonCode::QoSNotSupported);
    EXPECT_TRUE(w->wait_closed());
}

// 3.1.1 with maximum_qos = 1: the SUBACK grants at most QoS 1 ([MQTT-3.8.4-6] (3.1.1): the server may grant less).
TEST_F(BrokerFeaturesTest, Mqtt311MaximumQos1GrantsQos1) {
    start("[features]\nmaximum_qos = 1\n");
    auto c = connected_client(kV311, "qos1");
    EXPECT_EQ(c->subscribe("mq/t", QoS::ExactlyOnce), granted(QoS::AtLeastOnce));
    c->disconnect();
}

// wildcard_subscriptions = false: 5.0 CONNACK Wildcard Subscription Available 0 and SUBACK 0xA2 (Wildcard
// Subscriptions not supported) for "+" or "#" filters (section 3.2.2.3.11); 3.1.1 SUBACK 0x80 [MQTT-3.8.3-2]
// (3.1.1). Filters without wildcards work.
TEST_F(BrokerFeaturesTest, WildcardSubscriptionsDisabled) {
    start("[features]\nwildcard_subscriptions = false\n");
    auto c5 = tcp_client(kV5, "nowild5");
    EXPECT_EQ(c5->connect(clean_session("nowild5"))->properties.wildcard_subscription_available,
              std::optional<std::uint8_t>(0));
    EXPECT_EQ(c5->subscribe_many({{"w/#", sub_options(QoS::AtMostOnce)},
                                  {"w/+/x", sub_options(QoS::AtMostOnce)},
                                  {"w/t", sub_options(QoS::AtLeastOnce)}}),
              (std::vector<ReasonCode>{ReasonCode::WildcardSubscriptionsNotSupported,
                                       ReasonCode::WildcardSubscriptionsNotSupported, granted(QoS::AtLeastOnce)}));
    auto c3 = connected_client(kV311, "nowild3");
    EXPECT_EQ(c3->subscribe("w/#", QoS::AtMostOnce), ReasonCode::UnspecifiedError);
    EXPECT_EQ(c3->subscribe("w/t", QoS::AtLeastOnce), granted(QoS::AtLeastOnce));
    c5->publish("w/t", "exact", QoS::AtLeastOnce);
    EXPECT_EQ(payload_of(*c5->receive_message()), "exact");
    EXPECT_EQ(payload_of(*c3->receive_message()), "exact");
    c5->disconnect();
    c3->disconnect();
}

// shared_subscriptions = false: 5.0 CONNACK Shared Subscription Available 0 and SUBACK 0x9E (Shared
// Subscriptions not supported), section 3.2.2.3.13.
TEST_F(BrokerFeaturesTest, Mqtt5SharedSubscriptionsDisabled) {
    start("[features]\nshared_subscriptions = false\n");
    auto c = tcp_client(kV5, "noshare");
    EXPECT_EQ(c->connect(clean_session("noshare"))->properties.shared_subscription_available,
              std::optional<std::uint8_t>(0));
    EXPECT_EQ(c->subscribe("$share/g/t", QoS::AtMostOnce), ReasonCode::SharedSubscriptionsNotSupported);
    c->disconnect();
}

// subscription_identifiers = false: 5.0 CONNACK Subscription Identifiers Available 0 (section 3.2.2.3.12); a
// SUBSCRIBE with one is refused with reason 0xA1 (Subscription Identifiers not supported), in the SUBACK or in a
// DISCONNECT (both are listed for 0xA1, sections 3.9.3 and 3.14.2.1).
TEST_F(BrokerFeaturesTest, Mqtt5SubscriptionIdentifiersDisabled) {
    start("[features]\nsubscription_identifiers = false\n");
    auto c = tcp_client(kV5, "noids");
    EXPECT_EQ(c->connect(clean_session("noids"))->properties.subscription_identifier_available,
              std::optional<std::uint8_t>(0));
    codec::Subscribe s;
    s.packet_id = c->next_packet_id();
    const std::uint32_t id = 9;
    s.properties.subscription_identifiers = std::span<const std::uint32_t>(&id, 1);
    const codec::Subscription subs[] = {{"ids/t", sub_options(QoS::AtMostOnce)}};
    s.subscriptions = subs;
    c->send(s);
    auto r = c->receive();
    ASSERT_NE(r, nullptr) << "no answer to the SUBSCRIBE";
    if (r->is<codec::Suback>()) {
        const auto& codes = r->as<codec::Suback>().reason_codes;
        ASSERT_EQ(codes.size(), 1U);
        EXPECT_EQ(codes[0], ReasonCode::SubscriptionIdentifiersNotSupported);
    } else {
        ASSERT_TRUE(r->is<codec::Disconnect>()) << r->describe();
        EXPECT_EQ(r->as<codec::Disconnect>().reason, ReasonCode::SubscriptionIdentifiersNotSupported);
        EXPECT_TRUE(c->wait_closed());
    }
}

// [limits] max_subscriptions_per_client = 2: a third subscription fails in its SUBACK (5.0: an error reason code,
// 0x97 Quota exceeded being the one that fits; 3.1.1: 0x80); replacing an existing one is still fine.
TEST_F(BrokerFeaturesTest, SubscriptionsPerClientLimited) {
    start("[limits]\nmax_subscriptions_per_client = 2\n");
    auto c5 = connected_client(kV5, "many5");
    EXPECT_EQ(c5->subscribe("s/1", QoS::AtMostOnce), granted(QoS::AtMostOnce));
    EXPECT_EQ(c5->subscribe("s/2", QoS::AtMostOnce), granted(QoS::AtMostOnce));
    const ReasonCode third = c5->subscribe("s/3", QoS::AtMostOnce);
    EXPECT_TRUE(codec::is_error(third)) << "third subscription: " << reason_text(third);
    EXPECT_EQ(c5->subscribe("s/2", QoS::AtLeastOnce), granted(QoS::AtLeastOnce));
    auto c3 = connected_client(kV311, "many3");
    EXPECT_EQ(c3->subscribe("s/1", QoS::AtMostOnce), granted(QoS::AtMostOnce));
    EXPECT_EQ(c3->subscribe("s/2", QoS::AtMostOnce), granted(QoS::AtMostOnce));
    EXPECT_EQ(c3->subscribe("s/3", QoS::AtMostOnce), ReasonCode::UnspecifiedError);
    c5->disconnect();
    c3->disconnect();
}

}  // namespace
}  // namespace moth::test
