#pragma once
// What the broker publishes under $SYS/broker/ (Mosquitto's names), computed from the counters: a pure function of
// its inputs plus the load averages it keeps between calls. Worker 0's core publishes the result as retained
// messages (Core::publish_sys).
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "broker/cluster.hpp"
#include "broker/context.hpp"
#include "broker/message.hpp"

namespace moth::broker {

struct SysInputs {
    StatsTotals totals;              // this run's counters, all workers
    StoredTotals base;               // what the store kept from earlier runs (totals count from the first start)
    std::size_t retained_count = 0;
    std::uint64_t flapping_bans = 0;  // Gate::flapping_bans()
    std::int64_t uptime_s = 0;
    std::string version;
    std::optional<ClusterStatus> cluster;  // in a cluster: the bus's view of the nodes (docs/cluster.md)
};

class SysTopics {
public:
    // The topics and values as of `now`; updates the 1, 5 and 15 minute load averages (per-minute publish rates
    // smoothed as Mosquitto does) from the previous call's counters.
    std::vector<std::pair<std::string, std::string>> update(const SysInputs& in, TimePoint now);
    // The totals to keep in the store (this run's counters plus the base).
    [[nodiscard]] static StoredTotals persisted(const SysInputs& in);

private:
    static void cluster_topics(const ClusterStatus& c, std::vector<std::pair<std::string, std::string>>& out);
    bool first_ = true;
    TimePoint last_{};
    std::uint64_t last_received_ = 0, last_sent_ = 0;
    std::array<double, 3> load_received_{}, load_sent_{};
};

}  // namespace moth::broker
