// The group-commit store (store/group_commit.hpp): one committer thread takes the batches of every worker and
// writes each group with one fsync; completions run on that thread and are posted back by the caller.
#include "store/group_commit.hpp"

#include <deque>
#include <exception>
#include <utility>

namespace moth::store {

using broker::DeliveryRange;
using broker::Durability;
using broker::StoreOp;
using broker::StoredDelivery;

GroupCommitStore::GroupCommitStore(broker::StoreBackend& backend, Durability mode, std::chrono::milliseconds interval,
                                   std::function<void(int, const std::string&)> log)
    : backend_(backend), mode_(mode), interval_(interval), log_(std::move(log)) {
    thread_ = std::thread([this] { run(); });
}

GroupCommitStore::~GroupCommitStore() {
    close();
}

void GroupCommitStore::commit(std::vector<StoreOp> batch, Done done) {
    {
        std::lock_guard lock(mu_);
        if (!stop_) {
            queue_.push_back({std::move(batch), std::move(done), {}});
            cv_.notify_one();
            return;
        }
    }
    if (done) done(false);
}

void GroupCommitStore::read_deliveries(std::string client_id, DeliveryRange range, Loaded done) {
    auto read = [this, client_id = std::move(client_id), range, done]() {
        std::vector<StoredDelivery> out;
        try {
            // The committer's clock: the read's time for the expiry of the messages it decodes.
            out = broker::read_deliveries(backend_, client_id, range, broker::Clock::now());
        } catch (const std::exception& e) {
            if (log_) log_(3, std::string("store: read failed: ") + e.what());
            done(false, {});
            return;
        }
        done(true, std::move(out));
    };
    {
        std::lock_guard lock(mu_);
        if (!stop_) {
            queue_.push_back({{}, {}, std::move(read)});
            cv_.notify_one();
            return;
        }
    }
    done(false, {});
}

void GroupCommitStore::close() {
    {
        std::lock_guard lock(mu_);
        if (stop_ && !thread_.joinable()) return;
        stop_ = true;
        cv_.notify_one();
    }
    if (thread_.joinable()) thread_.join();
}

GroupCommitStore::Counters GroupCommitStore::counters() const {
    std::lock_guard lock(mu_);
    return counters_;
}

void GroupCommitStore::run() {
    std::unique_lock lock(mu_);
    for (;;) {
        cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
        if (queue_.empty() && stop_) return;
        if (mode_ == Durability::Batched && !stop_) {
            // Writes trail behind by at most one interval: the documented loss window.
            cv_.wait_for(lock, interval_, [&] { return stop_; });
        }
        // Everything queued until now goes into one write: one fsync covers the batches of every worker.
        std::deque<Item> items = std::move(queue_);
        queue_.clear();
        lock.unlock();
        std::vector<const std::vector<StoreOp>*> batches;
        batches.reserve(items.size());
        for (const auto& it : items) {
            if (!it.read) batches.push_back(&it.ops);
        }
        // Reads come after the write: they see every batch queued before them (and perhaps some after).
        const bool ok = batches.empty() || backend_.write(batches, true);
        if (!ok && log_) log_(3, "store: write failed: " + backend_.last_error());
        if (!batches.empty()) {
            // Counted before the completions run: whoever a completion wakes sees the write counted
            // (GroupCommit.OneWriteCoversTheBatchesOfManyThreads read the counters in that gap now and then).
            lock.lock();
            ++counters_.writes;
            counters_.batches += batches.size();
            if (!ok) ++counters_.failures;
            lock.unlock();
        }
        for (auto& it : items) {
            if (it.read) {
                it.read();
            } else if (it.done) {
                it.done(ok);
            }
        }
        lock.lock();
    }
}

}  // namespace moth::store
