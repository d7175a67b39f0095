// The broker-wide log rate limit (src/common/log_limiter.hpp), driven with explicit time points.
#include "common/log_limiter.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace moth::common {
namespace {

using namespace std::chrono_literals;

struct Recorder {
    std::vector<std::string> lines;
    LogLimiter::Sink sink() {
        return [this](int, const std::string& line) { lines.push_back(line); };
    }
};

TEST(LogLimiter, ShapeIgnoresNumbers) {
    EXPECT_EQ(LogLimiter::shape("closing 127.0.0.1:50012: bad"), "closing #.#.#.#:#: bad");
    EXPECT_EQ(LogLimiter::shape("accept on mqtt-0 failed"), "accept on mqtt-# failed");
}

TEST(LogLimiter, AFloodOfOneShapeIsCutToTheBurstAndOneSummaryPerInterval) {
    Recorder r;
    LogLimiter limiter(r.sink(), {10s, 5, 100});
    const auto t0 = LogLimiter::Clock::time_point{} + 1h;
    for (int i = 0; i < 100'000; ++i) limiter.log(2, "accept on mqtt-0 failed: Too many open files (" +
                                                      std::to_string(i) + ")", t0 + std::chrono::microseconds(i));
    EXPECT_EQ(r.lines.size(), 5U);
    limiter.flush(t0 + 5s);  // the interval has not ended: nothing yet
    EXPECT_EQ(r.lines.size(), 5U);
    limiter.flush(t0 + 11s);
    ASSERT_EQ(r.lines.size(), 6U);
    EXPECT_EQ(r.lines.back().rfind("99995 more lines like this in 10 s left out", 0), 0U) << r.lines.back();
    EXPECT_NE(r.lines.back().find("(99999)"), std::string::npos) << "quotes the last line";
    // A new interval lets the burst through again.
    limiter.log(2, "accept on mqtt-0 failed: Too many open files (1)", t0 + 12s);
    EXPECT_EQ(r.lines.size(), 7U);
}

TEST(LogLimiter, DifferentShapesAreCountedApart) {
    Recorder r;
    LogLimiter limiter(r.sink(), {10s, 2, 100});
    const auto t0 = LogLimiter::Clock::time_point{} + 1h;
    for (int i = 0; i < 10; ++i) {
        limiter.log(1, "a " + std::to_string(i), t0);
        limiter.log(1, "b " + std::to_string(i), t0);
    }
    EXPECT_EQ(r.lines, (std::vector<std::string>{"a 0", "b 0", "a 1", "b 1"}));
}

TEST(LogLimiter, SummaryComesWithTheNextLineWhenFlushIsLate) {
    Recorder r;
    LogLimiter limiter(r.sink(), {10s, 1, 100});
    const auto t0 = LogLimiter::Clock::time_point{} + 1h;
    limiter.log(1, "x 1", t0);
    limiter.log(1, "x 2", t0 + 1s);
    limiter.log(1, "x 3", t0 + 20s);
    ASSERT_EQ(r.lines.size(), 3U);
    EXPECT_EQ(r.lines[1].rfind("1 more line like this", 0), 0U) << r.lines[1];
    EXPECT_EQ(r.lines[2], "x 3");
}

}  // namespace
}  // namespace moth::common

#include "common/error_text.hpp"

namespace moth::common {
namespace {

TEST(ErrorText, DropsBoostsCategoryAndSourceLocation) {
    EXPECT_EQ(error_text("bind: Address already in use [system:98 at /usr/include/boost/asio/detail/"
                         "reactive_socket_service.hpp:161:5 in function 'bind']"),
              "bind: Address already in use");
    EXPECT_EQ(error_text("handshake: wrong version number (SSL routines) [asio.ssl:167772427]"),
              "handshake: wrong version number (SSL routines)");
    EXPECT_EQ(error_text("listener ws-2: no such file [a] b"), "listener ws-2: no such file [a] b");
    EXPECT_EQ(error_text("plain text"), "plain text");
}

}  // namespace
}  // namespace moth::common
