// TLS and WebSocket connections once their handshake is done: the connection on the worker that accepted it,
// and the relay entry on the worker that owns its session (stream_relay.hpp, stream_connection.hpp and
// docs/architecture.md).
#include "server/stream_relay.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <utility>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include "codec/decoder.hpp"
#include "common/error_text.hpp"

namespace moth::server::detail {

namespace asio = boost::asio;

namespace {

constexpr std::size_t kInitialReadBuffer = 4096;
// Input read for a relayed connection and not yet taken by the owner's core: above this the accepting worker
// stops reading until the owner catches up, so a fast sender meets TCP back-pressure as it would on a plain
// connection instead of filling the owner's queue.
constexpr std::size_t kRelayedInputLimit = 64 * 1024;

// The lengths of the MQTT packets in `bytes`, which the core encoded back to back. A run that does not parse (it
// cannot happen) is kept whole as one last message rather than split wrongly.
void packet_lengths(std::span<const std::byte> bytes, std::vector<std::uint32_t>& out) {
    out.clear();
    while (!bytes.empty()) {
        std::size_t n = codec::packet_size(bytes);
        if (n == 0 || n > bytes.size()) n = bytes.size();
        out.push_back(static_cast<std::uint32_t>(n));
        bytes = bytes.subspan(n);
    }
}

class StreamConnection;

// ---- the owner's side of a relayed connection ----

// Lives in the owner worker's connection map; everything but construction runs on the owner's thread. It
// forwards what the core sends to the accepting worker, and feeds the core what that worker reads.
class RelayConnection final : public Connection, public std::enable_shared_from_this<RelayConnection> {
public:
    RelayConnection(Worker& owner, std::shared_ptr<StreamConnection> source, Worker& home, std::string remote,
                    std::optional<std::string> username)
        : w_(owner),
          source_(std::move(source)),
          home_(home),
          remote_(std::move(remote)),
          username_(std::move(username)) {}

    void start(std::vector<std::byte> unread);
    void on_data(std::vector<std::byte> bytes);
    void on_drained();
    void pause_input() override { paused_ = true; }
    void resume_input() override;
    void on_peer_closed();

    void queue(std::span<const std::byte> bytes) override { out_.insert(out_.end(), bytes.begin(), bytes.end()); }
    std::span<std::byte> append(std::size_t size) override { return grow(out_, size); }
    [[nodiscard]] std::size_t pending() const override;
    void flush() override;
    void close_after_flush() override;
    void force_close() override;
    void hand_off(unsigned target, std::span<const std::byte> unread) override;

private:
    // Leaves the owner's map and runs `fn` on the stream's worker (once; later calls only detach).
    template <class Fn>
    void detach_and(Fn fn);

    Worker& w_;
    std::shared_ptr<StreamConnection> source_;  // null once detached (breaks the cycle with StreamConnection)
    Worker& home_;
    std::string remote_;
    std::optional<std::string> username_;  // use_cn_as_username
    ConnectionId id_ = 0;
    // The relayed input was taken off the accepting worker's in-flight count: it may read on.
    void taken(std::size_t n);
    void feed();  // in_ to the core

    std::vector<std::byte> in_;   // what the core has not consumed yet (part of a packet; more while paused)
    std::vector<std::byte> out_;  // sent by the core this loop turn, not yet posted to home_
    std::size_t held_ = 0;        // bytes received while paused, still counted in the source's relayed_input_
    bool open_ = false;
    bool paused_ = false;
};

// ---- the accepting worker's side ----

// A TLS or WebSocket stream on the worker that accepted it. Served by that worker's core until the core
// hands it off; from then on it only carries bytes between the stream and the owner's RelayConnection.
class StreamConnection final : public Connection, public std::enable_shared_from_this<StreamConnection> {
public:
    StreamConnection(Worker& w, std::shared_ptr<net::Stream> stream, std::string remote,
                     std::optional<std::string> username, std::shared_ptr<ConnectionSlot> slot)
        : w_(w),
          stream_(std::move(stream)),
          remote_(std::move(remote)),
          username_(std::move(username)),
          slot_(std::move(slot)),
          in_(kInitialReadBuffer),
          resume_(w.ioc()) {}

    void start(ConnectionId id) {
        id_ = id;
        reading_ = true;
        asio::co_spawn(w_.ioc(), read_loop(shared_from_this()), asio::detached);
    }

    void queue(std::span<const std::byte> bytes) override {
        append_relayed(bytes);
        unwritten_.fetch_add(bytes.size(), std::memory_order_relaxed);
    }
    std::span<std::byte> append(std::size_t size) override {
        unwritten_.fetch_add(size, std::memory_order_relaxed);
        return grow(out_, size);
    }
    // Bytes from the owner, already counted in unwritten_ there.
    void append_relayed(std::span<const std::byte> bytes) { out_.insert(out_.end(), bytes.begin(), bytes.end()); }
    [[nodiscard]] std::size_t pending() const override { return unwritten_.load(std::memory_order_relaxed); }

    void flush() override {
        if (closed_ || writing_) return;
        if (!out_.empty()) {
            writing_ = true;
            asio::co_spawn(w_.ioc(), write_loop(shared_from_this()), asio::detached);
        } else if (closing_) {
            finish(true, false);
        }
    }
    void close_after_flush() override {
        if (closing_ || closed_) return;
        closing_ = true;
        flush();
    }
    void force_close() override {
        closing_ = true;
        finish(false, false);
    }

    void pause_input() override { paused_ = true; }
    void resume_input() override {
        paused_ = false;
        resume_.cancel();  // wakes reads() where it waits for this
    }

    void hand_off(unsigned target, std::span<const std::byte> unread) override {
        // The stream stays here; the owner's core gets a relay entry and the bytes it has not consumed.
        Worker& owner = w_.peer(target);
        w_.log(0, "connection from " + remote_ + " relayed from worker " + std::to_string(w_.index()) + " to worker " +
                      std::to_string(target));
        relay_ = std::make_shared<RelayConnection>(owner, shared_from_this(), w_, remote_, username_);
        relayed_ = true;
        owner_ = &owner;
        w_.keep(id_, shared_from_this());
        in_len_ = 0;
        relayed_input_.fetch_add(unread.size(), std::memory_order_acq_rel);  // taken by the relay's first on_data
        asio::post(owner.ioc(), [relay = relay_, bytes = std::vector<std::byte>(unread.begin(), unread.end())]() mutable {
            relay->start(std::move(bytes));
        });
    }

    std::shared_ptr<const broker::ListenerTag> tag;  // set before start(); the relay registers with it too
    std::atomic<std::size_t> unwritten_{0};  // accepted for writing, not yet written; read by the owner's thread
    std::atomic<std::size_t> relayed_input_{0};  // posted to the owner, not yet taken by its core

    // Posted by the owner when relayed_input_ fell to the limit.
    void resume_reading() { resume_.cancel(); }

private:
    static asio::awaitable<void> read_loop(std::shared_ptr<StreamConnection> self) { co_await self->reads(); }
    static asio::awaitable<void> write_loop(std::shared_ptr<StreamConnection> self) { co_await self->writes(); }

    asio::awaitable<void> reads() {
        try {
            while (!closed_ && !closing_) {
                if (in_len_ == in_.size()) in_.resize(in_.size() * 2);  // bounded by the decoder's size check
                const std::size_t n =
                    co_await stream_->read_some(std::span<std::byte>(in_.data() + in_len_, in_.size() - in_len_));
                if (closed_) break;
                in_len_ += n;
                if (relayed_) {
                    const std::size_t queued = relayed_input_.fetch_add(in_len_, std::memory_order_acq_rel) + in_len_;
                    post_to_owner([bytes = std::vector<std::byte>(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(
                                                                                                   in_len_))](
                                      RelayConnection& r) mutable { r.on_data(std::move(bytes)); });
                    in_len_ = 0;
                    if (queued > kRelayedInputLimit) {
                        // Woken by resume_reading() (posted by the owner once below the limit) or by finish().
                        boost::system::error_code ignored;
                        resume_.expires_at(asio::steady_timer::time_point::max());
                        if (relayed_input_.load(std::memory_order_acquire) > kRelayedInputLimit)
                            co_await resume_.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
                    }
                } else {
                    consume();
                    while (paused_ && !closed_ && !closing_) {
                        // The core takes no input until resume_input(); what it left is in in_, fed then.
                        boost::system::error_code ignored;
                        resume_.expires_at(asio::steady_timer::time_point::max());
                        co_await resume_.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
                        if (!paused_ && !closed_ && !closing_ && in_len_ > 0) consume();
                    }
                }
            }
        } catch (const boost::system::system_error& e) {
            // A WebSocket protocol violation (answered with its close code by the stream) is worth a line; a peer
            // that went away is not.
            if (e.code() == asio::error::invalid_argument)
                w_.log(1, "closing " + remote_ + ": " + common::error_text(e.what()));
            fail();
        } catch (const std::exception&) {
            fail();
        }
        reading_ = false;
    }

    asio::awaitable<void> writes() {
        try {
            while (!out_.empty() && !closed_) {
                std::vector<std::byte> batch = std::move(out_);
                out_.clear();
                if (stream_->message_oriented()) {
                    // One MQTT packet per WebSocket message: early Paho JavaScript (the HiveMQ web client page)
                    // decodes only the first packet of each message. Still one write for the whole batch.
                    packet_lengths(batch, lengths_);
                    co_await stream_->write_messages(batch, lengths_);
                } else {
                    co_await stream_->write(batch);
                }
                unwritten_.fetch_sub(batch.size(), std::memory_order_relaxed);
            }
        } catch (const std::exception&) {
            writing_ = false;
            fail();
            co_return;
        }
        writing_ = false;
        if (closed_) co_return;
        if (closing_) {
            finish(true, false);
        } else if (relayed_) {
            post_to_owner([](RelayConnection& r) { r.on_drained(); });
        } else {
            w_.guarded(id_, CoreCall::Drained, [&] { w_.core().on_drained(id_, Clock::now()); });
            w_.schedule_flush();
        }
    }

    void consume() {
        std::size_t consumed = in_len_;
        // A throw has closed the connection (closed_): reads() stops.
        if (!w_.guarded(id_, CoreCall::Data, [&] {
                consumed = w_.core().on_data(id_, std::span<const std::byte>(in_.data(), in_len_), Clock::now());
            }))
            return;
        if (relayed_) {
            in_len_ = 0;  // the unconsumed rest went to the owner with the hand-off
        } else {
            if (consumed > 0 && consumed < in_len_) std::memmove(in_.data(), in_.data() + consumed, in_len_ - consumed);
            in_len_ -= std::min(consumed, in_len_);
        }
        if (in_len_ == 0 && in_.size() > kInitialReadBuffer) {
            in_.resize(kInitialReadBuffer);
            in_.shrink_to_fit();
        }
        w_.schedule_flush();
    }

    template <class Fn>
    void post_to_owner(Fn&& fn) {
        if (!relay_) return;
        asio::post(owner_->ioc(), [relay = relay_, fn = std::forward<Fn>(fn)]() mutable { fn(*relay); });
    }

    // The stream failed (peer gone, bad frame, write error).
    void fail() {
        if (closed_) return;
        finish(false, !closing_);
    }

    // `orderly`: TLS close_notify / WebSocket close frame first (only with no write in flight).
    // `tell_core`: the close did not come from the core, so its core must hear of it.
    void finish(bool orderly, bool tell_core) {
        if (closed_) return;
        closed_ = true;
        if (relayed_) {
            if (tell_core) post_to_owner([](RelayConnection& r) { r.on_peer_closed(); });
            relay_.reset();
        } else if (tell_core) {
            w_.guarded(id_, CoreCall::Closed, [&] { w_.core().on_closed(id_, Clock::now()); });
            w_.schedule_flush();
        }
        w_.forget(id_);
        slot_.reset();
        resume_.cancel();  // a read paused for the owner ends now
        if (orderly && !writing_) {
            // A lingering close (lingering_close.hpp): the transport's goodbye, then the socket drains.
            asio::co_spawn(
                w_.ioc(),
                [self = shared_from_this()]() -> asio::awaitable<void> {
                    co_await self->stream_->say_goodbye();
                    self->w_.linger(self->stream_->release());
                },
                asio::detached);
        } else {
            stream_->cancel();
        }
    }

    Worker& w_;
    std::shared_ptr<net::Stream> stream_;
    std::string remote_;
    std::optional<std::string> username_;          // use_cn_as_username: the client certificate's CN
    std::shared_ptr<ConnectionSlot> slot_;         // the listener's max_connections place
    ConnectionId id_ = 0;  // on w_
    std::vector<std::byte> in_;
    std::size_t in_len_ = 0;
    std::vector<std::byte> out_;
    std::vector<std::uint32_t> lengths_;  // WebSocket: the MQTT packets of the batch being written
    bool reading_ = false;
    bool writing_ = false;
    bool closing_ = false;  // the core is done with it: write what is queued, then close
    bool closed_ = false;
    bool relayed_ = false;
    bool paused_ = false;  // the core takes no input for now (not relayed only; the relay keeps its own)
    Worker* owner_ = nullptr;                 // after hand-off: the worker whose core serves the connection
    std::shared_ptr<RelayConnection> relay_;  // after hand-off, until closed
    asio::steady_timer resume_;               // a paused relayed read waits on it
};

// ---- RelayConnection ----

void RelayConnection::start(std::vector<std::byte> unread) {
    if (w_.stopping()) {
        detach_and([](StreamConnection& s) { s.force_close(); });
        return;
    }
    open_ = true;
    id_ = w_.open(shared_from_this(), remote_, source_ ? source_->tag : nullptr, username_);
    if (id_ == 0) return;  // on_open threw: closed (detached from the stream) by the guard
    on_data(std::move(unread));
}

void RelayConnection::on_data(std::vector<std::byte> bytes) {
    // While the core takes no input, the bytes stay counted as in flight, so the accepting worker stops reading
    // at kRelayedInputLimit as it would for a slow owner.
    if (paused_) {
        held_ += bytes.size();
    } else {
        taken(bytes.size());
    }
    if (!open_) return;
    if (in_.empty()) {
        in_ = std::move(bytes);
    } else {
        in_.insert(in_.end(), bytes.begin(), bytes.end());
    }
    if (!paused_) feed();
}

void RelayConnection::taken(std::size_t n) {
    if (!source_ || n == 0) return;
    const std::size_t before = source_->relayed_input_.fetch_sub(n, std::memory_order_acq_rel);
    if (before > kRelayedInputLimit && before - n <= kRelayedInputLimit)
        asio::post(home_.ioc(), [source = source_] { source->resume_reading(); });
}

void RelayConnection::feed() {
    std::size_t consumed = in_.size();
    // A throw has closed the relay (open_ false, detached from the stream): nothing more is fed.
    if (!w_.guarded(id_, CoreCall::Data, [&] { consumed = w_.core().on_data(id_, in_, Clock::now()); })) return;
    if (open_) in_.erase(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(std::min(consumed, in_.size())));
    w_.schedule_flush();
}

void RelayConnection::resume_input() {
    paused_ = false;
    asio::post(w_.ioc(), [self = shared_from_this()] {
        if (self->paused_) return;
        self->taken(std::exchange(self->held_, 0));
        if (self->open_ && !self->in_.empty()) self->feed();
    });
}

void RelayConnection::on_drained() {
    if (!open_) return;
    w_.guarded(id_, CoreCall::Drained, [&] { w_.core().on_drained(id_, Clock::now()); });
    w_.schedule_flush();
}

void RelayConnection::on_peer_closed() {
    if (!open_) return;
    open_ = false;
    source_.reset();
    w_.forget(id_);
    w_.guarded(id_, CoreCall::Closed, [&] { w_.core().on_closed(id_, Clock::now()); });
    w_.schedule_flush();
}

std::size_t RelayConnection::pending() const {
    return out_.size() + (source_ ? source_->unwritten_.load(std::memory_order_relaxed) : 0);
}

void RelayConnection::flush() {
    if (!open_ || out_.empty() || !source_) return;
    source_->unwritten_.fetch_add(out_.size(), std::memory_order_relaxed);
    asio::post(home_.ioc(), [source = source_, bytes = std::exchange(out_, {})] {
        source->append_relayed(bytes);
        source->flush();
    });
}

void RelayConnection::close_after_flush() {
    if (!open_) return;
    flush();
    detach_and([](StreamConnection& s) { s.close_after_flush(); });
}

void RelayConnection::force_close() {
    if (!open_) return;
    detach_and([](StreamConnection& s) { s.force_close(); });
}

void RelayConnection::hand_off(unsigned, std::span<const std::byte>) {
    // The owner's core never hands a connection on (its CONNECT already hashed here); refuse rather than guess.
    detach_and([](StreamConnection& s) { s.force_close(); });
}

template <class Fn>
void RelayConnection::detach_and(Fn fn) {
    const bool was_open = open_;
    open_ = false;
    if (source_) asio::post(home_.ioc(), [source = std::move(source_), fn] { fn(*source); });
    source_.reset();
    if (was_open) w_.forget(id_);
}
}  // namespace

void serve_stream(Worker& w, std::shared_ptr<net::Stream> stream, std::string remote,
                  std::optional<std::string> username, std::shared_ptr<ConnectionSlot> slot,
                  std::shared_ptr<const broker::ListenerTag> tag) {
    std::optional<std::string> core_username = username;
    auto conn = std::make_shared<StreamConnection>(w, std::move(stream), remote, std::move(username), std::move(slot));
    conn->tag = tag;
    const ConnectionId id = w.open(conn, std::move(remote), std::move(tag), std::move(core_username));
    if (id == 0) return;  // on_open threw: the guard closed the stream
    conn->start(id);
    w.schedule_flush();
}

}  // namespace moth::server::detail
