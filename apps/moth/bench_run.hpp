#pragma once
// `moth bench`'s generator state, shared by the controller (bench.cpp) and the connections (bench_conn.cpp).
//
// Threads: --threads io_contexts, one thread each; a connection lives on one of them (round robin) and is touched
// only there. What crosses threads: per-publisher atomic counters (sent, delivered), the Run's counters and flags,
// and first_error (under its mutex). The controller (main thread) reads them while the workers run.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "bench_stats.hpp"
#include "codec/decoder.hpp"
#include "net/stream.hpp"

namespace moth::cli::bench {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

inline std::uint64_t now_ns() noexcept {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count());
}

struct PublisherState {
    std::atomic<std::uint64_t> sent{0};
    // Per group expecting this publisher: messages it received. A message is undelivered until every group has
    // it, so the window looks at the slowest group.
    std::unique_ptr<std::atomic<std::uint64_t>[]> delivered;
    std::atomic<bool> done{false};
    std::uint32_t fan = 0;  // groups expecting this publisher: copies per message

    [[nodiscard]] std::uint64_t slowest() const noexcept {
        std::uint64_t m = ~std::uint64_t{0};
        for (std::uint32_t g = 0; g < fan; ++g) m = std::min(m, delivered[g].load(std::memory_order_relaxed));
        return fan == 0 ? 0 : m;
    }
};

struct Run {
    Options o;
    net::ConnectSettings settings;
    codec::ProtocolVersion version = codec::ProtocolVersion::V3_1_1;
    std::uint32_t npub = 0;
    std::uint32_t nsub = 0;
    std::uint32_t nidle = 0;
    std::vector<PublisherState> pubs;
    std::vector<std::vector<std::uint32_t>> sub_expects;  // per subscriber: publisher ids its filter matches
    std::vector<std::string> topics;                      // per publisher (expanded %i; %j stays)

    std::atomic<bool> go{false};
    std::atomic<bool> stop_publishing{false};
    std::atomic<std::uint64_t> setup_done{0};  // connections that finished setting up, or failed
    std::atomic<std::uint64_t> connected{0};
    std::atomic<std::uint64_t> failed{0};
    std::atomic<std::uint64_t> refused{0};  // of the failed: a CONNACK with an error (e.g. bad user name or password)
    std::atomic<std::uint64_t> dropped{0};  // connections lost after setup
    std::atomic<std::uint64_t> first_connect_ns{0};
    std::atomic<std::uint64_t> last_connect_ns{0};
    std::atomic<std::uint64_t> first_subscribe_ns{0};
    std::atomic<std::uint64_t> window_resets{0};
    std::mutex error_mutex;
    std::string first_error;

    void error(std::string text) {
        std::lock_guard lock(error_mutex);
        if (first_error.empty()) first_error = std::move(text);
    }
};

inline void atomic_min_nonzero(std::atomic<std::uint64_t>& a, std::uint64_t v) {
    std::uint64_t cur = a.load();
    while ((cur == 0 || v < cur) && !a.compare_exchange_weak(cur, v)) {
    }
}
inline void atomic_max(std::atomic<std::uint64_t>& a, std::uint64_t v) {
    std::uint64_t cur = a.load();
    while (v > cur && !a.compare_exchange_weak(cur, v)) {
    }
}

enum class Role : std::uint8_t { Idle, Publisher, Subscriber };
constexpr std::uint32_t kNoSlot = ~std::uint32_t{0};

struct Worker;

// One client connection. Owned by its worker; touched only on the worker's thread.
struct Conn {
    Worker& w;
    Run& run;
    Role role;
    std::uint32_t id;     // publisher id, subscriber index or idle index
    std::uint64_t index;  // among all the run's connections: %i of --username and --password
    std::string client_id;
    std::unique_ptr<net::Stream> stream;
    codec::Decoder decoder{codec::DecoderOptions{.role = codec::Role::Client}};
    // Grows when a packet needs more. An idle connection reads a CONNACK and PINGRESPs only: 1 KiB instead of
    // 64 KiB keeps 100,000 of them (bench/conn100k.sh) from taking 6 GiB of the generator's memory.
    std::vector<std::byte> rbuf;
    std::size_t rbeg = 0, rend = 0;
    std::vector<std::byte> out, writing;
    bool write_active = false;
    bool dead = false;
    asio::steady_timer wake;
    Receipts receipts;
    std::vector<std::uint32_t> slot;  // subscriber: per publisher, this connection's group's delivered counter
    std::uint64_t foreign = 0;        // messages without this run's payload header
    asio::steady_timer keepalive_timer;
    std::atomic<std::uint64_t> received{0};  // stored by this thread only, read by the controller
    std::uint32_t inflight = 0;
    std::uint32_t receive_maximum = 65535;
    std::uint16_t next_id = 1;
    bool stalled = false;
    asio::steady_timer setup_timer;  // --connect-timeout: CONNACK (and SUBACK) due
    bool setup_timed_out = false;

    Conn(Worker& worker, Run& r, Role ro, std::uint32_t i, std::uint64_t index);
    void kick();
    asio::awaitable<void> write_loop();
    void fail(const std::string& why);
};

struct Worker {
    asio::io_context ioc{1};
    Histogram latency;
    Histogram connect_latency;
    std::vector<std::unique_ptr<Conn>> conns;
    std::vector<Conn*> stalled;         // publishers of this worker waiting for deliveries
    std::uint64_t last_message_ns = 0;  // when this worker last received a PUBLISH
    std::uint32_t pending = 0;          // connections being set up
    std::thread thread;
};

// Starts this worker's connections, paced by --connect-rate and --max-pending (both split over the threads). Runs on
// the worker's thread; each connection then lives there: connect, CONNECT/CONNACK, SUBSCRIBE/SUBACK, read, publish.
[[nodiscard]] asio::awaitable<void> launcher(Worker& w, const Run& run);
// Sends DISCONNECT (if the connection is up) and closes; on the connection's worker thread.
[[nodiscard]] asio::awaitable<void> disconnect(Conn& c);

}  // namespace moth::cli::bench
