// What every accepted socket goes through before its worker serves it (stream_connection.hpp): the PROXY header,
// the TLS and WebSocket handshakes under one time limit, then the connection. The WebSocket upgrade itself is in
// ws_handshake.cpp, the served TLS/WebSocket connection in stream_relay.cpp, the listener's context in
// listener_context.cpp.
#include "server/stream_connection.hpp"

#include <array>
#include <exception>
#include <optional>
#include <stdexcept>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/empty_body.hpp>

#include "common/error_text.hpp"
#include "net/transport.hpp"
#include "net/ws_server_stream.hpp"
#include "server/client_address.hpp"
#include "server/stream_relay.hpp"
#include "server/tls.hpp"
#include "server/ws_handshake.hpp"

namespace moth::server::detail {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kHandshakeTimeout = std::chrono::seconds(10);

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

// The listener's own handshake on `socket`: TLS (mqtts), the WebSocket upgrade (ws), or both (wss); mqtt and
// http have none and leave `stream` null. `stream` is set before the first wait, and `cancel` then cancels it
// (the handshake timeout, worker shutdown); `remote` and `username` become what the handshake finds. Throws on
// failure, the stream left to the caller to cancel.
asio::awaitable<void> run_handshake(tcp::socket& socket, const ListenerContext& lc,
                                    const ListenerContext::Reloadable& settings, std::shared_ptr<net::Stream>& stream,
                                    std::function<void()>& cancel, std::string& remote,
                                    std::optional<std::string>& username) {
    const auto cancel_stream = [&] {
        cancel = [weak = std::weak_ptr<net::Stream>(stream)] {
            if (auto p = weak.lock()) p->cancel();
        };
    };
    switch (lc.kind) {
        case config::ListenerKind::Mqtts: {
            auto s = std::make_shared<net::TlsStream>(std::move(socket), settings.tls);
            stream = s;
            cancel_stream();
            co_await s->tls().async_handshake(asio::ssl::stream_base::server, asio::use_awaitable);
            if (lc.use_cn_as_username) username = peer_common_name(s->tls().native_handle());
            break;
        }
        case config::ListenerKind::Ws: {
            auto s = std::make_shared<net::WsServerStream<net::TcpSocket>>(nullptr, std::move(socket));
            stream = s;
            cancel_stream();
            co_await ws_accept(*s, lc, settings, remote);
            break;
        }
        case config::ListenerKind::Wss: {
            auto s = std::make_shared<net::WsServerStream<net::TlsSocket>>(settings.tls, std::move(socket),
                                                                           *settings.tls);
            stream = s;
            cancel_stream();
            co_await s->websocket().next_layer().async_handshake(asio::ssl::stream_base::server,
                                                                 asio::use_awaitable);
            if (lc.use_cn_as_username) username = peer_common_name(s->websocket().next_layer().native_handle());
            co_await ws_accept(*s, lc, settings, remote);
            break;
        }
        default: break;  // mqtt, http: served as they are
    }
    if (lc.use_cn_as_username && (!username || username->empty()))
        throw std::runtime_error("use_cn_as_username: the client certificate has no subject CN");
}

// A socket with no handshake of its own: the http listener's session (`plain`), or a plain MQTT connection.
void serve_plain(Worker& w, tcp::socket socket, std::string remote, const ListenerContext& lc,
                 std::shared_ptr<ConnectionSlot> slot, const PlainServe& plain) {
    if (plain) {
        plain(w, std::move(socket), std::move(remote), std::move(slot));
    } else {
        w.adopt(std::move(socket), std::move(remote), {}, lc.tag, std::move(slot));
    }
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
        co_await run_handshake(socket, *lc, *settings, stream, *cancel, remote, username);
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
        serve_plain(w, std::move(socket), std::move(remote), *lc, std::move(slot), plain);
        co_return;
    }
    serve_stream(w, std::move(stream), std::move(remote), std::move(username), std::move(slot), lc->tag);
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
    serve_stream(w, std::move(stream), std::move(remote), std::nullopt, std::move(slot), lc->tag);
}

}  // namespace

void serve_accepted(Worker& w, tcp::socket socket, std::string remote, std::shared_ptr<ListenerContext> listener,
                    std::shared_ptr<ConnectionSlot> slot, PlainServe plain) {
    if (w.stopping()) return;
    const bool handshake = listener->kind != config::ListenerKind::Mqtt && listener->kind != config::ListenerKind::Http;
    if (!handshake && !listener->proxy_protocol) {
        serve_plain(w, std::move(socket), std::move(remote), *listener, std::move(slot), plain);
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
