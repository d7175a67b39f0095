#pragma once
// Byte streams over every transport Moth speaks (TCP, TLS, WebSocket, secure WebSocket), behind one
// type-erased interface so that the MQTT layers above never know which one they use. Knows no MQTT.
//
// Thread affinity: a Stream is used from the strand/executor it was created on; it is not thread safe.
// Errors: the awaitables throw boost::system::system_error (the peer went away, a handshake failed); the
// client's connection loop catches them and turns them into values for its users.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

namespace moth::net {

enum class Scheme : std::uint8_t { Mqtt, Mqtts, Ws, Wss };

// mqtt://host[:port], mqtts://host[:port], ws://host[:port][/path], wss://host[:port][/path]; IPv6 hosts in
// brackets. Default ports 1883, 8883, 80, 443; default WebSocket path "/mqtt". A bare "host[:port]" is mqtt.
struct Url {
    Scheme scheme = Scheme::Mqtt;
    std::string host = "localhost";
    std::uint16_t port = 1883;
    std::string path = "/mqtt";
};
[[nodiscard]] boost::system::result<Url, std::string> parse_url(std::string_view text);
[[nodiscard]] std::string to_string(const Url& url);

struct TlsOptions {
    std::string ca_file;    // PEM bundle to verify the server with; empty: the system's default paths
    std::string ca_path;    // directory of hashed CA certificates
    std::string cert_file;  // client certificate (PEM), optional
    std::string key_file;   // its private key (PEM)
    std::string sni;        // server name to send and verify; empty: the URL's host
    bool insecure = false;  // skip certificate and host name verification (explicit, for development only)
    std::string version;    // "", "tlsv1.2" or "tlsv1.3": the minimum version
};

struct ConnectSettings {
    Url url;
    TlsOptions tls;
    // Sent in the WebSocket upgrade (Sec-WebSocket-Protocol); brokers expect "mqtt" (or "mqttv3.1" for 3.1).
    std::string ws_subprotocol = "mqtt";
    std::chrono::milliseconds timeout{10'000};  // resolve + connect + TLS + WebSocket handshakes
    bool tcp_nodelay = true;
};

// One open byte stream. WebSocket streams send each write as one binary frame and deliver frame payloads as a
// byte stream (MQTT packets may span frames and frames may hold several packets).
class Stream {
public:
    virtual ~Stream() = default;
    // Reads at least one byte; an error (boost::asio::error::eof for an orderly close) ends the stream.
    virtual boost::asio::awaitable<std::size_t> read_some(std::span<std::byte> buffer) = 0;
    // Writes every byte (gathered by the caller).
    virtual boost::asio::awaitable<void> write(std::span<const std::byte> bytes) = 0;
    // Writes `bytes`, which hold consecutive messages of the given lengths (adding up to bytes.size()). A
    // message-oriented transport (the server's WebSocket) sends each as a message of its own, all in one write;
    // the others write the bytes as they are.
    virtual boost::asio::awaitable<void> write_messages(std::span<const std::byte> bytes,
                                                        std::span<const std::uint32_t> /*lengths*/) {
        co_await write(bytes);
    }
    // True when write_messages() keeps message boundaries (the caller then computes them).
    [[nodiscard]] virtual bool message_oriented() const { return false; }
    // Orderly close where the transport has one (TLS close_notify, WebSocket close frame), then the socket.
    virtual boost::asio::awaitable<void> close() = 0;
    // The transport's own end of data (WebSocket close frame, TLS close_notify) without closing the socket: what
    // a server sends before a lingering close. Waits for the peer's answer only where the transport needs it
    // (TLS), at most a short time. Errors are swallowed.
    virtual boost::asio::awaitable<void> say_goodbye() { co_return; }
    // Closes the socket at once; pending operations complete with an error. Safe to call more than once.
    virtual void cancel() noexcept = 0;
    [[nodiscard]] virtual std::string remote() const = 0;  // "host:port" of the peer
    // Gives the TCP socket's descriptor up to the caller, who closes it (a lingering close reads what the peer
    // still sends at the socket level); -1 when the socket is closed already. The stream is unusable after.
    [[nodiscard]] virtual int release() noexcept = 0;
};

// Opens a stream as the URL says. Errors carry a readable message: "connection refused", "certificate verify
// failed: ...", "WebSocket upgrade refused: 404", "timed out".
[[nodiscard]] boost::asio::awaitable<std::unique_ptr<Stream>> connect(boost::asio::any_io_executor ex,
                                                                      const ConnectSettings& settings);

}  // namespace moth::net
