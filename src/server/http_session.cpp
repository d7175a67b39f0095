// The http listener's connections (see http_session.hpp): Beast's HTTP/1.1 parser and serializer around
// moth::http::Api, the Backend that gathers state from every worker, and the file work on the blocking pool.
#include "server/http_session.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <optional>
#include <sstream>
#include <system_error>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

namespace moth::server::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

// A request must arrive whole, and a response be taken, within this; an idle keep-alive connection is closed
// after it too.
constexpr auto kIoTimeout = std::chrono::seconds(10);
// State gathered from the workers must come back within this (it takes one loop turn of each worker).
constexpr auto kGatherTimeout = std::chrono::seconds(10);
constexpr std::size_t kHeaderLimit = 16 * 1024;  // request line and header fields; beyond: 431
// After refusing a request: how long, and how much, of what the client still sends is read and dropped.
constexpr auto kLingerTimeout = std::chrono::seconds(2);
constexpr std::size_t kLingerBytes = 4 * 1024 * 1024;

std::string read_file(const std::filesystem::path& p, std::error_code& ec) {
    std::ifstream in(p, std::ios::binary);
    if (!in) {
        ec = std::make_error_code(std::errc::no_such_file_or_directory);
        return {};
    }
    std::ostringstream out;
    out << in.rdbuf();
    if (in.bad()) ec = std::make_error_code(std::errc::io_error);
    return std::move(out).str();
}

// The Backend of one HTTP connection, on the worker `w_` that serves it. Every callback it makes runs on `w_`.
class WorkerBackend final : public http::Backend {
public:
    WorkerBackend(Worker& w, const HttpListenerContext& ctx) : w_(w), ctx_(ctx) {}

    http::StatsInfo stats() override {
        const broker::Shared& sh = *ctx_.shared;
        http::StatsInfo s;
        s.version = sh.version;
        s.uptime_s = static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::seconds>(broker::Clock::now() - sh.started).count());
        s.workers = sh.worker_count;
        const auto t = broker::sum(sh.stats);
        s.clients_connected = t.connections;
        s.sessions = t.sessions;
        s.subscriptions = t.subscriptions;
        s.messages_received = t.messages_received;
        s.messages_sent = t.messages_sent;
        s.bytes_received = t.bytes_received;
        s.bytes_sent = t.bytes_sent;
        s.messages_dropped = t.messages_dropped;
        s.connection_failures = t.connection_failures;
        s.auth_failures = t.auth_failures;
        s.denied = t.denied;
        s.throttled = t.throttled;
        s.rate_disconnects = t.rate_disconnects;
        s.connect_rate_refused = t.connect_rate_refused;
        s.banned_refused = t.banned_refused;
        if (sh.gate != nullptr) {
            s.flapping_bans = sh.gate->flapping_bans();
            s.bans = sh.gate->bans().size();
        }
        std::lock_guard lock(ctx_.shared->retained_mutex);
        s.retained = ctx_.shared->retained.size();
        return s;
    }

    void snapshot(broker::SnapshotQuery query, std::function<void(broker::CoreSnapshot)> done) override {
        // Each core answers on its own thread; the parts are merged here, on w_, so no lock is needed.
        struct Gather {
            broker::CoreSnapshot merged;
            unsigned remaining = 0;
            std::function<void(broker::CoreSnapshot)> done;
        };
        auto g = std::make_shared<Gather>();
        g->remaining = ctx_.shared->worker_count;
        g->done = std::move(done);
        Worker* home = &w_;
        for (unsigned i = 0; i < ctx_.shared->worker_count; ++i) {
            w_.post(i, [g, home, query](broker::Core& core, broker::TimePoint now) {
                auto part = core.snapshot(query, now);
                asio::post(home->ioc(), [g, part = std::move(part)]() mutable {
                    auto& m = g->merged;
                    std::move(part.clients.begin(), part.clients.end(), std::back_inserter(m.clients));
                    std::move(part.sessions.begin(), part.sessions.end(), std::back_inserter(m.sessions));
                    std::move(part.subscriptions.begin(), part.subscriptions.end(),
                              std::back_inserter(m.subscriptions));
                    for (const auto& [name, n] : part.connections_by_listener) m.connections_by_listener[name] += n;
                    if (--g->remaining == 0) g->done(std::move(m));
                });
            });
        }
    }

    std::vector<http::RetainedInfo> retained(std::string_view filter, std::size_t limit, bool& truncated) override {
        std::vector<broker::MessagePtr> found;
        {
            // Only references are taken under the lock; the copies for the answer are made after it.
            std::lock_guard lock(ctx_.shared->retained_mutex);
            ctx_.shared->retained.match(filter, [&](std::string_view, const broker::MessagePtr& m) {
                if (found.size() < limit) {
                    found.push_back(m);
                } else {
                    truncated = true;
                }
            });
        }
        std::vector<http::RetainedInfo> out;
        out.reserve(found.size());
        for (const auto& m : found) {
            out.push_back(http::RetainedInfo{m->topic, static_cast<std::uint8_t>(m->qos), m->payload, m->content_type});
        }
        return out;
    }

    std::vector<http::ListenerInfo> listeners() override {
        // This worker's copy of the configuration (runs on the worker's thread): a SIGHUP's allow_anonymous shows.
        const config::Config& cfg = w_.core().config();
        std::vector<http::ListenerInfo> out;
        for (const auto& b : ctx_.bound) {
            const auto it = std::find_if(cfg.listeners.begin(), cfg.listeners.end(),
                                         [&](const config::Listener& l) { return l.name == b.name; });
            const bool anonymous = it != cfg.listeners.end() && config::anonymous_allowed(*it, cfg.auth);
            out.push_back({b.name, std::string(config::to_string(b.kind)), b.address, b.port, anonymous});
        }
        return out;
    }

    void disconnect(std::string client_id, std::function<void(bool)> done) override {
        // The session lives on the worker its client id hashes to; asking every core keeps that rule in one place.
        struct Gather {
            bool found = false;
            unsigned remaining = 0;
            std::function<void(bool)> done;
        };
        auto g = std::make_shared<Gather>();
        g->remaining = ctx_.shared->worker_count;
        g->done = std::move(done);
        Worker* home = &w_;
        for (unsigned i = 0; i < ctx_.shared->worker_count; ++i) {
            w_.post(i, [g, home, client_id](broker::Core& core, broker::TimePoint now) {
                const bool found = core.disconnect_client(client_id, now);
                asio::post(home->ioc(), [g, found] {
                    g->found = g->found || found;
                    if (--g->remaining == 0) g->done(g->found);
                });
            });
        }
    }

    std::optional<std::string> publish(broker::BrokerPublish message) override {
        // This worker's own core, on its own thread: checked and routed like a PUBLISH from one of its clients.
        if (auto refused = w_.core().refuse_publish(message)) return refused;
        w_.core().publish(message, broker::Clock::now());
        w_.schedule_flush();
        return std::nullopt;
    }

    void load_dashboard(std::function<void(std::optional<std::string>, std::string)> done) override {
        const std::filesystem::path file = dashboard_file();
        on_pool(
            [file]() {
                std::error_code ec;
                if (!std::filesystem::exists(file, ec)) return std::pair<std::optional<std::string>, std::string>{};
                std::string text = read_file(file, ec);
                if (ec) return std::pair<std::optional<std::string>, std::string>{std::nullopt, ec.message()};
                return std::pair<std::optional<std::string>, std::string>{std::move(text), {}};
            },
            [done = std::move(done)](std::pair<std::optional<std::string>, std::string> r) {
                done(std::move(r.first), std::move(r.second));
            });
    }

    void save_dashboard(std::string json, std::function<void(std::string)> done) override {
        const std::filesystem::path file = dashboard_file();
        on_pool(
            [file, json = std::move(json)]() -> std::string {
                // Written beside and renamed over: a reader sees the old document or the new one, never half of one.
                std::error_code ec;
                std::filesystem::create_directories(file.parent_path(), ec);
                if (ec) return "cannot create " + file.parent_path().string() + ": " + ec.message();
                const std::filesystem::path tmp = file.string() + ".tmp";
                {
                    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
                    out.write(json.data(), static_cast<std::streamsize>(json.size()));
                    out.flush();
                    if (!out) return "cannot write " + tmp.string();
                }
                std::filesystem::rename(tmp, file, ec);
                if (ec) return "cannot rename " + tmp.string() + ": " + ec.message();
                return {};
            },
            done);
    }

    void read_static(std::string web_root, std::string path, std::function<void(std::optional<File>)> done) override {
        on_pool(
            [web_root = std::move(web_root), path = std::move(path)]() -> std::optional<File> {
                const auto real = http::resolve_static(web_root, path);
                if (!real) return std::nullopt;
                std::error_code ec;
                std::string content = read_file(*real, ec);
                if (ec) return std::nullopt;
                return File{*real, std::move(content)};
            },
            std::move(done));
    }

    // The Gate synchronizes itself (every worker asks it at each CONNECT), so the API may call it on this thread.
    broker::Gate* gate() override { return ctx_.shared->gate; }

    std::vector<http::GatewayInfo> gateways() override {
        return ctx_.gateways ? ctx_.gateways() : std::vector<http::GatewayInfo>{};
    }

    std::optional<broker::ClusterStatus> cluster() override {
        if (ctx_.shared->cluster == nullptr) return std::nullopt;
        return ctx_.shared->cluster->status();
    }

    std::vector<http::BridgeInfo> bridges() override {
        if (!ctx_.bridges) return {};
        std::lock_guard lock(ctx_.bridges->mutex);
        return ctx_.bridges->fn ? ctx_.bridges->fn() : std::vector<http::BridgeInfo>{};
    }

private:
    [[nodiscard]] std::filesystem::path dashboard_file() const {
        return std::filesystem::path(ctx_.data_dir) / "console" / "dashboard.json";
    }

    // Runs `work` on the blocking pool (one thread: file writes happen in order), then `then(result)` on w_.
    template <class Work, class Then>
    void on_pool(Work work, Then then) {
        Worker* home = &w_;
        asio::post(*ctx_.blocking, [home, work = std::move(work), then = std::move(then)]() mutable {
            auto result = work();
            asio::post(home->ioc(),
                       [then = std::move(then), result = std::move(result)]() mutable { then(std::move(result)); });
        });
    }

    Worker& w_;
    const HttpListenerContext& ctx_;
};

// What a reply posted back to this worker lands in; the coroutine waits on `timer` meanwhile.
struct Waiter {
    std::optional<http::Response> response;
    asio::steady_timer* timer = nullptr;  // null once the waiting coroutine has moved on
};

bhttp::response<bhttp::string_body> to_beast(http::Response r, unsigned version, bool keep_alive, bool head) {
    bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(r.status), version};
    res.set(bhttp::field::server, "moth");
    if (!r.content_type.empty()) res.set(bhttp::field::content_type, r.content_type);
    for (auto& [name, value] : r.headers) res.set(name, value);
    res.keep_alive(keep_alive);
    res.body() = std::move(r.body);
    res.prepare_payload();
    // A 204 has no body by definition, and must not say Content-Length (RFC 9110, 8.6).
    if (r.status == 204) res.erase(bhttp::field::content_length);
    if (head) res.body().clear();  // Content-Length still says what a GET would get
    return res;
}

class HttpSession : public std::enable_shared_from_this<HttpSession> {
public:
    HttpSession(Worker& w, tcp::socket socket, std::string remote, std::shared_ptr<const HttpListenerContext> ctx,
                std::shared_ptr<ConnectionSlot> slot)
        : w_(w),
          stream_(std::move(socket)),
          remote_(std::move(remote)),
          ctx_(std::move(ctx)),
          slot_(std::move(slot)),
          backend_(w, *ctx_),
          api_(ctx_->settings, backend_) {}

    static asio::awaitable<void> run(std::shared_ptr<HttpSession> self) { co_await self->serve(); }

private:
    asio::awaitable<void> serve() {
        std::weak_ptr<HttpSession> weak = shared_from_this();
        const auto canceller = w_.add_canceller([weak] {
            if (auto self = weak.lock()) self->cancel();
        });
        std::string problem;  // logged once, when the connection ends because of the peer
        try {
            problem = co_await requests();
        } catch (const std::exception& e) {
            problem = e.what();
        }
        w_.remove_canceller(canceller);
        if (!problem.empty()) w_.log(1, "listener " + ctx_->ws->name + ": HTTP client " + remote_ + ": " + problem);
        if (!upgraded_) {
            boost::system::error_code ec;
            stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
            stream_.socket().close(ec);
        }
    }

    void cancel() {
        cancelled_ = true;
        boost::system::error_code ec;
        stream_.socket().cancel(ec);
        stream_.socket().close(ec);
        if (waiting_ != nullptr) waiting_->cancel();
    }

    // Serves requests until the connection ends; returns why, when that is worth a log line.
    asio::awaitable<std::string> requests() {
        beast::flat_buffer buffer;
        for (;;) {
            bhttp::request_parser<bhttp::string_body> parser;
            parser.header_limit(kHeaderLimit);
            parser.body_limit(http::kMaxBodyBytes);
            stream_.expires_after(kIoTimeout);
            boost::system::error_code ec;
            co_await bhttp::async_read_header(stream_, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
            if (!ec && !parser.is_done()) {
                // curl and others wait (about a second) for "100 Continue" before sending a larger body.
                const auto expect = parser.get()[bhttp::field::expect];
                if (beast::iequals(expect, "100-continue")) {
                    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
                    co_await asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                                               asio::redirect_error(asio::use_awaitable, ec));
                }
                if (!ec)
                    co_await bhttp::async_read(stream_, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
            }
            if (cancelled_) co_return std::string();
            if (ec == bhttp::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset)
                co_return std::string();  // the client closed between requests (or mid-way: nothing to answer)
            if (ec == beast::error::timeout) {
                if (!parser.got_some() && buffer.size() == 0) co_return std::string();  // an idle keep-alive connection
                co_return "no complete request within " + std::to_string(kIoTimeout.count()) + " s; closed";
            }
            if (ec == bhttp::error::header_limit) {
                co_await refuse(431,
                                "request header fields too large (limit " + std::to_string(kHeaderLimit) + " bytes)");
                co_return "request header fields larger than " + std::to_string(kHeaderLimit) + " bytes: 431";
            }
            if (ec == bhttp::error::body_limit) {
                co_await refuse(413, "request body larger than 1 MiB");
                co_return std::string("request body larger than 1 MiB: 413");
            }
            if (ec == bhttp::error::partial_message) co_return std::string();  // closed mid-request: nobody to answer
            if (ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category()) {
                co_await refuse(400, "malformed HTTP request: " + ec.message());
                co_return "malformed HTTP request (" + ec.message() + "): 400";
            }
            if (ec) co_return std::string();  // the socket failed: nobody to answer
            auto req = parser.release();

            if (beast::websocket::is_upgrade(req)) {
                const std::string_view target = req.target();
                if (target.substr(0, target.find('?')) == ctx_->ws->ws_path) {
                    // From here the connection is the ws code's: an MQTT connection on this worker.
                    stream_.expires_never();
                    upgraded_ = true;
                    start_upgraded_connection(w_, stream_.release_socket(), remote_, ctx_->ws, std::move(req),
                                              std::move(slot_));
                    co_return std::string();
                }
                co_await refuse(
                    404, "no WebSocket endpoint at " + std::string(target) + " (MQTT is at " + ctx_->ws->ws_path + ")");
                co_return "WebSocket upgrade at " + std::string(target) + " refused: 404";
            }

            http::Request r;
            r.method = std::string(req.method_string());
            r.target = std::string(req.target());
            r.authorization = std::string(req[bhttp::field::authorization]);
            r.content_type = std::string(req[bhttp::field::content_type]);
            if (const auto origin = req.find(bhttp::field::origin); origin != req.end())
                r.origin = std::string(origin->value());
            r.sec_fetch_site = std::string(req["Sec-Fetch-Site"]);
            r.host = std::string(req[bhttp::field::host]);
            r.body = std::move(req.body());
            http::Response response = co_await answer(r);
            if (cancelled_) co_return std::string();
            const bool keep_alive = req.keep_alive() && response.status < 500;
            auto res = to_beast(std::move(response), req.version(), keep_alive, req.method() == bhttp::verb::head);
            stream_.expires_after(kIoTimeout);
            co_await bhttp::async_write(stream_, res, asio::redirect_error(asio::use_awaitable, ec));
            if (ec == beast::error::timeout)
                co_return "response not taken within " + std::to_string(kIoTimeout.count()) + " s";
            if (ec || !keep_alive) co_return std::string();
        }
    }

    // The Api's answer, waited for without blocking the worker: the reply comes back through this worker's queue.
    asio::awaitable<http::Response> answer(const http::Request& r) {
        auto waiter = std::make_shared<Waiter>();
        asio::steady_timer timer(w_.ioc(), kGatherTimeout);
        waiter->timer = &timer;
        api_.handle(r, [waiter](http::Response response) {
            waiter->response = std::move(response);
            if (waiter->timer != nullptr) waiter->timer->cancel();
        });
        if (!waiter->response) {
            waiting_ = &timer;
            boost::system::error_code ec;
            co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
            waiting_ = nullptr;
        }
        waiter->timer = nullptr;
        if (waiter->response) co_return std::move(*waiter->response);
        http::Response failed;
        failed.status = 500;
        failed.body = R"({"error": "the broker did not answer in time"})"
                      "\n";
        co_return failed;
    }

    asio::awaitable<void> refuse(unsigned status, const std::string& why) {
        http::Response r;
        r.status = status;
        r.body = nlohmann_free_error(why);
        auto res = to_beast(std::move(r), 11, false, false);
        stream_.expires_after(kIoTimeout);
        boost::system::error_code ec;
        co_await bhttp::async_write(stream_, res, asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return;
        // Closing with unread input would send a reset, which may destroy the answer before the client reads it:
        // say we are done writing, then drop what the client still sends, for a short while.
        stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
        stream_.expires_after(kLingerTimeout);
        std::array<char, 16 * 1024> sink{};
        std::size_t drained = 0;
        while (!ec && drained < kLingerBytes && !cancelled_) {
            drained +=
                co_await stream_.async_read_some(asio::buffer(sink), asio::redirect_error(asio::use_awaitable, ec));
        }
    }

    // {"error": "..."} for the few answers made here (the text is ours: only quotes and backslashes to escape).
    static std::string nlohmann_free_error(const std::string& why) {
        std::string out = R"({"error": ")";
        for (const char c : why) {
            if (c == '"' || c == '\\') out += '\\';
            if (static_cast<unsigned char>(c) >= 0x20) out += c;
        }
        return out + "\"}\n";
    }

    Worker& w_;
    beast::tcp_stream stream_;
    std::string remote_;
    std::shared_ptr<const HttpListenerContext> ctx_;
    std::shared_ptr<ConnectionSlot> slot_;  // the listener's max_connections place; goes to an upgraded connection
    WorkerBackend backend_;
    http::Api api_;
    asio::steady_timer* waiting_ = nullptr;
    bool cancelled_ = false;
    bool upgraded_ = false;
};

}  // namespace

void start_http_session(Worker& w, tcp::socket socket, std::string remote,
                        std::shared_ptr<const HttpListenerContext> listener, std::shared_ptr<ConnectionSlot> slot) {
    if (w.stopping()) return;
    auto session =
        std::make_shared<HttpSession>(w, std::move(socket), std::move(remote), std::move(listener), std::move(slot));
    asio::co_spawn(w.ioc(), HttpSession::run(std::move(session)), asio::detached);
}

}  // namespace moth::server::detail
