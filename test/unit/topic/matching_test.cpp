// The matching rules of MQTT 5.0 section 4.7, example by example, checked against all three matchers:
// SubscriptionTree (plain and shared), RetainedIndex (the same question asked from the filter's side) and
// topic_matches.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "codec/topic.hpp"
#include "topic/levels.hpp"
#include "topic/retained_index.hpp"
#include "topic/subscription_tree.hpp"

namespace {

using moth::topic::RetainedIndex;
using moth::topic::SubscriptionTree;
using moth::topic::topic_matches;

struct Case {
    std::string_view filter;
    std::string_view topic;
    bool matches;
};

void PrintTo(const Case& c, std::ostream* os) {
    *os << '"' << c.filter << "\" vs \"" << c.topic << "\" -> " << (c.matches ? "match" : "no match");
}

class MatchingTest : public testing::TestWithParam<Case> {};

TEST_P(MatchingTest, AllMatchersAgreeWithTheSpecification) {
    const auto& c = GetParam();
    ASSERT_EQ(moth::codec::validate_topic_filter(c.filter), moth::codec::TopicError::None);
    ASSERT_EQ(moth::codec::validate_topic_name(c.topic), moth::codec::TopicError::None);

    EXPECT_EQ(topic_matches(c.filter, c.topic), c.matches) << "topic_matches";

    SubscriptionTree<int> tree;
    tree.insert(c.filter, 7, 42);
    int calls = 0;
    tree.match(c.topic, [&](std::uint64_t key, const int& value) {
        EXPECT_EQ(key, 7u);
        EXPECT_EQ(value, 42);
        ++calls;
    });
    EXPECT_EQ(calls, c.matches ? 1 : 0) << "SubscriptionTree, plain";

    // "$share/g/f" matches like f.
    SubscriptionTree<int> shared;
    shared.insert("$share/g/" + std::string(c.filter), 8, 43);
    calls = 0;
    shared.match(c.topic, [&](std::uint64_t key, const int&) {
        EXPECT_EQ(key, 8u);
        ++calls;
    });
    EXPECT_EQ(calls, c.matches ? 1 : 0) << "SubscriptionTree, shared";

    RetainedIndex<int> retained;
    retained.set(c.topic, 5);
    calls = 0;
    retained.match(c.filter, [&](std::string_view topic, const int& message) {
        EXPECT_EQ(topic, c.topic);
        EXPECT_EQ(message, 5);
        ++calls;
    });
    EXPECT_EQ(calls, c.matches ? 1 : 0) << "RetainedIndex";
}

INSTANTIATE_TEST_SUITE_P(
    Section4_7_1_2_MultiLevelWildcard, MatchingTest,
    testing::Values(Case{"sport/tennis/player1/#", "sport/tennis/player1", true},
                    Case{"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
                    Case{"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
                    Case{"sport/tennis/player1/#", "sport/tennis/player2", false},
                    Case{"sport/tennis/player1/#", "sport/tennis", false},
                    Case{"sport/#", "sport", true},  // '#' includes the parent level
                    Case{"sport/tennis/#", "sport/tennis", true}, Case{"sport/tennis/#", "sport/tennis/", true},
                    Case{"sport/tennis/#", "sport/tennisplayer1", false}, Case{"#", "sport", true},
                    Case{"#", "/", true}, Case{"#", "sport/tennis/player1", true}));

INSTANTIATE_TEST_SUITE_P(
    Section4_7_1_3_SingleLevelWildcard, MatchingTest,
    testing::Values(Case{"sport/tennis/+", "sport/tennis/player1", true},
                    Case{"sport/tennis/+", "sport/tennis/player2", true},
                    Case{"sport/tennis/+", "sport/tennis/player1/ranking", false},
                    Case{"sport/+", "sport", false},  // '+' is exactly one level
                    Case{"sport/+", "sport/", true},  // ... which may be empty
                    Case{"+/+", "/finance", true}, Case{"/+", "/finance", true}, Case{"+", "/finance", false},
                    Case{"+/tennis/#", "sport/tennis/player1", true}, Case{"+/tennis/#", "sport/tennis", true},
                    Case{"sport/+/player1", "sport/tennis/player1", true}, Case{"+", "sport", true}));

INSTANTIATE_TEST_SUITE_P(
    EmptyLevels, MatchingTest,
    testing::Values(Case{"a//b", "a//b", true}, Case{"a/+/b", "a//b", true}, Case{"a/b", "a//b", false},
                    Case{"/", "/", true}, Case{"+/+", "/", true}, Case{"+", "/", false}, Case{"/#", "/", true},
                    Case{"/#", "/a", true}, Case{"a/#", "a//", true}, Case{"a/+/+", "a//", true},
                    Case{"/finance", "finance", false}, Case{"finance", "/finance", false}));

// [MQTT-4.7.2-1]: a filter starting with a wildcard does not match a topic starting with '$'.
INSTANTIATE_TEST_SUITE_P(
    Section4_7_2_DollarTopics, MatchingTest,
    testing::Values(Case{"#", "$SYS/broker/uptime", false}, Case{"#", "$SYS", false},
                    Case{"+/monitor/Clients", "$SYS/monitor/Clients", false}, Case{"+", "$SYS", false},
                    Case{"+/#", "$SYS/x", false}, Case{"$SYS/#", "$SYS/x", true}, Case{"$SYS/#", "$SYS", true},
                    Case{"$SYS/monitor/+", "$SYS/monitor/Clients", true},
                    Case{"$SYS/monitor/Clients", "$SYS/monitor/Clients", true},
                    // Only the first level counts: '$' further down is an ordinary character.
                    Case{"a/+", "a/$b", true}, Case{"#", "a/$b", true}, Case{"+/+", "a/$b", true},
                    Case{"#", "x$", true}));

}  // namespace
