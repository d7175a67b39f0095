#pragma once
// The subscription tree: every subscription of one broker worker, indexed by filter level so that a PUBLISH
// is matched against all of them in one walk (MQTT 5.0 section 4.7; shared subscriptions, section 4.8.2).
//
// Thread affinity: none inside. Each worker owns its own tree and calls it from its own thread only; the
// tree takes no locks.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/container/small_vector.hpp>

#include "codec/topic.hpp"
#include "topic/levels.hpp"
#include "topic/shared_policy.hpp"

namespace moth::topic {

namespace detail {

// The subscribers of one filter, or the members of one shared group. Most filters have one subscriber, so
// the entries live in a small vector scanned linearly; a filter that many sessions share ("broadcast/all")
// also gets a key -> position index, so that subscribing 100k sessions to it stays linear overall.
template <class V>
class SubscriberList {
public:
    using Key = std::uint64_t;
    struct Entry {
        Key key;
        V value;
    };

    [[nodiscard]] bool empty() const noexcept { return entries_.empty(); }
    [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }
    [[nodiscard]] Entry& operator[](std::size_t i) noexcept { return entries_[i]; }
    [[nodiscard]] const Entry& operator[](std::size_t i) const noexcept { return entries_[i]; }
    auto begin() noexcept { return entries_.begin(); }
    auto end() noexcept { return entries_.end(); }
    auto begin() const noexcept { return entries_.begin(); }
    auto end() const noexcept { return entries_.end(); }

    [[nodiscard]] std::optional<std::size_t> position(Key key) const {
        if (index_) {
            const auto it = index_->find(key);
            if (it == index_->end()) return std::nullopt;
            return it->second;
        }
        for (std::size_t i = 0; i < entries_.size(); ++i) {
            if (entries_[i].key == key) return i;
        }
        return std::nullopt;
    }

    // Returns true when `key` is new, false when its value was replaced.
    bool insert_or_assign(Key key, V&& value) {
        if (const auto pos = position(key)) {
            entries_[*pos].value = std::move(value);
            return false;
        }
        entries_.push_back(Entry{key, std::move(value)});
        if (index_) {
            index_->emplace(key, entries_.size() - 1);
        } else if (entries_.size() > kIndexAbove) {
            rebuild_index();
        }
        return true;
    }

    // Removes `key` and returns the position it had. `stable` keeps the others in order (a shared group
    // rotates in that order); otherwise the last entry fills the hole, which is O(1).
    std::optional<std::size_t> erase(Key key, bool stable) {
        const auto pos = position(key);
        if (!pos) return std::nullopt;
        const auto i = *pos;
        if (stable) {
            entries_.erase(entries_.begin() + static_cast<std::ptrdiff_t>(i));
        } else {
            if (i + 1 != entries_.size()) entries_[i] = std::move(entries_.back());
            entries_.pop_back();
        }
        if (index_) {
            // Hysteresis: drop the index well below the threshold so that a list hovering around it does not
            // rebuild on every insert.
            if (entries_.size() <= kIndexAbove / 2) {
                index_.reset();
            } else {
                index_->erase(key);
                const auto last = stable ? entries_.size() : std::min(i + 1, entries_.size());
                for (std::size_t j = i; j < last; ++j) (*index_)[entries_[j].key] = j;
            }
        }
        return i;
    }

private:
    static constexpr std::size_t kIndexAbove = 16;

    void rebuild_index() {
        index_ = std::make_unique<KeyIndex>();
        index_->reserve(entries_.size() * 2);
        for (std::size_t i = 0; i < entries_.size(); ++i) index_->emplace(entries_[i].key, i);
    }

    using KeyIndex = std::unordered_map<Key, std::size_t>;
    boost::container::small_vector<Entry, 1> entries_;
    std::unique_ptr<KeyIndex> index_;
};

}  // namespace detail

// V: what the broker stores per subscription (options, subscription identifier...). Key: the subscriber
// (a session id). Filters passed in must be valid (codec::validate_topic_filter) and topics valid topic
// names (codec::validate_topic_name): the tree does not check them again.
template <class V>
class SubscriptionTree {
public:
    using Key = std::uint64_t;

    // `seed` feeds SharedPolicy::Random only; a fixed default keeps runs reproducible.
    explicit SubscriptionTree(SharedPolicy policy = SharedPolicy::RoundRobin, std::uint64_t seed = 0x6d6f7468)
        : policy_(policy), rng_(static_cast<std::minstd_rand::result_type>(seed % std::minstd_rand::modulus)) {}

    SubscriptionTree(SubscriptionTree&&) noexcept = default;
    SubscriptionTree& operator=(SubscriptionTree&&) noexcept = default;
    SubscriptionTree(const SubscriptionTree&) = delete;
    SubscriptionTree& operator=(const SubscriptionTree&) = delete;
    ~SubscriptionTree() = default;

    // Adds or replaces the subscription of `key` to `filter` (possibly "$share/<group>/<f>"). Returns true
    // when it is new, false when it replaced an existing one (Retain Handling 1 sends retained messages only
    // for new subscriptions). A shared membership and a plain subscription to the same f are distinct.
    bool insert(std::string_view filter, Key key, V value) {
        const auto shared = codec::parse_shared_filter(filter);
        Node& node = descend_or_create(shared ? shared->filter : filter);
        bool added = false;
        if (!shared) {
            added = node.subscribers.insert_or_assign(key, std::move(value));
        } else {
            SharedGroup* group = find_group(node, shared->group);
            if (group == nullptr) group = &node.groups.emplace_back(SharedGroup{std::string(shared->group), {}, 0});
            added = group->members.insert_or_assign(key, std::move(value));
        }
        if (added) ++size_;
        return added;
    }

    // Removes the subscription of `key` to `filter`; returns whether it existed. Nodes left with nothing
    // below them are freed, so a tree that saw a million short-lived filters does not keep their skeleton.
    bool erase(std::string_view filter, Key key) {
        const auto shared = codec::parse_shared_filter(filter);
        const auto plain = shared ? shared->filter : filter;
        // path[i] is reached from path[i - 1] through steps[i - 1].
        boost::container::small_vector<Node*, 16> path{&root_};
        boost::container::small_vector<std::string_view, 16> steps;
        for (std::size_t start = 0; start != kNoLevel;) {
            const auto level = level_at(plain, start);
            Node* child = find_child(*path.back(), level.text);
            if (child == nullptr) return false;
            path.push_back(child);
            steps.push_back(level.text);
            start = level.next;
        }
        Node& node = *path.back();
        if (!shared) {
            if (!node.subscribers.erase(key, false)) return false;
        } else {
            SharedGroup* group = find_group(node, shared->group);
            if (group == nullptr || !leave_group(*group, key)) return false;
            if (group->members.empty()) {
                if (group != &node.groups.back()) *group = std::move(node.groups.back());
                node.groups.pop_back();
            }
        }
        --size_;
        for (std::size_t i = steps.size(); i > 0 && path[i]->empty(); --i) remove_child(*path[i - 1], steps[i - 1]);
        return true;
    }

    // Calls visit(key, const V&) once for every plain subscription whose filter matches `topic`, and, for
    // every matching shared group, once for the ONE member the policy picks. Overlapping plain subscriptions
    // of one key are each reported; the broker merges them. Allocates nothing (the topic is split while
    // walking). `visit` must not modify the tree.
    template <class F>
    void match(std::string_view topic, F&& visit) {
        match_from(root_, topic, 0, !is_dollar_topic(topic), visit);
    }

    // Number of subscriptions: plain ones plus shared memberships.
    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    [[nodiscard]] bool empty() const noexcept { return size_ == 0; }

    // Number of tree nodes below the root: for tests of pruning and for $SYS memory figures.
    [[nodiscard]] std::size_t node_count() const noexcept { return node_count_; }

    [[nodiscard]] SharedPolicy policy() const noexcept { return policy_; }

    void clear() {
        root_ = Node{};
        size_ = 0;
        node_count_ = 0;
    }

    // Every subscription, in no particular order: visit(std::string_view filter, Key, const V&), the filter
    // as it was subscribed ("$share/<group>/<f>" for memberships). For $SYS and debugging: it allocates.
    template <class F>
    void for_each(F&& visit) const {
        std::string filter;
        for_each_from(root_, filter, visit);
    }

private:
    using Subscribers = detail::SubscriberList<V>;

    struct SharedGroup {
        std::string name;
        Subscribers members;  // in the order they joined: the rotation order
        std::size_t next = 0;  // RoundRobin: who gets the next message; Sticky: who gets them all (stays 0)
    };

    struct Node {
        LevelMap<std::unique_ptr<Node>> children;
        std::unique_ptr<Node> plus;  // the '+' level
        std::unique_ptr<Node> hash;  // the '#' level: subscribers only, never children
        Subscribers subscribers;
        std::vector<SharedGroup> groups;  // shared groups on the filter ending here; usually none

        [[nodiscard]] bool empty() const noexcept {
            return children.empty() && !plus && !hash && subscribers.empty() && groups.empty();
        }
    };

    Node& descend_or_create(std::string_view filter) {
        Node* node = &root_;
        for (std::size_t start = 0; start != kNoLevel;) {
            const auto level = level_at(filter, start);
            std::unique_ptr<Node>* slot = nullptr;
            if (level.text == "+") {
                slot = &node->plus;
            } else if (level.text == "#") {
                slot = &node->hash;
            } else if (auto it = node->children.find(level.text); it != node->children.end()) {
                slot = &it->second;
            } else {
                slot = &node->children.emplace(std::string(level.text), nullptr).first->second;
            }
            if (!*slot) {
                *slot = std::make_unique<Node>();
                ++node_count_;
            }
            node = slot->get();
            start = level.next;
        }
        return *node;
    }

    static Node* find_child(Node& node, std::string_view level) {
        if (level == "+") return node.plus.get();
        if (level == "#") return node.hash.get();
        const auto it = node.children.find(level);
        return it == node.children.end() ? nullptr : it->second.get();
    }

    void remove_child(Node& node, std::string_view level) {
        if (level == "+") {
            node.plus.reset();
        } else if (level == "#") {
            node.hash.reset();
        } else {
            node.children.erase(node.children.find(level));
        }
        --node_count_;
    }

    static SharedGroup* find_group(Node& node, std::string_view name) {
        for (auto& group : node.groups) {
            if (group.name == name) return &group;
        }
        return nullptr;
    }

    // Keeps the rotation where it was: members after the leaver move up one place, and so does `next`
    // when it pointed past the leaver, so nobody is skipped or served twice in the current round.
    static bool leave_group(SharedGroup& group, Key key) {
        const auto pos = group.members.erase(key, true);
        if (!pos) return false;
        if (*pos < group.next) --group.next;
        if (group.next >= group.members.size()) group.next = 0;
        return true;
    }

    const typename Subscribers::Entry& pick(SharedGroup& group) {
        const auto n = group.members.size();
        switch (policy_) {
            case SharedPolicy::RoundRobin: {
                const auto i = group.next;
                group.next = i + 1 == n ? 0 : i + 1;
                return group.members[i];
            }
            case SharedPolicy::Random:
                return group.members[std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_)];
            case SharedPolicy::Sticky:
                break;
        }
        return group.members[group.next];
    }

    template <class F>
    void report(Node& node, F& visit) {
        for (const auto& entry : node.subscribers) visit(entry.key, entry.value);
        for (auto& group : node.groups) {
            const auto& member = pick(group);
            visit(member.key, member.value);
        }
    }

    // `start` is the offset of the next topic level to match below `node`, or kNoLevel when the whole topic
    // has been matched. Exact children are followed in a loop and only '+' recurses, so the stack grows with
    // the number of '+' levels on a path, not with the topic's depth.
    template <class F>
    void match_from(Node& node, std::string_view topic, std::size_t start, bool wildcards, F& visit) {
        Node* n = &node;
        for (;;) {
            if (start == kNoLevel) {
                report(*n, visit);
                // "sport/#" also matches "sport" itself.
                if (n->hash) report(*n->hash, visit);
                return;
            }
            // `wildcards` is false only at the first level of a '$' topic [MQTT-4.7.2-1].
            if (wildcards && n->hash) report(*n->hash, visit);
            const auto level = level_at(topic, start);
            if (wildcards && n->plus) match_from(*n->plus, topic, level.next, true, visit);
            const auto it = n->children.find(level.text);
            if (it == n->children.end()) return;
            n = it->second.get();
            start = level.next;
            wildcards = true;
        }
    }

    template <class F>
    void for_each_from(const Node& node, std::string& filter, F& visit) const {
        for (const auto& entry : node.subscribers) visit(std::string_view(filter), entry.key, entry.value);
        for (const auto& group : node.groups) {
            const std::string shared = "$share/" + group.name + "/" + filter;
            for (const auto& member : group.members) visit(std::string_view(shared), member.key, member.value);
        }
        const auto descend = [&](const Node& child, std::string_view level) {
            const auto old_size = filter.size();
            // The root's children are first levels: no separator before them (an empty first level still
            // yields "/..." once its own child is appended).
            if (&node != &root_) filter += '/';
            filter += level;
            for_each_from(child, filter, visit);
            filter.resize(old_size);
        };
        for (const auto& [level, child] : node.children) descend(*child, level);
        if (node.plus) descend(*node.plus, "+");
        if (node.hash) descend(*node.hash, "#");
    }

    SharedPolicy policy_;
    std::minstd_rand rng_;
    Node root_;
    std::size_t size_ = 0;
    std::size_t node_count_ = 0;
};

}  // namespace moth::topic
