// Will Messages against the real mothd: published when the network connection closes without DISCONNECT, not
// after a normal DISCONNECT, on 5.0 DISCONNECT 0x04, after the Will Delay Interval unless the client comes back,
// as a retained message when Will Retain is set, and after a keep alive timeout or a protocol error.
//
// Statement ids: "(3.1.1)" and "(5.0)" mark ids whose numbering differs between the two specifications.

#include <string>

#include <gtest/gtest.h>

#include "broker_test_util.hpp"

namespace moth::test {
namespace {

class BrokerWillTest : public BrokerFixture {};
class BrokerWillVersionTest : public VersionedBrokerTest {};

ConnectOptions with_will(std::string client_id, std::string topic, std::string payload, QoS qos = QoS::AtLeastOnce,
                         bool retain = false) {
    ConnectOptions o;
    o.client_id = std::move(client_id);
    WillOptions w;
    w.topic = std::move(topic);
    w.payload = std::move(payload);
    w.qos = qos;
    w.retain = retain;
    o.will = w;
    return o;
}

// [MQTT-3.1.2-8]: the Will Message is published when the network connection closes without a DISCONNECT;
// [MQTT-3.1.2-16] (3.1.1) / [MQTT-3.1.2-14] (5.0): Will Retain 0 publishes it as a non-retained message, at the
// Will QoS (here 1, under a QoS 2 subscription).
TEST_P(BrokerWillVersionTest, WillPublishedWhenNetworkConnectionCloses) {
    start();
    auto watcher = connected_client(version(), "watcher");
    watcher->subscribe("will/t", QoS::ExactlyOnce);
    auto dying = connected_client(version(), with_will("dying", "will/t", "gone", QoS::AtLeastOnce));
    dying->close_abruptly();
    auto will = watcher->receive_message();
    EXPECT_EQ(topic_of(*will), "will/t");
    EXPECT_EQ(payload_of(*will), "gone");
    EXPECT_EQ(will->qos, QoS::AtLeastOnce);
    EXPECT_FALSE(will->retain);
    watcher->disconnect();
}

// [MQTT-3.1.2-10]: a DISCONNECT (5.0: reason 0x00) removes the Will Message; [MQTT-3.14.4-3]: it is discarded
// without being published. A message published afterwards on the Will topic is the first the watcher gets.
TEST_P(BrokerWillVersionTest, WillNotPublishedAfterNormalDisconnect) {
    start();
    auto watcher = connected_client(version(), "watcher");
    watcher->subscribe("will/t", QoS::AtLeastOnce);
    auto leaving = connected_client(version(), with_will("leaving", "will/t", "must not appear"));
    leaving->disconnect();  // returns once the broker has closed the connection

    auto pub = connected_client(version(), "pub");
    pub->publish("will/t", "marker", QoS::AtLeastOnce);
    auto m = watcher->receive_message();
    EXPECT_EQ(payload_of(*m), "marker") << "the Will was published after a normal DISCONNECT";
    watcher->disconnect();
    pub->disconnect();
}

// [MQTT-3.1.2-17] (3.1.1) / [MQTT-3.1.2-15] (5.0): Will Retain 1 publishes the Will as a retained message: a
// subscriber that arrives afterwards gets it with RETAIN 1 [MQTT-3.3.1-8] (3.1.1).
TEST_P(BrokerWillVersionTest, WillWithRetainIsRetained) {
    start();
    auto watcher = connected_client(version(), "watcher");
    watcher->subscribe("will/r", QoS::AtLeastOnce);
    auto dying = connected_client(version(), with_will("dying", "will/r", "retained will", QoS::AtLeastOnce, true));
    dying->close_abruptly();
    auto live = watcher->receive_message();
    EXPECT_EQ(payload_of(*live), "retained will");

    auto late = connected_client(version(), "late");
    late->subscribe("will/r", QoS::AtLeastOnce);
    auto m = late->receive_message();
    EXPECT_EQ(payload_of(*m), "retained will");
    EXPECT_TRUE(m->retain);
    watcher->disconnect();
    late->disconnect();
}

// The Will is also published when the server closes the connection: keep alive expired ([MQTT-3.1.2-24] (3.1.1)
// / [MQTT-3.1.2-22] (5.0), then [MQTT-3.1.2-8]; 3.1.1 section 3.1.2.5 lists it).
TEST_P(BrokerWillVersionTest, WillPublishedAfterKeepAliveTimeout) {
    start();
    auto watcher = connected_client(version(), "watcher");
    watcher->subscribe("will/ka", QoS::AtLeastOnce);
    ConnectOptions o = with_will("silent", "will/ka", "timed out");
    o.keep_alive_s = 1;
    auto silent = connected_client(version(), o);
    auto will = watcher->receive_message(6s);
    EXPECT_EQ(payload_of(*will), "timed out");
    EXPECT_TRUE(silent->wait_closed());
    watcher->disconnect();
}

// ... and when the server closes the connection for a protocol error (3.1.1 section 3.1.2.5; 5.0 section 3.1.2.5):
// here a PUBLISH with QoS 3 [MQTT-3.3.1-4].
TEST_P(BrokerWillVersionTest, WillPublishedAfterProtocolError) {
    start();
    auto watcher = connected_client(version(), "watcher");
    watcher->subscribe("will/pe", QoS::AtLeastOnce);
    auto bad = connected_client(version(), with_will("bad", "will/pe", "broke the rules"));
    bad->send_raw(raw_packet(0x36, concat(raw_string("x"), to_bytes({0x00, 0x01}))));
    EXPECT_TRUE(bad->wait_closed());
    auto will = watcher->receive_message();
    EXPECT_EQ(payload_of(*will), "broke the rules");
    watcher->disconnect();
}

// 5.0 section 3.14.2.1: DISCONNECT with reason 0x04 (Disconnect with Will Message) closes the connection and
// publishes the Will.
TEST_F(BrokerWillTest, Mqtt5DisconnectWithWillMessagePublishesWill) {
    start();
    auto watcher = connected_client(kV5, "watcher");
    watcher->subscribe("will/04", QoS::AtLeastOnce);
    auto leaving = connected_client(kV5, with_will("leaving", "will/04", "asked for"));
    leaving->disconnect(ReasonCode::DisconnectWithWillMessage);
    auto will = watcher->receive_message();
    EXPECT_EQ(payload_of(*will), "asked for");
    watcher->disconnect();
}

// [MQTT-3.3.2-4], [MQTT-3.3.2-20] (5.0): the Will Properties Payload Format Indicator and Content Type reach the
// subscriber unaltered.
TEST_F(BrokerWillTest, Mqtt5WillPropertiesForwarded) {
    start();
    auto watcher = connected_client(kV5, "watcher");
    watcher->subscribe("will/p", QoS::AtLeastOnce);
    ConnectOptions o = with_will("props", "will/p", "{\"state\":\"offline\"}");
    o.will->payload_format_indicator = 1;
    o.will->content_type = "application/json";
    auto dying = connected_client(kV5, o);
    dying->close_abruptly();
    auto will = watcher->receive_message();
    EXPECT_EQ(will->properties.payload_format_indicator, std::optional<std::uint8_t>(1));
    EXPECT_EQ(will->properties.content_type, std::optional<std::string_view>("application/json"));
    watcher->disconnect();
}

// [MQTT-3.1.2-8] (5.0): with a Will Delay Interval the Will is published once the interval has passed (here 1 s;
// the session lasts 60 s, so it is the delay that ends).
TEST_F(BrokerWillTest, Mqtt5WillDelayIntervalDelaysWill) {
    start();
    auto watcher = connected_client(kV5, "watcher");
    watcher->subscribe("will/d", QoS::AtLeastOnce);
    ConnectOptions o = with_will("delayed", "will/d", "late");
    o.will->will_delay_interval = 1;
    o.session_expiry_interval = 60;
    auto dying = connected_client(kV5, o);
    const auto closed_at = TestClock::now();
    dying->close_abruptly();
    auto will = watcher->receive_message(6s);
    EXPECT_EQ(payload_of(*will), "late");
    EXPECT_GE(TestClock::now() - closed_at, 900ms) << "the Will came before its 1 s delay";
    watcher->disconnect();
}

// [MQTT-3.1.3-9] (5.0): if the client connects again before the Will Delay Interval has passed, the Will is not
// sent. The watcher sees nothing for 3 s (past the 2 s delay), and nothing after the client then leaves normally.
TEST_F(BrokerWillTest, Mqtt5WillDelayCancelledByReconnect) {
    start();
    auto watcher = connected_client(kV5, "watcher");
    watcher->subscribe("will/c", QoS::AtLeastOnce);
    ConnectOptions o = with_will("returning", "will/c", "must not appear");
    o.clean_start = false;
    o.will->will_delay_interval = 2;
    o.session_expiry_interval = 60;
    auto first = connected_client(kV5, o);
    first->close_abruptly();

    ConnectOptions back = o;
    back.will.reset();
    auto again = tcp_client(kV5, "returning");
    EXPECT_TRUE(again->connect(back)->session_present);
    watcher->expect_silence(3s);
    again->disconnect();

    auto pub = connected_client(kV5, "pub");
    pub->publish("will/c", "marker", QoS::AtLeastOnce);
    auto m = watcher->receive_message();
    EXPECT_EQ(payload_of(*m), "marker");
    watcher->disconnect();
    pub->disconnect();
}

INSTANTIATE_TEST_SUITE_P(Versions, BrokerWillVersionTest, ::testing::Values(kV31, kV311, kV5), version_suffix);

}  // namespace
}  // namespace moth::test
