// SubscriptionTree, RetainedIndex and topic_matches against a brute-force matcher written straight from the
// specification text, on random topics and filters drawn from a small alphabet of levels (empty levels and
// '$' levels included), so that collisions and corner cases are frequent. The seed is fixed: a failure
// reproduces.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <iterator>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "codec/topic.hpp"
#include "topic/levels.hpp"
#include "topic/retained_index.hpp"
#include "topic/subscription_tree.hpp"

namespace {

using moth::topic::RetainedIndex;
using moth::topic::SubscriptionTree;
using Key = std::uint64_t;

std::vector<std::string> split(std::string_view s) {
    std::vector<std::string> levels(1);
    for (const char c : s) {
        if (c == '/') {
            levels.emplace_back();
        } else {
            levels.back() += c;
        }
    }
    return levels;
}

// Section 4.7, read literally.
bool brute_matches(std::string_view filter, std::string_view topic) {
    const auto f = split(filter);
    const auto t = split(topic);
    if (topic.front() == '$' && (f[0] == "+" || f[0] == "#")) return false;
    for (std::size_t i = 0; i < f.size(); ++i) {
        if (f[i] == "#") return true;  // this level and all below, the parent included
        if (i >= t.size()) return false;
        if (f[i] != "+" && f[i] != t[i]) return false;
    }
    return f.size() == t.size();
}

class Generator {
public:
    explicit Generator(std::uint32_t seed) : rng_(seed) {}

    // A valid topic name: one to four levels, never the empty string (a single empty level).
    std::string topic() {
        static constexpr std::string_view kLevels[] = {"a", "b", "", "$s", "c", "$"};
        std::string s;
        const auto n = pick(1, 4);
        for (std::size_t i = 0; i < n; ++i) {
            if (i != 0) s += '/';
            s += kLevels[pick(0, std::size(kLevels) - 1)];
        }
        return s.empty() ? topic() : s;
    }

    // A valid plain filter: up to four levels, possibly ending in '#', never the empty string.
    std::string filter() {
        static constexpr std::string_view kLevels[] = {"a", "b", "", "$s", "+", "+"};
        std::string s;
        const auto n = pick(0, 4);
        for (std::size_t i = 0; i < n; ++i) {
            if (i != 0) s += '/';
            s += kLevels[pick(0, std::size(kLevels) - 1)];
        }
        if (n == 0 || pick(0, 3) == 0) s += n == 0 ? "#" : "/#";
        return s.empty() ? filter() : s;
    }

    std::size_t pick(std::size_t lo, std::size_t hi) { return std::uniform_int_distribution<std::size_t>(lo, hi)(rng_); }

private:
    std::mt19937 rng_;
};

TEST(Randomized, TopicMatchesAgreesWithBruteForce) {
    Generator gen(20240601);
    for (int i = 0; i < 20000; ++i) {
        const auto filter = gen.filter();
        const auto topic = gen.topic();
        ASSERT_EQ(moth::codec::validate_topic_filter(filter), moth::codec::TopicError::None) << filter;
        ASSERT_EQ(moth::codec::validate_topic_name(topic), moth::codec::TopicError::None) << topic;
        ASSERT_EQ(moth::topic::topic_matches(filter, topic), brute_matches(filter, topic))
            << '"' << filter << "\" vs \"" << topic << '"';
    }
}

// One subscription as the test remembers it; the tree's value is its index in the table.
struct Subscription {
    std::string filter;  // inner filter for shared ones
    std::string group;   // empty for a plain subscription
    Key key;
    bool live;
};

// Checks one topic: each live plain subscription that matches is reported exactly once, and each shared
// group with a matching filter delivers exactly one copy, to one of its live members.
void check_topic(SubscriptionTree<std::size_t>& tree, const std::vector<Subscription>& subs, const std::string& topic) {
    std::multiset<std::size_t> plain_hits;
    std::map<std::pair<std::string, std::string>, int> group_hits;  // (group, filter) -> copies
    tree.match(topic, [&](Key key, const std::size_t& id) {
        ASSERT_LT(id, subs.size());
        const auto& s = subs[id];
        EXPECT_TRUE(s.live) << s.filter;
        EXPECT_EQ(s.key, key);
        if (s.group.empty()) {
            plain_hits.insert(id);
        } else {
            ++group_hits[{s.group, s.filter}];
        }
    });
    std::multiset<std::size_t> expected_plain;
    std::map<std::pair<std::string, std::string>, int> expected_groups;
    for (std::size_t id = 0; id < subs.size(); ++id) {
        const auto& s = subs[id];
        if (!s.live || !brute_matches(s.filter, topic)) continue;
        if (s.group.empty()) {
            expected_plain.insert(id);
        } else {
            expected_groups[{s.group, s.filter}] = 1;
        }
    }
    EXPECT_EQ(plain_hits, expected_plain) << topic;
    EXPECT_EQ(group_hits, expected_groups) << topic;
}

TEST(Randomized, SubscriptionTreeAgreesWithBruteForce) {
    Generator gen(7);
    for (int round = 0; round < 10; ++round) {
        SubscriptionTree<std::size_t> tree;
        std::vector<Subscription> subs;
        std::map<std::tuple<std::string, std::string, Key>, std::size_t> live;  // what is subscribed, by id
        const auto subscribe = [&] {
            Subscription s{gen.filter(), gen.pick(0, 3) == 0 ? (gen.pick(0, 1) == 0 ? "g" : "h") : "",
                           gen.pick(1, 8), true};
            const auto full = s.group.empty() ? s.filter : "$share/" + s.group + "/" + s.filter;
            const auto id = subs.size();
            const auto existing = live.find({s.group, s.filter, s.key});
            const bool is_new = existing == live.end();
            EXPECT_EQ(tree.insert(full, s.key, id), is_new) << full;
            if (!is_new) subs[existing->second].live = false;  // replaced: its old value is gone
            live[{s.group, s.filter, s.key}] = id;
            subs.push_back(std::move(s));
        };
        const auto unsubscribe = [&] {
            if (live.empty()) return;
            auto it = live.begin();
            std::advance(it, static_cast<std::ptrdiff_t>(gen.pick(0, live.size() - 1)));
            const auto& [group, filter, key] = it->first;
            const auto full = group.empty() ? filter : "$share/" + group + "/" + filter;
            EXPECT_TRUE(tree.erase(full, key)) << full;
            EXPECT_FALSE(tree.erase(full, key)) << full;
            subs[it->second].live = false;
            live.erase(it);
        };

        for (int i = 0; i < 150; ++i) subscribe();
        EXPECT_EQ(tree.size(), live.size());
        for (int i = 0; i < 300; ++i) check_topic(tree, subs, gen.topic());
        for (int i = 0; i < 100; ++i) {
            if (gen.pick(0, 2) == 0) {
                subscribe();
            } else {
                unsubscribe();
            }
        }
        EXPECT_EQ(tree.size(), live.size());
        for (int i = 0; i < 300; ++i) check_topic(tree, subs, gen.topic());

        // for_each sees exactly the live subscriptions.
        std::size_t visited = 0;
        tree.for_each([&](std::string_view filter, Key key, const std::size_t& id) {
            const auto& s = subs[id];
            EXPECT_TRUE(s.live);
            EXPECT_EQ(key, s.key);
            EXPECT_EQ(filter, s.group.empty() ? s.filter : "$share/" + s.group + "/" + s.filter);
            ++visited;
        });
        EXPECT_EQ(visited, live.size());

        while (!live.empty()) unsubscribe();
        EXPECT_EQ(tree.size(), 0u);
        EXPECT_EQ(tree.node_count(), 0u) << "erase must prune every node";
    }
}

TEST(Randomized, RetainedIndexAgreesWithBruteForce) {
    Generator gen(99);
    for (int round = 0; round < 10; ++round) {
        RetainedIndex<std::string> index;
        std::set<std::string> retained;
        for (int i = 0; i < 60; ++i) {
            auto topic = gen.topic();
            index.set(topic, topic);
            retained.insert(std::move(topic));
        }
        const auto check = [&] {
            EXPECT_EQ(index.size(), retained.size());
            for (int i = 0; i < 300; ++i) {
                const auto filter = gen.filter();
                std::vector<std::string> got;
                index.match(filter, [&](std::string_view topic, const std::string& message) {
                    EXPECT_EQ(topic, message);
                    got.emplace_back(topic);
                });
                std::sort(got.begin(), got.end());
                std::vector<std::string> expected;
                for (const auto& topic : retained) {
                    if (brute_matches(filter, topic)) expected.push_back(topic);
                }
                EXPECT_EQ(got, expected) << filter;
            }
        };
        check();
        for (int i = 0; i < 40; ++i) {
            const auto topic = gen.topic();
            EXPECT_EQ(index.erase(topic), retained.erase(topic) == 1) << topic;
            EXPECT_EQ(index.find(topic), nullptr);
        }
        check();
        for (const auto& topic : retained) {
            ASSERT_NE(index.find(topic), nullptr);
            EXPECT_TRUE(index.erase(topic));
        }
        EXPECT_EQ(index.size(), 0u);
        EXPECT_EQ(index.node_count(), 0u);
    }
}

}  // namespace
