#pragma once
// Inside the server: a worker (one thread, one io_context, one broker::Core) and the connections it serves.
// Defined in worker.cpp; shared by server.cpp (plain TCP connections, fd hand-off), stream_connection.cpp /
// stream_relay.cpp (TLS and WebSocket connections, which cannot move between io_contexts and are relayed instead; see
// docs/architecture.md) and mqttsn_sessions.cpp (the MQTT-SN gateway's internal connections).
//
// Thread affinity: everything here runs on the worker's own thread, except where a comment says otherwise.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "broker/core.hpp"
#include "server/connection_guard.hpp"
#include "server/lingering_close.hpp"
#include "server/server.hpp"

namespace moth::server::detail {

using Clock = std::chrono::steady_clock;
using broker::ConnectionId;

// What the worker needs from one of its connections, whatever carries it. The Host calls for a connection id
// land here.
class Connection {
public:
    virtual ~Connection() = default;
    // Host::send: appends to the output; written, gathered, by flush() at the end of the loop turn.
    virtual void queue(std::span<const std::byte> bytes) = 0;
    // Host::append: the same for `size` bytes that the caller fills in.
    virtual std::span<std::byte> append(std::size_t size) = 0;
    // Host::pending_bytes.
    [[nodiscard]] virtual std::size_t pending() const = 0;
    // Starts writing what is queued (once per loop turn for a connection marked dirty).
    virtual void flush() = 0;
    // Host::close: write what is queued, then close. The core hears no on_closed for it.
    virtual void close_after_flush() = 0;
    // Shutdown grace expired: close now.
    virtual void force_close() = 0;
    // Host::pause_input / resume_input: stop reading (keeping what the core left unconsumed) / feed the kept
    // bytes to the core on a later loop turn, then read on.
    virtual void pause_input() = 0;
    virtual void resume_input() = 0;
    // Host::hand_off: the core of worker `target` takes the connection over with `unread` as its first input.
    // The worker has already removed the id from its map; the connection re-registers itself if it stays.
    virtual void hand_off(unsigned target, std::span<const std::byte> unread) = 0;

    // Set while the connection is in the worker's list of connections to flush this loop turn, so that it is
    // listed (and flushed) once however many packets are queued for it. The worker's thread only.
    bool flush_listed = false;
};

// Connection::append for an output kept in a vector: `size` more bytes at its end.
inline std::span<std::byte> grow(std::vector<std::byte>& out, std::size_t size) {
    const auto old = out.size();
    out.resize(old + size);
    return std::span(out).subspan(old);
}

// After the core consumed the first `consumed` bytes of `data` (which may be `kept` itself), the rest is what a
// plain connection keeps in `kept` for the next read: a packet partly received. A kept buffer of more than 512 B
// of capacity is given back once empty (a busy publisher whose packets straddle reads keeps a small one).
void keep_unconsumed(std::vector<std::byte>& kept, std::span<const std::byte> data, std::size_t consumed);

struct ListenerContext;  // stream_connection.hpp
class Uring;            // uring/ring.hpp
class ConnectionSlot;   // stream_connection.hpp

class Worker final : public broker::Host {
public:
    Worker(unsigned index, Server::Impl& impl);
    ~Worker() override;

    void init();
    void run();
    void join();
    void stop();  // posted: say goodbye to clients, flush, then let the thread end

    boost::asio::io_context& ioc() { return ioc_; }
    broker::Core& core() { return *core_; }
    [[nodiscard]] unsigned index() const { return index_; }
    [[nodiscard]] const config::Config& config() const;
    [[nodiscard]] bool stopping() const { return stopping_; }
    Worker& peer(unsigned index);  // any thread: the workers do not change after start
    void log(int level, const std::string& line);

    // A plain socket accepted for this worker, or handed over by another one with bytes it already read.
    // `tag` names its listener and `slot` is its listener's connection place (null: none); both are kept across
    // hand-offs, the slot until the connection ends.
    void adopt(boost::asio::ip::tcp::socket s, std::string remote, std::vector<std::byte> initial,
               std::shared_ptr<const broker::ListenerTag> tag, std::shared_ptr<ConnectionSlot> slot);
    // The same for a connected descriptor this worker now owns (a hand-off): served on the worker's io_uring when it
    // has one (UringConnection), else on Asio's reactor (TcpConnection).
    void adopt_fd(int fd, std::string remote, std::vector<std::byte> initial,
                  std::shared_ptr<const broker::ListenerTag> tag, std::shared_ptr<ConnectionSlot> slot);
    // Registers a connection under a fresh id and tells the core it is open; returns the id. `tag`: its listener
    // (may be null). `username`: the transport's identity for the core (use_cn_as_username). 0: on_open threw and
    // the connection is closed already (guarded()); the caller does not start it.
    ConnectionId open(std::shared_ptr<Connection> conn, std::string remote,
                      std::shared_ptr<const broker::ListenerTag> tag = nullptr,
                      std::optional<std::string> username = std::nullopt);
    void forget(ConnectionId id);
    // Every call into the core made for one connection goes through here (ConnectionGuard: connection_guard.hpp).
    // True: it returned. False: it threw, and the connection is closed (its transport at once, the core told as
    // for a network failure), counted and logged; the caller calls the core no more for it. Never from inside a
    // call into the core (a Host callback): the outer call is guarded.
    template <class Call>
    bool guarded(ConnectionId id, CoreCall what, Call&& call, std::string_view remote = {}) {
        return conn_guard_->run(id, what, std::forward<Call>(call), remote);
    }
    // Holds a connection the core no longer knows (its session lives on another worker, which relays through
    // it), so that shutdown still closes it.
    void keep(ConnectionId id, std::shared_ptr<Connection> conn) { conns_.emplace(id, std::move(conn)); }
    // Handshakes in progress are not connections yet; stop() runs these to cancel them.
    std::uint64_t add_canceller(std::function<void()> fn);
    void remove_canceller(std::uint64_t id) { cancellers_.erase(id); }
    void mark_dirty(const std::shared_ptr<Connection>& c);
    // Takes a connected socket's descriptor over for a lingering close (lingering_close.hpp); -1 is ignored.
    void linger(int fd);
    // Where the worker's plain TCP connections read (one at a time, on this thread): a connection keeps bytes of
    // its own only while a packet is partly received. The core consumes them before the next read.
    std::span<std::byte> read_scratch() {
        if (read_scratch_.empty()) read_scratch_.resize(kReadScratch);
        return read_scratch_;
    }
    // Once per loop turn: cross-worker batches go out, and each connection written to gets one write.
    void schedule_flush();

    // broker::Host
    bool send(ConnectionId id, std::span<const std::byte> bytes, std::size_t limit) override;
    std::span<std::byte> append(ConnectionId id, std::size_t size, std::size_t limit) override;
    [[nodiscard]] std::size_t pending_bytes(ConnectionId id) const override;
    void close(ConnectionId id) override;
    void pause_input(ConnectionId id) override;
    void resume_input(ConnectionId id) override;
    void hand_off(ConnectionId id, unsigned worker, std::span<const std::byte> unread) override;
    void post(unsigned worker, std::function<void(broker::Core&, broker::TimePoint)> fn) override;

private:
    void schedule_tick();
    // During shutdown: the grace ends early once no connection is open and no socket lingers.
    void end_grace_when_idle();

    unsigned index_;
    Server::Impl& impl_;
    boost::asio::io_context ioc_{1};
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_{ioc_.get_executor()};
    boost::asio::steady_timer tick_;
    std::optional<boost::asio::steady_timer> grace_;
    std::unique_ptr<broker::Core> core_;
    std::optional<ConnectionGuard> conn_guard_;  // made by init()
    std::unordered_map<ConnectionId, std::shared_ptr<Connection>> conns_;
    std::unique_ptr<LingeringCloses> lingering_;  // made by init()
    std::vector<std::shared_ptr<Connection>> dirty_;
    static constexpr std::size_t kReadScratch = 64 * 1024;  // a busy publisher is read in few system calls
    std::vector<std::byte> read_scratch_;
    std::unordered_map<std::uint64_t, std::function<void()>> cancellers_;
    std::uint64_t next_canceller_ = 1;
    bool flush_posted_ = false;
    bool stopping_ = false;
    bool grace_over_ = false;  // shutdown's grace ended: a socket to linger is closed at once
    std::uint64_t next_id_ = 1;
    std::thread thread_;
    // io_backend io_uring: made on the worker's thread as it starts (one submitting thread); last, so destroyed
    // first.
    std::unique_ptr<Uring> uring_;
};

}  // namespace moth::server::detail
