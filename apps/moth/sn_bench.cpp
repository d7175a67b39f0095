// `moth sn bench`: N MQTT-SN clients (one UDP socket each; the gateway tells clients apart by address) on one
// thread and one io_context. They connect at a bounded pace, REGISTER PREFIX/<index>, then together publish
// N x rate messages per second, in a fixed round-robin schedule, for the duration; an optional subscriber on
// PREFIX/# checks receipt, order and gaps with the benchmark payload header (bench_stats.hpp). Prints JSON.
#include <sys/resource.h>

#include <cmath>
#include <cstdio>
#include <memory>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <nlohmann/json.hpp>

#include "bench_proc.hpp"
#include "bench_stats.hpp"
#include "sn_client.hpp"
#include "sn_commands.hpp"

namespace moth::cli::sn {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

void raise_fd_limit() {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max) return;
    rl.rlim_cur = rl.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &rl);
}

std::uint64_t now_ns() {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count());
}

struct Bench {
    Bench(const BenchOptions& options, asio::ip::udp::endpoint gw, std::shared_ptr<SSL_CTX> ctx)
        : o(options), gateway(gw), dtls(std::move(ctx)), tick(ioc) {}
    const BenchOptions& o;
    asio::ip::udp::endpoint gateway;
    std::shared_ptr<SSL_CTX> dtls;
    asio::io_context ioc;
    asio::steady_timer tick;
    std::vector<std::unique_ptr<SnClient>> clients;
    std::vector<std::uint16_t> topic_ids;  // 0: not (yet) connected and registered
    std::vector<std::uint32_t> sent_per_client;
    std::unique_ptr<SnClient> subscriber;
    bench::Receipts receipts;
    bench::Histogram latency;
    std::uint32_t started = 0, connected = 0, connect_failed = 0;
    std::uint64_t sent = 0, acked = 0, lost = 0, inflight = 0, per_client = 0, next_global = 0;
    Clock::time_point phase_start{};
    Clock::time_point drain_until{};
    std::string first_error;
    bool interrupted = false;
    bool publishing = false;

    ClientConfig config(const std::string& id) const {
        return ClientConfig{gateway,         id,   std::chrono::milliseconds(o.gateway.retry_ms),
                            o.gateway.tries, dtls, o.gateway.host};
    }
    void note_error(const std::string& e) {
        if (first_error.empty()) first_error = e;
    }
};

void start_publishing(Bench& b);
void finish(Bench& b);

void connect_one(Bench& b, std::uint32_t i) {
    auto& c = b.clients[i];
    c = std::make_unique<SnClient>(b.ioc.get_executor(), b.config(b.o.id_prefix + std::to_string(i)));
    const auto fail = [&b](const std::string& e) {
        b.note_error(e);
        if (++b.connect_failed + b.connected == b.o.clients) start_publishing(b);
    };
    if (auto e = c->open(); !e.empty()) return fail(e);
    ConnectParams p;
    p.duration_s = b.o.keepalive_s;
    c->async_connect(p, [&b, i, fail](std::string e, mqttsn::Packet) {
        if (!e.empty()) return fail(e);
        auto& client = *b.clients[i];
        client.set_keepalive(std::chrono::seconds(b.o.keepalive_s));
        client.async_register(b.o.prefix + "/" + std::to_string(i), [&b, i, fail](std::string re, mqttsn::Packet a) {
            if (!re.empty()) return fail(re);
            b.topic_ids[i] = std::get<mqttsn::Regack>(a).topic_id;
            if (b.connect_failed + ++b.connected == b.o.clients) start_publishing(b);
        });
    });
}

// Starts clients at o.connect_rate per second, checking every 10 ms how many are due.
void connect_tick(Bench& b) {
    const double elapsed = std::chrono::duration<double>(Clock::now() - b.phase_start).count();
    const auto due = std::min<std::uint64_t>(b.o.clients, static_cast<std::uint64_t>(elapsed * b.o.connect_rate) + 1);
    if (b.interrupted) return finish(b);
    while (b.started < due) connect_one(b, b.started++);
    if (!b.publishing) {  // keeps ticking after the last start, so that an interrupt is seen while handshakes run
        b.tick.expires_after(10ms);
        b.tick.async_wait([&b](const boost::system::error_code& ec) {
            if (!ec) connect_tick(b);
        });
    }
}

void finish(Bench& b) {
    b.tick.cancel();
    for (auto& c : b.clients) {
        if (c) c->send_disconnect();
    }
    if (b.subscriber) b.subscriber->send_disconnect();
    b.ioc.stop();
}

void drain_tick(Bench& b) {
    const bool all_received = !b.subscriber || b.receipts.received() - b.receipts.duplicates() >= b.sent;
    if ((b.inflight == 0 && all_received) || Clock::now() >= b.drain_until || b.interrupted) return finish(b);
    b.tick.expires_after(10ms);
    b.tick.async_wait([&b](const boost::system::error_code& ec) {
        if (!ec) drain_tick(b);
    });
}

void publish_one(Bench& b, std::uint32_t i) {
    mqttsn::Publish p;
    p.flags.qos = b.o.qos;
    p.topic_id = b.topic_ids[i];
    p.data.resize(b.o.payload_size);
    const auto sent_ns = now_ns();
    bench::write_header(p.data, bench::PayloadHeader{sent_ns, i, b.sent_per_client[i]++});
    ++b.sent;
    if (b.o.qos == 0) {
        b.clients[i]->async_publish(std::move(p), [](std::string, mqttsn::Packet) {});
        return;
    }
    ++b.inflight;
    b.clients[i]->async_publish(std::move(p), [&b, sent_ns](std::string e, mqttsn::Packet) {
        --b.inflight;
        if (!e.empty()) {
            ++b.lost;
            return b.note_error(e);
        }
        ++b.acked;
        b.latency.record(now_ns() - sent_ns);
    });
}

// Message g (0, 1, 2, ...) is client g % N's, due at g / (N x rate) seconds: every client sends at its rate,
// and the clients' sends are spread evenly over each period instead of bursting together.
void publish_tick(Bench& b) {
    const double elapsed = std::chrono::duration<double>(Clock::now() - b.phase_start).count();
    const std::uint64_t total = b.per_client * b.o.clients;
    const auto due =
        std::min<std::uint64_t>(total, static_cast<std::uint64_t>(elapsed * b.o.rate_per_client * b.o.clients) + 1);
    for (; b.next_global < due; ++b.next_global) {
        const auto i = static_cast<std::uint32_t>(b.next_global % b.o.clients);
        if (b.topic_ids[i] != 0) publish_one(b, i);
    }
    if (b.next_global >= total || b.interrupted) {
        const double drain = b.o.drain_s > 0 ? b.o.drain_s : b.o.gateway.retry_ms * (b.o.gateway.tries + 1) / 1000.0;
        b.drain_until =
            Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(drain));
        return drain_tick(b);
    }
    b.tick.expires_after(5ms);
    b.tick.async_wait([&b](const boost::system::error_code& ec) {
        if (!ec) publish_tick(b);
    });
}

void start_publishing(Bench& b) {
    b.publishing = true;
    b.tick.cancel();
    b.per_client = static_cast<std::uint64_t>(std::llround(b.o.rate_per_client * b.o.duration_s));
    b.phase_start = Clock::now();
    if (b.connected == 0) return finish(b);
    asio::post(b.ioc, [&b] { publish_tick(b); });
}

void start_clients(Bench& b) {
    b.clients.resize(b.o.clients);
    b.topic_ids.assign(b.o.clients, 0);
    b.sent_per_client.assign(b.o.clients, 0);
    b.phase_start = Clock::now();
    connect_tick(b);
}

// The subscriber first, so that it sees every message; then the publishers.
void start(Bench& b) {
    if (!b.o.subscribe) return start_clients(b);
    b.subscriber = std::make_unique<SnClient>(b.ioc.get_executor(), b.config(b.o.id_prefix + "sub"));
    auto& s = *b.subscriber;
    s.on_message = [&b](const Incoming& m) {
        const auto h = bench::read_header(m.publish.data);
        if (h && h->publisher < b.o.clients) (void)b.receipts.record(h->publisher, h->seq);
    };
    if (auto e = s.open(); !e.empty()) {
        b.note_error(e);
        return finish(b);
    }
    ConnectParams p;
    p.duration_s = b.o.keepalive_s;
    s.async_connect(p, [&b](std::string e, mqttsn::Packet) {
        if (!e.empty()) {
            b.note_error("subscriber: " + e);
            return finish(b);
        }
        b.subscriber->set_keepalive(std::chrono::seconds(b.o.keepalive_s));
        mqttsn::Subscribe sub;
        sub.flags.qos = b.o.qos;
        sub.topic_name = b.o.prefix + "/#";
        b.subscriber->async_subscribe(sub, [&b](std::string se, mqttsn::Packet) {
            if (!se.empty()) {
                b.note_error("subscriber: " + se);
                return finish(b);
            }
            start_clients(b);
        });
    });
}

nlohmann::json summary(const Bench& b, double elapsed_s, const bench::ProcSample& before,
                       const bench::ProcSample& after) {
    nlohmann::json j;
    j["clients"] = b.o.clients;
    j["clients_connected"] = b.connected;
    j["connect_failures"] = b.connect_failed;
    j["qos"] = b.o.qos;
    j["rate_per_client"] = b.o.rate_per_client;
    j["duration_s"] = b.o.duration_s;
    j["elapsed_s"] = elapsed_s;
    j["sent"] = b.sent;
    j["acknowledged"] = b.acked;
    std::uint64_t resent = 0;
    for (const auto& c : b.clients) resent += c ? c->counters().resent : 0;
    j["retransmitted"] = resent;
    j["lost"] = b.o.qos == 0 ? 0 : b.lost + b.inflight;  // never acknowledged
    j["ack_latency_ms"] = {{"p50", static_cast<double>(b.latency.percentile(0.50)) / 1e6},
                           {"p99", static_cast<double>(b.latency.percentile(0.99)) / 1e6},
                           {"max", static_cast<double>(b.latency.max()) / 1e6}};
    if (b.subscriber) {
        std::uint64_t missing = 0;
        const auto& streams = b.receipts.streams();
        for (std::size_t i = 0; i < b.sent_per_client.size(); ++i) {
            const std::uint64_t got = i < streams.size() ? streams[i].unique : 0;
            missing += b.sent_per_client[i] > got ? b.sent_per_client[i] - got : 0;
        }
        j["received"] = b.receipts.received();
        j["duplicates"] = b.receipts.duplicates();
        j["out_of_order"] = b.receipts.out_of_order();
        j["missing"] = missing;  // sent but never received by the subscriber (gaps)
    }
    if (before.ok && after.ok) j["broker_cpu_s"] = after.cpu_s - before.cpu_s;
    j["generator_cpu_s"] = bench::self_cpu_s();
    if (!b.first_error.empty()) j["first_error"] = b.first_error;
    return j;
}

}  // namespace

int run_bench(const BenchOptions& o) {
    std::string error;
    const auto gateway = resolve_gateway(o.gateway, error);
    if (!gateway) {
        std::fprintf(stderr, "moth sn: %s\n", error.c_str());
        return kExitFailure;
    }
    auto dtls = dtls_context(o.gateway, error);
    if (!error.empty()) {
        std::fprintf(stderr, "moth sn: %s\n", error.c_str());
        return kExitFailure;
    }
    raise_fd_limit();
    auto b = std::make_unique<Bench>(o, *gateway, std::move(dtls));
    asio::signal_set signals(b->ioc, SIGINT, SIGTERM);
    signals.async_wait([&b](const boost::system::error_code& ec, int) {
        if (!ec) b->interrupted = true;  // the current phase ends at its next tick; the summary is still printed
    });
    const auto before = bench::sample_process(o.broker_pid);
    const auto t0 = Clock::now();
    asio::post(b->ioc, [&b] { start(*b); });
    b->ioc.run();
    const auto after = bench::sample_process(o.broker_pid);
    const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
    std::puts(summary(*b, elapsed, before, after).dump(2).c_str());
    std::fflush(stdout);
    if (b->connected == 0) {
        std::fprintf(stderr, "moth sn: no client connected%s%s\n", b->first_error.empty() ? "" : ": ",
                     b->first_error.c_str());
        return kExitFailure;
    }
    return kExitOk;
}

}  // namespace moth::cli::sn
