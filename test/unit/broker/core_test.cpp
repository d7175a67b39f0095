// The broker core driven without sockets or threads: a fake Host records what the core sends and closes, and
// time is whatever the test passes in, so keepalive, will delay and expiry are checked exactly and instantly.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "broker/core.hpp"
#include "codec/decoder.hpp"
#include "codec/encoder.hpp"
#include "core_test_support.hpp"

namespace moth::broker {
namespace {

using namespace std::chrono_literals;
using codec::ProtocolVersion;
using codec::QoS;
using codec::ReasonCode;

using test::FakeHost;
using test::Peer;

class CoreTest : public ::testing::Test {
protected:
    CoreTest() : shared_(config::default_config(), 1, TimePoint{}), core_(0, shared_, host_) {
        shared_.authenticator = &allow_;
    }

    Peer open(ProtocolVersion v) {
        const ConnectionId id = next_id_++;
        core_.on_open(id, "test", now_);
        return {id, v};
    }

    void send(const Peer& p, const codec::Packet& packet) {
        std::vector<std::byte> bytes;
        ASSERT_TRUE(codec::encode_append(packet, p.version, bytes));
        ASSERT_EQ(core_.on_data(p.id, bytes, now_), bytes.size());
        core_.flush();
    }

    // Every packet the core has sent to `p` since the last call; the bytes are kept for the test's lifetime.
    std::vector<codec::Packet> received(const Peer& p) { return reader_.decode(host_.take(p.id), p.version); }

    Peer connect(ProtocolVersion v, std::string client_id, bool clean, std::uint16_t keep_alive,
                 std::uint32_t session_expiry = 0, std::optional<codec::Will> will = std::nullopt) {
        Peer p = open(v);
        ids_.push_back(std::move(client_id));
        codec::Connect c;
        c.version = v;
        c.client_id = ids_.back();
        c.clean_start = clean;
        c.keep_alive_s = keep_alive;
        if (v == ProtocolVersion::V5 && session_expiry != 0) c.properties.session_expiry_interval = session_expiry;
        c.will = will;
        send(p, c);
        auto got = received(p);
        EXPECT_EQ(got.size(), 1U);
        if (!got.empty()) {
            EXPECT_EQ(std::get<codec::Connack>(got[0]).reason, ReasonCode::Success);
        }
        return p;
    }

    bool session_present(ProtocolVersion v, const std::string& client_id, std::uint32_t expiry) {
        Peer p = open(v);
        ids_.push_back(client_id);
        codec::Connect c;
        c.version = v;
        c.client_id = ids_.back();
        c.clean_start = false;
        c.properties.session_expiry_interval = expiry;
        send(p, c);
        auto got = received(p);
        return !got.empty() && std::get<codec::Connack>(got[0]).session_present;
    }

    void subscribe(const Peer& p, std::string_view filter, QoS qos) {
        static std::vector<codec::Subscription> subs;
        subs = {{filter, {qos}}};
        codec::Subscribe s;
        s.packet_id = 1;
        s.subscriptions = subs;
        send(p, s);
        auto got = received(p);
        ASSERT_EQ(got.size(), 1U);
        ASSERT_TRUE(std::holds_alternative<codec::Suback>(got[0]));
    }

    void tick(std::chrono::milliseconds advance) {
        now_ += advance;
        core_.on_tick(now_);
        core_.flush();
    }

    FakeHost host_;
    AllowAll allow_;
    Shared shared_;
    Core core_;
    TimePoint now_{};
    ConnectionId next_id_ = 1;
    std::deque<std::string> ids_;
    test::PacketReader reader_;
};

// [MQTT-3.1.2-24] (5.0 numbering [MQTT-3.1.2-22]): no packet for one and a half times the Keep Alive closes the
// connection; 5.0 says why with DISCONNECT 0x8D.
TEST_F(CoreTest, KeepAliveClosesAfterOneAndAHalfTimesTheInterval) {
    Peer p = connect(ProtocolVersion::V5, "ka", true, 10);
    tick(14'900ms);
    EXPECT_FALSE(host_.closed(p.id));
    tick(200ms);
    EXPECT_TRUE(host_.closed(p.id));
    auto got = received(p);
    ASSERT_EQ(got.size(), 1U);
    EXPECT_EQ(std::get<codec::Disconnect>(got[0]).reason, ReasonCode::KeepAliveTimeout);
}

// Any packet, not only PINGREQ, counts as activity for the keepalive.
TEST_F(CoreTest, KeepAliveIsResetByTraffic) {
    Peer p = connect(ProtocolVersion::V3_1_1, "ka2", true, 2);
    for (int i = 0; i < 5; ++i) {
        tick(2'000ms);
        send(p, codec::Pingreq{});
        auto got = received(p);
        ASSERT_EQ(got.size(), 1U);
        EXPECT_TRUE(std::holds_alternative<codec::Pingresp>(got[0]));  // [MQTT-3.12.4-1]
    }
    EXPECT_FALSE(host_.closed(p.id));
    tick(3'100ms);
    EXPECT_TRUE(host_.closed(p.id));
}

// 5.0 section 3.1.3.2.2: the Will Delay Interval postpones the will after a lost connection.
TEST_F(CoreTest, WillIsPublishedAfterItsDelay) {
    Peer watcher = connect(ProtocolVersion::V5, "watcher", true, 0);
    subscribe(watcher, "wills/#", QoS::AtLeastOnce);
    codec::Will w;
    w.topic = "wills/a";
    w.qos = QoS::AtLeastOnce;
    w.properties.will_delay_interval = 5;
    Peer p = connect(ProtocolVersion::V5, "dies", true, 0, 100, w);
    core_.on_closed(p.id, now_);
    core_.flush();
    tick(4'000ms);
    EXPECT_TRUE(received(watcher).empty());
    tick(1'250ms);
    auto got = received(watcher);
    ASSERT_EQ(got.size(), 1U);
    EXPECT_EQ(std::get<codec::Publish>(got[0]).topic, "wills/a");
}

// 5.0 section 3.1.3.2.2: reconnecting within the Will Delay Interval cancels the will.
TEST_F(CoreTest, ReconnectWithinTheWillDelayCancelsTheWill) {
    Peer watcher = connect(ProtocolVersion::V5, "watcher", true, 0);
    subscribe(watcher, "wills/#", QoS::AtLeastOnce);
    codec::Will w;
    w.topic = "wills/b";
    w.properties.will_delay_interval = 5;
    Peer p = connect(ProtocolVersion::V5, "flaky", true, 0, 100, w);
    core_.on_closed(p.id, now_);
    tick(2'000ms);
    EXPECT_TRUE(session_present(ProtocolVersion::V5, "flaky", 100));
    tick(10'000ms);
    EXPECT_TRUE(received(watcher).empty());
}

// [MQTT-3.1.3-9]: the will is published when the session ends, if that is before the delay.
TEST_F(CoreTest, WillIsPublishedWhenTheSessionEndsFirst) {
    Peer watcher = connect(ProtocolVersion::V5, "watcher", true, 0);
    subscribe(watcher, "wills/#", QoS::AtMostOnce);
    codec::Will w;
    w.topic = "wills/c";
    w.properties.will_delay_interval = 60;
    Peer p = connect(ProtocolVersion::V5, "short", true, 0, 2, w);
    core_.on_closed(p.id, now_);
    tick(1'000ms);
    EXPECT_TRUE(received(watcher).empty());
    tick(1'250ms);
    EXPECT_EQ(received(watcher).size(), 1U);
}

// 5.0 section 3.1.2.11.2: the session is kept for the Session Expiry Interval after the connection closes.
TEST_F(CoreTest, SessionExpiresAfterItsInterval) {
    Peer p = connect(ProtocolVersion::V5, "expiring", true, 0, 3);
    send(p, codec::Disconnect{});
    tick(2'000ms);
    EXPECT_TRUE(session_present(ProtocolVersion::V5, "expiring", 3));
    // That reconnect started a new 3 s interval when it disconnected again.
    Peer again = connect(ProtocolVersion::V5, "expiring", false, 0, 3);
    send(again, codec::Disconnect{});
    tick(3'250ms);
    EXPECT_FALSE(session_present(ProtocolVersion::V5, "expiring", 3));
}

// [MQTT-3.3.2-5]: a queued message whose expiry passed is not delivered; [MQTT-3.3.2-6] the interval sent
// with one still alive is what is left of it.
TEST_F(CoreTest, QueuedMessagesExpire) {
    Peer sub = connect(ProtocolVersion::V5, "offline", true, 0, 100);
    subscribe(sub, "x/#", QoS::AtLeastOnce);
    send(sub, codec::Disconnect{});
    Peer pub = connect(ProtocolVersion::V5, "pub", true, 0);
    const std::string payload = "p";
    for (std::uint32_t expiry : {2U, 10U}) {
        codec::Publish m;
        m.topic = "x/y";
        m.qos = QoS::AtLeastOnce;
        m.packet_id = static_cast<std::uint16_t>(expiry);
        m.payload = std::as_bytes(std::span(payload));
        m.properties.message_expiry_interval = expiry;
        send(pub, m);
    }
    tick(3'000ms);
    Peer back = open(ProtocolVersion::V5);
    codec::Connect c;
    c.version = ProtocolVersion::V5;
    c.client_id = "offline";
    c.clean_start = false;
    c.properties.session_expiry_interval = 100;
    send(back, c);
    auto got = received(back);
    ASSERT_EQ(got.size(), 2U);  // CONNACK and the message that is still alive
    const auto& p = std::get<codec::Publish>(got[1]);
    ASSERT_TRUE(p.properties.message_expiry_interval.has_value());
    EXPECT_EQ(*p.properties.message_expiry_interval, 7U);
}

// A connection that never sends CONNECT is closed after the CONNECT timeout.
TEST_F(CoreTest, SilentConnectionIsClosed) {
    Peer p = open(ProtocolVersion::V5);
    tick(9'000ms);
    EXPECT_FALSE(host_.closed(p.id));
    tick(1'250ms);
    EXPECT_TRUE(host_.closed(p.id));
}

// [MQTT-4.3.3-7] / [MQTT-4.4.0-1]: a QoS 2 PUBLISH already sent is sent again on resume, with DUP, even though
// its Message Expiry Interval has passed meanwhile.
TEST_F(CoreTest, SentQos2MessageIsResentAfterItsExpiry) {
    Peer sub = connect(ProtocolVersion::V5, "q2", true, 0, 100);
    subscribe(sub, "e/#", QoS::ExactlyOnce);
    Peer pub = connect(ProtocolVersion::V5, "pub", true, 0);
    const std::string payload = "p";
    codec::Publish m;
    m.topic = "e/1";
    m.qos = QoS::ExactlyOnce;
    m.packet_id = 5;
    m.payload = std::as_bytes(std::span(payload));
    m.properties.message_expiry_interval = 1;
    send(pub, m);
    ASSERT_EQ(received(sub).size(), 1U);  // sent, never acknowledged
    core_.on_closed(sub.id, now_);
    tick(5'000ms);
    Peer back = open(ProtocolVersion::V5);
    codec::Connect c;
    c.version = ProtocolVersion::V5;
    c.client_id = "q2";
    c.clean_start = false;
    c.properties.session_expiry_interval = 100;
    send(back, c);
    auto got = received(back);
    ASSERT_EQ(got.size(), 2U);
    const auto& again = std::get<codec::Publish>(got[1]);
    EXPECT_TRUE(again.dup);
    EXPECT_EQ(again.topic, "e/1");
}

// [MQTT-4.8.2-5]: when a shared-subscription member's session ends with a QoS 2 message sent but not
// completed, that message is not sent to another member; a QoS 1 message is (5.0 section 4.8.2, SHOULD).
TEST_F(CoreTest, EndedSharedMemberHandsOnQos1ButNotQos2) {
    Peer a = connect(ProtocolVersion::V5, "a", true, 0);
    subscribe(a, "$share/g/s/#", QoS::ExactlyOnce);
    Peer b = connect(ProtocolVersion::V5, "b", true, 0);
    subscribe(b, "$share/g/s/#", QoS::ExactlyOnce);
    Peer pub = connect(ProtocolVersion::V5, "pub", true, 0);
    const std::string payload = "p";
    auto publish = [&](std::string_view topic, QoS qos, std::uint16_t id) {
        codec::Publish m;
        m.topic = topic;
        m.qos = qos;
        m.packet_id = id;
        m.payload = std::as_bytes(std::span(payload));
        send(pub, m);
    };
    // Round robin: the first message goes to one member, the second to the other. Find who got the QoS 2 one.
    publish("s/two", QoS::ExactlyOnce, 1);
    auto got_a = received(a);
    auto got_b = received(b);
    ASSERT_EQ(got_a.size() + got_b.size(), 1U);
    Peer& holder = got_a.empty() ? b : a;
    Peer& other = got_a.empty() ? a : b;
    publish("s/one", QoS::AtLeastOnce, 2);  // goes to `other`: acknowledge nothing, just drain it
    ASSERT_EQ(received(other).size(), 1U);
    publish("s/one-more", QoS::AtLeastOnce, 3);  // back to `holder`, unacknowledged
    ASSERT_EQ(received(holder).size(), 1U);
    core_.on_closed(holder.id, now_);  // clean session: it ends now
    core_.flush();
    auto handed = received(other);
    ASSERT_EQ(handed.size(), 1U) << "only the QoS 1 message moves on";
    EXPECT_EQ(std::get<codec::Publish>(handed[0]).topic, "s/one-more");
}

// [MQTT-4.12.0-5]: a CONNACK that accepts an enhanced authentication names its method, also when the
// authenticator accepts the CONNECT at once.
TEST_F(CoreTest, ConnackNamesTheAuthenticationMethod) {
    struct Token final : Authenticator {
        bool supports_method(std::string_view m, std::string_view) const override { return m == "TOKEN"; }
        AuthDecision authenticate(const AuthRequest&, unsigned) override { return AuthDecision::allow(); }
    } token;
    shared_.authenticator = &token;
    Peer p = open(ProtocolVersion::V5);
    codec::Connect c;
    c.version = ProtocolVersion::V5;
    c.client_id = "auth";
    c.properties.authentication_method = "TOKEN";
    send(p, c);
    auto got = received(p);
    ASSERT_EQ(got.size(), 1U);
    const auto& ack = std::get<codec::Connack>(got[0]);
    EXPECT_EQ(ack.reason, ReasonCode::Success);
    EXPECT_EQ(ack.properties.authentication_method, std::optional<std::string_view>("TOKEN"));
    shared_.authenticator = &allow_;
}

// use_cn_as_username: the identity the transport established (a client certificate's CN) is the username the
// authenticator sees, whatever the CONNECT carried; without one, the CONNECT's User Name is used.
TEST_F(CoreTest, TransportUsernameReplacesTheConnectUserName) {
    struct Recorder final : Authenticator {
        bool supports_method(std::string_view, std::string_view) const override { return false; }
        AuthDecision authenticate(const AuthRequest& r, unsigned) override {
            seen.push_back(r.username ? std::optional<std::string>(std::string(*r.username)) : std::nullopt);
            remotes.emplace_back(r.remote);
            return AuthDecision::allow();
        }
        std::vector<std::optional<std::string>> seen;
        std::vector<std::string> remotes;
    } recorder;
    shared_.authenticator = &recorder;
    for (const bool with_name : {true, false}) {
        const ConnectionId id = next_id_++;
        core_.on_open(id, "203.0.113.9:4711", now_, nullptr, std::string("device-17"));
        Peer p{id, ProtocolVersion::V3_1_1};
        codec::Connect c;
        c.version = ProtocolVersion::V3_1_1;
        c.client_id = with_name ? "cn-a" : "cn-b";
        if (with_name) c.username = "someone-else";
        send(p, c);
        auto got = received(p);
        ASSERT_EQ(got.size(), 1U);
        EXPECT_EQ(std::get<codec::Connack>(got[0]).reason, ReasonCode::Success);
    }
    Peer plain = open(ProtocolVersion::V3_1_1);
    codec::Connect c;
    c.version = ProtocolVersion::V3_1_1;
    c.client_id = "plain";
    c.username = "from-connect";
    send(plain, c);
    EXPECT_EQ(recorder.seen, (std::vector<std::optional<std::string>>{"device-17", "device-17", "from-connect"}));
    EXPECT_EQ(recorder.remotes[0], "203.0.113.9:4711");
    shared_.authenticator = &allow_;
}

// A challenge-response authenticator: step 0 asks for more with "nonce"; the answer must be "answer".
struct Challenge final : Authenticator {
    bool supports_method(std::string_view m, std::string_view) const override { return m == "CHALLENGE"; }
    AuthDecision authenticate(const AuthRequest& r, unsigned step) override {
        if (step == 0) return AuthDecision::more(bytes("nonce"));
        const std::string_view answer = r.data ? std::string_view(reinterpret_cast<const char*>(r.data->data()),
                                                                  r.data->size())
                                               : std::string_view{};
        if (answer == "answer") return AuthDecision::allow(bytes("welcome"));
        return AuthDecision::deny(ReasonCode::NotAuthorized);
    }
    static std::vector<std::byte> bytes(std::string_view s) {
        const auto* b = reinterpret_cast<const std::byte*>(s.data());
        return {b, b + s.size()};
    }
};

class EnhancedAuthTest : public CoreTest {
protected:
    EnhancedAuthTest() { shared_.authenticator = &challenge_; }

    // CONNECT with the method; returns the peer after checking the broker's AUTH 0x18 [MQTT-4.12.0-2].
    Peer start_exchange() {
        Peer p = open(ProtocolVersion::V5);
        codec::Connect c;
        c.version = ProtocolVersion::V5;
        c.client_id = "authed";
        c.properties.authentication_method = "CHALLENGE";
        send(p, c);
        auto got = received(p);
        EXPECT_EQ(got.size(), 1U);
        if (got.size() == 1) {
            const auto& a = std::get<codec::Auth>(got[0]);
            EXPECT_EQ(a.reason, ReasonCode::ContinueAuthentication);  // [MQTT-3.15.2-1]
            EXPECT_EQ(a.properties.authentication_method, std::optional<std::string_view>("CHALLENGE"));
        }
        return p;
    }

    void answer(const Peer& p, std::string_view data, ReasonCode reason = ReasonCode::ContinueAuthentication,
                std::string_view method = "CHALLENGE") {
        codec::Auth a;
        a.reason = reason;
        a.properties.authentication_method = method;
        a.properties.authentication_data = std::as_bytes(std::span(data.data(), data.size()));
        send(p, a);
    }

    Challenge challenge_;
};

// [MQTT-4.12.0-2] [MQTT-3.15.2-1] [MQTT-4.12.0-5]: CONNECT, AUTH 0x18 both ways, then CONNACK naming the method;
// then re-authentication with AUTH 0x19 ends in AUTH 0x00 [MQTT-4.12.1-1].
TEST_F(EnhancedAuthTest, ChallengeResponseThenReauthentication) {
    Peer p = start_exchange();
    answer(p, "answer");
    auto got = received(p);
    ASSERT_EQ(got.size(), 1U);
    const auto& ack = std::get<codec::Connack>(got[0]);
    EXPECT_EQ(ack.reason, ReasonCode::Success);
    EXPECT_EQ(ack.properties.authentication_method, std::optional<std::string_view>("CHALLENGE"));
    answer(p, "", ReasonCode::ReAuthenticate);
    got = received(p);
    ASSERT_EQ(got.size(), 1U);
    EXPECT_EQ(std::get<codec::Auth>(got[0]).reason, ReasonCode::ContinueAuthentication);
    answer(p, "answer");
    got = received(p);
    ASSERT_EQ(got.size(), 1U);
    EXPECT_EQ(std::get<codec::Auth>(got[0]).reason, ReasonCode::Success);
    EXPECT_FALSE(host_.closed(p.id));
}

// [MQTT-4.12.0-4]: a failed authentication gets a CONNACK with an error code and the connection is closed.
TEST_F(EnhancedAuthTest, WrongAnswerIsRefusedAndClosed) {
    Peer p = start_exchange();
    answer(p, "guess");
    auto got = received(p);
    ASSERT_EQ(got.size(), 1U);
    EXPECT_EQ(std::get<codec::Connack>(got[0]).reason, ReasonCode::NotAuthorized);
    EXPECT_TRUE(host_.closed(p.id));
}

// [MQTT-3.1.2-30]: before the CONNACK only AUTH (or DISCONNECT) may come; anything else closes the connection.
TEST_F(EnhancedAuthTest, PacketOtherThanAuthBeforeConnackCloses) {
    Peer p = start_exchange();
    send(p, codec::Pingreq{});
    EXPECT_TRUE(host_.closed(p.id));
    EXPECT_TRUE(received(p).empty());
}

// [MQTT-4.12.0-3]: the client continues with AUTH 0x18; another reason code is a Protocol Error.
TEST_F(EnhancedAuthTest, AnswerWithOtherReasonCodeCloses) {
    Peer p = start_exchange();
    answer(p, "answer", ReasonCode::ReAuthenticate);
    EXPECT_TRUE(host_.closed(p.id));
}

// [MQTT-4.12.1-1]: re-authentication must use the method of the CONNECT; another one is a Protocol Error.
TEST_F(EnhancedAuthTest, ReauthenticationWithAnotherMethodIsAProtocolError) {
    Peer p = start_exchange();
    answer(p, "answer");
    received(p);
    answer(p, "", ReasonCode::ReAuthenticate, "OTHER");
    auto got = received(p);
    ASSERT_EQ(got.size(), 1U);
    EXPECT_EQ(std::get<codec::Disconnect>(got[0]).reason, ReasonCode::ProtocolError);
    EXPECT_TRUE(host_.closed(p.id));
}

// [MQTT-4.12.1-2]: a failed re-authentication gets DISCONNECT with an error code and the close.
TEST_F(EnhancedAuthTest, FailedReauthenticationDisconnects) {
    Peer p = start_exchange();
    answer(p, "answer");
    received(p);
    answer(p, "", ReasonCode::ReAuthenticate);
    received(p);
    answer(p, "wrong");
    auto got = received(p);
    ASSERT_EQ(got.size(), 1U);
    EXPECT_EQ(std::get<codec::Disconnect>(got[0]).reason, ReasonCode::NotAuthorized);
    EXPECT_TRUE(host_.closed(p.id));
}


// ---- introspection and administration (the HTTP API) ----

TEST_F(CoreTest, SnapshotListsClientsSessionsSubscriptionsAndListenerCounts) {
    auto tag = std::make_shared<const ListenerTag>(ListenerTag{"web", "http", nullptr});
    const Peer a{next_id_++, ProtocolVersion::V5};
    core_.on_open(a.id, "10.0.0.1:1234", now_, tag);
    codec::Connect c;
    c.version = ProtocolVersion::V5;
    c.client_id = "a";
    c.keep_alive_s = 30;
    c.clean_start = false;
    c.username = "alice";
    c.properties.session_expiry_interval = 100;
    send(a, c);
    received(a);
    static std::vector<codec::Subscription> subs;
    subs = {{"x/#", {QoS::AtLeastOnce, true, true, 2}}, {"$share/g/y", {QoS::ExactlyOnce}}};
    codec::Subscribe sub;
    sub.packet_id = 1;
    sub.subscriptions = subs;
    static const std::vector<std::uint32_t> kIds{9};
    sub.properties.subscription_identifiers = kIds;
    send(a, sub);
    received(a);
    Peer b = connect(ProtocolVersion::V3_1_1, "b", true, 60);
    const Peer idle = open(ProtocolVersion::V5);  // no CONNECT yet: counted by its listener only when tagged
    (void)idle;
    tick(2'000ms);

    SnapshotQuery all;
    all.clients = all.sessions = all.subscriptions = all.listeners = true;
    CoreSnapshot s = core_.snapshot(all, now_);
    ASSERT_EQ(s.clients.size(), 2U);
    const auto& ca = s.clients[0].client_id == "a" ? s.clients[0] : s.clients[1];
    EXPECT_EQ(ca.username, "alice");
    EXPECT_EQ(ca.address, "10.0.0.1:1234");
    EXPECT_EQ(ca.listener, "web");
    EXPECT_EQ(ca.transport, "http");
    EXPECT_EQ(ca.protocol_version, 5U);
    EXPECT_EQ(ca.keepalive_s, 30);
    EXPECT_FALSE(ca.clean_start);
    EXPECT_EQ(ca.subscriptions, 2U);
    EXPECT_EQ(ca.connected_for, std::chrono::seconds(2));
    ASSERT_EQ(s.subscriptions.size(), 2U);
    for (const auto& x : s.subscriptions) {
        if (x.filter == "x/#") {
            EXPECT_EQ(x.qos, 1);
            EXPECT_TRUE(x.no_local);
            EXPECT_TRUE(x.retain_as_published);
            EXPECT_EQ(x.retain_handling, 2);
            EXPECT_EQ(x.identifier, 9U);
            EXPECT_EQ(x.shared_group, "");
        } else {
            EXPECT_EQ(x.filter, "y");
            EXPECT_EQ(x.shared_group, "g");
        }
    }
    EXPECT_EQ(s.connections_by_listener, (std::unordered_map<std::string, std::size_t>{{"web", 1}}));

    core_.on_closed(a.id, now_);
    core_.flush();
    SnapshotQuery only_a;
    only_a.clients = only_a.sessions = true;
    only_a.client_id = "a";
    s = core_.snapshot(only_a, now_);
    EXPECT_TRUE(s.clients.empty());
    ASSERT_EQ(s.sessions.size(), 1U);
    EXPECT_FALSE(s.sessions[0].connected);
    EXPECT_EQ(s.sessions[0].expiry_interval_s, 100U);
    EXPECT_EQ(s.sessions[0].subscriptions, 2U);
    EXPECT_EQ(core_.snapshot(SnapshotQuery{}, now_).clients.size(), 0U);  // nothing asked, nothing copied
    (void)b;
}

// An administrative disconnect: 5.0 gets DISCONNECT 0x98 Administrative action, the will is published as for any
// close the client did not ask for [MQTT-3.1.2-8], and the session stays per its expiry.
TEST_F(CoreTest, DisconnectClientIsAnAdministrativeAction) {
    Peer watcher = connect(ProtocolVersion::V5, "watcher", true, 0);
    subscribe(watcher, "wills/#", QoS::AtLeastOnce);
    codec::Will w;
    w.topic = "wills/v5";
    Peer v5 = connect(ProtocolVersion::V5, "v5", false, 0, 100, w);
    Peer v3 = connect(ProtocolVersion::V3_1_1, "v3", true, 0);

    EXPECT_TRUE(core_.disconnect_client("v5", now_));
    core_.flush();
    auto got = received(v5);
    ASSERT_EQ(got.size(), 1U);
    EXPECT_EQ(std::get<codec::Disconnect>(got[0]).reason, ReasonCode::AdministrativeAction);
    EXPECT_TRUE(host_.closed(v5.id));
    auto wills = received(watcher);
    ASSERT_EQ(wills.size(), 1U);
    EXPECT_EQ(std::get<codec::Publish>(wills[0]).topic, "wills/v5");
    EXPECT_TRUE(session_present(ProtocolVersion::V5, "v5", 100));

    EXPECT_TRUE(core_.disconnect_client("v3", now_));
    core_.flush();
    EXPECT_TRUE(received(v3).empty());  // 3.1.1 has no server DISCONNECT: the connection just closes
    EXPECT_TRUE(host_.closed(v3.id));
    EXPECT_FALSE(core_.disconnect_client("v3", now_));
    EXPECT_FALSE(core_.disconnect_client("nobody", now_));
}

// [MQTT-2.2.1-3]: packet identifiers are handed out in sequence and wrap from 65535 to 1, skipping those still
// held by unacknowledged messages: a QoS 1 message awaiting PUBACK and a QoS 2 message past PUBREC.
TEST_F(CoreTest, PacketIdentifiersWrapAroundPastUnacknowledgedOnes) {
    Peer sub = connect(ProtocolVersion::V5, "wrap", true, 0);
    subscribe(sub, "w/#", QoS::ExactlyOnce);
    codec::Decoder decoder{codec::DecoderOptions{codec::Role::Client}};
    decoder.set_version(ProtocolVersion::V5);
    // Publishes one message and returns the packet identifier the subscriber got it with.
    auto deliver = [&](QoS qos) -> std::uint16_t {
        BrokerPublish m;
        m.topic = "w/x";
        m.qos = qos;
        core_.publish(m, now_);
        core_.flush();
        const auto bytes = host_.take(sub.id);
        auto r = decoder.decode(bytes);
        EXPECT_EQ(r.status, codec::DecodeStatus::Ok);
        EXPECT_EQ(r.consumed, bytes.size());
        const auto* p = std::get_if<codec::Publish>(&r.packet);
        EXPECT_NE(p, nullptr);
        return p != nullptr ? p->packet_id : 0;
    };
    auto puback = [&](std::uint16_t id) {
        codec::Puback a;
        a.packet_id = id;
        send(sub, a);
    };
    EXPECT_EQ(deliver(QoS::AtLeastOnce), 1);  // held: never acknowledged
    puback(deliver(QoS::AtLeastOnce));
    const std::uint16_t held2 = deliver(QoS::ExactlyOnce);  // held past PUBREC: awaiting PUBCOMP
    ASSERT_EQ(held2, 3);
    codec::Pubrec rec;
    rec.packet_id = held2;
    send(sub, rec);
    ASSERT_EQ(received(sub).size(), 1U);  // the PUBREL
    for (std::uint32_t expected = 4; expected <= 65535; ++expected) {
        const auto id = deliver(QoS::AtLeastOnce);
        ASSERT_EQ(id, expected);
        puback(id);
    }
    const auto a = deliver(QoS::AtLeastOnce);
    const auto b = deliver(QoS::AtLeastOnce);
    const auto c = deliver(QoS::AtLeastOnce);
    EXPECT_EQ(a, 2);
    EXPECT_EQ(b, 4) << "3 awaits its PUBCOMP";
    EXPECT_EQ(c, 5);
    // Once acknowledged, an identifier is free again on the next round.
    puback(1);
    codec::Pubcomp comp;
    comp.packet_id = held2;
    send(sub, comp);
    puback(a);
    puback(b);
    puback(c);
    for (std::uint32_t expected = 6; expected <= 65535; ++expected) {
        const auto id = deliver(QoS::AtLeastOnce);
        ASSERT_EQ(id, expected);
        puback(id);
    }
    EXPECT_EQ(deliver(QoS::AtLeastOnce), 1);
    EXPECT_EQ(deliver(QoS::AtLeastOnce), 2);
    EXPECT_EQ(deliver(QoS::AtLeastOnce), 3);
}

TEST_F(CoreTest, BrokerPublishIsRoutedAndRetained) {
    Peer sub = connect(ProtocolVersion::V5, "sub", true, 0);
    subscribe(sub, "api/#", QoS::AtLeastOnce);
    BrokerPublish m;
    m.topic = "api/x";
    m.payload = {std::byte{'o'}, std::byte{'n'}};
    m.qos = QoS::AtLeastOnce;
    m.retain = true;
    m.content_type = "text/plain";
    m.user_properties = {{"k", "v"}};
    EXPECT_EQ(core_.publish(m, now_), 1U);
    core_.flush();
    auto got = received(sub);
    ASSERT_EQ(got.size(), 1U);
    const auto& p = std::get<codec::Publish>(got[0]);
    EXPECT_EQ(p.topic, "api/x");
    EXPECT_EQ(p.qos, QoS::AtLeastOnce);
    EXPECT_EQ(p.properties.content_type, "text/plain");
    ASSERT_EQ(p.properties.user_properties.size(), 1U);
    EXPECT_EQ(shared_.retained.size(), 1U);
    m.payload.clear();  // an empty retained payload deletes [MQTT-3.3.1-6]
    core_.publish(m, now_);
    core_.flush();
    EXPECT_EQ(shared_.retained.size(), 0U);
}


// ---- Issue 16: a message's weight may be all in its properties ----

// A PUBLISH of `count` tiny user properties and a 1-byte payload; `keys` keeps the strings it views.
codec::Publish property_heavy(std::string_view topic, std::size_t count, std::vector<codec::UserProperty>& props,
                              std::uint16_t packet_id) {
    static const std::string payload = "p";
    props.assign(count, codec::UserProperty{"k", "v"});
    codec::Publish m;
    m.topic = topic;
    m.qos = QoS::AtLeastOnce;
    m.packet_id = packet_id;
    m.payload = std::as_bytes(std::span(payload));
    m.properties.user_properties = props;
    return m;
}

// The counted size of a message is what it holds in memory, user properties included, and stays within 2x of its
// size on the wire (no allocation per property).
TEST_F(CoreTest, MessageSizeCountsPropertiesWithinTwiceTheWireSize) {
    std::vector<codec::UserProperty> props;
    const auto p = property_heavy("big/one", 20'000, props, 1);
    const auto wire = codec::encoded_size(codec::Packet(p), ProtocolVersion::V5);
    ASSERT_TRUE(wire.has_value());
    const auto m = make_message(p, p.topic, now_);
    EXPECT_EQ(m->user_properties.size(), 20'000U);
    EXPECT_GE(m->memory_size(), *wire - 16) << "the properties count, not only topic and payload";
    EXPECT_LE(m->memory_size(), 2 * *wire);
    EXPECT_EQ(m->memory_size(), m->footprint) << "computed once, when the message is built";
    // What is forwarded is the same list, in order.
    std::size_t n = 0;
    for (const auto up : m->user_properties) {
        EXPECT_EQ(up.key, "k");
        EXPECT_EQ(up.value, "v");
        ++n;
    }
    EXPECT_EQ(n, 20'000U);
}

// max_queued_bytes refuses messages whose bytes are in their properties: 20 messages of about 100 KB each (1 byte
// of payload) for an offline session with 1 MiB allowed: about ten are queued, the others dropped and counted.
TEST_F(CoreTest, QueueLimitCountsPropertyBytes) {
    auto c = config::default_config();
    c.limits.max_queued_bytes = 1024 * 1024;
    core_.reconfigure(c);
    Peer sub = connect(ProtocolVersion::V5, "offline", true, 0, 100);
    subscribe(sub, "big/#", QoS::AtLeastOnce);
    send(sub, codec::Disconnect{});
    Peer pub = connect(ProtocolVersion::V5, "pub", true, 0);
    std::vector<codec::UserProperty> props;
    for (std::uint16_t i = 1; i <= 20; ++i) send(pub, property_heavy("big/x", 100'000 / 7, props, i));
    SnapshotQuery q;
    q.sessions = true;
    q.client_id = "offline";
    const auto snap = core_.snapshot(q, now_);
    ASSERT_EQ(snap.sessions.size(), 1U);
    EXPECT_GE(snap.sessions[0].queued, 9U);
    EXPECT_LE(snap.sessions[0].queued, 11U);
    EXPECT_EQ(shared_.stats[0]->messages_dropped.load() + snap.sessions[0].queued, 20U);
}

// ---- Issue 16: retained messages on SUBSCRIBE are streamed as the subscriber takes them ----

class RetainedStreamCoreTest : public CoreTest {
protected:
    void retain(const std::string& topic, QoS qos, std::size_t payload_size = 1) {
        BrokerPublish m;
        m.topic = topic;
        m.qos = qos;
        m.retain = true;
        m.payload.assign(payload_size, std::byte{'r'});
        core_.publish(m, now_);
        core_.flush();
    }
    Peer connect_with_window(std::string client_id, std::uint16_t receive_maximum) {
        Peer p = open(ProtocolVersion::V5);
        ids_.push_back(std::move(client_id));
        codec::Connect c;
        c.version = ProtocolVersion::V5;
        c.client_id = ids_.back();
        c.clean_start = true;
        c.properties.receive_maximum = receive_maximum;
        send(p, c);
        EXPECT_EQ(received(p).size(), 1U);
        return p;
    }
    // Sends SUBSCRIBE and returns what came back: the SUBACK first, then any retained PUBLISH.
    std::vector<codec::Packet> subscribe_all(const Peer& p, std::string_view filter, QoS qos) {
        static std::vector<codec::Subscription> subs;
        subs = {{filter, {qos}}};
        codec::Subscribe s;
        s.packet_id = 7;
        s.subscriptions = subs;
        send(p, s);
        auto got = received(p);
        EXPECT_FALSE(got.empty());
        if (!got.empty()) {
            EXPECT_TRUE(std::holds_alternative<codec::Suback>(got[0]));
        }
        return got;
    }
    std::uint64_t dropped() const { return shared_.stats[0]->messages_dropped.load(); }
};

// 1,000 retained QoS 1 messages, a subscriber with a window of 10 and a queue of 50: all arrive, never more than 10
// unacknowledged, none dropped; one deleted before its turn is skipped.
TEST_F(RetainedStreamCoreTest, QoS1RetainedArePacedByTheWindowNotQueued) {
    auto c = config::default_config();
    c.limits.max_queued_messages = 50;
    core_.reconfigure(c);
    for (int i = 0; i < 1000; ++i) retain("r/" + std::to_string(i), QoS::AtLeastOnce);
    Peer sub = connect_with_window("sub", 10);
    auto got = subscribe_all(sub, "r/#", QoS::AtLeastOnce);
    std::set<std::string> seen;
    std::vector<std::uint16_t> unacked;
    auto take = [&](const std::vector<codec::Packet>& packets) {
        for (const auto& pk : packets) {
            const auto* p = std::get_if<codec::Publish>(&pk);
            if (p == nullptr) continue;
            unacked.push_back(p->packet_id);
            if (p->payload.empty()) continue;  // the deletion below, delivered live to the subscription
            EXPECT_TRUE(p->retain);
            EXPECT_EQ(p->qos, QoS::AtLeastOnce);
            EXPECT_TRUE(seen.insert(std::string(p->topic)).second) << p->topic;
        }
        EXPECT_LE(unacked.size(), 10U);
    };
    take(got);
    ASSERT_EQ(unacked.size(), 10U);
    // Deletes one not sent yet: it is not sent at all.
    std::string deleted;
    for (int i = 0; i < 1000 && deleted.empty(); ++i) {
        if (seen.count("r/" + std::to_string(i)) == 0) deleted = "r/" + std::to_string(i);
    }
    retain(deleted, QoS::AtLeastOnce, 0);
    for (int round = 0; round < 2000 && !unacked.empty(); ++round) {
        codec::Puback a;
        a.packet_id = unacked.front();
        unacked.erase(unacked.begin());
        send(sub, a);
        take(received(sub));
    }
    EXPECT_EQ(seen.size(), 999U);
    EXPECT_EQ(seen.count(deleted), 0U);
    EXPECT_EQ(dropped(), 0U);
}

// QoS 0 retained messages are paced by the connection's output buffer (max_outgoing_buffer_bytes) instead of being
// dropped when it is full: the rest follows each time the buffer is written out.
TEST_F(RetainedStreamCoreTest, QoS0RetainedArePacedByTheOutputBuffer) {
    auto c = config::default_config();
    c.limits.max_outgoing_buffer_bytes = 2000;
    core_.reconfigure(c);
    for (int i = 0; i < 200; ++i) retain("z/" + std::to_string(i), QoS::AtMostOnce, 100);
    Peer sub = connect_with_window("sub0", 10);
    host_.model_pending(true);
    std::set<std::string> seen;
    auto take = [&](const std::vector<codec::Packet>& packets) {
        std::size_t n = 0;
        for (const auto& pk : packets) {
            if (const auto* p = std::get_if<codec::Publish>(&pk)) {
                EXPECT_TRUE(seen.insert(std::string(p->topic)).second);
                ++n;
            }
        }
        return n;
    };
    const auto first = take(subscribe_all(sub, "z/#", QoS::AtMostOnce));
    EXPECT_GT(first, 0U);
    EXPECT_LT(first, 30U) << "no more than the buffer allows at once";
    for (int round = 0; round < 100 && seen.size() < 200; ++round) {
        host_.written(sub.id);
        core_.on_drained(sub.id, now_);
        core_.flush();
        EXPECT_LT(take(received(sub)), 30U);
    }
    EXPECT_EQ(seen.size(), 200U);
    EXPECT_EQ(dropped(), 0U);
}

// UNSUBSCRIBE stops what is left of the stream; the queue of live messages goes before it.
TEST_F(RetainedStreamCoreTest, UnsubscribeStopsTheStream) {
    for (int i = 0; i < 50; ++i) retain("u/" + std::to_string(i), QoS::AtLeastOnce);
    Peer sub = connect_with_window("subu", 5);
    auto got = subscribe_all(sub, "u/#", QoS::AtLeastOnce);
    EXPECT_EQ(got.size(), 6U);  // SUBACK and the window's 5
    static std::vector<std::string_view> filters;
    filters = {"u/#"};
    codec::Unsubscribe u;
    u.packet_id = 8;
    u.filters = filters;
    send(sub, u);
    got = received(sub);
    ASSERT_EQ(got.size(), 1U);
    for (std::uint16_t id = 1; id <= 5; ++id) {
        codec::Puback a;
        a.packet_id = id;
        send(sub, a);
    }
    EXPECT_TRUE(received(sub).empty());
}

}  // namespace
}  // namespace moth::broker
