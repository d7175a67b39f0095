// `moth sn pub|sub|bench` options (sn_options.hpp): CLI11 declares the flags and writes --help; the checks that
// span several flags (one topic form, QoS -1 only with a short or predefined topic, a will needs its topic) follow.
#include "sn_options.hpp"

#include <algorithm>
#include <charconv>
#include <string_view>

#include <CLI/CLI.hpp>

namespace moth::cli::sn {
namespace {

std::string_view tool_word(SnTool t) {
    return t == SnTool::Pub ? "pub" : t == SnTool::Sub ? "sub" : "bench";
}

template <class T>
bool to_number(std::string_view s, T& out) {
    if (s.empty()) return false;
    const auto* end = s.data() + s.size();
    const auto r = std::from_chars(s.data(), end, out);
    return r.ec == std::errc() && r.ptr == end;
}

// A word CLI11 would otherwise read as an option: "-1" after -q is a value here (QoS -1).
std::vector<std::string> protect_negative_qos(const std::vector<std::string>& args) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const bool qos_flag = args[i] == "-q" || args[i] == "--qos" || args[i] == "--will-qos";
        if (qos_flag && i + 1 < args.size() && args[i + 1] == "-1") {
            out.push_back((args[i] == "-q" ? std::string("--qos") : args[i]) + "=-1");  // short flags take no '='

            ++i;
        } else {
            out.push_back(args[i]);
        }
    }
    return out;
}

void declare_endpoint(CLI::App& app, Endpoint& e) {
    app.add_option("-h,--host", e.host, "Gateway host name or address (IPv6 literals as is: -h ::1)")
        ->capture_default_str();
    app.add_option("-p,--port", e.port, "Gateway UDP port")->capture_default_str();
    app.add_flag("-6", e.ipv6, "Use IPv6 only");
    app.add_option("--retry-ms", e.retry_ms, "Resend an unanswered message after this many ms (Tretry)")
        ->capture_default_str()
        ->check(CLI::Range(1u, 3'600'000u));
    app.add_option("--retries", e.tries, "Sends of one message in all before giving up")
        ->capture_default_str()
        ->check(CLI::Range(1u, 1000u));
    app.add_flag("--dtls", e.dtls, "DTLS 1.2 (an mqttsns listener; default port 1885)");
    app.add_option("--cafile", e.cafile, "DTLS: CA certificates (PEM) that verify the gateway")
        ->check(CLI::ExistingFile);
    app.add_option("--cert", e.cert, "DTLS: client certificate (PEM)")->check(CLI::ExistingFile);
    app.add_option("--key", e.key, "DTLS: client private key (PEM)")->check(CLI::ExistingFile);
    app.add_flag("--insecure", e.insecure, "DTLS: do not verify the gateway's certificate");
}

// What the DTLS flags require of each other; fills in the DTLS port.
std::optional<std::string> check_endpoint(const CLI::App& app, Endpoint& e) {
    const bool tls_flags = !e.cafile.empty() || !e.cert.empty() || !e.key.empty() || e.insecure;
    if (tls_flags && !e.dtls) return "--cafile, --cert, --key and --insecure need --dtls";
    if (e.cert.empty() != e.key.empty()) return "--cert and --key go together";
    if (e.dtls && app.count("--port") == 0) e.port = 1885;
    return std::nullopt;
}

struct Raw {
    std::string qos;
    std::string will_qos = "0";
    std::optional<std::string> short_name;
    std::optional<std::uint16_t> predefined;
    std::optional<std::string> will_topic;
    std::optional<std::string> will_payload;
    bool will_retain = false;
    bool no_clean = false;
    std::optional<std::uint32_t> sleep_s;
};

void declare_client(CLI::App& app, SnTool tool, SnOptions& o, Raw& raw) {
    declare_endpoint(app, o.gateway);
    app.add_option("-i,--id", o.id, "Client id (default moth-sn-<pid>)");
    app.add_option("-k,--keepalive", o.keepalive_s, "Keep-alive (CONNECT Duration) in seconds")->capture_default_str();
    app.add_flag("--clean", o.clean, "Clean session (the default)");
    app.add_flag("--no-clean", raw.no_clean, "Keep the session (and subscriptions) across connections");
    app.add_option("-t,--topic", o.topic, tool == SnTool::Pub ? "Topic name (REGISTERed)" : "Topic filter");
    app.add_option("--short", raw.short_name, "Two-character short topic name");
    app.add_option("--predefined", raw.predefined, "Predefined topic id");
    app.add_option("-q,--qos", raw.qos, tool == SnTool::Pub ? "QoS -1, 0, 1 or 2 (default 0)" : "QoS 0, 1 or 2");
    app.add_option("--will-topic", raw.will_topic, "Will topic");
    app.add_option("--will-payload", raw.will_payload, "Will message");
    app.add_option("--will-qos", raw.will_qos, "Will QoS 0, 1 or 2");
    app.add_flag("--will-retain", raw.will_retain, "Retain the will");
    app.add_option("--sleep", raw.sleep_s,
                   tool == SnTool::Pub ? "Go to sleep for S seconds after publishing (DISCONNECT with Duration)"
                                       : "Sleep for S seconds after SUBACK, waking every --wake-every-ms")
        ->check(CLI::Range(1u, 65535u));
    if (tool == SnTool::Pub) {
        app.add_option("-m,--message", o.message, "Payload")->required();
        app.add_flag("-r,--retain", o.retain, "Retain the message");
        app.add_option("--count", o.count, "Messages to publish")->capture_default_str()->check(CLI::PositiveNumber);
        app.add_option("--interval-ms", o.interval_ms, "Pause between messages")->capture_default_str();
    } else {
        app.add_option("-C,--count", o.max_messages, "Exit after this many messages");
        app.add_option("-W,--timeout", o.timeout_s, "Exit (code 27) after this many seconds")
            ->check(CLI::PositiveNumber);
        app.add_flag("-v,--verbose", o.verbose, "Print \"topic payload\"");
        app.add_option("--wake-every-ms", o.wake_every_ms, "Sleeping: PINGREQ period in ms");
    }
}

std::optional<std::string> check_client(SnTool tool, SnOptions& o, const Raw& raw) {
    const int forms = (o.topic.empty() ? 0 : 1) + (raw.short_name ? 1 : 0) + (raw.predefined ? 1 : 0);
    if (forms != 1) return "give exactly one of -t, --short and --predefined";
    if (raw.short_name) {
        if (raw.short_name->size() != 2) return "--short takes exactly two characters";
        o.topic_kind = TopicKind::Short;
        o.topic = *raw.short_name;
    } else if (raw.predefined) {
        o.topic_kind = TopicKind::Predefined;
        o.topic_id = *raw.predefined;
    } else if (tool == SnTool::Pub && o.topic.find_first_of("+#") != std::string::npos) {
        return "a topic name to publish to has no wildcards";
    }
    int qos = 0;
    if (!raw.qos.empty() && !to_number(raw.qos, qos)) return "-q takes a number";
    const int min_qos = tool == SnTool::Pub ? -1 : 0;
    if (qos < min_qos || qos > 2) return tool == SnTool::Pub ? "QoS is -1, 0, 1 or 2" : "QoS is 0, 1 or 2";
    o.qos = static_cast<std::int8_t>(qos);
    if (o.qos == -1 && o.topic_kind == TopicKind::Name) {
        // Section 6.8: without a connection there is no REGISTER, so only ids both sides already know.
        return "QoS -1 needs --short or --predefined (there is no connection to REGISTER a topic name)";
    }
    if (raw.no_clean) o.clean = false;
    if (raw.will_topic) {
        Will w;
        w.topic = *raw.will_topic;
        if (w.topic.empty() || w.topic.find_first_of("+#") != std::string::npos) return "invalid --will-topic";
        w.payload = raw.will_payload.value_or("");
        int wq = 0;
        if (!to_number(raw.will_qos, wq) || wq < 0 || wq > 2) return "--will-qos is 0, 1 or 2";
        w.qos = static_cast<std::uint8_t>(wq);
        w.retain = raw.will_retain;
        o.will = std::move(w);
    } else if (raw.will_payload || raw.will_retain) {
        return "--will-payload and --will-retain need --will-topic";
    }
    if (raw.sleep_s) o.sleep_s = static_cast<std::uint16_t>(*raw.sleep_s);
    if (tool == SnTool::Sub) {
        if (o.sleep_s && o.wake_every_ms == 0) return "--sleep needs --wake-every-ms";
        if (!o.sleep_s && o.wake_every_ms != 0) return "--wake-every-ms needs --sleep";
        // A sleeping client that does not wake within its Duration is lost to the gateway (section 6.14).
        if (o.sleep_s && o.wake_every_ms >= std::uint64_t{*o.sleep_s} * 1000) {
            return "--wake-every-ms must be shorter than --sleep";
        }
    }
    if (o.qos == -1 && (o.sleep_s || o.will)) return "QoS -1 publishes without a connection: no --sleep or will";
    return std::nullopt;
}

void declare_bench(CLI::App& app, BenchOptions& b, std::string& qos) {
    declare_endpoint(app, b.gateway);
    app.add_option("--clients", b.clients, "Publishing clients, each on its own UDP socket")
        ->capture_default_str()
        ->check(CLI::Range(1u, 1'000'000u));
    app.add_option("--rate-per-client", b.rate_per_client, "PUBLISHes per second per client")
        ->capture_default_str()
        ->check(CLI::Range(0.001, 100000.0));
    app.add_option("--duration", b.duration_s, "Publishing time in seconds")
        ->capture_default_str()
        ->check(CLI::Range(0.001, 86400.0));
    app.add_option("--qos", qos, "QoS 0, 1 or 2")->capture_default_str();
    app.add_option("-t,--topic", b.prefix, "Topic prefix: client i publishes to PREFIX/i")->capture_default_str();
    app.add_flag("--subscribe", b.subscribe, "One MQTT-SN subscriber on PREFIX/# checks receipt, order and gaps");
    app.add_option("--connect-rate", b.connect_rate, "New clients per second")
        ->capture_default_str()
        ->check(CLI::Range(0.1, 1e6));
    app.add_option("-k,--keepalive", b.keepalive_s, "CONNECT Duration in seconds (PINGREQ period)")
        ->capture_default_str();
    app.add_option("--size", b.payload_size, "Payload bytes (>= 16)")
        ->capture_default_str()
        ->check(CLI::Range(16u, 60000u));
    app.add_option("--drain", b.drain_s, "Seconds to wait for the last acks and receipts (0: tries x retry)");
    app.add_option("--id-prefix", b.id_prefix, "Client ids: PREFIX<i>, the subscriber PREFIXsub")
        ->capture_default_str();
    app.add_option("--broker-pid", b.broker_pid, "Report this process's CPU seconds during the run");
}

}  // namespace

std::string default_client_id(SnTool tool, long pid) {
    return "moth-sn-" + std::string(tool_word(tool)) + "-" + std::to_string(pid);
}

ParseResult parse(SnTool tool, const std::vector<std::string>& args) {
    ParseResult result;
    const std::string name = "moth sn " + std::string(tool_word(tool));
    CLI::App app{tool == SnTool::Pub   ? "Publish to an MQTT-SN 1.2 gateway (UDP)."
                 : tool == SnTool::Sub ? "Subscribe through an MQTT-SN 1.2 gateway and print messages."
                                       : "MQTT-SN load generator: many clients publishing at a fixed rate.",
                 name};
    app.set_help_flag("--help", "Print this help and exit");
    app.allow_extras(false);
    app.get_formatter()->column_width(30);
    SnOptions o;
    o.tool = tool;
    BenchOptions b;
    Raw raw;
    std::string bench_qos = "1";
    if (tool == SnTool::Bench)
        declare_bench(app, b, bench_qos);
    else
        declare_client(app, tool, o, raw);
    const auto fail = [&](const std::string& message) {
        result.err = name + ": " + message + "\nUse '" + name + " --help' to see usage.\n";
        result.exit_code = kExitBadOptions;
        return result;
    };
    auto words = protect_negative_qos(args);
    std::reverse(words.begin(), words.end());
    try {
        app.parse(words);
    } catch (const CLI::CallForHelp&) {
        result.out = app.help();
        return result;
    } catch (const CLI::ParseError& e) {
        return fail(e.what());
    }
    if (auto e = check_endpoint(app, tool == SnTool::Bench ? b.gateway : o.gateway)) return fail(*e);
    if (tool == SnTool::Bench) {
        int q = 0;
        if (!to_number(bench_qos, q) || q < 0 || q > 2) return fail("--qos is 0, 1 or 2");
        b.qos = static_cast<std::int8_t>(q);
        if (b.prefix.empty() || b.prefix.find_first_of("+#") != std::string::npos) return fail("invalid -t prefix");
        result.bench = std::move(b);
        return result;
    }
    if (auto e = check_client(tool, o, raw)) return fail(*e);
    result.options = std::move(o);
    return result;
}

}  // namespace moth::cli::sn
