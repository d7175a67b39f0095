#pragma once
// The http listener's connections: HTTP/1.1 with Beast on the worker that accepted the socket, answered by
// moth::http::Api (src/http), with a WebSocket upgrade at ws_path handed to the ws code (stream_connection.hpp).
//
// State the API shows lives in the workers' cores (one per worker thread, no locks). A request that needs it posts
// a snapshot request to every worker and resumes when all have answered: the worker serving the HTTP connection
// never blocks, and each core is read only on its own thread (docs/architecture.md, "The HTTP API").
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/thread_pool.hpp>

#include "http/api.hpp"
#include "server/server.hpp"
#include "server/stream_connection.hpp"

namespace moth::server::detail {

// What an http listener's connections share; filled at start, read-only once accepting begins.
// Where /api/v1/bridges finds the bridges' links: set once by Server::attach_bridges, read by any API call.
struct BridgeSource {
    std::mutex mutex;
    std::function<std::vector<http::BridgeInfo>()> fn;
};

struct HttpListenerContext {
    std::shared_ptr<ListenerContext> ws;  // the listener's context; its WebSocket upgrade at ws_path: like a ws one
    http::Settings settings;
    broker::Shared* shared = nullptr;
    std::vector<BoundListener> bound;              // every listener of the server, for /api/v1/listeners
    boost::asio::thread_pool* blocking = nullptr;  // file reads and writes (web_root, the dashboard)
    std::string data_dir;
    std::shared_ptr<BridgeSource> bridges;  // Server::attach_bridges
    std::function<std::vector<http::GatewayInfo>()> gateways;  // the MQTT-SN listeners' counters; any thread
};

// On worker `w`'s thread: serves HTTP requests on the accepted socket (after serve_accepted read its PROXY header,
// if any) until the peer closes, an error, a 10 s stall, or a WebSocket upgrade at ws_path (then the connection
// becomes an MQTT connection on `w`, keeping `slot`, the listener's max_connections place).
void start_http_session(Worker& w, boost::asio::ip::tcp::socket socket, std::string remote,
                        std::shared_ptr<const HttpListenerContext> listener, std::shared_ptr<ConnectionSlot> slot);

}  // namespace moth::server::detail
