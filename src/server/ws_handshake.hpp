#pragma once
// The server side of a WebSocket upgrade (ws and wss listeners, and /mqtt on the http listener): reading the
// request, the listener's checks (path, Origin, sub-protocol, frame limit, trusted X-Forwarded-For) and the
// answer. A refused upgrade is answered with an HTTP error, then throws std::runtime_error for the caller's log.
//
// The functions are templates on the stream under the WebSocket (TCP or TLS); ws_handshake.cpp instantiates them
// for both, so Beast's HTTP parsing is compiled there only.
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>

#include "net/ws_server_stream.hpp"
#include "server/stream_connection.hpp"

namespace moth::server::detail {

// The checks and the answer of a WebSocket upgrade request at the listener's path (read by ws_accept, or by the
// http listener's session): Origin allow-list, X-Forwarded-For / Forwarded when the listener trusts them (then
// `remote` becomes the forwarded client's address), sub-protocol, frame limit.
template <class Next>
boost::asio::awaitable<void> ws_accept_request(
    net::WsServerStream<Next>& stream, const ListenerContext& lc, const ListenerContext::Reloadable& settings,
    const boost::beast::http::request<boost::beast::http::empty_body>& req, std::string& remote);

// Reads the upgrade request of a ws/wss listener and answers it. `remote` becomes the forwarded client's address
// when the listener trusts X-Forwarded-For / Forwarded.
template <class Next>
boost::asio::awaitable<void> ws_accept(net::WsServerStream<Next>& stream, const ListenerContext& lc,
                                       const ListenerContext::Reloadable& settings, std::string& remote);

}  // namespace moth::server::detail
