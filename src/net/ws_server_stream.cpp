#include "net/ws_server_stream.hpp"

#include <algorithm>
#include <cstring>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "net/stream_util.hpp"

namespace moth::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
using detail::Error;
using Event = ws::FrameReader::Event;

template <class Next>
asio::awaitable<std::size_t> WsServerStream<Next>::read_some(std::span<std::byte> buffer) {
    if (buffer.empty()) co_return 0;
    // Whole frames may be waiting in pending_ (preloaded): decode them before reading more.
    bool input_ready = !pending_.empty();
    for (;;) {
        if (end_) std::rethrow_exception(end_);
        std::size_t len = take_pending(buffer);
        if (!input_ready) {
            len += co_await ws_.next_layer().async_read_some(detail::to_buffer(buffer.subspan(len)),
                                                             asio::use_awaitable);
        }
        const std::size_t before = pending_.size();
        const std::size_t n = co_await decode(buffer, len);
        if (n > 0) co_return n;
        // Only an incomplete header came back to pending_ (then read), or more preloaded bytes wait behind it.
        input_ready = before > 0;
    }
}

template <class Next>
std::size_t WsServerStream<Next>::take_pending(std::span<std::byte> buffer) {
    const std::size_t n = std::min(pending_.size(), buffer.size());
    if (n == 0) return 0;
    std::memcpy(buffer.data(), pending_.data(), n);
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
    return n;
}

template <class Next>
asio::awaitable<std::size_t> WsServerStream<Next>::decode(std::span<std::byte> buffer, std::size_t len) {
    std::size_t consumed = 0;
    std::size_t produced = 0;
    while (!end_) {
        // In place: payload is written at `produced`, never past `consumed`, so no byte is overwritten unread.
        const auto step = reader_.read(std::span<const std::byte>(buffer.data() + consumed, len - consumed),
                                       buffer.subspan(produced));
        consumed += step.consumed;
        produced += step.produced;
        if (step.event == Event::None) break;
        if (step.event == Event::Ping && !close_sent_) {
            ws::append_frame(out_, ws::Opcode::Pong, reader_.control_payload());
            co_await send();
        } else if (step.event == Event::Close) {
            // RFC 6455 section 5.5.1: answer with a close frame, echoing the code.
            const auto code = reader_.code() == ws::kCloseNoStatus ? ws::kCloseNormal : reader_.code();
            co_await send_close(code);
            end_ = std::make_exception_ptr(Error(asio::error::eof, "WebSocket closed by the peer", nullptr));
        } else if (step.event == Event::Error) {
            co_await send_close(reader_.code());
            end_ = std::make_exception_ptr(
                Error(asio::error::invalid_argument,
                      "WebSocket: " + std::string(reader_.error()) + " (closed with " +
                          std::to_string(reader_.code()) + ")",
                      nullptr));
        }
    }
    if (!end_ && consumed < len) {
        const auto rest = buffer.subspan(consumed, len - consumed);
        pending_.insert(pending_.begin(), rest.begin(), rest.end());
    }
    co_return produced;
}

template <class Next>
asio::awaitable<void> WsServerStream<Next>::send() {
    while (writing_active_) {
        // A timer that never expires, cancelled by the writer when it is done. Its expiry is set only once, as
        // setting it cancels the waits already on it.
        if (idle_.expiry() != asio::steady_timer::time_point::max())
            idle_.expires_at(asio::steady_timer::time_point::max());
        boost::system::error_code ignored;
        co_await idle_.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    }
    if (out_.empty()) co_return;  // the writer that just finished took these bytes along
    writing_active_ = true;
    try {
        while (!out_.empty()) {
            std::swap(out_, writing_);
            out_.clear();
            co_await asio::async_write(ws_.next_layer(), asio::buffer(writing_), asio::use_awaitable);
            writing_.clear();
        }
    } catch (...) {
        writing_active_ = false;
        idle_.cancel();
        throw;
    }
    writing_active_ = false;
    idle_.cancel();
}

template <class Next>
asio::awaitable<void> WsServerStream<Next>::send_close(std::uint16_t code) {
    if (close_sent_) co_return;
    close_sent_ = true;
    ws::append_close(out_, code);
    try {
        co_await detail::with_timeout(send(), detail::kCloseTimeout, [this] { cancel(); }, "WebSocket close");
    } catch (const boost::system::system_error&) {
        // The peer does not read: the socket is closed all the same.
    }
}

template <class Next>
asio::awaitable<void> WsServerStream<Next>::write(std::span<const std::byte> bytes) {
    const auto len = static_cast<std::uint32_t>(bytes.size());
    co_await write_messages(bytes, std::span<const std::uint32_t>(&len, 1));
}

template <class Next>
asio::awaitable<void> WsServerStream<Next>::write_messages(std::span<const std::byte> bytes,
                                                           std::span<const std::uint32_t> lengths) {
    if (close_sent_) throw Error(asio::error::broken_pipe, "WebSocket already closed", nullptr);
    ws::append_messages(out_, bytes, lengths);
    co_await send();
}

template <class Next>
asio::awaitable<void> WsServerStream<Next>::say_goodbye() {
    co_await send_close(ws::kCloseNormal);
}

template <class Next>
asio::awaitable<void> WsServerStream<Next>::close() {
    (void)remote();
    co_await say_goodbye();
    detail::close_socket(beast::get_lowest_layer(ws_));
}

template <class Next>
void WsServerStream<Next>::cancel() noexcept {
    try {
        (void)remote();
    } catch (...) {  // only the cache's allocation can throw; the socket is closed all the same
    }
    detail::close_socket(beast::get_lowest_layer(ws_));
}

template <class Next>
std::string WsServerStream<Next>::remote() const {
    return detail::remote_of(beast::get_lowest_layer(ws_), remote_);
}

template <class Next>
int WsServerStream<Next>::release() noexcept {
    return detail::release_socket(beast::get_lowest_layer(ws_));
}

template class WsServerStream<TcpSocket>;
template class WsServerStream<TlsSocket>;

}  // namespace moth::net
