// Micro benchmarks for the subscription tree and the retained index: matching one PUBLISH topic against
// 100k subscriptions (the per-message routing cost), subscribe/unsubscribe churn on that tree, and a
// wildcard subscription against 100k retained topics (the per-SUBSCRIBE cost).
//
// The data set looks like a fleet: topics "site/<0..99>/dev/<0..99>/<metric 0..9>" (100k distinct), with
// subscriptions 80% exact, 10% "site/s/dev/d/#", 5% "site/+/dev/d/m", 4% "site/s/dev/+/m" and 1% shared
// "$share/g<n>/site/s/#". `visits_per_op` is how many subscribers one match reports; `allocs_per_op` must
// stay 0 for matching (subscription_tree.hpp promises it).
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "support/alloc_counter.hpp"
#include "topic/retained_index.hpp"
#include "topic/subscription_tree.hpp"

namespace {

using moth::topic::RetainedIndex;
using moth::topic::SubscriptionTree;

constexpr int kSites = 100;
constexpr int kDevices = 100;
constexpr int kMetrics = 10;
constexpr std::size_t kSubscriptions = 100'000;

// What a broker might store per subscription: QoS, flags and a subscription identifier.
struct SubscriptionValue {
    std::uint8_t options;
    std::uint32_t identifier;
};

class AllocScope {
public:
    AllocScope() : start_(moth::test::allocation_count()) {}
    void report(benchmark::State& state) const {
        const auto n = moth::test::allocation_count() - start_;
        const auto iterations = state.iterations() == 0 ? 1 : state.iterations();
        state.counters["allocs_per_op"] = static_cast<double>(n) / static_cast<double>(iterations);
    }

private:
    std::uint64_t start_;
};

// Appending instead of `"literal" + std::string`: GCC 12 at -O3 reports a false -Wrestrict on the latter.
std::string concat(std::initializer_list<std::string_view> parts) {
    std::string s;
    for (const auto part : parts) s.append(part);
    return s;
}

std::string topic_of(int site, int device, int metric) {
    return concat({"site/", std::to_string(site), "/dev/", std::to_string(device), "/m", std::to_string(metric)});
}

std::string random_filter(std::mt19937& rng, std::size_t i) {
    const auto site = std::to_string(std::uniform_int_distribution<int>(0, kSites - 1)(rng));
    const auto device = std::to_string(std::uniform_int_distribution<int>(0, kDevices - 1)(rng));
    const auto metric = concat({"m", std::to_string(std::uniform_int_distribution<int>(0, kMetrics - 1)(rng))});
    const auto kind = i % 100;
    if (kind < 80) return concat({"site/", site, "/dev/", device, "/", metric});
    if (kind < 90) return concat({"site/", site, "/dev/", device, "/#"});
    if (kind < 95) return concat({"site/+/dev/", device, "/", metric});
    if (kind < 99) return concat({"site/", site, "/dev/+/", metric});
    return concat({"$share/g", std::to_string(i % 7), "/site/", site, "/#"});
}

SubscriptionTree<SubscriptionValue>& fleet_tree() {
    static SubscriptionTree<SubscriptionValue> tree = [] {
        SubscriptionTree<SubscriptionValue> t;
        std::mt19937 rng(42);
        for (std::size_t i = 0; i < kSubscriptions; ++i) {
            t.insert(random_filter(rng, i), i, SubscriptionValue{1, static_cast<std::uint32_t>(i)});
        }
        return t;
    }();
    return tree;
}

// Topics to publish to, drawn uniformly from the fleet, so that successive matches walk different branches.
const std::vector<std::string>& fleet_topics() {
    static const std::vector<std::string> topics = [] {
        std::vector<std::string> v;
        std::mt19937 rng(7);
        for (int i = 0; i < 4096; ++i) {
            v.push_back(topic_of(std::uniform_int_distribution<int>(0, kSites - 1)(rng),
                                 std::uniform_int_distribution<int>(0, kDevices - 1)(rng),
                                 std::uniform_int_distribution<int>(0, kMetrics - 1)(rng)));
        }
        return v;
    }();
    return topics;
}

void run_match(benchmark::State& state, const std::vector<std::string>& topics) {
    auto& tree = fleet_tree();
    std::uint64_t visits = 0;
    std::size_t i = 0;
    AllocScope allocs;
    for (auto _ : state) {
        tree.match(topics[i], [&](std::uint64_t key, const SubscriptionValue& value) {
            visits += key + value.options;  // consume both, so nothing is optimised away
        });
        i = i + 1 == topics.size() ? 0 : i + 1;
    }
    allocs.report(state);
    benchmark::DoNotOptimize(visits);
    state.SetItemsProcessed(state.iterations());
}

// A PUBLISH to a random fleet topic: each reports a handful of subscribers.
void BM_TreeMatchFleetTopic(benchmark::State& state) {
    const auto& topics = fleet_topics();
    std::uint64_t total = 0;
    for (const auto& topic : topics) fleet_tree().match(topic, [&](std::uint64_t, const SubscriptionValue&) { ++total; });
    run_match(state, topics);
    state.counters["visits_per_op"] = static_cast<double>(total) / static_cast<double>(topics.size());
}
BENCHMARK(BM_TreeMatchFleetTopic);

// A PUBLISH nobody subscribed to, at the first level: the cheapest miss.
void BM_TreeMatchMissFirstLevel(benchmark::State& state) {
    run_match(state, {"factory/line/7/temperature"});
}
BENCHMARK(BM_TreeMatchMissFirstLevel);

// A PUBLISH that walks deep before missing: "+" and "#" branches are tried on the way.
void BM_TreeMatchMissDeep(benchmark::State& state) {
    run_match(state, {"site/3/dev/999/m1", "site/3/dev/17/unknown-metric/x"});
}
BENCHMARK(BM_TreeMatchMissDeep);

// Subscribe then unsubscribe one filter on the 100k tree (SUBSCRIBE/UNSUBSCRIBE and session teardown).
void BM_TreeInsertErase(benchmark::State& state) {
    auto& tree = fleet_tree();
    std::mt19937 rng(99);
    std::vector<std::string> filters;
    for (std::size_t i = 0; i < 1024; ++i) filters.push_back(random_filter(rng, i * 13));
    std::size_t i = 0;
    for (auto _ : state) {
        const auto& filter = filters[i];
        tree.insert(filter, 1'000'000'000, SubscriptionValue{0, 0});
        tree.erase(filter, 1'000'000'000);
        i = (i + 1) % filters.size();
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TreeInsertErase);

const RetainedIndex<std::uint32_t>& fleet_retained() {
    static const RetainedIndex<std::uint32_t> index = [] {
        RetainedIndex<std::uint32_t> r;
        std::uint32_t n = 0;
        for (int s = 0; s < kSites; ++s) {
            for (int d = 0; d < kDevices; ++d) {
                for (int m = 0; m < kMetrics; ++m) r.set(topic_of(s, d, m), n++);
            }
        }
        return r;
    }();
    return index;
}

// A new subscription collecting its retained messages: visits only the matching branches of 100k topics.
void BM_RetainedMatch(benchmark::State& state, const char* filter) {
    const auto& index = fleet_retained();
    std::uint64_t sum = 0;
    std::uint64_t visits = 0;
    index.match(filter, [&](std::string_view, const std::uint32_t&) { ++visits; });
    AllocScope allocs;
    for (auto _ : state) {
        index.match(filter, [&](std::string_view topic, const std::uint32_t& message) { sum += topic.size() + message; });
    }
    allocs.report(state);
    benchmark::DoNotOptimize(sum);
    state.counters["visits_per_op"] = static_cast<double>(visits);
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_RetainedMatch, exact, "site/17/dev/42/m3");
BENCHMARK_CAPTURE(BM_RetainedMatch, device_hash, "site/17/dev/42/#");
BENCHMARK_CAPTURE(BM_RetainedMatch, metric_across_site, "site/17/dev/+/m3");
BENCHMARK_CAPTURE(BM_RetainedMatch, metric_across_fleet, "site/+/dev/+/m3");

}  // namespace

BENCHMARK_MAIN();
