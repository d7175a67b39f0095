#pragma once
// TLS and WebSocket connections (listener kinds mqtts, ws, wss).
//
// Unlike a plain TCP socket, a TLS or WebSocket stream carries state (cipher, framing) inside its io_context's
// objects and cannot be moved to another worker as a file descriptor. So such a connection stays on the worker
// that accepted it, and when its CONNECT belongs to another worker the two RELAY: the accepting worker keeps
// reading and writing the stream, the owner's core handles the connection through a relay entry in its own
// connection map (docs/architecture.md, "TLS and WebSocket connections").
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "config/config.hpp"
#include "server/worker.hpp"

namespace moth::server::detail {

// What a mqtts/ws/wss listener's connections share; immutable after start, read from every worker.
struct ListenerContext {
    std::string name;
    config::ListenerKind kind = config::ListenerKind::Mqtts;
    std::string ws_path = "/mqtt";
    std::shared_ptr<boost::asio::ssl::context> tls;  // mqtts, wss
    std::uint64_t max_frame_size = 0;                // ws, wss: limits.max_packet_size
    std::shared_ptr<const broker::ListenerTag> tag;  // the listener's name and transport, for the HTTP API
};

// Builds the TLS context (making the development certificate in config.data_dir when the listener names none,
// and logging where it is). Start-up only: throws std::runtime_error.
[[nodiscard]] std::shared_ptr<const ListenerContext> make_listener_context(
    const std::string& name, const config::Listener& listener, const config::Config& config,
    const std::function<void(int, const std::string&)>& log);

// On worker `w`'s thread: runs the TLS handshake and/or WebSocket upgrade of an accepted socket (10 s at most,
// costing no worker time while it waits), then serves the connection on `w`.
void start_stream_connection(Worker& w, boost::asio::ip::tcp::socket socket, std::string remote,
                             std::shared_ptr<const ListenerContext> listener);

// On worker `w`'s thread, for an http listener: `req` is a WebSocket upgrade at listener->ws_path that the HTTP
// session has read. Completes it as a ws listener would (sub-protocol check, frame limit, 10 s at most) and
// serves MQTT on the connection.
void start_upgraded_connection(Worker& w, boost::asio::ip::tcp::socket socket, std::string remote,
                               std::shared_ptr<const ListenerContext> listener,
                               boost::beast::http::request<boost::beast::http::string_body> req);

}  // namespace moth::server::detail
