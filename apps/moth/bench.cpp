// `moth bench`: the load generator. Lean on purpose: each connection is a byte stream (net::Stream, so TCP, TLS
// and WebSocket alike), packets are encoded with src/codec once per publisher into a template and patched per
// message (payload header, packet identifier), received packets are decoded in place, and writes are gathered:
// one write per connection per loop turn, however many packets wait. Measuring (histograms, receipts) is in
// bench_stats.cpp.
//
// Threads: --threads io_contexts, one thread each; a connection lives on one of them (round robin) and is touched
// only there. What crosses threads: per-publisher atomic counters (sent, delivered) and the controller's flags.
// The controller (main thread) connects, starts the measurement, prints progress, stops, drains and reports.
#include "bench.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include "bench_stats.hpp"
#include "codec/decoder.hpp"
#include "codec/encoder.hpp"
#include "net/stream.hpp"

namespace moth::cli {
namespace {

namespace asio = boost::asio;
using namespace bench;
using Clock = std::chrono::steady_clock;

std::atomic<bool> g_interrupted{false};
extern "C" void on_bench_signal(int) {
    g_interrupted.store(true);
}

std::uint64_t now_ns() noexcept {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count());
}

// ---- /proc ------------------------------------------------------------------------------------------------------
struct ProcSample {
    bool ok = false;
    double cpu_s = 0;          // utime + stime
    std::uint64_t rss_kb = 0;  // VmRSS
    std::uint64_t hwm_kb = 0;  // VmHWM
};

ProcSample sample_process(long pid) {
    ProcSample s;
    if (pid <= 0) return s;
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) return s;
    const auto close = line.rfind(')');
    if (close == std::string::npos) return s;
    std::istringstream in(line.substr(close + 2));
    std::string field;
    unsigned long long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && in >> field; ++i) {
        if (i == 14) utime = std::stoull(field);
        if (i == 15) stime = std::stoull(field);
    }
    const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
    s.cpu_s = static_cast<double>(utime + stime) / tick;
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    while (std::getline(status, line)) {
        if (line.starts_with("VmRSS:")) s.rss_kb = std::stoull(line.substr(6));
        if (line.starts_with("VmHWM:")) s.hwm_kb = std::stoull(line.substr(6));
    }
    s.ok = true;
    return s;
}

double self_cpu_s() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// ---- shared state ------------------------------------------------------------------------------------------------
struct PublisherState {
    std::atomic<std::uint64_t> sent{0};
    // Per group expecting this publisher: messages it received. A message is undelivered until every group has
    // it, so the window looks at the slowest group.
    std::unique_ptr<std::atomic<std::uint64_t>[]> delivered;
    std::atomic<bool> done{false};
    std::uint32_t fan = 0;  // groups expecting this publisher: copies per message

    [[nodiscard]] std::uint64_t slowest() const noexcept {
        std::uint64_t m = ~std::uint64_t{0};
        for (std::uint32_t g = 0; g < fan; ++g) m = std::min(m, delivered[g].load(std::memory_order_relaxed));
        return fan == 0 ? 0 : m;
    }
};

struct Run {
    Options o;
    net::ConnectSettings settings;
    codec::ProtocolVersion version = codec::ProtocolVersion::V3_1_1;
    std::uint32_t npub = 0;
    std::uint32_t nsub = 0;
    std::uint32_t nidle = 0;
    std::vector<PublisherState> pubs;
    std::vector<std::vector<std::uint32_t>> sub_expects;  // per subscriber: publisher ids its filter matches
    std::vector<std::string> topics;                      // per publisher (expanded %i; %j stays)

    std::atomic<bool> go{false};
    std::atomic<bool> stop_publishing{false};
    std::atomic<std::uint64_t> setup_done{0};  // connections that finished setting up, or failed
    std::atomic<std::uint64_t> connected{0};
    std::atomic<std::uint64_t> failed{0};
    std::atomic<std::uint64_t> dropped{0};  // connections lost after setup
    std::atomic<std::uint64_t> first_connect_ns{0};
    std::atomic<std::uint64_t> last_connect_ns{0};
    std::atomic<std::uint64_t> first_subscribe_ns{0};
    std::atomic<std::uint64_t> window_resets{0};
    std::mutex error_mutex;
    std::string first_error;

    void error(std::string text) {
        std::lock_guard lock(error_mutex);
        if (first_error.empty()) first_error = std::move(text);
    }
};

void atomic_min_nonzero(std::atomic<std::uint64_t>& a, std::uint64_t v) {
    std::uint64_t cur = a.load();
    while ((cur == 0 || v < cur) && !a.compare_exchange_weak(cur, v)) {
    }
}
void atomic_max(std::atomic<std::uint64_t>& a, std::uint64_t v) {
    std::uint64_t cur = a.load();
    while (v > cur && !a.compare_exchange_weak(cur, v)) {
    }
}

enum class Role : std::uint8_t { Idle, Publisher, Subscriber };
constexpr std::uint32_t kNoSlot = ~std::uint32_t{0};

struct Worker;

// One client connection. Owned by its worker; touched only on the worker's thread.
struct Conn {
    Worker& w;
    Run& run;
    Role role;
    std::uint32_t id;  // publisher id, subscriber index or idle index
    std::string client_id;
    std::unique_ptr<net::Stream> stream;
    codec::Decoder decoder{codec::DecoderOptions{.role = codec::Role::Client}};
    std::vector<std::byte> rbuf = std::vector<std::byte>(64 * 1024);
    std::size_t rbeg = 0, rend = 0;
    std::vector<std::byte> out, writing;
    bool write_active = false;
    bool dead = false;
    asio::steady_timer wake;
    Receipts receipts;
    std::vector<std::uint32_t> slot;  // subscriber: per publisher, this connection's group's delivered counter
    std::uint64_t foreign = 0;        // messages without this run's payload header
    asio::steady_timer keepalive_timer;
    std::atomic<std::uint64_t> received{0};  // stored by this thread only, read by the controller
    std::uint32_t inflight = 0;
    std::uint32_t receive_maximum = 65535;
    std::uint16_t next_id = 1;
    bool stalled = false;

    Conn(Worker& worker, Run& r, Role ro, std::uint32_t i);
    void kick();
    asio::awaitable<void> write_loop();
    void fail(const std::string& why);
};

struct Worker {
    asio::io_context ioc{1};
    Histogram latency;
    Histogram connect_latency;
    std::vector<std::unique_ptr<Conn>> conns;
    std::vector<Conn*> stalled;         // publishers of this worker waiting for deliveries
    std::uint64_t last_message_ns = 0;  // when this worker last received a PUBLISH
    std::uint32_t pending = 0;          // connections being set up
    std::thread thread;
};

Conn::Conn(Worker& worker, Run& r, Role ro, std::uint32_t i)
    : w(worker), run(r), role(ro), id(i), wake(worker.ioc), keepalive_timer(worker.ioc) {
    const char* kind = role == Role::Publisher ? "pub" : role == Role::Subscriber ? "sub" : "conn";
    decoder.set_version(run.version);
    client_id = run.o.client_prefix + "-" + kind + "-" + std::to_string(i) + "-" + std::to_string(getpid());
}

void Conn::fail(const std::string& why) {
    if (dead) return;
    dead = true;
    run.error(client_id + ": " + why);
    if (stream) stream->cancel();
    wake.cancel();
}

void Conn::kick() {
    if (write_active || out.empty() || dead) return;
    write_active = true;
    asio::co_spawn(w.ioc, write_loop(), asio::detached);
}

asio::awaitable<void> Conn::write_loop() {
    try {
        while (!out.empty() && !dead) {
            std::swap(out, writing);
            co_await stream->write(writing);
            writing.clear();
        }
    } catch (const std::exception& e) {
        fail(std::string("write: ") + e.what());
    }
    write_active = false;
    wake.cancel();  // a publisher may wait for the buffer to drain
}

// ---- packets -----------------------------------------------------------------------------------------------------
void append(std::vector<std::byte>& out, const codec::Packet& p, codec::ProtocolVersion v) {
    if (auto r = codec::encode_append(p, v, out); !r) throw std::runtime_error("encode failed");
}

// Reads until one packet is decoded and hands it to `f`; used during setup (CONNACK, SUBACK).
template <class F>
asio::awaitable<void> read_one(Conn& c, F&& f) {
    for (;;) {
        auto r = c.decoder.decode(codec::Bytes(c.rbuf.data() + c.rbeg, c.rend - c.rbeg));
        if (r.status == codec::DecodeStatus::Ok) {
            c.rbeg += r.consumed;
            f(r.packet);
            co_return;
        }
        if (r.status == codec::DecodeStatus::Error) throw std::runtime_error("bad packet: " + std::string(r.message));
        if (c.rend == c.rbuf.size()) {
            std::copy(c.rbuf.begin() + static_cast<std::ptrdiff_t>(c.rbeg),
                      c.rbuf.begin() + static_cast<std::ptrdiff_t>(c.rend), c.rbuf.begin());
            c.rend -= c.rbeg;
            c.rbeg = 0;
            if (c.rend == c.rbuf.size()) c.rbuf.resize(c.rbuf.size() * 2);
        }
        c.rend += co_await c.stream->read_some(std::span(c.rbuf).subspan(c.rend));
    }
}

// Messages of publisher `p` not yet received by its slowest group.
std::uint64_t outstanding(const PublisherState& st) noexcept {
    const std::uint64_t sent = st.sent.load(std::memory_order_relaxed);
    const std::uint64_t delivered = st.slowest();
    return sent > delivered ? sent - delivered : 0;
}

bool window_full(const Run& run, const Conn& p) {
    const std::uint32_t w = run.o.effective_window();
    const PublisherState& st = run.pubs[p.id];
    return w != 0 && st.fan != 0 && outstanding(st) >= w;
}

// After a subscriber took in messages: publishers on this thread whose window has room again go on at once
// (publishers on other threads notice by polling).
void wake_stalled(Worker& w, const Run& run) {
    for (std::size_t i = 0; i < w.stalled.size();) {
        Conn* p = w.stalled[i];
        if (!window_full(run, *p)) {
            p->stalled = false;
            p->wake.cancel();
            w.stalled[i] = w.stalled.back();
            w.stalled.pop_back();
        } else {
            ++i;
        }
    }
}

// Handles every complete packet in the read buffer; queues PUBACKs.
void process(Conn& c) {
    Run& run = c.run;
    bool took_messages = false;
    for (;;) {
        auto r = c.decoder.decode(codec::Bytes(c.rbuf.data() + c.rbeg, c.rend - c.rbeg));
        if (r.status == codec::DecodeStatus::NeedMore) break;
        if (r.status == codec::DecodeStatus::Error) throw std::runtime_error("bad packet: " + std::string(r.message));
        c.rbeg += r.consumed;
        if (auto* pub = std::get_if<codec::Publish>(&r.packet)) {
            const auto t = now_ns();
            c.w.last_message_ns = t;
            const auto h = read_header(pub->payload);
            // A header from this run: a known publisher (any below 65536 when this process does not publish) and
            // a sequence number a run can reach; anything else is someone else's message.
            if (h && h->publisher < std::max<std::size_t>(run.pubs.size(), run.npub == 0 ? 65536 : 0) &&
                h->seq < (1U << 28)) {
                c.w.latency.record(t > h->send_ns ? t - h->send_ns : 0);
                if (c.receipts.record(h->publisher, h->seq) && h->publisher < c.slot.size() &&
                    c.slot[h->publisher] != kNoSlot) {
                    run.pubs[h->publisher].delivered[c.slot[h->publisher]].fetch_add(1, std::memory_order_relaxed);
                }
            } else {
                ++c.foreign;  // not ours: counted as unexpected
            }
            took_messages = true;
            if (pub->qos == codec::QoS::AtLeastOnce) {
                const std::byte ack[4] = {std::byte{0x40}, std::byte{0x02}, static_cast<std::byte>(pub->packet_id >> 8),
                                          static_cast<std::byte>(pub->packet_id & 0xff)};
                c.out.insert(c.out.end(), ack, ack + 4);
            }
        } else if (std::holds_alternative<codec::Puback>(r.packet)) {
            if (c.inflight > 0) --c.inflight;
            if (!c.stalled) c.wake.cancel();
        } else if (auto* d = std::get_if<codec::Disconnect>(&r.packet)) {
            throw std::runtime_error("broker sent DISCONNECT: " + std::string(codec::reason_code_name(d->reason)));
        }
    }
    if (took_messages) {
        c.received.store(c.receipts.received() + c.foreign, std::memory_order_relaxed);
        if (!c.w.stalled.empty()) wake_stalled(c.w, run);
    }
    // Keep the unread tail at the front; grow for a packet larger than the buffer.
    if (c.rbeg == c.rend) {
        c.rbeg = c.rend = 0;
    } else if (c.rbeg > 0 && c.rend > c.rbuf.size() / 2) {
        std::copy(c.rbuf.begin() + static_cast<std::ptrdiff_t>(c.rbeg),
                  c.rbuf.begin() + static_cast<std::ptrdiff_t>(c.rend), c.rbuf.begin());
        c.rend -= c.rbeg;
        c.rbeg = 0;
    }
    if (c.rend == c.rbuf.size()) c.rbuf.resize(c.rbuf.size() * 2);
}

asio::awaitable<void> read_loop(Conn& c) {
    try {
        for (;;) {
            c.rend += co_await c.stream->read_some(std::span(c.rbuf).subspan(c.rend));
            process(c);
            c.kick();
        }
    } catch (const std::exception& e) {
        if (!c.dead && !c.run.stop_publishing.load()) {
            c.run.dropped.fetch_add(1);
            c.fail(std::string("read: ") + e.what());
        }
        c.dead = true;
        c.wake.cancel();
    }
}

asio::awaitable<void> wait(Conn& c, std::chrono::nanoseconds d) {
    c.wake.expires_after(d);
    boost::system::error_code ec;
    co_await c.wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

asio::awaitable<void> keepalive_loop(Conn& c) {
    const std::byte ping[2] = {std::byte{0xc0}, std::byte{0x00}};
    asio::steady_timer& t = c.keepalive_timer;
    while (!c.dead) {
        t.expires_after(std::chrono::seconds(c.run.o.keepalive) * 3 / 4);
        boost::system::error_code ec;
        co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        if (c.dead) break;
        c.out.insert(c.out.end(), ping, ping + 2);
        c.kick();
    }
}

// The publishing loop: batches of messages into the write buffer, as the rate, the window, the receive maximum
// (QoS 1) and the write buffer allow.
asio::awaitable<void> publish_loop(Conn& c) {
    Run& run = c.run;
    const Options& o = run.o;
    PublisherState& st = run.pubs[c.id];
    const std::string& topic_pattern = run.topics[c.id];
    const bool per_message_topic = has_seq(topic_pattern);
    const std::vector<std::byte> zeros(o.size);
    codec::Publish tmpl_pub;
    tmpl_pub.topic = topic_pattern;
    tmpl_pub.qos = static_cast<codec::QoS>(o.qos);
    tmpl_pub.retain = o.retain;
    tmpl_pub.packet_id = static_cast<std::uint16_t>(o.qos > 0 ? 1 : 0);
    tmpl_pub.payload = codec::Bytes(zeros);
    std::vector<std::byte> tmpl;
    append(tmpl, tmpl_pub, run.version);
    const double rate = o.rate > 0 ? o.rate : o.total_rate > 0 ? o.total_rate / run.npub : 0;
    constexpr std::size_t kBatch = 64;
    constexpr std::size_t kHighWater = 256 * 1024;
    // QoS 1: no more unacknowledged PUBLISHes than the broker's Receive Maximum (5.0) or the window.
    const std::uint32_t window = o.effective_window();
    const std::uint32_t max_inflight =
        std::min<std::uint32_t>(c.receive_maximum, window > 0 ? window : std::uint32_t{65535});
    std::uint64_t seq = 0;
    const std::uint64_t start = now_ns();
    std::uint64_t stall_since = 0, stall_delivered = 0;
    std::string topic;
    while (!c.dead && !run.stop_publishing.load(std::memory_order_relaxed) && (o.count == 0 || seq < o.count)) {
        std::uint64_t budget = kBatch;
        if (o.count != 0) budget = std::min(budget, o.count - seq);
        if (rate > 0) {
            const auto due = static_cast<std::uint64_t>(static_cast<double>(now_ns() - start) * rate / 1e9) + 1;
            if (due <= seq) {
                const auto next = start + static_cast<std::uint64_t>(static_cast<double>(seq) * 1e9 / rate);
                co_await wait(c, std::chrono::nanoseconds(next - std::min(next, now_ns())));
                continue;
            }
            budget = std::min(budget, due - seq);
        }
        if (window_full(run, c)) {
            const auto delivered = st.slowest();
            const auto t = now_ns();
            if (stall_since == 0 || delivered != stall_delivered) {
                stall_since = t;
                stall_delivered = delivered;
            } else if (t - stall_since > 1'000'000'000) {
                // Nothing delivered for a second: what is outstanding is taken as lost (QoS 0 under overload)
                // and the window starts over, so that one lost message cannot stop the publisher for good.
                for (std::uint32_t g = 0; g < st.fan; ++g) {
                    atomic_max(st.delivered[g], st.sent.load());
                }
                run.window_resets.fetch_add(1);
                stall_since = 0;
                continue;
            }
            if (!c.stalled) {
                c.stalled = true;
                c.w.stalled.push_back(&c);
            }
            co_await wait(c, std::chrono::milliseconds(1));
            continue;
        }
        stall_since = 0;
        if (window > 0 && st.fan > 0) {
            budget = std::min<std::uint64_t>(budget, window - std::min<std::uint64_t>(window, outstanding(st)));
            if (budget == 0) budget = 1;
        }
        if (o.qos > 0) {
            if (c.inflight >= max_inflight) {
                co_await wait(c, std::chrono::milliseconds(100));
                continue;
            }
            budget = std::min<std::uint64_t>(budget, max_inflight - c.inflight);
        }
        if (c.out.size() >= kHighWater) {
            co_await wait(c, std::chrono::milliseconds(100));  // woken when the write completes
            continue;
        }
        const std::uint64_t t = now_ns();
        for (std::uint64_t k = 0; k < budget; ++k, ++seq) {
            std::size_t at = c.out.size();
            if (per_message_topic) {
                topic = expand(topic_pattern, c.id, seq);
                tmpl_pub.topic = topic;
                tmpl.clear();
                append(tmpl, tmpl_pub, run.version);
            }
            c.out.insert(c.out.end(), tmpl.begin(), tmpl.end());
            const std::span<std::byte> packet(c.out.data() + at, tmpl.size());
            write_header(packet.subspan(packet.size() - o.size),
                         PayloadHeader{t, c.id, static_cast<std::uint32_t>(seq)});
            if (o.qos > 0) {
                codec::patch_publish_packet_id(packet, c.next_id);
                c.next_id = static_cast<std::uint16_t>(c.next_id == 65535 ? 1 : c.next_id + 1);
                ++c.inflight;
            }
        }
        st.sent.store(seq, std::memory_order_relaxed);
        c.kick();
        // Let the reader and the other connections of this thread run.
        co_await asio::post(c.w.ioc, asio::use_awaitable);
    }
    st.done.store(true);
}

// One connection's life: paced start, connect, CONNECT/CONNACK, SUBSCRIBE/SUBACK, reading, publishing.
asio::awaitable<void> conn_main(Conn& c) {
    Run& run = c.run;
    const Options& o = run.o;
    const auto t0 = now_ns();
    atomic_min_nonzero(run.first_connect_ns, t0);
    bool counted = false;
    try {
        c.stream = co_await net::connect(c.w.ioc.get_executor(), run.settings);
        codec::Connect connect;
        connect.version = run.version;
        connect.clean_start = true;
        connect.keep_alive_s = o.keepalive;
        connect.client_id = c.client_id;
        append(c.out, connect, run.version);
        co_await c.stream->write(c.out);
        c.out.clear();
        std::string refusal;
        co_await read_one(c, [&](const codec::Packet& p) {
            const auto* ack = std::get_if<codec::Connack>(&p);
            if (ack == nullptr) {
                refusal = "expected CONNACK";
            } else if (ack->reason != codec::ReasonCode::Success) {
                refusal = "connection refused: " + std::string(codec::reason_code_name(ack->reason));
            } else if (ack->properties.receive_maximum) {
                c.receive_maximum = *ack->properties.receive_maximum;
            }
        });
        if (!refusal.empty()) throw std::runtime_error(refusal);
        const auto t1 = now_ns();
        c.w.connect_latency.record(t1 - t0);
        atomic_max(run.last_connect_ns, t1);
        run.connected.fetch_add(1);
        --c.w.pending;
        counted = true;
        if (c.role == Role::Subscriber) {
            const std::string filter = expand(o.filter_pattern(), c.id);
            const codec::Subscription sub{.filter = filter, .options = {.qos = static_cast<codec::QoS>(o.qos)}};
            codec::Subscribe subscribe;
            subscribe.packet_id = 1;
            subscribe.subscriptions = std::span(&sub, 1);
            append(c.out, subscribe, run.version);
            atomic_min_nonzero(run.first_subscribe_ns, now_ns());
            co_await c.stream->write(c.out);
            c.out.clear();
            co_await read_one(c, [&](const codec::Packet& p) {
                const auto* ack = std::get_if<codec::Suback>(&p);
                if (ack == nullptr || ack->reason_codes.empty()) {
                    refusal = "expected SUBACK";
                } else if (static_cast<std::uint8_t>(ack->reason_codes[0]) >= 0x80) {
                    refusal = "subscription to " + filter +
                              " refused: " + std::string(codec::reason_code_name(ack->reason_codes[0]));
                }
            });
            if (!refusal.empty()) throw std::runtime_error(refusal);
            process(c);  // retained messages may have come with the SUBACK
            c.kick();    // with their PUBACKs: the broker sends no more than its inflight window without them
        }
        run.setup_done.fetch_add(1);
        asio::co_spawn(c.w.ioc, read_loop(c), asio::detached);
        if (o.keepalive > 0) asio::co_spawn(c.w.ioc, keepalive_loop(c), asio::detached);
        if (c.role == Role::Publisher) {
            while (!run.go.load() && !c.dead) co_await wait(c, std::chrono::milliseconds(1));
            if (!c.dead) co_await publish_loop(c);
            run.pubs[c.id].done.store(true);
        }
    } catch (const std::exception& e) {
        if (!counted) {
            --c.w.pending;
            run.failed.fetch_add(1);
            run.setup_done.fetch_add(1);
        } else if (!c.dead) {
            run.dropped.fetch_add(1);
        }
        if (c.role == Role::Publisher) run.pubs[c.id].done.store(true);
        c.fail(e.what());
    }
}

// Starts this worker's connections, paced by --connect-rate and --max-pending (both split over the threads).
asio::awaitable<void> launcher(Worker& w, const Run& run) {
    const double rate = run.o.connect_rate / run.o.threads;
    const std::uint32_t max_pending = std::max<std::uint32_t>(1, run.o.max_pending / run.o.threads);
    asio::steady_timer t(w.ioc);
    const auto start = Clock::now();
    std::uint64_t n = 0;
    for (auto& c : w.conns) {
        if (rate > 0) {
            t.expires_at(start +
                         std::chrono::nanoseconds(static_cast<std::int64_t>(static_cast<double>(n) * 1e9 / rate)));
            co_await t.async_wait(asio::use_awaitable);
        }
        while (w.pending >= max_pending) {
            t.expires_after(std::chrono::microseconds(200));
            co_await t.async_wait(asio::use_awaitable);
        }
        ++w.pending;
        ++n;
        asio::co_spawn(w.ioc, conn_main(*c), asio::detached);
    }
}

asio::awaitable<void> disconnect(Conn& c) {
    c.keepalive_timer.cancel();
    c.wake.cancel();
    if (c.dead || !c.stream) co_return;
    try {
        const std::byte bye[2] = {std::byte{0xe0}, std::byte{0x00}};
        c.out.insert(c.out.end(), bye, bye + 2);
        c.kick();
        asio::steady_timer t(c.w.ioc);
        for (int i = 0; i < 100 && c.write_active; ++i) {
            t.expires_after(std::chrono::milliseconds(10));
            co_await t.async_wait(asio::use_awaitable);
        }
    } catch (...) {
    }
    c.dead = true;
    c.stream->cancel();
    c.wake.cancel();
    c.keepalive_timer.cancel();
}

std::string fmt_us(std::uint64_t ns) {
    char b[32];
    std::snprintf(b, sizeof b, "%.1f", static_cast<double>(ns) / 1e3);
    return b;
}

}  // namespace

int run_bench(const std::vector<std::string>& args) {
    auto parsed = parse_options(args);
    if (!parsed.options) {
        std::fputs(parsed.text.c_str(), parsed.exit_code == 0 ? stdout : stderr);
        return parsed.exit_code;
    }
    auto run = std::make_unique<Run>();
    run->o = std::move(*parsed.options);
    const Options& o = run->o;
    auto url = net::parse_url(o.url);
    if (!url) {
        std::fprintf(stderr, "Error: %s\n", url.error().c_str());
        return 1;
    }
    run->settings.url = *url;
    run->settings.tls.insecure = o.insecure;
    run->settings.tls.ca_file = o.cafile;
    run->settings.timeout = std::chrono::seconds(30);
    run->version = o.version == 5 ? codec::ProtocolVersion::V5 : codec::ProtocolVersion::V3_1_1;
    run->npub = o.num_publishers();
    run->nsub = o.num_subscribers();
    run->nidle = o.scenario == Scenario::Conn ? o.clients : 0;
    run->pubs = std::vector<PublisherState>(run->npub);
    const std::string tp = o.topic_pattern();
    for (std::uint32_t p = 0; p < run->npub; ++p)
        run->topics.push_back([&] {
            // %i expanded now, %j (and %%) left for each message
            std::string t;
            for (std::size_t i = 0; i < tp.size(); ++i) {
                if (tp[i] == '%' && i + 1 < tp.size() && tp[i + 1] == 'i') {
                    t += std::to_string(p);
                    ++i;
                } else if (tp[i] == '%' && i + 1 < tp.size()) {
                    t += tp.substr(i, 2);
                    ++i;
                } else {
                    t += tp[i];
                }
            }
            return t;
        }());
    // Which subscriber expects which publisher (by matching), and the groups that share deliveries.
    const bool known_topics = !has_seq(tp);
    std::vector<std::vector<std::size_t>> groups;
    std::map<std::string, std::size_t> shared_groups;
    const std::string fp = o.filter_pattern();
    for (std::uint32_t s = 0; s < run->nsub; ++s) {
        const std::string filter = expand(fp, s);
        std::vector<std::uint32_t> expects;
        if (known_topics) {
            for (std::uint32_t p = 0; p < run->npub; ++p) {
                if (filter_matches(filter, run->topics[p])) expects.push_back(p);
            }
        }
        run->sub_expects.push_back(expects);
        const auto group = share_group(filter);
        if (!group.empty()) {
            const std::string key = std::string(group) + "\n" + filter.substr(7 + group.size() + 1);
            auto [it, fresh] = shared_groups.emplace(key, groups.size());
            if (fresh) groups.emplace_back();
            groups[it->second].push_back(s);
        } else {
            groups.push_back({s});
        }
    }
    std::vector<std::vector<std::uint32_t>> group_expects;
    std::vector<std::vector<std::uint32_t>> sub_slots(run->nsub, std::vector<std::uint32_t>(run->npub, kNoSlot));
    for (const auto& g : groups) {
        group_expects.push_back(run->sub_expects[g.front()]);
        for (std::uint32_t p : group_expects.back()) {
            for (std::size_t m : g) sub_slots[m][p] = run->pubs[p].fan;
            ++run->pubs[p].fan;
        }
    }
    for (auto& p : run->pubs) {
        p.delivered = std::make_unique<std::atomic<std::uint64_t>[]>(p.fan);
        for (std::uint32_t g = 0; g < p.fan; ++g) p.delivered[g].store(0);
    }

    // Workers and connections: subscribers first (so they are subscribed before anyone publishes), then publishers.
    std::vector<std::unique_ptr<Worker>> workers;
    for (unsigned i = 0; i < o.threads; ++i) workers.push_back(std::make_unique<Worker>());
    std::vector<Conn*> subs, pubs, all;
    std::size_t next = 0;
    auto add = [&](Role role, std::uint32_t id) {
        Worker& w = *workers[next++ % workers.size()];
        w.conns.push_back(std::make_unique<Conn>(w, *run, role, id));
        all.push_back(w.conns.back().get());
        return w.conns.back().get();
    };
    for (std::uint32_t s = 0; s < run->nsub; ++s) {
        subs.push_back(add(Role::Subscriber, s));
        subs.back()->slot = std::move(sub_slots[s]);
    }
    for (std::uint32_t p = 0; p < run->npub; ++p) pubs.push_back(add(Role::Publisher, p));
    for (std::uint32_t i = 0; i < run->nidle; ++i) add(Role::Idle, i);

    struct sigaction sa {};
    sa.sa_handler = on_bench_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    const ProcSample broker_before_connect = sample_process(o.broker_pid);
    const auto t_start = Clock::now();
    std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
    for (auto& w : workers) {
        guards.push_back(asio::make_work_guard(w->ioc));
        // Subscribers first: publishers are queued after them in each worker's list.
        asio::co_spawn(w->ioc, launcher(*w, *run), asio::detached);
        w->thread = std::thread([&ioc = w->ioc] { ioc.run(); });
    }

    const std::uint64_t total_conns = all.size();
    auto received_total = [&] {
        std::uint64_t n = 0;
        for (Conn* s : subs) n += s->received.load(std::memory_order_relaxed);
        return n;
    };
    auto sent_total = [&] {
        std::uint64_t n = 0;
        for (auto& p : run->pubs) n += p.sent.load(std::memory_order_relaxed);
        return n;
    };
    auto progress = [&](const char* phase, double secs, std::uint64_t ds, std::uint64_t dr, double dt) {
        if (o.quiet) return;
        std::fprintf(stderr, "[%6.1fs] %-8s conn %llu/%llu fail %llu  sent %llu (%.0f/s)  recv %llu (%.0f/s)\n", secs,
                     phase, static_cast<unsigned long long>(run->connected.load()),
                     static_cast<unsigned long long>(total_conns), static_cast<unsigned long long>(run->failed.load()),
                     static_cast<unsigned long long>(sent_total()), static_cast<double>(ds) / dt,
                     static_cast<unsigned long long>(received_total()), static_cast<double>(dr) / dt);
    };
    auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - t_start).count(); };

    // 1. Connect (and subscribe) everyone.
    {
        auto last = Clock::now();
        while (run->setup_done.load() < total_conns && !g_interrupted.load()) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling the workers' counters
            if (Clock::now() - last >= std::chrono::seconds(1)) {
                last = Clock::now();
                progress("connect", elapsed(), 0, 0, 1);
            }
        }
    }
    const double connect_s = static_cast<double>(run->last_connect_ns.load() - run->first_connect_ns.load()) / 1e9;
    // Memory held by the idle connections, after a short settle for the broker to finish its bookkeeping.
    ProcSample broker_connected;
    if (o.broker_pid > 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        broker_connected = sample_process(o.broker_pid);
    }

    // 2. Measure: publishers go; progress every second.
    const ProcSample b0 = sample_process(o.broker_pid);
    const double g0 = self_cpu_s();
    const std::uint64_t r0 = received_total();
    const auto m0 = Clock::now();
    run->go.store(true);
    auto publishers_done = [&] {
        if (run->npub == 0) return false;
        for (auto& p : run->pubs) {
            if (!p.done.load()) return false;
        }
        return true;
    };
    auto count_done = [&] { return o.scenario == Scenario::Sub && o.count > 0 && received_total() >= o.count; };
    std::uint64_t count_done_ns = 0;
    {
        auto last = m0;
        std::uint64_t ls = sent_total(), lr = received_total();
        const auto end = m0 + std::chrono::duration<double>(o.duration_s);
        std::uint64_t idle_r = lr;
        auto idle_since = Clock::now();
        auto went_idle = [&] {
            if (o.idle_stop_s <= 0) return false;
            const std::uint64_t r = received_total();
            if (r != idle_r) {
                idle_r = r;
                idle_since = Clock::now();
                return false;
            }
            return r > 0 && Clock::now() - idle_since >= std::chrono::duration<double>(o.idle_stop_s);
        };
        while (Clock::now() < end && !g_interrupted.load() && !publishers_done() && !count_done() && !went_idle()) {
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
            const auto now = Clock::now();
            if (now - last >= std::chrono::seconds(1)) {
                const std::uint64_t s = sent_total(), r = received_total();
                progress("run", elapsed(), s - ls, r - lr, std::chrono::duration<double>(now - last).count());
                ls = s;
                lr = r;
                last = now;
            }
        }
        if (count_done()) count_done_ns = now_ns();
    }
    const auto m1 = Clock::now();
    const std::uint64_t r1 = received_total();
    const std::uint64_t s1 = sent_total();
    const ProcSample b1 = sample_process(o.broker_pid);
    const double g1 = self_cpu_s();
    run->stop_publishing.store(true);

    // 3. Drain: wait for the expected copies, or until nothing arrives for --drain seconds.
    std::uint64_t expected_copies = 0;
    auto expected_now = [&] {
        std::uint64_t n = 0;
        for (auto& p : run->pubs) n += p.sent.load() * p.fan;
        return n;
    };
    {
        auto last_change = Clock::now();
        std::uint64_t last_r = received_total();
        while (!g_interrupted.load()) {
            const bool all_done = publishers_done() || run->npub == 0;
            expected_copies = expected_now();
            const std::uint64_t r = received_total();
            if (all_done && known_topics && r >= expected_copies && run->npub > 0) break;
            if (r != last_r) {
                last_r = r;
                last_change = Clock::now();
            }
            if (Clock::now() - last_change >= std::chrono::duration<double>(o.drain_s)) break;
            if (run->npub == 0) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    }
    const ProcSample b2 = sample_process(o.broker_pid);

    // 4. Disconnect and stop the threads.
    for (auto& w : workers) {
        asio::post(w->ioc, [&w = *w] {
            for (auto& c : w.conns) asio::co_spawn(w.ioc, disconnect(*c), asio::detached);
        });
    }
    for (auto& g : guards) g.reset();
    for (auto& w : workers) w->thread.join();

    // 5. Results.
    Histogram latency, connect_latency;
    for (auto& w : workers) {
        latency.merge(w->latency);
        connect_latency.merge(w->connect_latency);
    }
    std::vector<const Receipts*> receipts;
    for (Conn* s : subs) receipts.push_back(&s->receipts);
    std::vector<std::uint64_t> sent;
    for (auto& p : run->pubs) sent.push_back(p.sent.load());
    const Accounting acc = account(receipts, groups, group_expects, sent);
    const double window_s = std::chrono::duration<double>(m1 - m0).count();
    const std::uint64_t delivered = r1 - r0;

    nlohmann::json j;
    j["scenario"] = std::string(scenario_name(o.scenario));
    j["url"] = o.url;
    j["mqtt_version"] = o.version == 5 ? "5.0" : "3.1.1";
    j["qos"] = o.qos;
    j["size"] = o.size;
    j["publishers"] = run->npub;
    j["subscribers"] = run->nsub;
    j["connections"] = total_conns;
    j["threads"] = o.threads;
    j["window"] = o.effective_window();
    j["rate_per_publisher"] = o.rate > 0 ? o.rate : o.total_rate > 0 ? o.total_rate / std::max(1u, run->npub) : 0;
    j["duration_s"] = window_s;
    j["connect"] = {{"connected", run->connected.load()},
                    {"failed", run->failed.load()},
                    {"dropped", run->dropped.load()},
                    {"seconds", connect_s},
                    {"rate_per_s", connect_s > 0 ? static_cast<double>(run->connected.load()) / connect_s : 0},
                    {"latency_ms_p50", static_cast<double>(connect_latency.percentile(0.5)) / 1e6},
                    {"latency_ms_p99", static_cast<double>(connect_latency.percentile(0.99)) / 1e6}};
    j["sent"] = sent_total();
    j["sent_in_window"] = s1;
    j["received"] = acc.received;
    j["delivered_in_window"] = delivered;
    j["sent_rate"] = window_s > 0 ? static_cast<double>(s1) / window_s : 0;
    j["delivered_rate"] = window_s > 0 ? static_cast<double>(delivered) / window_s : 0;
    // Without this run's publishers (sub) or with a topic per message (%j), nobody knows what was expected.
    const bool exact = known_topics && run->npub > 0 && run->nsub > 0;
    j["expected"] = exact ? nlohmann::json(acc.expected) : nlohmann::json(nullptr);
    j["lost"] = exact ? nlohmann::json(acc.lost) : nlohmann::json(nullptr);
    j["unexpected"] = exact ? nlohmann::json(acc.unexpected) : nlohmann::json(nullptr);
    j["duplicated"] = acc.duplicated;
    j["out_of_order"] = acc.out_of_order;
    j["window_resets"] = run->window_resets.load();
    std::uint64_t last_message_ns = 0;
    for (auto& w : workers) last_message_ns = std::max(last_message_ns, w->last_message_ns);
    if (last_message_ns != 0 && run->first_subscribe_ns.load() != 0 &&
        last_message_ns > run->first_subscribe_ns.load()) {
        // From the first SUBSCRIBE to the last message received (a retained storm's delivery time).
        j["last_message_s"] = static_cast<double>(last_message_ns - run->first_subscribe_ns.load()) / 1e9;
    }
    if (count_done_ns != 0 && run->first_subscribe_ns.load() != 0) {
        j["seconds_to_count"] = static_cast<double>(count_done_ns - run->first_subscribe_ns.load()) / 1e9;
    }
    j["latency_us"] = {{"count", latency.count()},
                       {"p50", static_cast<double>(latency.percentile(0.5)) / 1e3},
                       {"p99", static_cast<double>(latency.percentile(0.99)) / 1e3},
                       {"p999", static_cast<double>(latency.percentile(0.999)) / 1e3},
                       {"max", static_cast<double>(latency.max()) / 1e3}};
    j["generator_cpu_percent"] = window_s > 0 ? 100.0 * (g1 - g0) / window_s : 0;
    if (o.broker_pid > 0 && b0.ok && b1.ok) {
        const double cpu_us = (b1.cpu_s - b0.cpu_s) * 1e6;
        j["broker"] = {{"pid", o.broker_pid},
                       {"cpu_percent", window_s > 0 ? cpu_us / 1e4 / window_s : 0},
                       {"cpu_us_per_delivered", delivered > 0 ? cpu_us / static_cast<double>(delivered) : 0},
                       {"rss_kb", b2.ok ? b2.rss_kb : b1.rss_kb},
                       {"hwm_kb", b2.ok ? b2.hwm_kb : b1.hwm_kb},
                       {"rss_kb_before_connect", broker_before_connect.rss_kb},
                       {"rss_kb_connected", broker_connected.rss_kb},
                       {"rss_bytes_per_connection", total_conns > 0 && broker_connected.ok && broker_before_connect.ok
                                                        ? (static_cast<double>(broker_connected.rss_kb) -
                                                           static_cast<double>(broker_before_connect.rss_kb)) *
                                                              1024.0 / static_cast<double>(total_conns)
                                                        : 0}};
    }
    if (!run->first_error.empty()) j["first_error"] = run->first_error;

    if (o.json) {
        std::puts(j.dump().c_str());
    } else {
        std::printf("%s: %llu connections (%llu failed), %.1f s\n", std::string(scenario_name(o.scenario)).c_str(),
                    static_cast<unsigned long long>(run->connected.load()),
                    static_cast<unsigned long long>(run->failed.load()), window_s);
        std::printf("  sent %llu (%.0f msg/s), delivered %llu in the window (%.0f msg/s), received %llu in all\n",
                    static_cast<unsigned long long>(s1), j["sent_rate"].get<double>(),
                    static_cast<unsigned long long>(delivered), j["delivered_rate"].get<double>(),
                    static_cast<unsigned long long>(acc.received));
        if (known_topics && run->npub > 0 && run->nsub > 0) {
            std::printf("  expected %llu, lost %llu, duplicated %llu, out of order %llu\n",
                        static_cast<unsigned long long>(acc.expected), static_cast<unsigned long long>(acc.lost),
                        static_cast<unsigned long long>(acc.duplicated),
                        static_cast<unsigned long long>(acc.out_of_order));
        }
        if (latency.count() > 0) {
            std::printf("  latency us: p50 %s  p99 %s  p99.9 %s  max %s\n", fmt_us(latency.percentile(0.5)).c_str(),
                        fmt_us(latency.percentile(0.99)).c_str(), fmt_us(latency.percentile(0.999)).c_str(),
                        fmt_us(latency.max()).c_str());
        }
        std::printf("  connect: %.0f/s, p50 %.2f ms, p99 %.2f ms; generator CPU %.0f%%\n",
                    j["connect"]["rate_per_s"].get<double>(), j["connect"]["latency_ms_p50"].get<double>(),
                    j["connect"]["latency_ms_p99"].get<double>(), j["generator_cpu_percent"].get<double>());
        if (j.contains("broker")) std::printf("  broker: %s\n", j["broker"].dump().c_str());
        if (!run->first_error.empty()) std::printf("  first error: %s\n", run->first_error.c_str());
    }
    if (run->connected.load() == 0 && total_conns > 0) {
        std::fprintf(stderr, "Error: no connection: %s\n", run->first_error.c_str());
        return 1;
    }
    return g_interrupted.load() ? 130 : 0;
}

}  // namespace moth::cli
