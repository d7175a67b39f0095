// HttpClient: one io_context on one thread; per scheme+host+port a pool of at most max_connections kept-alive
// connections and a bounded queue of requests waiting for one. Every request has one deadline (a timer started at
// post()); when it fires the request is answered "timeout" at once and whatever it was using (a place in the queue,
// a connection being resolved, connected or read) is given up. Everything below runs on the client's thread.
#include "auth/http_client.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <deque>
#include <map>
#include <stdexcept>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

namespace moth::auth {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace http = boost::beast::http;
using boost::system::error_code;
using tcp = asio::ip::tcp;
constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); });
    return out;
}

bool is_ip_literal(const std::string& host) {
    error_code ec;
    (void)asio::ip::make_address(host, ec);
    return !ec;
}

bool set_sni(SSL* handle, const std::string& name) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wold-style-cast"  // the OpenSSL macro casts
    return SSL_set_tlsext_host_name(handle, name.c_str()) == 1;
#pragma GCC diagnostic pop
}

// The text a caller sees for a transport error: short and stable for the common cases.
std::string describe(const error_code& ec) {
    if (ec == asio::error::connection_refused) return "connection refused";
    if (ec == asio::error::timed_out) return "timeout";
    if (ec == http::error::end_of_stream || ec == asio::error::eof) return "connection closed by the server";
    if (ec == http::error::body_limit) return "response body too large";
    if (ec.category() == asio::error::get_ssl_category()) return "TLS: " + ec.message();
    return ec.message();
}

struct Conn {
    Conn(asio::io_context& io_context, ssl::context* tls_context)
        : io(io_context), tls(tls_context), resolver(io_context) {
        renew();
    }
    // A fresh socket (and TLS state): a connection is connected once; a stale kept-alive one is replaced.
    void renew() {
        if (tls != nullptr) {
            tls_stream.emplace(io, *tls);
        } else {
            plain.emplace(io);
        }
        buffer.clear();
        connected = false;
        closed = false;
        reused = false;
    }
    tcp::socket& socket() { return tls != nullptr ? tls_stream->next_layer() : *plain; }
    // Ends every operation in progress (they complete with an error); the connection is not used again.
    void close() {
        closed = true;
        resolver.cancel();
        error_code ignored;
        socket().close(ignored);
    }

    asio::io_context& io;
    ssl::context* tls;
    tcp::resolver resolver;
    std::optional<tcp::socket> plain;
    std::optional<ssl::stream<tcp::socket>> tls_stream;
    boost::beast::flat_buffer buffer;
    bool connected = false;
    bool closed = false;
    bool reused = false;  // has answered a request: the server may have closed it since
};

struct Pool;

struct Request {
    Request(asio::io_context& io, const HttpUrl& u, std::string b, std::function<void(HttpResponse)> d)
        : url(u), body(std::move(b)), done(std::move(d)), timer(io) {}
    // Only reached with `done` set when the io_context was destroyed before the request was even accepted
    // (posted while the client was being destroyed): the promise of one answer still holds.
    ~Request() {
        if (done) done(HttpResponse{0, {}, "shutting down"});
    }
    Request(const Request&) = delete;
    Request& operator=(const Request&) = delete;

    HttpUrl url;
    std::string body;
    std::function<void(HttpResponse)> done;  // empty once answered
    asio::steady_timer timer;
    Pool* pool = nullptr;
    std::weak_ptr<Conn> conn;  // while a connection works for it
};

struct Pool {
    HttpUrl origin;  // tls, host and port
    std::deque<std::shared_ptr<Request>> queue;
    std::vector<std::shared_ptr<Conn>> idle;
    std::size_t open = 0;  // connections connecting, busy or idle
};

// One exchange's outcome on a connection.
struct Exchange {
    error_code ec;
    bool stale = false;  // failed before any of the response arrived: a kept-alive connection the server closed
    int status = 0;
    std::string body;
    bool keep_alive = false;
};

template <class Stream>
asio::awaitable<Exchange> round_trip(Stream& stream, boost::beast::flat_buffer& buffer,
                                     http::request<http::string_body>& request, std::size_t max_body) {
    auto [write_ec, written] = co_await http::async_write(stream, request, kAsTuple);
    if (write_ec) co_return Exchange{write_ec, true, 0, {}, false};
    http::response_parser<http::string_body> parser;
    parser.body_limit(max_body);
    auto [read_ec, read] = co_await http::async_read(stream, buffer, parser, kAsTuple);
    if (read_ec) {
        const bool stale =
            read == 0 && (read_ec == http::error::end_of_stream || read_ec == asio::error::eof ||
                          read_ec == asio::error::connection_reset || read_ec == ssl::error::stream_truncated);
        co_return Exchange{read_ec, stale, 0, {}, false};
    }
    auto response = parser.release();
    const bool keep = response.keep_alive();
    co_return Exchange{{}, false, static_cast<int>(response.result_int()), std::move(response.body()), keep};
}

}  // namespace

// ---- HttpUrl ----

std::optional<HttpUrl> HttpUrl::parse(std::string_view text, std::string& error) {
    HttpUrl url;
    const auto scheme_end = text.find("://");
    if (scheme_end == std::string_view::npos) {
        error = "'" + std::string(text) + "' is not a URL (expected http://host[:port]/path)";
        return std::nullopt;
    }
    const std::string scheme = lower(text.substr(0, scheme_end));
    if (scheme != "http" && scheme != "https") {
        error = "unsupported scheme '" + scheme + "' (expected http or https)";
        return std::nullopt;
    }
    url.tls = scheme == "https";
    const std::string_view rest = text.substr(scheme_end + 3);
    const auto authority_end = rest.find_first_of("/?#");
    const std::string_view authority = rest.substr(0, authority_end);
    std::string_view target = authority_end == std::string_view::npos ? "" : rest.substr(authority_end);
    target = target.substr(0, target.find('#'));
    if (authority.find('@') != std::string_view::npos) {
        error = "user information in the URL is not supported";
        return std::nullopt;
    }
    std::string_view port_text;
    bool has_port = false;
    if (authority.starts_with('[')) {
        const auto close = authority.find(']');
        if (close == std::string_view::npos) {
            error = "unterminated IPv6 literal";
            return std::nullopt;
        }
        url.host = std::string(authority.substr(1, close - 1));
        error_code ec;
        (void)asio::ip::make_address_v6(url.host, ec);
        if (ec) {
            error = "bad IPv6 address '" + url.host + "'";
            return std::nullopt;
        }
        const std::string_view after = authority.substr(close + 1);
        if (!after.empty() && after[0] != ':') {
            error = "unexpected '" + std::string(after) + "' after the IPv6 address";
            return std::nullopt;
        }
        has_port = !after.empty();
        if (has_port) port_text = after.substr(1);
    } else {
        const auto colon = authority.find(':');
        if (colon != authority.rfind(':')) {
            error = "an IPv6 address must be written in brackets: http://[::1]:8080/";
            return std::nullopt;
        }
        url.host = std::string(authority.substr(0, colon));
        has_port = colon != std::string_view::npos;
        if (has_port) port_text = authority.substr(colon + 1);
    }
    if (url.host.empty()) {
        error = "no host in '" + std::string(text) + "'";
        return std::nullopt;
    }
    url.port = url.tls ? 443 : 80;
    if (has_port) {
        unsigned value = 0;
        const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
        if (ec != std::errc{} || end != port_text.data() + port_text.size() || value == 0 || value > 65535) {
            error = "bad port '" + std::string(port_text) + "'";
            return std::nullopt;
        }
        url.port = static_cast<std::uint16_t>(value);
    }
    url.target = target.empty() ? "/" : target.starts_with('?') ? "/" + std::string(target) : std::string(target);
    return url;
}

std::string HttpUrl::authority() const {
    const bool v6 = host.find(':') != std::string::npos;
    return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

// ---- the client ----

struct HttpClient::Impl {
    explicit Impl(Options o) : options(std::move(o)) { load_tls_files(); }

    void load_tls_files();
    void run();
    void accept(const std::shared_ptr<Request>& request);
    void on_timeout(const std::shared_ptr<Request>& request);
    void finish(const std::shared_ptr<Request>& request, HttpResponse response);
    void dispatch(Pool& pool);
    asio::awaitable<void> serve(Pool& pool, std::shared_ptr<Conn> conn, std::shared_ptr<Request> request);
    asio::awaitable<bool> exchange(Pool& pool, const std::shared_ptr<Conn>& connection,
                                   const std::shared_ptr<Request>& request);
    asio::awaitable<std::string> connect(const HttpUrl& origin, Conn& conn);
    asio::awaitable<std::string> tls_handshake(const HttpUrl& origin, Conn& conn);
    void shutdown();

    Options options;
    // Declared before the io_context: streams still held by handlers the io_context destroys refer to it.
    ssl::context tls{ssl::context::tls_client};
    asio::io_context io{1};
    asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
    std::atomic<bool> stopping{false};
    std::map<std::string, std::unique_ptr<Pool>> pools;
    std::unordered_set<std::shared_ptr<Request>> live;  // accepted and not yet answered
    std::thread thread;
};

void HttpClient::Impl::load_tls_files() {
    error_code ec;
    tls.set_options(ssl::context::default_workarounds | ssl::context::no_compression);
    SSL_CTX_set_min_proto_version(tls.native_handle(), TLS1_2_VERSION);
    tls.set_verify_mode(ssl::verify_peer);
    if (!options.ca_file.empty()) {
        tls.load_verify_file(options.ca_file, ec);
        if (ec) throw std::runtime_error(options.ca_file + ": " + ec.message());
    } else {
        tls.set_default_verify_paths(ec);
        if (ec) throw std::runtime_error("system CA paths: " + ec.message());
    }
    if (!options.key_file.empty() && options.cert_file.empty())
        throw std::runtime_error(options.key_file + ": a key file needs a certificate file (cert_file)");
    if (options.cert_file.empty()) return;
    tls.use_certificate_chain_file(options.cert_file, ec);
    if (ec) throw std::runtime_error(options.cert_file + ": " + ec.message());
    // A PEM holding both certificate and key is common; without a key file, look in the certificate file.
    const std::string& key = options.key_file.empty() ? options.cert_file : options.key_file;
    tls.use_private_key_file(key, ssl::context::pem, ec);
    if (ec) throw std::runtime_error(key + ": " + ec.message());
}

void HttpClient::Impl::run() {
    for (;;) {
        try {
            io.run();
            return;
        } catch (const std::exception&) {  // NOLINT(bugprone-empty-catch)
            // A caller's `done` threw: that is its bug; the other requests are still owed their answers.
        }
    }
}

void HttpClient::Impl::accept(const std::shared_ptr<Request>& request) {
    if (stopping) {
        finish(request, HttpResponse{0, {}, "shutting down"});
        return;
    }
    const std::string key = (request->url.tls ? "https://" : "http://") + request->url.authority();
    auto& slot = pools[key];
    if (!slot) {
        slot = std::make_unique<Pool>();
        slot->origin = request->url;
    }
    Pool& pool = *slot;
    if (pool.queue.size() >= options.max_queue) {
        finish(request, HttpResponse{0, {}, "queue full"});
        return;
    }
    live.insert(request);
    request->pool = &pool;
    request->timer.expires_after(options.timeout);
    request->timer.async_wait([this, weak = std::weak_ptr<Request>(request)](const error_code& ec) {
        if (auto r = weak.lock(); r && !ec) on_timeout(r);
    });
    pool.queue.push_back(request);
    dispatch(pool);
}

void HttpClient::Impl::on_timeout(const std::shared_ptr<Request>& request) {
    if (!request->done) return;
    if (auto conn = request->conn.lock()) {
        conn->close();  // its coroutine resumes with an error, finds the request answered and drops the connection
    } else if (request->pool != nullptr) {
        std::erase(request->pool->queue, request);
    }
    finish(request, HttpResponse{0, {}, "timeout"});
}

void HttpClient::Impl::finish(const std::shared_ptr<Request>& request, HttpResponse response) {
    if (!request->done) return;
    auto done = std::move(request->done);
    request->done = nullptr;
    request->timer.cancel();
    request->conn.reset();
    live.erase(request);
    done(std::move(response));  // last: it may destroy the client (see ~HttpClient)
}

void HttpClient::Impl::dispatch(Pool& pool) {
    while (!pool.queue.empty() && !stopping) {
        std::shared_ptr<Conn> conn;
        if (!pool.idle.empty()) {
            conn = std::move(pool.idle.back());
            pool.idle.pop_back();
        } else if (pool.open < options.max_connections) {
            conn = std::make_shared<Conn>(io, pool.origin.tls ? &tls : nullptr);
            ++pool.open;
        } else {
            return;  // every connection is busy: the request waits for one to finish
        }
        auto request = std::move(pool.queue.front());
        pool.queue.pop_front();
        asio::co_spawn(io, serve(pool, std::move(conn), std::move(request)), asio::detached);
    }
}

// Works through requests on one connection until the queue is empty (then the connection waits in `idle`) or the
// connection cannot be used again.
asio::awaitable<void> HttpClient::Impl::serve(Pool& pool, std::shared_ptr<Conn> conn,
                                              std::shared_ptr<Request> request) {
    for (;;) {
        bool keep = false;
        try {
            keep = co_await exchange(pool, conn, request);
        } catch (const std::exception& e) {
            finish(request, HttpResponse{0, {}, e.what()});
        }
        if (!keep || stopping) {
            conn->close();
            --pool.open;
            dispatch(pool);
            co_return;
        }
        if (pool.queue.empty()) {
            pool.idle.push_back(std::move(conn));
            co_return;
        }
        request = std::move(pool.queue.front());
        pool.queue.pop_front();
    }
}

// One request on `conn` (connecting it first when needed). Returns whether the connection may serve another.
asio::awaitable<bool> HttpClient::Impl::exchange(Pool& pool, const std::shared_ptr<Conn>& connection,
                                                 const std::shared_ptr<Request>& request) {
    Conn& conn = *connection;
    if (!request->done) co_return conn.connected;  // answered (timed out) while it waited
    request->conn = connection;
    http::request<http::string_body> out{http::verb::post, request->url.target, 11};
    const bool default_port = request->url.port == (request->url.tls ? 443 : 80);
    const std::string& host = request->url.host;
    const std::string bracketed = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    out.set(http::field::host, default_port ? bracketed : request->url.authority());
    out.set(http::field::user_agent, "moth");
    out.set(http::field::content_type, "application/json");
    out.keep_alive(true);
    out.body() = request->body;
    out.prepare_payload();
    Exchange result;
    // A kept-alive connection the server has closed fails before any answer: once, try again on a fresh one.
    for (int attempt = 0; attempt < 2; ++attempt) {
        if (!conn.connected) {
            const std::string error = co_await connect(pool.origin, conn);
            if (!request->done) co_return false;
            if (!error.empty()) {
                finish(request, HttpResponse{0, {}, error});
                co_return false;
            }
        }
        const bool was_reused = conn.reused;
        if (conn.tls_stream) {
            result = co_await round_trip(*conn.tls_stream, conn.buffer, out, options.max_body);
        } else {
            result = co_await round_trip(*conn.plain, conn.buffer, out, options.max_body);
        }
        if (!request->done) co_return false;
        if (!(result.ec && result.stale && was_reused)) break;
        conn.close();
        conn.renew();
    }
    if (result.ec) {
        finish(request, HttpResponse{0, {}, describe(result.ec)});
        co_return false;
    }
    conn.reused = true;
    finish(request, HttpResponse{result.status, std::move(result.body), {}});
    co_return result.keep_alive;
}

asio::awaitable<std::string> HttpClient::Impl::connect(const HttpUrl& origin, Conn& conn) {
    auto [resolve_ec, endpoints] = co_await conn.resolver.async_resolve(origin.host, std::to_string(origin.port),
                                                                        tcp::resolver::numeric_service, kAsTuple);
    if (conn.closed) co_return "cancelled";
    if (resolve_ec) co_return "resolve " + origin.host + ": " + resolve_ec.message();
    // Tries every address in turn (::1, then 127.0.0.1 for "localhost").
    auto [connect_ec, endpoint] = co_await asio::async_connect(conn.socket(), endpoints, kAsTuple);
    if (conn.closed) co_return "cancelled";
    if (connect_ec) {
        if (connect_ec == asio::error::connection_refused) co_return "connection refused";
        co_return "connect to " + origin.authority() + ": " + connect_ec.message();
    }
    error_code ignored;  // an optimisation; a socket that refuses it still works
    conn.socket().set_option(tcp::no_delay(true), ignored);
    if (conn.tls_stream) {
        std::string error = co_await tls_handshake(origin, conn);
        if (!error.empty()) co_return error;
    }
    conn.connected = true;
    co_return std::string{};
}

asio::awaitable<std::string> HttpClient::Impl::tls_handshake(const HttpUrl& origin, Conn& conn) {
    SSL* handle = conn.tls_stream->native_handle();
    // SNI carries host names only (RFC 6066 section 3), never address literals; the certificate is checked against
    // the name (or the address) in the URL.
    const bool literal = is_ip_literal(origin.host);
    if (!literal && !set_sni(handle, origin.host)) co_return "TLS: cannot set the server name " + origin.host;
    X509_VERIFY_PARAM* param = SSL_get0_param(handle);
    int ok = 0;
    if (literal) {
        ok = X509_VERIFY_PARAM_set1_ip_asc(param, origin.host.c_str());
    } else {
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        ok = X509_VERIFY_PARAM_set1_host(param, origin.host.c_str(), origin.host.size());
    }
    if (ok != 1) co_return "TLS: cannot verify against the name " + origin.host;
    auto [ec] = co_await conn.tls_stream->async_handshake(ssl::stream_base::client, kAsTuple);
    if (conn.closed) co_return "cancelled";
    if (!ec) co_return std::string{};
    std::string what = "TLS handshake with " + origin.authority() + ": " + ec.message();
    const long verify = SSL_get_verify_result(handle);
    if (verify != X509_V_OK) {
        what += ": ";
        what += X509_verify_cert_error_string(verify);
    }
    co_return what;
}

void HttpClient::Impl::shutdown() {
    stopping = true;
    const std::vector<std::shared_ptr<Request>> requests(live.begin(), live.end());
    for (const auto& request : requests) {
        if (auto conn = request->conn.lock()) conn->close();
        finish(request, HttpResponse{0, {}, "shutting down"});
    }
    for (auto& [key, pool] : pools) {
        for (auto& conn : pool->idle) conn->close();
        pool->idle.clear();
        pool->queue.clear();
    }
    work.reset();
    io.stop();
}

HttpClient::HttpClient(Options options) : impl_(std::make_shared<Impl>(std::move(options))) {
    // The thread holds the state too: when the client is destroyed on that thread, the thread outlives it.
    impl_->thread = std::thread([impl = impl_] { impl->run(); });
}

HttpClient::~HttpClient() {
    const auto impl = std::move(impl_);
    impl->stopping = true;
    if (std::this_thread::get_id() == impl->thread.get_id()) {
        // Inside a `done` on the client's thread: answer the rest now; run() returns when that handler does,
        // and the thread, holding the last reference, frees the state.
        impl->shutdown();
        impl->thread.detach();
        return;
    }
    asio::post(impl->io, [raw = impl.get()] { raw->shutdown(); });
    impl->thread.join();
}

void HttpClient::post(const HttpUrl& url, std::string body, std::function<void(Response)> done) {
    if (impl_->stopping) {  // only from a `done` answered by the shutdown itself
        done(Response{0, {}, "shutting down"});
        return;
    }
    auto request = std::make_shared<Request>(impl_->io, url, std::move(body), std::move(done));
    asio::post(impl_->io, [raw = impl_.get(), request] { raw->accept(request); });
}

}  // namespace moth::auth
