// KeyedRates (src/limits/keyed_rates.hpp): one bucket per key, the table's bound, the forgetting of full buckets,
// reloads of rate and burst. Fake steady time, no threads.
#include "limits/keyed_rates.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace moth::limits {
namespace {

using namespace std::chrono_literals;

const TimePoint t0 = TimePoint{} + 1000s;

TEST(KeyedRates, KeysAreIndependent) {
    KeyedRates r;
    EXPECT_TRUE(r.admit("a", 1, 2, t0));
    EXPECT_TRUE(r.admit("a", 1, 2, t0));
    EXPECT_FALSE(r.admit("a", 1, 2, t0));
    // "a" spent its burst; "b" has its own.
    EXPECT_TRUE(r.admit("b", 1, 2, t0));
    EXPECT_TRUE(r.admit("b", 1, 2, t0));
    EXPECT_FALSE(r.admit("b", 1, 2, t0));
    EXPECT_EQ(r.size(), 2U);
    // One token per second each.
    EXPECT_TRUE(r.admit("a", 1, 2, t0 + 1s));
    EXPECT_FALSE(r.admit("a", 1, 2, t0 + 1s));
    EXPECT_EQ(r.overflowed(), 0U);
}

TEST(KeyedRates, ZeroRateAdmitsAndKeepsNothing) {
    KeyedRates r;
    for (int i = 0; i < 100; ++i) EXPECT_TRUE(r.admit("a", 0, 1, t0));
    EXPECT_EQ(r.size(), 0U);
}

// At its bound the table first forgets full buckets; when none is full a new key is admitted without a bucket
// (counted) rather than growing the table. Keys that have a bucket stay limited.
TEST(KeyedRates, BoundedTableAdmitsNewKeysWithoutABucketAndCountsThem) {
    KeyedRates r(3);
    for (const char* k : {"a", "b", "c"}) ASSERT_TRUE(r.admit(k, 1, 2, t0));  // each 1 of 2 left: not full
    EXPECT_EQ(r.size(), 3U);
    for (int i = 0; i < 5; ++i) EXPECT_TRUE(r.admit("d", 1, 2, t0)) << i;  // unlimited while untracked
    EXPECT_EQ(r.overflowed(), 5U);
    EXPECT_EQ(r.size(), 3U);
    ASSERT_TRUE(r.admit("a", 1, 2, t0));
    EXPECT_FALSE(r.admit("a", 1, 2, t0));  // a tracked key is still limited

    // A second later "b" and "c" are full again: forgotten, and "d" gets a bucket.
    EXPECT_TRUE(r.admit("d", 1, 2, t0 + 1s));
    EXPECT_TRUE(r.admit("d", 1, 2, t0 + 1s));
    EXPECT_FALSE(r.admit("d", 1, 2, t0 + 1s));
    EXPECT_EQ(r.overflowed(), 5U);
    EXPECT_EQ(r.size(), 2U);  // "a" (1 of 2 after 1 s) and "d"
}

// Below the bound, idle keys are forgotten now and then (once a table holds more than 64 keys): the table holds
// the busy keys. A forgotten key answers as it would have (a full bucket is a new bucket).
TEST(KeyedRates, IdleKeysAreForgotten) {
    KeyedRates r;
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(r.admit("k" + std::to_string(i), 1, 2, t0));
    EXPECT_EQ(r.size(), 100U);
    EXPECT_TRUE(r.admit("busy", 1, 2, t0 + 5s));
    EXPECT_EQ(r.size(), 1U);
    EXPECT_TRUE(r.admit("k0", 1, 2, t0 + 5s));
    EXPECT_TRUE(r.admit("k0", 1, 2, t0 + 5s));
    EXPECT_FALSE(r.admit("k0", 1, 2, t0 + 5s));
    EXPECT_EQ(r.overflowed(), 0U);
}

// A reload changes a key's rate or burst: the next admit applies them to its existing bucket.
TEST(KeyedRates, ChangedRateAndBurstApply) {
    KeyedRates r;
    ASSERT_TRUE(r.admit("a", 1, 5, t0));
    ASSERT_TRUE(r.admit("a", 1, 5, t0));  // 3 left
    // Burst 2: the balance is capped at 2.
    EXPECT_TRUE(r.admit("a", 1, 2, t0));
    EXPECT_TRUE(r.admit("a", 1, 2, t0));
    EXPECT_FALSE(r.admit("a", 1, 2, t0));
    // Rate 10: 100 ms at the old rate gave 0.1 token; the next 100 ms at the new one give 1 more.
    EXPECT_FALSE(r.admit("a", 10, 2, t0 + 100ms));
    EXPECT_TRUE(r.admit("a", 10, 2, t0 + 200ms));
    EXPECT_FALSE(r.admit("a", 10, 2, t0 + 200ms));
    EXPECT_EQ(r.size(), 1U);
}

}  // namespace
}  // namespace moth::limits
