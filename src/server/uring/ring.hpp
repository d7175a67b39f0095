#pragma once
// A worker's io_uring (io_backend = "io_uring"; docs/architecture.md, "I/O backends"): one ring per worker for its
// plain TCP connections. Reading is one multishot receive per connection into buffers the worker shares (a
// provided-buffer ring), so an idle connection holds no buffer and one wake-up gathers many sockets' data; writing
// is one send per dirty connection per loop turn, all submitted with one io_uring_enter. The ring's descriptor
// waits in the worker's io_context like any socket: completions are handled on the worker's thread between the
// other handlers. liburing is confined to ring.cpp.
//
// Thread affinity: the worker's own thread, except probe().
#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include <boost/asio/io_context.hpp>

namespace moth::server::detail {

// What one connection's operations report. The ring holds a raw pointer to it from the call that starts an
// operation to its last completion: the implementation keeps itself alive meanwhile.
class UringOps {
public:
    virtual ~UringOps() = default;
    // A multishot receive: res > 0 bytes in `data` (valid only during the call), 0 at end of stream, or -errno
    // (-ENOBUFS: the shared buffers ran out; -ECANCELED: cancelled). `more`: the receive stays armed; without it,
    // this was its last completion.
    virtual void on_received(int res, std::span<const std::byte> data, bool more) = 0;
    // A send: bytes written (possibly fewer than asked) or -errno.
    virtual void on_sent(int res) = 0;
    // A cancel_receive: 0 when the receive was found (its last completion follows), -ENOENT or -EALREADY when the
    // kernel had it between two arms (a multishot receive re-arming after a completion): ask again.
    virtual void on_cancelled(int res) = 0;
};

class Uring {
public:
    // Whether this process can run the ring mothd needs (io_uring_setup allowed, multishot receive, provided
    // buffer rings): empty when it can, else why not (for the start-up log line). Any thread.
    [[nodiscard]] static std::string unavailable_reason();

    // Creates the ring; throws std::runtime_error naming the failing call. Call on the worker's thread.
    explicit Uring(boost::asio::io_context& ioc);
    ~Uring();
    Uring(const Uring&) = delete;
    Uring& operator=(const Uring&) = delete;

    // Arms a multishot receive on `fd` reporting to `ops`.
    void receive(int fd, UringOps* ops);
    // Sends `data` (kept valid by the caller until on_sent).
    void send(int fd, std::span<const std::byte> data, UringOps* ops);
    // Asks the kernel to end `ops`' receive early; on_cancelled reports whether it was found. When it was, the
    // receive's last completion follows (-ECANCELED, or data first).
    void cancel_receive(UringOps* ops);
    // Submits what was prepared since the last call, in one system call (nothing when nothing was). The worker
    // calls it at the end of its flush; a posted call covers preparations made elsewhere.
    void submit();
    // Shutdown: once no operation is in flight the ring stops waiting, so the io_context can run out of work.
    void stop_when_idle();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace moth::server::detail
