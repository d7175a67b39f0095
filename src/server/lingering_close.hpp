#pragma once
// Lingering close: how a worker ends a connection after the broker's last packet (a DISCONNECT with a reason
// code, a refusing CONNACK). Closing the socket at once while the client is still sending makes the kernel answer
// with a reset, and the client reports "connection reset" instead of the reason it was sent. So the write side is
// shut down (the client reads our last bytes, then end of stream), and whatever the client still sends is read and
// discarded until it closes too or kLingerTime passes, as HTTP servers do.
//
// Bounded: at most `cap` sockets linger across the server (the count is shared by the workers); past it a socket
// is closed at once. A lingering socket has no buffer of its own: reads go to one discard buffer per worker.
//
// Thread affinity: a worker's own thread, except the shared count.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

namespace moth::server::detail {

inline constexpr std::chrono::seconds kLingerTime{2};

class LingeringCloses {
public:
    using Clock = std::chrono::steady_clock;

    // `count`: sockets lingering in the whole server; `cap`: its bound (0: no bound). `on_empty` runs when the
    // last lingering socket of this worker is closed (shutdown waits for that).
    LingeringCloses(boost::asio::io_context& ioc, std::atomic<std::uint64_t>& count, std::uint64_t cap,
                    std::function<void()> on_empty)
        : ioc_(ioc), count_(count), cap_(cap), on_empty_(std::move(on_empty)) {}
    ~LingeringCloses() { close_all(); }
    LingeringCloses(const LingeringCloses&) = delete;
    LingeringCloses& operator=(const LingeringCloses&) = delete;

    // Takes the connected socket `fd` over: shuts its write side down and reads until the peer closes or
    // kLingerTime from `now` passes.
    void add(int fd, Clock::time_point now);
    // Closes the sockets whose time is up (called from the worker's tick).
    void expire(Clock::time_point now);
    // Closes every lingering socket now (shutdown).
    void close_all();
    [[nodiscard]] std::size_t size() const { return sockets_.size(); }

private:
    using Descriptor = boost::asio::posix::basic_stream_descriptor<boost::asio::io_context::executor_type>;

    void wait(std::uint64_t id, Descriptor& d);
    void on_ready(std::uint64_t id);
    void close(std::uint64_t id);

    boost::asio::io_context& ioc_;
    std::atomic<std::uint64_t>& count_;
    std::uint64_t cap_;
    std::function<void()> on_empty_;
    std::unordered_map<std::uint64_t, std::unique_ptr<Descriptor>> sockets_;
    // (deadline, id) in deadline order: every socket lingers for the same time, so adding keeps the order.
    std::deque<std::pair<Clock::time_point, std::uint64_t>> deadlines_;
    std::vector<std::byte> discard_;  // allocated on first use
    std::uint64_t next_id_ = 1;
};

}  // namespace moth::server::detail
