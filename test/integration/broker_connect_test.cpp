// CONNECT and CONNACK against the real mothd: the three protocol versions, Session Present, client
// identifiers, session takeover, protocol violations around CONNECT, and what a 5.0 CONNACK advertises.
//
// Statement ids: "(3.1.1)" and "(5.0)" mark ids whose numbering differs between the two specifications; an
// id without a mark is the same statement in both.

#include <gtest/gtest.h>

#include "broker_test_util.hpp"

namespace moth::test {
namespace {

class BrokerConnectTest : public BrokerFixture {};
class BrokerConnectVersionTest : public VersionedBrokerTest {};
// 3.1.1 and 5.0 only: 3.1 has no Session Present flag and no zero-length client identifiers.
class BrokerConnectSessionTest : public VersionedBrokerTest {};

// A CONNECT with the given protocol name, level and connect flags, keep alive 0, client id "c" (5.0 levels get
// an empty property block).
std::vector<std::byte> raw_connect(std::string_view protocol_name, int level, int flags) {
    auto body = concat(raw_string(protocol_name), to_bytes({level, flags, 0x00, 0x00}));
    if (level == 5) body.push_back(std::byte{0x00});
    return raw_packet(0x10, concat(body, raw_string("c")));
}

// [MQTT-3.1.4-4] (3.1.1) / [MQTT-3.1.4-5] (5.0): a valid CONNECT is acknowledged with a CONNACK carrying
// Success; [MQTT-3.2.0-1]: CONNACK is the first packet the server sends. For 3.1 ("MQIsdp", level 3) and 3.1.1 the
// CONNACK is exactly 20 02 00 00.
TEST_P(BrokerConnectVersionTest, ConnackSuccessForEachProtocolVersion) {
    start();
    auto c = tcp_client(version(), "c1");
    c->send_connect(clean_session("c1"));
    auto connack = c->expect<codec::Connack>();
    EXPECT_EQ(connack->reason, ReasonCode::Success);
    EXPECT_FALSE(connack->session_present);
    if (!v5()) {
        EXPECT_EQ(hex_dump(connack.received().bytes), "20 02 00 00");
    }
    c->ping();  // the connection is usable
    c->disconnect();
}

// 3.1.1: [MQTT-3.2.2-1] Clean Session 1 -> Session Present 0; [MQTT-3.2.2-3] Clean Session 0 without a stored
// session -> 0; [MQTT-3.2.2-2] Clean Session 0 with a stored session -> 1.
// 5.0: [MQTT-3.2.2-2] Clean Start 1 -> 0; [MQTT-3.2.2-3] Clean Start 0 -> 1 with a session, else 0.
TEST_P(BrokerConnectSessionTest, SessionPresentFlag) {
    start();
    {
        auto c = connected_client(version(), persistent_session("sp1", version()));
        // A fresh client id: no stored session.
        c->disconnect();
    }
    {
        auto c = tcp_client(version(), "sp1");
        auto connack = c->connect(persistent_session("sp1", version()));
        EXPECT_TRUE(connack->session_present) << "Clean Start 0 with a stored session must resume it";
        c->disconnect();
    }
    {
        auto c = tcp_client(version(), "sp1");
        auto connack = c->connect(clean_session("sp1"));
        EXPECT_FALSE(connack->session_present) << "Clean Start 1 must report no session";
        c->disconnect();
    }
    {
        // Clean Start 1 discarded the session [MQTT-3.1.2-6] (3.1.1) / [MQTT-3.1.2-4] (5.0).
        auto c = tcp_client(version(), "sp1");
        auto connack = c->connect(persistent_session("sp1", version()));
        EXPECT_FALSE(connack->session_present) << "the session was discarded by the Clean Start 1 connection";
        c->disconnect();
    }
}

// Also checks the first CONNECT of a fresh client id with Clean Start 0: [MQTT-3.2.2-3].
TEST_P(BrokerConnectSessionTest, SessionPresentZeroForUnknownClientWithCleanStartZero) {
    start();
    auto c = tcp_client(version(), "fresh");
    auto connack = c->connect(persistent_session("fresh", version()));
    EXPECT_FALSE(connack->session_present);
    c->disconnect();
}

// [MQTT-3.1.3-6] (3.1.1): a zero-length ClientId with Clean Session 1 may be accepted; the server assigns one.
TEST_F(BrokerConnectTest, Mqtt311ZeroLengthClientIdWithCleanSessionAccepted) {
    start();
    auto c = tcp_client(kV311, "anon");
    auto connack = c->connect(clean_session(""));
    EXPECT_FALSE(connack->session_present);
    EXPECT_EQ(c->subscribe("anon/t", QoS::AtLeastOnce), granted(QoS::AtLeastOnce));
    c->disconnect();
}

// [MQTT-3.1.3-8] (3.1.1): a zero-byte ClientId with Clean Session 0 gets CONNACK return code 0x02 (Identifier
// rejected), then the connection is closed; [MQTT-3.2.2-4] (3.1.1) Session Present 0 with a non-zero return code.
TEST_F(BrokerConnectTest, Mqtt311ZeroLengthClientIdWithoutCleanSessionRefused) {
    start();
    auto c = tcp_client(kV311, "anon");
    ConnectOptions o;
    o.client_id = "";
    o.clean_start = false;
    c->send_connect(o);
    auto connack = c->expect<codec::Connack>();
    EXPECT_EQ(hex_dump(connack.received().bytes), "20 02 00 02");
    EXPECT_TRUE(c->wait_closed()) << "[MQTT-3.2.2-5] (3.1.1): close after a refusing CONNACK";
}

// [MQTT-3.2.2-16] (5.0): a zero-length Client Identifier gets an Assigned Client Identifier in the CONNACK, one
// not used by any other session; [MQTT-3.1.3-7] (5.0) the CONNECT is processed as if the client had sent it.
TEST_F(BrokerConnectTest, Mqtt5ZeroLengthClientIdGetsAssignedClientIdentifier) {
    start();
    auto a = tcp_client(kV5, "anonA");
    auto ca = a->connect(clean_session(""));
    ASSERT_TRUE(ca->properties.assigned_client_identifier.has_value()) << ca.received().describe();
    const std::string id_a(*ca->properties.assigned_client_identifier);
    EXPECT_FALSE(id_a.empty());

    auto b = tcp_client(kV5, "anonB");
    auto cb = b->connect(clean_session(""));
    ASSERT_TRUE(cb->properties.assigned_client_identifier.has_value()) << cb.received().describe();
    EXPECT_NE(std::string(*cb->properties.assigned_client_identifier), id_a);

    // Both connections stay open and work: neither took over the other's session.
    a->ping();
    b->ping();
    a->disconnect();
    b->disconnect();
}

// A client that gave its own identifier gets no Assigned Client Identifier (5.0 section 3.2.2.3.7).
TEST_F(BrokerConnectTest, Mqtt5NoAssignedClientIdentifierWhenClientSentOne) {
    start();
    auto c = tcp_client(kV5, "named");
    auto connack = c->connect(clean_session("named"));
    EXPECT_FALSE(connack->properties.assigned_client_identifier.has_value()) << connack.received().describe();
    c->disconnect();
}

// [features] allow_zero_length_client_id = false: [MQTT-3.1.3-9] (3.1.1) return code 0x02 (Identifier rejected);
// [MQTT-3.1.3-8] (5.0) CONNACK 0x85 (Client Identifier not valid); then close.
TEST_P(BrokerConnectSessionTest, ZeroLengthClientIdRefusedWhenDisabled) {
    start("[features]\nallow_zero_length_client_id = false\n");
    auto c = tcp_client(version(), "anon");
    c->send_connect(clean_session(""));
    auto connack = c->expect<codec::Connack>();
    if (v5()) {
        EXPECT_EQ(connack->reason, ReasonCode::ClientIdentifierNotValid);
    } else {
        EXPECT_EQ(hex_dump(connack.received().bytes), "20 02 00 02");
    }
    EXPECT_FALSE(connack->session_present);
    EXPECT_TRUE(c->wait_closed());
}

// [limits] max_client_id_length: an identifier of that length is accepted, a longer one refused like an invalid
// one: [MQTT-3.1.3-9] (3.1.1) return code 0x02; [MQTT-3.1.3-8] (5.0) 0x85; then close.
TEST_P(BrokerConnectSessionTest, ClientIdLongerThanLimitRefused) {
    // 23 is the smallest limit: every server must accept 1 to 23 bytes [MQTT-3.1.3-5].
    start("[limits]\nmax_client_id_length = 23\n");
    auto ok = connected_client(version(), "abcdefghijklmnopqrstuvw");
    ok->disconnect();

    auto c = tcp_client(version(), "toolong");
    c->send_connect(clean_session("abcdefghijklmnopqrstuvwx"));
    auto connack = c->expect<codec::Connack>();
    if (v5()) {
        EXPECT_EQ(connack->reason, ReasonCode::ClientIdentifierNotValid);
    } else {
        EXPECT_EQ(hex_dump(connack.received().bytes), "20 02 00 02");
    }
    EXPECT_TRUE(c->wait_closed());
}

// [MQTT-3.1.4-2] (3.1.1): a CONNECT with the ClientId of a connected client disconnects the existing client.
// [MQTT-3.1.4-3] (5.0): the server sends the existing client DISCONNECT 0x8E (Session taken over) and closes its
// connection.
TEST_P(BrokerConnectVersionTest, SessionTakeoverClosesExistingConnection) {
    start();
    auto first = connected_client(version(), "twin");
    auto second = tcp_client(version(), "twin2");
    auto connack = second->connect(clean_session("twin"));
    EXPECT_EQ(connack->reason, ReasonCode::Success);

    if (v5()) {
        auto d = first->expect<codec::Disconnect>();
        EXPECT_EQ(d->reason, ReasonCode::SessionTakenOver);
    }
    EXPECT_TRUE(first->wait_closed()) << "the existing connection must be closed";
    if (!v5()) {
        EXPECT_EQ(first->dropped_count(), 0U) << "3.x has no DISCONNECT from the server; " << first->dropped();
    }

    // The new connection owns the client id and works.
    EXPECT_EQ(second->subscribe("twin/t", QoS::AtLeastOnce), granted(QoS::AtLeastOnce));
    EXPECT_EQ(second->publish("twin/t", "hello", QoS::AtLeastOnce), ReasonCode::Success);
    auto m = second->receive_message();
    EXPECT_EQ(payload_of(*m), "hello");
    second->disconnect();
}

// Takeover with Clean Start 0 resumes the session the first connection had: Session Present 1 and its
// subscriptions [MQTT-3.1.4-3] (3.1.1: Clean Session processing) / [MQTT-3.1.2-5] (5.0).
TEST_P(BrokerConnectSessionTest, SessionTakeoverWithCleanStartZeroResumesSession) {
    start();
    auto first = connected_client(version(), persistent_session("twin", version()));
    EXPECT_EQ(first->subscribe("twin/t", QoS::AtLeastOnce), granted(QoS::AtLeastOnce));

    auto second = tcp_client(version(), "twin2");
    auto connack = second->connect(persistent_session("twin", version()));
    EXPECT_TRUE(connack->session_present);
    EXPECT_TRUE(first->wait_closed());

    auto pub = connected_client(version(), "pub");
    EXPECT_EQ(pub->publish("twin/t", "resumed", QoS::AtLeastOnce), ReasonCode::Success);
    auto m = second->receive_message();
    EXPECT_EQ(payload_of(*m), "resumed");
    second->disconnect();
    pub->disconnect();
}

// [MQTT-3.1.0-2]: a second CONNECT is a protocol violation (5.0: Protocol Error) and the connection is closed.
// In 5.0 Moth sends DISCONNECT 0x82 (Protocol Error) first (section 4.13: SHOULD).
TEST_P(BrokerConnectVersionTest, SecondConnectIsProtocolError) {
    start();
    auto c = connected_client(version(), "twice");
    c->send_connect(clean_session("twice"));
    if (v5()) {
        auto d = c->expect<codec::Disconnect>();
        EXPECT_EQ(d->reason, ReasonCode::ProtocolError);
    }
    EXPECT_TRUE(c->wait_closed());
    if (!v5()) {
        EXPECT_EQ(c->dropped_count(), 0U) << c->dropped();
    }
}

// [MQTT-3.1.0-1]: the first packet must be CONNECT; anything else closes the connection. Nothing is sent back:
// no PINGRESP, and no DISCONNECT before a CONNACK [MQTT-3.14.0-1] (5.0).
TEST_F(BrokerConnectTest, FirstPacketNotConnectClosesConnection) {
    start();
    auto pinger = tcp_client(kV5, "pinger");
    pinger->send_raw(to_bytes({0xC0, 0x00}));  // PINGREQ
    EXPECT_TRUE(pinger->wait_closed());
    EXPECT_EQ(pinger->dropped_count(), 0U) << pinger->dropped();

    auto publisher = tcp_client(kV311, "publisher");
    publisher->send_raw(raw_packet(0x30, concat(raw_string("a/b"), to_bytes({'x'}))));  // PUBLISH QoS 0
    EXPECT_TRUE(publisher->wait_closed());
    EXPECT_EQ(publisher->dropped_count(), 0U) << publisher->dropped();
}

// [MQTT-3.1.2-2] (3.1.1): an unsupported Protocol Level gets CONNACK return code 0x01 (unacceptable protocol
// level) and the connection is closed. The CONNACK has the 3.1.1 format, 20 02 00 01, which any MQTT client reads.
TEST_F(BrokerConnectTest, UnsupportedProtocolLevelGetsReturnCode1ThenClose) {
    start();
    for (const int level : {6, 2, 0x7F}) {
        SCOPED_TRACE("protocol level " + std::to_string(level));
        auto c = tcp_client(kV311, "level");
        c->send_raw(raw_connect("MQTT", level, 0x02));
        auto r = c->receive();
        ASSERT_NE(r, nullptr) << "no CONNACK; closed=" << c->closed();
        EXPECT_EQ(hex_dump(r->bytes), "20 02 00 01");
        EXPECT_TRUE(c->wait_closed());
    }
}

// [MQTT-3.1.2-1]: a wrong protocol name: the server closes the connection (3.1.1: MAY disconnect, and MUST NOT go
// on under this specification; 5.0: MAY send CONNACK 0x84, MUST close). No CONNACK with Success.
TEST_F(BrokerConnectTest, WrongProtocolNameClosesConnection) {
    start();
    auto c = tcp_client(kV311, "name");
    c->send_raw(raw_connect("MQTX", 4, 0x02));
    EXPECT_TRUE(c->wait_closed());
    EXPECT_LE(c->dropped_count(), 1U) << c->dropped();
    EXPECT_EQ(c->dropped().find("reason=0x00"), std::string::npos) << c->dropped();
}

// [MQTT-3.1.2-3]: the reserved bit 0 of the Connect Flags must be 0, else the server closes the connection
// (3.1.1: disconnect; 5.0: Malformed Packet). No CONNACK with Success.
TEST_P(BrokerConnectVersionTest, ConnectReservedFlagClosesConnection) {
    start();
    const bool v31 = version() == kV31;
    auto c = tcp_client(version(), "flags");
    c->send_raw(raw_connect(v31 ? "MQIsdp" : "MQTT", static_cast<int>(version()), 0x03));
    EXPECT_TRUE(c->wait_closed());
    EXPECT_LE(c->dropped_count(), 1U) << c->dropped();
    EXPECT_EQ(c->dropped().find("reason=0x00"), std::string::npos) << c->dropped();
}

// 5.0 section 3.2.2.3: the CONNACK advertises the configured limits: Maximum Packet Size (3.2.2.3.6), Receive
// Maximum (3.2.2.3.3), Topic Alias Maximum (3.2.2.3.8), Retain Available (3.2.2.3.5), Maximum QoS (3.2.2.3.4,
// [MQTT-3.2.2-9]), Wildcard Subscription Available (3.2.2.3.11), Subscription Identifiers Available (3.2.2.3.12),
// Shared Subscription Available (3.2.2.3.13).
TEST_F(BrokerConnectTest, Mqtt5ConnackAdvertisesConfiguredLimits) {
    start(R"([limits]
max_packet_size = 65536
receive_maximum = 20
topic_alias_maximum = 5
[features]
retain_available = false
maximum_qos = 1
wildcard_subscriptions = false
subscription_identifiers = false
shared_subscriptions = false
)");
    auto c = tcp_client(kV5, "limits");
    auto connack = c->connect(clean_session("limits"));
    const auto& p = connack->properties;
    SCOPED_TRACE(connack.received().describe());
    EXPECT_EQ(p.maximum_packet_size, std::optional<std::uint32_t>(65536));
    EXPECT_EQ(p.receive_maximum, std::optional<std::uint16_t>(20));
    EXPECT_EQ(p.topic_alias_maximum, std::optional<std::uint16_t>(5));
    EXPECT_EQ(p.retain_available, std::optional<std::uint8_t>(0));
    EXPECT_EQ(p.maximum_qos, std::optional<std::uint8_t>(1));
    EXPECT_EQ(p.wildcard_subscription_available, std::optional<std::uint8_t>(0));
    EXPECT_EQ(p.subscription_identifier_available, std::optional<std::uint8_t>(0));
    EXPECT_EQ(p.shared_subscription_available, std::optional<std::uint8_t>(0));
    c->disconnect();
}

// The same with the defaults (1 MiB packets, Receive Maximum 100, 32 aliases, everything available): limits that
// differ from the protocol defaults are present; Maximum QoS is absent, as only 0 or 1 may be sent
// (3.2.2.3.4); the availability flags are absent or 1.
TEST_F(BrokerConnectTest, Mqtt5ConnackAdvertisesDefaultLimits) {
    start();
    auto c = tcp_client(kV5, "defaults");
    auto connack = c->connect(clean_session("defaults"));
    const auto& p = connack->properties;
    SCOPED_TRACE(connack.received().describe());
    EXPECT_EQ(p.maximum_packet_size, std::optional<std::uint32_t>(1048576));
    EXPECT_EQ(p.receive_maximum, std::optional<std::uint16_t>(100));
    EXPECT_EQ(p.topic_alias_maximum, std::optional<std::uint16_t>(32));
    EXPECT_FALSE(p.maximum_qos.has_value());
    EXPECT_EQ(p.retain_available.value_or(1), 1);
    EXPECT_EQ(p.wildcard_subscription_available.value_or(1), 1);
    EXPECT_EQ(p.subscription_identifier_available.value_or(1), 1);
    EXPECT_EQ(p.shared_subscription_available.value_or(1), 1);
    c->disconnect();
}

// 5.0 section 3.2.2.3.14: with [limits] max_keepalive below the client's Keep Alive, the CONNACK carries Server
// Keep Alive with the limit, which the client must then use [MQTT-3.2.2-21].
TEST_F(BrokerConnectTest, Mqtt5ServerKeepAliveLowersClientKeepAlive) {
    start("[limits]\nmax_keepalive = 30\n");
    auto c = tcp_client(kV5, "ka");
    ConnectOptions o = clean_session("ka");
    o.keep_alive_s = 120;
    auto connack = c->connect(o);
    EXPECT_EQ(connack->properties.server_keep_alive, std::optional<std::uint16_t>(30)) << connack.received().describe();

    auto d = tcp_client(kV5, "ka2");
    o.client_id = "ka2";
    o.keep_alive_s = 20;  // within the limit: no Server Keep Alive needed
    auto connack2 = d->connect(o);
    EXPECT_EQ(connack2->properties.server_keep_alive.value_or(20), 20) << connack2.received().describe();
    c->disconnect();
    d->disconnect();
}

// server_reference: 5.0 CONNACK 0x9C (Use another server) with the Server Reference property (section 4.11),
// then the connection is closed [MQTT-3.2.2-7] (5.0).
TEST_F(BrokerConnectTest, Mqtt5ServerReferenceRedirects) {
    start("server_reference = \"other.example:1883\"\n");
    auto c = tcp_client(kV5, "redirected");
    c->send_connect(clean_session("redirected"));
    auto connack = c->expect<codec::Connack>();
    EXPECT_EQ(connack->reason, ReasonCode::UseAnotherServer);
    EXPECT_EQ(connack->properties.server_reference, std::optional<std::string_view>("other.example:1883"));
    EXPECT_TRUE(c->wait_closed());
}

INSTANTIATE_TEST_SUITE_P(Versions, BrokerConnectVersionTest, ::testing::Values(kV31, kV311, kV5), version_suffix);
INSTANTIATE_TEST_SUITE_P(Versions, BrokerConnectSessionTest, ::testing::Values(kV311, kV5), version_suffix);

}  // namespace
}  // namespace moth::test
