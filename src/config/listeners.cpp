// Listeners: reading the file's [[listener]] array, the checks between a listener's keys and between listeners, and
// the warnings about what a listener exposes.
#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <utility>

#include "config/fields.hpp"

namespace moth::config {
namespace detail {

namespace {

// TLS keys on a listener that is not mqtts/wss, and TLS settings that need each other.
void check_tls_keys(const Listener& l, std::size_t position, std::vector<Problem>& out) {
    if (!is_tls(l.kind)) {
        constexpr std::string_view kMessage = "only applies to mqtts, wss and mqttsns listeners";
        if (!l.cert_file.empty()) {
            out.push_back({position, "cert_file", std::string(kMessage)});
        }
        if (!l.key_file.empty()) {
            out.push_back({position, "key_file", std::string(kMessage)});
        }
        if (!l.ca_file.empty()) {
            out.push_back({position, "ca_file", std::string(kMessage)});
        }
        if (l.require_client_cert) {
            out.push_back({position, "require_client_cert", std::string(kMessage)});
        }
        if (l.tls_min_version != "1.2") {
            out.push_back({position, "tls_min_version", std::string(kMessage)});
        }
        if (!l.tls_max_version.empty()) {
            out.push_back({position, "tls_max_version", std::string(kMessage)});
        }
        if (!l.ciphers.empty()) {
            out.push_back({position, "ciphers", std::string(kMessage)});
        }
        if (!l.ciphersuites.empty()) {
            out.push_back({position, "ciphersuites", std::string(kMessage)});
        }
        if (l.use_cn_as_username) {
            out.push_back({position, "use_cn_as_username", std::string(kMessage)});
        }
    } else {
        if (!l.cert_file.empty() && l.key_file.empty()) {
            out.push_back({position, "key_file", "required when cert_file is set"});
        }
        if (l.cert_file.empty() && !l.key_file.empty()) {
            out.push_back({position, "cert_file", "required when key_file is set"});
        }
        if (l.require_client_cert && l.ca_file.empty()) {
            out.push_back(
                {position, "require_client_cert", "requires ca_file (the CA that signs client certificates)"});
        }
        if (l.use_cn_as_username && !l.require_client_cert) {
            out.push_back({position, "use_cn_as_username", "requires require_client_cert = true"});
        }
        if (l.tls_max_version == "1.2" && l.tls_min_version == "1.3") {
            out.push_back({position, "tls_max_version", "is below tls_min_version \"1.3\""});
        }
        if (l.tls_max_version == "1.2" && !l.ciphersuites.empty()) {
            out.push_back(
                {position, "ciphersuites", "only applies to TLS 1.3, which tls_max_version \"1.2\" turns off"});
        }
        if (l.tls_min_version == "1.3" && !l.ciphers.empty()) {
            out.push_back({position, "ciphers", "only applies to TLS 1.2, which tls_min_version \"1.3\" turns off"});
        }
    }
}

// `auth` against the certificate settings it depends on or contradicts.
void check_auth(const Listener& l, std::size_t position, std::vector<Problem>& out) {
    if (l.auth == ListenerAuth::Certificate && !(is_tls(l.kind) && l.require_client_cert && l.use_cn_as_username)) {
        out.push_back({position, "auth",
                       "\"certificate\" needs an mqtts or wss listener with require_client_cert = true and "
                       "use_cn_as_username = true"});
    }
    if (l.auth == ListenerAuth::Password && l.use_cn_as_username) {
        out.push_back({position, "auth",
                       "\"password\" contradicts use_cn_as_username = true (there the certificate's CN is the "
                       "identity, without a password)"});
    }
}

}  // namespace

// Keys set on a listener of a kind that ignores them, and settings that need each other.
void check_listener(const Listener& l, std::size_t position, std::vector<Problem>& out) {
    check_tls_keys(l, position, out);
    check_auth(l, position, out);
    if (is_datagram(l.kind)) {
        if (l.proxy_protocol) out.push_back({position, "proxy_protocol", "only applies to TCP listeners"});
        if (l.use_cn_as_username) {
            out.push_back({position, "use_cn_as_username",
                           "not supported on mqttsns listeners (use [mqttsn] username and client_ids)"});
        }
    }
    const bool http_like = has_ws_path(l.kind);  // a WebSocket upgrade: ws, wss and the http listener's /mqtt
    if (!http_like && !l.allowed_origins.empty()) {
        out.push_back({position, "allowed_origins", "only applies to ws, wss and http listeners"});
    }
    if (!http_like && l.trust_x_forwarded_for) {
        out.push_back({position, "trust_x_forwarded_for", "only applies to ws, wss and http listeners"});
    }
    if (!has_ws_path(l.kind) && l.ws_path != kDefaultWsPath) {
        out.push_back({position, "ws_path", "only applies to ws, wss and http listeners"});
    }
    if (l.kind != ListenerKind::Http) {
        constexpr std::string_view kMessage = "only applies to http listeners";
        for (const auto& [field, value] : {std::pair<std::string_view, const std::string*>{"web_root", &l.web_root},
                                           {"api_token", &l.api_token},
                                           {"api_username", &l.api_username},
                                           {"api_password", &l.api_password}}) {
            if (!value->empty()) {
                out.push_back({position, field, std::string(kMessage)});
            }
        }
    } else {
        // Basic auth needs both halves; one alone would lock everyone out (or nobody).
        if (!l.api_password.empty() && l.api_username.empty()) {
            out.push_back({position, "api_username", "required when api_password is set"});
        }
        if (!l.api_username.empty() && l.api_password.empty()) {
            out.push_back({position, "api_password", "required when api_username is set"});
        }
    }
}

// Names must be unique, and two listeners cannot bind the same address and port. The later one is blamed.
// `labels` gives each position's index as the user wrote it (file order), for the message.
void check_listener_set(const std::vector<Listener>& listeners, std::span<const std::size_t> labels,
                        std::vector<Problem>& out) {
    for (std::size_t i = 0; i < listeners.size(); ++i) {
        for (std::size_t j = 0; j < i; ++j) {
            if (listeners[i].name == listeners[j].name) {
                out.push_back(
                    {i, "name",
                     "duplicate name " + quote(listeners[i].name) + " (" + listener_key(labels[j]) + " has it too)"});
                break;
            }
        }
        if (listeners[i].port == 0) {
            continue;
        }
        for (std::size_t j = 0; j < i; ++j) {
            // UDP (mqttsn, mqttsns) and TCP ports are separate spaces: 1883/tcp and 1883/udp do not collide.
            if (listeners[i].port == listeners[j].port && listeners[i].bind == listeners[j].bind &&
                is_datagram(listeners[i].kind) == is_datagram(listeners[j].kind)) {
                out.push_back({i, "port",
                               "port " + std::to_string(listeners[i].port) + " on " + listeners[i].bind +
                                   " is already used by " + listener_key(labels[j])});
                break;
            }
        }
    }
}

// Every listener problem of `config` (each listener alone, then the set: names, ports), by position.
std::vector<Problem> listener_problems(const Config& config) {
    std::vector<Problem> problems;
    for (std::size_t i = 0; i < config.listeners.size(); ++i) {
        check_listener(config.listeners[i], i, problems);
    }
    std::vector<std::size_t> labels(config.listeners.size());
    for (std::size_t i = 0; i < labels.size(); ++i) {
        labels[i] = i;
    }
    check_listener_set(config.listeners, labels, problems);
    return problems;
}

namespace {

struct ListenerSource {
    std::size_t index = 0;  // in the file's listener array
    std::size_t table_line = 0;
    std::map<std::string, std::size_t, std::less<>> key_lines;

    std::size_t line(std::string_view field) const {
        const auto it = key_lines.find(field);
        return it != key_lines.end() ? it->second : table_line;
    }
};

}  // namespace

void read_listeners(const toml::node& node, std::size_t line, Config& config, Collector& errors) {
    config.listeners.clear();
    config.lines.listeners.clear();
    const toml::array* array = node.as_array();
    if (array == nullptr) {
        errors.add(line, "listener", "expected an array of tables ([[listener]]), got " + describe(node));
        return;
    }
    if (array->empty()) {
        errors.add(line, "listener", "must list at least one listener (leave it out for the default mqtt listener)");
        return;
    }
    std::vector<ListenerSource> sources;
    for (std::size_t i = 0; i < array->size(); ++i) {
        const toml::node& element = *array->get(i);
        const toml::table* table = element.as_table();
        if (table == nullptr) {
            errors.add(line_of(element.source()), listener_key(i), "expected a table, got " + describe(element));
            continue;
        }
        ListenerSource source{i, line_of(table->source()), {}};
        Listener listener;
        read_table(listener_fields(), listener, *table, listener_key(i) + ".", errors, &source.key_lines);
        if (!source.key_lines.contains("port")) {
            listener.port = default_port(listener.kind);
        }
        if (!source.key_lines.contains("name")) {
            listener.name = default_listener_name(listener.kind, i);
        }
        config.listeners.push_back(std::move(listener));
        config.lines.listeners.push_back({source.table_line, source.key_lines});
        sources.push_back(std::move(source));
    }

    std::vector<Problem> problems;
    for (std::size_t p = 0; p < config.listeners.size(); ++p) {
        check_listener(config.listeners[p], p, problems);
    }
    std::vector<std::size_t> labels;
    for (const auto& s : sources) {
        labels.push_back(s.index);
    }
    check_listener_set(config.listeners, labels, problems);
    for (auto& problem : problems) {
        const ListenerSource& s = sources[problem.position];
        errors.add(s.line(problem.field), listener_key(s.index, problem.field), std::move(problem.message));
    }
}

}  // namespace detail

bool is_loopback_bind(std::string_view bind) {
    if (bind == "localhost") return true;
    std::array<unsigned char, 16> a{};
    const std::string text(bind.substr(0, bind.find('%')));
    if (inet_pton(AF_INET, text.c_str(), a.data()) == 1) return a[0] == 127;
    if (inet_pton(AF_INET6, text.c_str(), a.data()) != 1) return false;
    const bool zeros10 = std::all_of(a.begin(), a.begin() + 10, [](unsigned char b) { return b == 0; });
    if (zeros10 && a[10] == 0xff && a[11] == 0xff) return a[12] == 127;  // ::ffff:127.x.y.z
    return zeros10 && a[10] == 0 && a[11] == 0 && a[12] == 0 && a[13] == 0 && a[14] == 0 && a[15] == 1;  // ::1
}

std::vector<std::string> open_websocket_warnings(const Config& config) {
    std::vector<std::string> out;
    for (const auto& l : config.listeners) {
        if (!is_websocket(l.kind) || !l.allowed_origins.empty() || is_loopback_bind(l.bind)) continue;
        const std::string address = l.bind.find(':') == std::string::npos ? l.bind : "[" + l.bind + "]";
        out.push_back("listener " + l.name + " (" + std::string(to_string(l.kind)) + " on " + address + ":" +
                      std::to_string(l.port) +
                      ") has no allowed_origins: any web page can connect to it from a visitor's browser (set "
                      "allowed_origins; see docs/security.md)");
    }
    return out;
}

}  // namespace moth::config
