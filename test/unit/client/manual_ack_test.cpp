// AsyncClient's manual acknowledgement (ConnectOptions::manual_ack) and the bridge bit (ConnectOptions::bridge)
// against an in-memory stream: the test plays the broker packet by packet.
#include "client/convert.hpp"
#include "unit/client/fake_stream.hpp"

namespace moth::test {
namespace {

using codec::ReasonCode;

ConnectOptions manual_options() {
    ConnectOptions o;
    o.client_id = "bridge";
    o.keep_alive_s = 0;
    o.connect_timeout = 2000ms;
    o.manual_ack = true;
    return o;
}

// Persistent session and automatic reconnect, so that the broker resends what we did not acknowledge.
ConnectOptions reconnecting_options() {
    auto o = manual_options();
    o.clean_start = false;
    o.session_expiry_interval = 600;
    o.auto_reconnect = true;
    o.reconnect_min = 10ms;
    o.reconnect_max = 40ms;
    return o;
}

codec::Publish publish_packet(std::string_view topic, std::string_view payload, codec::QoS qos, std::uint16_t id,
                              bool dup = false) {
    codec::Publish p;
    p.topic = topic;
    p.payload = client::as_bytes(payload);
    p.qos = qos;
    p.packet_id = id;
    p.dup = dup;
    return p;
}

template <class Ack>
Ack ack(std::uint16_t id) {
    Ack a;
    a.packet_id = id;
    return a;
}

class ManualAckTest : public ClientHarness {
protected:
    // Receives the next message, failing the test when none comes.
    Message take(AsyncClient& c) {
        auto m = wait(start(c.receive()));
        EXPECT_TRUE(m) << m.error().message;
        if (!m) throw std::runtime_error("no message");
        return std::move(*m);
    }
    // Nothing more was written on `pipe` (the client handles a packet within one run of the io_context).
    void expect_silence(Pipe& pipe) { EXPECT_EQ(next(pipe, 100ms), nullptr) << "the client wrote a packet"; }
    void expect_no_message(AsyncClient& c) {
        auto none = wait(start(c.receive(50ms)));
        EXPECT_FALSE(none) << "a message was delivered: " << (none ? none->payload_text() : "");
    }
    // The client reconnects on a new pipe; the broker answers with `session_present`.
    Pipe& reconnected(bool session_present) {
        const auto n = pipes.size();
        EXPECT_TRUE(run_until([&] { return pipes.size() == n + 1 && !pipes.back()->from_client.empty(); }));
        auto& pipe = *pipes.back();
        expect<codec::Connect>(pipe);
        codec::Connack ca;
        ca.session_present = session_present;
        send(pipe, ca);
        return pipe;
    }
};

TEST_F(ManualAckTest, PubackWaitsForAck) {  // [MQTT-4.3.2-4]: PUBACK once we accept ownership
    auto c = make_client(manual_options());
    ASSERT_TRUE(handshake(*c));
    auto& pipe = *pipes[0];
    send(pipe, publish_packet("in/1", "one", codec::QoS::AtLeastOnce, 5));
    const Message m = take(*c);
    EXPECT_EQ(m.packet_id, 5);
    EXPECT_EQ(m.qos, QoS::AtLeastOnce);
    expect_silence(pipe);
    c->ack(m);
    EXPECT_EQ(expect<codec::Puback>(pipe)->as<codec::Puback>().packet_id, 5);
    c->ack(m);  // acked already: nothing
    expect_silence(pipe);
}

TEST_F(ManualAckTest, AcksInAnyOrderAndQoS0IsIgnored) {
    auto c = make_client(manual_options());
    ASSERT_TRUE(handshake(*c));
    auto& pipe = *pipes[0];
    send(pipe, publish_packet("in/0", "zero", codec::QoS::AtMostOnce, 0));
    send(pipe, publish_packet("in/1", "a", codec::QoS::AtLeastOnce, 1));
    send(pipe, publish_packet("in/1", "b", codec::QoS::AtLeastOnce, 2));
    send(pipe, publish_packet("in/2", "c", codec::QoS::ExactlyOnce, 3));
    const Message zero = take(*c);
    EXPECT_EQ(zero.packet_id, 0);
    const Message a = take(*c);
    const Message b = take(*c);
    const Message q2 = take(*c);
    EXPECT_EQ(q2.packet_id, 3);
    c->ack(zero);
    Message unknown = a;
    unknown.packet_id = 99;
    c->ack(unknown);
    expect_silence(pipe);
    c->ack(q2);
    EXPECT_EQ(expect<codec::Pubrec>(pipe)->as<codec::Pubrec>().packet_id, 3);
    c->ack(b);
    EXPECT_EQ(expect<codec::Puback>(pipe)->as<codec::Puback>().packet_id, 2);
    c->ack(a);
    EXPECT_EQ(expect<codec::Puback>(pipe)->as<codec::Puback>().packet_id, 1);
    send(pipe, ack<codec::Pubrel>(3));
    auto comp = expect<codec::Pubcomp>(pipe);
    EXPECT_EQ(comp->as<codec::Pubcomp>().packet_id, 3);
    EXPECT_EQ(comp->as<codec::Pubcomp>().reason, ReasonCode::Success);
}

TEST_F(ManualAckTest, AckFromTheMessageCallback) {
    auto c = make_client(manual_options());
    ASSERT_TRUE(handshake(*c));
    auto& pipe = *pipes[0];
    int seen = 0;
    c->on_message([&](const Message& m) {
        ++seen;
        c->ack(m);
    });
    send(pipe, publish_packet("in/2", "x", codec::QoS::ExactlyOnce, 8));
    EXPECT_EQ(expect<codec::Pubrec>(pipe)->as<codec::Pubrec>().packet_id, 8);
    expect_silence(pipe);  // one PUBREC, not a second one after the callback
    EXPECT_EQ(seen, 1);
}

// A QoS 2 resend before the application's ack: neither delivered again nor acknowledged yet; after it: PUBREC
// at once and still not delivered again ([MQTT-4.3.3-10]).
TEST_F(ManualAckTest, QoS2DuplicateBeforeAndAfterAck) {
    auto c = make_client(manual_options());
    ASSERT_TRUE(handshake(*c));
    auto& pipe = *pipes[0];
    send(pipe, publish_packet("in/2", "once", codec::QoS::ExactlyOnce, 7));
    const Message m = take(*c);
    send(pipe, publish_packet("in/2", "once", codec::QoS::ExactlyOnce, 7, true));
    expect_silence(pipe);
    expect_no_message(*c);
    c->ack(m);
    EXPECT_EQ(expect<codec::Pubrec>(pipe)->as<codec::Pubrec>().packet_id, 7);
    send(pipe, publish_packet("in/2", "once", codec::QoS::ExactlyOnce, 7, true));
    EXPECT_EQ(expect<codec::Pubrec>(pipe)->as<codec::Pubrec>().packet_id, 7);
    expect_no_message(*c);
    send(pipe, ack<codec::Pubrel>(7));
    EXPECT_EQ(expect<codec::Pubcomp>(pipe)->as<codec::Pubcomp>().reason, ReasonCode::Success);
    // After PUBREL the id names a new message.
    send(pipe, publish_packet("in/2", "next", codec::QoS::ExactlyOnce, 7));
    EXPECT_EQ(take(*c).payload_text(), "next");
}

// The broker kept the session and resent both messages under their ids [MQTT-4.4.0-1]: not delivered again, and
// the late acks go on the new connection, acknowledging the resent copies.
TEST_F(ManualAckTest, AckAfterReconnectGoesOnTheNewConnection) {
    auto c = make_client(reconnecting_options());
    ASSERT_TRUE(handshake(*c));
    auto& first = *pipes[0];
    send(first, publish_packet("in/1", "one", codec::QoS::AtLeastOnce, 3));
    send(first, publish_packet("in/2", "two", codec::QoS::ExactlyOnce, 4));
    const Message one = take(*c);
    const Message two = take(*c);
    drop(first);
    auto& second = reconnected(true);
    send(second, publish_packet("in/1", "one", codec::QoS::AtLeastOnce, 3, true));
    send(second, publish_packet("in/2", "two", codec::QoS::ExactlyOnce, 4, true));
    expect_silence(second);
    expect_no_message(*c);
    c->ack(two);
    EXPECT_EQ(expect<codec::Pubrec>(second)->as<codec::Pubrec>().packet_id, 4);
    c->ack(one);
    EXPECT_EQ(expect<codec::Puback>(second)->as<codec::Puback>().packet_id, 3);
    EXPECT_TRUE(first.from_client.empty()) << "nothing went on the old connection";
}

// Acked while disconnected: nothing is sent then; the broker's resend is acknowledged at once, not delivered.
TEST_F(ManualAckTest, AckWhileOfflineAnswersTheResend) {
    auto c = make_client(reconnecting_options());
    ASSERT_TRUE(handshake(*c));
    auto& first = *pipes[0];
    send(first, publish_packet("in/1", "one", codec::QoS::AtLeastOnce, 3));
    send(first, publish_packet("in/2", "two", codec::QoS::ExactlyOnce, 4));
    const Message one = take(*c);
    const Message two = take(*c);
    refuse = true;
    drop(first);
    ASSERT_TRUE(run_until([&] { return !c->connected(); }));
    c->ack(one);
    c->ack(two);
    refuse = false;
    auto& second = reconnected(true);
    expect_silence(second);
    send(second, publish_packet("in/1", "one", codec::QoS::AtLeastOnce, 3, true));
    EXPECT_EQ(expect<codec::Puback>(second)->as<codec::Puback>().packet_id, 3);
    send(second, publish_packet("in/2", "two", codec::QoS::ExactlyOnce, 4, true));
    EXPECT_EQ(expect<codec::Pubrec>(second)->as<codec::Pubrec>().packet_id, 4);
    expect_no_message(*c);
    // The QoS 1 resend was the one answered: the next message with that id is new [MQTT-4.3.2-5].
    send(second, publish_packet("in/1", "later", codec::QoS::AtLeastOnce, 3));
    EXPECT_EQ(take(*c).payload_text(), "later");
}

// Without the session the broker will not resend, and the ids may name new messages: an ack of an old message,
// held or acked while offline, must not acknowledge a new one.
TEST_F(ManualAckTest, SessionLostForgetsHeldMessages) {
    auto c = make_client(reconnecting_options());
    ASSERT_TRUE(handshake(*c));
    auto& first = *pipes[0];
    send(first, publish_packet("t", "old", codec::QoS::AtLeastOnce, 3));
    send(first, publish_packet("t", "acked offline", codec::QoS::AtLeastOnce, 4));
    const Message old = take(*c);
    const Message acked_offline = take(*c);
    refuse = true;
    drop(first);
    ASSERT_TRUE(run_until([&] { return !c->connected(); }));
    c->ack(acked_offline);
    refuse = false;
    auto& second = reconnected(false);
    c->ack(old);  // before the broker reuses id 3
    expect_silence(second);
    send(second, publish_packet("t", "new", codec::QoS::AtLeastOnce, 3));
    send(second, publish_packet("t", "four", codec::QoS::AtLeastOnce, 4));
    const Message fresh = take(*c);
    EXPECT_EQ(fresh.payload_text(), "new");
    const Message four = take(*c);  // a new message, not the old one's resend: delivered, not acked at once
    EXPECT_EQ(four.payload_text(), "four");
    c->ack(old);  // after the broker reused id 3 on the same topic
    expect_silence(second);
    c->ack(fresh);
    EXPECT_EQ(expect<codec::Puback>(second)->as<codec::Puback>().packet_id, 3);
    c->ack(four);
    EXPECT_EQ(expect<codec::Puback>(second)->as<codec::Puback>().packet_id, 4);
}

TEST_F(ManualAckTest, WithoutManualAckNothingChanges) {
    auto o = manual_options();
    o.manual_ack = false;
    auto c = make_client(o);
    ASSERT_TRUE(handshake(*c));
    auto& pipe = *pipes[0];
    send(pipe, publish_packet("in/1", "one", codec::QoS::AtLeastOnce, 5));
    EXPECT_EQ(expect<codec::Puback>(pipe)->as<codec::Puback>().packet_id, 5);
    const Message m = take(*c);
    EXPECT_EQ(m.packet_id, 5);
    c->ack(m);  // acked on receipt already: nothing
    expect_silence(pipe);
}

// The bridge bit: protocol level 0x84 on the wire for 3.1.1 (Mosquitto's try_private), none for 5.0.
TEST_F(ManualAckTest, BridgeBitInTheConnectBytes) {
    constexpr std::size_t kLevel = 8;  // CONNECT type, Remaining Length, 00 04 "MQTT", then the level byte
    for (const auto version : {ProtocolVersion::V3_1_1, ProtocolVersion::V5}) {
        SCOPED_TRACE(static_cast<int>(version));
        auto o = manual_options();
        o.version = version;
        o.bridge = true;
        auto c = make_client(o);
        auto r = start(c->connect());
        ASSERT_TRUE(run_until([&] { return !pipes.empty() && !pipes.back()->from_client.empty(); }));
        auto& pipe = *pipes.back();
        auto connect = expect<codec::Connect>(pipe);
        ASSERT_GT(connect->bytes.size(), kLevel);
        const bool v5 = version == ProtocolVersion::V5;
        EXPECT_EQ(connect->bytes[kLevel], std::byte{static_cast<unsigned char>(v5 ? 0x05 : 0x84)});
        EXPECT_EQ(connect->as<codec::Connect>().bridge, !v5);
        send(pipe, codec::Connack{});
        ASSERT_TRUE(wait(r));
        pipes.clear();
    }
}

}  // namespace
}  // namespace moth::test
