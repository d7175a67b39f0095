// Abuse limits in the broker core, without sockets: publish rates (the connection's input pauses while its bucket is
// in debt, nothing is dropped; or DISCONNECT 0x96), the gate's verdicts at CONNECT (CONNACK 0x8A / 0x9F, 3.x return
// codes 5 / 3), bans applied to connected clients, and a listener's authentication choice.
#include <gtest/gtest.h>

#include <deque>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "broker/core.hpp"
#include "codec/encoder.hpp"
#include "core_test_support.hpp"

namespace moth::broker {
namespace {

using codec::ProtocolVersion;
using codec::QoS;
using codec::ReasonCode;
using test::FakeHost;
using test::Peer;
using namespace std::chrono_literals;

// A gate whose answers the test sets.
class FakeGate final : public Gate {
public:
    GateVerdict on_connect(const ConnectAttempt& a, TimePoint) override {
        attempts.emplace_back(a.client_id);
        return verdict;
    }
    std::optional<std::string> banned(std::string_view client_id, std::optional<std::string_view>,
                                      std::string_view) const override {
        if (banned_ids.count(std::string(client_id)) != 0) return "banned by the test";
        return std::nullopt;
    }
    std::uint64_t flapping_bans() const override { return 0; }
    std::vector<limits::Ban> bans() const override { return {}; }
    void add_ban(limits::Ban) override {}
    bool remove_ban(limits::Ban::Kind, std::string_view) override { return false; }
    std::int64_t wall_now() const override { return 0; }

    GateVerdict verdict;
    std::vector<std::string> attempts;
    std::set<std::string> banned_ids;
};

class AbuseTest : public ::testing::Test {
protected:
    explicit AbuseTest(config::Config c = config::default_config()) : shared_(std::move(c), 1, TimePoint{}) {
        shared_.authenticator = &allow_;
        shared_.gate = &gate_;
        shared_.config.listeners.clear();
        config::Listener l;
        l.name = "lim";
        shared_.config.listeners.push_back(l);
        core_ = std::make_unique<Core>(0, shared_, host_);
    }
    void reconfigure() { core_->reconfigure(shared_.config); }

    Peer open(ProtocolVersion v, std::optional<std::string> cert_cn = std::nullopt) {
        const ConnectionId id = next_id_++;
        core_->on_open(id, "10.0.0.1:5000", now_, tag_, std::move(cert_cn));
        return {id, v};
    }
    // Encodes packets into the connection's pending input and feeds what the core takes.
    void send(const Peer& p, const std::vector<codec::Packet>& packets) {
        auto& in = input_.pending(p.id);
        for (const auto& packet : packets) ASSERT_TRUE(codec::encode_append(packet, p.version, in));
        input_.feed(*core_, host_, p.id, now_);
        core_->flush();
    }
    // Advances the clock by `d` in server ticks, feeding what the core resumed after each.
    void run_for(Clock::duration d) {
        const auto end = now_ + d;
        while (now_ < end) {
            now_ += kWheelTick;
            core_->on_tick(now_);
            input_.feed_resumed(*core_, host_, now_);
            core_->flush();
        }
    }
    std::vector<codec::Packet> received(const Peer& p) { return reader_.decode(host_.take(p.id), p.version); }

    codec::Connect connect_packet(ProtocolVersion v, std::string id, std::optional<std::string> user = std::nullopt) {
        ids_.push_back(std::move(id));
        codec::Connect c;
        c.version = v;
        c.client_id = ids_.back();
        c.clean_start = true;
        if (user) {
            ids_.push_back(*user);
            c.username = ids_.back();
            c.password = codec::Bytes(reinterpret_cast<const std::byte*>("pw"), 2);
        }
        return c;
    }
    // The CONNACK's reason (3.x return codes decode to their 5.0 equivalents).
    ReasonCode connect(const Peer& p, std::string id, std::optional<std::string> user = std::nullopt) {
        send(p, {connect_packet(p.version, std::move(id), std::move(user))});
        auto got = received(p);
        if (got.empty() || !std::holds_alternative<codec::Connack>(got[0])) {
            ADD_FAILURE() << "no CONNACK";
            return ReasonCode::UnspecifiedError;
        }
        return std::get<codec::Connack>(got[0]).reason;
    }
    codec::Publish publish_packet(QoS qos, std::uint16_t id) {
        codec::Publish p;
        p.topic = "t";
        p.qos = qos;
        p.packet_id = id;
        static const std::byte payload[] = {std::byte{'x'}};
        p.payload = payload;
        return p;
    }
    std::size_t count_pubacks(const Peer& p) {
        std::size_t n = 0;
        for (const auto& packet : received(p)) n += std::holds_alternative<codec::Puback>(packet) ? 1U : 0U;
        return n;
    }

    FakeHost host_{false, 1};
    AllowAll allow_;
    FakeGate gate_;
    Shared shared_;
    std::shared_ptr<const ListenerTag> tag_ = std::make_shared<const ListenerTag>(ListenerTag{"lim", "mqtt", nullptr});
    std::unique_ptr<Core> core_;
    test::PausableInput input_;
    TimePoint now_{};
    ConnectionId next_id_ = 1;
    std::deque<std::string> ids_;
    test::PacketReader reader_;
};

TEST_F(AbuseTest, PublisherAtTenTimesItsRateIsHeldToItAndLosesNothing) {
    shared_.config.limits.publish_rate = 100;  // burst: max(1, rate) = 100
    reconfigure();
    Peer p = open(ProtocolVersion::V5);
    ASSERT_EQ(connect(p, "fast"), ReasonCode::Success);
    // 10 s at 10 times the rate, all written at once: the socket holds what the broker does not read yet.
    std::vector<codec::Packet> burst;
    for (std::uint16_t i = 1; i <= 10000; ++i) burst.push_back(publish_packet(QoS::AtLeastOnce, i));
    send(p, burst);
    EXPECT_EQ(host_.paused.count(p.id), 1U) << "over its rate, the client's input pauses (back-pressure)";
    run_for(10s);
    const auto acked = count_pubacks(p);
    // The burst, then the rate: 100 + 100/s x 10 s, give or take the packet that went into debt per resume.
    EXPECT_GE(acked, 1090U);
    EXPECT_LE(acked, 1110U);
    SnapshotQuery q;
    q.clients = true;
    const auto snap = core_->snapshot(q, now_);
    ASSERT_EQ(snap.clients.size(), 1U);
    EXPECT_GT(snap.clients[0].throttled, 0U);
    ASSERT_TRUE(snap.clients[0].publish_rate.has_value());
    EXPECT_NEAR(*snap.clients[0].publish_rate, 100.0, 10.0);
    EXPECT_GT(shared_.stats[0]->throttled.load(), 0U);
    // Nothing is dropped: the rest is read as the rate allows (another 90 s at 100/s takes it all).
    run_for(95s);
    EXPECT_EQ(acked + count_pubacks(p), 10000U);
    EXPECT_FALSE(host_.closed(p.id));
}

TEST_F(AbuseTest, PausedClientIsNotClosedForKeepAlive) {
    shared_.config.limits.publish_byte_rate = 100;  // bytes/s: a 1,000-byte packet is 10 s of debt
    reconfigure();
    Peer p = open(ProtocolVersion::V3_1_1);
    auto c = connect_packet(p.version, "slow");
    c.keep_alive_s = 2;
    send(p, {c});
    received(p);
    std::vector<std::byte> big(1000, std::byte{'x'});
    auto pub = publish_packet(QoS::AtLeastOnce, 1);
    pub.payload = big;
    auto pub2 = publish_packet(QoS::AtLeastOnce, 2);
    send(p, {pub, pub2});
    EXPECT_EQ(count_pubacks(p), 1U);
    run_for(6s);  // longer than 1.5 x keep alive: the broker is the one not reading
    EXPECT_FALSE(host_.closed(p.id));
    run_for(6s);
    EXPECT_EQ(count_pubacks(p), 1U) << "the second PUBLISH is read once the debt is paid";
}

TEST_F(AbuseTest, OverRateDisconnectSendsMessageRateTooHigh) {
    shared_.config.limits.publish_rate = 5;
    shared_.config.limits.over_rate = config::OverRate::Disconnect;
    reconfigure();
    Peer p = open(ProtocolVersion::V5);
    ASSERT_EQ(connect(p, "loop"), ReasonCode::Success);
    std::vector<codec::Packet> burst;
    for (std::uint16_t i = 1; i <= 10; ++i) burst.push_back(publish_packet(QoS::AtLeastOnce, i));
    send(p, burst);
    auto got = received(p);
    ASSERT_FALSE(got.empty());
    ASSERT_TRUE(std::holds_alternative<codec::Disconnect>(got.back()));
    EXPECT_EQ(std::get<codec::Disconnect>(got.back()).reason, ReasonCode::MessageRateTooHigh);
    EXPECT_EQ(got.size(), 6U) << "five PUBACKs within the burst, then DISCONNECT 0x96";
    EXPECT_TRUE(host_.closed(p.id));
    EXPECT_EQ(shared_.stats[0]->rate_disconnects.load(), 1U);
}

TEST_F(AbuseTest, ListenerOverrideAppliesAndNoRateMeansNoThrottle) {
    shared_.config.limits.publish_rate = 1;
    shared_.config.listeners[0].publish_rate = 0.0;  // this listener: unlimited
    reconfigure();
    Peer p = open(ProtocolVersion::V5);
    ASSERT_EQ(connect(p, "free"), ReasonCode::Success);
    std::vector<codec::Packet> burst;
    for (std::uint16_t i = 1; i <= 50; ++i) burst.push_back(publish_packet(QoS::AtLeastOnce, i));
    send(p, burst);
    EXPECT_EQ(count_pubacks(p), 50U);
    EXPECT_EQ(host_.paused.count(p.id), 0U);
}

TEST_F(AbuseTest, BannedAndRateRefusalsPerVersion) {
    struct Case {
        GateVerdict::Kind kind;
        ProtocolVersion v;
        ReasonCode expect;
    };
    // 3.x return codes: a ban is 5 (not authorized), a rate 3 (server unavailable).
    for (const auto& c : {Case{GateVerdict::Kind::Banned, ProtocolVersion::V5, ReasonCode::Banned},
                          Case{GateVerdict::Kind::Banned, ProtocolVersion::V3_1_1, ReasonCode::NotAuthorized},
                          Case{GateVerdict::Kind::Banned, ProtocolVersion::V3_1, ReasonCode::NotAuthorized},
                          Case{GateVerdict::Kind::RateExceeded, ProtocolVersion::V5, ReasonCode::ConnectionRateExceeded},
                          Case{GateVerdict::Kind::RateExceeded, ProtocolVersion::V3_1_1, ReasonCode::ServerUnavailable}}) {
        gate_.verdict = {c.kind, "test"};
        Peer p = open(c.v);
        EXPECT_EQ(connect(p, "dev1"), c.expect) << static_cast<int>(c.v);
        EXPECT_TRUE(host_.closed(p.id));
    }
    EXPECT_EQ(shared_.stats[0]->banned_refused.load(), 3U);
    EXPECT_EQ(shared_.stats[0]->connect_rate_refused.load(), 2U);
    EXPECT_EQ(core_->session_id("dev1"), 0U) << "a refused CONNECT makes no session";
}

TEST_F(AbuseTest, BanOfAConnectedClientDisconnectsIt) {
    Peer a = open(ProtocolVersion::V5);
    ASSERT_EQ(connect(a, "bad"), ReasonCode::Success);
    Peer b = open(ProtocolVersion::V3_1_1);
    ASSERT_EQ(connect(b, "good"), ReasonCode::Success);
    gate_.banned_ids.insert("bad");
    core_->on_bans_changed(now_);
    auto got = received(a);
    ASSERT_EQ(got.size(), 1U);
    EXPECT_EQ(std::get<codec::Disconnect>(got[0]).reason, ReasonCode::AdministrativeAction);
    EXPECT_TRUE(host_.closed(a.id));
    EXPECT_FALSE(host_.closed(b.id));
}

TEST_F(AbuseTest, CertificateListenerRefusesClientsWithoutOne) {
    shared_.config.listeners[0].auth = config::ListenerAuth::Certificate;
    reconfigure();
    Peer no_cert = open(ProtocolVersion::V5);
    EXPECT_EQ(connect(no_cert, "d1", "user"), ReasonCode::NotAuthorized) << "a password proves nothing here";
    Peer cert = open(ProtocolVersion::V5, "device-7");
    EXPECT_EQ(connect(cert, "d2"), ReasonCode::Success);
}

TEST_F(AbuseTest, PasswordListenerRefusesAnonymousClients) {
    shared_.config.listeners[0].auth = config::ListenerAuth::Password;
    reconfigure();
    Peer anon = open(ProtocolVersion::V3_1_1);
    EXPECT_EQ(connect(anon, "a1"), ReasonCode::NotAuthorized);
    Peer user = open(ProtocolVersion::V3_1_1);
    EXPECT_EQ(connect(user, "a2", "alice"), ReasonCode::Success);
}

}  // namespace
}  // namespace moth::broker
