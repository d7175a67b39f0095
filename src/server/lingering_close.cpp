#include "server/lingering_close.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/post.hpp>

namespace moth::server::detail {

namespace asio = boost::asio;

namespace {
constexpr std::size_t kDiscardBuffer = 16 * 1024;
// Reads per readiness before the socket waits for a later loop turn: a peer that floods cannot hold the worker.
constexpr int kReadsPerTurn = 8;
}  // namespace

void LingeringCloses::add(int fd, Clock::time_point now) {
    if (fd < 0) return;
    ::shutdown(fd, SHUT_WR);  // the peer reads our last bytes, then the end of the stream
    if (cap_ != 0 && count_.load(std::memory_order_relaxed) >= cap_) {
        ::close(fd);
        return;
    }
    auto d = std::make_unique<Descriptor>(ioc_.get_executor());
    boost::system::error_code ec;
    d->assign(fd, ec);
    if (!ec) d->non_blocking(true, ec);
    if (ec) {
        if (d->is_open()) d->close(ec);
        else ::close(fd);
        return;
    }
    const auto id = next_id_++;
    count_.fetch_add(1, std::memory_order_relaxed);
    auto& ref = *d;
    sockets_.emplace(id, std::move(d));
    deadlines_.emplace_back(now + kLingerTime, id);
    wait(id, ref);
}

void LingeringCloses::wait(std::uint64_t id, Descriptor& d) {
    d.async_wait(Descriptor::wait_read, [this, id](const boost::system::error_code& ec) {
        if (ec == asio::error::operation_aborted) return;  // closed by us; `this` may be gone at shutdown
        if (ec) {
            close(id);
            return;
        }
        on_ready(id);
    });
}

void LingeringCloses::on_ready(std::uint64_t id) {
    auto it = sockets_.find(id);
    if (it == sockets_.end()) return;
    if (discard_.empty()) discard_.resize(kDiscardBuffer);
    for (int i = 0; i < kReadsPerTurn; ++i) {
        boost::system::error_code ec;
        (void)it->second->read_some(asio::buffer(discard_), ec);
        if (ec == asio::error::would_block || ec == asio::error::try_again) {
            wait(id, *it->second);
            return;
        }
        if (ec) {  // end of stream (the peer closed too) or an error: done
            close(id);
            return;
        }
    }
    // Edge-triggered readiness will not come again for bytes already waiting: read them on a later turn.
    asio::post(ioc_, [this, id] { on_ready(id); });
}

void LingeringCloses::close(std::uint64_t id) {
    if (sockets_.erase(id) == 0) return;  // the descriptor's destructor closes the socket
    count_.fetch_sub(1, std::memory_order_relaxed);
    if (sockets_.empty() && on_empty_) on_empty_();
}

void LingeringCloses::expire(Clock::time_point now) {
    while (!deadlines_.empty() && deadlines_.front().first <= now) {
        const auto id = deadlines_.front().second;
        deadlines_.pop_front();
        close(id);
    }
}

void LingeringCloses::close_all() {
    count_.fetch_sub(sockets_.size(), std::memory_order_relaxed);
    sockets_.clear();
    deadlines_.clear();
}

}  // namespace moth::server::detail
