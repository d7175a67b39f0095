#pragma once
// Helpers the stream implementations share (stream.cpp for clients, ws_server_stream.cpp for the server's
// WebSocket): readable errors, a timeout around one operation, socket closing. Internal to src/net.
#include <chrono>
#include <functional>
#include <span>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/system/system_error.hpp>

#include "net/transport.hpp"

namespace moth::net::detail {

namespace asio = boost::asio;
using boost::system::error_code;
using boost::system::system_error;

// How long close() waits for the peer's half of an orderly close (TLS close_notify, WebSocket close frame).
inline constexpr std::chrono::milliseconds kCloseTimeout{2'000};

// A system_error whose what() is the readable text alone ("connect to 127.0.0.1:1883: Connection refused"),
// without Boost's "[system:111 at /usr/include/...]" suffix. Callers catch it as system_error.
class Error final : public system_error {
public:
    // what(): "<context>: <the code's message>"
    Error(error_code ec, const std::string& context)
        : system_error(error_code(ec.value(), ec.category()), context), text_(context + ": " + ec.message()) {}
    // what(): `text` exactly
    Error(error_code ec, std::string text, std::nullptr_t)
        : system_error(error_code(ec.value(), ec.category()), text), text_(std::move(text)) {}
    [[nodiscard]] const char* what() const noexcept override { return text_.c_str(); }

private:
    std::string text_;
};

// Runs `op` until it finishes or `timeout` passes. On timeout `on_timeout` runs (it closes the socket, so that
// an operation without per-operation cancellation ends too) and a timed_out error naming `what` is thrown.
// Both branches have completed when this returns, so `op` and `on_timeout` may refer to the caller's locals.
asio::awaitable<void> with_timeout(asio::awaitable<void> op, std::chrono::milliseconds timeout,
                                   const std::function<void()>& on_timeout, const std::string& what);

// The remote endpoint while the socket knows it; the last known value afterwards.
std::string remote_of(const TcpSocket& socket, std::string& cache);

inline void close_socket(TcpSocket& socket) noexcept {
    error_code ignored;
    socket.close(ignored);
}

// Stream::release for a stream whose TCP socket is `socket`.
inline int release_socket(TcpSocket& socket) noexcept {
    if (!socket.is_open()) return -1;
    error_code ec;
    const int fd = socket.release(ec);
    return ec ? -1 : fd;
}

inline asio::const_buffer to_buffer(std::span<const std::byte> bytes) {
    return {bytes.data(), bytes.size()};
}
inline asio::mutable_buffer to_buffer(std::span<std::byte> bytes) {
    return {bytes.data(), bytes.size()};
}

}  // namespace moth::net::detail
