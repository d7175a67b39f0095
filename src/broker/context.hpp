#pragma once
// What every worker's core shares: the configuration at start, the counters, the retained index, the
// authenticator and the store. Created by main (src/server) before the workers start.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "broker/auth.hpp"
#include "broker/cluster.hpp"
#include "broker/gate.hpp"
#include "broker/message.hpp"
#include "broker/store.hpp"
#include "config/config.hpp"
#include "topic/retained_index.hpp"

namespace moth::broker {

// Per-worker counters, written by their worker only and read by the $SYS publisher and /metrics.
struct alignas(64) Stats {
    std::atomic<std::uint64_t> connections{0};  // open network connections with a session
    std::atomic<std::uint64_t> sessions{0};     // sessions owned, connected or not
    std::atomic<std::uint64_t> messages_received{0};
    std::atomic<std::uint64_t> messages_sent{0};
    std::atomic<std::uint64_t> messages_dropped{0};
    std::atomic<std::uint64_t> publish_received{0};
    std::atomic<std::uint64_t> publish_sent{0};
    std::atomic<std::uint64_t> bytes_received{0};
    std::atomic<std::uint64_t> bytes_sent{0};
    std::atomic<std::uint64_t> subscriptions{0};
    std::atomic<std::uint64_t> protocol_errors{0};
    std::atomic<std::uint64_t> connection_failures{0};  // a core call for a connection threw (server's guard)
    std::atomic<std::uint64_t> auth_failures{0};        // CONNECTs refused by the authenticator
    std::atomic<std::uint64_t> denied{0};               // PUBLISH, SUBSCRIBE and wills the authorizer refused
    std::atomic<std::uint64_t> throttled{0};            // times a client's input paused for its publish rate
    std::atomic<std::uint64_t> rate_disconnects{0};     // clients disconnected for their publish rate
    std::atomic<std::uint64_t> connect_rate_refused{0};  // CONNECTs refused by a connection rate
    std::atomic<std::uint64_t> banned_refused{0};       // CONNECTs refused by a ban

    static void add(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) {
        c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    static void subtract(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) {
        c.store(c.load(std::memory_order_relaxed) - n, std::memory_order_relaxed);
    }
};

// The counters of every worker added up (a snapshot: each counter read once, relaxed).
struct StatsTotals {
    std::uint64_t connections = 0, sessions = 0, messages_received = 0, messages_sent = 0, messages_dropped = 0,
                  publish_received = 0, publish_sent = 0, bytes_received = 0, bytes_sent = 0, subscriptions = 0,
                  protocol_errors = 0, connection_failures = 0,
                  auth_failures = 0, denied = 0, throttled = 0, rate_disconnects = 0, connect_rate_refused = 0,
                  banned_refused = 0;
};
[[nodiscard]] StatsTotals sum(const std::vector<std::unique_ptr<Stats>>& stats);

struct Shared {
    Shared(config::Config c, unsigned workers, TimePoint started_at);

    config::Config config;
    unsigned worker_count;
    TimePoint started;
    std::string version = "unknown";
    std::vector<std::unique_ptr<Stats>> stats;  // one per worker
    std::atomic<std::uint64_t> connection_count{0};

    std::mutex retained_mutex;
    topic::RetainedIndex<MessagePtr> retained;  // guarded by retained_mutex

    Authenticator* authenticator = nullptr;  // must be set; AllowAll by default in mothd
    const Authorizer* authorizer = nullptr;  // null: every client may read and write everything
    Gate* gate = nullptr;                    // connection rates, bans, flapping; null: none
    // Durable state (null: durability "memory", nothing persisted). Set before the workers start.
    Store* store = nullptr;
    // The other nodes of a cluster (docs/cluster.md); null: this broker is alone. Set before the workers start.
    ClusterBus* cluster = nullptr;
    // Keys of persisted deliveries: make_seq(next_seq++, worker), increasing across all workers, with the
    // worker that wrote the record in the low bits (a session reads its spilled messages back per worker).
    std::atomic<std::uint64_t> next_seq{1};
    std::uint64_t first_seq = 1;  // make_seq(next_seq at start-up, 0): smaller seqs may have been sent before (DUP)
    StoredTotals totals_base;                // $SYS totals restored from the store
    // Log sink: level 0 debug, 1 info, 2 warning, 3 error. Called from worker threads.
    std::function<void(int level, const std::string& line)> log;
};

}  // namespace moth::broker
