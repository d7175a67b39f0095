// Sessions that follow their client across a cluster (docs/cluster.md, "Sessions and take-over"), with a fake bus
// and a fake store: a message from another node is acknowledged to the bus only once stored; a persistent session's
// QoS 1/2 subscriptions take their messages from the session's own consumer; a CONNECT for a session this node does
// not hold waits for the cluster's copy and resumes it (Session Present, queue, in-flight, QoS 2 state); a take-over
// elsewhere forgets the session here without erasing the cluster's copy, and answers only once that is durable.
#include "durable_fixture.hpp"
#include "fake_bus.hpp"

namespace moth::broker {
namespace {

using codec::ProtocolVersion;
using codec::QoS;
using codec::ReasonCode;
using test::Peer;

class ClusterDurableCoreTest : public test::DurableCoreTest {
protected:
    ClusterDurableCoreTest() {
        shared_.cluster = &bus_;
        core_ = std::make_unique<Core>(0, shared_, host_);
    }
    static MessagePtr message(std::string topic, QoS qos = QoS::AtLeastOnce) {
        auto m = std::make_shared<Message>();
        m->topic = std::move(topic);
        m->payload = {std::byte{'v'}};
        m->qos = qos;
        m->seal();
        return m;
    }
    // A persistent session subscribed to `filter` at QoS 1, its SUBACK in.
    Peer durable_subscriber(const std::string& client_id, const std::string& filter) {
        Peer s = connect(client_id, false, 3600);
        complete();
        (void)received(s);
        subscribe(s, filter, QoS::AtLeastOnce);
        if (!bus_.subscribed.empty() && bus_.subscribed.back().done) bus_.subscribed.back().done(true);
        if (!bus_.attached.empty() && bus_.attached.back().done) bus_.attached.back().done(true);
        complete();
        EXPECT_EQ(only<codec::Suback>(received(s)).size(), 1U);
        return s;
    }
    // The records another node left in the cluster's copy for "mover": a session subscribed to a/# at QoS 1, a
    // queued QoS 1 message, a QoS 2 one past PUBREC (packet id 9) and an inbound QoS 2 state (packet id 4).
    SessionRecords mover_records() {
        StoreBatch b{now_};
        StoredSession ss;
        ss.client_id = "mover";
        ss.expiry_s = 3600;
        ss.subscriptions.push_back({"a/#", 1, false, false, 0, 0});
        b.put_session(ss);
        StoredDelivery queued;
        queued.seq = make_seq(500, 0);
        queued.message = message("a/queued");
        b.put_delivery("mover", queued);
        StoredDelivery past_pubrec;
        past_pubrec.seq = make_seq(501, 0);
        past_pubrec.message = message("a/exactly", QoS::ExactlyOnce);
        past_pubrec.qos = 2;
        b.put_delivery("mover", past_pubrec);
        b.mark_delivery("mover", past_pubrec.seq, 9, true);
        b.put_incoming("mover", 4);
        std::map<std::string, std::string> sorted;
        for (auto& op : b.take()) sorted[op.key] = op.value;
        return {sorted.begin(), sorted.end()};
    }
    test::FakeBus bus_;
};

TEST_F(ClusterDurableCoreTest, AMessageFromAnotherNodeIsAcknowledgedOnceStored) {
    Peer s = connect("durable", false, 3600);
    complete();
    (void)received(s);
    subscribe(s, "a/#", QoS::AtLeastOnce);
    // A persistent session's QoS 1 subscription: the node's interest for QoS 0 messages, the session's own
    // consumer for the others (it follows the session to another node).
    ASSERT_FALSE(bus_.subscribed.empty());
    EXPECT_EQ(bus_.subscribed.back().qos, QoS::AtMostOnce);
    ASSERT_EQ(bus_.attached.size(), 1U);
    EXPECT_EQ(bus_.attached[0].client_id, "durable");
    EXPECT_EQ(bus_.attached[0].filter, "a/#");
    EXPECT_EQ(bus_.attached[0].expiry_s, 3600U);
    bus_.subscribed.back().done(true);
    complete();
    EXPECT_TRUE(received(s).empty()) << "[MQTT-3.8.4-1]: the SUBACK waits for the session's consumer too";
    bus_.attached[0].done(true);
    complete();
    ASSERT_EQ(only<codec::Suback>(received(s)).size(), 1U);
    std::vector<bool> acks;
    core_->deliver_cluster({message("a/p"), nullptr, [&](bool ok) { acks.push_back(ok); }, "\nn2.1.0", ""}, now_);
    EXPECT_EQ(acks, std::vector<bool>{true});
    EXPECT_TRUE(only<codec::Publish>(received(s)).empty()) << "the node's path does not serve it: its consumer does";
    acks.clear();
    core_->deliver_cluster({message("a/x"), nullptr, [&](bool ok) { acks.push_back(ok); }, "@ss_1\nn2.1.1", "durable"},
                           now_);
    core_->flush();
    EXPECT_TRUE(acks.empty()) << "not before the store has the session's copy";
    EXPECT_TRUE(received(s).empty());
    EXPECT_TRUE(store_.pending_key_starts_with('x')) << "its id is stored with the delivery";
    complete();
    EXPECT_EQ(acks, std::vector<bool>{true});
    EXPECT_EQ(only<codec::Publish>(received(s)).size(), 1U);
    // Once the ack has left, the id goes: a restart now would find none.
    complete();
    EXPECT_TRUE(load_state(store_.backend, now_).cluster_applied.empty());
    core_->deliver_cluster({message("a/y"), nullptr, [&](bool ok) { acks.push_back(ok); }, "@ss_1\nn2.1.2", "durable"},
                           now_);
    complete(false);
    EXPECT_EQ(acks, (std::vector<bool>{true, false})) << "a failed write: the bus redelivers it";
    EXPECT_TRUE(only<codec::Publish>(received(s)).empty());
    core_->deliver_cluster({message("a/z"), nullptr, [&](bool ok) { acks.push_back(ok); }, "@ss_1\nn2.1.3", "gone"},
                           now_);
    EXPECT_EQ(acks, (std::vector<bool>{true, false, false})) << "a session not here: its consumer's next binder gets it";
}

TEST_F(ClusterDurableCoreTest, ALocalQos1PublishReachesAPersistentSessionThroughItsConsumerOnly) {
    Peer s = durable_subscriber("durable", "a/#");
    Peer pub = connect("pub", true, 0);
    complete();
    (void)received(pub);
    publish(pub, "a/x", QoS::AtLeastOnce, 3);
    ASSERT_EQ(bus_.published.size(), 1U);
    bus_.published[0].done(true);
    complete();
    complete();
    EXPECT_EQ(only<codec::Puback>(received(pub)).size(), 1U);
    EXPECT_TRUE(only<codec::Publish>(received(s)).empty()) << "once, through the consumer, not also routed here";
    publish(pub, "a/zero", QoS::AtMostOnce, 0);
    complete();
    EXPECT_EQ(only<codec::Publish>(received(s)).size(), 1U) << "QoS 0 takes the node's path";
}

TEST_F(ClusterDurableCoreTest, AConnectResumesTheSessionFromTheClustersCopy) {
    bus_.records_of["mover"] = mover_records();
    Peer p = connect("mover", false, 3600);
    complete();
    ASSERT_EQ(bus_.taken.size(), 1U);
    EXPECT_TRUE(bus_.taken[0].want_records) << "no Clean Start: the session is wanted";
    const auto got = received(p);
    const auto connacks = only<codec::Connack>(got);
    ASSERT_EQ(connacks.size(), 1U);
    EXPECT_TRUE(connacks[0].session_present) << "[MQTT-3.2.2-2] across nodes";
    // [MQTT-4.4.0-1]: the PUBREL past PUBREC with the packet identifier the client holds, then the queued message.
    const auto pubrels = only<codec::Pubrel>(got);
    ASSERT_EQ(pubrels.size(), 1U);
    EXPECT_EQ(pubrels[0].packet_id, 9U);
    const auto publishes = only<codec::Publish>(got);
    ASSERT_EQ(publishes.size(), 1U);
    EXPECT_EQ(publishes[0].topic, "a/queued");
    EXPECT_TRUE(publishes[0].dup) << "[MQTT-3.3.1-1]: the other node may have sent it";
    ASSERT_EQ(bus_.attached.size(), 1U) << "its subscription binds the session's own consumer here";
    EXPECT_EQ(bus_.attached[0].filter, "a/#");
    EXPECT_GT(shared_.next_seq.load(), 501U) << "this node's next deliveries for it come after those it took";
    // Kept in this node's store too (its session record makes this node the owner in the cluster's copy).
    complete();
    bool stored = false;
    store_.backend.scan([&](std::string_view k, std::string_view) { stored = stored || k == "smover"; });
    EXPECT_TRUE(stored);
    // Its inbound QoS 2 state came along: a resent PUBLISH with packet id 4 is a duplicate, not a new message.
    publish(p, "b/dup", QoS::ExactlyOnce, 4);
    complete();
    EXPECT_TRUE(bus_.published.empty()) << "a duplicate of a QoS 2 message already received elsewhere";
    EXPECT_EQ(only<codec::Pubrec>(received(p)).size(), 1U);
}

TEST_F(ClusterDurableCoreTest, TheConnackWaitsForTheClusterAndIsRefusedWithoutIt) {
    bus_.hold_takes = true;
    Peer p = connect("waiting", false, 3600);
    complete();
    EXPECT_TRUE(received(p).empty()) << "no CONNACK before the session's previous node let go";
    ASSERT_EQ(bus_.taken.size(), 1U);
    bus_.taken[0].done(true, {});
    complete();
    auto ok = only<codec::Connack>(received(p));
    ASSERT_EQ(ok.size(), 1U);
    EXPECT_FALSE(ok[0].session_present) << "nothing anywhere: a new session";
    for (auto v : {ProtocolVersion::V5, ProtocolVersion::V3_1_1}) {
        Peer q = connect(v == ProtocolVersion::V5 ? "refused5" : "refused3", false, 3600, v);
        complete();
        bus_.taken.back().done(false, {});
        complete();
        auto refused = only<codec::Connack>(received(q));
        ASSERT_EQ(refused.size(), 1U);
        // The session may be on another node: refused (5.0 0x88, 3.1.1 return code 3) rather than started empty.
        EXPECT_EQ(refused[0].reason, ReasonCode::ServerUnavailable);
        EXPECT_TRUE(host_.closed(q.id));
    }
}

TEST_F(ClusterDurableCoreTest, ATakeOverElsewhereForgetsTheSessionHereAndAnswersOnceDurable) {
    Peer s = durable_subscriber("durable", "a/#");
    std::optional<bool> released;
    core_->cluster_takeover("durable", "n2", std::numeric_limits<std::int64_t>::max(), now_,
                            [&](bool ok) { released = ok; });
    core_->flush();
    const auto got = received(s);
    ASSERT_EQ(only<codec::Disconnect>(got).size(), 1U);
    EXPECT_EQ(only<codec::Disconnect>(got)[0].reason, ReasonCode::SessionTakenOver);  // [MQTT-3.1.4-3]
    EXPECT_FALSE(released) << "not before this node's last records of it are durable";
    ASSERT_FALSE(store_.pending.empty());
    for (const auto& op : store_.pending.back().ops) {
        EXPECT_TRUE(op.kind == StoreOp::Kind::Forget || op.kind == StoreOp::Kind::ForgetPrefix)
            << "forgotten here, not erased from the cluster's copy: " << op.key;
    }
    ASSERT_FALSE(bus_.detached.empty());
    EXPECT_EQ(bus_.detached.back().filter, "a/#");
    EXPECT_FALSE(bus_.detached.back().remove) << "its consumer stays for the next owner";
    complete();
    ASSERT_TRUE(released.has_value());
    EXPECT_TRUE(*released);
    EXPECT_EQ(core_->session_id("durable"), 0U);
    bool any = false;
    store_.backend.scan([&](std::string_view k, std::string_view) { any = any || k == "sdurable"; });
    EXPECT_FALSE(any);
    // A client this node does not hold: released at once.
    std::optional<bool> nobody;
    core_->cluster_takeover("nobody", "n2", 0, now_, [&](bool ok) { nobody = ok; });
    EXPECT_EQ(nobody, std::optional<bool>(true));
}

TEST_F(ClusterDurableCoreTest, AnEndedSessionRemovesItsConsumer) {
    Peer s = durable_subscriber("durable", "a/#");
    Peer again = connect("durable", true, 0);  // Clean Start here: the session ends
    complete();
    ASSERT_FALSE(bus_.detached.empty());
    EXPECT_EQ(bus_.detached.back().client_id, "durable");
    EXPECT_TRUE(bus_.detached.back().remove);
    (void)s;
    (void)again;
}

}  // namespace
}  // namespace moth::broker
