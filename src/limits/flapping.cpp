#include "limits/flapping.hpp"

namespace moth::limits {

bool FlapDetector::record(std::string_view key, std::uint32_t max, std::chrono::seconds window, TimePoint now) {
    std::lock_guard lock(mutex_);
    if (now - last_prune_ >= window && !keys_.empty()) prune(now, window);
    auto it = keys_.find(std::string(key));
    if (it == keys_.end()) {
        if (keys_.size() >= max_keys_) return false;  // bounded: a key past the bound is not tracked
        it = keys_.emplace(std::string(key), Entry{now, 0}).first;
    }
    Entry& e = it->second;
    if (now - e.start >= window) e = Entry{now, 0};
    ++e.count;
    return e.count == max + 1;
}

void FlapDetector::forget(std::string_view key) {
    std::lock_guard lock(mutex_);
    keys_.erase(std::string(key));
}

void FlapDetector::prune(TimePoint now, std::chrono::seconds window) {
    last_prune_ = now;
    std::erase_if(keys_, [&](const auto& kv) { return now - kv.second.start >= window; });
}

std::size_t FlapDetector::size() const {
    std::lock_guard lock(mutex_);
    return keys_.size();
}

}  // namespace moth::limits
