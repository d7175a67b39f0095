#pragma once
// A token bucket that may go into debt: a client takes what its packet costs even when the bucket holds less, and
// the bucket says how long until it is out of debt again. The caller stops reading the client meanwhile (TCP
// back-pressure), so the packet that crossed the line is never lost and the long-run rate is exactly `rate`.
// Pure: the time comes with each call; not thread-safe (one owner, or a lock around it).
#include <algorithm>
#include <chrono>

namespace moth::limits {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Seconds = std::chrono::duration<double>;

class TokenBucket {
public:
    TokenBucket() = default;
    // `rate` tokens per second, at most `burst` saved up; starts full. rate <= 0: unlimited (take() never waits).
    TokenBucket(double rate, double burst, TimePoint now) : rate_(rate), burst_(std::max(burst, 0.0)), tokens_(burst_), last_(now) {}

    [[nodiscard]] bool unlimited() const { return rate_ <= 0; }
    [[nodiscard]] double rate() const { return rate_; }
    [[nodiscard]] double burst() const { return burst_; }

    // Takes `cost` tokens. Returns how long until the balance is back at zero: zero when it did not go below.
    Seconds take(double cost, TimePoint now) {
        if (unlimited()) return Seconds(0);
        refill(now);
        tokens_ -= cost;
        return tokens_ >= 0 ? Seconds(0) : Seconds(-tokens_ / rate_);
    }
    // Takes `cost` only when that many tokens are there (no debt). For rates that refuse rather than slow down.
    bool try_take(double cost, TimePoint now) {
        if (unlimited()) return true;
        refill(now);
        if (tokens_ < cost) return false;
        tokens_ -= cost;
        return true;
    }
    // Whether the bucket is full at `now` (an idle key that a table may forget without changing any answer).
    [[nodiscard]] bool full(TimePoint now) const {
        return unlimited() || tokens_ + rate_ * Seconds(now - last_).count() >= burst_;
    }
    // New rate and burst (a reload); the balance is kept, capped at the new burst.
    void set(double rate, double burst, TimePoint now) {
        refill(now);
        rate_ = rate;
        burst_ = std::max(burst, 0.0);
        tokens_ = std::min(tokens_, burst_);
    }

private:
    void refill(TimePoint now) {
        if (now > last_) {
            tokens_ = std::min(burst_, tokens_ + rate_ * Seconds(now - last_).count());
            last_ = now;
        }
    }

    double rate_ = 0;
    double burst_ = 0;
    double tokens_ = 0;
    TimePoint last_{};
};

}  // namespace moth::limits
