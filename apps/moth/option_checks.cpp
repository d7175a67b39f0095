// Step 3 of the option parser (option_checks.hpp): each check in mosquitto's order, with its error text.
#include "option_checks.hpp"

#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdlib>

#include "option_url.hpp"
#include "option_values.hpp"

namespace moth::cli {
namespace {

std::optional<Failure> failure(std::string message, bool hint = true) { return Failure{std::move(message), hint}; }

std::optional<Failure> check_subscriptions(const RawOptions& r, Options& o) {
    for (const auto& t : r.topics) {
        if (!valid_filter(t)) {
            return failure("Error: Invalid subscription topic '" + t + "', are all '+' and '#' wildcards correct?");
        }
        o.topics.push_back(t);
    }
    for (const auto& t : r.filter_out) {
        if (!valid_filter(t)) {
            return failure("Error: Invalid filter topic '" + t + "', are all '+' and '#' wildcards correct?");
        }
    }
    o.filter_out = r.filter_out;
    for (const auto& t : r.unsub) {
        if (!valid_filter(t)) {
            return failure("Error: Invalid unsubscribe topic '" + t + "', are all '+' and '#' wildcards correct?");
        }
    }
    o.unsubscribe = r.unsub;
    if (!r.count.empty()) {
        long c = 0;
        if (!parse_number(r.count, c) || c < 1) return failure("Error: Invalid message count \"" + r.count + "\".");
        o.count = c;
    }
    return std::nullopt;
}

// pub and rr: the topic, and the one source of the payload.
std::optional<Failure> check_payload(const RawOptions& r, Options& o) {
    if (!r.single_topic.empty() || r.has("--topic")) {
        if (!valid_topic_name(r.single_topic)) {
            return failure("Error: Invalid publish topic '" + r.single_topic + "', does it contain '+' or '#'?");
        }
        o.topic = r.single_topic;
    }
    int sources = 0;
    if (r.has("--message")) {
        o.source = PayloadSource::Message;
        o.message = r.message;
        ++sources;
    }
    if (r.has("--file")) {
        o.source = PayloadSource::File;
        o.file = r.file;
        ++sources;
    }
    if (r.stdin_whole) {
        o.source = PayloadSource::StdinWhole;
        ++sources;
    }
    if (r.stdin_lines) {
        o.source = PayloadSource::StdinLines;
        ++sources;
    }
    if (r.null_message) {
        o.source = PayloadSource::Null;
        ++sources;
    }
    if (sources > 1) return failure("Error: Only one type of message can be sent at once.\n");
    return std::nullopt;
}

std::optional<Failure> check_repeat(const RawOptions& r, Options& o) {
    if (!r.repeat.empty()) {
        long n = 0;
        if (!parse_number(r.repeat, n) || n < 1) return failure("Error: --repeat argument must be >0.\n");
        o.repeat = n;
    }
    if (!r.repeat_delay.empty()) {
        char* end = nullptr;
        const double d = std::strtod(r.repeat_delay.c_str(), &end);
        if (end == r.repeat_delay.c_str() || *end != '\0' || !(d >= 0) || !std::isfinite(d)) {
            return failure("Error: --repeat-delay argument must be >=0.0.\n");
        }
        o.repeat_delay_s = d;
    }
    if (!r.max_inflight.empty()) {
        unsigned m = 0;
        if (!parse_number(r.max_inflight, m) || m < 1) return failure("Error: Maximum inflight messages must be >0.");
    }
    return std::nullopt;
}

// sub and rr: how received messages are printed, and -W.
std::optional<Failure> check_output(const RawOptions& r, Options& o) {
    if (r.verbose) o.output.mode = OutputMode::Verbose;
    if (r.has("--format")) {
        if (auto e = check_format(r.format)) return failure("Error: " + *e);
        o.output.mode = OutputMode::Format;
        o.output.format = r.format;
    }
    if (r.json) o.output.mode = OutputMode::Json;
    o.output.eol = !r.no_eol;
    if (!r.timeout.empty()) {
        unsigned t = 0;
        if (!parse_number(r.timeout, t) || t < 1 || t > 3600) {
            return failure("Error: Invalid timeout \"" + r.timeout + "\", it must be between 1 and 3600 seconds.");
        }
        o.timeout_s = t;
    }
    return std::nullopt;
}

}  // namespace

std::optional<Failure> check_connection(const RawOptions& r, Options& o) {
    if (!r.url.empty()) {
        if (auto e = apply_url(o, r.url)) return failure(*e);
    }
    if (!r.host.empty()) o.host = r.host;
    if (!r.port.empty()) {
        std::uint16_t p = 0;
        if (!parse_number(r.port, p) || p == 0) return failure("Error: Invalid port given: " + r.port);
        o.port = p;
    }
    o.unix_socket = r.unix_socket;
    if (!r.bind_address.empty()) return failure("Error: -A (bind address) is not supported by moth.", false);
    if (!r.id.empty()) {
        if (r.id.size() > 65535) return failure("Error: Client id too long.");
        o.id = r.id;
    }
    o.id_prefix = r.id_prefix;
    if (!r.username.empty() || r.has("--username")) o.username = r.username;
    if (r.has("--pw")) o.password = r.password;
    if (o.password && !o.username) {
        return failure("Error: A password was given without a username.");
    }
    if (r.has("--auth-method")) {
        // The names of MQTT's Authentication Method are case-sensitive; the command line takes either case.
        std::string method = r.auth_method;
        for (char& ch : method) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        if (method != "scram-sha-256") {
            return failure("Error: Unknown authentication method '" + r.auth_method + "' (known: scram-sha-256).");
        }
        o.auth_method = method;
    }
    if (!r.keepalive.empty()) {
        std::uint16_t k = 0;
        if (!parse_number(r.keepalive, k) || (k != 0 && k < 5)) {
            return failure("Error: Invalid keepalive given, it must be between 5 and 65535 inclusive.");
        }
        o.keepalive = k;
    }
    if (!r.version.empty()) {
        if (r.version == "31" || r.version == "mqttv31") o.version = ProtocolVersion::V3_1;
        else if (r.version == "311" || r.version == "mqttv311") o.version = ProtocolVersion::V3_1_1;
        else if (r.version == "5" || r.version == "mqttv5") o.version = ProtocolVersion::V5;
        else return failure("Error: Invalid protocol version argument given.\n");
    }
    o.clean_session = !r.persistent;
    if (!r.session_expiry.empty()) {
        if (r.session_expiry == "-1" || r.session_expiry == "∞") {
            o.session_expiry = 0xFFFFFFFFu;
        } else {
            std::uint32_t v = 0;
            if (!parse_number(r.session_expiry, v)) return failure("Error: session-expiry-interval not a number.");
            o.session_expiry = v;
        }
    }
    o.debug = r.debug > 0;
    return std::nullopt;
}

std::optional<Failure> check_will_tls_qos(const RawOptions& r, Options& o) {
    if (r.has("--will-topic")) {
        if (!valid_topic_name(r.will_topic)) {
            return failure("Error: Invalid will topic '" + r.will_topic + "', does it contain '+' or '#'?");
        }
        o.will_topic = r.will_topic;
    }
    if (r.has("--will-payload")) o.will_payload = r.will_payload;
    if (!r.will_qos.empty()) {
        const auto q = parse_qos(r.will_qos);
        if (!q) return failure("Error: Invalid will QoS " + r.will_qos + ".");
        o.will_qos = *q;
    }
    o.will_retain = r.will_retain;
    if (o.will_payload && !o.will_topic) return failure("Error: Will payload given, but no will topic given.", false);
    if (o.will_retain && !o.will_topic) return failure("Error: Will retain given, but no will topic given.", false);
    if (!o.cert.empty() != !o.key.empty()) {
        return failure("Error: Both certfile and keyfile must be provided if one of them is set.", false);
    }
    if (!o.tls_version.empty() && o.tls_version != "tlsv1.2" && o.tls_version != "tlsv1.3") {
        return failure("Error: Unsupported TLS version " + o.tls_version + " (moth supports tlsv1.2 and tlsv1.3).");
    }
    if (!r.qos.empty()) {
        const auto q = parse_qos(r.qos);
        if (!q) return failure("Error: Invalid QoS given: " + r.qos);
        o.qos = *q;
    }
    return std::nullopt;
}

std::optional<Failure> check_messages(const RawOptions& r, Options& o) {
    const Tool tool = o.tool;
    if (auto f = tool == Tool::Sub ? check_subscriptions(r, o) : check_payload(r, o)) return f;
    if (tool == Tool::Pub) {
        if (auto f = check_repeat(r, o)) return f;
    }
    if (tool == Tool::Rr) {
        if (!r.response_topic.empty() || r.has("--response-topic")) {
            if (!valid_topic_name(r.response_topic)) {
                return failure("Error: Invalid response topic '" + r.response_topic +
                               "', does it contain '+' or '#'?");
            }
            o.response_topic = r.response_topic;
        }
    }
    if (tool != Tool::Pub) return check_output(r, o);
    return std::nullopt;
}

std::optional<Failure> cross_check(const RawOptions& r, Options& o) {
    const Tool tool = o.tool;
    if (o.version == ProtocolVersion::V5) {
        if (!o.clean_session && !o.session_expiry) o.session_expiry = 0xFFFFFFFFu;
        if (o.session_expiry && *o.session_expiry == 0xFFFFFFFFu && (!o.id_prefix.empty() || o.id.empty())) {
            return failure("Error: You must provide a client id if you are using an infinite session expiry interval.",
                           false);
        }
    } else if (!o.clean_session && (!o.id_prefix.empty() || o.id.empty())) {
        return failure("Error: You must provide a client id if you are using the -c option.", false);
    }
    if (tool == Tool::Sub && o.topics.empty() && o.unsubscribe.empty()) {
        return failure("Error: You must specify a topic to subscribe to (-t) or unsubscribe from (-U).");
    }
    if (tool == Tool::Pub && (o.topic.empty() || o.source == PayloadSource::None)) {
        return Failure{"Error: Both topic and message must be supplied.", false, true};
    }
    if (tool == Tool::Rr) {
        if (o.topic.empty() || o.response_topic.empty()) {
            return Failure{"Error: All of topic, message, and response topic must be supplied.", false, true};
        }
        if (o.source == PayloadSource::None) o.source = PayloadSource::Null;
    }
    if (o.unix_socket.size() > 0 && !r.url.empty()) return failure("Error: --unix and -L cannot be used together.");
    if (!o.auth_method.empty()) {
        if (o.version != ProtocolVersion::V5) {
            return failure("Error: --auth-method needs MQTT 5.0 (-V 5): 3.x has no enhanced authentication.");
        }
        if (!o.username || !o.password) {
            return failure("Error: --auth-method " + o.auth_method + " needs a username (-u) and a password (-P).");
        }
        if (!o.props.authentication_method.empty()) {
            return failure("Error: --auth-method and -D connect authentication-method cannot be used together.");
        }
    }
    return std::nullopt;
}

}  // namespace moth::cli
