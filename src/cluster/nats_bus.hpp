#pragma once
// The cluster bus on NATS JetStream (docs/cluster.md, docs/cluster.md). This header does not include nats.h:
// apps/mothd includes it to construct the bus; only src/cluster/nats/ sees libnats.
#include <functional>
#include <memory>
#include <string>

#include "broker/cluster.hpp"
#include "config/config.hpp"

namespace moth::cluster {

// `cfg.node` must be set (mothd resolves the host-name default). `log(level, line)`: spdlog levels (2 info,
// 3 warn, 4 error), called from the bus's threads. Nothing connects before start().
[[nodiscard]] std::unique_ptr<broker::ClusterBus> make_nats_bus(const config::Cluster& cfg, std::string version,
                                                                std::function<void(int level, const std::string& line)> log);

}  // namespace moth::cluster
