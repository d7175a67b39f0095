#pragma once
// What the cluster bus reports (broker::ClusterEvents), handed to the workers (docs/cluster.md): a message from
// another node to the worker its topic hashes to (one topic, one worker: its order kept), a take-over to the worker
// that owns the client id, a retained update straight into the shared index (it has its own lock).
//
// Thread affinity: called on the bus's threads; everything it does is a post to a worker or under the index's lock.
#include <functional>
#include <string>

#include "broker/cluster.hpp"
#include "broker/context.hpp"
#include "broker/host.hpp"

namespace moth::server::detail {

class ClusterEventsToWorkers final : public broker::ClusterEvents {
public:
    using Post = std::function<void(unsigned worker, std::function<void(broker::Core&, broker::TimePoint)>)>;
    ClusterEventsToWorkers(broker::Shared& shared, Post post) : shared_(shared), post_(std::move(post)) {}

    void on_message(broker::ClusterDelivery d) override;
    void on_retained(std::string topic, broker::MessagePtr m) override;
    void on_takeover(std::string client_id, std::string by_node, std::int64_t at_unix_ms,
                     std::function<void(bool released)> release) override;
    void on_link(bool up, std::string detail) override;

private:
    broker::Shared& shared_;
    Post post_;
};

}  // namespace moth::server::detail
