// mosquitto's clients do not parse getopt style: every option that takes a value takes the next word, whatever it
// looks like ("-m -5" publishes "-5"), and -D takes three or four words. So the words are first regrouped here
// (value options become "--long=value", -D is taken out whole), then CLI11 does the rest: flags, duplicates,
// unknown options and --help text.
#include "options.hpp"

#include <charconv>
#include <cmath>
#include <map>
#include <string>

#include <CLI/CLI.hpp>

#include "codec/topic.hpp"

namespace moth::cli {
namespace {

struct ValueOption {
    const char* canonical;  // the long name CLI11 is given
    const char* what;       // for "Error: -t argument given but no topic specified."
    unsigned tools;         // bit mask of Tool
};

constexpr unsigned bit(Tool t) { return 1u << static_cast<unsigned>(t); }
constexpr unsigned kAll = bit(Tool::Pub) | bit(Tool::Sub) | bit(Tool::Rr);
constexpr unsigned kPub = bit(Tool::Pub);
constexpr unsigned kSub = bit(Tool::Sub);
constexpr unsigned kRr = bit(Tool::Rr);

const std::map<std::string, ValueOption, std::less<>>& value_options() {
    static const std::map<std::string, ValueOption, std::less<>> m = {
        {"-h", {"--host", "host", kAll}},
        {"--host", {"--host", "host", kAll}},
        {"-p", {"--port", "port", kAll}},
        {"--port", {"--port", "port", kAll}},
        {"-L", {"--url", "URL", kAll}},
        {"--url", {"--url", "URL", kAll}},
        {"--unix", {"--unix", "socket path", kAll}},
        {"-A", {"--bind-address", "address", kAll}},
        {"-i", {"--id", "id", kAll}},
        {"--id", {"--id", "id", kAll}},
        {"-I", {"--id-prefix", "id prefix", kAll}},
        {"--id-prefix", {"--id-prefix", "id prefix", kAll}},
        {"-u", {"--username", "username", kAll}},
        {"--username", {"--username", "username", kAll}},
        {"-P", {"--pw", "password", kAll}},
        {"--pw", {"--pw", "password", kAll}},
        {"-k", {"--keepalive", "keepalive", kAll}},
        {"--keepalive", {"--keepalive", "keepalive", kAll}},
        {"-V", {"--protocol-version", "version", kAll}},
        {"--protocol-version", {"--protocol-version", "version", kAll}},
        {"-x", {"--session-expiry-interval", "interval", kAll}},
        {"--session-expiry-interval", {"--session-expiry-interval", "interval", kAll}},
        {"--will-topic", {"--will-topic", "will topic", kAll}},
        {"--will-payload", {"--will-payload", "will payload", kAll}},
        {"--will-qos", {"--will-qos", "will QoS", kAll}},
        {"--cafile", {"--cafile", "file", kAll}},
        {"--capath", {"--capath", "directory", kAll}},
        {"--cert", {"--cert", "file", kAll}},
        {"--key", {"--key", "file", kAll}},
        {"--tls-version", {"--tls-version", "version", kAll}},
        {"-q", {"--qos", "QoS", kAll}},
        {"--qos", {"--qos", "QoS", kAll}},
        {"-t", {"--topic", "topic", kAll}},
        {"--topic", {"--topic", "topic", kAll}},
        {"-m", {"--message", "message", kPub | kRr}},
        {"--message", {"--message", "message", kPub | kRr}},
        {"-f", {"--file", "file", kPub | kRr}},
        {"--file", {"--file", "file", kPub | kRr}},
        {"--repeat", {"--repeat", "count", kPub}},
        {"--repeat-delay", {"--repeat-delay", "time", kPub}},
        {"-M", {"--max-inflight", "max inflight", kPub}},
        {"-T", {"--filter-out", "topic", kSub}},
        {"--filter-out", {"--filter-out", "topic", kSub}},
        {"-U", {"--unsubscribe", "topic", kSub}},
        {"--unsubscribe", {"--unsubscribe", "topic", kSub}},
        {"-F", {"--format", "format", kSub | kRr}},
        {"--format", {"--format", "format", kSub | kRr}},
        {"-C", {"--count", "count", kSub}},
        {"--count", {"--count", "count", kSub}},
        {"-W", {"--timeout", "timeout", kSub | kRr}},
        {"--timeout", {"--timeout", "timeout", kSub | kRr}},
        {"-e", {"--response-topic", "response topic", kRr}},
        {"--response-topic", {"--response-topic", "response topic", kRr}},
    };
    return m;
}

template <class T>
bool parse_number(std::string_view s, T& out) {
    if (s.empty()) return false;
    const auto* end = s.data() + s.size();
    const auto r = std::from_chars(s.data(), end, out);
    return r.ec == std::errc() && r.ptr == end;
}

std::optional<QoS> parse_qos(std::string_view s) {
    if (s == "0") return QoS::AtMostOnce;
    if (s == "1") return QoS::AtLeastOnce;
    if (s == "2") return QoS::ExactlyOnce;
    return std::nullopt;
}

// The topic rules are the codec's, the same the client library applies before it sends (MQTT 5.0 section 4.7);
// only the error messages are the CLI's own, worded as mosquitto_pub/sub word them.
bool valid_topic_name(std::string_view topic) {
    return codec::validate_topic_name(topic) == codec::TopicError::None;
}
bool valid_filter(std::string_view filter) {
    return codec::validate_topic_filter(filter) == codec::TopicError::None;
}

std::vector<std::byte> to_bytes(std::string_view s) {
    std::vector<std::byte> out(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) out[i] = static_cast<std::byte>(s[i]);
    return out;
}

// -L mqtt(s)://[username[:password]@]host[:port]/topic, and ws(s)://...[/path] (moth's addition).
std::optional<std::string> apply_url(Options& o, std::string_view url) {
    o.url = std::string(url);
    const auto sep = url.find("://");
    if (sep == std::string_view::npos) return std::string("Error: unsupported URL scheme.");
    const auto scheme = url.substr(0, sep);
    if (scheme != "mqtt" && scheme != "mqtts" && scheme != "ws" && scheme != "wss") {
        return std::string("Error: unsupported URL scheme.");
    }
    o.scheme = std::string(scheme);
    auto rest = url.substr(sep + 3);
    const auto slash = rest.find('/');
    std::string_view path;
    if (slash != std::string_view::npos) {
        path = rest.substr(slash);
        rest = rest.substr(0, slash);
    }
    if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
        const auto cred = rest.substr(0, at);
        rest = rest.substr(at + 1);
        if (const auto colon = cred.find(':'); colon != std::string_view::npos) {
            o.username = std::string(cred.substr(0, colon));
            o.password = std::string(cred.substr(colon + 1));
        } else {
            o.username = std::string(cred);
        }
    }
    std::string_view host = rest;
    std::string_view port;
    if (!rest.empty() && rest.front() == '[') {
        const auto close = rest.find(']');
        if (close == std::string_view::npos) return std::string("Error: Invalid URL for -L argument specified.");
        host = rest.substr(1, close - 1);
        if (close + 1 < rest.size()) {
            if (rest[close + 1] != ':') return std::string("Error: Invalid URL for -L argument specified.");
            port = rest.substr(close + 2);
        }
    } else if (const auto colon = rest.rfind(':'); colon != std::string_view::npos) {
        host = rest.substr(0, colon);
        port = rest.substr(colon + 1);
    }
    if (host.empty()) return std::string("Error: Invalid URL for -L argument specified - no host given.");
    o.host = std::string(host);
    if (!port.empty()) {
        std::uint16_t p = 0;
        if (!parse_number(port, p) || p == 0) return std::string("Error: Invalid port given: ") + std::string(port);
        o.port = p;
    }
    if (o.scheme == "ws" || o.scheme == "wss") {
        o.ws_path = path.empty() ? "/mqtt" : std::string(path);
    } else {
        if (path.size() <= 1) return std::string("Error: Invalid URL for -L argument specified - topic missing.");
        const auto topic = path.substr(1);
        if (o.tool == Tool::Sub) o.topics.emplace_back(topic);
        else o.topic = std::string(topic);
    }
    return std::nullopt;
}

std::string usage_hint(Tool tool) {
    return "\nUse 'moth " + std::string(tool_name(tool)) + " --help' to see usage.\n";
}

}  // namespace

std::string_view tool_name(Tool tool) {
    switch (tool) {
        case Tool::Pub: return "pub";
        case Tool::Sub: return "sub";
        case Tool::Rr: return "rr";
    }
    return "sub";
}

std::optional<std::string> add_property(Properties& props, const std::vector<std::string>& words) {
    if (words.size() < 3) return std::string("Error: -D argument given but not enough arguments specified.");
    const auto& cmd = words[0];
    const auto& name = words[1];
    const auto& value = words[2];
    static const std::vector<std::string> kCommands = {"connect", "publish", "subscribe", "unsubscribe",
                                                       "disconnect", "will", "auth", "puback", "pubrec",
                                                       "pubrel", "pubcomp"};
    if (std::find(kCommands.begin(), kCommands.end(), cmd) == kCommands.end()) {
        return "Error: Invalid command " + cmd + " given in --property argument.";
    }
    const auto not_allowed = [&] { return "Error: " + name + " property not allowed for " + cmd + " in --property argument."; };
    const auto bad_value = [&] { return "Error: Invalid value '" + value + "' for " + name + " in --property argument."; };
    const auto u8 = [&](std::optional<std::uint8_t>& out) -> std::optional<std::string> {
        std::uint8_t v = 0;
        if (!parse_number(value, v)) return bad_value();
        out = v;
        return std::nullopt;
    };
    const auto u16 = [&](std::optional<std::uint16_t>& out) -> std::optional<std::string> {
        std::uint16_t v = 0;
        if (!parse_number(value, v)) return bad_value();
        out = v;
        return std::nullopt;
    };
    const auto u32 = [&](std::optional<std::uint32_t>& out) -> std::optional<std::string> {
        std::uint32_t v = 0;
        if (!parse_number(value, v)) return bad_value();
        out = v;
        return std::nullopt;
    };
    const auto flag = [&](std::optional<bool>& out) -> std::optional<std::string> {
        if (value != "0" && value != "1") return bad_value();
        out = value == "1";
        return std::nullopt;
    };
    const bool message_like = cmd == "publish" || cmd == "will";

    if (name == "user-property") {
        if (words.size() < 4) return std::string("Error: -D argument given but not enough arguments specified.");
        UserProperty up{value, words[3]};
        if (cmd == "connect") props.connect_user_properties.push_back(up);
        else if (cmd == "publish") props.publish.user_properties.push_back(up);
        else if (cmd == "will") props.will.user_properties.push_back(up);
        else if (cmd == "subscribe") props.subscribe_user_properties.push_back(up);
        else if (cmd == "unsubscribe") props.unsubscribe_user_properties.push_back(up);
        else if (cmd == "disconnect") props.disconnect_user_properties.push_back(up);
        else return "Error: user-property for " + cmd + " is not supported by moth.";
        return std::nullopt;
    }
    if (words.size() != 3) return std::string("Error: -D argument given with too many arguments.");
    MessageProperties& mp = cmd == "will" ? props.will : props.publish;
    if (name == "payload-format-indicator") {
        if (!message_like) return not_allowed();
        return u8(mp.payload_format_indicator);
    }
    if (name == "message-expiry-interval") {
        if (!message_like) return not_allowed();
        return u32(mp.message_expiry_interval);
    }
    if (name == "content-type") {
        if (!message_like) return not_allowed();
        mp.content_type = value;
        return std::nullopt;
    }
    if (name == "response-topic") {
        if (!message_like) return not_allowed();
        if (!valid_topic_name(value)) return bad_value();
        mp.response_topic = value;
        return std::nullopt;
    }
    if (name == "correlation-data") {
        if (!message_like) return not_allowed();
        mp.correlation_data = to_bytes(value);
        return std::nullopt;
    }
    if (name == "topic-alias") {
        if (cmd != "publish") return not_allowed();
        return u16(props.publish_topic_alias);
    }
    if (name == "will-delay-interval") {
        if (cmd != "will") return not_allowed();
        return u32(props.will_delay_interval);
    }
    if (name == "session-expiry-interval") {
        if (cmd == "connect") return u32(props.session_expiry_interval);
        if (cmd == "disconnect") return u32(props.disconnect_session_expiry_interval);
        return not_allowed();
    }
    if (name == "receive-maximum") {
        if (cmd != "connect") return not_allowed();
        return u16(props.receive_maximum);
    }
    if (name == "maximum-packet-size") {
        if (cmd != "connect") return not_allowed();
        return u32(props.maximum_packet_size);
    }
    if (name == "topic-alias-maximum") {
        if (cmd != "connect") return not_allowed();
        return u16(props.topic_alias_maximum);
    }
    if (name == "request-response-information") {
        if (cmd != "connect") return not_allowed();
        return flag(props.request_response_information);
    }
    if (name == "request-problem-information") {
        if (cmd != "connect") return not_allowed();
        return flag(props.request_problem_information);
    }
    if (name == "authentication-method") {
        if (cmd != "connect") return not_allowed();
        props.authentication_method = value;
        return std::nullopt;
    }
    if (name == "subscription-identifier") {
        if (cmd != "subscribe") return not_allowed();
        std::uint32_t v = 0;
        if (!parse_number(value, v) || v == 0 || v > 268'435'455) return bad_value();
        props.subscription_identifier = v;
        return std::nullopt;
    }
    static const std::vector<std::string> kKnownOther = {
        "authentication-data", "reason-string", "server-reference", "response-information",
        "assigned-client-identifier", "server-keep-alive", "maximum-qos", "retain-available",
        "wildcard-subscription-available", "subscription-identifier-available",
        "shared-subscription-available"};
    if (std::find(kKnownOther.begin(), kKnownOther.end(), name) != kKnownOther.end()) {
        return not_allowed();
    }
    return "Error: Invalid property name " + name + " in --property argument.";
}

ParseResult parse(Tool tool, const std::vector<std::string>& args) {
    ParseResult result;
    Options o;
    o.tool = tool;
    if (tool == Tool::Rr) {
        o.version = ProtocolVersion::V5;
        o.count = 1;
    }
    const auto fail = [&](const std::string& message, bool hint = true) {
        result.err = message + "\n" + (hint ? usage_hint(tool) : std::string());
        result.exit_code = 1;
        result.options.reset();
        return result;
    };

    // 1. Regroup the words.
    std::vector<std::string> words;                               // flags, for CLI11
    std::map<std::string, std::vector<std::string>> values;      // value options by long name, in order
    const auto& table = value_options();
    for (std::size_t i = 0; i < args.size(); ++i) {
        const auto& w = args[i];
        if (w == "-D" || w == "--property") {
            std::vector<std::string> prop;
            for (std::size_t k = 1; k <= 3 && i + k < args.size(); ++k) prop.push_back(args[i + k]);
            if (prop.size() == 3 && prop[1] == "user-property" && i + 4 < args.size()) prop.push_back(args[i + 4]);
            if (auto e = add_property(o.props, prop)) return fail(*e);
            i += prop.size();
            continue;
        }
        const auto it = table.find(w);
        if (it != table.end() && (it->second.tools & bit(tool)) != 0) {
            if (i + 1 >= args.size()) {
                return fail("Error: " + w + " argument given but no " + it->second.what + " specified.");
            }
            values[it->second.canonical].push_back(args[i + 1]);
            ++i;
            continue;
        }
        words.push_back(w);
    }

    // 2. CLI11 for the flags, unknown options and --help. Value options are declared for the help text only.
    const std::string name = "moth " + std::string(tool_name(tool));
    CLI::App app{tool == Tool::Pub   ? "Publish a message (the options of mosquitto_pub)."
                 : tool == Tool::Sub ? "Subscribe and print messages (the options of mosquitto_sub)."
                                     : "Publish a request and print the response (the options of mosquitto_rr).",
                 name};
    app.set_help_flag("--help", "Print this help and exit");
    app.allow_extras(false);
    app.get_formatter()->column_width(34);

    std::string host, port, url, unix_socket, bind_address, id, id_prefix, username, password, keepalive, version,
        session_expiry, will_topic, will_payload, will_qos, qos, message, file, repeat, repeat_delay, max_inflight,
        format, count, timeout, response_topic;
    std::vector<std::string> topics, filter_out, unsub;
    bool will_retain = false, nodelay = false, stdin_whole = false, stdin_lines = false, null_message = false,
         verbose = false, no_eol = false, json = false;
    int debug = 0;

    app.add_option("-h,--host", host, "Broker host (default localhost)");
    app.add_option("-p,--port", port, "Broker port (default 1883, 8883 with TLS)");
    app.add_option("-L,--url", url, "mqtt(s)://[user[:password]@]host[:port]/topic, or ws(s)://host[:port][/path]");
    app.add_option("--unix", unix_socket, "Unix domain socket (not supported by moth's client)");
    app.add_option("-A,--bind-address", bind_address, "Local address to bind (not supported)");
    app.add_flag("--nodelay", nodelay, "Accepted for compatibility; moth always disables Nagle");
    app.add_option("-i,--id", id, "Client id (default: assigned by the broker)");
    app.add_option("-I,--id-prefix", id_prefix, "Client id prefix, followed by the process id");
    app.add_option("-u,--username", username, "User name");
    app.add_option("-P,--pw", password, "Password");
    app.add_option("-k,--keepalive", keepalive, "Keep alive in seconds (default 60)");
    app.add_option("-V,--protocol-version", version, "31, 311, 5 (or mqttv31, mqttv311, mqttv5)");
    bool persistent = false;
    app.add_flag("-c,--disable-clean-session", persistent, "Persistent session (needs -i)");
    app.add_option("-x,--session-expiry-interval", session_expiry, "Session expiry (5.0): seconds, -1 or ∞");
    app.add_flag("-d,--debug", debug, "Debug messages on stderr");
    app.add_flag("--quiet", o.quiet, "Do not print error messages");
    app.add_option("--will-topic", will_topic, "Will topic");
    app.add_option("--will-payload", will_payload, "Will payload");
    app.add_option("--will-qos", will_qos, "Will QoS");
    app.add_flag("--will-retain", will_retain, "Retain the will");
    app.add_option("--cafile", o.cafile, "CA certificates file (enables TLS)");
    app.add_option("--capath", o.capath, "CA certificates directory (enables TLS)");
    app.add_option("--cert", o.cert, "Client certificate");
    app.add_option("--key", o.key, "Client private key");
    app.add_flag("--insecure", o.insecure, "Do not verify the broker's certificate or host name");
    app.add_option("--tls-version", o.tls_version, "Minimum TLS version: tlsv1.2 or tlsv1.3");
    app.add_flag("--tls-use-os-certs", o.tls_use_os_certs, "Trust the system's CA certificates (enables TLS)");
    app.add_option("-q,--qos", qos, tool == Tool::Sub ? "Subscription QoS (default 0)" : "QoS (default 0)");
    std::string single_topic;
    if (tool == Tool::Sub) {
        app.add_option("-t,--topic", topics, "Filter to subscribe to (repeatable)");
        app.add_option("-T,--filter-out", filter_out, "Do not print topics matching this filter (repeatable)");
        app.add_option("-U,--unsubscribe", unsub, "Unsubscribe from this filter (repeatable)");
        app.add_option("-C,--count", count, "Exit after this many messages");
        app.add_flag("-E", o.exit_after_subscribe, "Exit once the subscriptions are acknowledged");
        app.add_flag("-R", o.no_retained, "Do not print retained (stale) messages");
        app.add_flag("--retained-only", o.retained_only, "Print retained messages only; exit at the first other");
        app.add_flag("--remove-retained", o.remove_retained, "Clear every retained message received");
    } else {
        app.add_option("-t,--topic", single_topic, tool == Tool::Pub ? "Topic to publish to" : "Request topic");
        app.add_option("-m,--message", message, "Payload");
        app.add_option("-f,--file", file, "Payload: a file's contents");
        app.add_flag("-s,--stdin-file", stdin_whole, "Payload: all of standard input");
        app.add_flag("-l,--stdin-line", stdin_lines, "One message per line of standard input");
        app.add_flag("-n,--null-message", null_message, "Empty payload");
        app.add_flag("-r,--retain", o.retain, "Retain the message");
    }
    if (tool == Tool::Pub) {
        app.add_option("--repeat", repeat, "Publish the message this many times");
        app.add_option("--repeat-delay", repeat_delay, "Seconds between repeats (default 0)");
        app.add_option("-M,--max-inflight", max_inflight, "Accepted for compatibility");
    }
    if (tool == Tool::Rr) {
        app.add_option("-e,--response-topic", response_topic, "Topic the response comes on");
    }
    if (tool != Tool::Pub) {
        app.add_flag("-v,--verbose", verbose, "Print \"topic payload\"");
        app.add_flag("-N", no_eol, "No newline after each message");
        app.add_option("-F,--format", format, "Output format (mosquitto_sub's -F)");
        app.add_flag("--pretty", o.output.pretty, "Indent JSON output");
        app.add_flag("--json", json, "One JSON object per message and line");
        app.add_option("-W,--timeout", timeout, "Exit after this many seconds");
    }
    app.footer(
        "-D, --property COMMAND NAME VALUE [VALUE]\n"
        "  MQTT 5.0 property, e.g. -D publish user-property key value, -D publish content-type text/plain,\n"
        "  -D publish message-expiry-interval 60, -D connect session-expiry-interval 3600,\n"
        "  -D subscribe subscription-identifier 7\n\n"
        "Exit codes are mosquitto's: 0 success, 1 bad arguments or connection failure, the CONNACK reason\n"
        "code when the broker refuses the connection, 27 when -W expires.");

    std::vector<std::string> reversed(words.rbegin(), words.rend());
    try {
        app.parse(reversed);
    } catch (const CLI::CallForHelp&) {
        result.out = app.help();
        result.exit_code = 0;
        return result;
    } catch (const CLI::ParseError& e) {
        return fail(std::string("Error: ") + e.what());
    }
    const auto has = [&](const char* key) { return values.count(key) > 0; };
    const auto last = [&](const char* key) { return has(key) ? values[key].back() : std::string(); };
    host = last("--host");
    port = last("--port");
    url = last("--url");
    unix_socket = last("--unix");
    bind_address = last("--bind-address");
    id = last("--id");
    id_prefix = last("--id-prefix");
    username = last("--username");
    password = last("--pw");
    keepalive = last("--keepalive");
    version = last("--protocol-version");
    session_expiry = last("--session-expiry-interval");
    will_topic = last("--will-topic");
    will_payload = last("--will-payload");
    will_qos = last("--will-qos");
    o.cafile = last("--cafile");
    o.capath = last("--capath");
    o.cert = last("--cert");
    o.key = last("--key");
    o.tls_version = last("--tls-version");
    qos = last("--qos");
    message = last("--message");
    file = last("--file");
    repeat = last("--repeat");
    repeat_delay = last("--repeat-delay");
    max_inflight = last("--max-inflight");
    format = last("--format");
    count = last("--count");
    timeout = last("--timeout");
    response_topic = last("--response-topic");
    single_topic = last("--topic");
    if (has("--topic")) topics = values["--topic"];
    if (has("--filter-out")) filter_out = values["--filter-out"];
    if (has("--unsubscribe")) unsub = values["--unsubscribe"];

    // 3. Check and convert, in the order mosquitto does.
    if (!url.empty()) {
        if (auto e = apply_url(o, url)) return fail(*e);
    }
    if (!host.empty()) o.host = host;
    if (!port.empty()) {
        std::uint16_t p = 0;
        if (!parse_number(port, p) || p == 0) return fail("Error: Invalid port given: " + port);
        o.port = p;
    }
    o.unix_socket = unix_socket;
    if (!bind_address.empty()) return fail("Error: -A (bind address) is not supported by moth.", false);
    if (!id.empty()) {
        if (id.size() > 65535) return fail("Error: Client id too long.");
        o.id = id;
    }
    o.id_prefix = id_prefix;
    if (!username.empty() || has("--username")) o.username = username;
    if (has("--pw")) o.password = password;
    if (o.password && !o.username) {
        return fail("Error: A password was given without a username.");
    }
    if (!keepalive.empty()) {
        std::uint16_t k = 0;
        if (!parse_number(keepalive, k) || (k != 0 && k < 5)) {
            return fail("Error: Invalid keepalive given, it must be between 5 and 65535 inclusive.");
        }
        o.keepalive = k;
    }
    if (!version.empty()) {
        if (version == "31" || version == "mqttv31") o.version = ProtocolVersion::V3_1;
        else if (version == "311" || version == "mqttv311") o.version = ProtocolVersion::V3_1_1;
        else if (version == "5" || version == "mqttv5") o.version = ProtocolVersion::V5;
        else return fail("Error: Invalid protocol version argument given.\n");
    }
    o.clean_session = !persistent;
    if (!session_expiry.empty()) {
        if (session_expiry == "-1" || session_expiry == "∞") {
            o.session_expiry = 0xFFFFFFFFu;
        } else {
            std::uint32_t v = 0;
            if (!parse_number(session_expiry, v)) return fail("Error: session-expiry-interval not a number.");
            o.session_expiry = v;
        }
    }
    o.debug = debug > 0;
    if (has("--will-topic")) {
        if (!valid_topic_name(will_topic)) {
            return fail("Error: Invalid will topic '" + will_topic + "', does it contain '+' or '#'?");
        }
        o.will_topic = will_topic;
    }
    if (has("--will-payload")) o.will_payload = will_payload;
    if (!will_qos.empty()) {
        const auto q = parse_qos(will_qos);
        if (!q) return fail("Error: Invalid will QoS " + will_qos + ".");
        o.will_qos = *q;
    }
    o.will_retain = will_retain;
    if (o.will_payload && !o.will_topic) return fail("Error: Will payload given, but no will topic given.", false);
    if (o.will_retain && !o.will_topic) return fail("Error: Will retain given, but no will topic given.", false);
    if (!o.cert.empty() != !o.key.empty()) {
        return fail("Error: Both certfile and keyfile must be provided if one of them is set.", false);
    }
    if (!o.tls_version.empty() && o.tls_version != "tlsv1.2" && o.tls_version != "tlsv1.3") {
        return fail("Error: Unsupported TLS version " + o.tls_version + " (moth supports tlsv1.2 and tlsv1.3).");
    }
    if (!qos.empty()) {
        const auto q = parse_qos(qos);
        if (!q) return fail("Error: Invalid QoS given: " + qos);
        o.qos = *q;
    }

    if (tool == Tool::Sub) {
        for (const auto& t : topics) {
            if (!valid_filter(t)) {
                return fail("Error: Invalid subscription topic '" + t + "', are all '+' and '#' wildcards correct?");
            }
            o.topics.push_back(t);
        }
        for (const auto& t : filter_out) {
            if (!valid_filter(t)) {
                return fail("Error: Invalid filter topic '" + t + "', are all '+' and '#' wildcards correct?");
            }
        }
        o.filter_out = filter_out;
        for (const auto& t : unsub) {
            if (!valid_filter(t)) {
                return fail("Error: Invalid unsubscribe topic '" + t + "', are all '+' and '#' wildcards correct?");
            }
        }
        o.unsubscribe = unsub;
        if (!count.empty()) {
            long c = 0;
            if (!parse_number(count, c) || c < 1) return fail("Error: Invalid message count \"" + count + "\".");
            o.count = c;
        }
    } else {
        if (!single_topic.empty() || has("--topic")) {
            if (!valid_topic_name(single_topic)) {
                return fail("Error: Invalid publish topic '" + single_topic + "', does it contain '+' or '#'?");
            }
            o.topic = single_topic;
        }
        int sources = 0;
        if (has("--message")) {
            o.source = PayloadSource::Message;
            o.message = message;
            ++sources;
        }
        if (has("--file")) {
            o.source = PayloadSource::File;
            o.file = file;
            ++sources;
        }
        if (stdin_whole) {
            o.source = PayloadSource::StdinWhole;
            ++sources;
        }
        if (stdin_lines) {
            o.source = PayloadSource::StdinLines;
            ++sources;
        }
        if (null_message) {
            o.source = PayloadSource::Null;
            ++sources;
        }
        if (sources > 1) return fail("Error: Only one type of message can be sent at once.\n");
    }
    if (tool == Tool::Pub) {
        if (!repeat.empty()) {
            long r = 0;
            if (!parse_number(repeat, r) || r < 1) return fail("Error: --repeat argument must be >0.\n");
            o.repeat = r;
        }
        if (!repeat_delay.empty()) {
            char* end = nullptr;
            const double d = std::strtod(repeat_delay.c_str(), &end);
            if (end == repeat_delay.c_str() || *end != '\0' || !(d >= 0) || !std::isfinite(d)) {
                return fail("Error: --repeat-delay argument must be >=0.0.\n");
            }
            o.repeat_delay_s = d;
        }
        if (!max_inflight.empty()) {
            unsigned m = 0;
            if (!parse_number(max_inflight, m) || m < 1) return fail("Error: Maximum inflight messages must be >0.");
        }
    }
    if (tool == Tool::Rr) {
        if (!response_topic.empty() || has("--response-topic")) {
            if (!valid_topic_name(response_topic)) {
                return fail("Error: Invalid response topic '" + response_topic + "', does it contain '+' or '#'?");
            }
            o.response_topic = response_topic;
        }
    }
    if (tool != Tool::Pub) {
        if (verbose) o.output.mode = OutputMode::Verbose;
        if (has("--format")) {
            if (auto e = check_format(format)) return fail("Error: " + *e);
            o.output.mode = OutputMode::Format;
            o.output.format = format;
        }
        if (json) o.output.mode = OutputMode::Json;
        o.output.eol = !no_eol;
        if (!timeout.empty()) {
            unsigned t = 0;
            if (!parse_number(timeout, t) || t < 1 || t > 3600) {
                return fail("Error: Invalid timeout \"" + timeout + "\", it must be between 1 and 3600 seconds.");
            }
            o.timeout_s = t;
        }
    }

    // Cross checks (client_config_load).
    if (o.version == ProtocolVersion::V5) {
        if (!o.clean_session && !o.session_expiry) o.session_expiry = 0xFFFFFFFFu;
        if (o.session_expiry && *o.session_expiry == 0xFFFFFFFFu && (!o.id_prefix.empty() || o.id.empty())) {
            return fail("Error: You must provide a client id if you are using an infinite session expiry interval.",
                        false);
        }
    } else if (!o.clean_session && (!o.id_prefix.empty() || o.id.empty())) {
        return fail("Error: You must provide a client id if you are using the -c option.", false);
    }
    if (tool == Tool::Sub && o.topics.empty() && o.unsubscribe.empty()) {
        return fail("Error: You must specify a topic to subscribe to (-t) or unsubscribe from (-U).");
    }
    if (tool == Tool::Pub && (o.topic.empty() || o.source == PayloadSource::None)) {
        result.err = "Error: Both topic and message must be supplied.\n";
        result.out = app.help();
        result.exit_code = 1;
        return result;
    }
    if (tool == Tool::Rr) {
        if (o.topic.empty() || o.response_topic.empty()) {
            result.err = "Error: All of topic, message, and response topic must be supplied.\n";
            result.out = app.help();
            result.exit_code = 1;
            return result;
        }
        if (o.source == PayloadSource::None) o.source = PayloadSource::Null;
    }
    if (o.unix_socket.size() > 0 && !url.empty()) return fail("Error: --unix and -L cannot be used together.");
    result.options = std::move(o);
    return result;
}

std::string client_id(const Options& o, long pid) {
    if (!o.id_prefix.empty()) return o.id_prefix + std::to_string(pid);
    if (!o.id.empty()) return o.id;
    if (o.version == ProtocolVersion::V3_1) return "moth_" + std::string(tool_name(o.tool)) + "_" + std::to_string(pid);
    return {};
}

boost::system::result<ConnectOptions, std::string> to_connect_options(const Options& o, long pid) {
    using R = boost::system::result<ConnectOptions, std::string>;
    if (!o.unix_socket.empty()) {
        return R(boost::system::in_place_error,
                 "Error: --unix is not supported: moth's client connects over TCP, TLS and WebSocket only.");
    }
    ConnectOptions c;
    std::string scheme = o.scheme;
    const bool tls_options = !o.cafile.empty() || !o.capath.empty() || o.tls_use_os_certs;
    if (tls_options && scheme == "mqtt") scheme = "mqtts";
    if (tls_options && scheme == "ws") scheme = "wss";
    const bool tls = scheme == "mqtts" || scheme == "wss";
    const std::uint16_t port = o.port ? *o.port : (scheme == "ws" ? 80 : scheme == "wss" ? 443 : tls ? 8883 : 1883);
    std::string host = o.host;
    if (host.find(':') != std::string::npos && host.front() != '[') host = "[" + host + "]";
    c.url = scheme + "://" + host + ":" + std::to_string(port);
    if (scheme == "ws" || scheme == "wss") c.url += o.ws_path.empty() ? "/mqtt" : o.ws_path;
    c.version = o.version;
    c.client_id = client_id(o, pid);
    c.clean_start = o.clean_session;
    c.keep_alive_s = o.keepalive;
    if (o.session_expiry) c.session_expiry_interval = *o.session_expiry;
    else if (o.props.session_expiry_interval) c.session_expiry_interval = *o.props.session_expiry_interval;
    c.username = o.username;
    c.password = o.password;
    if (o.will_topic) {
        Will w;
        w.topic = *o.will_topic;
        if (o.will_payload) w.payload = to_bytes(*o.will_payload);
        w.qos = o.will_qos;
        w.retain = o.will_retain;
        w.properties = o.props.will;
        w.delay_interval = o.props.will_delay_interval;
        c.will = std::move(w);
    }
    if (o.props.receive_maximum) c.receive_maximum = *o.props.receive_maximum;
    if (o.props.maximum_packet_size) c.maximum_packet_size = *o.props.maximum_packet_size;
    if (o.props.topic_alias_maximum) c.topic_alias_maximum = *o.props.topic_alias_maximum;
    c.request_response_information = o.props.request_response_information;
    c.request_problem_information = o.props.request_problem_information;
    c.user_properties = o.props.connect_user_properties;
    c.authentication_method = o.props.authentication_method;
    c.tls.ca_file = o.cafile;
    c.tls.ca_path = o.capath;
    c.tls.cert_file = o.cert;
    c.tls.key_file = o.key;
    c.tls.insecure = o.insecure;
    c.tls.version = o.tls_version;
    // moth sub, like mosquitto_sub, keeps trying when an established connection is lost (libmosquitto's loop
    // reconnects every second, printing nothing on stdout); a failed first connect still ends the program.
    c.auto_reconnect = o.tool == Tool::Sub;
    c.reconnect_min = std::chrono::seconds(1);
    c.reconnect_max = std::chrono::seconds(1);
    return c;
}

bool topic_matches(std::string_view filter, std::string_view topic) {
    if (!topic.empty() && topic.front() == '$' && !filter.empty() && (filter.front() == '+' || filter.front() == '#')) {
        return false;
    }
    std::size_t fi = 0;
    std::size_t ti = 0;
    while (true) {
        const auto fs = filter.find('/', fi);
        const auto flevel = filter.substr(fi, fs == std::string_view::npos ? std::string_view::npos : fs - fi);
        if (flevel == "#") return true;
        const auto ts = topic.find('/', ti);
        const auto tlevel = topic.substr(ti, ts == std::string_view::npos ? std::string_view::npos : ts - ti);
        if (flevel != "+" && flevel != tlevel) return false;
        const bool flast = fs == std::string_view::npos;
        const bool tlast = ts == std::string_view::npos;
        if (flast || tlast) {
            if (flast && tlast) return true;
            // "a/#" matches "a": the filter continues with exactly "#"
            return tlast && !flast && filter.substr(fs + 1) == "#";
        }
        fi = fs + 1;
        ti = ts + 1;
    }
}

}  // namespace moth::cli
