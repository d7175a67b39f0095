#include "limits/keyed_rates.hpp"

namespace moth::limits {

bool KeyedRates::admit(std::string_view key, double rate, double burst, TimePoint now) {
    if (rate <= 0) return true;
    std::lock_guard lock(mutex_);
    auto it = buckets_.find(std::string(key));
    if (it == buckets_.end()) {
        if (buckets_.size() >= max_keys_) prune(now);
        if (buckets_.size() >= max_keys_) {
            ++overflowed_;
            return true;
        }
        it = buckets_.emplace(std::string(key), Entry{TokenBucket(rate, burst, now)}).first;
    } else if (it->second.bucket.rate() != rate || it->second.bucket.burst() != burst) {
        it->second.bucket.set(rate, burst, now);
    }
    const bool ok = it->second.bucket.try_take(1, now);
    // Forget idle keys now and then (at most once a second), so the table holds the keys that are busy.
    if (now - last_prune_ >= std::chrono::seconds(1) && buckets_.size() > 64) prune(now);
    return ok;
}

void KeyedRates::prune(TimePoint now) {
    last_prune_ = now;
    std::erase_if(buckets_, [&](const auto& kv) { return kv.second.bucket.full(now); });
}

std::size_t KeyedRates::size() const {
    std::lock_guard lock(mutex_);
    return buckets_.size();
}

std::uint64_t KeyedRates::overflowed() const {
    std::lock_guard lock(mutex_);
    return overflowed_;
}

}  // namespace moth::limits
