// MQTT 5.0 normative statements checked against the real mothd, one test per statement or per small group of
// statements that one exchange shows. Each test names the ids it checks; docs/conformance.md points back here.
//
// Where a check is "nothing arrives", it is backed by a positive control: a marker message published afterwards
// that must arrive first, or a PINGREQ whose PINGRESP must be the next packet.

#include <algorithm>
#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "broker_test_util.hpp"

namespace moth::test {
namespace {

using Bytes = std::vector<std::byte>;

class ConformanceV5Test : public BrokerFixture {};

// A 5.0 CONNECT written by hand: protocol name, level 5, `flags`, keep alive 0, `props` (the Property Length
// included), then `payload`.
Bytes v5_connect(int flags, const Bytes& payload, const Bytes& props = to_bytes({0x00})) {
    return raw_packet(0x10, concat(raw_string("MQTT"), to_bytes({0x05, flags, 0x00, 0x00}), props, payload));
}

// The DISCONNECT the broker sends, then the close, with nothing sent after the DISCONNECT.
void expect_disconnect(MqttTestClient& c, ReasonCode reason,
                       std::source_location where = std::source_location::current()) {
    auto d = c.expect<codec::Disconnect>(kReceiveTimeout, where);
    EXPECT_EQ(d->reason, reason) << "at line " << where.line() << ": " << d.received().describe();
    EXPECT_TRUE(codec::reason_code_allowed(d->reason, codec::PacketType::Disconnect)) << d.received().describe();
    EXPECT_FALSE(d->properties.session_expiry_interval.has_value()) << d.received().describe();
    EXPECT_TRUE(c.wait_closed()) << "at line " << where.line() << ": the connection stayed open after DISCONNECT";
    EXPECT_EQ(c.dropped_count(), 0U) << "at line " << where.line() << ": sent after DISCONNECT: " << c.dropped();
}

WillOptions will(std::string topic, QoS qos, bool retain) {
    WillOptions w;
    w.topic = std::move(topic);
    w.payload = "x";
    w.qos = qos;
    w.retain = retain;
    return w;
}

// A refused CONNECT: CONNACK with `reason`, Session Present 0, then the close.
void expect_refused(MqttTestClient& c, ReasonCode reason, std::source_location where = std::source_location::current()) {
    auto ack = c.expect<codec::Connack>(kReceiveTimeout, where);
    EXPECT_EQ(ack->reason, reason) << "at line " << where.line() << ": " << ack.received().describe();
    EXPECT_TRUE(codec::reason_code_allowed(ack->reason, codec::PacketType::Connack)) << ack.received().describe();
    EXPECT_FALSE(ack->session_present) << "at line " << where.line() << ": " << ack.received().describe();
    EXPECT_TRUE(c.wait_closed()) << "at line " << where.line() << ": the connection stayed open after the refusal";
    EXPECT_EQ(c.dropped_count(), 0U) << "at line " << where.line() << ": sent after CONNACK: " << c.dropped();
}

codec::Publish publish_packet(std::string_view topic, std::string_view payload, QoS qos, std::uint16_t id) {
    codec::Publish p;
    p.topic = topic;
    p.payload = as_bytes(payload);
    p.qos = qos;
    p.packet_id = qos == QoS::AtMostOnce ? 0 : id;
    return p;
}

// [MQTT-3.1.2-24]: nothing the server sends exceeds the client's Maximum Packet Size, the CONNACK included: the
// broker leaves out the properties whose absence means the same (an "available" flag of 1) rather than break it.
TEST_F(ConformanceV5Test, ConnackFitsTheClientsMaximumPacketSize) {
    start();
    auto c = tcp_client(kV5, "small");
    ConnectOptions o;
    o.client_id = "small";
    o.maximum_packet_size = 20;
    auto ack = c->connect(o);
    EXPECT_EQ(ack->reason, ReasonCode::Success) << ack.received().describe();
    EXPECT_LE(ack.received().bytes.size(), 20U) << ack.received().describe();
    EXPECT_TRUE(ack->properties.maximum_packet_size.has_value()) << ack.received().describe();
    EXPECT_TRUE(ack->properties.receive_maximum.has_value()) << ack.received().describe();
    // The connection works: a SUBACK (5 bytes) arrives.
    c->subscribe("small/t", QoS::AtLeastOnce);
}

// ---------------------------------------------------------------------------------------------------------
// 2 Packet identifiers; 3.4-3.11 reason codes of the acknowledgements

// [MQTT-2.2.1-2]: a QoS 0 PUBLISH carries no Packet Identifier. The bytes the subscriber gets are exactly fixed
// header, topic, Property Length 0, payload.
TEST_F(ConformanceV5Test, Qos0PublishHasNoPacketIdentifier) {
    start();
    auto sub = connected_client(kV5, "sub");
    sub->subscribe("q0/t", QoS::ExactlyOnce);
    auto pub = connected_client(kV5, "pub");
    pub->publish("q0/t", "hi", QoS::AtMostOnce);
    auto got = sub->expect<codec::Publish>();
    EXPECT_EQ(got.received().bytes, raw_packet(0x30, concat(raw_string("q0/t"), to_bytes({0x00, 'h', 'i'}))))
        << got.received().describe();
}

// [MQTT-2.2.1-5]: PUBACK, PUBREC, PUBREL and PUBCOMP carry the Packet Identifier of the PUBLISH (or PUBREC);
// [MQTT-2.2.1-6], [MQTT-3.8.4-2]: SUBACK and UNSUBACK that of the SUBSCRIBE / UNSUBSCRIBE. Every reason code is
// one its packet allows: [MQTT-3.4.2-1] PUBACK, [MQTT-3.5.2-1] PUBREC, [MQTT-3.6.2-1] PUBREL, [MQTT-3.7.2-1]
// PUBCOMP, [MQTT-3.9.3-2] SUBACK; [MQTT-3.11.3-1] UNSUBACK codes in the order of the filters.
TEST_F(ConformanceV5Test, AcknowledgementsEchoPacketIdentifiersWithAllowedReasonCodes) {
    start();
    auto c = connected_client(kV5, "acker");
    auto sub = connected_client(kV5, "sub");
    sub->subscribe("ack/t", QoS::ExactlyOnce);

    const std::vector<codec::Subscription> subs = {{"ack/x", sub_options(QoS::AtLeastOnce)},
                                                   {"ack/#/bad", sub_options(QoS::AtMostOnce)}};
    codec::Subscribe s;
    s.packet_id = 0x4321;
    s.subscriptions = subs;
    c->send(s);
    auto suback = c->expect<codec::Suback>();
    EXPECT_EQ(suback->packet_id, 0x4321);
    ASSERT_EQ(suback->reason_codes.size(), 2U) << suback.received().describe();
    EXPECT_EQ(suback->reason_codes[0], ReasonCode::GrantedQoS1);
    EXPECT_EQ(suback->reason_codes[1], ReasonCode::TopicFilterInvalid);
    for (auto rc : suback->reason_codes) EXPECT_TRUE(codec::reason_code_allowed(rc, codec::PacketType::Suback));

    const std::vector<std::string_view> filters = {"never/subscribed", "ack/x"};
    codec::Unsubscribe u;
    u.packet_id = 0x5678;
    u.filters = filters;
    c->send(u);
    auto unsuback = c->expect<codec::Unsuback>();
    EXPECT_EQ(unsuback->packet_id, 0x5678);
    ASSERT_EQ(unsuback->reason_codes.size(), 2U) << unsuback.received().describe();
    EXPECT_EQ(unsuback->reason_codes[0], ReasonCode::NoSubscriptionExisted);
    EXPECT_EQ(unsuback->reason_codes[1], ReasonCode::Success);

    // PUBACK: Success, No matching subscribers, Not authorized.
    const std::vector<std::pair<std::string, ReasonCode>> qos1 = {
        {"ack/t", ReasonCode::Success}, {"nobody/t", ReasonCode::NoMatchingSubscribers},
        {"$SYS/t", ReasonCode::NotAuthorized}};
    std::uint16_t id = 0x1230;
    for (const auto& [topic, want] : qos1) {
        c->send(publish_packet(topic, "x", QoS::AtLeastOnce, ++id));
        auto a = c->expect<codec::Puback>();
        EXPECT_EQ(a->packet_id, id) << topic;
        EXPECT_EQ(a->reason, want) << topic;
        EXPECT_TRUE(codec::reason_code_allowed(a->reason, codec::PacketType::Puback)) << a.received().describe();
    }
    // PUBREC, then PUBCOMP for the PUBREL; PUBCOMP 0x92 for a PUBREL nobody asked for.
    c->send(publish_packet("ack/t", "x", QoS::ExactlyOnce, 0xABCD));
    auto rec = c->expect<codec::Pubrec>();
    EXPECT_EQ(rec->packet_id, 0xABCD);
    EXPECT_EQ(rec->reason, ReasonCode::Success);
    c->send(ack_packet<codec::Pubrel>(0xABCD));
    auto comp = c->expect<codec::Pubcomp>();
    EXPECT_EQ(comp->packet_id, 0xABCD);
    EXPECT_EQ(comp->reason, ReasonCode::Success);
    c->send(ack_packet<codec::Pubrel>(0x0BAD));
    auto comp2 = c->expect<codec::Pubcomp>();
    EXPECT_EQ(comp2->packet_id, 0x0BAD);
    EXPECT_EQ(comp2->reason, ReasonCode::PacketIdentifierNotFound);
    EXPECT_TRUE(codec::reason_code_allowed(comp2->reason, codec::PacketType::Pubcomp));

    // PUBREL from the server: for the subscriber's PUBREC, and 0x92 for an unknown identifier.
    sub->receive_message();  // the QoS 1 message
    auto m = sub->expect<codec::Publish>();
    ASSERT_EQ(m->qos, QoS::ExactlyOnce);
    sub->send(ack_packet<codec::Pubrec>(m->packet_id));
    auto rel = sub->expect<codec::Pubrel>();
    EXPECT_EQ(rel->packet_id, m->packet_id);
    EXPECT_EQ(rel->reason, ReasonCode::Success);
    const std::uint16_t unknown = m->packet_id == 0x7777 ? 0x7778 : 0x7777;
    sub->send(ack_packet<codec::Pubrec>(unknown));
    auto rel2 = sub->expect<codec::Pubrel>();
    EXPECT_EQ(rel2->packet_id, unknown);
    EXPECT_EQ(rel2->reason, ReasonCode::PacketIdentifierNotFound);
    EXPECT_TRUE(codec::reason_code_allowed(rel2->reason, codec::PacketType::Pubrel));
    sub->send(ack_packet<codec::Pubcomp>(m->packet_id));
    sub->ping();
}

// ---------------------------------------------------------------------------------------------------------
// 3.1 CONNECT

// [MQTT-3.1.2-16]: User Name Flag 0 and a User Name present; [MQTT-3.1.2-18]: Password Flag 0 and a Password
// present; [MQTT-3.1.3-3]: no ClientID; [MQTT-3.1.3-12]: a User Name that is not UTF-8. Each CONNECT is malformed:
// CONNACK 0x81, then the close. The same CONNECT with correct flags is accepted.
TEST_F(ConformanceV5Test, MalformedConnectPayloadsAreRefused) {
    start();
    const std::vector<std::pair<std::string, Bytes>> bad = {
        {"user name without its flag", v5_connect(0x02, concat(raw_string("c1"), raw_string("user")))},
        {"password without its flag", v5_connect(0x82, concat(raw_string("c2"), raw_string("user"), raw_string("pw")))},
        {"no client id", v5_connect(0x02, {})},
        {"user name not UTF-8", v5_connect(0x82, concat(raw_string("c3"), raw_string("\xff\xfe")))},
    };
    for (const auto& [what, bytes] : bad) {
        SCOPED_TRACE(what);
        auto c = tcp_client(kV5, what);
        c->send_raw(bytes);
        expect_refused(*c, ReasonCode::MalformedPacket);
    }
    auto good = tcp_client(kV5, "good");
    good->send_raw(v5_connect(0xC2, concat(raw_string("c4"), raw_string("user"), raw_string("pw"))));
    EXPECT_EQ(good->expect<codec::Connack>()->reason, ReasonCode::Success);
}

// [MQTT-3.1.2-15]: a Will with Will Retain 1 is published as a retained message; [MQTT-3.1.3-10]: its User
// Properties keep their order (a repeated key included).
TEST_F(ConformanceV5Test, RetainedWillKeepsUserPropertyOrder) {
    start();
    auto live = connected_client(kV5, "live");
    live->subscribe("will/#", QoS::AtLeastOnce);

    auto dying = tcp_client(kV5, "dying");
    const std::vector<codec::UserProperty> props = {{"k", "2"}, {"a", "1"}, {"k", "1"}};
    codec::Connect cp;
    cp.client_id = "dying";
    codec::Will w;
    w.topic = "will/r";
    w.payload = as_bytes("gone");
    w.qos = QoS::AtLeastOnce;
    w.retain = true;
    w.properties.user_properties = props;
    cp.will = w;
    dying->send(cp);
    ASSERT_EQ(dying->expect<codec::Connack>()->reason, ReasonCode::Success);
    dying->close_abruptly();

    auto got = live->receive_message();
    EXPECT_EQ(payload_of(*got), "gone");
    ASSERT_EQ(got->properties.user_properties.size(), 3U) << got.received().describe();
    for (std::size_t i = 0; i < props.size(); ++i) EXPECT_EQ(got->properties.user_properties[i], props[i]) << i;

    auto late = connected_client(kV5, "late");
    late->subscribe("will/#", QoS::AtLeastOnce);
    auto retained = late->receive_message();
    EXPECT_EQ(payload_of(*retained), "gone");
    EXPECT_TRUE(retained->retain) << "the Will was not stored as a retained message";
}

// [MQTT-3.1.3-2]: the ClientID identifies the Session: each of two persistent sessions gets back its own
// subscription and its own queued message; an unknown ClientID gets a new session.
TEST_F(ConformanceV5Test, ClientIdIdentifiesTheSession) {
    start();
    for (const char* id : {"sess-a", "sess-b"}) {
        auto c = connected_client(kV5, persistent_session(id, kV5));
        c->subscribe(std::string("sid/") + id, QoS::AtLeastOnce);
        c->disconnect();
    }
    auto pub = connected_client(kV5, "pub");
    pub->publish("sid/sess-a", "for a", QoS::AtLeastOnce);
    pub->publish("sid/sess-b", "for b", QoS::AtLeastOnce);
    for (const char* id : {"sess-b", "sess-a"}) {
        SCOPED_TRACE(id);
        auto c = tcp_client(kV5, id);
        EXPECT_TRUE(c->connect(persistent_session(id, kV5))->session_present);
        EXPECT_EQ(payload_of(*c->receive_message()), std::string("for ") + std::string(id).substr(5));
        pub->publish(std::string("sid/") + id, "marker", QoS::AtLeastOnce);
        EXPECT_EQ(payload_of(*c->receive_message()), "marker") << "a message of the other session arrived";
        c->disconnect();
    }
    auto other = tcp_client(kV5, "sess-c");
    EXPECT_FALSE(other->connect(persistent_session("sess-c", kV5))->session_present);
}

// [MQTT-3.1.4-6]: after a refused CONNECT the server processes nothing that follows it: a PUBLISH sent in the
// same write as the CONNECT is not delivered. [MQTT-4.12.0-1]: the refusal is for an Authentication Method mothd
// does not support (CONNACK 0x8C, then close); [MQTT-3.1.4-2]: the check failed, so the connection is closed;
// [MQTT-3.2.2-6]: Session Present is 0 although a session for the ClientID exists; [MQTT-3.2.2-8]: 0x8C is a
// Connect Reason Code.
TEST_F(ConformanceV5Test, RefusedConnectStopsProcessing) {
    start();
    {
        auto c = connected_client(kV5, persistent_session("victim", kV5));
        c->disconnect();
    }
    auto sub = connected_client(kV5, "sub");
    sub->subscribe("refused/t", QoS::AtMostOnce);

    // Clean Start 0, Session Expiry Interval 300, Authentication Method "NOPE".
    const Bytes props = to_bytes({0x0C, 0x11, 0x00, 0x00, 0x01, 0x2C, 0x15, 0x00, 0x04, 'N', 'O', 'P', 'E'});
    const Bytes connect = v5_connect(0x00, raw_string("victim"), props);
    const Bytes publish = raw_packet(0x30, concat(raw_string("refused/t"), to_bytes({0x00, 'l', 'e', 'a', 'k'})));
    auto c = tcp_client(kV5, "refused");
    c->send_raw(concat(connect, publish));
    expect_refused(*c, ReasonCode::BadAuthenticationMethod);

    auto pub = connected_client(kV5, "pub");
    pub->publish("refused/t", "marker", QoS::AtMostOnce);
    EXPECT_EQ(payload_of(*sub->receive_message()), "marker") << "the PUBLISH after the refused CONNECT was processed";
}

// [MQTT-4.12.0-6]: a CONNECT without an Authentication Method gets a CONNACK without one and no AUTH (the next
// packet after CONNACK is the PINGRESP); [MQTT-4.12.0-7]: an AUTH from such a client is a Protocol Error.
TEST_F(ConformanceV5Test, NoAuthenticationMethodMeansNoAuth) {
    start();
    auto c = tcp_client(kV5, "plain");
    auto ack = c->connect(clean_session("plain"));
    EXPECT_FALSE(ack->properties.authentication_method.has_value()) << ack.received().describe();
    EXPECT_FALSE(ack->properties.authentication_data.has_value()) << ack.received().describe();
    c->ping();
    codec::Auth a;
    a.reason = ReasonCode::ContinueAuthentication;
    a.properties.authentication_method = "SCRAM-SHA-1";
    c->send(a);
    expect_disconnect(*c, ReasonCode::ProtocolError);
}

// [MQTT-3.2.0-2]: at most one CONNACK per connection: a second CONNECT gets DISCONNECT 0x82, not another CONNACK.
// [MQTT-3.14.2-1]: the DISCONNECT uses a DISCONNECT Reason Code; [MQTT-3.14.2-2]: it carries no Session Expiry
// Interval; [MQTT-3.14.4-1]: nothing follows it; [MQTT-3.14.4-2]: the connection is closed. The same for the
// DISCONNECT 0x8E of a session taken over.
TEST_F(ConformanceV5Test, OneConnackAndNothingAfterDisconnect) {
    start();
    auto c = connected_client(kV5, persistent_session("twice", kV5));
    c->subscribe("twice/t", QoS::AtLeastOnce);
    c->send_connect(clean_session("twice"));
    expect_disconnect(*c, ReasonCode::ProtocolError);

    auto old = connected_client(kV5, persistent_session("taken", kV5));
    auto fresh = connected_client(kV5, persistent_session("taken", kV5));
    expect_disconnect(*old, ReasonCode::SessionTakenOver);
    fresh->ping();
}

// [MQTT-3.2.2-22]: without a Server Keep Alive in the CONNACK the server uses the client's Keep Alive (1 s here):
// it closes the silent connection after about 1.5 s with DISCONNECT 0x8D, not much earlier and not much later.
TEST_F(ConformanceV5Test, ServerUsesTheClientKeepAlive) {
    start();
    auto c = tcp_client(kV5, "sleepy");
    ConnectOptions o = clean_session("sleepy");
    o.keep_alive_s = 1;
    const auto connected = TestClock::now();
    auto ack = c->connect(o);
    ASSERT_FALSE(ack->properties.server_keep_alive.has_value()) << ack.received().describe();
    auto d = c->expect<codec::Disconnect>(6s);
    const auto waited = std::chrono::duration_cast<Millis>(TestClock::now() - connected);
    EXPECT_EQ(d->reason, ReasonCode::KeepAliveTimeout);
    EXPECT_GE(waited, 1000ms);
    EXPECT_LE(waited, 4000ms);
    EXPECT_TRUE(c->wait_closed());
}

// ---------------------------------------------------------------------------------------------------------
// 3.2 CONNACK: features the server does not offer

// With Maximum QoS 1 and Retain Available 0: [MQTT-3.2.2-10] SUBSCRIBE with QoS 0, 1, 2 is accepted (granted 0, 1,
// 1); [MQTT-3.2.2-12] a Will with QoS 2 is refused with CONNACK 0x9B and [MQTT-3.2.2-13] a retained Will with 0x9A,
// each followed by the close ([MQTT-3.1.4-2]); [MQTT-3.2.2-11] a PUBLISH with QoS 2 gets DISCONNECT 0x9B and
// [MQTT-3.2.2-14] a retained PUBLISH DISCONNECT 0x9A.
TEST_F(ConformanceV5Test, UnsupportedQosAndRetain) {
    start("[features]\nmaximum_qos = 1\nretain_available = false\n");
    auto c = tcp_client(kV5, "sub");
    auto ack = c->connect(clean_session("sub"));
    EXPECT_EQ(ack->properties.maximum_qos, std::optional<std::uint8_t>(1));
    EXPECT_EQ(ack->properties.retain_available, std::optional<std::uint8_t>(0));
    const auto codes = c->subscribe_many({{"mq/0", sub_options(QoS::AtMostOnce)},
                                          {"mq/1", sub_options(QoS::AtLeastOnce)},
                                          {"mq/2", sub_options(QoS::ExactlyOnce)}});
    EXPECT_EQ(codes, (std::vector<ReasonCode>{ReasonCode::GrantedQoS0, ReasonCode::GrantedQoS1,
                                              ReasonCode::GrantedQoS1}));
    {
        auto w = tcp_client(kV5, "will-qos2");
        ConnectOptions o = clean_session("will-qos2");
        o.will = will("mq/will", QoS::ExactlyOnce, false);
        w->send_connect(o);
        expect_refused(*w, ReasonCode::QoSNotSupported);
    }
    {
        auto w = tcp_client(kV5, "will-retain");
        ConnectOptions o = clean_session("will-retain");
        o.will = will("mq/will", QoS::AtLeastOnce, true);
        w->send_connect(o);
        expect_refused(*w, ReasonCode::RetainNotSupported);
    }
    {
        auto p = connected_client(kV5, "pub-qos2");
        p->send(publish_packet("mq/2", "x", QoS::ExactlyOnce, 1));
        expect_disconnect(*p, ReasonCode::QoSNotSupported);
    }
    {
        auto p = connected_client(kV5, "pub-retain");
        auto pk = publish_packet("mq/1", "x", QoS::AtLeastOnce, 1);
        pk.retain = true;
        p->send(pk);
        expect_disconnect(*p, ReasonCode::RetainNotSupported);
    }
    c->ping();
}

// ---------------------------------------------------------------------------------------------------------
// Maximum Packet Size, Request Problem / Response Information

// [MQTT-3.1.2-24]: no PUBLISH above the client's Maximum Packet Size (128 here) is sent; [MQTT-3.1.2-25]: the
// too-large message is discarded as if sent: it does not hold the client's only Receive Maximum slot, and the next
// message arrives.
TEST_F(ConformanceV5Test, TooLargePublishDiscardedForThatClient) {
    start();
    ConnectOptions o = clean_session("small");
    o.maximum_packet_size = 128;
    o.receive_maximum = 1;
    auto small = connected_client(kV5, o);
    small->subscribe("mps/t", QoS::AtLeastOnce);
    auto big = connected_client(kV5, "big");
    big->subscribe("mps/t", QoS::AtLeastOnce);
    auto pub = connected_client(kV5, "pub");
    pub->publish("mps/t", std::string(200, 'x'), QoS::AtLeastOnce);
    pub->publish("mps/t", "small", QoS::AtLeastOnce);

    EXPECT_EQ(payload_of(*big->receive_message()).size(), 200U) << "control: the large message was published";
    auto got = small->receive_message();
    EXPECT_EQ(payload_of(*got), "small");
    EXPECT_LE(got.received().bytes.size(), 128U);
    small->ping();
}

// [MQTT-3.1.2-28]: Request Response Information 0: no Response Information in CONNACK. [MQTT-3.1.2-29]: Request
// Problem Information 0: no Reason String or User Property on anything but PUBLISH, CONNACK, DISCONNECT. With a
// Maximum Packet Size of 8, no acknowledgement carries a Reason String or User Property that would not fit:
// [MQTT-3.4.2-2/3] PUBACK, [MQTT-3.5.2-2/3] PUBREC, [MQTT-3.6.2-2/3] PUBREL, [MQTT-3.7.2-2/3] PUBCOMP,
// [MQTT-3.9.2-1/2] SUBACK, [MQTT-3.11.2-1/2] UNSUBACK; each is triggered with an error reason code, where a Reason
// String would be most likely. [MQTT-3.2.2-19/20] CONNACK and [MQTT-3.14.2-3/4] DISCONNECT carry none either.
TEST_F(ConformanceV5Test, NoProblemOrResponseInformationBeyondWhatTheClientAllows) {
    start();
    auto c = tcp_client(kV5, "quiet");
    codec::Connect cp;
    cp.client_id = "quiet";
    cp.properties.request_response_information = 0;
    cp.properties.request_problem_information = 0;
    cp.properties.maximum_packet_size = 8;
    c->send(cp);
    auto ack = c->expect<codec::Connack>();
    ASSERT_EQ(ack->reason, ReasonCode::Success);
    EXPECT_FALSE(ack->properties.response_information.has_value()) << ack.received().describe();
    EXPECT_FALSE(ack->properties.reason_string.has_value()) << ack.received().describe();
    EXPECT_TRUE(ack->properties.user_properties.empty()) << ack.received().describe();

    auto sub = connected_client(kV5, "sub");
    sub->subscribe("rpi/t", QoS::ExactlyOnce);

    auto check = [](const Received& r, codec::PacketType type) {
        EXPECT_EQ(r.type(), type) << r.describe();
        EXPECT_LE(r.bytes.size(), 8U) << r.describe();
        std::visit(
            [&](const auto& p) {
                if constexpr (requires { p.properties; }) {
                    EXPECT_FALSE(p.properties.reason_string.has_value()) << r.describe();
                    EXPECT_TRUE(p.properties.user_properties.empty()) << r.describe();
                }
            },
            r.packet);
    };
    c->send(publish_packet("$SYS/x", "x", QoS::AtLeastOnce, 1));  // PUBACK 0x87
    auto r = c->receive();
    ASSERT_TRUE(r);
    check(*r, codec::PacketType::Puback);
    c->send(publish_packet("$SYS/x", "x", QoS::ExactlyOnce, 2));  // PUBREC 0x87
    r = c->receive();
    ASSERT_TRUE(r);
    check(*r, codec::PacketType::Pubrec);
    c->send(ack_packet<codec::Pubrel>(3));  // PUBCOMP 0x92
    r = c->receive();
    ASSERT_TRUE(r);
    check(*r, codec::PacketType::Pubcomp);
    c->send(ack_packet<codec::Pubrec>(4));  // PUBREL 0x92
    r = c->receive();
    ASSERT_TRUE(r);
    check(*r, codec::PacketType::Pubrel);
    const std::vector<codec::Subscription> bad_filter = {{"a/#/b", sub_options(QoS::AtMostOnce)}};
    codec::Subscribe s;
    s.packet_id = 5;
    s.subscriptions = bad_filter;
    c->send(s);  // SUBACK 0x8F
    r = c->receive();
    ASSERT_TRUE(r);
    check(*r, codec::PacketType::Suback);
    const std::vector<std::string_view> no_filter = {"not/subscribed"};
    codec::Unsubscribe u;
    u.packet_id = 6;
    u.filters = no_filter;
    c->send(u);  // UNSUBACK 0x11
    r = c->receive();
    ASSERT_TRUE(r);
    check(*r, codec::PacketType::Unsuback);
    // DISCONNECT 0x94 for Topic Alias 0 (written by hand: the encoder refuses it).
    c->send_raw(raw_packet(0x30, concat(raw_string("t"), to_bytes({0x03, 0x23, 0x00, 0x00, 'x'}))));
    r = c->receive();
    ASSERT_TRUE(r);
    check(*r, codec::PacketType::Disconnect);
    EXPECT_TRUE(c->wait_closed());
}

// ---------------------------------------------------------------------------------------------------------
// 3.3 PUBLISH

// [MQTT-3.3.1-3]: the DUP flag of a PUBLISH the server sends is set by whether the server retransmits it, not
// copied from the incoming PUBLISH: a PUBLISH received with DUP 1 (QoS 1 and 2) is forwarded with DUP 0.
TEST_F(ConformanceV5Test, OutgoingDupIsNotCopiedFromIncoming) {
    start();
    auto sub = connected_client(kV5, "sub");
    sub->subscribe("dup/t", QoS::ExactlyOnce);
    auto pub = connected_client(kV5, "pub");
    auto p1 = publish_packet("dup/t", "one", QoS::AtLeastOnce, 1);
    p1.dup = true;
    pub->send(p1);
    EXPECT_EQ(pub->expect<codec::Puback>()->packet_id, 1);
    auto p2 = publish_packet("dup/t", "two", QoS::ExactlyOnce, 2);
    p2.dup = true;
    pub->send(p2);
    EXPECT_EQ(pub->expect<codec::Pubrec>()->packet_id, 2);
    pub->send(ack_packet<codec::Pubrel>(2));
    pub->expect<codec::Pubcomp>();
    for (const char* want : {"one", "two"}) {
        auto got = sub->receive_message();
        EXPECT_EQ(payload_of(*got), want);
        EXPECT_FALSE(got->dup) << got.received().describe();
    }
}

// [MQTT-3.3.1-8]: a PUBLISH with RETAIN 0 neither stores, removes nor replaces a retained message: a new
// subscriber gets the earlier retained message of one topic and nothing for a topic only published non-retained
// (a live marker published afterwards comes next).
TEST_F(ConformanceV5Test, RetainZeroLeavesRetainedMessagesAlone) {
    start();
    auto pub = connected_client(kV5, "pub");
    pub->publish("r0/a", "kept", QoS::AtLeastOnce, true);
    pub->publish("r0/a", "not retained", QoS::AtLeastOnce, false);
    pub->publish("r0/b", "not retained", QoS::AtLeastOnce, false);
    auto sub = connected_client(kV5, "sub");
    sub->subscribe("r0/#", QoS::AtLeastOnce);
    auto first = sub->receive_message();
    EXPECT_EQ(topic_of(*first), "r0/a");
    EXPECT_EQ(payload_of(*first), "kept");
    EXPECT_TRUE(first->retain);
    pub->publish("r0/marker", "marker", QoS::AtLeastOnce);
    EXPECT_EQ(payload_of(*sub->receive_message()), "marker");
}

// [MQTT-3.3.2-4]: the Payload Format Indicator (1 and 0) and [MQTT-3.3.2-20] the Content Type are forwarded
// unaltered.
TEST_F(ConformanceV5Test, PayloadFormatIndicatorAndContentTypeForwarded) {
    start();
    auto sub = connected_client(kV5, "sub");
    sub->subscribe("pf/t", QoS::AtLeastOnce);
    auto pub = connected_client(kV5, "pub");
    Message m;
    m.topic = "pf/t";
    m.payload = "text";
    m.qos = QoS::AtLeastOnce;
    m.payload_format_indicator = 1;
    m.content_type = "text/plain; charset=utf-8";
    pub->publish(m);
    m.payload = "bin";
    m.payload_format_indicator = 0;
    m.content_type = "application/octet-stream";
    pub->publish(m);
    auto a = sub->receive_message();
    EXPECT_EQ(a->properties.payload_format_indicator, std::optional<std::uint8_t>(1));
    EXPECT_EQ(a->properties.content_type, std::optional<std::string_view>("text/plain; charset=utf-8"));
    auto b = sub->receive_message();
    EXPECT_EQ(b->properties.payload_format_indicator, std::optional<std::uint8_t>(0));
    EXPECT_EQ(b->properties.content_type, std::optional<std::string_view>("application/octet-stream"));
}

// [MQTT-3.3.2-13]: a Response Topic and [MQTT-3.3.2-19] a Content Type that is not UTF-8 make the PUBLISH
// malformed: DISCONNECT 0x81, then the close.
TEST_F(ConformanceV5Test, NonUtf8ResponseTopicOrContentTypeIsMalformed) {
    start();
    for (const int id : {0x08, 0x03}) {
        SCOPED_TRACE(id);
        auto c = connected_client(kV5, "bad-" + std::to_string(id));
        c->send_raw(raw_packet(0x30, concat(raw_string("u/t"), to_bytes({0x04, id, 0x00, 0x01, 0xFF, 'x'}))));
        expect_disconnect(*c, ReasonCode::MalformedPacket);
    }
}

// [MQTT-3.3.4-7]: a client with more unacknowledged QoS 2 PUBLISH than the server's Receive Maximum (2) gets
// DISCONNECT 0x93.
TEST_F(ConformanceV5Test, ClientAboveReceiveMaximumIsDisconnected) {
    start("[limits]\nreceive_maximum = 2\n");
    auto c = tcp_client(kV5, "greedy");
    EXPECT_EQ(c->connect(clean_session("greedy"))->properties.receive_maximum, std::optional<std::uint16_t>(2));
    for (std::uint16_t id = 1; id <= 2; ++id) {
        c->send(publish_packet("rm/t", "x", QoS::ExactlyOnce, id));
        auto rec = c->expect<codec::Pubrec>();
        EXPECT_EQ(rec->packet_id, id);
        EXPECT_EQ(rec->reason, ReasonCode::NoMatchingSubscribers);
    }
    c->send(publish_packet("rm/t", "x", QoS::ExactlyOnce, 3));
    expect_disconnect(*c, ReasonCode::ReceiveMaximumExceeded);
}

// Flow control towards a client with Receive Maximum 2: [MQTT-4.9.0-1] the initial quota is non-zero and at most 2
// (two QoS 1 PUBLISH arrive); [MQTT-3.3.4-9], [MQTT-4.9.0-2] at quota 0 no further QoS 1 PUBLISH is sent (a QoS 0
// marker published after all of them comes next); [MQTT-4.9.0-3], [MQTT-3.3.4-10] PINGREQ, SUBSCRIBE and
// UNSUBSCRIBE are still answered at quota 0; each PUBACK lets exactly one more through. [MQTT-4.3.2-1] each new
// QoS 1 PUBLISH has a non-zero identifier not in use; [MQTT-4.3.2-3] a message stays unacknowledged (and holds its
// slot) until its PUBACK.
TEST_F(ConformanceV5Test, SendQuotaFollowsReceiveMaximum) {
    start();
    ConnectOptions o = clean_session("slow");
    o.receive_maximum = 2;
    auto slow = connected_client(kV5, o);
    slow->subscribe("fc/t", QoS::AtLeastOnce);
    auto pub = connected_client(kV5, "pub");
    for (int i = 0; i < 4; ++i) pub->publish("fc/t", "m" + std::to_string(i), QoS::AtLeastOnce);
    pub->publish("fc/t", "marker1", QoS::AtMostOnce);

    auto m0 = slow->expect<codec::Publish>();
    auto m1 = slow->expect<codec::Publish>();
    EXPECT_EQ(payload_of(*m0), "m0");
    EXPECT_EQ(payload_of(*m1), "m1");
    EXPECT_NE(m0->packet_id, 0);
    EXPECT_NE(m1->packet_id, 0);
    EXPECT_NE(m0->packet_id, m1->packet_id);
    auto marker = slow->expect<codec::Publish>();
    EXPECT_EQ(payload_of(*marker), "marker1") << "a third QoS 1 PUBLISH was sent at quota 0";
    EXPECT_EQ(marker->qos, QoS::AtMostOnce);

    slow->ping();
    EXPECT_EQ(slow->subscribe("fc/other", QoS::AtLeastOnce), ReasonCode::GrantedQoS1);
    EXPECT_EQ(slow->unsubscribe("fc/other")->reason_codes.size(), 1U);

    slow->ack(*m0);
    auto m2 = slow->expect<codec::Publish>();
    EXPECT_EQ(payload_of(*m2), "m2");
    EXPECT_NE(m2->packet_id, 0);
    EXPECT_NE(m2->packet_id, m1->packet_id) << "identifier still in use";
    pub->publish("fc/t", "marker2", QoS::AtMostOnce);
    EXPECT_EQ(payload_of(*slow->expect<codec::Publish>()), "marker2") << "m3 was sent at quota 0";
    slow->ack(*m1);
    auto m3 = slow->expect<codec::Publish>();
    EXPECT_EQ(payload_of(*m3), "m3");
    EXPECT_NE(m3->packet_id, m2->packet_id);
    slow->ack(*m2);
    slow->ack(*m3);
    slow->ping();
}

// ---------------------------------------------------------------------------------------------------------
// 4.3-4.4 QoS flows

// [MQTT-4.3.2-3], [MQTT-4.3.3-3]: QoS 1 and QoS 2 PUBLISH stay unacknowledged until PUBACK / PUBREC: after a
// reconnect both are sent again (DUP 1, same identifiers); once acknowledged, a further reconnect sends only the
// PUBREL of the QoS 2 message until PUBCOMP, and then nothing (a marker comes first).
TEST_F(ConformanceV5Test, PublishUnacknowledgedUntilPubackOrPubrec) {
    start();
    {
        auto s = connected_client(kV5, persistent_session("unacked", kV5));
        s->subscribe("ua/t", QoS::ExactlyOnce);
        auto pub = connected_client(kV5, "pub");
        pub->publish("ua/t", "q1", QoS::AtLeastOnce);
        pub->publish("ua/t", "q2", QoS::ExactlyOnce);
        EXPECT_EQ(payload_of(*s->expect<codec::Publish>()), "q1");
        EXPECT_EQ(payload_of(*s->expect<codec::Publish>()), "q2");
        s->close_abruptly();
    }
    std::uint16_t id1 = 0;
    std::uint16_t id2 = 0;
    {
        auto s = tcp_client(kV5, "unacked");
        ASSERT_TRUE(s->connect(persistent_session("unacked", kV5))->session_present);
        auto a = s->expect<codec::Publish>();
        auto b = s->expect<codec::Publish>();
        EXPECT_EQ(payload_of(*a), "q1");
        EXPECT_EQ(payload_of(*b), "q2");
        EXPECT_TRUE(a->dup);
        EXPECT_TRUE(b->dup);
        id1 = a->packet_id;
        id2 = b->packet_id;
        // [MQTT-4.3.2-1], [MQTT-4.3.3-1]: non-zero identifiers, not shared by the two messages in flight.
        EXPECT_NE(id1, 0);
        EXPECT_NE(id2, 0);
        EXPECT_NE(id1, id2);
        s->ack(*a);
        s->ack(*b);  // PUBREC
        EXPECT_EQ(s->expect<codec::Pubrel>()->packet_id, id2);
        s->close_abruptly();
    }
    {
        auto s = tcp_client(kV5, "unacked");
        ASSERT_TRUE(s->connect(persistent_session("unacked", kV5))->session_present);
        auto rel = s->expect<codec::Pubrel>();
        EXPECT_EQ(rel->packet_id, id2) << "the QoS 2 message past PUBREC: only its PUBREL is resent";
        s->send(ack_packet<codec::Pubcomp>(id2));
        auto pub = connected_client(kV5, "pub2");
        pub->publish("ua/t", "marker", QoS::AtLeastOnce);
        auto m = s->receive_message();
        EXPECT_EQ(payload_of(*m), "marker") << "an acknowledged message was sent again";
        EXPECT_FALSE(m->dup);
        s->disconnect();
    }
}

// [MQTT-4.4.0-2]: a PUBACK or PUBREC with a Reason Code >= 0x80 acknowledges the message: no PUBREL follows the
// error PUBREC, and neither message is sent again after a reconnect (a marker comes first).
TEST_F(ConformanceV5Test, ErrorAcknowledgementEndsTheFlow) {
    start();
    auto pub = connected_client(kV5, "pub");
    {
        auto s = connected_client(kV5, persistent_session("refuser", kV5));
        s->subscribe("ea/t", QoS::ExactlyOnce);
        pub->publish("ea/t", "q1", QoS::AtLeastOnce);
        pub->publish("ea/t", "q2", QoS::ExactlyOnce);
        auto a = s->expect<codec::Publish>();
        auto b = s->expect<codec::Publish>();
        s->send(ack_packet<codec::Puback>(a->packet_id, ReasonCode::UnspecifiedError));
        s->send(ack_packet<codec::Pubrec>(b->packet_id, ReasonCode::UnspecifiedError));
        pub->publish("ea/t", "marker1", QoS::AtMostOnce);
        auto next = s->expect<codec::Publish>();
        EXPECT_EQ(payload_of(*next), "marker1") << "something other than the marker came after the error PUBREC";
        s->close_abruptly();
    }
    auto s = tcp_client(kV5, "refuser");
    ASSERT_TRUE(s->connect(persistent_session("refuser", kV5))->session_present);
    pub->publish("ea/t", "marker2", QoS::AtLeastOnce);
    EXPECT_EQ(payload_of(*s->receive_message()), "marker2") << "a message acknowledged with an error was resent";
    s->disconnect();
}

// Receiver side: [MQTT-4.3.2-5] after PUBACK the same identifier starts a new QoS 1 message; [MQTT-4.3.3-12] after
// PUBCOMP the same identifier starts a new QoS 2 message; [MQTT-4.3.3-9] after a PUBREC >= 0x80 too. Each of the
// repeated-identifier messages is delivered.
TEST_F(ConformanceV5Test, PacketIdentifiersReusableAfterTheFlowEnds) {
    start();
    auto sub = connected_client(kV5, "sub");
    sub->subscribe("reuse/t", QoS::ExactlyOnce);
    auto c = connected_client(kV5, "pub");
    for (const char* payload : {"q1-a", "q1-b"}) {
        c->send(publish_packet("reuse/t", payload, QoS::AtLeastOnce, 7));
        EXPECT_EQ(c->expect<codec::Puback>()->reason, ReasonCode::Success);
    }
    for (const char* payload : {"q2-a", "q2-b"}) {
        c->send(publish_packet("reuse/t", payload, QoS::ExactlyOnce, 9));
        EXPECT_EQ(c->expect<codec::Pubrec>()->reason, ReasonCode::Success);
        c->send(ack_packet<codec::Pubrel>(9));
        EXPECT_EQ(c->expect<codec::Pubcomp>()->reason, ReasonCode::Success);
    }
    c->send(publish_packet("$SYS/t", "refused", QoS::ExactlyOnce, 11));
    EXPECT_EQ(c->expect<codec::Pubrec>()->reason, ReasonCode::NotAuthorized);
    c->send(publish_packet("reuse/t", "q2-c", QoS::ExactlyOnce, 11));
    EXPECT_EQ(c->expect<codec::Pubrec>()->reason, ReasonCode::Success) << "identifier 11 treated as a duplicate";
    c->send(ack_packet<codec::Pubrel>(11));
    EXPECT_EQ(c->expect<codec::Pubcomp>()->reason, ReasonCode::Success);
    for (const char* want : {"q1-a", "q1-b", "q2-a", "q2-b", "q2-c"}) {
        EXPECT_EQ(payload_of(*sub->receive_message()), want);
    }
}

// [MQTT-4.3.3-13]: the QoS 2 receiver completes the flow even when the message expired meanwhile: a PUBREL sent
// after the 1 s Message Expiry Interval passed gets PUBCOMP Success, not 0x92.
TEST_F(ConformanceV5Test, Qos2FlowCompletesAfterExpiry) {
    start();
    auto c = connected_client(kV5, "pub");
    Message m;
    m.topic = "exp/t";
    m.payload = "x";
    m.qos = QoS::ExactlyOnce;
    m.message_expiry_interval = 1;
    const auto p = c->make_publish(m);
    c->send(p);
    c->expect<codec::Pubrec>();
    c->expect_silence(1500ms);  // let the interval pass
    c->send(ack_packet<codec::Pubrel>(p.packet_id));
    auto comp = c->expect<codec::Pubcomp>();
    EXPECT_EQ(comp->packet_id, p.packet_id);
    EXPECT_EQ(comp->reason, ReasonCode::Success);
}

// ---------------------------------------------------------------------------------------------------------
// 3.8-3.11 SUBSCRIBE, UNSUBSCRIBE

// [MQTT-3.8.4-4]: subscribing again to the same filter with Retain Handling 0 sends the retained message again,
// and no publication is lost around the replacement.
TEST_F(ConformanceV5Test, ResubscribeWithRetainHandling0ResendsRetained) {
    start();
    auto pub = connected_client(kV5, "pub");
    pub->publish("rh/t", "retained", QoS::AtLeastOnce, true);
    auto sub = connected_client(kV5, "sub");
    sub->subscribe("rh/t", sub_options(QoS::AtLeastOnce));
    EXPECT_EQ(payload_of(*sub->receive_message()), "retained");
    pub->publish("rh/t", "before", QoS::AtLeastOnce);
    sub->subscribe("rh/t", sub_options(QoS::AtLeastOnce));
    pub->publish("rh/t", "after", QoS::AtLeastOnce);
    std::vector<std::string> got;
    for (int i = 0; i < 3; ++i) {
        auto m = sub->receive_message();
        got.push_back(payload_of(*m) + (m->retain ? "(r)" : ""));
    }
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, (std::vector<std::string>{"after", "before", "retained(r)"}));
}

// [MQTT-3.10.4-6]: an UNSUBSCRIBE with several filters is handled as a sequence and answered with one UNSUBACK;
// [MQTT-3.11.3-1]: its Reason Codes follow the order of the filters. The removed subscriptions deliver nothing
// more (a marker on the kept one arrives first).
TEST_F(ConformanceV5Test, UnsubscribeSeveralFiltersOneUnsuback) {
    start();
    auto c = connected_client(kV5, "sub");
    c->subscribe_many({{"us/a", sub_options(QoS::AtLeastOnce)},
                       {"us/c", sub_options(QoS::AtLeastOnce)},
                       {"us/keep", sub_options(QoS::AtLeastOnce)}});
    const std::vector<std::string_view> filters = {"us/a", "us/b", "us/c"};
    codec::Unsubscribe u;
    u.packet_id = 77;
    u.filters = filters;
    c->send(u);
    auto ack = c->expect<codec::Unsuback>();
    EXPECT_EQ(ack->packet_id, 77);
    EXPECT_EQ(std::vector<ReasonCode>(ack->reason_codes.begin(), ack->reason_codes.end()),
              (std::vector<ReasonCode>{ReasonCode::Success, ReasonCode::NoSubscriptionExisted, ReasonCode::Success}));
    c->ping();  // one UNSUBACK only: the PINGRESP is next
    auto pub = connected_client(kV5, "pub");
    pub->publish("us/a", "a", QoS::AtLeastOnce);
    pub->publish("us/c", "c", QoS::AtLeastOnce);
    pub->publish("us/keep", "marker", QoS::AtLeastOnce);
    EXPECT_EQ(payload_of(*c->receive_message()), "marker");
}

// [MQTT-3.10.4-3]: deliveries already started complete after UNSUBSCRIBE: the QoS 2 flow goes on (PUBREC gets
// PUBREL), and an unacknowledged QoS 1 message is still sent again after a reconnect.
TEST_F(ConformanceV5Test, UnsubscribeCompletesStartedDeliveries) {
    start();
    auto pub = connected_client(kV5, "pub");
    std::uint16_t q1_id = 0;
    {
        auto s = connected_client(kV5, persistent_session("leaver", kV5));
        s->subscribe("ul/t", QoS::ExactlyOnce);
        pub->publish("ul/t", "q1", QoS::AtLeastOnce);
        pub->publish("ul/t", "q2", QoS::ExactlyOnce);
        auto a = s->expect<codec::Publish>();
        auto b = s->expect<codec::Publish>();
        q1_id = a->packet_id;
        EXPECT_EQ(s->unsubscribe("ul/t")->reason_codes[0], ReasonCode::Success);
        s->ack(*b);
        EXPECT_EQ(s->expect<codec::Pubrel>()->packet_id, b->packet_id);
        s->send(ack_packet<codec::Pubcomp>(b->packet_id));
        s->close_abruptly();
    }
    auto s = tcp_client(kV5, "leaver");
    ASSERT_TRUE(s->connect(persistent_session("leaver", kV5))->session_present);
    auto again = s->expect<codec::Publish>();
    EXPECT_EQ(payload_of(*again), "q1");
    EXPECT_EQ(again->packet_id, q1_id);
    EXPECT_TRUE(again->dup);
    s->ack(*again);
    s->disconnect();
}

// ---------------------------------------------------------------------------------------------------------
// 4.1-4.2 Session, transport

// [MQTT-4.1.0-1]: the Session State is kept while the connection is open, even past the Session Expiry Interval
// (1 s): after 2 s connected the subscription still delivers.
TEST_F(ConformanceV5Test, SessionKeptWhileConnected) {
    start();
    ConnectOptions o = clean_session("short");
    o.session_expiry_interval = 1;
    auto c = connected_client(kV5, o);
    c->subscribe("sk/t", QoS::AtLeastOnce);
    c->expect_silence(2000ms);
    auto pub = connected_client(kV5, "pub");
    EXPECT_EQ(pub->publish("sk/t", "still here", QoS::AtLeastOnce), ReasonCode::Success);
    EXPECT_EQ(payload_of(*c->receive_message()), "still here");
}

// [MQTT-4.2.0-1]: the byte stream is read in order and without loss however it is split: three PUBLISH in one
// write, then one written a byte at a time, arrive complete and in order.
TEST_F(ConformanceV5Test, PacketsReadInOrderHoweverSplit) {
    start();
    auto sub = connected_client(kV5, "sub");
    sub->subscribe("tr/t", QoS::AtLeastOnce);
    auto pub = connected_client(kV5, "pub");
    auto pk = [](std::string_view payload) {
        const auto b = as_bytes(payload);
        return raw_packet(0x30, concat(raw_string("tr/t"), to_bytes({0x00}), Bytes(b.begin(), b.end())));
    };
    pub->send_raw(concat(pk("one"), pk("two"), pk("three")));
    pub->send_bytewise(pk("four"));
    for (const char* want : {"one", "two", "three", "four"}) EXPECT_EQ(payload_of(*sub->receive_message()), want);
}

// ---------------------------------------------------------------------------------------------------------
// 4.8 Shared Subscriptions

// [MQTT-4.8.2-3]: a shared subscription's member gets the message at most at the QoS it was granted: QoS 2
// publications reach a QoS 0 member as QoS 0 and a QoS 1 member as QoS 1.
TEST_F(ConformanceV5Test, SharedSubscriptionRespectsGrantedQos) {
    start();
    auto m0 = connected_client(kV5, "m0");
    m0->subscribe("$share/g0/sh/t", QoS::AtMostOnce);
    auto m1 = connected_client(kV5, "m1");
    m1->subscribe("$share/g1/sh/t", QoS::AtLeastOnce);
    auto pub = connected_client(kV5, "pub");
    pub->publish("sh/t", "x", QoS::ExactlyOnce);
    EXPECT_EQ(m0->receive_message()->qos, QoS::AtMostOnce);
    EXPECT_EQ(m1->receive_message()->qos, QoS::AtLeastOnce);
}

// [MQTT-4.8.2-4]: a QoS 2 message sent to a member whose connection broke is completed with that member when it
// reconnects: the PUBLISH is sent again (DUP 1, same identifier) and the flow finishes.
TEST_F(ConformanceV5Test, SharedQos2CompletedOnReconnect) {
    start();
    auto pub = connected_client(kV5, "pub");
    std::uint16_t id = 0;
    {
        auto m = connected_client(kV5, persistent_session("member", kV5));
        m->subscribe("$share/g/s2/t", QoS::ExactlyOnce);
        pub->publish("s2/t", "once", QoS::ExactlyOnce);
        auto p = m->expect<codec::Publish>();
        EXPECT_EQ(p->qos, QoS::ExactlyOnce);
        id = p->packet_id;
        m->close_abruptly();
    }
    auto m = tcp_client(kV5, "member");
    ASSERT_TRUE(m->connect(persistent_session("member", kV5))->session_present);
    auto again = m->expect<codec::Publish>();
    EXPECT_EQ(payload_of(*again), "once");
    EXPECT_EQ(again->packet_id, id);
    EXPECT_TRUE(again->dup);
    m->ack(*again);
    EXPECT_EQ(m->expect<codec::Pubrel>()->packet_id, id);
    m->send(ack_packet<codec::Pubcomp>(id));
    m->ping();
}

// [MQTT-4.8.2-6]: a message a member answered with PUBACK >= 0x80 is discarded, not sent to another member: when
// that member's session then ends, the other member's first message is the next publication.
TEST_F(ConformanceV5Test, SharedMessageRefusedByMemberNotRedistributed) {
    start();
    auto x = connected_client(kV5, "x");
    x->subscribe("$share/g/sr/t", QoS::AtLeastOnce);
    auto pub = connected_client(kV5, "pub");
    pub->publish("sr/t", "refused", QoS::AtLeastOnce);
    auto p = x->expect<codec::Publish>();
    EXPECT_EQ(payload_of(*p), "refused");
    auto y = connected_client(kV5, "y");
    y->subscribe("$share/g/sr/t", QoS::AtLeastOnce);
    x->send(ack_packet<codec::Puback>(p->packet_id, ReasonCode::UnspecifiedError));
    x->disconnect();  // Session Expiry 0: the session ends
    // Until every worker has dropped x from the group a publication may still be routed to it (and lost there);
    // publish until y gets one. Its first message must be one of these, not the refused one.
    std::unique_ptr<Received> first;
    const auto deadline = TestClock::now() + kReceiveTimeout;
    for (int i = 0; !first && TestClock::now() < deadline; ++i) {
        pub->publish("sr/t", "next" + std::to_string(i), QoS::AtLeastOnce);
        first = y->receive(200ms);
    }
    ASSERT_TRUE(first && first->is<codec::Publish>()) << "y got nothing";
    EXPECT_TRUE(payload_of(first->as<codec::Publish>()).starts_with("next"))
        << "the refused message went to another member: " << first->describe();
}

}  // namespace
}  // namespace moth::test
