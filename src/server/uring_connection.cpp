#include "server/uring_connection.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <utility>

#include <boost/asio/post.hpp>

#include "server/stream_connection.hpp"

namespace moth::server::detail {

namespace asio = boost::asio;

namespace {

// While the core takes no input (a password check, a throttle, acknowledgements awaited), what arrives is kept up
// to this much; past it the receive is cancelled, and TCP's own flow control holds the client back until resumed.
constexpr std::size_t kPausedInput = 64 * 1024;

}  // namespace

// A hand-off under way: where the connection goes and what goes with it.
struct UringConnection::Moving {
    unsigned target = 0;
    std::vector<std::byte> bytes;  // the core's unread bytes, then what arrived until the receive ended
    std::string remote;
    std::shared_ptr<const broker::ListenerTag> tag;
};

UringConnection::UringConnection(Worker& w, Uring& ring, int fd, std::shared_ptr<ConnectionSlot> slot)
    : w_(w), ring_(ring), fd_(fd), slot_(std::move(slot)) {}

UringConnection::~UringConnection() {
    if (fd_ >= 0) ::close(fd_);
}

void UringConnection::start(ConnectionId id, std::vector<std::byte> initial) {
    id_ = id;
    if (!initial.empty()) {
        consume(initial);
        if (closed_ || closing_ || paused_ || end_ != End::None) return;
    }
    arm();
}

void UringConnection::arm() {
    if (receiving_ || closing_ || closed_ || paused_ || end_ != End::None) return;
    receiving_ = true;
    if (!held_) held_ = shared_from_this();
    ring_.receive(fd_, this);
}

void UringConnection::stop_receiving() {
    if (!receiving_) return;
    cancelling_ = true;
    if (cancel_in_flight_) return;
    cancel_in_flight_ = true;
    if (!held_) held_ = shared_from_this();
    ring_.cancel_receive(this);
}

void UringConnection::on_cancelled(int res) {
    const auto keep = held_;
    cancel_in_flight_ = false;
    // Not found while the receive still runs: the kernel had it between a completion and its next arm. Again, on the
    // next loop turn (one cancel per turn at most), until it is found or the receive ends by itself.
    if (res < 0 && receiving_ && cancelling_) stop_receiving();
    settle();
}

void UringConnection::on_received(int res, std::span<const std::byte> data, bool more) {
    const auto keep = held_;  // settle() may drop the ring's hold, the last reference
    if (!more) {
        receiving_ = false;
        cancelling_ = false;
    }
    if (res > 0) {
        received(data);
    } else if (res == 0 && closing_ && !closed_) {
        // The client finished sending while the core's last packets (a DISCONNECT with its reason) are still going
        // out: they go out, then the lingering close (as the epoll path, which stops reading once closing).
    } else if (res != -ENOBUFS && res != -ECANCELED && !closed_ && end_ == End::None) {
        fail();  // 0: the peer closed; else a network error
    }
    if (receiving_) return;
    if (closed_ || end_ != End::None) {
        settle();
        return;
    }
    arm();  // a receive that ended early (buffers ran out, cancelled while paused) starts again when input is wanted
    if (!receiving_) settle();
}

void UringConnection::received(std::span<const std::byte> data) {
    if (moving_) {
        moving_->bytes.insert(moving_->bytes.end(), data.begin(), data.end());
        return;
    }
    if (closing_ || closed_) return;  // the core is done with its input
    if (paused_) {
        in_.insert(in_.end(), data.begin(), data.end());
        if (in_.size() > kPausedInput) stop_receiving();
        return;
    }
    if (in_.empty()) {
        consume(data);  // straight from the shared buffer: the usual case, no copy
        return;
    }
    in_.insert(in_.end(), data.begin(), data.end());
    consume(in_);
}

void UringConnection::consume(std::span<const std::byte> data) {
    std::size_t consumed = data.size();
    // A throw has closed the connection (closed_): nothing of it is kept.
    if (!w_.guarded(id_, CoreCall::Data,
                    [&] { consumed = std::min(w_.core().on_data(id_, data, Clock::now()), data.size()); }))
        return;
    if (moving_) return;
    keep_unconsumed(in_, data, consumed);
    w_.schedule_flush();
}

void UringConnection::resume_input() {
    paused_ = false;
    asio::post(w_.ioc(), [self = shared_from_this()] {
        if (self->closed_ || self->closing_ || self->paused_ || self->end_ != End::None) return;
        if (!self->in_.empty()) {
            self->consume(self->in_);
            if (self->closed_ || self->closing_ || self->paused_ || self->end_ != End::None) return;
        }
        self->arm();
    });
}

void UringConnection::flush() {
    if (sending_ || closed_) return;
    if (out_.empty()) {
        if (closing_) finish(End::Linger);
        return;
    }
    std::swap(out_, writing_);
    out_.clear();
    written_ = 0;
    send_rest();
}

void UringConnection::send_rest() {
    sending_ = true;
    if (!held_) held_ = shared_from_this();
    ring_.send(fd_, std::span<const std::byte>(writing_).subspan(written_), this);
}

void UringConnection::on_sent(int res) {
    const auto keep = held_;
    sending_ = false;
    if (closed_ || res <= 0) {
        writing_.clear();
        written_ = 0;
        if (!closed_) fail();
        settle();
        return;
    }
    written_ += static_cast<std::size_t>(res);
    if (written_ < writing_.size()) {
        send_rest();  // a short send: the rest, before anything queued since
        return;
    }
    writing_.clear();
    written_ = 0;
    if (!out_.empty()) {
        flush();
    } else if (closing_) {
        finish(End::Linger);
    } else {
        w_.guarded(id_, CoreCall::Drained, [&] { w_.core().on_drained(id_, Clock::now()); });
        w_.schedule_flush();
    }
    settle();
}

void UringConnection::close_after_flush() {
    if (closing_ || closed_) return;
    closing_ = true;
    if (!sending_ && out_.empty()) {
        finish(End::Linger);
    } else {
        w_.mark_dirty(shared_from_this());
    }
}

void UringConnection::force_close() {
    closing_ = true;
    finish(End::Close);
}

void UringConnection::fail() {
    if (!closing_ && !closed_) {
        closing_ = true;
        w_.guarded(id_, CoreCall::Closed, [&] { w_.core().on_closed(id_, Clock::now()); });
        w_.schedule_flush();
    }
    finish(End::Close);
}

void UringConnection::finish(End end) {
    if (closed_) return;
    const auto self = shared_from_this();  // forget() drops the worker's reference
    closed_ = true;
    end_ = end;
    slot_.reset();
    if (end == End::Close) {
        ::shutdown(fd_, SHUT_RDWR);  // ends the receive and any send in flight
    } else {
        stop_receiving();  // the lingering close reads on from here, once the receive has ended
    }
    w_.forget(id_);
    settle();
}

void UringConnection::hand_off(unsigned worker, std::span<const std::byte> unread) {
    // The worker has removed the id from its map; the ring's hold or the caller keeps this alive. Called by the core
    // from inside on_data (Host::hand_off), so not guarded here: that on_data call is.
    const auto self = shared_from_this();
    end_ = End::HandOff;
    moving_ = std::make_unique<Moving>();
    moving_->target = worker;
    moving_->bytes.assign(unread.begin(), unread.end());
    w_.core().origin(id_, moving_->remote, moving_->tag);
    w_.log(0, "connection from " + moving_->remote + " handed over from worker " + std::to_string(w_.index()) +
                  " to worker " + std::to_string(worker));
    stop_receiving();  // what it still delivers goes along (moving_->bytes); the rest stays in the socket
    settle();
}

void UringConnection::settle() {
    if (receiving_ || sending_ || cancel_in_flight_) return;
    const auto hold = std::move(held_);  // released when this returns: nothing of ours is in the ring any more
    switch (end_) {
        case End::None: return;
        case End::Close:
            if (fd_ >= 0) ::close(std::exchange(fd_, -1));
            return;
        case End::Linger: w_.linger(std::exchange(fd_, -1)); return;
        case End::HandOff: {
            if (!moving_) return;
            Worker* target = &w_.peer(moving_->target);
            asio::post(target->ioc(), [target, fd = std::exchange(fd_, -1), m = std::move(moving_),
                                       slot = std::move(slot_)]() mutable {
                target->adopt_fd(fd, std::move(m->remote), std::move(m->bytes), std::move(m->tag), std::move(slot));
            });
            return;
        }
    }
}

}  // namespace moth::server::detail
