// Waiters, the client's coroutine condition variable, under stress (run under ASan in the sanitizer build):
// many waiters woken again and again while they re-register, deadlines racing notifications, and a Waiters
// destroyed while waits are still pending (as when an owner dies first or an io_context drops its frames).
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <random>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "client/waiters.hpp"

namespace moth::client {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

constexpr int kWaiters = 64;
constexpr int kRounds = 200;

TEST(Waiters, EveryWaiterIsWokenEveryRoundWhileReRegistering) {
    asio::io_context ioc;
    Waiters w;
    int generation = 0;
    int finished = 0;
    long wakes = 0;
    for (int i = 0; i < kWaiters; ++i) {
        asio::co_spawn(
            ioc,
            [&]() -> asio::awaitable<void> {
                for (int seen = 0; seen < kRounds;) {
                    while (generation == seen) co_await w.wait();  // re-checks, as every client wait does
                    seen = generation;
                    ++wakes;
                }
                ++finished;
            },
            asio::detached);
    }
    // One notification per round, each once all waiters have registered again.
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
            asio::steady_timer yield(co_await asio::this_coro::executor);
            while (generation < kRounds) {
                while (w.waiting() < static_cast<std::size_t>(kWaiters)) {
                    yield.expires_after(0ms);
                    co_await yield.async_wait(asio::use_awaitable);
                }
                ++generation;
                w.notify_all();
                EXPECT_EQ(w.waiting(), 0U) << "notified waiters are no longer waiting";
            }
        },
        asio::detached);
    ioc.run_for(60s);
    EXPECT_EQ(finished, kWaiters);
    EXPECT_EQ(wakes, static_cast<long>(kWaiters) * kRounds);
    EXPECT_EQ(w.waiting(), 0U);
}

TEST(Waiters, DeadlinesRacingNotificationsNeverLoseOrCorruptAWaiter) {
    asio::io_context ioc;
    Waiters w;
    std::minstd_rand rng(42);
    int finished = 0;
    int woken = 0;
    int expired = 0;
    for (int i = 0; i < kWaiters; ++i) {
        const auto seed = rng();
        asio::co_spawn(
            ioc,
            [&, seed]() -> asio::awaitable<void> {
                std::minstd_rand r(seed);
                for (int n = 0; n < kRounds; ++n) {
                    const auto deadline = Clock::now() + std::chrono::microseconds(r() % 500);
                    if (co_await w.wait_until(deadline)) {
                        ++woken;
                    } else {
                        ++expired;
                    }
                }
                ++finished;
            },
            asio::detached);
    }
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
            asio::steady_timer tick(co_await asio::this_coro::executor);
            while (finished < kWaiters) {
                w.notify_all();
                w.notify_all();  // twice in a row is harmless
                tick.expires_after(100us);
                co_await tick.async_wait(asio::use_awaitable);
            }
        },
        asio::detached);
    ioc.run_for(60s);
    EXPECT_EQ(finished, kWaiters);
    EXPECT_EQ(woken + expired, kWaiters * kRounds);
    EXPECT_EQ(w.waiting(), 0U);
}

// The owner goes away while coroutines still wait on it: each wait ends as woken and deregisters without
// touching freed memory (the list used to live inside the Waiters, and a late deregistration wrote into it).
TEST(Waiters, DestroyedWhileWaitsArePendingWakesThem) {
    for (int iteration = 0; iteration < 100; ++iteration) {
        asio::io_context ioc;
        auto w = std::make_unique<Waiters>();
        int results = 0;
        int woken = 0;
        for (int i = 0; i < 16; ++i) {
            asio::co_spawn(
                ioc,
                [&, waiters = w.get()]() -> asio::awaitable<void> {
                    const bool by_notify = co_await waiters->wait_until(Clock::now() + 1h);
                    ++results;
                    if (by_notify) ++woken;
                },
                asio::detached);
        }
        while (w->waiting() < 16U) ASSERT_EQ(ioc.run_one_for(10s), 1U);
        w.reset();
        ioc.run_for(10s);
        EXPECT_EQ(results, 16);
        EXPECT_EQ(woken, 16);
    }
}

// An io_context destroyed with waits pending destroys their frames, in any order, after their Waiters.
TEST(Waiters, FramesDestroyedAfterTheirWaitersAreSafe) {
    for (int iteration = 0; iteration < 100; ++iteration) {
        auto w = std::make_unique<Waiters>();
        auto ioc = std::make_unique<asio::io_context>();
        for (int i = 0; i < 8; ++i) {
            asio::co_spawn(
                *ioc, [waiters = w.get()]() -> asio::awaitable<void> { co_await waiters->wait(); }, asio::detached);
        }
        while (w->waiting() < 8U) ASSERT_EQ(ioc->run_one_for(10s), 1U);
        w.reset();    // wakes them, but they never run again:
        ioc.reset();  // their frames are destroyed here, deregistering from the list they share
    }
}

}  // namespace
}  // namespace moth::client
