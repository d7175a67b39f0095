// Several cores, as mothd runs one per worker, on the test's thread: each has its own FakeHost, and what a core
// posts to another stays in its host until the test runs it, so the test decides when each worker takes in a
// subscription change. SUBACK and UNSUBACK must wait until every worker has it (docs/architecture.md, "SUBACK and
// UNSUBACK after every worker"), and for the store too when a durable session's acknowledgements wait for it.
#include <gtest/gtest.h>

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "broker/core.hpp"
#include "codec/decoder.hpp"
#include "codec/encoder.hpp"
#include "core_test_support.hpp"
#include "fake_store.hpp"

namespace moth::broker {
namespace {

using codec::ProtocolVersion;
using codec::QoS;
using codec::ReasonCode;

using test::FakeHost;
using test::FakeStore;
using test::Peer;

constexpr unsigned kWorkers = 3;

class MultiWorkerCoreTest : public ::testing::Test {
protected:
    explicit MultiWorkerCoreTest(FakeStore* store = nullptr)
        : store_(store), shared_(config::default_config(), kWorkers, TimePoint{}) {
        shared_.authenticator = &allow_;
        shared_.store = store;
        for (unsigned w = 0; w < kWorkers; ++w) {
            hosts_.push_back(std::make_unique<FakeHost>(true, kWorkers));
            cores_.push_back(std::make_unique<Core>(w, shared_, *hosts_[w]));
        }
    }

    // Runs what every core has posted to `worker` so far (each sender's posts in order, as between two real
    // workers), then flushes that core as the worker does after a post. Returns how many ran.
    std::size_t run_posts_to(unsigned worker) {
        std::size_t n = 0;
        for (auto& h : hosts_) {
            for (auto& fn : h->take_posts_to(worker)) {
                fn(*cores_[worker], now_);
                ++n;
            }
        }
        input_.feed_resumed(*cores_[worker], *hosts_[worker], now_);
        cores_[worker]->flush();
        return n;
    }
    // Until no core has anything posted.
    void run_all_posts() {
        for (bool more = true; more;) {
            more = false;
            for (unsigned w = 0; w < kWorkers; ++w) more = run_posts_to(w) != 0 || more;
        }
    }

    // A client id that Core::owner_of gives to `worker`, so that its connection stays on that core.
    static std::string id_on(unsigned worker, std::string_view prefix) {
        for (unsigned i = 0;; ++i) {
            std::string id = std::string(prefix) + "-" + std::to_string(i);
            if (std::hash<std::string_view>{}(id) % kWorkers == worker) return id;
        }
    }

    struct Client {
        Peer peer;
        unsigned worker;
    };
    Client connect(unsigned worker, std::string_view prefix, std::uint32_t expiry = 0) {
        Client c{{next_id_++, ProtocolVersion::V5}, worker};
        core(c).on_open(c.peer.id, "test", now_);
        ids_.push_back(id_on(worker, prefix));
        codec::Connect pk;
        pk.version = ProtocolVersion::V5;
        pk.client_id = ids_.back();
        if (expiry != 0) {
            pk.clean_start = false;
            pk.properties.session_expiry_interval = expiry;
        }
        send(c, pk, true);
        if (store_ != nullptr) complete_store();  // a persistent session's CONNACK waits for it
        auto got = received(c);
        EXPECT_EQ(got.size(), 1U);
        if (!got.empty()) {
            EXPECT_TRUE(std::holds_alternative<codec::Connack>(got[0]));
        }
        return c;
    }

    Core& core(const Client& c) { return *cores_[c.worker]; }

    // `flush` false leaves what the core batched for other workers (deliveries) unposted, as within a loop turn.
    // As a server connection does: what the core leaves while the connection's input is paused (a SUBACK waiting
    // for the other workers) waits for resume_input().
    void send(const Client& c, const codec::Packet& packet, bool flush = true) {
        ASSERT_TRUE(codec::encode_append(packet, c.peer.version, input_.pending(c.peer.id)));
        input_.feed(core(c), *hosts_[c.worker], c.peer.id, now_);
        if (flush) core(c).flush();
    }
    void subscribe(const Client& c, std::uint16_t packet_id, std::string filter) {
        strings_.push_back(std::move(filter));
        subs_.push_back({codec::Subscription{strings_.back(), {QoS::AtMostOnce}}});
        codec::Subscribe s;
        s.packet_id = packet_id;
        s.subscriptions = subs_.back();
        send(c, s);
    }
    void unsubscribe(const Client& c, std::uint16_t packet_id, std::string filter) {
        strings_.push_back(std::move(filter));
        filters_.push_back({strings_.back()});
        codec::Unsubscribe u;
        u.packet_id = packet_id;
        u.filters = filters_.back();
        send(c, u);
    }
    void publish(const Client& c, std::string topic, bool flush = true) {
        strings_.push_back(std::move(topic));
        codec::Publish m;
        m.topic = strings_.back();
        static const std::byte payload[] = {std::byte{'x'}};
        m.payload = payload;
        send(c, m, flush);
    }

    std::vector<codec::Packet> received(const Client& c) {
        return reader_.decode(hosts_[c.worker]->take(c.peer.id), c.peer.version);
    }
    // The kinds of packet `c` received, in order: "SUBACK", "UNSUBACK", "PUBLISH t/a", ...
    std::vector<std::string> kinds(const Client& c) {
        std::vector<std::string> out;
        for (const auto& p : received(c)) {
            if (std::holds_alternative<codec::Suback>(p)) out.emplace_back("SUBACK");
            if (std::holds_alternative<codec::Unsuback>(p)) out.emplace_back("UNSUBACK");
            if (const auto* m = std::get_if<codec::Publish>(&p)) out.push_back("PUBLISH " + std::string(m->topic));
        }
        return out;
    }

    // The store completes its pending writes; their completions come back to worker 0 (the tests' subscribers'
    // owner) by Host::post.
    void complete_store(bool ok = true) {
        store_->complete(ok);
        run_posts_to(0);
    }

    using Kinds = std::vector<std::string>;

    FakeStore* store_;
    AllowAll allow_;
    Shared shared_;
    std::vector<std::unique_ptr<FakeHost>> hosts_;
    std::vector<std::unique_ptr<Core>> cores_;
    TimePoint now_{};
    ConnectionId next_id_ = 1;
    std::deque<std::string> ids_, strings_;
    std::deque<std::vector<codec::Subscription>> subs_;
    std::deque<std::vector<std::string_view>> filters_;
    test::PacketReader reader_;
    test::PausableInput input_;  // sent, not yet taken by the core
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
    EXPECT_EQ(hosts_[0]->posted.size(), kWorkers - 1) << "one post per other worker for both filters";
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
    EXPECT_TRUE(hosts_[0]->posted.empty());
}

// The client went away while the other workers were applying its SUBSCRIBE: their acks find no one to answer.
TEST_F(MultiWorkerCoreTest, ConnectionClosedWhileWaiting) {
    Client sub = connect(0, "sub");
    subscribe(sub, 1, "t/#");
    core(sub).on_closed(sub.peer.id, now_);
    core(sub).flush();
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
    EXPECT_EQ(hosts_[0]->paused.count(sub.peer.id), 1U) << "input not paused while the SUBACK waits";
    EXPECT_TRUE(kinds(sub).empty());
    run_all_posts();
    EXPECT_EQ(hosts_[0]->paused.count(sub.peer.id), 0U);
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
