#pragma once
// The http listener's connections: HTTP/1.1 with Beast on the worker that accepted the socket, answered by
// moth::http::Api (src/http), with a WebSocket upgrade at ws_path handed to the ws code (stream_connection.hpp).
//
// State the API shows lives in the workers' cores (one per worker thread, no locks). A request that needs it posts
// a snapshot request to every worker and resumes when all have answered: the worker serving the HTTP connection
// never blocks, and each core is read only on its own thread (docs/architecture.md, "The HTTP API").
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/thread_pool.hpp>

#include "http/api.hpp"
#include "server/server.hpp"
#include "server/stream_connection.hpp"

namespace moth::server::detail {

// What an http listener's connections share; filled at start, read-only once accepting begins.
struct HttpListenerContext {
    std::shared_ptr<const ListenerContext> ws;  // the WebSocket upgrade at ws_path: like a ws listener
    http::Settings settings;
    broker::Shared* shared = nullptr;
    std::vector<BoundListener> bound;            // every listener of the server, for /api/v1/listeners
    boost::asio::thread_pool* blocking = nullptr;  // file reads and writes (web_root, the dashboard)
    std::string data_dir;
};

// On worker `w`'s thread: serves HTTP requests on the accepted socket until the peer closes, an error, a
// 10 s stall, or a WebSocket upgrade at ws_path (then the connection becomes an MQTT connection on `w`).
void start_http_session(Worker& w, boost::asio::ip::tcp::socket socket, std::string remote,
                        std::shared_ptr<const HttpListenerContext> listener);

}  // namespace moth::server::detail
