// moth pub/sub/rr command lines (options.hpp), parsed in three steps: the words are regrouped and the -D
// properties taken out (option_table.cpp, properties.cpp), CLI11 parses the flags and writes --help, then each
// value is checked and converted in mosquitto's order (option_checks.cpp, option_url.cpp).
#include "options.hpp"

#include <string>

#include <CLI/CLI.hpp>
#include <moth/scram.hpp>

#include "option_checks.hpp"
#include "option_table.hpp"
#include "option_values.hpp"

namespace moth::cli {
namespace {

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
    RawOptions raw;
    if (auto e = regroup(tool, args, o, raw)) return fail(*e);

    // 2. CLI11 for the flags, unknown options and --help.
    const std::string name = "moth " + std::string(tool_name(tool));
    CLI::App app{tool == Tool::Pub   ? "Publish a message (the options of mosquitto_pub)."
                 : tool == Tool::Sub ? "Subscribe and print messages (the options of mosquitto_sub)."
                                     : "Publish a request and print the response (the options of mosquitto_rr).",
                 name};
    app.set_help_flag("--help", "Print this help and exit");
    app.allow_extras(false);
    app.get_formatter()->column_width(34);
    declare_options(app, tool, raw, o);
    std::vector<std::string> reversed(raw.words.rbegin(), raw.words.rend());
    try {
        app.parse(reversed);
    } catch (const CLI::CallForHelp&) {
        result.out = app.help();
        result.exit_code = 0;
        return result;
    } catch (const CLI::ParseError& e) {
        return fail(std::string("Error: ") + e.what());
    }
    take_values(raw, o);

    // 3. Check and convert, in the order mosquitto does.
    for (const auto check : {check_connection, check_will_tls_qos, check_messages, cross_check}) {
        auto f = check(raw, o);
        if (!f) continue;
        if (!f->help) return fail(f->message, f->hint);
        result.err = f->message + "\n";
        result.out = app.help();
        result.exit_code = 1;
        return result;
    }
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
    if (o.auth_method == "scram-sha-256" && o.username && o.password) {
        try {
            // The password stays here: SCRAM sends a proof of it (and checks the broker's proof in return).
            (void)ScramAuthenticator::configure(c, *o.username, *o.password);
        } catch (const std::exception& e) {
            return R(boost::system::in_place_error, std::string("Error: cannot start SCRAM-SHA-256: ") + e.what());
        }
    }
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
