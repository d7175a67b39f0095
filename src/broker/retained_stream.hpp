#pragma once
// The retained messages one SUBSCRIBE asked for, sent as the subscriber takes them (issue 16): a cursor over the
// topics its filter matched when the SUBACK went out, not copies of the messages in the session's queue.
//
// What it keeps is the list of matched topic names, in one block (the retained index is a hash trie with no order
// to resume a walk from, so the names are the cursor). Each topic is looked up again in the index when its turn
// comes: a message replaced meanwhile is sent as it is then, one deleted or expired meanwhile is skipped, and no
// retained message is kept alive by a subscriber that has not taken it yet. The cost is the names (about the
// topic's length plus 4 bytes each), bounded per session by limits.max_queued_bytes (Core::start_retained).
//
// Thread affinity: owned by one session, used on its worker's thread only.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "codec/types.hpp"

namespace moth::broker {

class RetainedStream {
public:
    RetainedStream(std::string filter, codec::QoS granted, std::uint32_t subscription_id)
        : filter_(std::move(filter)), granted_(granted), subscription_id_(subscription_id) {}

    void add(std::string_view topic) {
        topics_.append(topic);
        ends_.push_back(static_cast<std::uint32_t>(topics_.size()));
    }
    // Gives back spare capacity once every topic is added.
    void shrink_to_fit() {
        topics_.shrink_to_fit();
        ends_.shrink_to_fit();
    }

    [[nodiscard]] bool done() const noexcept { return next_ == ends_.size(); }
    [[nodiscard]] std::size_t remaining() const noexcept { return ends_.size() - next_; }
    // The topic whose turn it is; only while !done().
    [[nodiscard]] std::string_view current() const noexcept {
        const std::uint32_t from = next_ == 0 ? 0 : ends_[next_ - 1];
        return std::string_view(topics_).substr(from, ends_[next_] - from);
    }
    void advance() noexcept { ++next_; }

    [[nodiscard]] const std::string& filter() const noexcept { return filter_; }
    [[nodiscard]] codec::QoS granted() const noexcept { return granted_; }
    [[nodiscard]] std::uint32_t subscription_id() const noexcept { return subscription_id_; }
    // What the cursor holds in memory (counted against the session's limit).
    [[nodiscard]] std::size_t memory_size() const noexcept {
        return sizeof(*this) + filter_.capacity() + topics_.capacity() + ends_.capacity() * sizeof(std::uint32_t);
    }

private:
    std::string filter_;  // as subscribed (no "$share/": shared subscriptions get no retained messages)
    codec::QoS granted_;
    std::uint32_t subscription_id_;  // 0: none
    std::string topics_;             // every matched topic, one after the other
    std::vector<std::uint32_t> ends_;  // where each topic ends in topics_
    std::size_t next_ = 0;             // the first topic not sent yet
};

}  // namespace moth::broker
