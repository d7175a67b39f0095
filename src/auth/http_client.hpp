#pragma once
// A small HTTP/1.1 client for the authentication hook (src/auth/http_provider.hpp): POSTs JSON to http:// or
// https:// URLs over kept-alive connections, on one thread of its own, so that the broker's workers never wait
// for a hook. DNS, connect, TLS and the exchange all run on that thread.
//
// Thread safety: post() may be called from any thread. Every `done` is called exactly once, on the client's own
// thread (or, while the client shuts down, inside the destructor's call chain with error "shutting down").
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace moth::auth {

struct HttpUrl {
    bool tls = false;  // https
    std::string host;  // a name, an IPv4 literal or an IPv6 literal without its brackets
    std::uint16_t port = 0;
    std::string target = "/";  // path and query, as sent in the request line

    // http:// and https:// only (case-insensitive scheme); default ports 80/443; "[2001:db8::1]:8080" for IPv6.
    // nullopt with `error` saying why ("unsupported scheme 'ftp'", "bad port '99999'").
    [[nodiscard]] static std::optional<HttpUrl> parse(std::string_view text, std::string& error);
    // "host:port", "[::1]:port": the pool key and the text of log lines.
    [[nodiscard]] std::string authority() const;
    bool operator==(const HttpUrl&) const = default;
};

// An exchange's outcome. `error` non-empty: no response came ("timeout", "connection refused", "shutting down",
// "queue full", a TLS error's text); status and body are then empty.
struct HttpResponse {
    int status = 0;
    std::string body;
    std::string error;
};

// What the provider needs of a client: tests put a fake in its place.
class HttpPoster {
public:
    virtual ~HttpPoster() = default;
    // POST `body` (application/json) to `url`; `done` is called exactly once with the outcome.
    virtual void post(const HttpUrl& url, std::string body, std::function<void(HttpResponse)> done) = 0;
};

class HttpClient final : public HttpPoster {
public:
    using Response = HttpResponse;
    struct Options {
        std::string ca_file;    // https: the CA bundle servers must chain to; empty: the system's default paths
        std::string cert_file;  // https: a client certificate to present (optional)
        std::string key_file;   // its key; empty: looked for in cert_file
        std::chrono::milliseconds timeout{5000};  // per request, from post(): queueing, DNS, connect, TLS, write, read
        std::size_t max_connections = 8;          // open connections per scheme+host+port
        std::size_t max_queue = 10'000;           // requests waiting for a connection per host; beyond: "queue full"
        std::size_t max_body = 1 << 20;           // a longer response body is an error
    };

    // Throws std::runtime_error("<file>: <message>") when a TLS file cannot be loaded. Starts the thread.
    explicit HttpClient(Options options);
    // Answers every request not yet answered with "shutting down", then joins the thread. When the last reference
    // is dropped on the client's own thread (inside a `done`), the thread is detached instead and ends by itself.
    ~HttpClient() override;
    HttpClient(const HttpClient&) = delete;
    HttpClient& operator=(const HttpClient&) = delete;

    void post(const HttpUrl& url, std::string body, std::function<void(Response)> done) override;

    struct Impl;  // http_client.cpp

private:
    std::shared_ptr<Impl> impl_;
};

}  // namespace moth::auth
