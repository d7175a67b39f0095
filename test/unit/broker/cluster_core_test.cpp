// The broker core in a cluster (docs/cluster.md), with a fake bus: a QoS 1/2 PUBLISH is acknowledged only once the
// bus stored it, the node's interest follows its subscriptions (the SUBACK waits for it), messages from other nodes
// reach plain subscriptions or one member of the group they came through, shared subscriptions are not served by a
// local publish (the group's queue on the bus does it), and a take-over elsewhere ends the session here.
#include <map>
#include <tuple>

#include "access_fixture.hpp"
#include "broker/sys_topics.hpp"
#include "fake_bus.hpp"

namespace moth::broker {
namespace {

using codec::ProtocolVersion;
using codec::QoS;
using codec::ReasonCode;
using test::AccessTest;
using test::FakeBus;
using test::Peer;

class ClusterCoreTest : public AccessTest {
protected:
    ClusterCoreTest() {
        shared_.cluster = &bus_;
        core_ = std::make_unique<Core>(0, shared_, host_);  // the core reads Shared::cluster when it is made
    }
    // Subscribes `p` and completes the bus's interest, expecting the SUBACK only then.
    void subscribe(const Peer& p, std::string_view filter, QoS qos, std::uint16_t id = 1) {
        const auto before = bus_.subscribed.size();
        send(p, {subscribe_packet(filter, qos, id)});
        ASSERT_EQ(bus_.subscribed.size(), before + 1);
        EXPECT_TRUE(received(p).empty()) << "[MQTT-3.8.4-1]: no SUBACK before the cluster routes the filter here";
        bus_.subscribed.back().done(true);
        run_posts();
        auto got = received(p);
        ASSERT_EQ(got.size(), 1U);
        EXPECT_TRUE(std::holds_alternative<codec::Suback>(got[0]));
    }
    static MessagePtr message(std::string topic, QoS qos) {
        auto m = std::make_shared<Message>();
        m->topic = std::move(topic);
        m->payload = {std::byte{'r'}};
        m->qos = qos;
        m->seal();
        return m;
    }
    FakeBus bus_;
};

TEST_F(ClusterCoreTest, AQos1PublishIsAcknowledgedOnlyOnceTheClusterStoredIt) {
    Peer sub = connect(ProtocolVersion::V5, "sub", "alice");
    subscribe(sub, "a/t", QoS::AtLeastOnce);
    Peer pub = connect(ProtocolVersion::V5, "pub", "alice");
    send(pub, {publish_packet("a/t", QoS::AtLeastOnce, 7)});
    ASSERT_EQ(bus_.published.size(), 1U);
    EXPECT_EQ(bus_.published[0].message->topic, "a/t");
    EXPECT_TRUE(received(pub).empty()) << "no PUBACK before JetStream confirmed";
    EXPECT_TRUE(received(sub).empty()) << "nor a local delivery: order stays that of the stream";
    bus_.published[0].done(true);
    run_posts();
    auto got = received(pub);
    ASSERT_EQ(got.size(), 1U);
    EXPECT_EQ(std::get<codec::Puback>(got[0]).reason, ReasonCode::Success) << "not 0x10: other nodes may match";
    got = received(sub);
    ASSERT_EQ(got.size(), 1U);
    EXPECT_EQ(std::get<codec::Publish>(got[0]).topic, "a/t");
}

TEST_F(ClusterCoreTest, NotStoredByTheClusterIsRefusedAndNotDelivered) {
    Peer sub = connect(ProtocolVersion::V5, "sub", "alice");
    subscribe(sub, "a/#", QoS::ExactlyOnce);
    Peer v5 = connect(ProtocolVersion::V5, "pub5", "alice");
    send(v5, {publish_packet("a/x", QoS::ExactlyOnce, 3)});
    bus_.published.back().done(false);
    run_posts();
    auto got = received(v5);
    ASSERT_EQ(got.size(), 1U);
    EXPECT_EQ(std::get<codec::Pubrec>(got[0]).reason, ReasonCode::UnspecifiedError);
    EXPECT_TRUE(received(sub).empty());
    // Sent again with the same packet id: a new message, not a duplicate of the refused one.
    send(v5, {publish_packet("a/x", QoS::ExactlyOnce, 3)});
    EXPECT_EQ(bus_.published.size(), 2U);
    // 3.1.1 has no negative acknowledgement: the connection closes, as when a store write fails.
    Peer v3 = connect(ProtocolVersion::V3_1_1, "pub3", "alice");
    send(v3, {publish_packet("a/y", QoS::AtLeastOnce, 4)});
    bus_.published.back().done(false);
    run_posts();
    EXPECT_TRUE(host_.closed(v3.id));
}

TEST_F(ClusterCoreTest, Qos0GoesToTheClusterAndIsDeliveredHereAtOnce) {
    Peer sub = connect(ProtocolVersion::V5, "sub", "alice");
    subscribe(sub, "a/+", QoS::AtMostOnce);
    EXPECT_EQ(bus_.subscribed.back().filter, "a/+");
    EXPECT_EQ(bus_.subscribed.back().qos, QoS::AtMostOnce);
    Peer pub = connect(ProtocolVersion::V5, "pub", "alice");
    send(pub, {publish_packet("a/b", QoS::AtMostOnce)});
    ASSERT_EQ(bus_.published.size(), 1U);
    EXPECT_FALSE(bus_.published[0].done) << "nothing waits for a QoS 0 message";
    EXPECT_EQ(received(sub).size(), 1U);
}

TEST_F(ClusterCoreTest, InterestFollowsTheGrantedQosAndLeavesWithTheSubscription) {
    Peer sub = connect(ProtocolVersion::V5, "sub", "alice");
    subscribe(sub, "a/q", QoS::AtMostOnce);
    subscribe(sub, "a/q", QoS::AtLeastOnce, 2);  // the same filter again with another QoS
    ASSERT_EQ(bus_.unsubscribed.size(), 1U);
    EXPECT_EQ(bus_.unsubscribed[0], (std::pair<std::string, QoS>{"a/q", QoS::AtMostOnce}));
    EXPECT_EQ(bus_.subscribed.back().qos, QoS::AtLeastOnce);
    // The same QoS again asks nothing of the bus (the SUBACK comes at once).
    send(sub, {subscribe_packet("a/q", QoS::AtLeastOnce, 3)});
    EXPECT_EQ(bus_.subscribed.size(), 2U);
    EXPECT_EQ(received(sub).size(), 1U);
    codec::Unsubscribe u;
    u.packet_id = 4;
    std::vector<std::string_view> filters{"a/q"};
    u.filters = filters;
    send(sub, {u});
    ASSERT_EQ(bus_.unsubscribed.size(), 2U);
    EXPECT_EQ(bus_.unsubscribed[1], (std::pair<std::string, QoS>{"a/q", QoS::AtLeastOnce}));
    // A session that ends takes its interest with it.
    Peer other = connect(ProtocolVersion::V5, "other", "alice");
    subscribe(other, "a/z", QoS::ExactlyOnce);
    send(other, {codec::Disconnect{}});
    ASSERT_EQ(bus_.unsubscribed.size(), 3U);
    EXPECT_EQ(bus_.unsubscribed[2].first, "a/z");
}

TEST_F(ClusterCoreTest, MessagesFromOtherNodesReachPlainSubscriptionsOrTheirGroup) {
    Peer plain = connect(ProtocolVersion::V5, "plain", "alice");
    subscribe(plain, "a/m", QoS::AtLeastOnce);
    Peer member = connect(ProtocolVersion::V5, "member", "alice");
    subscribe(member, "$share/g/a/m", QoS::AtLeastOnce);
    int acked = 0;
    core_->deliver_cluster({message("a/m", QoS::AtLeastOnce), nullptr, [&](bool ok) { acked += ok ? 1 : 100; }, "", ""},
                           now_);
    core_->flush();
    EXPECT_EQ(acked, 1);
    EXPECT_EQ(received(plain).size(), 1U);
    EXPECT_TRUE(received(member).empty()) << "the group gets its copy through its queue, not the plain subject";
    auto share = std::make_shared<const std::string>("$share/g/a/m");
    core_->deliver_cluster({message("a/m", QoS::AtLeastOnce), share, nullptr, "", ""}, now_);
    core_->flush();
    EXPECT_EQ(received(member).size(), 1U);
    EXPECT_TRUE(received(plain).empty());
    // [MQTT-4.8.2-?] one delivery per group cluster-wide: a local publish does not serve the local member.
    Peer pub = connect(ProtocolVersion::V5, "pub", "alice");
    send(pub, {publish_packet("a/m", QoS::AtMostOnce)});
    EXPECT_EQ(received(plain).size(), 1U);
    EXPECT_TRUE(received(member).empty());
}

TEST_F(ClusterCoreTest, AConnectClaimsTheClientAndATakeOverElsewhereEndsTheSessionHere) {
    Peer x = connect(ProtocolVersion::V5, "x", "alice");
    ASSERT_EQ(bus_.taken.size(), 1U) << "a client this node does not hold: taken from the cluster before CONNACK";
    EXPECT_EQ(bus_.taken[0].client_id, "x");
    EXPECT_FALSE(bus_.taken[0].want_records) << "Clean Start: its records elsewhere are erased";
    subscribe(x, "a/s", QoS::AtLeastOnce);
    core_->cluster_takeover("x", "n2", bus_.taken[0].at_unix_ms + 1, now_);
    core_->flush();
    auto got = received(x);
    ASSERT_EQ(got.size(), 1U);
    EXPECT_EQ(std::get<codec::Disconnect>(got[0]).reason, ReasonCode::SessionTakenOver);  // [MQTT-3.1.4-3]
    EXPECT_TRUE(host_.closed(x.id));
    EXPECT_EQ(core_->session_id("x"), 0U) << "the session goes on at n2";
    ASSERT_FALSE(bus_.unsubscribed.empty());
    EXPECT_EQ(bus_.unsubscribed.back().first, "a/s");
    core_->cluster_takeover("nobody", "n2", 0, now_);  // a client this node does not hold: nothing happens
}

TEST_F(ClusterCoreTest, CrossedClaimsKeepTheLaterConnection) {
    // [MQTT-3.1.4-3] across nodes: the claim of an earlier connection elsewhere, arriving late, must not end the
    // connection made here after it; both nodes compare (time, node name) alike, so exactly one connection stays.
    Peer x = connect(ProtocolVersion::V5, "x", "alice");
    ASSERT_EQ(bus_.taken.size(), 1U);
    const auto at = bus_.taken[0].at_unix_ms;
    ASSERT_GT(at, 0);
    core_->cluster_takeover("x", "n0", at - 1, now_);  // earlier elsewhere
    core_->cluster_takeover("x", "m9", at, now_);      // same millisecond, smaller node name than "n1"
    core_->flush();
    EXPECT_TRUE(received(x).empty());
    EXPECT_FALSE(host_.closed(x.id));
    core_->cluster_takeover("x", "n2", at, now_);  // same millisecond, greater node name: that one stays
    core_->flush();
    EXPECT_TRUE(host_.closed(x.id));
}

TEST_F(ClusterCoreTest, WorkerZeroReportsTheNode) {
    core_->on_tick(now_ + std::chrono::seconds(10));
    ASSERT_EQ(bus_.reports.size(), 1U);
    EXPECT_EQ(bus_.reports[0].node, "n1");
    core_->on_tick(now_ + std::chrono::seconds(11));
    EXPECT_EQ(bus_.reports.size(), 1U) << "every report_interval_s, not every tick";
}

TEST(ClusterSysTopics, NameTheNodeAndAddUpTheNodesAlive) {
    SysInputs in;
    ClusterStatus c;
    c.node = "n1";
    c.connected = true;
    for (const auto& [name, alive, clients] : {std::tuple{"n1", true, 3}, {"n2", true, 4}, {"n3", false, 100}}) {
        ClusterNodeInfo n;
        n.report.node = name;
        n.report.connections = static_cast<std::uint64_t>(clients);
        n.alive = alive;
        c.nodes.push_back(n);
    }
    in.cluster = c;
    SysTopics sys;
    std::map<std::string, std::string> got;
    for (auto& [k, v] : sys.update(in, TimePoint{})) got[k] = v;
    EXPECT_EQ(got["$SYS/broker/node"], "n1");
    EXPECT_EQ(got["$SYS/broker/cluster/link"], "connected");
    EXPECT_EQ(got["$SYS/broker/cluster/nodes"], "2");
    EXPECT_EQ(got["$SYS/broker/cluster/clients/connected"], "7") << "a node that stopped reporting is not counted";
    EXPECT_EQ(got["$SYS/broker/cluster/nodes/n3/state"], "down");
    // Alone, none of them.
    SysTopics alone;
    for (auto& [k, v] : alone.update(SysInputs{}, TimePoint{})) EXPECT_FALSE(k.starts_with("$SYS/broker/cluster")) << k;
}

}  // namespace
}  // namespace moth::broker
