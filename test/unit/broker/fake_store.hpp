// FakeStore: a Store for the broker core tests that keeps each batch and its completion (and each read) until the
// test completes them, in order, as the committer's thread would; the writes of successful batches go to a memory
// backend, from which reads are answered.
#pragma once

#include <deque>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "broker/store.hpp"
#include "store/memory/memory_store.hpp"

namespace moth::broker::test {

class FakeStore final : public Store {
public:
    explicit FakeStore(bool wait) : wait_(wait) {}
    void commit(std::vector<StoreOp> batch, Done done) override {
        pending.push_back({std::move(batch), std::move(done), {}});
    }
    [[nodiscard]] bool acks_wait() const override { return wait_; }
    void read_deliveries(std::string client_id, DeliveryRange range, Loaded done) override {
        ++reads;
        pending.push_back({{}, {}, [this, client_id, range, done] {
                               done(true, broker::read_deliveries(backend, client_id, range, Clock::now()));
                           }});
    }
    // Completes every pending batch and read in order (the committer's thread in real life); the writes of
    // successful batches go to `backend`.
    void complete(bool ok) {
        auto items = std::exchange(pending, {});
        for (auto& it : items) {
            if (it.read) {
                it.read();
                continue;
            }
            for (const auto& op : it.ops) keys.push_back(op.key);
            if (ok) (void)backend.write({&it.ops}, true);
            if (it.done) it.done(ok);
        }
    }
    store::MemoryBackend backend;
    std::size_t reads = 0;
    bool pending_key_starts_with(char tag) const {
        for (const auto& it : pending) {
            for (const auto& op : it.ops) {
                if (!op.key.empty() && op.key[0] == tag && op.kind == StoreOp::Kind::Put) return true;
            }
        }
        return false;
    }
    struct Item {
        std::vector<StoreOp> ops;
        Done done;
        std::function<void()> read;
    };
    std::deque<Item> pending;
    std::vector<std::string> keys;

private:
    bool wait_;
};

}  // namespace moth::broker::test
