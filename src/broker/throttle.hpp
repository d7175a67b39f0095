#pragma once
// A connection's publish rate limits (limits.publish_rate, publish_byte_rate, over_rate): two token buckets that
// may go into debt. A PUBLISH that takes a bucket below zero is handled like any other, then the connection's
// input pauses until the debt is paid (the client meets TCP back-pressure; nothing is dropped), or, with
// over_rate = "disconnect", the client is disconnected. Kept out of line: null when no rate applies.
#include <cstdint>

#include "broker/message.hpp"
#include "limits/token_bucket.hpp"

namespace moth::broker {

struct Throttle {
    limits::TokenBucket messages;
    limits::TokenBucket bytes;
    TimePoint resume_at{};
    bool paused = false;
    std::uint32_t times = 0;  // how often this connection was slowed down
    // The PUBLISH rate over the last whole second, for the API.
    TimePoint window_start{};
    std::uint32_t in_window = 0;
    float rate = 0;

    // Counts one PUBLISH of `size` bytes; returns how long the connection must wait (zero: none).
    limits::Seconds charge(std::size_t size, TimePoint now) {
        if (now - window_start >= std::chrono::seconds(1)) {
            rate = static_cast<float>(in_window / limits::Seconds(now - window_start).count());
            window_start = now;
            in_window = 0;
        }
        ++in_window;
        const auto a = messages.take(1, now);
        const auto b = bytes.take(static_cast<double>(size), now);
        return std::max(a, b);
    }
};

}  // namespace moth::broker
