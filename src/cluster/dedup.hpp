#pragma once
// Deduplication of bus deliveries by message id (docs/cluster.md). One node can receive a message more than
// once: overlapping filters subscribe to overlapping subjects, and JetStream redelivers what was not acknowledged in
// time. The first copy is delivered; each later copy is a duplicate, acknowledged once the first copy's
// acknowledgement ran (at once when it already had). A first copy refused (ack false) is forgotten, so its
// redelivery is delivered again. Memory is bounded: the oldest ids are forgotten first.
//
// Thread safety: every member may be called from any thread; callbacks run after the lock is released.
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace moth::cluster {

class Dedup {
public:
    using Ack = std::function<void(bool ok)>;
    explicit Dedup(std::size_t capacity = 100'000) : capacity_(capacity) {}

    // True for the first copy of `key` (deliver it, then call acked()). False for a duplicate: `dup_ack` (may be
    // null) runs with the first copy's outcome, now or when acked() is called.
    [[nodiscard]] bool first(const std::string& key, Ack dup_ack);
    // The first copy of `key` was handled: ok = routed (duplicates are acknowledged), else refused (duplicates are
    // refused too, and the id is forgotten so the redelivery counts as a first copy).
    void acked(const std::string& key, bool ok);
    [[nodiscard]] std::size_t size() const;

private:
    struct Entry {
        bool done = false;
        std::vector<Ack> waiting;
    };
    void forget_oldest(std::vector<Ack>& orphans);

    std::size_t capacity_;
    mutable std::mutex mu_;
    std::unordered_map<std::string, Entry> entries_;
    std::deque<std::string> order_;  // insertion order; may hold ids already forgotten by acked(false)
};

}  // namespace moth::cluster
