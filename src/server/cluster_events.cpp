#include "server/cluster_events.hpp"

#include <functional>
#include <mutex>

#include "broker/core.hpp"
#include "broker/ids.hpp"

namespace moth::server::detail {

void ClusterEventsToWorkers::on_message(broker::ClusterDelivery d) {
    const auto n = shared_.worker_count;
    // A session's own consumer: to the worker that holds the session (its consumer's order kept there).
    const unsigned w = !d.client.empty() ? broker::owner_worker(d.client, n)
                       : n <= 1          ? 0
                                         : static_cast<unsigned>(std::hash<std::string>{}(d.message->topic) % n);
    post_(w, [d = std::move(d)](broker::Core& core, broker::TimePoint now) mutable {
        core.deliver_cluster(std::move(d), now);
    });
}

void ClusterEventsToWorkers::on_retained(std::string topic, broker::MessagePtr m) {
    // The cluster's bucket is the truth for retained messages: applied here as they come, this node's own too.
    std::lock_guard lock(shared_.retained_mutex);
    if (m == nullptr || m->payload.empty()) {
        shared_.retained.erase(topic);
    } else {
        shared_.retained.set(topic, std::move(m));
    }
}

void ClusterEventsToWorkers::on_takeover(std::string client_id, std::string by_node, std::int64_t at_unix_ms,
                                         std::function<void(bool released)> release) {
    const unsigned w = broker::owner_worker(client_id, shared_.worker_count);
    post_(w, [client_id = std::move(client_id), by_node = std::move(by_node), at_unix_ms,
              release = std::move(release)](broker::Core& core, broker::TimePoint now) mutable {
        core.cluster_takeover(client_id, by_node, at_unix_ms, now, std::move(release));
    });
}

void ClusterEventsToWorkers::on_link(bool up, std::string detail) {
    if (!shared_.log) return;
    shared_.log(up ? 1 : 2, std::string("cluster: link to NATS ") + (up ? "up" : "down") +
                                (detail.empty() ? "" : ": " + detail));
}

}  // namespace moth::server::detail
