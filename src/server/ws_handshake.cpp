// The WebSocket upgrade of the ws, wss and http listeners (ws_handshake.hpp).
#include "server/ws_handshake.hpp"

#include <algorithm>
#include <array>
#include <stdexcept>
#include <string_view>
#include <vector>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/system/system_error.hpp>

#include "http/origin.hpp"
#include "net/transport.hpp"
#include "server/client_address.hpp"

namespace moth::server::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;

namespace {

constexpr std::array<std::string_view, 4> kSubprotocols{"mqtt", "mqttv3.1", "mqttv3.1.1", "mqttv5"};

// The first offered sub-protocol that is one of ours; empty when none is.
std::string choose_subprotocol(const http::request<http::empty_body>& req) {
    const auto [first, last] = req.equal_range(http::field::sec_websocket_protocol);
    for (auto field = first; field != last; ++field) {
        std::string_view list = field->value();
        while (!list.empty()) {
            const auto comma = list.find(',');
            std::string_view item = list.substr(0, comma);
            list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
            while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
            while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
            if (std::find(kSubprotocols.begin(), kSubprotocols.end(), item) != kSubprotocols.end())
                return std::string(item);
        }
    }
    return {};
}

template <class Next>
asio::awaitable<void> refuse(Next& next, http::status status, unsigned version, const std::string& why) {
    http::response<http::string_body> res{status, version};
    res.set(http::field::server, "moth");
    res.set(http::field::content_type, "text/plain");
    res.set(http::field::connection, "close");
    res.body() = why + "\n";
    res.prepare_payload();
    co_await http::async_write(next, res, asio::use_awaitable);
    throw std::runtime_error("WebSocket upgrade refused (" + std::to_string(static_cast<unsigned>(status)) +
                             "): " + why);
}

// All values of one header field, in order.
template <class Field>
std::vector<std::string_view> field_values(const http::request<http::empty_body>& req, Field f) {
    std::vector<std::string_view> out;
    const auto [first, last] = req.equal_range(f);
    for (auto it = first; it != last; ++it) out.push_back(it->value());
    return out;
}

// Whether an upgrade request's Origin may connect. The http listener serves the console, whose pages connect to
// their own origin: by default only that one (as the Host header names it), and allowed_origins adds to it. ws
// and wss listeners: allowed_origins alone, empty meaning any (docs/security.md).
bool origin_permitted(const ListenerContext& lc, const ListenerContext::Reloadable& settings, std::string_view origin,
                      std::string_view host) {
    if (lc.kind != config::ListenerKind::Http) return origin_allowed(origin, settings.allowed_origins);
    if (moth::http::same_origin_as_host(origin, host)) return true;
    return !settings.allowed_origins.empty() && origin_allowed(origin, settings.allowed_origins);
}

}  // namespace

template <class Next>
asio::awaitable<void> ws_accept_request(net::WsServerStream<Next>& stream, const ListenerContext& lc,
                                        const ListenerContext::Reloadable& settings,
                                        const http::request<http::empty_body>& req, std::string& remote) {
    auto& ws = stream.websocket();
    // Browsers always send Origin; other clients usually do not, and are not checked.
    if (const auto origin = req.find(http::field::origin);
        origin != req.end() && !origin_permitted(lc, settings, origin->value(), req[http::field::host]))
        co_await refuse(ws.next_layer(), http::status::forbidden, req.version(),
                        "origin " + std::string(origin->value()) + " is not allowed");
    if (lc.trust_x_forwarded_for) {
        const auto xff = field_values(req, std::string_view("X-Forwarded-For"));
        const auto fwd = field_values(req, http::field::forwarded);
        if (auto client = forwarded_client(xff, fwd)) remote = *client;
    }
    const std::string subprotocol = choose_subprotocol(req);
    if (subprotocol.empty())
        co_await refuse(ws.next_layer(), http::status::bad_request, req.version(),
                        "Sec-WebSocket-Protocol must offer one of mqtt, mqttv3.1, mqttv3.1.1, mqttv5");
    ws.set_option(websocket::stream_base::decorator([subprotocol](websocket::response_type& res) {
        res.set(http::field::sec_websocket_protocol, subprotocol);
        res.set(http::field::server, "moth");
    }));
    stream.max_message_size(lc.max_frame_size);
    co_await ws.async_accept(req, asio::use_awaitable);  // Beast checks the rest (key, version) and answers
}

template <class Next>
asio::awaitable<void> ws_accept(net::WsServerStream<Next>& stream, const ListenerContext& lc,
                                const ListenerContext::Reloadable& settings, std::string& remote) {
    auto& ws = stream.websocket();
    beast::flat_buffer buffer;
    http::request_parser<http::empty_body> parser;
    parser.header_limit(8 * 1024);
    boost::system::error_code ec;
    co_await http::async_read(ws.next_layer(), buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
        // Beast's HTTP errors other than "the peer went away" mean: not HTTP at all (a TLS ClientHello on a ws
        // port, MQTT bytes, garbage) or a malformed request. Those get a 400; transport errors just end.
        const bool malformed = ec.category() == http::make_error_code(http::error::bad_method).category() &&
                               ec != http::error::end_of_stream && ec != http::error::partial_message;
        if (!malformed) throw boost::system::system_error(ec);
        co_await refuse(ws.next_layer(), http::status::bad_request, 11,
                        "not an HTTP WebSocket upgrade request (" + ec.message() + ")");
    }
    const auto req = parser.release();
    const std::string_view target = req.target();
    if (target.substr(0, target.find('?')) != lc.ws_path)
        co_await refuse(ws.next_layer(), http::status::not_found, req.version(),
                        "no WebSocket endpoint at " + std::string(target) + " (MQTT is at " + lc.ws_path + ")");
    co_await ws_accept_request(stream, lc, settings, req, remote);
    // Frames a client sent without waiting for the 101 were read along with the request.
    const auto rest = buffer.data();
    stream.preload(std::span<const std::byte>(static_cast<const std::byte*>(rest.data()), rest.size()));
}

template asio::awaitable<void> ws_accept_request(net::WsServerStream<net::TcpSocket>&, const ListenerContext&,
                                                 const ListenerContext::Reloadable&,
                                                 const http::request<http::empty_body>&, std::string&);
template asio::awaitable<void> ws_accept_request(net::WsServerStream<net::TlsSocket>&, const ListenerContext&,
                                                 const ListenerContext::Reloadable&,
                                                 const http::request<http::empty_body>&, std::string&);
template asio::awaitable<void> ws_accept(net::WsServerStream<net::TcpSocket>&, const ListenerContext&,
                                         const ListenerContext::Reloadable&, std::string&);
template asio::awaitable<void> ws_accept(net::WsServerStream<net::TlsSocket>&, const ListenerContext&,
                                         const ListenerContext::Reloadable&, std::string&);

}  // namespace moth::server::detail
