// `moth bench`'s connections: one coroutine per connection on its worker's io_context. Lean on purpose: each
// connection is a byte stream (net::Stream, so TCP, TLS and WebSocket alike), packets are encoded with src/codec
// once per publisher into a template and patched per message (payload header, packet identifier), received packets
// are decoded in place, and writes are gathered: one write per connection per loop turn, however many packets wait.
#include <netinet/in.h>
#include <unistd.h>

#include <cstdio>
#include <span>
#include <stdexcept>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "bench_run.hpp"
#include "codec/encoder.hpp"
#include "net/transport.hpp"

namespace moth::cli::bench {

Conn::Conn(Worker& worker, Run& r, Role ro, std::uint32_t i, std::uint64_t index_in_run)
    : w(worker),
      run(r),
      role(ro),
      id(i),
      index(index_in_run),
      rbuf(ro == Role::Idle ? 1024 : 64 * 1024),
      wake(worker.ioc),
      keepalive_timer(worker.ioc),
      setup_timer(worker.ioc) {
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

namespace {

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

// --connect-timeout: from the stream's connect to the end of the setup (CONNACK, SUBACK); cancels the stream so
// that the pending read ends. The handler runs on the connection's thread, as everything of it.
void arm_setup_timer(Conn& c) {
    c.setup_timer.expires_after(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(c.run.o.connect_timeout_s)));
    c.setup_timer.async_wait([&c](const boost::system::error_code& ec) {
        if (ec || c.dead) return;
        c.setup_timed_out = true;
        if (c.stream) c.stream->cancel();
    });
}

// --bind: the TCP connect of net::connect() with the local address chosen first (mqtt:// only: parse_options checks).
// The stream is c.stream from the start, so that --connect-timeout (armed by the caller before this) can cancel it.
asio::awaitable<void> connect_bound(Conn& c) {
    const net::Url& url = c.run.settings.url;
    const auto local = asio::ip::make_address(c.run.o.bind);
    asio::ip::tcp::resolver resolver(c.w.ioc);
    const auto endpoints = co_await resolver.async_resolve(
        url.host, std::to_string(url.port), asio::ip::tcp::resolver::numeric_service, asio::use_awaitable);
    const std::string what = "connect from " + c.run.o.bind + " to " + url.host + ":" + std::to_string(url.port);
    boost::system::error_code ec = asio::error::address_family_not_supported;
    for (const auto& entry : endpoints) {
        const auto remote = entry.endpoint();
        if (remote.address().is_v4() != local.is_v4()) continue;
        if (c.setup_timed_out) break;
        auto& socket = static_cast<net::TcpStream&>(*c.stream).socket();
        boost::system::error_code ignored;
        socket.close(ignored);
        socket.open(remote.protocol(), ec);
        if (ec) break;
#ifdef IP_BIND_ADDRESS_NO_PORT
        // The port is picked at connect, per (source, destination); without this, bind() takes a port of the source
        // address for every destination at once.
        if (local.is_v4()) {
            const int one = 1;
            (void)::setsockopt(socket.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        }
#endif
        socket.bind(asio::ip::tcp::endpoint(local, 0), ec);
        if (ec) throw std::runtime_error(what + ": bind: " + ec.message());
        ec = {};
        co_await socket.async_connect(remote, asio::redirect_error(asio::use_awaitable, ec));
        if (!ec) {
            // TCP_NODELAY: an optimisation, as in net::connect(); a socket that refuses it still works.
            socket.set_option(asio::ip::tcp::no_delay(true), ec);
            co_return;
        }
    }
    throw std::runtime_error(what + ": " + ec.message());
}

// CONNECT (with --username and --password) and the CONNACK. Returns why the connection failed, empty when it was
// accepted; `refused`: the broker answered with an error (e.g. Bad User Name or Password).
asio::awaitable<std::string> login(Conn& c, bool& refused) {
    const Run& run = c.run;
    const Credentials cred = credentials(run.o, c.index);
    codec::Connect connect;
    connect.version = run.version;
    // Persistent sessions start anew all the same (5.0: Clean Start with an expiry; 3.1.1 cannot say both).
    const bool v5 = run.version == codec::ProtocolVersion::V5;
    connect.clean_start = run.o.session_expiry_s == 0 || v5;
    if (run.o.session_expiry_s != 0 && v5) {
        connect.properties.session_expiry_interval = run.o.session_expiry_s;
    }
    connect.keep_alive_s = run.o.keepalive;
    connect.client_id = c.client_id;
    if (cred.username) connect.username = *cred.username;
    if (cred.password) connect.password = std::as_bytes(std::span(*cred.password));
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
            refused = true;
        } else if (ack->properties.receive_maximum) {
            c.receive_maximum = *ack->properties.receive_maximum;
        }
    });
    co_return refusal;
}

// A subscriber's SUBSCRIBE and SUBACK. Returns why the subscription failed, empty when it was granted.
asio::awaitable<std::string> subscribe(Conn& c) {
    Run& run = c.run;
    const std::string filter = expand(run.o.filter_pattern(), c.id);
    const codec::Subscription sub{.filter = filter, .options = {.qos = static_cast<codec::QoS>(run.o.qos)}};
    codec::Subscribe subscribe;
    subscribe.packet_id = 1;
    subscribe.subscriptions = std::span(&sub, 1);
    append(c.out, subscribe, run.version);
    atomic_min_nonzero(run.first_subscribe_ns, now_ns());
    co_await c.stream->write(c.out);
    c.out.clear();
    std::string refusal;
    co_await read_one(c, [&](const codec::Packet& p) {
        const auto* ack = std::get_if<codec::Suback>(&p);
        if (ack == nullptr || ack->reason_codes.empty()) {
            refusal = "expected SUBACK";
        } else if (static_cast<std::uint8_t>(ack->reason_codes[0]) >= 0x80) {
            refusal =
                "subscription to " + filter + " refused: " + std::string(codec::reason_code_name(ack->reason_codes[0]));
        }
    });
    co_return refusal;
}

// One connection's life: paced start, connect, CONNECT/CONNACK, SUBSCRIBE/SUBACK, reading, publishing.
asio::awaitable<void> conn_main(Conn& c) {
    Run& run = c.run;
    const Options& o = run.o;
    const auto t0 = now_ns();
    atomic_min_nonzero(run.first_connect_ns, t0);
    bool connected = false;  // CONNACK Success came
    bool set_up = false;     // and the SUBACK (subscribers): counted in setup_done
    bool refused = false;    // a CONNACK with an error
    try {
        if (o.bind.empty()) {
            c.stream = co_await net::connect(c.w.ioc.get_executor(), run.settings);
            arm_setup_timer(c);
        } else {
            // --connect-timeout then counts from the TCP connect (a SYN the listener's full backlog dropped is
            // retried by the kernel for minutes).
            c.stream = std::make_unique<net::TcpStream>(net::TcpSocket(c.w.ioc));
            arm_setup_timer(c);
            co_await connect_bound(c);
        }
        if (auto why = co_await login(c, refused); !why.empty()) throw std::runtime_error(why);
        const auto t1 = now_ns();
        c.w.connect_latency.record(t1 - t0);
        atomic_max(run.last_connect_ns, t1);
        run.connected.fetch_add(1);
        --c.w.pending;
        connected = true;
        if (c.role == Role::Subscriber) {
            if (auto why = co_await subscribe(c); !why.empty()) throw std::runtime_error(why);
            process(c);  // retained messages may have come with the SUBACK
            c.kick();    // with their PUBACKs: the broker sends no more than its inflight window without them
        }
        c.setup_timer.cancel();
        set_up = true;
        run.setup_done.fetch_add(1);
        asio::co_spawn(c.w.ioc, read_loop(c), asio::detached);
        if (o.keepalive > 0) asio::co_spawn(c.w.ioc, keepalive_loop(c), asio::detached);
        if (c.role == Role::Publisher) {
            while (!run.go.load() && !c.dead) co_await wait(c, std::chrono::milliseconds(1));
            if (!c.dead) co_await publish_loop(c);
            run.pubs[c.id].done.store(true);
        }
    } catch (const std::exception& e) {
        c.setup_timer.cancel();
        if (!connected) {
            --c.w.pending;
            run.failed.fetch_add(1);
            if (refused) run.refused.fetch_add(1);
        }
        // A refused SUBSCRIBE ends the setup too: the controller waits for every connection's setup to end.
        if (!set_up) run.setup_done.fetch_add(1);
        if (connected && !c.dead) run.dropped.fetch_add(1);
        if (c.role == Role::Publisher) run.pubs[c.id].done.store(true);
        if (c.setup_timed_out) {
            char why[64];
            std::snprintf(why, sizeof why, "no %s within %g s (--connect-timeout)", connected ? "SUBACK" : "CONNACK",
                          o.connect_timeout_s);
            c.fail(why);
        } else {
            c.fail(e.what());
        }
    }
}

}  // namespace

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

}  // namespace moth::cli::bench
