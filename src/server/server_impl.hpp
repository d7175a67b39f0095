#pragma once
// Inside the server (server.cpp: listeners and the public API; worker.cpp: the workers): what both see of
// Server::Impl, the state behind the Server facade.
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include "broker/context.hpp"
#include "server/http_session.hpp"
#include "server/mqttsn_listener.hpp"
#include "server/server.hpp"
#include "server/stream_connection.hpp"
#include "server/worker.hpp"

namespace moth::server {

namespace detail {
// Descriptors never used for connections, kept free for what must not fail when clients take all the others: the
// store's new files, log files, TLS and DNS, the sanitizers' pipes in the test builds.
inline constexpr int kDescriptorMargin = 64;
inline constexpr auto kTickInterval = std::chrono::milliseconds(250);
inline constexpr auto kShutdownGrace = std::chrono::seconds(2);
}  // namespace detail

struct Server::Impl {
    Impl(config::Config c, broker::Authenticator& a, std::function<void(int, const std::string&)> l, std::string v)
        : shared(std::move(c), 1, detail::Clock::now()), log(std::move(l)) {
        shared.authenticator = &a;
        shared.log = log;
        shared.version = std::move(v);
    }

    broker::Shared shared;
    std::function<void(int, const std::string&)> log;
    std::vector<std::unique_ptr<detail::Worker>> workers;
    struct Listener {
        config::Listener cfg;
        std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor;
        BoundListener bound;
        std::shared_ptr<detail::ListenerContext> context;  // TLS context, path, limits, connection count, tag
        std::shared_ptr<detail::HttpListenerContext> http;  // http: API settings, its ws upgrade (uses `context`)
        // Out of descriptors: accepting pauses, then resumes after `backoff` or when a connection closes.
        std::unique_ptr<boost::asio::steady_timer> retry;
        std::chrono::milliseconds backoff{0};
        bool paused = false;
    };
    std::vector<std::unique_ptr<Listener>> listeners;
    // MQTT-SN (mqttsn, mqttsns): after `workers`, so destroyed first (their sockets and timers use the workers'
    // io_contexts).
    struct Datagram {
        std::unique_ptr<detail::SnListener> listener;
        BoundListener bound;
    };
    std::vector<Datagram> datagram_listeners;
    std::atomic<unsigned> next_worker{0};
    std::shared_ptr<detail::BridgeSource> bridges = std::make_shared<detail::BridgeSource>();
    std::optional<broker::RestoredState> restored;
    std::unique_ptr<broker::ClusterEvents> cluster_events;  // the bus's reports to the workers (cluster_events.hpp)
    bool started = false;
    bool use_uring = false;  // io_backend as resolved by start(): plain TCP connections on each worker's io_uring
    std::atomic<bool> stopped{false};  // read by the accept handler on worker 0
    std::atomic<std::uint64_t> lingering{0};  // sockets in a lingering close, all workers (bounded by max_connections)
    // A spare descriptor, given up while out of descriptors so that waiting clients can be accepted and closed at
    // once instead of waiting in the backlog. Worker 0's thread (the accept handlers) once started.
    int reserve_fd = -1;
    // A descriptor at or above this number is not used for a connection (see kDescriptorMargin); 0: no ceiling.
    int fd_ceiling = 0;
    std::atomic<bool> descriptors_short{false};  // some listener is paused; a closing connection resumes it
    // Blocking file work for the http listeners (web_root files, the dashboard), never done on a worker. Declared
    // after `workers`, so it is joined (in stop(), and at destruction) before their io_contexts go.
    std::unique_ptr<boost::asio::thread_pool> blocking;

    ~Impl() {
        if (reserve_fd >= 0) ::close(reserve_fd);
    }

    void accept(Listener& l);
    void serve(Listener& l, detail::Worker* w, boost::asio::ip::tcp::socket s);
    void out_of_descriptors(Listener& l, const std::string& why);
    std::size_t shed_backlog(Listener& l);
    // Any thread: a descriptor was given back; listeners paused for lack of descriptors try again now.
    void descriptor_freed();
    void refuse_over_limit(detail::ListenerContext& lc, const std::string& remote);
};

}  // namespace moth::server
