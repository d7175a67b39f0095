#pragma once
// Retained messages by topic (MQTT 5.0 section 3.3.1.3), in a level trie so that a new subscription to
// "a/+/c" visits only the "a/*/c" branch instead of scanning every retained topic.
//
// Thread affinity: none inside. Each worker owns its own index and calls it from its own thread only.
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <boost/container/small_vector.hpp>

#include "topic/levels.hpp"

namespace moth::topic {

// M: the stored message, e.g. std::shared_ptr<const Message>. Topics passed in must be valid topic names
// (codec::validate_topic_name), filters valid plain filters: the index does not check them again.
template <class M>
class RetainedIndex {
public:
    RetainedIndex() = default;
    RetainedIndex(RetainedIndex&&) noexcept = default;
    RetainedIndex& operator=(RetainedIndex&&) noexcept = default;
    RetainedIndex(const RetainedIndex&) = delete;
    RetainedIndex& operator=(const RetainedIndex&) = delete;
    ~RetainedIndex() = default;

    // Stores `message` as the retained message of `topic`, replacing any previous one. (A retained PUBLISH
    // with an empty payload deletes instead [MQTT-3.3.1-6]: the broker calls erase for it.)
    void set(std::string_view topic, M message) {
        Node* node = &root_;
        for (std::size_t start = 0; start != kNoLevel;) {
            const auto level = level_at(topic, start);
            auto it = node->children.find(level.text);
            if (it == node->children.end()) {
                it = node->children.emplace(std::string(level.text), std::make_unique<Node>()).first;
                ++node_count_;
            }
            node = it->second.get();
            start = level.next;
        }
        if (!node->message) {
            node->topic = std::string(topic);
            ++size_;
        }
        node->message = std::move(message);
    }

    // Removes the retained message of `topic`; returns whether there was one. Emptied nodes are freed.
    bool erase(std::string_view topic) {
        boost::container::small_vector<Node*, 16> path{&root_};  // path[i] is reached through steps[i - 1]
        boost::container::small_vector<std::string_view, 16> steps;
        for (std::size_t start = 0; start != kNoLevel;) {
            const auto level = level_at(topic, start);
            const auto it = path.back()->children.find(level.text);
            if (it == path.back()->children.end()) return false;
            path.push_back(it->second.get());
            steps.push_back(level.text);
            start = level.next;
        }
        Node& node = *path.back();
        if (!node.message) return false;
        node.message.reset();
        node.topic = std::string();  // give the memory back, not just the length
        --size_;
        for (std::size_t i = steps.size(); i > 0 && path[i]->empty(); --i) {
            auto& siblings = path[i - 1]->children;
            siblings.erase(siblings.find(steps[i - 1]));
            --node_count_;
        }
        return true;
    }

    // Calls visit(std::string_view topic, const M&) for every retained topic that the plain filter `filter`
    // matches (for a shared subscription the broker passes the filter after "$share/<group>/"). Wildcards
    // in the first level skip '$' topics [MQTT-4.7.2-1]. `visit` must not modify the index.
    template <class F>
    void match(std::string_view filter, F&& visit) const {
        match_from(root_, filter, 0, visit);
    }

    // The retained message of `topic`, or nullptr. Valid until the next set/erase/clear.
    [[nodiscard]] const M* find(std::string_view topic) const {
        const Node* node = &root_;
        for (std::size_t start = 0; start != kNoLevel;) {
            const auto level = level_at(topic, start);
            const auto it = node->children.find(level.text);
            if (it == node->children.end()) return nullptr;
            node = it->second.get();
            start = level.next;
        }
        return node->message ? &*node->message : nullptr;
    }

    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    [[nodiscard]] bool empty() const noexcept { return size_ == 0; }

    // Number of trie nodes below the root: for tests of pruning and for $SYS memory figures.
    [[nodiscard]] std::size_t node_count() const noexcept { return node_count_; }

    void clear() {
        root_ = Node{};
        size_ = 0;
        node_count_ = 0;
    }

    // Every retained message, in no particular order: visit(std::string_view topic, const M&).
    template <class F>
    void for_each(F&& visit) const {
        visit_subtree(root_, false, visit);
    }

private:
    struct Node {
        LevelMap<std::unique_ptr<Node>> children;
        std::string topic;  // the full topic, set while `message` is: visitors get it without rebuilding it
        std::optional<M> message;

        [[nodiscard]] bool empty() const noexcept { return children.empty() && !message; }
    };

    // `start` is the offset of the next filter level to match below `node`, or kNoLevel when the whole
    // filter has been matched. Exact levels loop; '+' recurses into each child.
    template <class F>
    void match_from(const Node& node, std::string_view filter, std::size_t start, F& visit) const {
        const Node* n = &node;
        for (;;) {
            if (start == kNoLevel) {
                if (n->message) visit(std::string_view(n->topic), *n->message);
                return;
            }
            const bool first_level = start == 0;
            const auto level = level_at(filter, start);
            if (level.text == "#") {
                // '#' matches the parent level too ("sport/#" matches "sport"), and everything below.
                visit_subtree(*n, first_level, visit);
                return;
            }
            if (level.text == "+") {
                for (const auto& [name, child] : n->children) {
                    if (first_level && is_dollar_topic(name)) continue;
                    match_from(*child, filter, level.next, visit);
                }
                return;
            }
            const auto it = n->children.find(level.text);
            if (it == n->children.end()) return;
            n = it->second.get();
            start = level.next;
        }
    }

    template <class F>
    static void visit_subtree(const Node& node, bool skip_dollar, F& visit) {
        if (node.message) visit(std::string_view(node.topic), *node.message);
        for (const auto& [name, child] : node.children) {
            if (skip_dollar && is_dollar_topic(name)) continue;
            visit_subtree(*child, false, visit);
        }
    }

    Node root_;
    std::size_t size_ = 0;
    std::size_t node_count_ = 0;
};

}  // namespace moth::topic
