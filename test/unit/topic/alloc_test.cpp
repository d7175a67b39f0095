// The tree's allocation promise (subscription_tree.hpp): matching a PUBLISH allocates nothing, whether or
// not anything matches and whatever the shared policy; neither does matching retained messages. This
// executable replaces the global operator new to count allocations on this thread, so it is kept apart
// from the other topic tests.
#include <gtest/gtest.h>

#include "support/alloc_counter.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <string>

#include "topic/retained_index.hpp"
#include "topic/subscription_tree.hpp"

// The counting operator new comes from test/support/alloc_counter.cpp, linked into this executable only.

namespace {

using moth::topic::SharedPolicy;
using moth::topic::SubscriptionTree;

// A tree with exact, '+', '#', '$' and shared filters, big enough that the per-filter key index exists.
SubscriptionTree<int> make_tree(SharedPolicy policy) {
    SubscriptionTree<int> tree(policy);
    for (std::uint64_t k = 0; k < 100; ++k) {
        const auto n = std::to_string(k % 10);
        tree.insert("devices/" + n + "/temperature", k, 1);
        tree.insert("devices/+/humidity", k, 2);
        tree.insert("devices/" + n + "/#", k, 3);
        tree.insert("broadcast", k, 4);
        tree.insert("$share/workers/jobs/+", k, 5);
        tree.insert("$share/loggers/#", k, 6);
    }
    tree.insert("#", 1000, 7);
    tree.insert("$SYS/#", 1001, 8);
    return tree;
}

// Counts allocations made by `body` on this thread.
template <class F>
std::uint64_t allocations_in(F&& body) {
    const auto before = moth::test::allocation_count();
    body();
    return moth::test::allocation_count() - before;
}

class MatchAllocation : public testing::TestWithParam<SharedPolicy> {};

TEST_P(MatchAllocation, MatchingNeverAllocates) {
    auto tree = make_tree(GetParam());
    const char* topics[] = {"devices/3/temperature", "devices/3/humidity", "devices/3/a/b/c", "broadcast",
                            "jobs/17",  "$SYS/broker/uptime", "no/such/topic/at/all", "$nothing", "a//b/",
                            // long enough to defeat any small-string optimisation if a level were copied
                            "devices/a-rather-long-device-identifier-0123456789/temperature"};
    std::uint64_t visits = 0;
    const auto count = [&](std::uint64_t, const int&) { ++visits; };
    for (int round = 0; round < 3; ++round) {
        for (const char* topic : topics) {
            EXPECT_EQ(allocations_in([&] { tree.match(topic, count); }), 0u) << topic;
        }
    }
    EXPECT_GT(visits, 0u);
}

INSTANTIATE_TEST_SUITE_P(Policies, MatchAllocation,
                         testing::Values(SharedPolicy::RoundRobin, SharedPolicy::Random, SharedPolicy::Sticky));

TEST(RetainedAllocation, MatchingAndFindNeverAllocate) {
    moth::topic::RetainedIndex<int> index;
    for (int i = 0; i < 200; ++i) index.set("devices/" + std::to_string(i) + "/temperature", i);
    index.set("$SYS/uptime", 1);
    std::uint64_t visits = 0;
    const auto count = [&](std::string_view, const int&) { ++visits; };
    for (const char* filter : {"devices/+/temperature", "#", "devices/17/#", "+/+/+", "none/+", "$SYS/#"}) {
        EXPECT_EQ(allocations_in([&] { index.match(filter, count); }), 0u) << filter;
    }
    const int* found = nullptr;
    EXPECT_EQ(allocations_in([&] { found = index.find("devices/17/temperature"); }), 0u);
    EXPECT_NE(found, nullptr);
    EXPECT_GT(visits, 0u);
}

}  // namespace
