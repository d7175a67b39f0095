#include "cluster/dedup.hpp"

namespace moth::cluster {

bool Dedup::first(const std::string& key, Ack dup_ack) {
    std::vector<Ack> orphans;  // waiters of ids forgotten to stay bounded: refused, so they come again
    bool is_first = false;
    bool ack_now = false;
    {
        std::lock_guard lock(mu_);
        auto [it, inserted] = entries_.try_emplace(key);
        if (inserted) {
            is_first = true;
            order_.push_back(key);
            while (order_.size() > capacity_) forget_oldest(orphans);
        } else if (it->second.done) {
            ack_now = true;
        } else if (dup_ack) {
            it->second.waiting.push_back(std::move(dup_ack));
        }
    }
    for (auto& a : orphans) a(false);
    if (ack_now && dup_ack) dup_ack(true);
    return is_first;
}

void Dedup::acked(const std::string& key, bool ok) {
    std::vector<Ack> waiting;
    {
        std::lock_guard lock(mu_);
        const auto it = entries_.find(key);
        if (it == entries_.end()) return;
        waiting.swap(it->second.waiting);
        if (ok) {
            it->second.done = true;
        } else {
            entries_.erase(it);  // its key stays in order_ until it reaches the front: skipped there
        }
    }
    for (auto& a : waiting) a(ok);
}

std::size_t Dedup::size() const {
    std::lock_guard lock(mu_);
    return entries_.size();
}

void Dedup::forget_oldest(std::vector<Ack>& orphans) {
    const auto it = entries_.find(order_.front());
    order_.pop_front();
    if (it == entries_.end()) return;
    for (auto& a : it->second.waiting) orphans.push_back(std::move(a));
    entries_.erase(it);
}

}  // namespace moth::cluster
