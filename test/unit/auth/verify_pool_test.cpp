// VerifyPool: verification off the caller's thread, the success cache, joining identical jobs, the queue bound and
// a clean stop. A Gate verifier holds jobs until the test lets them go, so no test depends on timing.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "auth/verify_pool.hpp"
#include "vectors.hpp"

namespace moth::auth {
namespace {

using namespace std::chrono_literals;
constexpr auto kDeadline = 30s;

// A verifier that answers "password == encoded" once opened, and counts calls.
struct Gate {
    std::mutex m;
    std::condition_variable cv;
    bool open = true;
    int started = 0;

    VerifyPool::Verifier verifier() {
        return [this](std::string_view encoded, std::string_view password) {
            std::unique_lock lock(m);
            ++started;
            cv.notify_all();
            cv.wait(lock, [this] { return open; });
            return encoded == password;
        };
    }
    void set_open(bool value) {
        const std::lock_guard lock(m);
        open = value;
        cv.notify_all();
    }
    void wait_started(int n) {
        std::unique_lock lock(m);
        ASSERT_TRUE(cv.wait_for(lock, kDeadline, [&] { return started >= n; })) << "verifier never ran";
    }
    int calls() {
        const std::lock_guard lock(m);
        return started;
    }
};

// Collects done() answers; wait() blocks until `n` arrived.
struct Answers {
    std::mutex m;
    std::condition_variable cv;
    std::vector<std::pair<std::string, bool>> got;
    std::vector<std::thread::id> threads;

    VerifyPool::Done done(std::string name) {
        return [this, name](bool ok) {
            const std::lock_guard lock(m);
            got.emplace_back(name, ok);
            threads.push_back(std::this_thread::get_id());
            cv.notify_all();
        };
    }
    void wait(std::size_t n) {
        std::unique_lock lock(m);
        ASSERT_TRUE(cv.wait_for(lock, kDeadline, [&] { return got.size() >= n; })) << got.size() << " answers";
    }
    std::size_t size() {
        const std::lock_guard lock(m);
        return got.size();
    }
    bool answer(const std::string& name) {
        const std::lock_guard lock(m);
        for (const auto& [n, ok] : got) {
            if (n == name) return ok;
        }
        ADD_FAILURE() << "no answer for " << name;
        return false;
    }
};

TEST(VerifyPool, VerifiesRealHashesOnAPoolThread) {
    VerifyPool pool;  // default verifier: verify_password
    Answers answers;
    ASSERT_TRUE(pool.submit("alice", test::kPbkdf2AlicePassword, test::kPbkdf2Alice, answers.done("right")));
    ASSERT_TRUE(pool.submit("alice", "wrong", test::kPbkdf2Alice, answers.done("wrong")));
    answers.wait(2);
    EXPECT_TRUE(answers.answer("right"));
    EXPECT_FALSE(answers.answer("wrong"));
    for (const auto id : answers.threads) EXPECT_NE(id, std::this_thread::get_id());
}

TEST(VerifyPool, CachedSuccessIsAnsweredInsideSubmit) {
    Gate gate;
    VerifyPool pool({.threads = 1, .max_queued = 8, .cache_entries = 16, .verifier = gate.verifier()});
    Answers answers;
    ASSERT_TRUE(pool.submit("u", "pw", "pw", answers.done("first")));
    answers.wait(1);
    EXPECT_EQ(pool.cached(), 1u);

    ASSERT_TRUE(pool.submit("u", "pw", "pw", answers.done("second")));
    EXPECT_EQ(answers.size(), 2u) << "a cache hit calls done before submit returns";
    EXPECT_EQ(answers.threads.back(), std::this_thread::get_id());
    EXPECT_EQ(gate.calls(), 1);

    // Another user, another hash, or clear(): no hit.
    ASSERT_TRUE(pool.submit("v", "pw", "pw", answers.done("other user")));
    answers.wait(3);
    EXPECT_EQ(gate.calls(), 2);
    pool.clear();
    EXPECT_EQ(pool.cached(), 0u);
    ASSERT_TRUE(pool.submit("u", "pw", "pw", answers.done("after clear")));
    answers.wait(4);
    EXPECT_EQ(gate.calls(), 3);
}

TEST(VerifyPool, JobOlderThanMaxWaitIsAnsweredWithoutHashing) {
    Gate gate;
    gate.set_open(false);
    VerifyPool pool(
        {.threads = 1, .max_queued = 8, .cache_entries = 16, .verifier = gate.verifier(), .max_wait = 20ms});
    Answers answers;
    ASSERT_TRUE(pool.submit("a", "pw", "pw", answers.done("running")));
    gate.wait_started(1);  // the one thread is busy with "running"
    ASSERT_TRUE(pool.submit("b", "pw", "pw", answers.done("stale")));
    // Time passes (the CONNECT behind "stale" has been closed by its connect timeout): not a synchronisation.
    const auto until = std::chrono::steady_clock::now() + 40ms;
    while (std::chrono::steady_clock::now() < until) std::this_thread::yield();
    gate.set_open(true);
    answers.wait(2);
    EXPECT_TRUE(answers.answer("running"));
    EXPECT_FALSE(answers.answer("stale"));
    EXPECT_EQ(gate.calls(), 1) << "the stale job was never hashed";
    EXPECT_EQ(pool.skipped(), 1u);
}

TEST(VerifyPool, FailuresAreNotCached) {
    Gate gate;
    VerifyPool pool({.threads = 1, .max_queued = 8, .cache_entries = 16, .verifier = gate.verifier()});
    Answers answers;
    ASSERT_TRUE(pool.submit("u", "bad", "pw", answers.done("a")));
    answers.wait(1);
    ASSERT_TRUE(pool.submit("u", "bad", "pw", answers.done("b")));
    answers.wait(2);
    EXPECT_EQ(gate.calls(), 2);
    EXPECT_EQ(pool.cached(), 0u);
    EXPECT_FALSE(answers.answer("b"));
}

TEST(VerifyPool, CacheKeepsTheMostRecentlyUsed) {
    Gate gate;
    VerifyPool pool({.threads = 1, .max_queued = 8, .cache_entries = 2, .verifier = gate.verifier()});
    Answers answers;
    ASSERT_TRUE(pool.submit("a", "pw", "pw", answers.done("a")));
    answers.wait(1);
    ASSERT_TRUE(pool.submit("b", "pw", "pw", answers.done("b")));
    answers.wait(2);
    ASSERT_TRUE(pool.submit("a", "pw", "pw", answers.done("a hit")));  // a is now the most recent
    ASSERT_TRUE(pool.submit("c", "pw", "pw", answers.done("c")));      // evicts b
    answers.wait(4);
    EXPECT_EQ(pool.cached(), 2u);
    const int before = gate.calls();
    ASSERT_TRUE(pool.submit("a", "pw", "pw", answers.done("a again")));
    EXPECT_EQ(gate.calls(), before) << "a stayed cached";
    ASSERT_TRUE(pool.submit("b", "pw", "pw", answers.done("b again")));
    answers.wait(6);
    EXPECT_EQ(gate.calls(), before + 1) << "b was evicted";
}

TEST(VerifyPool, IdenticalJobsShareOneHash) {
    Gate gate;
    gate.set_open(false);
    VerifyPool pool({.threads = 1, .max_queued = 1, .cache_entries = 16, .verifier = gate.verifier()});
    Answers answers;
    ASSERT_TRUE(pool.submit("u", "pw", "pw", answers.done("running")));
    gate.wait_started(1);
    ASSERT_TRUE(pool.submit("u", "pw", "pw", answers.done("joins running")));
    ASSERT_TRUE(pool.submit("v", "pw", "pw", answers.done("queued")));
    ASSERT_TRUE(pool.submit("v", "pw", "pw", answers.done("joins queued"))) << "joining is not refused as busy";
    gate.set_open(true);
    answers.wait(4);
    EXPECT_EQ(gate.calls(), 2);
    for (const char* name : {"running", "joins running", "queued", "joins queued"}) EXPECT_TRUE(answers.answer(name));
}

TEST(VerifyPool, RefusesWhenTheQueueIsFull) {
    Gate gate;
    gate.set_open(false);
    VerifyPool pool({.threads = 1, .max_queued = 2, .cache_entries = 16, .verifier = gate.verifier()});
    Answers answers;
    ASSERT_TRUE(pool.submit("a", "pw", "pw", answers.done("a")));
    gate.wait_started(1);  // a is running, the queue is empty
    ASSERT_TRUE(pool.submit("b", "pw", "pw", answers.done("b")));
    ASSERT_TRUE(pool.submit("c", "pw", "pw", answers.done("c")));
    EXPECT_EQ(pool.queued(), 2u);
    bool called = false;
    EXPECT_FALSE(pool.submit("d", "pw", "pw", [&](bool) { called = true; }));
    gate.set_open(true);
    answers.wait(3);
    EXPECT_FALSE(called) << "a refused job runs nothing";
    EXPECT_EQ(gate.calls(), 3);
}

TEST(VerifyPool, DestructorAnswersWaitingJobsFalseAndFinishesTheRunningOne) {
    Gate gate;
    gate.set_open(false);
    auto pool = std::make_unique<VerifyPool>(
        VerifyPool::Options{.threads = 1, .max_queued = 8, .cache_entries = 16, .verifier = gate.verifier()});
    Answers answers;
    ASSERT_TRUE(pool->submit("a", "pw", "pw", answers.done("running")));
    gate.wait_started(1);
    ASSERT_TRUE(pool->submit("b", "pw", "pw", answers.done("waiting 1")));
    ASSERT_TRUE(pool->submit("c", "pw", "pw", answers.done("waiting 2")));

    VerifyPool* raw = pool.get();
    std::thread destroyer([&] { pool.reset(); });
    // The destructor takes the waiting jobs first, then joins the thread still inside the gate; only then open it,
    // so the waiting jobs cannot have run. queued() turning 0 while the gate is shut is that moment.
    const auto deadline = std::chrono::steady_clock::now() + kDeadline;
    while (raw->queued() != 0) {
        ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "destructor did not take the waiting jobs";
        std::this_thread::yield();
    }
    gate.set_open(true);
    destroyer.join();
    ASSERT_EQ(answers.size(), 3u) << "every accepted submit is answered by the time the destructor returns";
    EXPECT_TRUE(answers.answer("running"));
    EXPECT_FALSE(answers.answer("waiting 1"));
    EXPECT_FALSE(answers.answer("waiting 2"));
    EXPECT_EQ(gate.calls(), 1);
}

}  // namespace
}  // namespace moth::auth
