// Client connections over TCP, TLS, WebSocket and secure WebSocket, and the streams that carry them.
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <functional>
#include <optional>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/system/system_error.hpp>

#include "net/stream_util.hpp"
#include "net/transport.hpp"

namespace moth::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
namespace ssl = boost::asio::ssl;
using boost::system::error_code;
using boost::system::system_error;

namespace {

using detail::close_socket;
using detail::Error;
using detail::kCloseTimeout;
using detail::remote_of;
using detail::to_buffer;
using detail::with_timeout;

bool is_ip_literal(const std::string& host) {
    error_code ec;
    (void)asio::ip::make_address(host, ec);
    return !ec;
}

std::string host_without_zone(const std::string& host) {
    return host.substr(0, host.find('%'));
}

bool set_sni(SSL* handle, const std::string& name) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wold-style-cast"  // the OpenSSL macro casts
    return SSL_set_tlsext_host_name(handle, name.c_str()) == 1;
#pragma GCC diagnostic pop
}

// ---- the steps of connect() ----

asio::awaitable<asio::ip::tcp::resolver::results_type> resolve(asio::ip::tcp::resolver& resolver, const Url& url) {
    try {
        co_return co_await resolver.async_resolve(url.host, std::to_string(url.port),
                                                  asio::ip::tcp::resolver::numeric_service, asio::use_awaitable);
    } catch (const system_error& e) {
        throw Error(e.code(), "resolve " + url.host);
    }
}

asio::awaitable<void> tcp_connect(TcpSocket& socket, const asio::ip::tcp::resolver::results_type& endpoints,
                                  const ConnectSettings& settings) {
    const auto& url = settings.url;
    try {
        // Tries every resolved address in turn (e.g. ::1 then 127.0.0.1 for "localhost").
        co_await asio::async_connect(socket, endpoints, asio::use_awaitable);
    } catch (const system_error& e) {
        throw Error(e.code(), "connect to " + format_host_port(url.host, url.port));
    }
    if (settings.tcp_nodelay) {
        error_code ignored;  // an optimisation; a socket that refuses it still works
        socket.set_option(asio::ip::tcp::no_delay(true), ignored);
    }
}

asio::awaitable<void> tls_handshake(TlsSocket& tls, const ConnectSettings& settings) {
    const auto& url = settings.url;
    const auto& options = settings.tls;
    const std::string name = options.sni.empty() ? url.host : options.sni;
    SSL* handle = tls.native_handle();
    // SNI carries host names only (RFC 6066 section 3), never address literals.
    if (!name.empty() && !is_ip_literal(name) && !set_sni(handle, name))
        throw Error(error_code(static_cast<int>(::ERR_get_error()), asio::error::get_ssl_category()),
                    "TLS: set server name '" + name + "'");
    if (options.insecure) {
        tls.set_verify_mode(ssl::verify_none);
    } else {
        tls.set_verify_mode(ssl::verify_peer);
        // OpenSSL's own host check (rather than asio::ssl::host_name_verification as a callback) so that a
        // mismatch is reported as such by SSL_get_verify_result ("hostname mismatch"), not as a bare failure.
        X509_VERIFY_PARAM* param = SSL_get0_param(handle);
        int ok = 0;
        if (is_ip_literal(host_without_zone(name))) {
            ok = X509_VERIFY_PARAM_set1_ip_asc(param, host_without_zone(name).c_str());
        } else {
            X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            ok = X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
        }
        if (ok != 1)
            throw Error(error_code(static_cast<int>(::ERR_get_error()), asio::error::get_ssl_category()),
                        "TLS: set the name to verify '" + name + "'");
    }
    try {
        co_await tls.async_handshake(ssl::stream_base::client, asio::use_awaitable);
    } catch (const system_error& e) {
        std::string what = "TLS handshake with " + format_host_port(url.host, url.port);
        const long verify = SSL_get_verify_result(handle);
        if (verify != X509_V_OK) {
            what += ": ";
            what += X509_verify_cert_error_string(verify);
        }
        throw Error(e.code(), what);
    }
}

template <class Next>
asio::awaitable<void> ws_handshake(websocket::stream<Next>& ws, const ConnectSettings& settings) {
    const auto& url = settings.url;
    ws.set_option(
        websocket::stream_base::decorator([subprotocol = settings.ws_subprotocol](websocket::request_type& request) {
            if (!subprotocol.empty()) request.set(beast::http::field::sec_websocket_protocol, subprotocol);
            request.set(beast::http::field::user_agent, "moth");
        }));
    websocket::response_type response;
    try {
        co_await ws.async_handshake(response, format_host_port(url.host, url.port), url.path, asio::use_awaitable);
    } catch (const system_error& e) {
        std::string what = "WebSocket upgrade to " + to_string(url);
        if (e.code() == websocket::error::upgrade_declined) {
            what += ": HTTP " + std::to_string(response.result_int());
            if (!response.reason().empty()) what += " " + std::string(response.reason());
        }
        throw Error(e.code(), what);
    }
}

}  // namespace

std::string format_host_port(std::string_view host, std::uint16_t port) {
    std::string out;
    if (host.find(':') != std::string_view::npos) {
        out += '[';
        out += host;
        out += ']';
    } else {
        out += host;
    }
    out += ':';
    out += std::to_string(port);
    return out;
}

std::string format_endpoint(const asio::ip::tcp::endpoint& ep) {
    return format_host_port(ep.address().to_string(), ep.port());
}

std::shared_ptr<ssl::context> make_client_tls_context(const TlsOptions& options) {
    auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
    SSL_CTX* handle = context->native_handle();
    int min_version = TLS1_2_VERSION;
    if (options.version == "tlsv1.3") {
        min_version = TLS1_3_VERSION;
    } else if (!options.version.empty() && options.version != "tlsv1.2") {
        throw Error(asio::error::invalid_argument,
                    "TLS: unsupported version '" + options.version + "' (expected tlsv1.2 or tlsv1.3)", nullptr);
    }
    SSL_CTX_set_min_proto_version(handle, min_version);
    context->set_options(ssl::context::default_workarounds | ssl::context::no_compression);

    const auto load = [](const std::string& what, const std::string& file, auto&& fn) {
        error_code ec;
        fn(ec);
        if (ec) throw Error(ec, "TLS: load " + what + " '" + file + "'");
    };
    if (!options.ca_file.empty())
        load("CA file", options.ca_file, [&](error_code& ec) { context->load_verify_file(options.ca_file, ec); });
    if (!options.ca_path.empty())
        load("CA path", options.ca_path, [&](error_code& ec) { context->add_verify_path(options.ca_path, ec); });
    if (options.ca_file.empty() && options.ca_path.empty())
        load("system CA paths", "", [&](error_code& ec) { context->set_default_verify_paths(ec); });
    if (!options.key_file.empty() && options.cert_file.empty())
        throw Error(asio::error::invalid_argument, "TLS: a key file needs a certificate file", nullptr);
    if (!options.cert_file.empty()) {
        load("certificate", options.cert_file,
             [&](error_code& ec) { context->use_certificate_chain_file(options.cert_file, ec); });
        // A PEM holding both certificate and key is common; without a key file, look in the certificate file.
        const auto& key = options.key_file.empty() ? options.cert_file : options.key_file;
        load("private key", key, [&](error_code& ec) { context->use_private_key_file(key, ssl::context::pem, ec); });
    }
    return context;
}

// ---- TcpStream ----

asio::awaitable<std::size_t> TcpStream::read_some(std::span<std::byte> buffer) {
    co_return co_await socket_.async_read_some(to_buffer(buffer), asio::use_awaitable);
}

asio::awaitable<void> TcpStream::write(std::span<const std::byte> bytes) {
    co_await asio::async_write(socket_, to_buffer(bytes), asio::use_awaitable);
}

asio::awaitable<void> TcpStream::close() {
    (void)remote();
    error_code ignored;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    close_socket(socket_);
    co_return;
}

void TcpStream::cancel() noexcept {
    try {
        (void)remote();
    } catch (...) {  // only the cache's allocation can throw; the socket is closed all the same
    }
    close_socket(socket_);
}

std::string TcpStream::remote() const {
    return remote_of(socket_, remote_);
}

int TcpStream::release() noexcept { return detail::release_socket(socket_); }

// ---- TlsStream ----

asio::awaitable<std::size_t> TlsStream::read_some(std::span<std::byte> buffer) {
    co_return co_await tls_.async_read_some(to_buffer(buffer), asio::use_awaitable);
}

asio::awaitable<void> TlsStream::write(std::span<const std::byte> bytes) {
    co_await asio::async_write(tls_, to_buffer(bytes), asio::use_awaitable);
}

asio::awaitable<void> TlsStream::close() {
    co_await say_goodbye();
    close_socket(tls_.next_layer());
}

asio::awaitable<void> TlsStream::say_goodbye() {
    (void)remote();
    if (tls_.lowest_layer().is_open()) {
        try {
            co_await with_timeout(
                tls_.async_shutdown(asio::use_awaitable), kCloseTimeout, [this] { cancel(); }, "TLS shutdown");
        } catch (const system_error&) {
            // The peer closed first or never answered: the caller closes the socket either way.
        }
    }
}

void TlsStream::cancel() noexcept {
    try {
        (void)remote();
    } catch (...) {
    }
    close_socket(tls_.next_layer());
}

std::string TlsStream::remote() const {
    return remote_of(tls_.next_layer(), remote_);
}

int TlsStream::release() noexcept { return detail::release_socket(tls_.next_layer()); }

// ---- WsStream ----

template <class Next>
void WsStream<Next>::configure() {
    ws_.binary(true);
    // One write, one frame: brokers and browsers cope with either, but one frame is what the write asked for.
    ws_.auto_fragment(false);
    // read_some hands out bytes as they arrive, never holding a whole message, so no message size limit here:
    // the MQTT layer enforces its own maximum packet size.
    ws_.read_message_max(0);
    // Timeouts are ours (connect's overall timeout, close's short one), not Beast's.
    ws_.set_option(
        websocket::stream_base::timeout{websocket::stream_base::none(), websocket::stream_base::none(), false});
}

template <class Next>
asio::awaitable<std::size_t> WsStream<Next>::read_some(std::span<std::byte> buffer) {
    if (buffer.empty()) co_return 0;
    for (;;) {
        std::size_t n = 0;
        try {
            n = co_await ws_.async_read_some(to_buffer(buffer), asio::use_awaitable);
        } catch (const system_error& e) {
            // A close frame is the WebSocket's orderly end of stream.
            if (e.code() == websocket::error::closed)
                throw Error(asio::error::eof, "WebSocket closed by the peer", nullptr);
            throw;
        }
        if (ws_.got_text()) {
            // MQTT travels in binary frames only; anything else closes the connection (MQTT 5.0 section 6),
            // with 1003 "cannot accept this type of data".
            try {
                co_await with_timeout(
                    ws_.async_close(websocket::close_code::unknown_data, asio::use_awaitable), kCloseTimeout,
                    [this] { cancel(); }, "WebSocket close");
            } catch (const system_error&) {
            }
            cancel();
            throw Error(asio::error::invalid_argument, "WebSocket text frame: MQTT needs binary frames", nullptr);
        }
        if (n > 0) co_return n;  // empty frames (or messages) carry nothing for the caller
    }
}

template <class Next>
asio::awaitable<void> WsStream<Next>::write(std::span<const std::byte> bytes) {
    co_await ws_.async_write(to_buffer(bytes), asio::use_awaitable);
}

template <class Next>
asio::awaitable<void> WsStream<Next>::close() {
    (void)remote();
    if (ws_.is_open()) {
        try {
            co_await with_timeout(
                ws_.async_close(websocket::close_code::normal, asio::use_awaitable), kCloseTimeout,
                [this] { cancel(); }, "WebSocket close");
        } catch (const system_error&) {
            // The peer went away first or never answered: the socket is closed below either way.
        }
    }
    close_socket(beast::get_lowest_layer(ws_));
}

template <class Next>
void WsStream<Next>::cancel() noexcept {
    try {
        (void)remote();
    } catch (...) {
    }
    close_socket(beast::get_lowest_layer(ws_));
}

template <class Next>
std::string WsStream<Next>::remote() const {
    return remote_of(beast::get_lowest_layer(ws_), remote_);
}

template <class Next>
int WsStream<Next>::release() noexcept {
    return detail::release_socket(beast::get_lowest_layer(ws_));
}

template class WsStream<TcpSocket>;
template class WsStream<TlsSocket>;

// ---- connect ----

asio::awaitable<std::unique_ptr<Stream>> connect(asio::any_io_executor ex, const ConnectSettings& settings_in) {
    // A copy: the caller's settings need not outlive the first suspension.
    const ConnectSettings settings = settings_in;
    const Url& url = settings.url;
    const bool secure = url.scheme == Scheme::Mqtts || url.scheme == Scheme::Wss;
    std::shared_ptr<ssl::context> context;
    if (secure) context = make_client_tls_context(settings.tls);

    // The stream is built first, in its final place, so that a timeout can close its socket at any step.
    std::unique_ptr<Stream> stream;
    TcpSocket* socket = nullptr;
    std::function<asio::awaitable<void>()> handshakes;
    // What a timeout reports as the step that did not finish.
    std::string step = "resolve " + url.host;
    switch (url.scheme) {
        case Scheme::Mqtt: {
            auto s = std::make_unique<TcpStream>(TcpSocket(ex));
            socket = &s->socket();
            handshakes = []() -> asio::awaitable<void> { co_return; };
            stream = std::move(s);
            break;
        }
        case Scheme::Mqtts: {
            auto s = std::make_unique<TlsStream>(TcpSocket(ex), context);
            socket = &s->tls().next_layer();
            handshakes = [tls = &s->tls(), &settings]() { return tls_handshake(*tls, settings); };
            stream = std::move(s);
            break;
        }
        case Scheme::Ws: {
            auto s = std::make_unique<WsStream<TcpSocket>>(nullptr, ex);
            socket = &s->websocket().next_layer();
            handshakes = [ws = &s->websocket(), &settings]() { return ws_handshake(*ws, settings); };
            stream = std::move(s);
            break;
        }
        case Scheme::Wss: {
            auto s = std::make_unique<WsStream<TlsSocket>>(context, ex, *context);
            socket = &s->websocket().next_layer().next_layer();
            handshakes = [ws = &s->websocket(), &settings, current_step = &step]() -> asio::awaitable<void> {
                co_await tls_handshake(ws->next_layer(), settings);
                *current_step = "WebSocket upgrade to " + to_string(settings.url);
                co_await ws_handshake(*ws, settings);
            };
            stream = std::move(s);
            break;
        }
    }

    asio::ip::tcp::resolver resolver(ex);
    auto steps = [&]() -> asio::awaitable<void> {
        const auto endpoints = co_await resolve(resolver, url);
        step = "connect to " + format_host_port(url.host, url.port);
        co_await tcp_connect(*socket, endpoints, settings);
        if (url.scheme != Scheme::Mqtt)
            step = url.scheme == Scheme::Ws ? "WebSocket upgrade to " + to_string(url)
                                            : "TLS handshake with " + format_host_port(url.host, url.port);
        co_await handshakes();
    };
    const auto on_timeout = [&] {
        resolver.cancel();
        stream->cancel();
    };
    co_await with_timeout(steps(), settings.timeout, on_timeout, step);
    co_return stream;
}

}  // namespace moth::net
