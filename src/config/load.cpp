// Loading: the defaults, a TOML text or file into a Config with every error found, and errors about settings that
// only start-up finds (source_error).
#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "config/fields.hpp"

namespace moth::config {

using namespace detail;  // this file is the loader: its tables and checks are everywhere here


std::string ConfigError::to_string() const {
    std::string out = file;
    if (line != 0) {
        out += ':';
        out += std::to_string(line);
    }
    out += ": ";
    if (!key.empty()) {
        out += key;
        out += ": ";
    }
    out += message;
    return out;
}

Config default_config() {
    Config config;
    config.source = std::string(kDefaultsSource);
    // The ports of the public broker the course used: MQTT, MQTT over TLS, WebSocket, secure WebSocket.
    for (const ListenerKind kind : {ListenerKind::Mqtt, ListenerKind::Mqtts, ListenerKind::Ws, ListenerKind::Wss}) {
        Listener l;
        l.kind = kind;
        l.name = default_listener_name(kind, config.listeners.size());
        l.port = default_port(kind);
        config.listeners.push_back(std::move(l));
    }
    // The console, the JSON API and /metrics: loopback only, since the API is open when no credentials are set.
    Listener http;
    http.kind = ListenerKind::Http;
    http.name = default_listener_name(ListenerKind::Http, config.listeners.size());
    http.bind = "127.0.0.1";
    http.port = default_port(ListenerKind::Http);
    config.listeners.push_back(std::move(http));
    // MQTT-SN over UDP (docs/mqtt-sn.md), after the console so that the older listeners keep their names.
    Listener sn;
    sn.kind = ListenerKind::MqttSn;
    sn.name = default_listener_name(ListenerKind::MqttSn, config.listeners.size());
    sn.port = default_port(ListenerKind::MqttSn);
    config.listeners.push_back(std::move(sn));
    return config;
}

ConfigError source_error(const Config& config, std::string_view key, std::string message,
                         std::optional<std::size_t> listener) {
    ConfigError e{config.source, 0, std::string(key), std::move(message)};
    if (listener) e.key = listener_key(*listener, key);
    if (config.lines.overridden.contains(e.key)) {
        e.file = std::string(kOverrideSource);  // the value came from the command line, not from the file
        return e;
    }
    if (listener) {
        e.key = listener_key(*listener, key);
        if (*listener < config.lines.listeners.size()) {
            const auto& l = config.lines.listeners[*listener];
            const auto it = l.keys.find(key);
            e.line = it != l.keys.end() ? it->second : l.table;
        }
    } else {
        // A dotted key the file did not write ("limits.publish_rate" left at its default, "ban.0.until") is
        // blamed on its table's line ([limits], [[ban]]) when the file has the table.
        for (std::string_view k = key; !k.empty();) {
            if (const auto it = config.lines.keys.find(k); it != config.lines.keys.end()) {
                e.line = it->second;
                break;
            }
            const std::size_t dot = k.rfind('.');
            k = k.substr(0, dot == std::string_view::npos ? 0 : dot);
        }
    }
    return e;
}

LoadResult parse_config(std::string_view toml_text, std::string source) {
    LoadResult result;
    result.config = default_config();
    result.config.source = source;

    toml::table root;
    try {
        root = toml::parse(toml_text, std::string_view(source));
    } catch (const toml::parse_error& e) {
        result.errors.push_back({source, line_of(e.source()), std::string(kSyntaxKey), std::string(e.description())});
        return result;
    }

    Collector errors(source, result.errors);
    Config& config = result.config;
    config.auth.allow_anonymous = false;  // a config file refuses anonymous clients unless it says otherwise
    for (auto&& [k, v] : root) {
        const std::size_t line = key_line(k, v);
        const std::string_view name = k.str();
        if (name == "limits") {
            read_sub_table(name, limits_fields(), config.limits, v, line, errors, config.lines);
        } else if (name == "features") {
            read_sub_table(name, features_fields(), config.features, v, line, errors, config.lines);
        } else if (name == "storage") {
            read_sub_table(name, storage_fields(), config.storage, v, line, errors, config.lines);
        } else if (name == "auth") {
            read_auth(v, line, config, errors);
        } else if (name == "flapping") {
            read_sub_table(name, flapping_fields(), config.flapping, v, line, errors, config.lines);
        } else if (name == "mqttsn") {
            read_sub_table(name, mqttsn_fields(), config.mqttsn, v, line, errors, config.lines);
        } else if (name == "cluster") {
            read_sub_table(name, cluster_fields(), config.cluster, v, line, errors, config.lines);
        } else if (name == "ban") {
            read_bans(v, line, config, errors);
        } else if (name == "bridge") {
            read_bridges(v, line, config, errors);
        } else if (name == "listener") {
            read_listeners(v, line, config, errors);
        } else if (const Field<Config>* field = find_field(config_fields(), name)) {
            config.lines.keys.emplace(name, line);
            if (auto problem = field->read(config, v)) {
                errors.add(line, std::string(name), std::move(*problem));
            }
        } else {
            errors.add(line, std::string(name), unknown_key_message(name, top_level_keys()));
        }
    }
    for (auto& problem : auth_problems(config)) {
        const auto it = config.lines.keys.find(problem.key);
        std::size_t at = it != config.lines.keys.end() ? it->second : 0;
        if (problem.key.starts_with("listener.")) {
            const std::size_t index = std::stoul(problem.key.substr(9));
            if (index < config.lines.listeners.size()) {
                const auto& l = config.lines.listeners[index];
                const auto k = l.keys.find("auth_providers");
                at = k != l.keys.end() ? k->second : l.table;
            }
        }
        errors.add(at, std::move(problem.key), std::move(problem.message));
    }
    for (auto& [key, message] : cluster_problems(config.cluster)) {
        const auto it = config.lines.keys.find(key);
        const auto table = config.lines.keys.find("cluster");
        const std::size_t at = it != config.lines.keys.end() ? it->second
                               : table != config.lines.keys.end() ? table->second : 0;
        errors.add(at, std::move(key), std::move(message));
    }
    // The table iterates in key order; report in file order.
    std::stable_sort(result.errors.begin(), result.errors.end(),
                     [](const ConfigError& a, const ConfigError& b) { return a.line < b.line; });
    return result;
}

LoadResult load_config_file(const std::string& path) {
    const auto fail = [&path](int error) {
        LoadResult result;
        result.config = default_config();
        result.config.source = path;
        result.errors.push_back({path, 0, "", "cannot read: " + std::string(std::strerror(error))});
        return result;
    };
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
    if (!file) {
        return fail(errno);
    }
    std::string text;
    std::array<char, 8192> chunk{};
    for (;;) {
        const std::size_t n = std::fread(chunk.data(), 1, chunk.size(), file.get());
        text.append(chunk.data(), n);
        if (n < chunk.size()) {
            break;
        }
    }
    if (std::ferror(file.get()) != 0) {
        return fail(errno != 0 ? errno : EIO);  // a directory reads as EISDIR
    }
    return parse_config(text, path);
}

}  // namespace moth::config
