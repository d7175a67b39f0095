// filters_intersect, filter_covers and filter_intersection: hand-picked cases, then every pair of small filters
// checked against the definition (some topic matches both / every topic matching one matches the other) over a
// universe of topic names large enough to contain a witness for any of them.
#include <gtest/gtest.h>

#include <bitset>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/acl_filters.hpp"
#include "topic/levels.hpp"

namespace {

using moth::auth::filter_covers;
using moth::auth::filter_intersection;
using moth::auth::filters_intersect;
using moth::topic::topic_matches;

TEST(FiltersIntersect, Examples) {
    EXPECT_TRUE(filters_intersect("a/b", "a/b"));
    EXPECT_FALSE(filters_intersect("a/b", "a/c"));
    EXPECT_TRUE(filters_intersect("a/+", "+/b"));
    EXPECT_TRUE(filters_intersect("a/#", "a"));  // '#' matches the parent [MQTT-4.7.1-2]
    EXPECT_TRUE(filters_intersect("a", "a/#"));
    EXPECT_FALSE(filters_intersect("a", "a/+"));
    EXPECT_FALSE(filters_intersect("a/b", "a/b/c"));
    EXPECT_TRUE(filters_intersect("#", "x/y/z"));
    EXPECT_TRUE(filters_intersect("+/+", "a/+"));
    EXPECT_FALSE(filters_intersect("+/+", "a/b/c"));
    EXPECT_TRUE(filters_intersect("+/+/#", "a/b"));
    EXPECT_TRUE(filters_intersect("a/+", "a/"));  // '+' matches an empty level
    // [MQTT-4.7.2-1]: a wildcard first level matches no topic starting with '$'.
    EXPECT_FALSE(filters_intersect("#", "$SYS/x"));
    EXPECT_FALSE(filters_intersect("+/x", "$SYS/x"));
    EXPECT_FALSE(filters_intersect("+/#", "$SYS"));
    EXPECT_TRUE(filters_intersect("$SYS/#", "$SYS/+/x"));
    EXPECT_TRUE(filters_intersect("a/#", "a/$x"));  // only the first level is special
}

TEST(FilterCovers, Examples) {
    EXPECT_TRUE(filter_covers("a/b", "a/b"));
    EXPECT_TRUE(filter_covers("a/#", "a"));
    EXPECT_TRUE(filter_covers("a/#", "a/+"));
    EXPECT_TRUE(filter_covers("a/#", "a/b/#"));
    EXPECT_TRUE(filter_covers("a/+", "a/b"));
    EXPECT_FALSE(filter_covers("a/+", "a/#"));  // "a/#" matches "a"
    EXPECT_FALSE(filter_covers("a/b", "a/+"));
    EXPECT_FALSE(filter_covers("a", "a/#"));
    EXPECT_TRUE(filter_covers("#", "+/x/#"));
    EXPECT_TRUE(filter_covers("+/#", "#"));  // every topic has a first level
    EXPECT_FALSE(filter_covers("a/+/#", "a/#"));
    EXPECT_FALSE(filter_covers("#", "$SYS/x"));
    EXPECT_FALSE(filter_covers("+/x", "$SYS/x"));
    EXPECT_TRUE(filter_covers("$SYS/#", "$SYS/broker/+"));
}

TEST(FilterIntersection, Examples) {
    EXPECT_EQ(filter_intersection("a/+/c", "a/b/#"), "a/b/c");
    EXPECT_EQ(filter_intersection("+/#", "x"), "x");
    EXPECT_EQ(filter_intersection("a/#", "a"), "a");
    EXPECT_EQ(filter_intersection("#", "+/b/#"), "+/b/#");
    EXPECT_EQ(filter_intersection("a/+", "+/+"), "a/+");
    EXPECT_EQ(filter_intersection("/+", "+/"), "/");
    EXPECT_EQ(filter_intersection("#", "#"), "#");
    EXPECT_EQ(filter_intersection("a", "b"), std::nullopt);
    EXPECT_EQ(filter_intersection("#", "$SYS/#"), std::nullopt);
}

// All filters of up to three levels over the level names below, and topic names of up to four levels: any two such
// filters that intersect have a witness among those topics ('z' stands for "a name no filter spells").
const std::vector<std::string_view> kFilterLevels = {"a", "b", "", "$s", "+", "#"};
const std::vector<std::string_view> kTopicLevels = {"a", "b", "", "$s", "z"};

void grow(std::vector<std::string>& out, const std::vector<std::string_view>& names, std::size_t depth, bool filters) {
    std::vector<std::string> frontier = {""};
    for (std::size_t d = 0; d < depth; ++d) {
        std::vector<std::string> next;
        for (const auto& prefix : frontier) {
            if (!prefix.empty() && prefix.back() == '#') continue;  // '#' is last
            for (const auto name : names) {
                if (!filters && name == "+") continue;
                next.push_back(d == 0 ? std::string(name) : prefix + "/" + std::string(name));
            }
        }
        out.insert(out.end(), next.begin(), next.end());
        frontier = std::move(next);
    }
}

struct Universe {
    std::vector<std::string> filters;
    std::vector<std::string> topics;
    Universe() {
        grow(filters, kFilterLevels, 3, true);
        grow(topics, kTopicLevels, 4, false);
    }
};

using TopicSet = std::bitset<1024>;

TopicSet matched(std::string_view filter, const std::vector<std::string>& topics) {
    TopicSet set;
    for (std::size_t i = 0; i < topics.size(); ++i) set[i] = topic_matches(filter, topics[i]);
    return set;
}

TEST(FilterAlgebra, AgreesWithTheDefinitionOnEverySmallPair) {
    const Universe u;
    ASSERT_EQ(u.filters.size(), 186U);
    ASSERT_EQ(u.topics.size(), 780U);
    std::vector<TopicSet> sets;
    for (const auto& f : u.filters) sets.push_back(matched(f, u.topics));
    std::size_t intersecting = 0;
    std::size_t covering = 0;
    for (std::size_t i = 0; i < u.filters.size(); ++i) {
        for (std::size_t j = 0; j < u.filters.size(); ++j) {
            const auto& a = u.filters[i];
            const auto& b = u.filters[j];
            const bool some_both = (sets[i] & sets[j]).any();
            const bool all_b_in_a = (sets[j] & ~sets[i]).none();
            ASSERT_EQ(filters_intersect(a, b), some_both) << a << " & " << b;
            ASSERT_EQ(filter_covers(a, b), all_b_in_a) << a << " covers " << b;
            const auto meet = filter_intersection(a, b);
            ASSERT_EQ(meet.has_value(), some_both) << a << " & " << b;
            if (meet) {
                ASSERT_EQ(matched(*meet, u.topics), sets[i] & sets[j]) << a << " & " << b << " = " << *meet;
            }
            intersecting += some_both ? 1 : 0;
            covering += all_b_in_a ? 1 : 0;
        }
    }
    // Both answers occur often, so the loop above is not vacuous.
    EXPECT_GT(intersecting, u.filters.size() * 10);
    EXPECT_GT(covering, u.filters.size() * 2);
}

}  // namespace
