#pragma once
// The concrete streams behind net::Stream. connect() builds them for clients; the server will build the same
// classes around accepted sockets (constructors take a socket, the handshake is the caller's), which is why
// they are declared here and not hidden in stream.cpp.
//
// Thread affinity: as for Stream, everything runs on the executor of the socket (one strand/worker).
#include <memory>
#include <string>
#include <utility>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/websocket/stream.hpp>

#include "net/stream.hpp"

namespace moth::net {

using TcpSocket = boost::asio::ip::tcp::socket;
using TlsSocket = boost::asio::ssl::stream<TcpSocket>;

// "host:port", with IPv6 addresses in brackets.
[[nodiscard]] std::string format_endpoint(const boost::asio::ip::tcp::endpoint& ep);
[[nodiscard]] std::string format_host_port(std::string_view host, std::uint16_t port);

// A client context as the options say: minimum TLS 1.2 (or `version`), the CA file/path or the system's
// default paths, the client certificate and key. Throws system_error naming the file that failed to load.
[[nodiscard]] std::shared_ptr<boost::asio::ssl::context> make_client_tls_context(const TlsOptions& options);

class TcpStream final : public Stream {
public:
    explicit TcpStream(TcpSocket socket) : socket_(std::move(socket)) {}

    boost::asio::awaitable<std::size_t> read_some(std::span<std::byte> buffer) override;
    boost::asio::awaitable<void> write(std::span<const std::byte> bytes) override;
    boost::asio::awaitable<void> close() override;
    void cancel() noexcept override;
    [[nodiscard]] std::string remote() const override;
    [[nodiscard]] int release() noexcept override;

    [[nodiscard]] TcpSocket& socket() noexcept { return socket_; }

private:
    TcpSocket socket_;
    mutable std::string remote_;  // cached: the socket forgets its peer once closed
};

class TlsStream final : public Stream {
public:
    // `socket` may be connected or not; the TLS handshake (client or server side) is the caller's.
    TlsStream(TcpSocket socket, std::shared_ptr<boost::asio::ssl::context> context)
        : context_(std::move(context)), tls_(std::move(socket), *context_) {}

    boost::asio::awaitable<std::size_t> read_some(std::span<std::byte> buffer) override;
    boost::asio::awaitable<void> write(std::span<const std::byte> bytes) override;
    boost::asio::awaitable<void> say_goodbye() override;
    boost::asio::awaitable<void> close() override;
    void cancel() noexcept override;
    [[nodiscard]] std::string remote() const override;
    [[nodiscard]] int release() noexcept override;

    [[nodiscard]] TlsSocket& tls() noexcept { return tls_; }

private:
    std::shared_ptr<boost::asio::ssl::context> context_;  // outlives tls_ (declared first)
    TlsSocket tls_;
    mutable std::string remote_;
};

// WebSocket over TcpSocket (ws) or TlsSocket (wss). Binary frames, one per write; reads hand out frame payload
// bytes as they arrive (frames and MQTT packets need not line up).
template <class Next>
class WsStream final : public Stream {
public:
    // `context` keeps the TLS context alive for wss (null for ws); `next_args` construct the next layer, e.g.
    // (socket) for ws or (socket, *context) for wss. The WebSocket handshake is the caller's.
    template <class... Args>
    explicit WsStream(std::shared_ptr<boost::asio::ssl::context> context, Args&&... next_args)
        : context_(std::move(context)), ws_(std::forward<Args>(next_args)...) {
        configure();
    }

    boost::asio::awaitable<std::size_t> read_some(std::span<std::byte> buffer) override;
    boost::asio::awaitable<void> write(std::span<const std::byte> bytes) override;
    boost::asio::awaitable<void> close() override;
    void cancel() noexcept override;
    [[nodiscard]] std::string remote() const override;
    [[nodiscard]] int release() noexcept override;

    [[nodiscard]] boost::beast::websocket::stream<Next>& websocket() noexcept { return ws_; }

private:
    void configure();

    std::shared_ptr<boost::asio::ssl::context> context_;
    boost::beast::websocket::stream<Next> ws_;
    mutable std::string remote_;
};

extern template class WsStream<TcpSocket>;
extern template class WsStream<TlsSocket>;

}  // namespace moth::net
