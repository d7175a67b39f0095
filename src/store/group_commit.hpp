#pragma once
// The group-commit store: the Store (broker/store.hpp) that mothd gives the broker. One thread, one queue shared by
// every worker; in `sync` mode every pass takes all the batches queued meanwhile and writes them as one fsynced
// write; in `batched` mode the pass runs every flush interval and the core does not wait for it.
// Outside src/broker because it owns a thread and reads the clock: the core only sees the Store interface.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "broker/store.hpp"

namespace moth::store {

// Thread-safe: commit() and read_deliveries() from any thread; their completions run on the committer thread.
class GroupCommitStore final : public broker::Store {
public:
    // `interval`: batched mode's flush period. `log(level, line)` as broker::Shared::log.
    GroupCommitStore(broker::StoreBackend& backend, broker::Durability mode, std::chrono::milliseconds interval,
                     std::function<void(int, const std::string&)> log = {});
    ~GroupCommitStore() override;
    GroupCommitStore(const GroupCommitStore&) = delete;
    GroupCommitStore& operator=(const GroupCommitStore&) = delete;

    void commit(std::vector<broker::StoreOp> batch, Done done) override;
    [[nodiscard]] bool acks_wait() const override { return mode_ == broker::Durability::Sync; }
    void read_deliveries(std::string client_id, broker::DeliveryRange range, Loaded done) override;
    // Writes what is queued, then stops the thread. Later commits fail at once.
    void close();

    struct Counters {
        std::uint64_t writes = 0;   // backend writes (one fsync each)
        std::uint64_t batches = 0;  // batches they covered
        std::uint64_t failures = 0;
    };
    [[nodiscard]] Counters counters() const;

private:
    void run();

    broker::StoreBackend& backend_;
    broker::Durability mode_;
    std::chrono::milliseconds interval_;
    std::function<void(int, const std::string&)> log_;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    struct Item {
        std::vector<broker::StoreOp> ops;
        Done done;
        // A read (ops empty): runs after the writes queued before it.
        std::function<void()> read;
    };
    std::deque<Item> queue_;
    bool stop_ = false;
    Counters counters_;
    std::thread thread_;
};

}  // namespace moth::store
