// Several cores, as mothd runs one per worker, on the test's thread (MultiCoreHarness): what a core posts to another
// stays in its host until the test runs it, so the test decides when each worker takes in a subscription change.
// SUBACK and UNSUBACK must wait until every worker has it (docs/architecture.md, "SUBACK and UNSUBACK after every
// worker"), and for the store too when a durable session's acknowledgements wait for it.
#include <gtest/gtest.h>

#include <deque>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "broker/core.hpp"
#include "codec/packets.hpp"
#include "fake_store.hpp"
#include "multi_core_harness.hpp"

namespace moth::broker {
namespace {

using codec::ProtocolVersion;
using codec::QoS;
using codec::ReasonCode;

using test::FakeStore;
using test::MultiCoreHarness;

constexpr unsigned kWorkers = 3;

class MultiWorkerCoreTest : public ::testing::Test {
protected:
    explicit MultiWorkerCoreTest(FakeStore* store = nullptr)
        : store_(store), h_(kWorkers, config::default_config(), store) {}

    using Client = MultiCoreHarness::Client;
    using Flush = MultiCoreHarness::Flush;

    std::size_t run_posts_to(unsigned worker) { return h_.run_posts_to(worker); }
    void run_all_posts() { h_.run_until_idle(); }

    // A client whose id `worker` owns, connected there (so it stays), with a 5.0 session expiry of `expiry`.
    Client connect(unsigned worker, std::string_view prefix, std::uint32_t expiry = 0) {
        auto options = MultiCoreHarness::ConnectOptions::at(worker);
        if (expiry != 0) {
            options.clean_start = false;
            options.session_expiry_s = expiry;
        }
        const Client c = h_.connect(h_.id_on(worker, prefix), ProtocolVersion::V5, options);
        if (store_ != nullptr) complete_store();  // a persistent session's CONNACK waits for it
        auto got = h_.received(c);
        EXPECT_EQ(got.size(), 1U);
        if (!got.empty()) {
            EXPECT_TRUE(std::holds_alternative<codec::Connack>(got[0]));
        }
        return c;
    }

    void send(Client c, const codec::Packet& packet) { h_.send(c, packet); }
    void subscribe(Client c, std::uint16_t packet_id, std::string_view filter) { h_.subscribe(c, packet_id, filter); }
    void unsubscribe(Client c, std::uint16_t packet_id, std::string_view filter) {
        h_.unsubscribe(c, packet_id, filter);
    }
    // `flush` false leaves what the core batched for other workers (deliveries) unposted, as within a loop turn.
    void publish(Client c, std::string_view topic, bool flush = true) {
        h_.publish(c, topic, "x", QoS::AtMostOnce, 0, flush ? Flush::Yes : Flush::No);
    }
    std::vector<codec::Packet> received(Client c) { return h_.received(c); }
    // The kinds of packet `c` received, in order: "SUBACK", "UNSUBACK", "PUBLISH t/a", ...
    std::vector<std::string> kinds(Client c) { return h_.kinds(c); }
    // Whether the core of `c` has paused its input (a SUBACK waits).
    bool paused(Client c) { return h_.host(h_.core_of(c)).paused.count(h_.connection_id(c)) != 0; }

    // The store completes its pending writes; their completions come back to worker 0 (the tests' subscribers'
    // owner) by Host::post.
    void complete_store(bool ok = true) {
        store_->complete(ok);
        run_posts_to(0);
    }

    using Kinds = std::vector<std::string>;

    FakeStore* store_;
    MultiCoreHarness h_;
    std::deque<std::string> strings_;
    std::deque<std::vector<codec::Subscription>> subs_;
};

// [MQTT-3.8.4-1] with more than one worker: the SUBACK waits until both other workers have the subscription
// (one post per worker for the whole packet) and their acks are back; then a publisher on another worker reaches it.
TEST_F(MultiWorkerCoreTest, SubackWaitsUntilEveryWorkerHasTheSubscription) {
    Client sub = connect(0, "sub");
    Client pub = connect(2, "pub");
    strings_.emplace_back("a/#");
    strings_.emplace_back("b/#");
    subs_.push_back({codec::Subscription{strings_[strings_.size() - 2], {QoS::AtMostOnce}},
                     codec::Subscription{strings_.back(), {QoS::AtMostOnce}}});
    codec::Subscribe s;
    s.packet_id = 1;
    s.subscriptions = subs_.back();
    send(sub, s);
    EXPECT_EQ(h_.host(0).posted.size(), kWorkers - 1) << "one post per other worker for both filters";
    EXPECT_TRUE(kinds(sub).empty()) << "SUBACK before any worker has the subscription";

    EXPECT_EQ(run_posts_to(1), 1U);
    EXPECT_EQ(run_posts_to(0), 1U);  // worker 1's ack
    EXPECT_TRUE(kinds(sub).empty()) << "SUBACK before worker 2 has the subscription";

    EXPECT_EQ(run_posts_to(2), 1U);
    EXPECT_TRUE(kinds(sub).empty()) << "SUBACK before worker 2's ack arrived";
    EXPECT_EQ(run_posts_to(0), 1U);
    EXPECT_EQ(kinds(sub), Kinds{"SUBACK"});

    publish(pub, "b/1");
    run_all_posts();
    EXPECT_EQ(kinds(sub), Kinds{"PUBLISH b/1"});
}

// [MQTT-3.10.4-2]: after the UNSUBACK no worker adds messages from the filter any more.
TEST_F(MultiWorkerCoreTest, UnsubackWaitsUntilEveryWorkerRemovedTheSubscription) {
    Client sub = connect(0, "sub");
    Client pub = connect(1, "pub");
    subscribe(sub, 1, "t/#");
    run_all_posts();
    ASSERT_EQ(kinds(sub), Kinds{"SUBACK"});

    unsubscribe(sub, 2, "t/#");
    EXPECT_EQ(run_posts_to(1), 1U);
    EXPECT_EQ(run_posts_to(0), 1U);
    EXPECT_TRUE(kinds(sub).empty()) << "UNSUBACK before worker 2 removed the subscription";
    EXPECT_EQ(run_posts_to(2), 1U);
    EXPECT_EQ(run_posts_to(0), 1U);
    EXPECT_EQ(kinds(sub), Kinds{"UNSUBACK"});

    publish(pub, "t/1");
    run_all_posts();
    EXPECT_TRUE(kinds(sub).empty());
}

// A message another worker matched before it removed the subscription, still in its batch for the owner, reaches
// the client before the UNSUBACK: that worker sends its batch ahead of its ack.
TEST_F(MultiWorkerCoreTest, DeliveriesMatchedBeforeTheRemovalPrecedeTheUnsuback) {
    Client sub = connect(0, "sub");
    Client pub = connect(1, "pub");
    subscribe(sub, 1, "t/#");
    run_all_posts();
    ASSERT_EQ(kinds(sub), Kinds{"SUBACK"});

    unsubscribe(sub, 2, "t/#");
    publish(pub, "t/1", /*flush=*/false);  // worker 1 has not applied the removal yet
    run_all_posts();
    EXPECT_EQ(kinds(sub), (Kinds{"PUBLISH t/1", "UNSUBACK"}));
}

// An UNSUBSCRIBE that removes nothing and a SUBSCRIBE whose filters are all refused change no tree: answered at once.
TEST_F(MultiWorkerCoreTest, NothingToReplicateIsAcknowledgedAtOnce) {
    Client sub = connect(0, "sub");
    unsubscribe(sub, 1, "never/subscribed");
    EXPECT_EQ(kinds(sub), Kinds{"UNSUBACK"});
    subscribe(sub, 2, "bad/#/filter");
    EXPECT_EQ(kinds(sub), Kinds{"SUBACK"});
    EXPECT_TRUE(h_.host(0).posted.empty());
}

// The client went away while the other workers were applying its SUBSCRIBE: their acks find no one to answer.
TEST_F(MultiWorkerCoreTest, ConnectionClosedWhileWaiting) {
    Client sub = connect(0, "sub");
    subscribe(sub, 1, "t/#");
    h_.drop(sub);
    run_all_posts();
    EXPECT_TRUE(kinds(sub).empty());

    // The same client id connects again: the old packet's acknowledgement is not sent on the new connection.
    Client again = connect(0, "sub");
    subscribe(again, 1, "u/#");
    run_all_posts();
    EXPECT_EQ(kinds(again), Kinds{"SUBACK"});
}

// A packet right after a SUBSCRIBE waits for its SUBACK, as in a single-threaded broker: the echo of a PUBLISH
// sent at once comes after the SUBACK, never before it.
TEST_F(MultiWorkerCoreTest, PacketsAfterASubscribeWaitForItsSuback) {
    Client sub = connect(0, "sub");
    subscribe(sub, 1, "e/#");
    publish(sub, "e/1");
    EXPECT_TRUE(paused(sub)) << "input not paused while the SUBACK waits";
    EXPECT_TRUE(kinds(sub).empty());
    run_all_posts();
    EXPECT_FALSE(paused(sub));
    EXPECT_EQ(kinds(sub), (Kinds{"SUBACK", "PUBLISH e/1"}));
}

// Acknowledgements keep the order of their packets, whatever completes first.
TEST_F(MultiWorkerCoreTest, AcknowledgementsInPacketOrder) {
    Client sub = connect(0, "sub");
    subscribe(sub, 1, "a/#");
    unsubscribe(sub, 2, "none");  // nothing to wait for, but after the SUBACK
    EXPECT_TRUE(kinds(sub).empty());
    run_all_posts();
    auto got = received(sub);
    ASSERT_EQ(got.size(), 2U);
    EXPECT_EQ(std::get<codec::Suback>(got[0]).packet_id, 1);
    EXPECT_EQ(std::get<codec::Unsuback>(got[1]).packet_id, 2);
}

// Sync durability: a persistent session's SUBACK waits for the store commit and for the workers, in either order.
class DurableMultiWorkerCoreTest : public MultiWorkerCoreTest {
protected:
    DurableMultiWorkerCoreTest() : MultiWorkerCoreTest(&sync_store_) {}
    FakeStore sync_store_{true};
};

TEST_F(DurableMultiWorkerCoreTest, SubackWaitsForTheStoreAndEveryWorker) {
    Client sub = connect(0, "sub", 3600);

    subscribe(sub, 1, "a/#");
    run_all_posts();
    EXPECT_TRUE(kinds(sub).empty()) << "SUBACK before the subscription is stored";
    complete_store();
    EXPECT_EQ(kinds(sub), Kinds{"SUBACK"});

    subscribe(sub, 2, "b/#");
    complete_store();
    EXPECT_TRUE(kinds(sub).empty()) << "SUBACK before the other workers have the subscription";
    run_all_posts();
    EXPECT_EQ(kinds(sub), Kinds{"SUBACK"});
}

// A failed commit: the SUBACK says Unspecified error once the workers are done too.
TEST_F(DurableMultiWorkerCoreTest, FailedCommitStillWaitsForTheWorkers) {
    Client sub = connect(0, "sub", 3600);

    subscribe(sub, 1, "a/#");
    complete_store(false);
    EXPECT_TRUE(kinds(sub).empty());
    run_all_posts();
    auto got = received(sub);
    ASSERT_EQ(got.size(), 1U);
    const auto& ack = std::get<codec::Suback>(got[0]);
    ASSERT_EQ(ack.reason_codes.size(), 1U);
    EXPECT_EQ(ack.reason_codes[0], ReasonCode::UnspecifiedError);
}

}  // namespace
}  // namespace moth::broker
