// The workers (worker.hpp): one thread, one io_context and one broker::Core each, and the Host calls of the core.
#include <boost/asio.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <exception>
#include <string>

#include "broker/core.hpp"
#include "server/server_impl.hpp"
#include "server/tcp_connection.hpp"
#include "server/uring/ring.hpp"
#include "server/uring_connection.hpp"

namespace moth::server {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using broker::ConnectionId;

namespace detail {

void keep_unconsumed(std::vector<std::byte>& kept, std::span<const std::byte> data, std::size_t consumed) {
    constexpr std::size_t kKeptRemainder = 512;
    const auto rest = data.subspan(consumed);
    if (rest.empty()) {
        kept.clear();
        if (kept.capacity() > kKeptRemainder) std::vector<std::byte>().swap(kept);
    } else if (rest.data() >= kept.data() && rest.data() < kept.data() + kept.size()) {
        kept.erase(kept.begin(), kept.begin() + static_cast<std::ptrdiff_t>(consumed));  // data was kept itself
    } else {
        kept.assign(rest.begin(), rest.end());
    }
}

Worker::Worker(unsigned index, Server::Impl& impl) : index_(index), impl_(impl), tick_(ioc_) {}

Worker::~Worker() = default;  // out of line: Uring is complete here

void Worker::init() {
    core_ = std::make_unique<broker::Core>(index_, impl_.shared, *this);
    ConnectionGuard::Hooks hooks;
    hooks.client_id = [this](ConnectionId id) { return core_->client_id_of(id); };
    hooks.remote = [this](ConnectionId id) -> std::optional<std::string> {
        std::string remote;
        std::shared_ptr<const broker::ListenerTag> tag;
        return core_->origin(id, remote, tag) ? std::optional(std::move(remote)) : std::nullopt;
    };
    hooks.close = [this](ConnectionId id) {
        auto it = conns_.find(id);
        if (it == conns_.end()) return;
        const auto conn = it->second;  // kept alive through force_close, which may drop the map's reference
        conn->force_close();
        forget(id);  // also where force_close could not (on_open failed: the connection has no id yet)
    };
    hooks.closed = [this](ConnectionId id) {
        core_->on_closed(id, Clock::now());
        schedule_flush();
    };
    hooks.log = [this](int level, const std::string& line) { log(level, line); };
    conn_guard_.emplace(std::move(hooks), impl_.shared.stats.at(index_)->connection_failures);
    lingering_ = std::make_unique<LingeringCloses>(ioc_, impl_.lingering, impl_.shared.config.limits.max_connections,
                                                   [this] {
                                                       impl_.descriptor_freed();
                                                       end_grace_when_idle();
                                                   });
}

void Worker::run() {
    thread_ = std::thread([this] {
        if (impl_.use_uring) {
            try {
                uring_ = std::make_unique<Uring>(ioc_);
            } catch (const std::exception& e) {
                log(3, "worker " + std::to_string(index_) + ": io_uring failed (" + e.what() +
                           "); this worker uses epoll");
            }
        }
        schedule_tick();
        ioc_.run();
        // Nothing is in flight once run() returns (stop waits for that): the ring goes with the thread that
        // submitted to it, before the buffers it wrote into.
        uring_.reset();
    });
}

void Worker::join() {
    if (thread_.joinable()) thread_.join();
}

const config::Config& Worker::config() const { return impl_.shared.config; }

Worker& Worker::peer(unsigned index) { return *impl_.workers.at(index); }

void Worker::log(int level, const std::string& line) {
    if (impl_.log) impl_.log(level, line);
}

void Worker::adopt(tcp::socket s, std::string remote, std::vector<std::byte> initial,
                   std::shared_ptr<const broker::ListenerTag> tag, std::shared_ptr<ConnectionSlot> slot) {
    if (stopping_) return;
    boost::system::error_code ec;
    const int fd = s.release(ec);  // leaves the acceptor's io_context registration behind
    if (ec) return;
    adopt_fd(fd, std::move(remote), std::move(initial), std::move(tag), std::move(slot));
}

void Worker::adopt_fd(int fd, std::string remote, std::vector<std::byte> initial,
                      std::shared_ptr<const broker::ListenerTag> tag, std::shared_ptr<ConnectionSlot> slot) {
    if (stopping_) {
        ::close(fd);
        return;
    }
    if (uring_) {
        auto conn = std::make_shared<UringConnection>(*this, *uring_, fd, std::move(slot));
        const ConnectionId id = open(conn, std::move(remote), std::move(tag));
        if (id != 0) conn->start(id, std::move(initial));
        schedule_flush();
        return;
    }
    // The descriptor goes into a socket of the connection's own type (see TcpConnection::Socket): registered with
    // this io_context, a getsockname and two epoll_ctl per connection.
    sockaddr_storage local{};
    socklen_t length = sizeof local;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length) != 0) {
        ::close(fd);
        return;
    }
    boost::system::error_code ec;
    TcpConnection::Socket own(ioc_);
    own.assign(local.ss_family == AF_INET6 ? tcp::v6() : tcp::v4(), fd, ec);
    if (ec) {
        ::close(fd);
        return;
    }
    auto conn = std::make_shared<TcpConnection>(*this, std::move(own), std::move(slot));
    const ConnectionId id = open(conn, std::move(remote), std::move(tag));
    if (id != 0) conn->start(id, std::move(initial));
    schedule_flush();
}

ConnectionId Worker::open(std::shared_ptr<Connection> conn, std::string remote,
                          std::shared_ptr<const broker::ListenerTag> tag, std::optional<std::string> username) {
    const ConnectionId id = (static_cast<ConnectionId>(index_) << 48) | next_id_++;
    conns_.emplace(id, std::move(conn));
    // `remote` is copied, not moved: the guard's log line names it if on_open throws before the core keeps it.
    const bool opened = guarded(
        id, CoreCall::Open, [&] { core_->on_open(id, remote, Clock::now(), std::move(tag), std::move(username)); },
        remote);
    return opened ? id : 0;
}

void Worker::forget(ConnectionId id) {
    conns_.erase(id);
    impl_.descriptor_freed();
    end_grace_when_idle();
}

void Worker::end_grace_when_idle() {
    if (stopping_ && conns_.empty() && lingering_->size() == 0 && grace_) grace_->cancel();
}

void Worker::linger(int fd) {
    if (fd < 0) return;
    if (grace_over_) {
        ::close(fd);
        return;
    }
    lingering_->add(fd, Clock::now());
}

std::uint64_t Worker::add_canceller(std::function<void()> fn) {
    const auto id = next_canceller_++;
    cancellers_.emplace(id, std::move(fn));
    return id;
}

void Worker::mark_dirty(const std::shared_ptr<Connection>& c) {
    // Once per connection and loop turn: a fan-out queues many packets for one connection between two flushes.
    if (c->flush_listed) return;
    c->flush_listed = true;
    dirty_.push_back(c);
    schedule_flush();
}

void Worker::schedule_flush() {
    if (flush_posted_) return;
    flush_posted_ = true;
    asio::post(ioc_, [this] {
        flush_posted_ = false;
        core_->flush();
        auto dirty = std::move(dirty_);
        dirty_.clear();
        for (auto& c : dirty) {
            c->flush_listed = false;
            c->flush();
        }
        if (uring_) uring_->submit();  // this turn's sends (and receives armed since), one system call
    });
}

void Worker::stop() {
    asio::post(ioc_, [this] {
        stopping_ = true;
        core_->shutdown();
        core_->flush();
        for (auto& [id, c] : std::unordered_map(conns_)) c->flush();
        tick_.cancel();
        for (auto& [id, cancel] : std::exchange(cancellers_, {})) cancel();
        // Clients that do not read their last bytes do not hold the shutdown up for long.
        grace_.emplace(ioc_, kShutdownGrace);
        grace_->async_wait([this](const boost::system::error_code& ec) {
            if (!ec) {
                for (auto& [id, c] : std::unordered_map(conns_)) c->force_close();
            }
            lingering_->close_all();  // nothing may keep the io_context running past the grace
            grace_over_ = true;
        });
        end_grace_when_idle();
        if (uring_) uring_->stop_when_idle();
        guard_.reset();
    });
}

bool Worker::send(ConnectionId id, std::span<const std::byte> bytes, std::size_t limit) {
    auto it = conns_.find(id);
    if (it == conns_.end() || it->second->pending() > limit) return false;
    it->second->queue(bytes);
    mark_dirty(it->second);
    return true;
}

std::span<std::byte> Worker::append(ConnectionId id, std::size_t size, std::size_t limit) {
    auto it = conns_.find(id);
    if (it == conns_.end() || it->second->pending() > limit) return {};
    mark_dirty(it->second);
    return it->second->append(size);
}

std::size_t Worker::pending_bytes(ConnectionId id) const {
    auto it = conns_.find(id);
    return it == conns_.end() ? 0 : it->second->pending();
}

void Worker::close(ConnectionId id) {
    auto it = conns_.find(id);
    if (it == conns_.end()) return;
    auto c = it->second;
    c->close_after_flush();
}

void Worker::pause_input(ConnectionId id) {
    if (auto it = conns_.find(id); it != conns_.end()) it->second->pause_input();
}

void Worker::resume_input(ConnectionId id) {
    if (auto it = conns_.find(id); it != conns_.end()) it->second->resume_input();
}

void Worker::hand_off(ConnectionId id, unsigned worker, std::span<const std::byte> unread) {
    auto it = conns_.find(id);
    if (it == conns_.end()) return;
    auto conn = it->second;
    conns_.erase(it);
    conn->hand_off(worker, unread);
}

void Worker::post(unsigned worker, std::function<void(broker::Core&, broker::TimePoint)> fn) {
    Worker* target = &peer(worker);
    asio::post(target->ioc_, [target, fn = std::move(fn)] {
        fn(*target->core_, Clock::now());
        target->schedule_flush();
    });
}

void Worker::schedule_tick() {
    tick_.expires_after(kTickInterval);
    tick_.async_wait([this](const boost::system::error_code& ec) {
        if (ec || stopping_) return;
        const auto now = Clock::now();
        core_->on_tick(now);
        lingering_->expire(now);
        schedule_flush();
        schedule_tick();
    });
}

}  // namespace detail

}  // namespace moth::server
