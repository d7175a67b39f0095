// SubscriptionTree behaviour beyond single-filter matching (see matching_test.cpp for that): overlapping
// subscriptions, insert/erase results and pruning, shared groups and their policies, for_each.
#include "topic/subscription_tree.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

namespace {

using moth::topic::SharedPolicy;
using moth::topic::SubscriptionTree;
using Key = std::uint64_t;
using Tree = SubscriptionTree<std::string>;
using Hit = std::pair<Key, std::string>;

std::vector<Hit> match(Tree& tree, std::string_view topic) {
    std::vector<Hit> hits;
    tree.match(topic, [&](Key key, const std::string& value) { hits.emplace_back(key, value); });
    std::sort(hits.begin(), hits.end());
    return hits;
}

// The member of a single matching group that receives `topic`.
Key receiver(Tree& tree, std::string_view topic) {
    const auto hits = match(tree, topic);
    EXPECT_EQ(hits.size(), 1u) << topic;
    return hits.empty() ? 0 : hits.front().first;
}

TEST(SubscriptionTree, EmptyTreeMatchesNothing) {
    Tree tree;
    EXPECT_TRUE(match(tree, "a/b").empty());
    EXPECT_EQ(tree.size(), 0u);
    EXPECT_EQ(tree.node_count(), 0u);
}

TEST(SubscriptionTree, OverlappingSubscriptionsOfOneKeyAreEachReported) {
    Tree tree;
    for (const auto* filter : {"a/b", "a/+", "+/b", "a/#", "#", "+/+"}) tree.insert(filter, 1, filter);
    tree.insert("a/b", 2, "two");
    tree.insert("a/c", 3, "not matched");
    EXPECT_EQ(match(tree, "a/b"), (std::vector<Hit>{{1, "#"}, {1, "+/+"}, {1, "+/b"}, {1, "a/#"}, {1, "a/+"},
                                                     {1, "a/b"}, {2, "two"}}));
    EXPECT_EQ(match(tree, "a"), (std::vector<Hit>{{1, "#"}, {1, "a/#"}}));
}

TEST(SubscriptionTree, InsertReplacingReturnsFalseAndKeepsTheNewValue) {
    Tree tree;
    EXPECT_TRUE(tree.insert("a/+", 1, "qos0"));
    EXPECT_FALSE(tree.insert("a/+", 1, "qos1"));
    EXPECT_TRUE(tree.insert("a/+", 2, "other key"));
    EXPECT_TRUE(tree.insert("a/#", 1, "other filter"));
    EXPECT_EQ(tree.size(), 3u);
    EXPECT_EQ(match(tree, "a/x"), (std::vector<Hit>{{1, "other filter"}, {1, "qos1"}, {2, "other key"}}));

    // A shared membership is distinct from the plain subscription to the same filter.
    EXPECT_TRUE(tree.insert("$share/g/a/+", 1, "shared"));
    EXPECT_FALSE(tree.insert("$share/g/a/+", 1, "shared again"));
    EXPECT_TRUE(tree.insert("$share/h/a/+", 1, "other group"));
    EXPECT_EQ(tree.size(), 5u);
}

TEST(SubscriptionTree, EraseReportsWhetherTheSubscriptionExisted) {
    Tree tree;
    tree.insert("a/b", 1, "x");
    EXPECT_FALSE(tree.erase("a/b", 2));   // other key
    EXPECT_FALSE(tree.erase("a", 1));     // prefix of a filter
    EXPECT_FALSE(tree.erase("a/b/c", 1));  // longer than any filter
    EXPECT_FALSE(tree.erase("a/+", 1));
    EXPECT_FALSE(tree.erase("$share/g/a/b", 1));  // the plain one is not a membership
    EXPECT_TRUE(tree.erase("a/b", 1));
    EXPECT_FALSE(tree.erase("a/b", 1));
    EXPECT_EQ(tree.size(), 0u);
    EXPECT_TRUE(match(tree, "a/b").empty());
}

TEST(SubscriptionTree, ErasePrunesNodesLeftEmpty) {
    Tree tree;
    tree.insert("a/b/c", 1, "");
    EXPECT_EQ(tree.node_count(), 3u);
    tree.insert("a/b", 2, "");
    tree.insert("a/+/c", 3, "");
    tree.insert("a/#", 4, "");
    tree.insert("$share/g/a/b/c/d", 5, "");
    tree.insert("/x", 6, "");
    // a, a/b, a/b/c, a/+, a/+/c, a/#, a/b/c/d, "", /x
    EXPECT_EQ(tree.node_count(), 9u);
    EXPECT_EQ(tree.size(), 6u);

    EXPECT_TRUE(tree.erase("a/b/c", 1));  // a/b/c still leads to the shared a/b/c/d
    EXPECT_EQ(tree.node_count(), 9u);
    EXPECT_TRUE(tree.erase("$share/g/a/b/c/d", 5));
    EXPECT_EQ(tree.node_count(), 7u);
    EXPECT_TRUE(tree.erase("a/b", 2));
    EXPECT_EQ(tree.node_count(), 6u);
    EXPECT_TRUE(tree.erase("a/+/c", 3));
    EXPECT_EQ(tree.node_count(), 4u);
    EXPECT_TRUE(tree.erase("/x", 6));
    EXPECT_EQ(tree.node_count(), 2u);
    EXPECT_TRUE(tree.erase("a/#", 4));
    EXPECT_EQ(tree.node_count(), 0u);
    EXPECT_EQ(tree.size(), 0u);

    // The pruned tree is fully usable again.
    EXPECT_TRUE(tree.insert("a/#", 4, "back"));
    EXPECT_EQ(match(tree, "a/q"), (std::vector<Hit>{{4, "back"}}));
}

TEST(SubscriptionTree, ClearRemovesEverything) {
    Tree tree;
    tree.insert("a/b", 1, "");
    tree.insert("$share/g/#", 2, "");
    tree.clear();
    EXPECT_EQ(tree.size(), 0u);
    EXPECT_EQ(tree.node_count(), 0u);
    EXPECT_TRUE(match(tree, "a/b").empty());
    EXPECT_TRUE(tree.insert("a/b", 1, ""));
}

TEST(SubscriptionTree, ManySubscribersOnOneFilter) {
    // Past a handful of subscribers the list gets a key index; exercise growing and shrinking through it.
    Tree tree;
    for (Key k = 0; k < 200; ++k) EXPECT_TRUE(tree.insert("news", k, std::to_string(k)));
    for (Key k = 0; k < 200; k += 3) EXPECT_FALSE(tree.insert("news", k, "replaced"));
    for (Key k = 0; k < 200; k += 2) EXPECT_TRUE(tree.erase("news", k));
    for (Key k = 0; k < 200; k += 2) EXPECT_FALSE(tree.erase("news", k));
    std::vector<Hit> expected;
    for (Key k = 1; k < 200; k += 2) expected.emplace_back(k, k % 3 == 0 ? "replaced" : std::to_string(k));
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(match(tree, "news"), expected);
    EXPECT_EQ(tree.size(), 100u);
    for (Key k = 1; k < 200; k += 2) EXPECT_TRUE(tree.erase("news", k));
    EXPECT_EQ(tree.size(), 0u);
    EXPECT_EQ(tree.node_count(), 0u);
}

// ---- Shared subscriptions -----------------------------------------------------------------------------

TEST(SharedSubscriptions, OneMemberPerGroupPerMessage) {
    Tree tree;
    for (Key k = 1; k <= 3; ++k) tree.insert("$share/g/sensors/+", k, "g");
    for (int i = 0; i < 10; ++i) {
        const auto hits = match(tree, "sensors/t");
        ASSERT_EQ(hits.size(), 1u);
        EXPECT_GE(hits[0].first, 1u);
        EXPECT_LE(hits[0].first, 3u);
    }
    EXPECT_TRUE(match(tree, "sensors").empty());
    EXPECT_TRUE(match(tree, "other/t").empty());
}

TEST(SharedSubscriptions, RoundRobinOverThreeMembersSharesEvenly) {
    Tree tree;
    for (Key k = 1; k <= 3; ++k) tree.insert("$share/workers/jobs/#", k, "");
    std::map<Key, int> received;
    for (int i = 0; i < 300; ++i) ++received[receiver(tree, "jobs/" + std::to_string(i))];
    EXPECT_EQ(received, (std::map<Key, int>{{1, 100}, {2, 100}, {3, 100}}));
}

TEST(SharedSubscriptions, RoundRobinRotatesInJoinOrder) {
    Tree tree;
    for (Key k : {Key{30}, Key{10}, Key{20}}) tree.insert("$share/g/t", k, "");
    std::vector<Key> order;
    for (int i = 0; i < 6; ++i) order.push_back(receiver(tree, "t"));
    EXPECT_EQ(order, (std::vector<Key>{30, 10, 20, 30, 10, 20}));
}

TEST(SharedSubscriptions, TwoGroupsOnTheSameFilterEachGetOneCopy) {
    Tree tree;
    tree.insert("$share/a/t/+", 1, "a");
    tree.insert("$share/a/t/+", 2, "a");
    tree.insert("$share/b/t/+", 3, "b");
    tree.insert("$share/b/t/+", 4, "b");
    tree.insert("t/+", 5, "plain");
    for (int i = 0; i < 4; ++i) {
        const auto hits = match(tree, "t/x");
        ASSERT_EQ(hits.size(), 3u);
        EXPECT_EQ(std::count_if(hits.begin(), hits.end(), [](const Hit& h) { return h.second == "a"; }), 1);
        EXPECT_EQ(std::count_if(hits.begin(), hits.end(), [](const Hit& h) { return h.second == "b"; }), 1);
        EXPECT_EQ(std::count_if(hits.begin(), hits.end(), [](const Hit& h) { return h.second == "plain"; }), 1);
    }
}

TEST(SharedSubscriptions, SameGroupNameOnDifferentFiltersIsADifferentGroup) {
    Tree tree;
    tree.insert("$share/g/t/+", 1, "plus");
    tree.insert("$share/g/t/#", 2, "hash");
    EXPECT_EQ(match(tree, "t/x"), (std::vector<Hit>{{1, "plus"}, {2, "hash"}}));
}

TEST(SharedSubscriptions, MemberLeavingMidRotation) {
    Tree tree;
    for (Key k = 1; k <= 3; ++k) tree.insert("$share/g/t", k, "");
    EXPECT_EQ(receiver(tree, "t"), 1u);
    EXPECT_EQ(receiver(tree, "t"), 2u);
    // 3 is next; 2 leaving must neither skip 3 nor serve 1 twice in a row.
    EXPECT_TRUE(tree.erase("$share/g/t", 2));
    std::vector<Key> order;
    for (int i = 0; i < 4; ++i) order.push_back(receiver(tree, "t"));
    EXPECT_EQ(order, (std::vector<Key>{3, 1, 3, 1}));

    // The member that was next leaves: the one after it takes its turn.
    tree.insert("$share/g/t", 4, "");  // rotation is now 1, 3, 4 and 3 is next
    EXPECT_TRUE(tree.erase("$share/g/t", 3));
    EXPECT_EQ(receiver(tree, "t"), 4u);
    EXPECT_EQ(receiver(tree, "t"), 1u);

    // The last in the rotation leaves while it is next: wrap to the first.
    tree.insert("$share/g/t", 5, "");  // 1, 4, 5 with 4 next
    EXPECT_EQ(receiver(tree, "t"), 4u);
    EXPECT_TRUE(tree.erase("$share/g/t", 5));
    EXPECT_EQ(receiver(tree, "t"), 1u);

    EXPECT_TRUE(tree.erase("$share/g/t", 1));
    EXPECT_TRUE(tree.erase("$share/g/t", 4));
    EXPECT_TRUE(match(tree, "t").empty());
    EXPECT_EQ(tree.node_count(), 0u);
}

TEST(SharedSubscriptions, RoundRobinStaysFairInALargeGroupWithChurn) {
    // Large enough for the member list's key index, with members leaving and joining between messages:
    // every member present for a whole round receives exactly one message of that round.
    Tree tree;
    std::vector<Key> members;
    for (Key k = 0; k < 40; ++k) {
        tree.insert("$share/g/t", k, "");
        members.push_back(k);
    }
    for (int round = 0; round < 5; ++round) {
        std::map<Key, int> received;
        for (std::size_t i = 0; i < members.size(); ++i) ++received[receiver(tree, "t")];
        EXPECT_EQ(received.size(), members.size()) << "round " << round;
        // Churn: drop every fifth member, add new ones at the end. The rotation is back at its start, and
        // stays there, so the next round is a full round over the new membership.
        for (std::size_t i = 0; i < members.size(); i += 5) EXPECT_TRUE(tree.erase("$share/g/t", members[i]));
        std::vector<Key> kept;
        for (std::size_t i = 0; i < members.size(); ++i) {
            if (i % 5 != 0) kept.push_back(members[i]);
        }
        for (Key k = 0; k < 6; ++k) {
            const Key fresh = 1000 * static_cast<Key>(round + 1) + k;
            tree.insert("$share/g/t", fresh, "");
            kept.push_back(fresh);
        }
        members = kept;
    }
}

TEST(SharedSubscriptions, StickyKeepsTheSameMemberUntilItLeaves) {
    Tree tree(SharedPolicy::Sticky);
    EXPECT_EQ(tree.policy(), SharedPolicy::Sticky);
    for (Key k = 1; k <= 3; ++k) tree.insert("$share/g/t/#", k, "");
    for (int i = 0; i < 5; ++i) EXPECT_EQ(receiver(tree, "t/x"), 1u);
    EXPECT_TRUE(tree.erase("$share/g/t/#", 2));  // another member leaving changes nothing
    for (int i = 0; i < 5; ++i) EXPECT_EQ(receiver(tree, "t/x"), 1u);
    EXPECT_TRUE(tree.erase("$share/g/t/#", 1));
    for (int i = 0; i < 5; ++i) EXPECT_EQ(receiver(tree, "t/x"), 3u);
    tree.insert("$share/g/t/#", 4, "");  // a newcomer does not take over
    EXPECT_EQ(receiver(tree, "t/x"), 3u);
    EXPECT_TRUE(tree.erase("$share/g/t/#", 3));
    EXPECT_EQ(receiver(tree, "t/x"), 4u);
}

TEST(SharedSubscriptions, RandomReachesEveryMemberReproducibly) {
    const auto run = [](std::uint64_t seed) {
        Tree tree(SharedPolicy::Random, seed);
        for (Key k = 1; k <= 3; ++k) tree.insert("$share/g/t", k, "");
        std::vector<Key> order;
        for (int i = 0; i < 3000; ++i) order.push_back(receiver(tree, "t"));
        return order;
    };
    const auto order = run(1);
    EXPECT_EQ(order, run(1));
    EXPECT_NE(order, run(2));
    for (Key k = 1; k <= 3; ++k) {
        const auto n = std::count(order.begin(), order.end(), k);
        EXPECT_GT(n, 850) << k;
        EXPECT_LT(n, 1150) << k;
    }
}

TEST(SharedSubscriptions, DollarRuleAppliesToTheInnerFilter) {
    Tree tree;
    tree.insert("$share/g/#", 1, "");
    tree.insert("$share/g/$SYS/#", 2, "");
    EXPECT_EQ(match(tree, "$SYS/x"), (std::vector<Hit>{{2, ""}}));
    EXPECT_EQ(match(tree, "x"), (std::vector<Hit>{{1, ""}}));
}

// ---- for_each ------------------------------------------------------------------------------------------

TEST(SubscriptionTree, ForEachVisitsEverySubscriptionWithItsFilter) {
    Tree tree;
    const std::vector<std::tuple<std::string, Key, std::string>> subscriptions{
        {"a/b", 1, "x"},   {"a/b", 2, "y"},       {"/a", 1, "z"},           {"a//b", 3, "w"},
        {"+", 4, "v"},     {"#", 5, "u"},         {"a/+/#", 6, "t"},        {"/", 7, "s"},
        {"$SYS/#", 8, "r"}, {"$share/g/a/+", 9, "q"}, {"$share/g/a/+", 10, "p"}, {"$share/h/#", 9, "o"},
    };
    for (const auto& [filter, key, value] : subscriptions) tree.insert(filter, key, value);
    std::vector<std::tuple<std::string, Key, std::string>> seen;
    tree.for_each([&](std::string_view filter, Key key, const std::string& value) {
        seen.emplace_back(std::string(filter), key, value);
    });
    auto expected = subscriptions;
    std::sort(expected.begin(), expected.end());
    std::sort(seen.begin(), seen.end());
    EXPECT_EQ(seen, expected);
}

TEST(SubscriptionTree, IsMovable) {
    Tree tree;
    tree.insert("a/+", 1, "x");
    Tree moved = std::move(tree);
    EXPECT_EQ(moved.size(), 1u);
    EXPECT_EQ(match(moved, "a/b"), (std::vector<Hit>{{1, "x"}}));
}

TEST(SharedPolicyNames, AreStable) {
    EXPECT_EQ(moth::topic::to_string(SharedPolicy::RoundRobin), "round_robin");
    EXPECT_EQ(moth::topic::to_string(SharedPolicy::Random), "random");
    EXPECT_EQ(moth::topic::to_string(SharedPolicy::Sticky), "sticky");
}

}  // namespace
