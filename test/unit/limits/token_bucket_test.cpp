// TokenBucket (src/limits/token_bucket.hpp): the debt it allows and the wait it returns, the long-run rate under
// overload, try_take's refusal without debt, set() on a reload. Time is a fake steady time point: no sleeps.
#include "limits/token_bucket.hpp"

#include <gtest/gtest.h>

#include <chrono>

namespace moth::limits {
namespace {

using namespace std::chrono_literals;

// Far from the clock's epoch, as a real steady time would be.
const TimePoint t0 = TimePoint{} + 1000s;

TEST(TokenBucket, StartsFull) {
    TokenBucket b(10, 5, t0);
    EXPECT_TRUE(b.full(t0));
    for (int i = 0; i < 5; ++i) EXPECT_TRUE(b.try_take(1, t0)) << i;
    EXPECT_FALSE(b.try_take(1, t0));
    EXPECT_FALSE(b.full(t0));
}

// take() always takes, going below zero, and says how long until the balance is back at zero: the caller stops
// reading for that long, so the packet that crossed the line is not lost.
TEST(TokenBucket, TakeGoesIntoDebtAndReturnsTheWait) {
    TokenBucket b(10, 5, t0);
    EXPECT_EQ(b.take(5, t0).count(), 0.0);  // exactly the balance: no debt
    EXPECT_NEAR(b.take(1, t0).count(), 0.1, 1e-9);
    EXPECT_NEAR(b.take(2, t0).count(), 0.3, 1e-9);  // -3 tokens at 10/s
    // 100 ms later 1 token came back: 0.2 s of debt left.
    EXPECT_NEAR(b.take(0, t0 + 100ms).count(), 0.2, 1e-9);
    // Once the wait has passed the balance is zero again: nothing more to wait, but nothing to spare either.
    EXPECT_NEAR(b.take(0, t0 + 300ms).count(), 0.0, 1e-9);
    EXPECT_FALSE(b.try_take(1, t0 + 300ms));
    EXPECT_TRUE(b.try_take(1, t0 + 400ms));
}

// A client offering 10x the rate, paused for each wait take() returns, gets exactly the rate (plus the burst it
// starts with) over 10 s of simulated time.
TEST(TokenBucket, LongRunRateUnderTenfoldLoadIsTheRate) {
    constexpr double kRate = 100, kBurst = 20;
    const auto end = t0 + 10s;
    TokenBucket b(kRate, kBurst, t0);
    int admitted = 0;
    for (TimePoint t = t0; t < end;) {
        const auto wait = b.take(1, t);
        ++admitted;
        // The next packet is there 1 ms later (1000/s offered), but is not read before the debt is paid.
        t += std::max<std::chrono::nanoseconds>(1ms, std::chrono::ceil<std::chrono::nanoseconds>(wait));
    }
    EXPECT_NEAR(admitted, kRate * 10 + kBurst, 1);
}

// try_take refuses instead of slowing: under the same tenfold load it admits the same number, and the refusals
// never put the bucket in debt (the next token is there exactly 1/rate after the last one was taken).
TEST(TokenBucket, TryTakeAdmitsTheRateAndNeverGoesIntoDebt) {
    constexpr double kRate = 100, kBurst = 20;
    TokenBucket b(kRate, kBurst, t0);
    int admitted = 0;
    for (TimePoint t = t0; t < t0 + 10s; t += 1ms) {
        if (b.try_take(1, t)) ++admitted;
    }
    EXPECT_NEAR(admitted, kRate * 10 + kBurst, 1);

    TokenBucket c(10, 1, t0);
    ASSERT_TRUE(c.try_take(1, t0));
    for (int i = 0; i < 100; ++i) EXPECT_FALSE(c.try_take(1, t0 + 50ms));
    EXPECT_TRUE(c.try_take(1, t0 + 100ms));  // would be false had the refusals taken anything
    EXPECT_FALSE(c.try_take(1, t0 + 100ms));
}

TEST(TokenBucket, FullAgainAfterIdle) {
    TokenBucket b(10, 5, t0);
    ASSERT_TRUE(b.try_take(2, t0));
    EXPECT_FALSE(b.full(t0 + 100ms));
    EXPECT_TRUE(b.full(t0 + 200ms));
    EXPECT_TRUE(b.full(t0 + 1h));  // capped at the burst, however long it was idle
    for (int i = 0; i < 5; ++i) EXPECT_TRUE(b.try_take(1, t0 + 1h)) << i;
    EXPECT_FALSE(b.try_take(1, t0 + 1h));
}

// A reload: a smaller burst caps the balance, a larger one does not fill it, and the new rate refills from then on.
TEST(TokenBucket, SetKeepsTheBalanceCapped) {
    TokenBucket b(10, 10, t0);
    ASSERT_TRUE(b.try_take(2, t0));  // 8 left
    b.set(10, 5, t0);
    EXPECT_EQ(b.burst(), 5);
    for (int i = 0; i < 5; ++i) EXPECT_TRUE(b.try_take(1, t0)) << i;
    EXPECT_FALSE(b.try_take(1, t0));

    TokenBucket c(10, 3, t0);
    c.set(1, 20, t0);
    EXPECT_EQ(c.rate(), 1);
    for (int i = 0; i < 3; ++i) EXPECT_TRUE(c.try_take(1, t0)) << i;  // the 3 it had, not 20
    EXPECT_FALSE(c.try_take(1, t0));
    EXPECT_FALSE(c.try_take(1, t0 + 500ms));  // 1/s now, not 10/s
    EXPECT_TRUE(c.try_take(1, t0 + 1s));

    TokenBucket d(10, 5, t0);
    d.set(10, -1, t0);  // a negative burst is none
    EXPECT_EQ(d.burst(), 0);
    EXPECT_FALSE(d.try_take(1, t0 + 1s));
}

TEST(TokenBucket, ZeroOrNegativeRateIsUnlimited) {
    for (double rate : {0.0, -5.0}) {
        TokenBucket b(rate, 0, t0);
        EXPECT_TRUE(b.unlimited());
        for (int i = 0; i < 1000; ++i) {
            EXPECT_EQ(b.take(100, t0).count(), 0.0);
            EXPECT_TRUE(b.try_take(100, t0));
        }
        EXPECT_TRUE(b.full(t0));
    }
    TokenBucket def;  // default constructed: unlimited too
    EXPECT_TRUE(def.unlimited());
    EXPECT_TRUE(def.try_take(1, t0));
    EXPECT_FALSE(TokenBucket(1, 1, t0).unlimited());
}

}  // namespace
}  // namespace moth::limits
