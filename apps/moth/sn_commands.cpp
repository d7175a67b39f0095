// `moth sn pub` and `moth sn sub`: coroutines over one SnClient. Output is flushed per message so that a pipe
// (a test, `| while read`) sees each one as it arrives.
#include "sn_commands.hpp"

#include <unistd.h>

#include <cstdio>
#include <tuple>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "sn_client.hpp"

namespace moth::cli::sn {
namespace {

using asio::awaitable;
using asio::use_awaitable;
using udp = asio::ip::udp;

constexpr std::string_view kUsage =
    "Usage: moth sn <pub|sub|bench> [options]   (MQTT-SN 1.2 over UDP; gateway default localhost:1884)\n"
    "  pub    publish (QoS -1, 0, 1, 2; topic name, --short or --predefined)\n"
    "  sub    subscribe and print messages (-v: \"topic payload\"), optionally as a sleeping client\n"
    "  bench  many clients publishing at a fixed rate; JSON summary\n"
    "'moth sn <command> --help' lists a command's options.\n";

int failure(const std::string& message) {
    std::fprintf(stderr, "moth sn: %s\n", message.c_str());
    std::fflush(stderr);
    return kExitFailure;
}

mqttsn::Buffer bytes_of(std::string_view s) {
    mqttsn::Buffer b(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) b[i] = static_cast<std::byte>(s[i]);
    return b;
}

ConnectParams connect_params(const SnOptions& o) {
    ConnectParams p;
    p.clean = o.clean;
    p.duration_s = o.keepalive_s;
    if (o.will) {
        mqttsn::WillTopic w;
        w.flags.qos = static_cast<std::int8_t>(o.will->qos);
        w.flags.retain = o.will->retain;
        w.topic = o.will->topic;
        p.will_topic = std::move(w);
        p.will_message = bytes_of(o.will->payload);
    }
    return p;
}

awaitable<void> pause(std::chrono::milliseconds d) {
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    boost::system::error_code ec;
    co_await t.async_wait(asio::redirect_error(use_awaitable, ec));
}

// The topic id and id type `o` publishes with; REGISTERs a name first.
awaitable<std::string> publish_topic(SnClient& c, const SnOptions& o, mqttsn::Publish& p) {
    if (o.topic_kind == TopicKind::Short) {
        p.flags.topic_id_type = mqttsn::TopicIdType::Short;
        p.topic_id = short_id(o.topic);
    } else if (o.topic_kind == TopicKind::Predefined) {
        p.flags.topic_id_type = mqttsn::TopicIdType::Predefined;
        p.topic_id = o.topic_id;
    } else {
        auto [error, answer] = co_await c.async_register(o.topic, use_awaitable);
        if (!error.empty()) co_return error;
        p.flags.topic_id_type = mqttsn::TopicIdType::Normal;
        p.topic_id = std::get<mqttsn::Regack>(answer).topic_id;
    }
    co_return std::string{};
}

awaitable<int> pub_main(SnClient& c, const SnOptions& o) {
    if (o.qos >= 0) {
        auto [error, answer] = co_await c.async_connect(connect_params(o), use_awaitable);
        if (!error.empty()) co_return failure(error);
    }
    mqttsn::Publish p;
    p.flags.qos = o.qos;
    p.flags.retain = o.retain;
    p.data = bytes_of(o.message);
    if (auto error = co_await publish_topic(c, o, p); !error.empty()) co_return failure(error);
    for (std::uint32_t i = 0; i < o.count; ++i) {
        if (i > 0 && o.interval_ms > 0) co_await pause(std::chrono::milliseconds(o.interval_ms));
        auto [error, answer] = co_await c.async_publish(p, use_awaitable);
        if (!error.empty()) co_return failure(error);
    }
    if (o.qos < 0) co_return kExitOk;
    // --sleep: the session stays at the gateway, asleep (section 6.14), and this process ends there.
    const auto duration = o.sleep_s ? std::optional<std::uint16_t>(*o.sleep_s) : std::nullopt;
    auto [error, answer] = co_await c.async_disconnect(duration, use_awaitable);
    if (!error.empty()) co_return failure(error);
    co_return kExitOk;
}

// What `moth sn sub` is waiting for; the message handler and the timers end the wait by cancelling `wake`.
struct SubState {
    SubState(asio::any_io_executor ex, SnClient& c) : wake(ex, asio::steady_timer::time_point::max()), client(c) {}
    asio::steady_timer wake;
    SnClient& client;
    std::uint64_t received = 0;
    bool subscribed = false;  // from SUBACK on, the run ends with DISCONNECT
    bool done = false;
    bool timed_out = false;
    std::string lost;
    void finish() {
        done = true;
        wake.cancel();
    }
    // -W or a signal: before SUBACK nothing is worth waiting for, so the pending request ends now.
    void interrupt() {
        finish();
        if (!subscribed) client.close("interrupted");
    }
};

void print_message(const SnOptions& o, SubState& s, const Incoming& m) {
    if (s.done) return;
    if (o.verbose) {
        std::fwrite(m.topic.data(), 1, m.topic.size(), stdout);
        std::fputc(' ', stdout);
    }
    std::fwrite(m.publish.data.data(), 1, m.publish.data.size(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
    if (++s.received == o.max_messages) s.finish();
}

awaitable<std::string> subscribe(SnClient& c, const SnOptions& o) {
    mqttsn::Subscribe s;
    s.flags.qos = o.qos;
    if (o.topic_kind == TopicKind::Name) {
        s.topic_name = o.topic;
    } else if (o.topic_kind == TopicKind::Short) {
        s.flags.topic_id_type = mqttsn::TopicIdType::Short;
        s.topic_name = o.topic;
    } else {
        s.flags.topic_id_type = mqttsn::TopicIdType::Predefined;
        s.topic_id = o.topic_id;
    }
    auto [error, answer] = co_await c.async_subscribe(s, use_awaitable);
    if (!error.empty()) co_return error;
    // Section 6.9: for a name without wildcards the SUBACK carries the id the gateway will publish with.
    const auto& ack = std::get<mqttsn::Suback>(answer);
    if (o.topic_kind == TopicKind::Name && ack.topic_id != 0 && o.topic.find_first_of("+#") == std::string::npos) {
        c.topics().learn(ack.topic_id, o.topic);
    }
    co_return std::string{};
}

// A sleeping subscriber (section 6.14): DISCONNECT with a duration, then a PINGREQ with the client id every
// --wake-every-ms; the gateway sends what it kept, then PINGRESP, and the client sleeps again.
awaitable<std::string> sleep_loop(SnClient& c, const SnOptions& o, const std::string& id, SubState& s) {
    auto [error, answer] = co_await c.async_disconnect(*o.sleep_s, use_awaitable);
    if (!error.empty()) co_return error;
    while (!s.done) {
        co_await pause(std::chrono::milliseconds(o.wake_every_ms));
        if (s.done) break;
        auto [perror, pong] = co_await c.async_ping(id, use_awaitable);
        if (!perror.empty() && !s.done) co_return perror;
    }
    co_return std::string{};
}

awaitable<int> sub_main(SnClient& c, const SnOptions& o, const std::string& id) {
    const auto ex = co_await asio::this_coro::executor;
    SubState s(ex, c);
    asio::steady_timer deadline(ex);
    if (o.timeout_s) {
        deadline.expires_after(std::chrono::seconds(*o.timeout_s));
        deadline.async_wait([&s](const boost::system::error_code& ec) {
            if (ec || s.done) return;
            s.timed_out = true;
            s.interrupt();
        });
    }
    asio::signal_set signals(ex, SIGINT, SIGTERM);
    signals.async_wait([&s](const boost::system::error_code& ec, int) {
        if (!ec) s.interrupt();
    });
    c.on_message = [&](const Incoming& m) { print_message(o, s, m); };
    c.on_lost = [&s](const std::string& why) {
        s.lost = why;
        s.finish();
    };
    std::string error;
    if (auto [e, a] = co_await c.async_connect(connect_params(o), use_awaitable); !e.empty()) error = e;
    // Each step is skipped once a signal or -W ended the run.
    if (error.empty() && !o.sleep_s) c.set_keepalive(std::chrono::seconds(o.keepalive_s));
    if (error.empty() && !s.done) error = co_await subscribe(c, o);
    s.subscribed = error.empty() && !s.done;
    if (error.empty() && !s.done && o.sleep_s) error = co_await sleep_loop(c, o, id, s);
    if (error.empty() && !s.done) {
        boost::system::error_code ec;
        co_await s.wake.async_wait(asio::redirect_error(use_awaitable, ec));
    }
    deadline.cancel();
    signals.cancel();
    if (!error.empty() && !s.done) co_return failure(error);
    if (!s.lost.empty()) co_return failure(s.lost);
    if (!s.subscribed) co_return s.timed_out ? kExitTimedOut : kExitOk;
    if (auto [e, a] = co_await c.async_disconnect(std::nullopt, use_awaitable); !e.empty()) {
        std::fprintf(stderr, "moth sn: warning: %s\n", e.c_str());  // the messages were printed: not a failure
    }
    co_return s.timed_out ? kExitTimedOut : kExitOk;
}

int run_client(const SnOptions& o) {
    std::string error;
    const auto gateway = resolve_gateway(o.gateway, error);
    if (!gateway) return failure(error);
    auto dtls = dtls_context(o.gateway, error);
    if (!error.empty()) return failure(error);
    asio::io_context ioc;
    ClientConfig config{*gateway,
                        o.id.empty() ? default_client_id(o.tool, ::getpid()) : o.id,
                        std::chrono::milliseconds(o.gateway.retry_ms),
                        o.gateway.tries,
                        dtls,
                        o.gateway.host};
    const std::string id = config.client_id;
    SnClient client(ioc.get_executor(), std::move(config));
    if (auto e = client.open(); !e.empty()) return failure(e);
    int code = kExitFailure;
    asio::co_spawn(
        ioc,
        [&]() -> awaitable<void> {
            code = o.tool == SnTool::Pub ? co_await pub_main(client, o) : co_await sub_main(client, o, id);
            client.close();
        },
        [&](std::exception_ptr ep) {
            if (ep) code = failure("internal error");
            ioc.stop();
        });
    ioc.run();
    return code;
}

}  // namespace

std::optional<udp::endpoint> resolve_gateway(const Endpoint& e, std::string& error) {
    asio::io_context ioc;
    udp::resolver resolver(ioc);
    boost::system::error_code ec;
    const auto results = e.ipv6 ? resolver.resolve(udp::v6(), e.host, std::to_string(e.port), ec)
                                : resolver.resolve(e.host, std::to_string(e.port), ec);
    if (ec || results.empty()) {
        error = "cannot resolve " + e.host + ": " + (ec ? ec.message() : std::string("no address"));
        return std::nullopt;
    }
    for (const auto& r : results) {
        if (r.endpoint().address().is_v4()) return r.endpoint();
    }
    return results.begin()->endpoint();
}

std::shared_ptr<SSL_CTX> dtls_context(const Endpoint& e, std::string& error) {
    if (!e.dtls) return nullptr;
    try {
        return net::make_dtls_client_context(e.cafile, !e.insecure, e.cert, e.key);
    } catch (const std::exception& ex) {
        error = std::string("DTLS: ") + ex.what();
        return nullptr;
    }
}

int run_sn(const std::vector<std::string>& args) {
    if (args.empty() || args.front() == "--help" || args.front() == "help") {
        std::fputs(kUsage.data(), args.empty() ? stderr : stdout);
        return args.empty() ? kExitBadOptions : kExitOk;
    }
    const std::string& word = args.front();
    const std::vector<std::string> rest(args.begin() + 1, args.end());
    SnTool tool{};
    if (word == "pub")
        tool = SnTool::Pub;
    else if (word == "sub")
        tool = SnTool::Sub;
    else if (word == "bench")
        tool = SnTool::Bench;
    else {
        std::fprintf(stderr, "moth sn: unknown command '%s'.\n%s", word.c_str(), kUsage.data());
        return kExitBadOptions;
    }
    auto parsed = parse(tool, rest);
    if (!parsed.options && !parsed.bench) {
        std::fputs(parsed.out.c_str(), stdout);
        std::fputs(parsed.err.c_str(), stderr);
        return parsed.exit_code;
    }
    if (parsed.bench) return run_bench(*parsed.bench);
    return run_client(*parsed.options);
}

}  // namespace moth::cli::sn
