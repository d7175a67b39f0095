#pragma once
// TLS and WebSocket connections (listener kinds mqtts, ws, wss), and what every accepted socket goes through
// before its worker serves it: the listener's connection limit and, with proxy_protocol, the PROXY header.
//
// Unlike a plain TCP socket, a TLS or WebSocket stream carries state (cipher, framing) inside its io_context's
// objects and cannot be moved to another worker as a file descriptor. So such a connection stays on the worker
// that accepted it, and when its CONNECT belongs to another worker the two RELAY: the accepting worker keeps
// reading and writing the stream, the owner's core handles the connection through a relay entry in its own
// connection map (docs/architecture.md, "TLS and WebSocket connections").
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "config/config.hpp"
#include "server/worker.hpp"

namespace moth::server::detail {

// What a listener's connections share, read from every worker. Fixed at start except `settings()`, which
// SIGHUP replaces (Server::reload); a connection keeps the settings it was accepted with.
struct ListenerContext {
    std::string name;
    config::ListenerKind kind = config::ListenerKind::Mqtt;
    std::string ws_path = "/mqtt";
    std::uint64_t max_frame_size = 0;  // ws, wss: limits.max_packet_size
    bool use_cn_as_username = false;
    bool proxy_protocol = false;
    bool trust_x_forwarded_for = false;
    std::uint32_t max_connections = 0;               // 0 = unlimited
    std::shared_ptr<const broker::ListenerTag> tag;  // the listener's name and transport, for the HTTP API

    struct Reloadable {
        std::shared_ptr<boost::asio::ssl::context> tls;  // mqtts, wss
        std::vector<std::string> allowed_origins;
        config::Listener source;  // the listener settings these were made from (what a reload compares)
    };
    [[nodiscard]] std::shared_ptr<const Reloadable> settings() const {
        std::lock_guard lock(mutex_);
        return settings_;
    }
    void replace(std::shared_ptr<const Reloadable> s) {
        std::lock_guard lock(mutex_);
        settings_ = std::move(s);
    }

    std::atomic<std::uint32_t> open{0};     // connections holding a ConnectionSlot (only with max_connections)
    std::atomic<std::uint64_t> refused{0};  // refused by max_connections since start
    std::atomic<std::int64_t> refusal_logged_at{-1};  // steady clock, seconds; for the rate-limited log line

private:
    mutable std::mutex mutex_;
    std::shared_ptr<const Reloadable> settings_;
};

// One of a listener's max_connections places, held by the connection (and carried along when a plain socket is
// handed to another worker); released when the last holder goes, on whichever thread that is.
class ConnectionSlot {
public:
    explicit ConnectionSlot(std::shared_ptr<ListenerContext> lc) : lc_(std::move(lc)) {}
    ~ConnectionSlot() { lc_->open.fetch_sub(1, std::memory_order_relaxed); }
    ConnectionSlot(const ConnectionSlot&) = delete;
    ConnectionSlot& operator=(const ConnectionSlot&) = delete;

private:
    std::shared_ptr<ListenerContext> lc_;
};

// Builds the listener's context; for mqtts/wss the TLS context (making the development certificate in
// config.data_dir when the listener names none, and logging where it is). Start-up only: throws
// std::runtime_error.
[[nodiscard]] std::shared_ptr<ListenerContext> make_listener_context(
    const std::string& name, const config::Listener& listener, const config::Config& config,
    const std::function<void(int, const std::string&)>& log);

// SIGHUP: loads the listener's certificate, key and CA files again (also when unchanged: the files may have
// been replaced) with `listener`'s TLS settings and allowed_origins, and swaps them in for new connections.
// On any error the running settings stay and the error is logged. Any thread.
void reload_listener_context(ListenerContext& lc, const config::Listener& listener, const config::Config& config,
                             const std::function<void(int, const std::string&)>& log);

// What serves a socket that needs no TLS or WebSocket handshake of its own (an http listener's: its HTTP session),
// after the PROXY header; null: a plain MQTT connection through Worker::adopt.
using PlainServe = std::function<void(Worker&, boost::asio::ip::tcp::socket, std::string remote,
                                      std::shared_ptr<ConnectionSlot>)>;

// On worker `w`'s thread, for a socket just accepted on `listener` (holding `slot`): reads the PROXY header when
// the listener wants one, then serves the connection: a plain one through `plain` (or Worker::adopt), a
// TLS/WebSocket one after its handshake (10 s at most for header and handshake together, costing no worker time
// while waiting).
void serve_accepted(Worker& w, boost::asio::ip::tcp::socket socket, std::string remote,
                    std::shared_ptr<ListenerContext> listener, std::shared_ptr<ConnectionSlot> slot,
                    PlainServe plain = nullptr);

// On worker `w`'s thread, for an http listener: `req` is a WebSocket upgrade at listener->ws_path that the HTTP
// session has read. Completes it as a ws listener would (Origin allow-list, X-Forwarded-For when trusted,
// sub-protocol check, frame limit, 10 s at most) and serves MQTT on the connection, which keeps `slot`.
void start_upgraded_connection(Worker& w, boost::asio::ip::tcp::socket socket, std::string remote,
                               std::shared_ptr<ListenerContext> listener,
                               boost::beast::http::request<boost::beast::http::string_body> req,
                               std::shared_ptr<ConnectionSlot> slot);

}  // namespace moth::server::detail
