#pragma once
// Token buckets by key (a listener's name, a source address), shared by every worker: one lock, held for a few
// arithmetic operations per new connection. The table is bounded: keys whose bucket is full again are forgotten
// (a full bucket answers exactly as a new one would), and when it is still at its bound a new key is admitted
// without a bucket rather than growing without limit (counted, so an operator sees it).
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "limits/token_bucket.hpp"

namespace moth::limits {

class KeyedRates {
public:
    explicit KeyedRates(std::size_t max_keys = 100000) : max_keys_(max_keys) {}

    // Takes one token from `key`'s bucket (created full with `rate`/`burst`, or updated to them). False: none left,
    // the caller refuses. rate <= 0: always true, nothing kept.
    bool admit(std::string_view key, double rate, double burst, TimePoint now);

    [[nodiscard]] std::size_t size() const;
    [[nodiscard]] std::uint64_t overflowed() const;  // admissions without a bucket because the table was full

private:
    void prune(TimePoint now);  // lock held

    struct Entry {
        TokenBucket bucket;
    };
    mutable std::mutex mutex_;
    std::unordered_map<std::string, Entry> buckets_;
    std::size_t max_keys_;
    std::uint64_t overflowed_ = 0;
    TimePoint last_prune_{};
};

}  // namespace moth::limits
