#pragma once
// A StoreBackend that hands every write to the cluster's copy of persistent sessions (broker::SessionReplica)
// before writing it to the node's own backend (docs/cluster.md, "Sessions and take-over"): a batch is durable
// only when both have it, so that acknowledged means stored cluster-wide. Reads are the node's own backend's.
//
// Thread affinity: as any StoreBackend, one thread at a time (the committer); the replica blocks that thread.
#include <string>

#include "broker/cluster.hpp"
#include "broker/store.hpp"

namespace moth::store {

class ReplicatedBackend final : public broker::StoreBackend {
public:
    ReplicatedBackend(broker::StoreBackend& local, broker::SessionReplica& replica) : local_(local), replica_(replica) {}

    [[nodiscard]] bool write(const std::vector<const std::vector<broker::StoreOp>*>& batches, bool sync) override;
    void scan(const std::function<void(std::string_view, std::string_view)>& fn) override { local_.scan(fn); }
    void scan_from(std::string_view start, std::string_view end,
                   const std::function<bool(std::string_view, std::string_view)>& fn) override {
        local_.scan_from(start, end, fn);
    }
    [[nodiscard]] std::string last_error() const override { return error_.empty() ? local_.last_error() : error_; }
    [[nodiscard]] std::string where() const override { return local_.where(); }

private:
    broker::StoreBackend& local_;
    broker::SessionReplica& replica_;
    std::string error_;
};

}  // namespace moth::store
