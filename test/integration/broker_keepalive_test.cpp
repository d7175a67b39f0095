// Keep alive against the real mothd: a silent client is disconnected after one and a half keep alive periods,
// traffic and PINGREQ keep it connected, keep alive 0 switches the check off, PINGREQ gets PINGRESP.
//
// Statement ids: "(3.1.1)" and "(5.0)" mark ids whose numbering differs between the two specifications.
// These tests are about time, so they let time pass; they do it by watching the connection for the period
// (expect_silence), which also checks that the broker sends nothing unasked.

#include <gtest/gtest.h>

#include "broker_test_util.hpp"

namespace moth::test {
namespace {

class BrokerKeepAliveTest : public BrokerFixture {};
class BrokerKeepAliveVersionTest : public VersionedBrokerTest {};

// [MQTT-3.1.2-24] (3.1.1) / [MQTT-3.1.2-22] (5.0): with Keep Alive 1 s and no packet from the client, the server
// closes the connection after 1.5 s. Not before the keep alive period itself: a client may be silent for up to
// 1 s [MQTT-3.1.2-23] (3.1.1) / [MQTT-3.1.2-20] (5.0). In 5.0 a DISCONNECT before the close, if any, carries 0x8D
// (Keep Alive timeout).
TEST_P(BrokerKeepAliveVersionTest, SilentClientDisconnectedAfterOneAndAHalfKeepAlive) {
    start();
    auto c = tcp_client(version(), "silent");
    ConnectOptions o = clean_session("silent");
    o.keep_alive_s = 1;
    c->connect(o);
    const auto connected_at = TestClock::now();
    auto r = c->receive(5s);
    const auto elapsed = TestClock::now() - connected_at;
    if (r) {
        ASSERT_TRUE(v5() && r->is<codec::Disconnect>()) << "unexpected " << r->describe();
        EXPECT_EQ(r->as<codec::Disconnect>().reason, ReasonCode::KeepAliveTimeout);
        EXPECT_TRUE(c->wait_closed());
    }
    EXPECT_TRUE(c->closed()) << "still connected 5 s after a 1 s keep alive";
    EXPECT_GE(elapsed, 1000ms) << "closed before the keep alive period";
    EXPECT_LE(elapsed, 4000ms);
}

// [MQTT-3.12.4-1]: the server answers PINGREQ with PINGRESP.
TEST_P(BrokerKeepAliveVersionTest, PingreqGetsPingresp) {
    start();
    auto c = connected_client(version(), "pinger");
    for (int i = 0; i < 3; ++i) {
        c->send(codec::Pingreq{});
        c->expect<codec::Pingresp>();
    }
    c->disconnect();
}

// PINGREQ every 0.6 s keeps a Keep Alive 1 s connection open for 3 s, twice the 1.5 s limit
// ([MQTT-3.1.2-24] (3.1.1) / [MQTT-3.1.2-22] (5.0) count any control packet).
TEST_P(BrokerKeepAliveVersionTest, PingsKeepConnectionAlive) {
    start();
    auto c = tcp_client(version(), "pinger");
    ConnectOptions o = clean_session("pinger");
    o.keep_alive_s = 1;
    c->connect(o);
    for (int i = 0; i < 5; ++i) {
        c->expect_silence(600ms);
        c->ping();
    }
    c->disconnect();
}

// Any packet counts, not just PINGREQ: PUBLISH every 0.6 s also keeps the connection open.
TEST_P(BrokerKeepAliveVersionTest, PublishesKeepConnectionAlive) {
    start();
    auto c = tcp_client(version(), "talker");
    ConnectOptions o = clean_session("talker");
    o.keep_alive_s = 1;
    c->connect(o);
    for (int i = 0; i < 5; ++i) {
        c->expect_silence(600ms);
        c->publish("ka/t", "still here", QoS::AtMostOnce);
    }
    c->ping();
    c->disconnect();
}

// Keep Alive 0 switches the mechanism off (3.1.1 section 3.1.2.10, 5.0 section 3.1.2.10): 2.5 s of silence and
// the connection is still open.
TEST_P(BrokerKeepAliveVersionTest, KeepAliveZeroNeverTimesOut) {
    start();
    auto c = connected_client(version(), "quiet");  // keep_alive_s = 0
    c->expect_silence(2500ms);
    c->ping();
    c->disconnect();
}

// 5.0 section 3.2.2.3.14 / [MQTT-3.2.2-21]: when the CONNACK carries a Server Keep Alive the client must use it,
// and the server enforces it: 1 s (the [limits] max_keepalive) instead of the client's 60 s.
TEST_F(BrokerKeepAliveTest, Mqtt5ServerKeepAliveEnforced) {
    start("[limits]\nmax_keepalive = 1\n");
    auto c = tcp_client(kV5, "lowered");
    ConnectOptions o = clean_session("lowered");
    o.keep_alive_s = 60;
    auto connack = c->connect(o);
    EXPECT_EQ(connack->properties.server_keep_alive, std::optional<std::uint16_t>(1));
    EXPECT_TRUE(c->wait_closed(5s)) << "the 1 s Server Keep Alive was not enforced";
}

INSTANTIATE_TEST_SUITE_P(Versions, BrokerKeepAliveVersionTest, ::testing::Values(kV31, kV311, kV5), version_suffix);

}  // namespace
}  // namespace moth::test
