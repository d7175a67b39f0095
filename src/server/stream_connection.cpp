// TLS and WebSocket connections: the server-side handshakes, the connection on the worker that accepted it,
// and the relay entry on the worker that owns its session (see stream_connection.hpp and docs/architecture.md).
#include "server/stream_connection.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <stdexcept>
#include <string_view>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/system/system_error.hpp>

#include "codec/decoder.hpp"
#include "common/error_text.hpp"
#include "http/origin.hpp"
#include "net/transport.hpp"
#include "net/ws_server_stream.hpp"
#include "server/client_address.hpp"
#include "server/tls.hpp"

namespace moth::server::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kHandshakeTimeout = std::chrono::seconds(10);
constexpr std::size_t kInitialReadBuffer = 4096;
// Input read for a relayed connection and not yet taken by the owner's core: above this the accepting worker
// stops reading until the owner catches up, so a fast sender meets TCP back-pressure as it would on a plain
// connection instead of filling the owner's queue.
constexpr std::size_t kRelayedInputLimit = 64 * 1024;
constexpr std::array<std::string_view, 4> kSubprotocols{"mqtt", "mqttv3.1", "mqttv3.1.1", "mqttv5"};

// ---- handshakes ----

// The first offered sub-protocol that is one of ours; empty when none is.
std::string choose_subprotocol(const http::request<http::empty_body>& req) {
    const auto [first, last] = req.equal_range(http::field::sec_websocket_protocol);
    for (auto field = first; field != last; ++field) {
        std::string_view list = field->value();
        while (!list.empty()) {
            const auto comma = list.find(',');
            std::string_view item = list.substr(0, comma);
            list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
            while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
            while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
            if (std::find(kSubprotocols.begin(), kSubprotocols.end(), item) != kSubprotocols.end())
                return std::string(item);
        }
    }
    return {};
}

template <class Next>
asio::awaitable<void> refuse(Next& next, http::status status, unsigned version, const std::string& why) {
    http::response<http::string_body> res{status, version};
    res.set(http::field::server, "moth");
    res.set(http::field::content_type, "text/plain");
    res.set(http::field::connection, "close");
    res.body() = why + "\n";
    res.prepare_payload();
    co_await http::async_write(next, res, asio::use_awaitable);
    throw std::runtime_error("WebSocket upgrade refused (" + std::to_string(static_cast<unsigned>(status)) +
                             "): " + why);
}

// All values of one header field, in order.
template <class Field>
std::vector<std::string_view> field_values(const http::request<http::empty_body>& req, Field f) {
    std::vector<std::string_view> out;
    const auto [first, last] = req.equal_range(f);
    for (auto it = first; it != last; ++it) out.push_back(it->value());
    return out;
}

// Whether an upgrade request's Origin may connect. The http listener serves the console, whose pages connect to
// their own origin: by default only that one (as the Host header names it), and allowed_origins adds to it. ws
// and wss listeners: allowed_origins alone, empty meaning any (docs/security.md).
bool origin_permitted(const ListenerContext& lc, const ListenerContext::Reloadable& settings, std::string_view origin,
                      std::string_view host) {
    if (lc.kind != config::ListenerKind::Http) return origin_allowed(origin, settings.allowed_origins);
    if (moth::http::same_origin_as_host(origin, host)) return true;
    return !settings.allowed_origins.empty() && origin_allowed(origin, settings.allowed_origins);
}

// The checks and the answer of a WebSocket upgrade request at the listener's path (read by ws_accept, or by the
// http listener's session): Origin allow-list, X-Forwarded-For / Forwarded when the listener trusts them (then
// `remote` becomes the forwarded client's address), sub-protocol, frame limit.
template <class Next>
asio::awaitable<void> ws_accept_request(net::WsServerStream<Next>& stream, const ListenerContext& lc,
                                        const ListenerContext::Reloadable& settings,
                                        const http::request<http::empty_body>& req, std::string& remote) {
    auto& ws = stream.websocket();
    // Browsers always send Origin; other clients usually do not, and are not checked.
    if (const auto origin = req.find(http::field::origin);
        origin != req.end() && !origin_permitted(lc, settings, origin->value(), req[http::field::host]))
        co_await refuse(ws.next_layer(), http::status::forbidden, req.version(),
                        "origin " + std::string(origin->value()) + " is not allowed");
    if (lc.trust_x_forwarded_for) {
        const auto xff = field_values(req, std::string_view("X-Forwarded-For"));
        const auto fwd = field_values(req, http::field::forwarded);
        if (auto client = forwarded_client(xff, fwd)) remote = *client;
    }
    const std::string subprotocol = choose_subprotocol(req);
    if (subprotocol.empty())
        co_await refuse(ws.next_layer(), http::status::bad_request, req.version(),
                        "Sec-WebSocket-Protocol must offer one of mqtt, mqttv3.1, mqttv3.1.1, mqttv5");
    ws.set_option(websocket::stream_base::decorator([subprotocol](websocket::response_type& res) {
        res.set(http::field::sec_websocket_protocol, subprotocol);
        res.set(http::field::server, "moth");
    }));
    stream.max_message_size(lc.max_frame_size);
    co_await ws.async_accept(req, asio::use_awaitable);  // Beast checks the rest (key, version) and answers
}

// Reads the upgrade request of a ws/wss listener and answers it. `remote` becomes the forwarded client's address
// when the listener trusts X-Forwarded-For / Forwarded.
template <class Next>
asio::awaitable<void> ws_accept(net::WsServerStream<Next>& stream, const ListenerContext& lc,
                                const ListenerContext::Reloadable& settings, std::string& remote) {
    auto& ws = stream.websocket();
    beast::flat_buffer buffer;
    http::request_parser<http::empty_body> parser;
    parser.header_limit(8 * 1024);
    boost::system::error_code ec;
    co_await http::async_read(ws.next_layer(), buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
        // Beast's HTTP errors other than "the peer went away" mean: not HTTP at all (a TLS ClientHello on a ws
        // port, MQTT bytes, garbage) or a malformed request. Those get a 400; transport errors just end.
        const bool malformed = ec.category() == http::make_error_code(http::error::bad_method).category() &&
                               ec != http::error::end_of_stream && ec != http::error::partial_message;
        if (!malformed) throw boost::system::system_error(ec);
        co_await refuse(ws.next_layer(), http::status::bad_request, 11,
                        "not an HTTP WebSocket upgrade request (" + ec.message() + ")");
    }
    const auto req = parser.release();
    const std::string_view target = req.target();
    if (target.substr(0, target.find('?')) != lc.ws_path)
        co_await refuse(ws.next_layer(), http::status::not_found, req.version(),
                        "no WebSocket endpoint at " + std::string(target) + " (MQTT is at " + lc.ws_path + ")");
    co_await ws_accept_request(stream, lc, settings, req, remote);
    // Frames a client sent without waiting for the 101 were read along with the request.
    const auto rest = buffer.data();
    stream.preload(std::span<const std::byte>(static_cast<const std::byte*>(rest.data()), rest.size()));
}

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

// ---- accepting: PROXY header, handshake, then serving ----

// Reads the PROXY header off the socket without taking a byte past it (it peeks, then reads exactly the header's
// bytes), so the TLS or HTTP or MQTT layer finds its own first byte next. Returns the client's address, or
// nullopt when the header says to keep the socket's. Throws std::runtime_error for a missing or malformed header.
asio::awaitable<std::optional<std::string>> read_proxy_header(tcp::socket& socket) {
    ProxyHeaderParser parser;
    std::array<std::byte, 256> buf{};
    while (parser.status() == ProxyHeaderParser::Status::NeedMore) {
        const std::size_t n =
            co_await socket.async_receive(asio::buffer(buf), tcp::socket::message_peek, asio::use_awaitable);
        const auto r = parser.feed(std::span<const std::byte>(buf.data(), n));
        if (r.status == ProxyHeaderParser::Status::Error) throw std::runtime_error(parser.error());
        co_await asio::async_read(socket, asio::buffer(buf.data(), r.consumed), asio::use_awaitable);
    }
    co_return parser.source();
}

asio::awaitable<void> accept_then_serve(Worker& w, tcp::socket socket, std::string remote,
                                        std::shared_ptr<ListenerContext> lc, std::shared_ptr<ConnectionSlot> slot,
                                        PlainServe plain) {
    // A stalled client holds a socket and a timer, never the worker: the timer closes the socket (first the raw
    // one while the PROXY header is read, then the stream's). Worker shutdown does the same.
    auto cancel = std::make_shared<std::function<void()>>([raw = &socket] {
        boost::system::error_code ignored;
        raw->close(ignored);
    });
    auto finished = std::make_shared<bool>(false);
    auto timed_out = std::make_shared<bool>(false);
    asio::steady_timer timer(w.ioc(), kHandshakeTimeout);
    timer.async_wait([cancel, finished, timed_out](const boost::system::error_code& ec) {
        if (ec || *finished) return;
        *timed_out = true;
        (*cancel)();
    });
    const auto canceller = w.add_canceller([cancel, finished] {
        if (!*finished) (*cancel)();
    });
    const std::string socket_address = remote;
    const auto settings = lc->settings();
    std::shared_ptr<net::Stream> stream;
    std::optional<std::string> username;
    std::string error;
    try {
        if (lc->proxy_protocol) {
            if (auto client = co_await read_proxy_header(socket)) {
                w.log(0, "listener " + lc->name + ": connection from " + *client + " through proxy " + remote);
                remote = *client;
            }
        }
        switch (lc->kind) {
            case config::ListenerKind::Mqtts: {
                auto s = std::make_shared<net::TlsStream>(std::move(socket), settings->tls);
                stream = s;
                *cancel = [weak = std::weak_ptr<net::Stream>(stream)] {
                    if (auto p = weak.lock()) p->cancel();
                };
                co_await s->tls().async_handshake(asio::ssl::stream_base::server, asio::use_awaitable);
                if (lc->use_cn_as_username) username = peer_common_name(s->tls().native_handle());
                break;
            }
            case config::ListenerKind::Ws: {
                auto s = std::make_shared<net::WsServerStream<net::TcpSocket>>(nullptr, std::move(socket));
                stream = s;
                *cancel = [weak = std::weak_ptr<net::Stream>(stream)] {
                    if (auto p = weak.lock()) p->cancel();
                };
                co_await ws_accept(*s, *lc, *settings, remote);
                break;
            }
            case config::ListenerKind::Wss: {
                auto s = std::make_shared<net::WsServerStream<net::TlsSocket>>(settings->tls, std::move(socket),
                                                                               *settings->tls);
                stream = s;
                *cancel = [weak = std::weak_ptr<net::Stream>(stream)] {
                    if (auto p = weak.lock()) p->cancel();
                };
                co_await s->websocket().next_layer().async_handshake(asio::ssl::stream_base::server,
                                                                     asio::use_awaitable);
                if (lc->use_cn_as_username) username = peer_common_name(s->websocket().next_layer().native_handle());
                co_await ws_accept(*s, *lc, *settings, remote);
                break;
            }
            default: break;  // mqtt, http: served as they are
        }
        if (lc->use_cn_as_username && (!username || username->empty()))
            throw std::runtime_error("use_cn_as_username: the client certificate has no subject CN");
    } catch (const std::exception& e) {
        error = common::error_text(e.what());
    }
    *finished = true;
    timer.cancel();
    w.remove_canceller(canceller);
    if (*timed_out) error = "timed out after " + std::to_string(kHandshakeTimeout.count()) + " s";
    if (!error.empty() || w.stopping()) {
        if (!error.empty()) {
            const bool proxied = remote != socket_address;
            w.log(1, "listener " + lc->name + ": " + (stream ? "handshake with " : "connection from ") + remote +
                         (proxied ? " (through proxy " + socket_address + ")" : std::string()) + " failed: " + error);
        }
        if (stream) {
            stream->cancel();
        } else {
            boost::system::error_code ignored;
            socket.close(ignored);
        }
        co_return;
    }
    if (!stream) {
        if (plain) {
            plain(w, std::move(socket), std::move(remote), std::move(slot));
        } else {
            w.adopt(std::move(socket), std::move(remote), {}, lc->tag, std::move(slot));
        }
        co_return;
    }
    std::optional<std::string> core_username = username;
    auto conn = std::make_shared<StreamConnection>(w, std::move(stream), remote, std::move(username), std::move(slot));
    conn->tag = lc->tag;
    const ConnectionId id = w.open(conn, std::move(remote), lc->tag, std::move(core_username));
    if (id == 0) co_return;  // on_open threw: the guard closed the stream
    conn->start(id);
    w.schedule_flush();
}

// ---- the http listener's upgrade ----

asio::awaitable<void> upgrade_then_serve(Worker& w, tcp::socket socket, std::string remote,
                                         std::shared_ptr<ListenerContext> lc, http::request<http::empty_body> req,
                                         std::shared_ptr<ConnectionSlot> slot) {
    const auto settings = lc->settings();
    auto stream = std::make_shared<net::WsServerStream<net::TcpSocket>>(nullptr, std::move(socket));
    // The same bound as accept_then_serve: a peer that stops reading the 101 holds a timer, not the worker.
    std::weak_ptr<net::Stream> weak = stream;
    auto timed_out = std::make_shared<bool>(false);
    asio::steady_timer timer(w.ioc(), kHandshakeTimeout);
    timer.async_wait([weak, timed_out](const boost::system::error_code& ec) {
        if (ec) return;
        if (auto s = weak.lock()) {
            *timed_out = true;
            s->cancel();
        }
    });
    const auto canceller = w.add_canceller([weak] {
        if (auto s = weak.lock()) s->cancel();
    });
    const std::string socket_address = remote;
    std::string error;
    try {
        co_await ws_accept_request(*stream, *lc, *settings, req, remote);
    } catch (const std::exception& e) {
        error = common::error_text(e.what());
    }
    timer.cancel();
    w.remove_canceller(canceller);
    if (*timed_out) error = "timed out after " + std::to_string(kHandshakeTimeout.count()) + " s";
    if (!error.empty()) {
        const bool proxied = remote != socket_address;
        w.log(1, "listener " + lc->name + ": handshake with " + remote +
                     (proxied ? " (through proxy " + socket_address + ")" : std::string()) + " failed: " + error);
        stream->cancel();
        co_return;
    }
    if (w.stopping()) {
        stream->cancel();
        co_return;
    }
    auto conn = std::make_shared<StreamConnection>(w, std::move(stream), remote, std::nullopt, std::move(slot));
    conn->tag = lc->tag;
    const ConnectionId id = w.open(conn, std::move(remote), lc->tag);
    if (id == 0) co_return;  // on_open threw: the guard closed the stream
    conn->start(id);
    w.schedule_flush();
}

// The TLS context and Origin list of a listener; `announce`: log where the development certificate is.
std::shared_ptr<const ListenerContext::Reloadable> make_reloadable(
    const std::string& name, const config::Listener& listener, const config::Config& config,
    const std::function<void(int, const std::string&)>& log, bool announce) {
    auto r = std::make_shared<ListenerContext::Reloadable>();
    r->allowed_origins = listener.allowed_origins;
    r->source = listener;
    if (config::is_tls(listener.kind)) {
        std::string cert = listener.cert_file;
        std::string key = listener.key_file;
        if (cert.empty() && key.empty()) {
            const DevCertificate dev = ensure_dev_certificate(config.data_dir);
            cert = dev.cert_file;
            key = dev.key_file;
            if (log && announce) {
                log(2, "listener " + name + ": no cert_file configured; using the development certificate " + cert +
                           (dev.created ? " (created now)" : "") + " for localhost, 127.0.0.1 and ::1");
                log(2, "listener " + name + ": clients must trust the development CA " + dev.ca_file +
                           " (mosquitto_sub --cafile, moth --cafile; browsers: import it as a trusted authority)");
            }
        }
        r->tls = make_server_tls_context(listener, cert, key);
    }
    return r;
}

}  // namespace

std::shared_ptr<ListenerContext> make_listener_context(const std::string& name, const config::Listener& listener,
                                                       const config::Config& config,
                                                       const std::function<void(int, const std::string&)>& log) {
    auto lc = std::make_shared<ListenerContext>();
    lc->name = name;
    lc->kind = listener.kind;
    lc->ws_path = listener.ws_path.empty() ? "/mqtt" : listener.ws_path;
    lc->max_frame_size = config.limits.max_packet_size;
    lc->use_cn_as_username = listener.use_cn_as_username;
    lc->proxy_protocol = listener.proxy_protocol;
    lc->trust_x_forwarded_for = listener.trust_x_forwarded_for;
    lc->max_connections = listener.max_connections;
    const std::string kind(config::to_string(listener.kind));
    lc->tag = std::make_shared<const broker::ListenerTag>(broker::ListenerTag{name, kind});
    lc->replace(make_reloadable(name, listener, config, log, true));
    return lc;
}

void reload_listener_context(ListenerContext& lc, const config::Listener& listener, const config::Config& config,
                             const std::function<void(int, const std::string&)>& log) {
    try {
        lc.replace(make_reloadable(lc.name, listener, config, log, false));
        if (log && config::is_tls(listener.kind)) {
            log(1, "listener " + lc.name + ": TLS certificate, key and CA reloaded" +
                       (listener.cert_file.empty() ? std::string(" (development certificate)")
                                                   : " from " + listener.cert_file));
        }
    } catch (const std::exception& e) {
        if (log) log(3, "listener " + lc.name + ": reload failed, keeping the running TLS settings: " + common::error_text(e.what()));
    }
}

void serve_accepted(Worker& w, tcp::socket socket, std::string remote, std::shared_ptr<ListenerContext> listener,
                    std::shared_ptr<ConnectionSlot> slot, PlainServe plain) {
    if (w.stopping()) return;
    const bool handshake = listener->kind != config::ListenerKind::Mqtt && listener->kind != config::ListenerKind::Http;
    if (!handshake && !listener->proxy_protocol) {
        if (plain) {
            plain(w, std::move(socket), std::move(remote), std::move(slot));
        } else {
            w.adopt(std::move(socket), std::move(remote), {}, listener->tag, std::move(slot));
        }
        return;
    }
    asio::co_spawn(w.ioc(),
                   accept_then_serve(w, std::move(socket), std::move(remote), std::move(listener), std::move(slot),
                                     std::move(plain)),
                   asio::detached);
}

void start_upgraded_connection(Worker& w, tcp::socket socket, std::string remote,
                               std::shared_ptr<ListenerContext> listener, http::request<http::string_body> req,
                               std::shared_ptr<ConnectionSlot> slot) {
    if (w.stopping()) return;
    // The HTTP session's parser gave a request with a (normally empty) body; the handshake needs only the header.
    http::request<http::empty_body> head(std::move(req.base()));
    asio::co_spawn(w.ioc(),
                   upgrade_then_serve(w, std::move(socket), std::move(remote), std::move(listener), std::move(head),
                                      std::move(slot)),
                   asio::detached);
}

}  // namespace moth::server::detail
