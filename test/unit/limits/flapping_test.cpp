// FlapDetector (src/limits/flapping.hpp): reported exactly once per window, on the connect that makes more than
// `max`; windows start over; forget(); the bound on tracked keys. Fake steady time.
#include "limits/flapping.hpp"

#include <gtest/gtest.h>

#include <chrono>

namespace moth::limits {
namespace {

using namespace std::chrono_literals;

const TimePoint t0 = TimePoint{} + 1000s;

TEST(FlapDetector, ReportsOnceOnTheConnectPastMax) {
    FlapDetector f;
    for (int i = 0; i < 3; ++i) EXPECT_FALSE(f.record("c", 3, 10s, t0 + i * 1s)) << i;
    EXPECT_TRUE(f.record("c", 3, 10s, t0 + 3s));                                     // the 4th within 10 s
    for (int i = 0; i < 20; ++i) EXPECT_FALSE(f.record("c", 3, 10s, t0 + 9s)) << i;  // once per window
    // Other keys count on their own.
    for (int i = 0; i < 3; ++i) EXPECT_FALSE(f.record("d", 3, 10s, t0 + 9s)) << i;
    EXPECT_TRUE(f.record("d", 3, 10s, t0 + 9s));
}

// The window starts at a key's first connect; once it is over the count starts again from that connect.
TEST(FlapDetector, ANewWindowStartsOver) {
    FlapDetector f;
    for (int i = 0; i < 3; ++i) ASSERT_FALSE(f.record("c", 3, 10s, t0));
    EXPECT_FALSE(f.record("c", 3, 10s, t0 + 10s));  // the 4th, but in a new window: its 1st
    for (int i = 0; i < 2; ++i) EXPECT_FALSE(f.record("c", 3, 10s, t0 + 15s)) << i;
    EXPECT_TRUE(f.record("c", 3, 10s, t0 + 19s));  // 4th of the window that began at t0 + 10 s
    // And after being reported, the next window may report again.
    for (int i = 0; i < 3; ++i) EXPECT_FALSE(f.record("c", 3, 10s, t0 + 20s)) << i;
    EXPECT_TRUE(f.record("c", 3, 10s, t0 + 20s));
}

TEST(FlapDetector, ForgetCountsFromZero) {
    FlapDetector f;
    for (int i = 0; i < 4; ++i) (void)f.record("c", 3, 10s, t0);
    f.forget("c");
    EXPECT_EQ(f.size(), 0U);
    for (int i = 0; i < 3; ++i) EXPECT_FALSE(f.record("c", 3, 10s, t0 + 1s)) << i;
    EXPECT_TRUE(f.record("c", 3, 10s, t0 + 1s));
    f.forget("unknown");  // harmless
    EXPECT_EQ(f.size(), 1U);
}

// At its bound a new key is not tracked (never reported) until keys whose window is over are forgotten.
TEST(FlapDetector, BoundedKeys) {
    FlapDetector f(2);
    ASSERT_FALSE(f.record("a", 3, 10s, t0));
    ASSERT_FALSE(f.record("b", 3, 10s, t0));
    for (int i = 0; i < 10; ++i) EXPECT_FALSE(f.record("c", 3, 10s, t0 + 1s)) << i;
    EXPECT_EQ(f.size(), 2U);
    // "a" and "b" are still counted meanwhile.
    for (int i = 0; i < 2; ++i) ASSERT_FALSE(f.record("a", 3, 10s, t0 + 2s));
    EXPECT_TRUE(f.record("a", 3, 10s, t0 + 2s));
    // Their windows are over at t0 + 10 s: forgotten, and "c" is tracked.
    for (int i = 0; i < 3; ++i) EXPECT_FALSE(f.record("c", 3, 10s, t0 + 11s)) << i;
    EXPECT_EQ(f.size(), 1U);
    EXPECT_TRUE(f.record("c", 3, 10s, t0 + 11s));
}

}  // namespace
}  // namespace moth::limits
