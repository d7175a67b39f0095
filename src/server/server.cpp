#include "server/server.hpp"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <future>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio.hpp>

#include "broker/core.hpp"
#include "common/error_text.hpp"
#include "net/pipe_stream.hpp"
#include "net/transport.hpp"
#include "server/http_session.hpp"
#include "server/listen.hpp"
#include "server/mqttsn_listener.hpp"
#include "server/uring/ring.hpp"
#include "server/cluster_events.hpp"
#include "server/server_impl.hpp"
#include "server/stream_connection.hpp"
#include "server/stream_relay.hpp"
#include "server/tcp_connection.hpp"
#include "server/tls.hpp"
#include "server/worker.hpp"

namespace moth::server {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using broker::ConnectionId;
using detail::Clock;
using detail::Connection;
using detail::TcpConnection;
using detail::Worker;

using detail::kDescriptorMargin;


// Beyond max_connections a new connection is closed at once, before anything is read from it (no CONNACK: the
// client sees the connection closed). Counted; logged at most once per 10 s per listener, with the count.
void Server::Impl::refuse_over_limit(detail::ListenerContext& lc, const std::string& remote) {
    constexpr std::int64_t kLogEvery = 10;
    const auto total = lc.refused.fetch_add(1, std::memory_order_relaxed) + 1;
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(Clock::now().time_since_epoch()).count();
    auto last = lc.refusal_logged_at.load(std::memory_order_relaxed);
    if ((last >= 0 && now - last < kLogEvery) ||
        !lc.refusal_logged_at.compare_exchange_strong(last, now, std::memory_order_relaxed))
        return;
    if (log) {
        log(2, "listener " + lc.name + ": max_connections " + std::to_string(lc.max_connections) +
                   " reached; closed the connection from " + remote + " (" + std::to_string(total) +
                   " refused since start; logged at most every " + std::to_string(kLogEvery) + " s)");
    }
}

void Server::Impl::accept(Listener& l) {
    const unsigned target = next_worker.fetch_add(1, std::memory_order_relaxed) % static_cast<unsigned>(workers.size());
    Worker* w = workers[target].get();
    l.acceptor->async_accept(w->ioc(), [this, &l, w](const boost::system::error_code& ec, tcp::socket s) {
        if (ec == asio::error::operation_aborted || stopped) return;
        if (!ec) {
            if (fd_ceiling != 0 && s.native_handle() >= fd_ceiling) {
                // Descriptors are handed out lowest first, so every one below this is in use: the margin is
                // reached. This client is closed with those waiting behind it, and accepting pauses.
                boost::system::error_code ignored;
                s.close(ignored);
                out_of_descriptors(l, "only " + std::to_string(kDescriptorMargin) + " descriptors left");
                return;
            }
            l.backoff = std::chrono::milliseconds(0);
            serve(l, w, std::move(s));
        } else if (ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space ||
                   ec == asio::error::no_memory || ec == boost::system::error_code(ENFILE, boost::system::system_category())) {
            out_of_descriptors(l, ec.message());
            return;  // accepting again at once would spin: see out_of_descriptors
        } else if (log) {
            log(2, "accept on " + l.bound.name + " failed: " + ec.message());
        }
        accept(l);
    });
}

void Server::Impl::serve(Listener& l, Worker* w, tcp::socket s) {
    boost::system::error_code opt_ec;
    if (shared.config.tcp_nodelay) s.set_option(tcp::no_delay(true), opt_ec);
    auto ep = s.remote_endpoint(opt_ec);
    std::string remote = opt_ec ? std::string("?") : net::format_endpoint(ep);  // "[v6]:port" for IPv6
    auto& lc = *l.context;
    if (lc.max_connections != 0 && lc.open.load(std::memory_order_relaxed) >= lc.max_connections) {
        refuse_over_limit(lc, remote);
        s.close(opt_ec);
        return;
    }
    // Places are counted only where a limit reads them: no allocation per connection otherwise.
    std::shared_ptr<detail::ConnectionSlot> slot;
    if (lc.max_connections != 0) {
        lc.open.fetch_add(1, std::memory_order_relaxed);
        slot = std::make_shared<detail::ConnectionSlot>(l.context);
    }
    detail::PlainServe plain;
    if (l.http) {
        // The http listener's sockets: PROXY header (when configured) first, then the HTTP session.
        plain = [ctx = std::shared_ptr<const detail::HttpListenerContext>(l.http)](
                    Worker& on, tcp::socket sock, std::string peer, std::shared_ptr<detail::ConnectionSlot> place) {
            detail::start_http_session(on, std::move(sock), std::move(peer), ctx, std::move(place));
        };
    }
    asio::post(w->ioc(), [w, s = std::move(s), remote = std::move(remote), ctx = l.context, slot = std::move(slot),
                          plain = std::move(plain)]() mutable {
        detail::serve_accepted(*w, std::move(s), std::move(remote), std::move(ctx), std::move(slot), std::move(plain));
    });
}

// EMFILE/ENFILE/ENOBUFS/ENOMEM: the connection stays in the backlog, so accepting again at once fails again at
// once, a core spinning and a log line each time. Instead: close what waits in the backlog (the clients see the
// connection closed, not a hang) using the reserve descriptor, pause, and try again after a backoff (50 ms,
// doubling to 1 s) or as soon as a connection closes, whichever comes first. The log line is rate-limited with
// every other line (common/log_limiter.hpp).
void Server::Impl::out_of_descriptors(Listener& l, const std::string& why) {
    const std::size_t shed = shed_backlog(l);
    l.backoff = std::clamp(l.backoff * 2, std::chrono::milliseconds(50), std::chrono::milliseconds(1000));
    l.paused = true;
    descriptors_short.store(true, std::memory_order_release);
    if (log) {
        log(2, "accept on " + l.bound.name + " paused: " + why + " (out of descriptors: see ulimit -n and " +
                   "limits.max_connections); closed " + std::to_string(shed) + " waiting connections; accepting " +
                   "again in " + std::to_string(l.backoff.count()) + " ms or when a connection closes");
    }
    if (!l.retry) l.retry = std::make_unique<asio::steady_timer>(l.acceptor->get_executor());
    l.retry->expires_after(l.backoff);
    l.retry->async_wait([this, &l](const boost::system::error_code&) {
        // Expired, or cancelled by descriptor_freed(): either way try again (unless the server stops).
        if (stopped || !l.paused) return;
        l.paused = false;
        accept(l);
    });
}

std::size_t Server::Impl::shed_backlog(Listener& l) {
    if (reserve_fd >= 0) {
        ::close(reserve_fd);
        reserve_fd = -1;
    }
    constexpr std::size_t kMaxShed = 256;  // per pause: a long backlog is worked through over several pauses
    std::size_t shed = 0;
    for (; shed < kMaxShed; ++shed) {
        const int fd = ::accept4(l.acceptor->native_handle(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) break;
        ::close(fd);
    }
    reserve_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    return shed;
}

void Server::Impl::descriptor_freed() {
    if (!descriptors_short.load(std::memory_order_relaxed) || !descriptors_short.exchange(false)) return;
    asio::post(workers.front()->ioc(), [this] {
        for (auto& l : listeners) {
            if (l->paused && l->retry) l->retry->cancel();
        }
    });
}

Server::Server(config::Config config, broker::Authenticator& auth, std::function<void(int, const std::string&)> log,
               std::string version, const broker::Authorizer* authorizer)
    : impl_(std::make_unique<Impl>(std::move(config), auth, std::move(log), std::move(version))) {
    impl_->shared.authorizer = authorizer;
}

void Server::each_core(const std::function<void(broker::Core&, broker::TimePoint)>& fn) {
    for (auto& w : impl_->workers) asio::post(w->ioc(), [w = w.get(), fn] { fn(w->core(), Clock::now()); });
}

void Server::attach_gate(broker::Gate& gate) { impl_->shared.gate = &gate; }

std::unique_ptr<net::Stream> Server::connect_internal(asio::any_io_executor client_executor,
                                                      std::shared_ptr<const broker::ListenerTag> tag) {
    auto& impl = *impl_;
    const unsigned target =
        impl.next_worker.fetch_add(1, std::memory_order_relaxed) % static_cast<unsigned>(impl.workers.size());
    Worker& w = *impl.workers[target];
    auto ends = net::make_pipe(std::move(client_executor), w.ioc().get_executor(), "broker", tag->name);
    std::shared_ptr<net::Stream> served = std::move(ends.b);
    asio::post(w.ioc(), [&w, served, tag]() mutable {
        if (w.stopping()) return;  // dropping the end closes the pipe: the client sees the connection refused
        std::string remote = tag->name;  // not in the call: the tag is moved from there
        detail::serve_stream(w, std::move(served), std::move(remote), std::nullopt, nullptr, std::move(tag));
    });
    return std::move(ends.a);
}

void Server::attach_bridges(std::function<std::vector<http::BridgeInfo>()> source) {
    std::lock_guard lock(impl_->bridges->mutex);
    impl_->bridges->fn = std::move(source);
}

void Server::publish(broker::BrokerPublish message) {
    Worker& w = *impl_->workers.front();
    asio::post(w.ioc(), [&w, message = std::move(message)] {
        w.core().publish(message, Clock::now());
        w.schedule_flush();
    });
}

Server::~Server() { stop(); }

unsigned Server::worker_count() const { return static_cast<unsigned>(impl_->workers.size()); }

namespace {

// Sessions this node restored that moved to another node while it was down (the cluster's copy names that node as
// their owner): forgotten here, not restored (their records stay in the cluster's copy for their owner).
void forget_moved_sessions(broker::ClusterBus& bus, broker::RestoredState& st, broker::Store& store,
                           const std::function<void(int, const std::string&)>& log) {
    std::vector<std::string> ids;
    for (const auto& rs : st.sessions) {
        if (!rs.session.client_id.starts_with("$bridge/")) ids.push_back(rs.session.client_id);
    }
    if (ids.empty()) return;
    const auto moved = bus.not_owned(ids);
    if (moved.empty()) return;
    broker::StoreBatch b{broker::Clock::now()};
    for (const auto& id : moved) b.forget_session(id);
    store.commit(b.take(), nullptr);
    std::erase_if(st.sessions, [&](const broker::RestoredSession& rs) {
        return std::find(moved.begin(), moved.end(), rs.session.client_id) != moved.end();
    });
    if (log) log(1, "cluster: " + std::to_string(moved.size()) + " sessions moved to other nodes while this one was down: forgotten here");
}

// io_backend: "io_uring" insists (start fails naming why not); "epoll" and, for now, "auto" never probe: the io_uring
// path had a fault found late (a receive it must cancel, at a hand-off between workers or a lingering close, stayed
// armed while a client flooded it; docs/architecture.md, "I/O backends"), so it becomes the default only after a
// whole CI run with it. With "auto", the environment variable MOTH_IO_BACKEND (epoll, io_uring) decides instead: CI runs the
// integration tests once per backend that way. One log line says what was chosen.
bool resolve_io_backend(config::IoBackend wanted, const std::function<void(int, const std::string&)>& log) {
    if (const char* env = std::getenv("MOTH_IO_BACKEND"); env != nullptr && wanted == config::IoBackend::Auto) {
        const std::string_view value(env);
        if (value == "epoll") wanted = config::IoBackend::Epoll;
        if (value == "io_uring") wanted = config::IoBackend::IoUring;
        if (wanted == config::IoBackend::Auto && !value.empty() && value != "auto" && log) {
            log(2, "MOTH_IO_BACKEND=" + std::string(value) + " ignored: auto, io_uring or epoll");
        }
    }
    if (wanted != config::IoBackend::IoUring) {
        if (log) log(1, std::string("io backend: epoll (io_backend = \"") + std::string(config::to_string(wanted)) + "\")");
        return false;
    }
    const std::string why = detail::Uring::unavailable_reason();
    if (!why.empty()) throw std::runtime_error("io_backend = \"io_uring\": io_uring is not available here: " + why);
    if (log) log(1, "io backend: io_uring (multishot receive into a shared buffer ring, batched sends)");
    return true;
}

}  // namespace

void Server::start() {
    auto& impl = *impl_;
    unsigned n = impl.shared.config.workers;
    if (n == 0) n = std::max(1U, std::thread::hardware_concurrency());
    // Shared was built for one worker before the count was known; rebuild its per-worker parts.
    impl.shared.worker_count = n;
    impl.shared.stats.clear();
    for (unsigned i = 0; i < n; ++i) impl.shared.stats.push_back(std::make_unique<broker::Stats>());
    impl.use_uring = resolve_io_backend(impl.shared.config.io_backend, impl.log);
    for (unsigned i = 0; i < n; ++i) impl.workers.push_back(std::make_unique<Worker>(i, impl));
    for (auto& w : impl.workers) w->init();
    if (auto* bus = impl.shared.cluster) {
        // Joined before the sessions are restored: their subscriptions become this node's interest on the bus.
        impl.cluster_events = std::make_unique<detail::ClusterEventsToWorkers>(
            impl.shared, [&impl](unsigned w, std::function<void(broker::Core&, broker::TimePoint)> fn) {
                impl.workers.at(w)->post(w, std::move(fn));
            });
        bus->start(*impl.cluster_events);
        if (impl.restored) {
            bus->seen(impl.restored->cluster_applied);
            forget_moved_sessions(*bus, *impl.restored, *impl.shared.store, impl.shared.log);
        }
    }
    if (impl.restored) {
        // Before any worker runs: retained messages into the shared index, each session onto the worker its
        // client id hashes to (as Core::owner_of), its subscriptions into every worker's tree.
        auto& st = *impl.restored;
        // In a cluster the retained messages are the cluster's bucket (ClusterEvents::on_retained), not this node's
        // old copies: one cleared elsewhere while this node was down must not come back.
        if (impl.shared.cluster == nullptr) {
            for (auto& m : st.retained) impl.shared.retained.set(m->topic, m);
        }
        impl.shared.next_seq = broker::next_seq_counter(st.next_seq - 1);
        impl.shared.first_seq = broker::make_seq(impl.shared.next_seq, 0);
        impl.shared.totals_base = st.totals;
        const auto now = Clock::now();
        for (auto& rs : st.sessions) {
            const std::string client_id = rs.session.client_id;
            const unsigned owner = broker::owner_worker(client_id, n);
            auto& core = impl.workers[owner]->core();
            auto subs = core.restore(rs, now);
            const auto sid = core.session_id(client_id);
            for (unsigned i = 0; i < n; ++i) {
                if (i == owner) continue;
                for (const auto& [filter, e] : subs) impl.workers[i]->core().apply_subscribe(filter, sid, e);
            }
        }
        impl.restored.reset();
    }

    Worker& first = *impl.workers.front();
    std::size_t index = 0;
    for (const auto& lc : impl.shared.config.listeners) {
        const std::string name = lc.name.empty() ? config::default_listener_name(lc.kind, index) : lc.name;
        ++index;
        if (config::is_datagram(lc.kind)) {
            std::vector<Worker*> all;
            for (auto& w : impl.workers) all.push_back(w.get());
            const auto reader = static_cast<unsigned>(impl.datagram_listeners.size() % impl.workers.size());
            auto sn = std::make_unique<detail::SnListener>(name, index - 1, lc, impl.shared.config, std::move(all),
                                                           reader, impl.shared.authorizer);
            const auto local = sn->local_endpoint();
            BoundListener b{name, lc.kind, local.address().to_string(), local.port()};
            impl.datagram_listeners.push_back({std::move(sn), std::move(b)});
            continue;
        }
        auto l = std::make_unique<Impl::Listener>();
        l->cfg = lc;
        try {
            l->context = detail::make_listener_context(name, lc, impl.shared.config, impl.log);
        } catch (const std::exception& e) {
            throw ListenerStartError(index - 1, "cert_file", "listener " + name + ": " + common::error_text(e.what()));
        }
        if (lc.kind == config::ListenerKind::Http) {
            if (!impl.blocking) impl.blocking = std::make_unique<asio::thread_pool>(1);
            auto h = std::make_shared<detail::HttpListenerContext>();
            h->ws = l->context;
            h->settings = http::Settings{lc.web_root, h->ws->ws_path, lc.api_token, lc.api_username, lc.api_password};
            h->shared = &impl.shared;
            h->blocking = impl.blocking.get();
            h->data_dir = impl.shared.config.data_dir;
            h->bridges = impl.bridges;
            h->gateways = [&impl] {
                // The listeners are all made before any worker (or request) runs; their counters are atomics.
                std::vector<http::GatewayInfo> out;
                for (const auto& d : impl.datagram_listeners) {
                    const auto& c = d.listener->counters();
                    const auto load = [](const auto& a) { return static_cast<std::uint64_t>(a.load()); };
                    out.push_back({d.bound.name, load(c.clients), load(c.datagrams_in), load(c.datagrams_out),
                                   load(c.malformed), load(c.refused), load(c.qos_minus_one), load(c.send_failures)});
                }
                return out;
            };
            l->http = std::move(h);
        }
        l->acceptor = detail::open_acceptor(first.ioc(), lc, index - 1, name);
        const auto local = l->acceptor->local_endpoint();
        l->bound = BoundListener{name, lc.kind, local.address().to_string(), local.port()};
        impl.listeners.push_back(std::move(l));
    }
    for (auto& l : impl.listeners) {
        if (l->http) {
            for (const auto& other : impl.listeners) l->http->bound.push_back(other->bound);
            for (const auto& d : impl.datagram_listeners) l->http->bound.push_back(d.bound);
        }
    }
    impl.reserve_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (rlimit rl{}; ::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
                     rl.rlim_cur < static_cast<rlim_t>(std::numeric_limits<int>::max())) {
        impl.fd_ceiling = std::max(1, static_cast<int>(rl.rlim_cur) - kDescriptorMargin);
    }
    for (auto& l : impl.listeners) impl.accept(*l);
    for (auto& d : impl.datagram_listeners) d.listener->start();
    for (auto& w : impl.workers) w->run();
    impl.started = true;
}

void Server::attach_cluster(broker::ClusterBus& bus) { impl_->shared.cluster = &bus; }

void Server::attach_store(broker::Store& store, broker::RestoredState restored) {
    impl_->shared.store = &store;
    impl_->restored = std::move(restored);
}

std::vector<BoundListener> Server::bound() const {
    std::vector<BoundListener> out;
    for (const auto& l : impl_->listeners) out.push_back(l->bound);
    for (const auto& d : impl_->datagram_listeners) out.push_back(d.bound);
    return out;
}

void Server::reload(const config::Config& config) {
    for (auto& w : impl_->workers) {
        asio::post(w->ioc(), [w = w.get(), config] { w->core().reconfigure(config); });
    }
    // Listeners keep what they were started with, except their TLS material and Origin allow-list: those are
    // taken from the reloaded listener of the same name (TLS files are read again even when their names did not
    // change, so replaced files take effect).
    for (auto& l : impl_->listeners) {
        const auto it = std::find_if(config.listeners.begin(), config.listeners.end(),
                                     [&](const config::Listener& c) { return c.name == l->bound.name; });
        config::Listener effective = l->cfg;
        if (it != config.listeners.end() && it->kind == l->cfg.kind) {
            effective.cert_file = it->cert_file;
            effective.key_file = it->key_file;
            effective.ca_file = it->ca_file;
            effective.tls_min_version = it->tls_min_version;
            effective.tls_max_version = it->tls_max_version;
            effective.ciphers = it->ciphers;
            effective.ciphersuites = it->ciphersuites;
            effective.allowed_origins = it->allowed_origins;
        }
        detail::reload_listener_context(*l->context, effective, config, impl_->log);
    }
}

void Server::stop() {
    auto& impl = *impl_;
    if (!impl.started || impl.stopped) return;
    impl.stopped = true;
    Worker& first = *impl.workers.front();
    asio::post(first.ioc(), [&impl] {
        for (auto& l : impl.listeners) {
            boost::system::error_code ec;
            l->acceptor->close(ec);
            if (l->retry) l->retry->cancel();
        }
    });
    for (auto& d : impl.datagram_listeners) d.listener->stop();
    for (auto& w : impl.workers) w->stop();
    for (auto& w : impl.workers) w->join();
    if (impl.shared.cluster != nullptr) {
        // The workers' last records (sessions going offline) reach the cluster's copy of the sessions before the
        // link closes: written through the bus (SessionReplica), they would fail once it is stopped.
        if (impl.shared.store != nullptr) {
            auto written = std::make_shared<std::promise<void>>();
            auto done = written->get_future();
            impl.shared.store->commit({}, [written](bool) { written->set_value(); });
            if (done.wait_for(std::chrono::seconds(10)) != std::future_status::ready && impl.shared.log) {
                impl.shared.log(2, "cluster: the store's last writes did not finish before the link closed");
            }
        }
        impl.shared.cluster->stop();
    }
    // File work still running posts its answer to a worker that no longer runs: harmless, it is dropped.
    if (impl.blocking) impl.blocking->join();
}

}  // namespace moth::server
