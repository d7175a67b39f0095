// The options of moth pub, sub and rr, as the parser sees them (option_table.hpp).
#include "option_table.hpp"

#include <CLI/CLI.hpp>

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
        {"--auth-method", {"--auth-method", "authentication method", kAll}},
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

// The options every tool has.
void declare_common(CLI::App& app, Tool tool, RawOptions& r, Options& o) {
    app.add_option("-h,--host", r.host, "Broker host (default localhost)");
    app.add_option("-p,--port", r.port, "Broker port (default 1883, 8883 with TLS)");
    app.add_option("-L,--url", r.url, "mqtt(s)://[user[:password]@]host[:port]/topic, or ws(s)://host[:port][/path]");
    app.add_option("--unix", r.unix_socket, "Unix domain socket (not supported by moth's client)");
    app.add_option("-A,--bind-address", r.bind_address, "Local address to bind (not supported)");
    app.add_flag("--nodelay", r.nodelay, "Accepted for compatibility; moth always disables Nagle");
    app.add_option("-i,--id", r.id, "Client id (default: assigned by the broker)");
    app.add_option("-I,--id-prefix", r.id_prefix, "Client id prefix, followed by the process id");
    app.add_option("-u,--username", r.username, "User name");
    app.add_option("-P,--pw", r.password, "Password");
    app.add_option("--auth-method", r.auth_method, "scram-sha-256: log in with -u/-P by SCRAM (5.0), password unsent");
    app.add_option("-k,--keepalive", r.keepalive, "Keep alive in seconds (default 60)");
    app.add_option("-V,--protocol-version", r.version, "31, 311, 5 (or mqttv31, mqttv311, mqttv5)");
    app.add_flag("-c,--disable-clean-session", r.persistent, "Persistent session (needs -i)");
    app.add_option("-x,--session-expiry-interval", r.session_expiry, "Session expiry (5.0): seconds, -1 or ∞");
    app.add_flag("-d,--debug", r.debug, "Debug messages on stderr");
    app.add_flag("--quiet", o.quiet, "Do not print error messages");
    app.add_option("--will-topic", r.will_topic, "Will topic");
    app.add_option("--will-payload", r.will_payload, "Will payload");
    app.add_option("--will-qos", r.will_qos, "Will QoS");
    app.add_flag("--will-retain", r.will_retain, "Retain the will");
    app.add_option("--cafile", o.cafile, "CA certificates file (enables TLS)");
    app.add_option("--capath", o.capath, "CA certificates directory (enables TLS)");
    app.add_option("--cert", o.cert, "Client certificate");
    app.add_option("--key", o.key, "Client private key");
    app.add_flag("--insecure", o.insecure, "Do not verify the broker's certificate or host name");
    app.add_option("--tls-version", o.tls_version, "Minimum TLS version: tlsv1.2 or tlsv1.3");
    app.add_flag("--tls-use-os-certs", o.tls_use_os_certs, "Trust the system's CA certificates (enables TLS)");
    app.add_option("-q,--qos", r.qos, tool == Tool::Sub ? "Subscription QoS (default 0)" : "QoS (default 0)");
}

// The options of one tool (in the order of the help text).
void declare_own(CLI::App& app, Tool tool, RawOptions& r, Options& o) {
    if (tool == Tool::Sub) {
        app.add_option("-t,--topic", r.topics, "Filter to subscribe to (repeatable)");
        app.add_option("-T,--filter-out", r.filter_out, "Do not print topics matching this filter (repeatable)");
        app.add_option("-U,--unsubscribe", r.unsub, "Unsubscribe from this filter (repeatable)");
        app.add_option("-C,--count", r.count, "Exit after this many messages");
        app.add_flag("-E", o.exit_after_subscribe, "Exit once the subscriptions are acknowledged");
        app.add_flag("-R", o.no_retained, "Do not print retained (stale) messages");
        app.add_flag("--retained-only", o.retained_only, "Print retained messages only; exit at the first other");
        app.add_flag("--remove-retained", o.remove_retained, "Clear every retained message received");
    } else {
        app.add_option("-t,--topic", r.single_topic, tool == Tool::Pub ? "Topic to publish to" : "Request topic");
        app.add_option("-m,--message", r.message, "Payload");
        app.add_option("-f,--file", r.file, "Payload: a file's contents");
        app.add_flag("-s,--stdin-file", r.stdin_whole, "Payload: all of standard input");
        app.add_flag("-l,--stdin-line", r.stdin_lines, "One message per line of standard input");
        app.add_flag("-n,--null-message", r.null_message, "Empty payload");
        app.add_flag("-r,--retain", o.retain, "Retain the message");
    }
    if (tool == Tool::Pub) {
        app.add_option("--repeat", r.repeat, "Publish the message this many times");
        app.add_option("--repeat-delay", r.repeat_delay, "Seconds between repeats (default 0)");
        app.add_option("-M,--max-inflight", r.max_inflight, "Accepted for compatibility");
    }
    if (tool == Tool::Rr) {
        app.add_option("-e,--response-topic", r.response_topic, "Topic the response comes on");
    }
    if (tool != Tool::Pub) {
        app.add_flag("-v,--verbose", r.verbose, "Print \"topic payload\"");
        app.add_flag("-N", r.no_eol, "No newline after each message");
        app.add_option("-F,--format", r.format, "Output format (mosquitto_sub's -F)");
        app.add_flag("--pretty", o.output.pretty, "Indent JSON output");
        app.add_flag("--json", r.json, "One JSON object per message and line");
        app.add_option("-W,--timeout", r.timeout, "Exit after this many seconds");
    }
}

}  // namespace

std::optional<std::string> regroup(Tool tool, const std::vector<std::string>& args, Options& o, RawOptions& raw) {
    const auto& table = value_options();
    for (std::size_t i = 0; i < args.size(); ++i) {
        const auto& w = args[i];
        if (w == "-D" || w == "--property") {
            std::vector<std::string> prop;
            for (std::size_t k = 1; k <= 3 && i + k < args.size(); ++k) prop.push_back(args[i + k]);
            if (prop.size() == 3 && prop[1] == "user-property" && i + 4 < args.size()) prop.push_back(args[i + 4]);
            if (auto e = add_property(o.props, prop)) return e;
            i += prop.size();
            continue;
        }
        const auto it = table.find(w);
        if (it != table.end() && (it->second.tools & bit(tool)) != 0) {
            if (i + 1 >= args.size()) {
                return "Error: " + w + " argument given but no " + it->second.what + " specified.";
            }
            raw.values[it->second.canonical].push_back(args[i + 1]);
            ++i;
            continue;
        }
        raw.words.push_back(w);
    }
    return std::nullopt;
}

void declare_options(CLI::App& app, Tool tool, RawOptions& raw, Options& o) {
    declare_common(app, tool, raw, o);
    declare_own(app, tool, raw, o);
    app.footer(
        "-D, --property COMMAND NAME VALUE [VALUE]\n"
        "  MQTT 5.0 property, e.g. -D publish user-property key value, -D publish content-type text/plain,\n"
        "  -D publish message-expiry-interval 60, -D connect session-expiry-interval 3600,\n"
        "  -D subscribe subscription-identifier 7\n\n"
        "Exit codes are mosquitto's: 0 success, 1 bad arguments or connection failure, the CONNACK reason\n"
        "code when the broker refuses the connection, 27 when -W expires.");
}

// CLI11 sees a value option only in a "--long=value" word; what it bound from one is replaced here, as mosquitto
// reads only the separate word.
void take_values(RawOptions& r, Options& o) {
    r.host = r.last("--host");
    r.port = r.last("--port");
    r.url = r.last("--url");
    r.unix_socket = r.last("--unix");
    r.bind_address = r.last("--bind-address");
    r.id = r.last("--id");
    r.id_prefix = r.last("--id-prefix");
    r.username = r.last("--username");
    r.password = r.last("--pw");
    r.auth_method = r.last("--auth-method");
    r.keepalive = r.last("--keepalive");
    r.version = r.last("--protocol-version");
    r.session_expiry = r.last("--session-expiry-interval");
    r.will_topic = r.last("--will-topic");
    r.will_payload = r.last("--will-payload");
    r.will_qos = r.last("--will-qos");
    o.cafile = r.last("--cafile");
    o.capath = r.last("--capath");
    o.cert = r.last("--cert");
    o.key = r.last("--key");
    o.tls_version = r.last("--tls-version");
    r.qos = r.last("--qos");
    r.message = r.last("--message");
    r.file = r.last("--file");
    r.repeat = r.last("--repeat");
    r.repeat_delay = r.last("--repeat-delay");
    r.max_inflight = r.last("--max-inflight");
    r.format = r.last("--format");
    r.count = r.last("--count");
    r.timeout = r.last("--timeout");
    r.response_topic = r.last("--response-topic");
    r.single_topic = r.last("--topic");
    if (r.has("--topic")) r.topics = r.values.at("--topic");
    if (r.has("--filter-out")) r.filter_out = r.values.at("--filter-out");
    if (r.has("--unsubscribe")) r.unsub = r.values.at("--unsubscribe");
}

}  // namespace moth::cli
