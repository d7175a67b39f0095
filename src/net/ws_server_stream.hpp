#pragma once
// The server's WebSocket stream (ws, wss, and /mqtt on the http listener): Beast accepts the upgrade, then this
// class reads and writes the frames itself (net/ws_frames.hpp says why), directly on the TCP or TLS stream.
//
// Reading: data frames' payloads are handed out as a byte stream, unmasked in place in the caller's buffer;
// pings are answered with pongs; a close frame is answered and ends the stream (eof); a protocol violation is
// answered with a close frame carrying its code (1002, 1003 for text, 1009 over the size limit) and ends it.
// Writing: write_messages() sends each message as one binary frame, every frame of the call in one write.
// Writes are serialised inside the stream, so a pong or close sent by the reader never interleaves with data.
//
// Thread affinity: as for Stream, everything runs on the socket's executor (one worker).
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/websocket/stream.hpp>

#include "net/transport.hpp"
#include "net/ws_frames.hpp"

namespace moth::net {

template <class Next>
class WsServerStream final : public Stream {
public:
    // `context` keeps the TLS context alive for wss (null for ws); `next_args` construct the next layer, e.g.
    // (socket) for ws or (socket, *context) for wss.
    template <class... Args>
    explicit WsServerStream(std::shared_ptr<boost::asio::ssl::context> context, Args&&... next_args)
        : context_(std::move(context)),
          ws_(std::forward<Args>(next_args)...),
          idle_(boost::beast::get_lowest_layer(ws_).get_executor()) {}

    // For the handshake only (Beast's async_accept); never read or written through after it.
    [[nodiscard]] boost::beast::websocket::stream<Next>& websocket() noexcept { return ws_; }
    // Bytes read together with the upgrade request (frames the client sent without waiting for the 101).
    void preload(std::span<const std::byte> bytes) { pending_.insert(pending_.end(), bytes.begin(), bytes.end()); }
    // The largest message accepted (a larger one is closed with 1009); 0: no limit. Before the first read.
    void max_message_size(std::uint64_t size) { reader_ = ws::FrameReader(size); }

    // `buffer` must hold at least 16 bytes.
    boost::asio::awaitable<std::size_t> read_some(std::span<std::byte> buffer) override;
    boost::asio::awaitable<void> write(std::span<const std::byte> bytes) override;
    boost::asio::awaitable<void> write_messages(std::span<const std::byte> bytes,
                                                std::span<const std::uint32_t> lengths) override;
    [[nodiscard]] bool message_oriented() const override { return true; }
    // A close frame (1000) unless one was sent, then the socket. The peer's answer is not waited for.
    boost::asio::awaitable<void> close() override;
    void cancel() noexcept override;
    [[nodiscard]] std::string remote() const override;
    // Sends a close frame (1000) unless one was sent already (before a lingering close).
    boost::asio::awaitable<void> say_goodbye() override;
    [[nodiscard]] int release() noexcept override;

private:
    // Decodes the first `len` bytes of `buffer` in place; answers control frames. Returns the payload bytes now
    // at the front of `buffer`; keeps an incomplete header in pending_.
    boost::asio::awaitable<std::size_t> decode(std::span<std::byte> buffer, std::size_t len);
    // Moves pending_ to the front of `buffer`; returns how many bytes.
    std::size_t take_pending(std::span<std::byte> buffer);
    // Writes out_ (and whatever is appended meanwhile); waits while another coroutine writes.
    boost::asio::awaitable<void> send();
    // Queues a close frame with `code` and sends it, closing the socket if that takes over kCloseTimeout.
    boost::asio::awaitable<void> send_close(std::uint16_t code);

    std::shared_ptr<boost::asio::ssl::context> context_;  // outlives ws_ (declared first)
    boost::beast::websocket::stream<Next> ws_;
    ws::FrameReader reader_;
    std::vector<std::byte> pending_;  // input not decoded yet: part of a frame header, or preloaded bytes
    std::exception_ptr end_;          // set when a close frame or an error ended the input
    std::vector<std::byte> out_;      // frames waiting for the writer
    std::vector<std::byte> writing_;  // frames being written
    bool writing_active_ = false;
    bool close_sent_ = false;
    boost::asio::steady_timer idle_;  // woken (cancelled) when a write ends, for a coroutine waiting to write
    mutable std::string remote_;
};

extern template class WsServerStream<TcpSocket>;
extern template class WsServerStream<TlsSocket>;

}  // namespace moth::net
