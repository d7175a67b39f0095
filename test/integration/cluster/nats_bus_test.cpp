// The cluster bus on a real nats-server with JetStream (src/cluster/nats): two or three NatsBus objects, as the
// nodes of one cluster would hold them, exchange messages, retained values, claims and reports.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

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
    void on_takeover(std::string client_id, std::string by, std::int64_t at) override {
        add([&] {
            takeovers.emplace_back(std::move(client_id), std::move(by));
            takeover_times.push_back(at);
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
    std::unique_ptr<broker::ClusterBus> make(const std::string& node, Recorder& events) {
        config::Cluster cfg;
        cfg.enabled = true;
        cfg.servers = {server.url()};
        cfg.node = node;
        cfg.connect_timeout_ms = 5000;
        cfg.ack_timeout_ms = 1500;
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
