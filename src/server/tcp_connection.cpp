#include "server/tcp_connection.hpp"

#include <cstring>
#include <string>
#include <utility>

#include <boost/asio.hpp>

#include "server/stream_connection.hpp"

namespace moth::server::detail {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

// A connection waits for read readiness without a buffer and is read into its worker's scratch space
// (Worker::read_scratch); it keeps bytes of its own only while a packet is partly received (keep_unconsumed).

// Asio keeps the memory of completed handlers per thread and gives the next operation any cached block large
// enough, whatever its size: the wait pending on every idle connection would each hold a block sized for the
// accept handler (about 250 B). Bound to a handler, this allocator gives the operation just the bytes it needs.
template <class T>
struct ExactAllocator {
    using value_type = T;
    ExactAllocator() noexcept = default;
    template <class U>
    ExactAllocator(const ExactAllocator<U>& /*other*/) noexcept {}  // NOLINT(google-explicit-constructor)
    T* allocate(std::size_t n) { return std::allocator<T>().allocate(n); }
    void deallocate(T* p, std::size_t n) noexcept { std::allocator<T>().deallocate(p, n); }
    friend bool operator==(const ExactAllocator& /*a*/, const ExactAllocator& /*b*/) noexcept { return true; }
};

}  // namespace

void TcpConnection::hand_off(unsigned worker, std::span<const std::byte> unread) {
    handed_off_ = true;
    boost::system::error_code ec;
    // The socket moves between io_contexts as a plain descriptor: release it here, assign it there.
    const int fd = sock_.release(ec);
    if (ec) return;
    // The peer (or the client a PROXY header named) and the listener go along; the core still has them. Called
    // by the core from inside on_data (Host::hand_off), so not guarded here: that on_data call is.
    std::string remote;
    std::shared_ptr<const broker::ListenerTag> tag;
    w_.core().origin(id_, remote, tag);
    w_.log(0, "connection from " + remote + " handed over from worker " + std::to_string(w_.index()) + " to worker " +
                  std::to_string(worker));
    Worker* target = &w_.peer(worker);
    asio::post(target->ioc(), [target, fd, remote = std::move(remote), tag = std::move(tag), slot = std::move(slot_),
                               bytes = std::vector<std::byte>(unread.begin(), unread.end())]() mutable {
        target->adopt_fd(fd, std::move(remote), std::move(bytes), std::move(tag), std::move(slot));
    });
}

void TcpConnection::start(ConnectionId id, std::vector<std::byte> initial) {
    id_ = id;
    boost::system::error_code ec;
    sock_.non_blocking(true, ec);  // reads happen on readiness and must never block the worker
    if (ec) {
        fail();
        return;
    }
    if (!initial.empty()) {
        consume(initial);
        if (closing_ || closed_ || handed_off_ || paused_) return;
    }
    read();
}

void TcpConnection::resume_input() {
    paused_ = false;
    asio::post(w_.ioc(), [self = shared_from_this()] {
        if (self->handed_off_ || self->closed_ || self->closing_ || self->paused_) return;
        if (!self->in_.empty()) {
            self->consume(self->in_);
            if (self->handed_off_ || self->closed_ || self->closing_ || self->paused_) return;
        }
        // Edge-triggered readiness: what arrived while paused is read now, not announced again.
        self->on_ready();
    });
}

void TcpConnection::read() {
    // Readiness, not a read: nothing is held for the connection while it waits. The descriptor is registered
    // edge-triggered, so this is only called once a read came back short or would have blocked (on_ready).
    sock_.async_wait(Socket::wait_read,
                     asio::bind_allocator(ExactAllocator<void>(),
                                          [self = shared_from_this()](const boost::system::error_code& ec) {
                                              if (self->handed_off_ || self->closed_) return;
                                              if (ec) {
                                                  self->fail();
                                                  return;
                                              }
                                              self->on_ready();
                                          }));
}

void TcpConnection::on_ready() {
    std::span<std::byte> scratch = w_.read_scratch();
    std::size_t kept = in_.size();
    std::span<std::byte> space;
    if (kept <= scratch.size() / 2) {
        // The usual case: the remainder (if any) goes in front of the scratch space and the read follows it.
        if (kept > 0) std::memcpy(scratch.data(), in_.data(), kept);
        space = scratch.subspan(kept);
    } else {
        // A packet larger than half the scratch space is on its way: it collects in in_ itself. The decoder has
        // already checked its size against the maximum packet size, so this growth is bounded by that limit.
        in_.resize(kept + scratch.size() / 2);
        space = std::span<std::byte>(in_).subspan(kept);
    }
    boost::system::error_code ec;
    const std::size_t n = sock_.read_some(asio::buffer(space.data(), space.size()), ec);
    if (space.data() != scratch.data() + kept) in_.resize(kept + n);
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
        read();
        return;
    }
    if (ec) {
        fail();
        return;
    }
    if (space.data() == scratch.data() + kept) {
        consume(scratch.first(kept + n));
    } else {
        consume(in_);
    }
    if (handed_off_ || closed_) return;
    if (closing_) return;  // the core closed it: no more input is read
    if (paused_) return;   // resume_input() reads on
    if (n == space.size()) {
        // The read filled its space: more may be waiting, and the edge-triggered registration will not say so
        // again. Read it on a later loop turn, after the other ready connections.
        asio::post(w_.ioc(), [self = shared_from_this()] {
            if (self->handed_off_ || self->closed_ || self->closing_) return;
            self->on_ready();
        });
        return;
    }
    read();
}

void TcpConnection::consume(std::span<const std::byte> data) {
    std::size_t consumed = data.size();
    // A throw has closed the connection (closed_): nothing of it is kept, its readers see closed_ and stop.
    if (!w_.guarded(id_, CoreCall::Data,
                    [&] { consumed = std::min(w_.core().on_data(id_, data, Clock::now()), data.size()); }))
        return;
    if (handed_off_) return;
    keep_unconsumed(in_, data, consumed);
    w_.schedule_flush();
}

void TcpConnection::flush() {
    if (writing_active_ || out_.empty() || closed_) {
        if (!writing_active_ && out_.empty() && closing_ && !closed_) finish(true);
        return;
    }
    std::swap(out_, writing_);
    out_.clear();
    writing_active_ = true;
    asio::async_write(sock_, asio::buffer(writing_),
                      [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                          self->writing_active_ = false;
                          self->writing_.clear();
                          if (self->closed_) return;
                          if (ec) {
                              self->fail();
                              return;
                          }
                          if (!self->out_.empty()) {
                              self->flush();
                          } else if (self->closing_) {
                              self->finish(true);
                          } else {
                              self->w_.guarded(self->id_, CoreCall::Drained,
                                               [&] { self->w_.core().on_drained(self->id_, Clock::now()); });
                              self->w_.schedule_flush();
                          }
                      });
}

void TcpConnection::close_after_flush() {
    if (closing_ || closed_) return;
    closing_ = true;
    if (!writing_active_ && out_.empty()) {
        finish(true);
    } else {
        w_.mark_dirty(shared_from_this());
    }
}

void TcpConnection::force_close() {
    closing_ = true;
    finish(false);
}

void TcpConnection::fail() {
    if (!closing_ && !closed_) {
        closing_ = true;
        w_.guarded(id_, CoreCall::Closed, [&] { w_.core().on_closed(id_, Clock::now()); });
        w_.schedule_flush();
    }
    finish(false);
}

void TcpConnection::finish(bool linger) {
    if (closed_) return;
    closed_ = true;
    boost::system::error_code ec;
    if (linger && sock_.is_open()) {
        const int fd = sock_.release(ec);
        if (!ec) w_.linger(fd);
    }
    sock_.shutdown(Socket::shutdown_both, ec);
    sock_.close(ec);
    slot_.reset();
    w_.forget(id_);
}

}  // namespace moth::server::detail
