#pragma once
// Flapping detection: a key (a client id, a source address) that connects more than `max` times within a window
// is reported once, so the caller can ban it. A window starts at the key's first connect and lasts `window`; the
// count starts over after it. Thread-safe (one lock, a few operations per CONNECT); bounded like KeyedRates: keys
// whose window is over are forgotten.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "limits/token_bucket.hpp"

namespace moth::limits {

class FlapDetector {
public:
    explicit FlapDetector(std::size_t max_keys = 200000) : max_keys_(max_keys) {}

    // Records a connect of `key`. True exactly once per window: on the connect that makes more than `max`.
    bool record(std::string_view key, std::uint32_t max, std::chrono::seconds window, TimePoint now);
    // Forgets `key` (it was unbanned: its next connects count from zero).
    void forget(std::string_view key);
    [[nodiscard]] std::size_t size() const;

private:
    void prune(TimePoint now, std::chrono::seconds window);  // lock held

    struct Entry {
        TimePoint start;
        std::uint32_t count = 0;
    };
    mutable std::mutex mutex_;
    std::unordered_map<std::string, Entry> keys_;
    std::size_t max_keys_;
    TimePoint last_prune_{};
};

}  // namespace moth::limits
