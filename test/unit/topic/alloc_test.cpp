// The tree's allocation promise (subscription_tree.hpp): matching a PUBLISH allocates nothing, whether or
// not anything matches and whatever the shared policy; neither does matching retained messages. This
// executable replaces the global operator new to count allocations on this thread, so it is kept apart
// from the other topic tests.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <string>

#include "topic/retained_index.hpp"
#include "topic/subscription_tree.hpp"

// ---- Counting operator new -------------------------------------------------------------------------
// noinline: an operator inlined into a caller would show GCC a malloc paired with an operator delete
// (or operator new with free) and trip -Wmismatched-new-delete in optimised builds.
namespace {
constinit thread_local std::uint64_t t_allocations = 0;

[[gnu::noinline]] void* counted_alloc(std::size_t n) {
    ++t_allocations;
    return std::malloc(n == 0 ? 1 : n);
}
[[gnu::noinline]] void* counted_aligned_alloc(std::size_t n, std::align_val_t al) {
    ++t_allocations;
    void* p = nullptr;
    const auto alignment = static_cast<std::size_t>(al);
    if (posix_memalign(&p, alignment < sizeof(void*) ? sizeof(void*) : alignment, n == 0 ? 1 : n) != 0) return nullptr;
    return p;
}
void* or_throw(void* p) {
    if (p == nullptr) throw std::bad_alloc();
    return p;
}
}  // namespace

[[gnu::noinline]] void* operator new(std::size_t n) { return or_throw(counted_alloc(n)); }
[[gnu::noinline]] void* operator new[](std::size_t n) { return or_throw(counted_alloc(n)); }
[[gnu::noinline]] void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return counted_alloc(n); }
[[gnu::noinline]] void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return counted_alloc(n); }
[[gnu::noinline]] void* operator new(std::size_t n, std::align_val_t al) {
    return or_throw(counted_aligned_alloc(n, al));
}
[[gnu::noinline]] void* operator new[](std::size_t n, std::align_val_t al) {
    return or_throw(counted_aligned_alloc(n, al));
}
[[gnu::noinline]] void* operator new(std::size_t n, std::align_val_t al, const std::nothrow_t&) noexcept {
    return counted_aligned_alloc(n, al);
}
[[gnu::noinline]] void* operator new[](std::size_t n, std::align_val_t al, const std::nothrow_t&) noexcept {
    return counted_aligned_alloc(n, al);
}
[[gnu::noinline]] void operator delete(void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete[](void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }

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
    const auto before = t_allocations;
    body();
    return t_allocations - before;
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
