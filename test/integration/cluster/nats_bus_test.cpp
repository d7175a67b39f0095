// The cluster bus on a real nats-server with JetStream (src/cluster/nats): two or three NatsBus objects, as the
// nodes of one cluster would hold them, exchange messages, retained values, claims and reports.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "broker/store.hpp"
#include "cluster/nats_bus.hpp"
#include "support/nats_server.hpp"

namespace moth::cluster {
namespace {

using namespace std::chrono_literals;
using broker::ClusterDelivery;
using codec::QoS;

// Records what a bus reports; every wait is a condition wait with a deadline.
class Recorder final : public broker::ClusterEvents {
public:
    void on_message(ClusterDelivery d) override { add([&] { messages.push_back(std::move(d)); }); }
    void on_retained(std::string topic, broker::MessagePtr m) override {
        add([&] { retained.emplace_back(std::move(topic), std::move(m)); });
    }
    void on_takeover(std::string client_id, std::string by, std::int64_t at,
                     std::function<void(bool)> release) override {
        // A node that holds nothing lets go at once, as the core does for a session it does not have.
        if (release && auto_release) release(true);
        add([&] {
            takeovers.emplace_back(std::move(client_id), std::move(by));
            takeover_times.push_back(at);
            releases.push_back(std::move(release));
        });
    }
    void on_link(bool, std::string) override {}

    template <typename P>
    bool wait(P pred, std::chrono::milliseconds limit = 10s) {
        std::unique_lock lock(mu);
        return cv.wait_for(lock, limit, [&] { return pred(); });
    }
    std::vector<std::string> topics() {
        std::lock_guard lock(mu);
        std::vector<std::string> t;
        for (const auto& d : messages) t.push_back(d.message->topic);
        return t;
    }
    std::size_t count() {
        std::lock_guard lock(mu);
        return messages.size();
    }

    std::mutex mu;
    std::condition_variable cv;
    std::vector<ClusterDelivery> messages;
    std::vector<std::pair<std::string, broker::MessagePtr>> retained;
    std::vector<std::pair<std::string, std::string>> takeovers;
    std::vector<std::int64_t> takeover_times;
    std::vector<std::function<void(bool)>> releases;  // per takeover: null for a claim, set for a release request
    bool auto_release = true;

private:
    template <typename F>
    void add(F f) {
        std::lock_guard lock(mu);
        f();
        cv.notify_all();
    }
};

// For figures nothing signals (status counters): look again every 20 ms until `pred` holds or 10 s passed.
template <typename P>
bool eventually(P pred) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!pred()) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(20ms);
    }
    return true;
}

// A `Done` whose outcome a test waits for.
struct Outcome {
    std::mutex mu;
    std::condition_variable cv;
    std::optional<bool> ok;
    broker::ClusterBus::Done fn() {
        return [this](bool v) {
            std::lock_guard lock(mu);
            ok = v;
            cv.notify_all();
        };
    }
    std::optional<bool> get(std::chrono::milliseconds limit = 10s) {
        std::unique_lock lock(mu);
        cv.wait_for(lock, limit, [&] { return ok.has_value(); });
        return ok;
    }
};

broker::MessagePtr msg(std::string topic, std::string payload, QoS qos = QoS::AtMostOnce, bool retain = false) {
    auto m = std::make_shared<broker::Message>();
    m->topic = std::move(topic);
    for (const char c : payload) m->payload.push_back(static_cast<std::byte>(c));
    m->qos = qos;
    m->retain = retain;
    m->seal();
    return m;
}

class NatsBusTest : public ::testing::Test {
protected:
    std::unique_ptr<broker::ClusterBus> make(const std::string& node, Recorder& events,
                                             std::uint32_t ack_timeout_ms = 1500) {
        config::Cluster cfg;
        cfg.enabled = true;
        cfg.servers = {server.url()};
        cfg.node = node;
        cfg.connect_timeout_ms = 5000;
        cfg.ack_timeout_ms = ack_timeout_ms;
        auto bus = make_nats_bus(cfg, "test", [](int, const std::string&) {});
        bus->start(events);
        return bus;
    }
    static void sub(broker::ClusterBus& bus, const std::string& filter, QoS qos) {
        Outcome o;
        bus.subscribe(filter, qos, o.fn());
        ASSERT_EQ(o.get(), true) << filter;
    }
    static void pub(broker::ClusterBus& bus, broker::MessagePtr m) {
        Outcome o;
        bus.publish(m, o.fn());
        ASSERT_EQ(o.get(), true) << m->topic;
    }

    test::NatsServer server;
    Recorder ea, eb;
};

TEST_F(NatsBusTest, DeliversOnlyWhereInterestIsAndNeverBackToThePublisher) {
    auto a = make("a", ea);
    auto b = make("b", eb);
    sub(*a, "t/+", QoS::AtMostOnce);
    sub(*b, "t/+", QoS::AtMostOnce);
    pub(*b, msg("u/1", "no one wants it"));
    pub(*b, msg("t/1", "zero"));
    pub(*b, msg("t/2", "one", QoS::AtLeastOnce));
    ASSERT_TRUE(ea.wait([&] { return ea.messages.size() >= 2; }));
    // A marker from a that b does want: once it is there, b's own messages would have been there before it.
    pub(*a, msg("t/marker", "m"));
    ASSERT_TRUE(eb.wait([&] { return !eb.messages.empty(); }));
    EXPECT_EQ(eb.topics(), std::vector<std::string>{"t/marker"});
    auto got = ea.topics();
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, (std::vector<std::string>{"t/1", "t/2"}));
    std::lock_guard lock(ea.mu);
    for (const auto& d : ea.messages) {
        EXPECT_EQ(d.share, nullptr);
        // QoS 0 interest takes QoS 1 messages at most once (no consumer): a QoS 1 copy's ack only tells the bus
        // that it is routed, for a consumer copy that may come by an overlapping QoS>0 filter.
        EXPECT_EQ(d.ack == nullptr, d.message->qos == QoS::AtMostOnce) << d.message->topic;
    }
}

TEST_F(NatsBusTest, ACopyByTheQos0PathHoldsBackTheConsumersCopy) {
    // a/+ at QoS 0 (core subscription on the q1 subject) overlaps a/b at QoS 1 (a consumer): whichever copy comes
    // first is delivered; refused, the message comes again (the consumer's copy is not acknowledged behind its back).
    auto a = make("a", ea);
    auto b = make("b", eb);
    sub(*a, "o/+", QoS::AtMostOnce);
    sub(*a, "o/b", QoS::AtLeastOnce);
    pub(*b, msg("o/b", "once", QoS::AtLeastOnce));
    ASSERT_TRUE(ea.wait([&] { return !ea.messages.empty(); }));
    ClusterDelivery first;
    {
        std::lock_guard lock(ea.mu);
        first = ea.messages.front();
    }
    ASSERT_NE(first.ack, nullptr);
    first.ack(false);  // not routed here (a store write failed, say)
    ASSERT_TRUE(ea.wait([&] { return ea.messages.size() >= 2; }, 60s)) << "refused: delivered again";
    ClusterDelivery again;
    {
        std::lock_guard lock(ea.mu);
        again = ea.messages[1];
    }
    EXPECT_EQ(again.message->topic, "o/b");
    ASSERT_NE(again.ack, nullptr);
    again.ack(true);
    // A marker after it: once the marker is here, a third copy would have been too.
    pub(*b, msg("o/marker", "m"));
    ASSERT_TRUE(ea.wait([&] { return !ea.messages.empty() && ea.messages.back().message->topic == "o/marker"; }));
    auto topics = ea.topics();
    EXPECT_EQ(std::count(topics.begin(), topics.end(), "o/b"), 2);
}

TEST_F(NatsBusTest, QoS1InterestGoesThroughAConsumerAndOverlapsDeliverOnce) {
    auto a = make("a", ea);
    auto b = make("b", eb);
    sub(*a, "q/#", QoS::AtLeastOnce);
    sub(*a, "q/+", QoS::AtLeastOnce);
    pub(*b, msg("q/x", "payload", QoS::AtLeastOnce));
    ASSERT_TRUE(ea.wait([&] { return !ea.messages.empty(); }));
    ClusterDelivery d;
    {
        std::lock_guard lock(ea.mu);
        d = ea.messages.front();
    }
    ASSERT_NE(d.ack, nullptr);
    EXPECT_EQ(d.message->qos, QoS::AtLeastOnce);
    d.ack(true);
    // The second consumer's copy is a duplicate, not a second delivery.
    ASSERT_TRUE(eventually([&] { return a->status().duplicates >= 1; }));
    EXPECT_EQ(ea.count(), 1u);
    EXPECT_EQ(a->status().received, 1u);
}

TEST_F(NatsBusTest, WildcardsMatchEmptyLevelsAndEscapedBytes) {
    auto a = make("a", ea);
    auto b = make("b", eb);
    sub(*a, "m/+/z", QoS::AtMostOnce);  // '+' matches an empty level (MQTT-4.7.1-3)
    sub(*a, "n/#", QoS::AtMostOnce);    // and "n/#" matches its parent "n" (MQTT-4.7.1-2)
    const std::vector<std::string> wanted{"m//z", "m/a.b/z", "n", "n/ x/*/>/~", "n//"};
    for (const auto& t : wanted) pub(*b, msg(t, "x"));
    pub(*b, msg("m/a/b/z", "not matched"));
    pub(*b, msg("m/a.b", "not matched"));
    pub(*b, msg("n/end", "x"));
    ASSERT_TRUE(ea.wait([&] { return ea.messages.size() >= wanted.size() + 1; }));
    auto got = ea.topics();
    std::sort(got.begin(), got.end());
    auto expected = wanted;
    expected.push_back("n/end");
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(got, expected);
}

TEST_F(NatsBusTest, ASharedGroupGetsEachMessageOnce) {
    Recorder ec;
    auto a = make("a", ea);
    auto b = make("b", eb);
    auto c = make("c", ec);
    for (auto* bus : {a.get(), b.get()}) sub(*bus, "$share/g/s/#", QoS::AtLeastOnce);
    constexpr int kN = 20;
    for (int i = 0; i < kN; ++i) pub(*c, msg("s/" + std::to_string(i), "x", QoS::AtLeastOnce));
    auto total = [&] { return ea.count() + eb.count(); };
    // Two recorders: wait on each in turn, short slices, until the sum is there or the deadline passed.
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (total() < kN && std::chrono::steady_clock::now() < deadline) {
        (void)eb.wait([&] { return eb.messages.size() + ea.count() >= kN; }, 50ms);
    }
    ASSERT_EQ(total(), static_cast<std::size_t>(kN));
    std::set<std::string> seen;
    for (auto* e : {&ea, &eb}) {
        std::lock_guard lock(e->mu);
        for (auto& d : e->messages) {
            ASSERT_NE(d.share, nullptr);
            EXPECT_EQ(*d.share, "$share/g/s/#");
            EXPECT_TRUE(seen.insert(d.message->topic).second) << d.message->topic << " twice";
            d.ack(true);
        }
    }
    EXPECT_EQ(seen.size(), static_cast<std::size_t>(kN));
}

TEST_F(NatsBusTest, RetainedValuesReachEveryWatcherAndClear) {
    auto a = make("a", ea);
    auto b = make("b", eb);
    pub(*a, msg("r/1", "kept", QoS::AtLeastOnce, true));
    ASSERT_TRUE(eb.wait([&] { return !eb.retained.empty(); }));
    {
        std::lock_guard lock(eb.mu);
        EXPECT_EQ(eb.retained[0].first, "r/1");
        ASSERT_NE(eb.retained[0].second, nullptr);
        EXPECT_EQ(eb.retained[0].second->payload.size(), 4u);
    }
    pub(*a, msg("r/1", "", QoS::AtMostOnce, true));  // an empty retained payload clears it
    ASSERT_TRUE(eb.wait([&] { return eb.retained.size() >= 2; }));
    std::lock_guard lock(eb.mu);
    EXPECT_EQ(eb.retained[1].first, "r/1");
    EXPECT_EQ(eb.retained[1].second, nullptr);
}

TEST_F(NatsBusTest, ClaimsAndReportsReachTheOtherNode) {
    auto a = make("a", ea);
    auto b = make("b", eb);
    Outcome o;
    a->claim("device-1", 1'765'000'000'123, o.fn());
    ASSERT_EQ(o.get(), true);
    ASSERT_TRUE(eb.wait([&] { return !eb.takeovers.empty(); }));
    {
        std::lock_guard lock(eb.mu);
        EXPECT_EQ(eb.takeovers[0], (std::pair<std::string, std::string>{"device-1", "a"}));
        EXPECT_EQ(eb.takeover_times[0], 1'765'000'000'123) << "the time of the claim travels with it";
        EXPECT_EQ(eb.releases[0], nullptr) << "a claim waits for no answer";
    }
    broker::NodeReport r;
    r.connections = 7;
    a->report(r);
    auto heard = [&] {
        for (const auto& n : b->status().nodes)
            if (n.report.node == "a" && n.alive && n.report.connections == 7) return true;
        return false;
    };
    ASSERT_TRUE(eventually(heard));
    std::lock_guard lock(ea.mu);
    EXPECT_TRUE(ea.takeovers.empty());  // a node does not take over from itself
}

TEST_F(NatsBusTest, QoS1MessagesWaitForARestartedNode) {
    auto a = make("a", ea);
    {
        auto b = make("b", eb);
        sub(*b, "d/#", QoS::AtLeastOnce);
        b->stop();
    }
    pub(*a, msg("d/1", "while b was away", QoS::AtLeastOnce));
    Recorder eb2;
    auto b = make("b", eb2);
    sub(*b, "d/#", QoS::AtLeastOnce);
    ASSERT_TRUE(eb2.wait([&] { return !eb2.messages.empty(); }));
    EXPECT_EQ(eb2.topics(), std::vector<std::string>{"d/1"});
}

TEST_F(NatsBusTest, PublishFailsWhenJetStreamIsGone) {
    auto a = make("a", ea);
    server.kill();
    Outcome o;
    a->publish(msg("x/1", "lost", QoS::AtLeastOnce), o.fn());
    EXPECT_EQ(o.get(5s), false);
    EXPECT_GE(a->status().publish_failures, 1u);
}

// ---- Persistent sessions: the cluster's copy (replica, take) and a session's own consumers (attach) -------------

using broker::SessionRecords;
using broker::StoreOp;

std::int64_t unix_ms_now() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// A `Taken` whose outcome a test waits for; `on_done` runs inside it (to see what had happened by then).
struct TakeOutcome {
    std::mutex mu;
    std::condition_variable cv;
    std::optional<bool> ok;
    SessionRecords records;
    std::function<void()> on_done;
    broker::ClusterBus::Taken fn() {
        return [this](bool v, SessionRecords r) {
            std::lock_guard lock(mu);
            if (on_done) on_done();
            records = std::move(r);
            ok = v;
            cv.notify_all();
        };
    }
    std::optional<bool> get(std::chrono::milliseconds limit = 10s) {
        std::unique_lock lock(mu);
        cv.wait_for(lock, limit, [&] { return ok.has_value(); });
        return ok;
    }
};

// What the store keeps of one persistent session: session (with `filters` at QoS 1), two queued deliveries, a QoS 2
// mark, an inbound QoS 2 packet id and a will.
std::vector<StoreOp> a_session(const std::string& client, const std::vector<std::string>& filters = {}) {
    broker::StoreBatch b(broker::Clock::now());
    broker::StoredSession s;
    s.client_id = client;
    s.expiry_s = 3600;
    for (const auto& f : filters) s.subscriptions.push_back({f, 1, false, false, 0, 0});
    b.put_session(s);
    for (std::uint64_t n : {1ULL, 2ULL}) {
        broker::StoredDelivery d;
        d.seq = broker::make_seq(n, 0);
        d.message = msg("t/" + std::to_string(n), "queued " + std::to_string(n), QoS::AtLeastOnce);
        b.put_delivery(client, d);
    }
    b.mark_delivery(client, broker::make_seq(1, 0), 7, true);
    b.put_incoming(client, 9);
    broker::StoredWillRecord w;
    w.message = msg("will/" + client, "gone");
    b.put_will(client, w);
    return b.take();
}

// The records a set of puts leaves, as take() returns them: in key order.
SessionRecords records_of(const std::vector<StoreOp>& ops) {
    std::map<std::string, std::string> m;
    for (const auto& op : ops) {
        if (op.kind == StoreOp::Kind::Put) m[op.key] = op.value;
    }
    return {m.begin(), m.end()};
}

bool write(broker::ClusterBus& bus, const std::vector<StoreOp>& ops) {
    if (bus.replica() == nullptr) return false;
    return bus.replica()->write({&ops});
}

SessionRecords take(broker::ClusterBus& bus, const std::string& client, bool want_records = true) {
    TakeOutcome o;
    bus.take(client, unix_ms_now(), want_records, o.fn());
    EXPECT_EQ(o.get(), true) << "take " << client;
    std::lock_guard lock(o.mu);
    return o.records;
}

void attach(broker::ClusterBus& bus, const std::string& client, const std::string& filter) {
    Outcome o;
    bus.attach(client, filter, 3600, o.fn());
    ASSERT_EQ(o.get(), true) << client << " " << filter;
}

// attach and detach run on the bus's work queue in order: once a later subscribe is done, they have run.
void barrier(broker::ClusterBus& bus) {
    Outcome o;
    bus.subscribe("barrier/none", QoS::AtMostOnce, o.fn());
    ASSERT_EQ(o.get(), true);
}

TEST_F(NatsBusTest, ReplicaWritesAndTakeReadsTheRecordsBackInKeyOrder) {
    auto a = make("a", ea);
    auto b = make("b", eb);
    ASSERT_NE(a->replica(), nullptr);
    const auto ops = a_session("dev-1");
    ASSERT_TRUE(write(*a, ops));
    auto want = records_of(ops);
    ASSERT_EQ(want.size(), 6u);
    EXPECT_EQ(take(*b, "dev-1"), want);

    // One delivery erased: its q and p records go.
    broker::StoreBatch one(broker::Clock::now());
    one.erase_delivery("dev-1", broker::make_seq(1, 0));
    auto erased = one.take();
    ASSERT_TRUE(write(*a, erased));
    std::erase_if(want, [&](const auto& r) {
        return std::any_of(erased.begin(), erased.end(), [&](const StoreOp& op) { return op.key == r.first; });
    });
    ASSERT_EQ(want.size(), 4u);
    EXPECT_EQ(take(*b, "dev-1"), want);

    // Every inbound QoS 2 state of the client: a prefix.
    const std::string incoming = broker::make_client_key({'i', "dev-1", {}, true});
    ASSERT_TRUE(write(*a, {{StoreOp::Kind::ErasePrefix, incoming, {}}}));
    std::erase_if(want, [&](const auto& r) { return r.first.starts_with(incoming); });
    ASSERT_EQ(want.size(), 3u);
    EXPECT_EQ(take(*b, "dev-1"), want);

    // Forget is this node's own: the cluster's copy keeps the session.
    broker::StoreBatch forget(broker::Clock::now());
    forget.forget_session("dev-1");
    ASSERT_TRUE(write(*a, forget.take()));
    EXPECT_EQ(take(*b, "dev-1"), want);

    // Erasing the session erases all of it.
    broker::StoreBatch gone(broker::Clock::now());
    gone.erase_session("dev-1");
    ASSERT_TRUE(write(*a, gone.take()));
    EXPECT_TRUE(take(*b, "dev-1").empty());
    // Written again after an erase within one write: the later puts stay.
    broker::StoreBatch again(broker::Clock::now());
    again.erase_session("dev-1");
    auto both = again.take();
    const auto fresh = a_session("dev-1");
    both.insert(both.end(), fresh.begin(), fresh.end());
    ASSERT_TRUE(write(*a, both));
    EXPECT_EQ(take(*b, "dev-1"), records_of(fresh));
}

TEST_F(NatsBusTest, BridgesAndOtherRecordsAreNotReplicatedAndNeedNoNats) {
    auto a = make("a", ea);
    auto b = make("b", eb);
    ASSERT_TRUE(write(*a, a_session("$bridge/up")));
    EXPECT_TRUE(take(*b, "$bridge/up").empty());
    server.kill();
    broker::StoreBatch local(broker::Clock::now());
    local.put_totals({});
    local.put_applied("\nn.1.2");  // a plain path's id: this node's own
    local.forget_session("dev-9");
    local.put_retained(*msg("r/1", "x"));
    EXPECT_TRUE(write(*a, local.take())) << "nothing to replicate: true without NATS";
    EXPECT_FALSE(write(*a, a_session("dev-9"))) << "NATS gone: the group fails";
}

TEST_F(NatsBusTest, TakeWaitsForTheOwnerToLetGo) {
    auto a = make("a", ea, 5000);
    auto b = make("b", eb, 5000);
    ea.auto_release = false;
    const auto ops = a_session("dev-2");
    ASSERT_TRUE(write(*a, ops));
    std::atomic<bool> released{false};
    bool released_first = false;
    TakeOutcome o;
    o.on_done = [&] { released_first = released.load(); };
    b->take("dev-2", 1'765'000'000'456, true, o.fn());
    std::function<void(bool)> release;
    ASSERT_TRUE(ea.wait([&] {
        for (std::size_t i = 0; i < ea.releases.size(); ++i) {
            if (!ea.releases[i]) continue;
            EXPECT_EQ(ea.takeovers[i], (std::pair<std::string, std::string>{"dev-2", "b"}));
            EXPECT_EQ(ea.takeover_times[i], 1'765'000'000'456);
            release = ea.releases[i];
            return true;
        }
        return false;
    }));
    EXPECT_FALSE(o.get(300ms).has_value()) << "the take waits for the owner's answer";
    released = true;
    release(true);
    ASSERT_EQ(o.get(), true);
    EXPECT_TRUE(released_first);
    {
        std::lock_guard lock(o.mu);
        EXPECT_EQ(o.records, records_of(ops));
    }
    release(true);  // a second call is ignored
    // The claim went out too (no answer asked): the owner saw both.
    ASSERT_TRUE(ea.wait([&] { return ea.takeovers.size() >= 2; }));
}

TEST_F(NatsBusTest, TakeGoesOnAtOnceWhenTheOwnerIsGone) {
    auto a = make("a", ea, 5000);
    auto b = make("b", eb, 5000);
    const auto ops = a_session("dev-3");
    ASSERT_TRUE(write(*a, ops));
    a->stop();
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(take(*b, "dev-3"), records_of(ops));
    EXPECT_LT(std::chrono::steady_clock::now() - start, 2500ms) << "no responders: not the 5 s ack timeout";
}

TEST_F(NatsBusTest, AReleaseAfterTheOwnerStoppedGoesNowhereAndTheTakeGoesOn) {
    auto a = make("a", ea);
    auto b = make("b", eb);
    ea.auto_release = false;
    ASSERT_TRUE(write(*a, a_session("dev-4")));
    TakeOutcome o;
    b->take("dev-4", unix_ms_now(), true, o.fn());
    std::function<void(bool)> release;
    ASSERT_TRUE(ea.wait([&] {
        for (const auto& r : ea.releases) {
            if (r) release = r;
        }
        return release != nullptr;
    }));
    a->stop();
    release(true);  // late, after stop: nothing to answer with, nothing touched
    EXPECT_EQ(o.get(), true) << "no answer: the take goes on after ack_timeout_ms";
}

TEST_F(NatsBusTest, TakeWithoutRecordsErasesThemAndTheOldSessionsConsumers) {
    Recorder ec;
    auto a = make("a", ea);
    auto b = make("b", eb);
    auto c = make("c", ec);
    ASSERT_TRUE(write(*a, a_session("dev-5", {"f/#"})));
    attach(*a, "dev-5", "f/#");
    a->detach("dev-5", "f/#", false);
    barrier(*a);
    pub(*c, msg("f/old", "kept for the old session", QoS::AtLeastOnce));
    EXPECT_TRUE(take(*b, "dev-5", false).empty());
    EXPECT_TRUE(take(*b, "dev-5").empty()) << "the records are gone";
    attach(*b, "dev-5", "f/#");  // a new consumer: what the old one kept is not this session's
    pub(*c, msg("f/new", "for the new session", QoS::AtLeastOnce));
    ASSERT_TRUE(eb.wait([&] { return !eb.messages.empty(); }));
    EXPECT_EQ(eb.topics(), std::vector<std::string>{"f/new"});
}

TEST_F(NatsBusTest, ASessionsConsumerKeepsWhatArrivesUntilTheNextOwnerBindsIt) {
    Recorder ec;
    auto b = make("b", eb);
    auto c = make("c", ec);
    {
        auto a = make("a", ea);
        attach(*a, "dev-6", "s/#");
        a->stop();  // unbinds, deletes nothing
    }
    pub(*c, msg("s/1", "while no node held the session", QoS::AtLeastOnce));
    attach(*b, "dev-6", "s/#");
    ASSERT_TRUE(eb.wait([&] { return !eb.messages.empty(); }));
    // This node's own message comes too, with the session that published it (No Local).
    auto own = std::make_shared<broker::Message>();
    own->topic = "s/2";
    own->qos = QoS::AtLeastOnce;
    own->origin_session = 42;
    own->seal();
    pub(*b, own);
    ASSERT_TRUE(eb.wait([&] { return eb.messages.size() >= 2; }));
    std::lock_guard lock(eb.mu);
    ASSERT_EQ(eb.messages.size(), 2u);
    const auto& first = eb.messages[0];
    EXPECT_EQ(first.message->topic, "s/1");
    EXPECT_EQ(first.client, "dev-6");
    EXPECT_EQ(first.share, nullptr);
    EXPECT_TRUE(first.id.starts_with("@ss_")) << first.id;
    EXPECT_EQ(first.message->origin_session, 0u);
    const auto& second = eb.messages[1];
    EXPECT_EQ(second.message->topic, "s/2");
    EXPECT_EQ(second.client, "dev-6");
    EXPECT_EQ(second.message->origin_session, 42u);
    for (auto& d : eb.messages) {
        ASSERT_NE(d.ack, nullptr);
        d.ack(true);
    }
}

TEST_F(NatsBusTest, AnAppliedIdMakesTheRedeliveryADuplicateOnTheNextOwner) {
    Recorder ec;
    auto a = make("a", ea);
    auto b = make("b", eb);
    auto c = make("c", ec);
    attach(*a, "dev-7", "d/#");
    pub(*c, msg("d/1", "applied on a", QoS::AtLeastOnce));
    ASSERT_TRUE(ea.wait([&] { return !ea.messages.empty(); }));
    ClusterDelivery d;
    {
        std::lock_guard lock(ea.mu);
        d = ea.messages.front();
    }
    EXPECT_EQ(d.client, "dev-7");
    ASSERT_TRUE(d.id.starts_with("@ss_")) << d.id;
    // The core stored its deliveries with the id (replicated) and lost the session before the ack left.
    broker::StoreBatch applied(broker::Clock::now());
    applied.put_applied(d.id);
    ASSERT_TRUE(write(*a, applied.take()));
    a->detach("dev-7", "d/#", false);
    barrier(*a);
    d.ack(false);  // refused: JetStream redelivers to the next binder at once
    attach(*b, "dev-7", "d/#");
    ASSERT_TRUE(eventually([&] { return b->status().duplicates >= 1; }));
    pub(*c, msg("d/2", "after", QoS::AtLeastOnce));
    ASSERT_TRUE(eb.wait([&] { return !eb.messages.empty(); }));
    EXPECT_EQ(eb.topics(), std::vector<std::string>{"d/2"});
}

TEST_F(NatsBusTest, AttachIsCountedAndDetachWithRemoveDeletesTheConsumers) {
    Recorder ec;
    auto a = make("a", ea);
    auto b = make("b", eb);
    auto c = make("c", ec);
    attach(*a, "dev-8", "g/#");
    attach(*a, "dev-8", "g/#");
    a->detach("dev-8", "g/#", true);  // one of two: still bound, nothing deleted
    barrier(*a);
    pub(*c, msg("g/1", "still bound", QoS::AtLeastOnce));
    ASSERT_TRUE(ea.wait([&] { return !ea.messages.empty(); }));
    {
        std::lock_guard lock(ea.mu);
        ea.messages.front().ack(true);
    }
    a->detach("dev-8", "g/#", true);  // the last: unbound and deleted
    barrier(*a);
    pub(*c, msg("g/2", "nobody's", QoS::AtLeastOnce));
    attach(*b, "dev-8", "g/#");  // created anew: new messages only
    pub(*c, msg("g/3", "for the new consumer", QoS::AtLeastOnce));
    ASSERT_TRUE(eb.wait([&] { return !eb.messages.empty(); }));
    EXPECT_EQ(eb.topics(), std::vector<std::string>{"g/3"});
    EXPECT_EQ(ea.count(), 1u);
}

TEST_F(NatsBusTest, NotOwnedNamesTheSessionsThatMovedToAnotherNode) {
    auto a = make("a", ea);
    auto b = make("b", eb);
    ASSERT_TRUE(write(*a, a_session("m1")));
    ASSERT_TRUE(write(*a, a_session("m2")));
    ASSERT_TRUE(write(*b, a_session("m2")));  // m2 moved to b
    EXPECT_EQ(a->not_owned({"m1", "m2", "m3", "$bridge/x"}), std::vector<std::string>{"m2"});
    EXPECT_EQ(b->not_owned({"m1", "m2"}), std::vector<std::string>{"m1"});
    EXPECT_TRUE(b->not_owned({}).empty());
}

TEST(NatsBusStart, ThrowsWhenNoServerAnswers) {
    config::Cluster cfg;
    cfg.servers = {"nats://127.0.0.1:1"};
    cfg.node = "lonely";
    cfg.connect_timeout_ms = 500;
    Recorder e;
    auto bus = make_nats_bus(cfg, "test", {});
    EXPECT_THROW(bus->start(e), std::runtime_error);
}

}  // namespace
}  // namespace moth::cluster
