// The tools' main loops. Output goes through stdio and is flushed per message, like mosquitto's clients, so a
// pipeline (moth sub ... | while read ...) sees every message as it arrives.
#include "commands.hpp"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <thread>

namespace moth::cli {
namespace {

using Clock = std::chrono::steady_clock;

std::atomic<bool> g_stop{false};

extern "C" void on_signal(int) { g_stop.store(true); }

void install_signal_handlers() {
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
}

void write_out(const std::string& s) {
    if (s.empty()) return;
    std::fwrite(s.data(), 1, s.size(), stdout);
    std::fflush(stdout);
}

void write_err(const Options& o, const std::string& s) {
    if (o.quiet || s.empty()) return;
    std::fwrite(s.data(), 1, s.size(), stderr);
    std::fflush(stderr);
}

void debug(const Options& o, const std::string& s) {
    if (o.debug) write_err(o, s + "\n");
}

std::vector<std::byte> to_bytes(std::string_view s) {
    std::vector<std::byte> out(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) out[i] = static_cast<std::byte>(s[i]);
    return out;
}

// The payload of -m, -f, -s, -n (not -l, which streams). Returns false with a message when a file is unreadable.
bool load_payload(const Options& o, std::string& payload, std::string& error) {
    switch (o.source) {
        case PayloadSource::Message: payload = o.message; return true;
        case PayloadSource::File: {
            std::ifstream in(o.file, std::ios::binary);
            if (!in) {
                error = "Error: Unable to open file \"" + o.file + "\".\n";
                return false;
            }
            payload.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
            if (in.bad()) {
                error = "Error: Unable to read file \"" + o.file + "\".\n";
                return false;
            }
            return true;
        }
        case PayloadSource::StdinWhole: {
            std::ostringstream all;
            all << std::cin.rdbuf();
            payload = all.str();
            return true;
        }
        case PayloadSource::Null:
        case PayloadSource::None:
        case PayloadSource::StdinLines: payload.clear(); return true;
    }
    return true;
}

Message make_message(const Options& o, std::string_view topic, std::string_view payload) {
    Message m;
    m.topic = std::string(topic);
    m.payload = to_bytes(payload);
    m.qos = o.qos;
    m.retain = o.retain;
    if (o.version == ProtocolVersion::V5) m.properties = o.props.publish;
    return m;
}

struct Connected {
    std::unique_ptr<Client> client;
    int exit_code = 0;
};

Connected connect(const Options& o) {
    Connected c;
    auto copts = to_connect_options(o, static_cast<long>(::getpid()));
    if (!copts) {
        write_err(o, copts.error() + "\n");
        c.exit_code = 1;
        return c;
    }
    debug(o, "Client " + (copts->client_id.empty() ? std::string("(broker-assigned id)") : copts->client_id) +
                 " connecting to " + copts->url);
    c.client = std::make_unique<Client>(std::move(*copts));
    auto r = c.client->connect();
    if (!r) {
        const auto f = describe_connect_error(o.version, r.error());
        write_err(o, f.message + "\n");
        c.exit_code = f.exit_code;
        c.client.reset();
        return c;
    }
    debug(o, "Client connected" + std::string(r->session_present ? " (session present)" : "") +
                 (r->assigned_client_id.empty() ? "" : ", assigned client id " + r->assigned_client_id));
    return c;
}

std::optional<Clock::time_point> deadline_of(const Options& o, Clock::time_point start) {
    if (!o.timeout_s) return std::nullopt;
    return start + std::chrono::seconds(*o.timeout_s);
}

// Waits for the next message until `deadline`, waking up for signals. nullopt with `timed_out` or `stopped`
// set, or with neither when the connection is gone.
std::optional<Message> next_message(Client& client, std::optional<Clock::time_point> deadline, bool& timed_out) {
    constexpr auto kSlice = std::chrono::milliseconds(200);  // how quickly Ctrl-C is noticed
    timed_out = false;
    while (!g_stop.load()) {
        auto wait = std::chrono::milliseconds(kSlice);
        if (deadline) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - Clock::now());
            if (left.count() <= 0) {
                timed_out = true;
                return std::nullopt;
            }
            wait = std::min(wait, left);
        }
        if (auto m = client.receive(wait)) return m;
        // While an automatic reconnect is under way (moth sub) the wait goes on.
        if (!client.connected() && !client.reconnecting()) return std::nullopt;
    }
    return std::nullopt;
}

int lost_connection(const Options& o) {
    write_err(o, "Error: The connection to the broker was lost.\n");
    return 1;
}

int run_pub(const Options& o) {
    std::string payload;
    std::string error;
    if (!load_payload(o, payload, error)) {
        write_err(o, error);
        return 1;
    }
    auto conn = connect(o);
    if (!conn.client) return conn.exit_code;
    Client& client = *conn.client;
    int rc = 0;
    const auto publish = [&](std::string_view body) {
        auto r = client.publish(make_message(o, o.topic, body));
        if (!r) {
            write_err(o, "Error: Publish failed: " + r.error().message + "\n");
            rc = 1;
            return false;
        }
        if (r->reason >= 0x80) {
            write_err(o, "Warning: Publish failed: " + std::string(reason_name(r->reason)) + ".\n");
        }
        debug(o, "Client published " + std::to_string(body.size()) + " bytes to " + o.topic);
        return true;
    };
    if (o.source == PayloadSource::StdinLines) {
        std::string line;
        while (std::getline(std::cin, line)) {
            if (!publish(line)) break;
        }
    } else {
        for (long i = 0; i < o.repeat; ++i) {
            if (!publish(payload)) break;
            if (i + 1 < o.repeat && o.repeat_delay_s > 0) {
                // A delay the user asked for between publications, not a synchronisation.
                std::this_thread::sleep_for(std::chrono::duration<double>(o.repeat_delay_s));
            }
        }
    }
    client.disconnect();
    return rc;
}

int run_sub(const Options& o) {
    install_signal_handlers();
    const auto start = Clock::now();
    auto conn = connect(o);
    if (!conn.client) return conn.exit_code;
    Client& client = *conn.client;

    if (!o.topics.empty()) {
        std::vector<Subscription> subs;
        for (const auto& t : o.topics) subs.push_back({t, SubscribeOptions{.qos = o.qos}});
        auto r = client.subscribe(std::move(subs), o.version == ProtocolVersion::V5
                                                       ? o.props.subscription_identifier
                                                       : std::optional<std::uint32_t>{});
        if (!r) {
            write_err(o, "Error: Subscribe failed: " + r.error().message + "\n");
            client.disconnect();
            return 1;
        }
        bool any_granted = false;
        for (const auto code : r->reason_codes) any_granted = any_granted || code < 0x80;
        if (!any_granted) write_err(o, "All subscription requests were denied.\n");
        debug(o, "Client subscribed");
    }
    if (!o.unsubscribe.empty()) {
        auto r = client.unsubscribe(o.unsubscribe);
        if (!r) {
            write_err(o, "Error: Unsubscribe failed: " + r.error().message + "\n");
            client.disconnect();
            return 1;
        }
    }
    if (o.exit_after_subscribe) {
        client.disconnect();
        return 0;
    }

    const auto deadline = deadline_of(o, start);
    long printed = 0;
    std::string out;
    std::string err;
    while (true) {
        bool timed_out = false;
        auto m = next_message(client, deadline, timed_out);
        if (!m) {
            if (timed_out) {
                client.disconnect();
                write_err(o, "Timed out\n");
                return kExitTimedOut;
            }
            if (g_stop.load()) break;
            return lost_connection(o);
        }
        if (o.retained_only && !m->retain) break;
        if (m->retain && o.no_retained) continue;
        bool filtered = false;
        for (const auto& f : o.filter_out) filtered = filtered || topic_matches(f, m->topic);
        if (filtered) continue;
        if (o.remove_retained && m->retain) {
            auto r = client.publish(m->topic, "", QoS::AtLeastOnce, true);
            if (!r) write_err(o, "Error: Could not remove retained message on " + m->topic + ": " +
                                     r.error().message + "\n");
        }
        out.clear();
        err.clear();
        render(o.output, *m, Timestamp::now(), out, err);
        write_out(out);
        write_err(o, err);
        if (o.count > 0 && ++printed >= o.count) break;
    }
    client.disconnect();
    return 0;
}

int run_rr(const Options& o) {
    install_signal_handlers();
    const auto start = Clock::now();
    std::string payload;
    std::string error;
    if (o.source != PayloadSource::StdinLines && !load_payload(o, payload, error)) {
        write_err(o, error);
        return 1;
    }
    if (o.source == PayloadSource::StdinLines) {
        std::getline(std::cin, payload);  // one request: the first line
    }
    auto conn = connect(o);
    if (!conn.client) return conn.exit_code;
    Client& client = *conn.client;
    auto sub = client.subscribe(o.response_topic, o.qos);
    if (!sub) {
        write_err(o, "Error: Subscribe failed: " + sub.error().message + "\n");
        client.disconnect();
        return 1;
    }
    auto request = make_message(o, o.topic, payload);
    if (o.version == ProtocolVersion::V5) request.properties.response_topic = o.response_topic;
    if (auto r = client.publish(std::move(request)); !r) {
        write_err(o, "Error: Publish failed: " + r.error().message + "\n");
        client.disconnect();
        return 1;
    }
    bool timed_out = false;
    auto m = next_message(client, deadline_of(o, start), timed_out);
    if (!m) {
        client.disconnect();
        if (timed_out) {
            write_err(o, "Timed out\n");
            return kExitTimedOut;
        }
        if (g_stop.load()) return 0;
        return lost_connection(o);
    }
    std::string out;
    std::string err;
    render(o.output, *m, Timestamp::now(), out, err);
    write_out(out);
    write_err(o, err);
    client.disconnect();
    return 0;
}

}  // namespace

ConnectFailure describe_connect_error(ProtocolVersion version, const Error& e) {
    ConnectFailure f;
    if (e.kind == Error::Kind::Refused) {
        f.message = "Connection error: " + std::string(reason_name(e.reason));
        f.exit_code = e.reason;
        if (version != ProtocolVersion::V5) {
            // 3.1/3.1.1 CONNACK return codes, which mosquitto's clients exit with; the library reports the
            // MQTT 5.0 reason code they map onto.
            switch (e.reason) {
                case 0x84: f.exit_code = 1; break;  // unacceptable protocol version
                case 0x85: f.exit_code = 2; break;  // identifier rejected
                case 0x88: f.exit_code = 3; break;  // server unavailable
                case 0x86: f.exit_code = 4; break;  // bad user name or password
                case 0x87: f.exit_code = 5; break;  // not authorized
                default: break;
            }
        }
        if (f.exit_code == 0) f.exit_code = 1;
        return f;
    }
    f.exit_code = 1;
    f.message = "Error: " + (e.message.empty() ? std::string(e.kind_name()) : e.message);
    return f;
}

int run(Tool tool, const std::vector<std::string>& args) {
    auto parsed = parse(tool, args);
    if (!parsed.out.empty()) write_out(parsed.out);
    if (!parsed.err.empty()) {
        std::fwrite(parsed.err.data(), 1, parsed.err.size(), stderr);
    }
    if (!parsed.options) return parsed.exit_code;
    const Options& o = *parsed.options;
    switch (tool) {
        case Tool::Pub: return run_pub(o);
        case Tool::Sub: return run_sub(o);
        case Tool::Rr: return run_rr(o);
    }
    return 1;
}

}  // namespace moth::cli
