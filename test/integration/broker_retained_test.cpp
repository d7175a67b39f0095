// Retained messages against the real mothd: store, replace, clear, delivery on subscribe with the RETAIN flag,
// the 5.0 Retain Handling option, and Message Expiry of retained messages.
//
// Statement ids: "(3.1.1)" and "(5.0)" mark ids whose numbering differs between the two specifications.
// Absence is shown with a marker: a subscriber of "<prefix>/#" gets the retained messages that exist; a
// retained message that should be gone would arrive with them, before a live marker published afterwards.

#include <algorithm>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "broker_test_util.hpp"

namespace moth::test {
namespace {

class BrokerRetainedTest : public BrokerFixture {};
class BrokerRetainedVersionTest : public VersionedBrokerTest {};

// Subscribes `c` to `filter` (QoS 2), has `pub` publish a live marker on `marker_topic` (which `filter` must
// match), and returns the "topic=payload" of the messages received before the marker, with their RETAIN flags
// checked to be 1.
std::vector<std::string> retained_before_marker(MqttTestClient& c, MqttTestClient& pub, const std::string& filter,
                                                const std::string& marker_topic) {
    c.subscribe(filter, QoS::ExactlyOnce);
    pub.publish(marker_topic, "marker", QoS::AtLeastOnce);
    std::vector<std::string> got;
    while (true) {
        auto m = c.receive_message();
        if (topic_of(*m) == marker_topic && payload_of(*m) == "marker" && !m->retain) break;
        EXPECT_TRUE(m->retain) << "a retained message sent for a new subscription has RETAIN 1: "
                               << m.received().describe();
        got.push_back(topic_of(*m) + "=" + payload_of(*m));
    }
    std::sort(got.begin(), got.end());
    return got;
}

// [MQTT-3.3.1-5]: a PUBLISH with RETAIN 1 is stored with its QoS; [MQTT-3.3.1-6] (3.1.1) / [MQTT-3.3.1-9] (5.0,
// Retain Handling 0): a new subscription gets it; [MQTT-3.3.1-8] (3.1.1): with RETAIN 1; delivered at the minimum of
// the stored QoS and the granted QoS [MQTT-3.8.4-6] (3.1.1) / [MQTT-3.8.4-8] (5.0).
TEST_P(BrokerRetainedVersionTest, RetainedMessageDeliveredOnSubscribeWithRetainFlag) {
    start();
    auto pub = connected_client(version(), "pub");
    // Accepted: 0x00, or in 5.0 0x10 (No matching subscribers), which a server MAY use (section 3.4.2.1).
    EXPECT_FALSE(codec::is_error(pub->publish("r/t", "kept", QoS::AtLeastOnce, true)));

    auto sub = connected_client(version(), "sub");
    EXPECT_EQ(sub->subscribe("r/t", QoS::ExactlyOnce), granted(QoS::ExactlyOnce));
    auto m = sub->receive_message();
    EXPECT_EQ(topic_of(*m), "r/t");
    EXPECT_EQ(payload_of(*m), "kept");
    EXPECT_TRUE(m->retain);
    EXPECT_EQ(m->qos, QoS::AtLeastOnce);

    auto low = connected_client(version(), "low");
    EXPECT_EQ(low->subscribe("r/+", QoS::AtMostOnce), granted(QoS::AtMostOnce));
    auto l = low->receive_message();
    EXPECT_EQ(payload_of(*l), "kept");
    EXPECT_TRUE(l->retain);
    EXPECT_EQ(l->qos, QoS::AtMostOnce);
    for (auto* c : {pub.get(), sub.get(), low.get()}) c->disconnect();
}

// [MQTT-3.3.1-5]: a new retained message replaces the one stored for the topic ([MQTT-3.3.1-7] (3.1.1) for QoS 0:
// the previous one is discarded). Retained messages outlive their publisher's session [MQTT-3.1.2.7] (3.1.1).
TEST_P(BrokerRetainedVersionTest, RetainedMessageReplaced) {
    start();
    {
        auto pub = connected_client(version(), "pub");
        pub->publish("rr/t", "first", QoS::AtLeastOnce, true);
        pub->publish("rr/t", "second", QoS::AtMostOnce, true);
        pub->publish("rr/u", "other", QoS::AtLeastOnce, true);
        pub->disconnect();
    }
    auto pub = connected_client(version(), "pub2");
    auto sub = connected_client(version(), "sub");
    EXPECT_EQ(retained_before_marker(*sub, *pub, "rr/#", "rr/marker"),
              (std::vector<std::string>{"rr/t=second", "rr/u=other"}));
    sub->disconnect();
    pub->disconnect();
}

// [MQTT-3.3.1-10] (3.1.1) / [MQTT-3.3.1-6] (5.0): a retained PUBLISH with an empty payload is delivered as normal
// to current subscribers and removes the retained message; [MQTT-3.3.1-11] (3.1.1) / [MQTT-3.3.1-7] (5.0): it is
// not stored itself, so later subscribers get nothing for the topic.
TEST_P(BrokerRetainedVersionTest, EmptyRetainedPayloadClearsRetainedMessage) {
    start();
    auto pub = connected_client(version(), "pub");
    pub->publish("rc/t", "to be cleared", QoS::AtLeastOnce, true);
    pub->publish("rc/u", "stays", QoS::AtLeastOnce, true);

    auto live = connected_client(version(), "live");
    live->subscribe("rc/t", QoS::AtLeastOnce);
    auto old = live->receive_message();
    EXPECT_EQ(payload_of(*old), "to be cleared");

    pub->publish("rc/t", "", QoS::AtLeastOnce, true);
    auto cleared = live->receive_message();
    EXPECT_EQ(topic_of(*cleared), "rc/t");
    EXPECT_TRUE(cleared->payload.empty()) << "the empty retained message is delivered as normal";

    auto later = connected_client(version(), "later");
    EXPECT_EQ(retained_before_marker(*later, *pub, "rc/#", "rc/marker"), std::vector<std::string>{"rc/u=stays"});
    for (auto* c : {pub.get(), live.get(), later.get()}) c->disconnect();
}

// [MQTT-3.3.1-12] (3.1.1) / [MQTT-3.3.1-8] (5.0): a PUBLISH with RETAIN 0 neither stores nor removes nor
// replaces the retained message.
TEST_P(BrokerRetainedVersionTest, NonRetainedPublishLeavesRetainedMessage) {
    start();
    auto pub = connected_client(version(), "pub");
    pub->publish("rn/t", "retained", QoS::AtLeastOnce, true);
    pub->publish("rn/t", "not retained", QoS::AtLeastOnce, false);
    pub->publish("rn/u", "never retained", QoS::AtLeastOnce, false);
    pub->publish("rn/v", "", QoS::AtLeastOnce, false);
    auto sub = connected_client(version(), "sub");
    EXPECT_EQ(retained_before_marker(*sub, *pub, "rn/#", "rn/marker"), std::vector<std::string>{"rn/t=retained"});
    sub->disconnect();
    pub->disconnect();
}

// [MQTT-3.3.1-9] (3.1.1): a message that matches an established subscription is sent with RETAIN 0, however it
// was published (5.0: the same with Retain As Published 0, [MQTT-3.3.1-12] (5.0)).
TEST_P(BrokerRetainedVersionTest, LiveRetainedMessageForwardedWithRetainZero) {
    start();
    auto sub = connected_client(version(), "sub");
    sub->subscribe("rl/t", QoS::AtLeastOnce);
    auto pub = connected_client(version(), "pub");
    pub->publish("rl/t", "live and retained", QoS::AtLeastOnce, true);
    auto m = sub->receive_message();
    EXPECT_EQ(payload_of(*m), "live and retained");
    EXPECT_FALSE(m->retain);
    sub->disconnect();
    pub->disconnect();
}

// [MQTT-3.8.4-3] (3.1.1) / [MQTT-3.8.4-4] (5.0, Retain Handling 0): subscribing again to the same filter re-sends
// the retained messages.
TEST_P(BrokerRetainedVersionTest, ResubscribeResendsRetainedMessages) {
    start();
    auto pub = connected_client(version(), "pub");
    pub->publish("rs/t", "again", QoS::AtLeastOnce, true);
    auto sub = connected_client(version(), "sub");
    sub->subscribe("rs/t", QoS::AtLeastOnce);
    auto first = sub->receive_message();
    EXPECT_EQ(payload_of(*first), "again");
    EXPECT_TRUE(first->retain);
    sub->subscribe("rs/t", QoS::AtLeastOnce);
    auto second = sub->receive_message();
    EXPECT_EQ(payload_of(*second), "again");
    EXPECT_TRUE(second->retain);
    sub->disconnect();
    pub->disconnect();
}

// 5.0 Retain Handling: 0 sends the retained messages on every SUBSCRIBE [MQTT-3.3.1-9] (5.0); 1 only when the
// subscription did not exist [MQTT-3.3.1-10] (5.0); 2 never [MQTT-3.3.1-11] (5.0).
TEST_F(BrokerRetainedTest, Mqtt5RetainHandling) {
    start();
    auto pub = connected_client(kV5, "pub");
    pub->publish("rh/t", "retained", QoS::AtLeastOnce, true);

    // Returns the payloads received after a SUBSCRIBE with `rh`, up to a live marker.
    auto subscribe_and_collect = [&](MqttTestClient& c, std::uint8_t rh) {
        c.subscribe("rh/t", sub_options(QoS::AtLeastOnce, false, false, rh));
        pub->publish("rh/t", "marker", QoS::AtLeastOnce, false);
        std::vector<std::string> got;
        while (true) {
            auto m = c.receive_message();
            if (payload_of(*m) == "marker") {
                EXPECT_FALSE(m->retain);
                break;
            }
            EXPECT_TRUE(m->retain);
            got.push_back(payload_of(*m));
        }
        return got;
    };
    const std::vector<std::string> retained{"retained"};
    const std::vector<std::string> nothing;

    auto h0 = connected_client(kV5, "h0");
    EXPECT_EQ(subscribe_and_collect(*h0, 0), retained) << "Retain Handling 0, new subscription";
    EXPECT_EQ(subscribe_and_collect(*h0, 0), retained) << "Retain Handling 0, existing subscription";

    auto h1 = connected_client(kV5, "h1");
    EXPECT_EQ(subscribe_and_collect(*h1, 1), retained) << "Retain Handling 1, new subscription";
    EXPECT_EQ(subscribe_and_collect(*h1, 1), nothing) << "Retain Handling 1, existing subscription";

    auto h2 = connected_client(kV5, "h2");
    EXPECT_EQ(subscribe_and_collect(*h2, 2), nothing) << "Retain Handling 2, new subscription";

    for (auto* c : {pub.get(), h0.get(), h1.get(), h2.get()}) c->disconnect();
}

// [MQTT-3.3.2-5] (5.0): a retained message whose Message Expiry Interval has passed is not delivered to new
// subscribers; [MQTT-3.3.2-6] (5.0): one still valid carries the interval minus the time it waited.
TEST_F(BrokerRetainedTest, Mqtt5RetainedMessageExpiry) {
    start();
    auto pub = connected_client(kV5, "pub");
    Message short_lived;
    short_lived.topic = "rx/short";
    short_lived.payload = "expires";
    short_lived.qos = QoS::AtLeastOnce;
    short_lived.retain = true;
    short_lived.message_expiry_interval = 1;
    pub->publish(short_lived);
    Message long_lived = short_lived;
    long_lived.topic = "rx/long";
    long_lived.payload = "lasts";
    long_lived.message_expiry_interval = 100;
    pub->publish(long_lived);
    Message forever = short_lived;
    forever.topic = "rx/forever";
    forever.payload = "no expiry";
    forever.message_expiry_interval.reset();
    pub->publish(forever);

    // Let the short interval pass: 2.5 s in which the broker sends the publisher nothing.
    pub->expect_silence(2500ms);

    auto sub = connected_client(kV5, "sub");
    sub->subscribe("rx/#", QoS::AtLeastOnce);
    pub->publish("rx/marker", "marker", QoS::AtLeastOnce);
    std::vector<std::string> got;
    while (true) {
        auto m = sub->receive_message();
        if (topic_of(*m) == "rx/marker") break;
        got.push_back(topic_of(*m));
        if (topic_of(*m) == "rx/long") {
            ASSERT_TRUE(m->properties.message_expiry_interval.has_value()) << m.received().describe();
            EXPECT_LE(*m->properties.message_expiry_interval, 98U) << "2.5 s waited; not decremented";
            EXPECT_GE(*m->properties.message_expiry_interval, 80U);
        }
        if (topic_of(*m) == "rx/forever") {
            EXPECT_FALSE(m->properties.message_expiry_interval.has_value()) << m.received().describe();
        }
    }
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, (std::vector<std::string>{"rx/forever", "rx/long"}));
    sub->disconnect();
    pub->disconnect();
}

INSTANTIATE_TEST_SUITE_P(Versions, BrokerRetainedVersionTest, ::testing::Values(kV31, kV311, kV5), version_suffix);

}  // namespace
}  // namespace moth::test
