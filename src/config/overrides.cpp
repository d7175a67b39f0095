// Command-line overrides ("--set key=value"), applied after the file with the same checks.
#include <algorithm>
#include <charconv>

#include "config/fields.hpp"

namespace moth::config {

using namespace detail;

namespace {

std::string_view trim(std::string_view s) {
    constexpr std::string_view kSpace = " \t\r\n";
    const std::size_t first = s.find_first_not_of(kSpace);
    if (first == std::string_view::npos) {
        return {};
    }
    return s.substr(first, s.find_last_not_of(kSpace) - first + 1);
}

// The override's value as a TOML node, held in a one-key table. Text that is not a TOML value becomes a string,
// so that a non-string key reports `expected an integer, got string "abc"`.
std::optional<toml::table> override_value(std::string_view text, bool is_string, std::string& problem) {
    const bool quoted = !text.empty() && (text.front() == '"' || text.front() == '\'');
    if (!is_string || quoted) {
        if (text.find('\n') == std::string_view::npos) {
            try {
                toml::table parsed = toml::parse("v = " + std::string(text));
                if (parsed.size() == 1 && parsed.contains("v")) {
                    return parsed;
                }
            } catch (const toml::parse_error&) {
                // Handled below.
            }
        }
        if (quoted) {
            problem = "not a valid TOML string: " + std::string(text);
            return std::nullopt;
        }
    }
    toml::table table;
    table.insert("v", std::string(text));
    return table;
}

template <class T>
void override_field(const std::vector<Field<T>>& fields, T& target, std::string_view field_key, std::string_view text,
                    const std::string& full_key, Collector& errors) {
    const Field<T>* field = find_field(fields, field_key);
    if (field == nullptr) {
        errors.add(0, full_key, unknown_key_message(field_key, field_keys(fields)));
        return;
    }
    std::string problem;
    const auto value = override_value(text, field->is_string, problem);
    if (!value) {
        errors.add(0, full_key, std::move(problem));
        return;
    }
    if (auto read_problem = field->read(target, *value->get("v"))) {
        errors.add(0, full_key, std::move(*read_problem));
    }
}

std::optional<std::size_t> parse_index(std::string_view s) {
    std::size_t value = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (s.empty() || ec != std::errc{} || end != s.data() + s.size()) {
        return std::nullopt;
    }
    return value;
}

// Sets one key of one listener; the checks spanning keys and listeners run once all overrides are in.
void override_listener(Config& config, std::string_view index_text, std::string_view field_key, std::string_view text,
                       const std::string& full_key, Collector& errors) {
    const auto index = parse_index(index_text);
    if (!index) {
        errors.add(0, full_key, "expected listener.<index>.<key> with a 0-based index");
        return;
    }
    const std::size_t count = config.listeners.size();
    if (*index > count) {
        errors.add(
            0, listener_key(*index),
            "no such listener: there are " + std::to_string(count) + " (index " + std::to_string(count) + " adds one)");
        return;
    }
    if (*index == count) {
        Listener added;
        added.name = default_listener_name(added.kind, *index);
        added.port = default_port(added.kind);
        config.listeners.push_back(std::move(added));
    }
    Listener& listener = config.listeners[*index];
    const ListenerKind old_kind = listener.kind;
    override_field(listener_fields(), listener, field_key, text, full_key, errors);
    if (listener.kind != old_kind) {
        // Name and port follow the kind when they were the old kind's defaults, as they would in a file.
        if (listener.name == default_listener_name(old_kind, *index)) {
            listener.name = default_listener_name(listener.kind, *index);
        }
        if (listener.port == default_port(old_kind)) {
            listener.port = default_port(listener.kind);
        }
    }
}

void apply_one_override(Config& config, std::string_view assignment, Collector& errors) {
    const std::size_t equals = assignment.find('=');
    const std::string key(trim(assignment.substr(0, equals)));
    if (equals == std::string_view::npos || key.empty()) {
        errors.add(0, key, "expected key=value, got " + quote(assignment));
        return;
    }
    const std::string_view text = trim(assignment.substr(equals + 1));

    std::vector<std::string_view> parts;
    for (std::size_t start = 0;;) {
        const std::size_t dot = key.find('.', start);
        parts.push_back(std::string_view(key).substr(start, dot == std::string::npos ? dot : dot - start));
        if (dot == std::string::npos) {
            break;
        }
        start = dot + 1;
    }

    const std::string_view head = parts[0];
    if (head == "limits" && parts.size() == 2) {
        override_field(limits_fields(), config.limits, parts[1], text, key, errors);
    } else if (head == "features" && parts.size() == 2) {
        override_field(features_fields(), config.features, parts[1], text, key, errors);
    } else if (head == "storage" && parts.size() == 2) {
        override_field(storage_fields(), config.storage, parts[1], text, key, errors);
    } else if (head == "auth" && parts.size() == 3 && parts[1] == "http") {
        override_field(auth_http_fields(), config.auth.http, parts[2], text, key, errors);
    } else if (head == "auth" && parts.size() == 3 && parts[1] == "jwt") {
        override_field(auth_jwt_fields(), config.auth.jwt, parts[2], text, key, errors);
    } else if (head == "auth" && parts.size() == 2) {
        override_field(auth_fields(), config.auth, parts[1], text, key, errors);
    } else if (head == "flapping" && parts.size() == 2) {
        override_field(flapping_fields(), config.flapping, parts[1], text, key, errors);
    } else if (head == "cluster" && parts.size() == 2) {
        override_field(cluster_fields(), config.cluster, parts[1], text, key, errors);
    } else if (head == "mqttsn" && parts.size() == 2 && parts[1] != "predefined") {
        override_field(mqttsn_fields(), config.mqttsn, parts[1], text, key, errors);
    } else if (head == "ban") {
        // A ban is several keys that only make sense together (exactly one of client_id, username, address).
        errors.add(0, key, "bans cannot be set with --set: write a [[ban]] table in the config file");
    } else if (head == "bridge") {
        // Like a ban: a bridge's keys only make sense together (addresses, topics, credentials).
        errors.add(0, key, "bridges cannot be set with --set: write a [[bridge]] table in the config file");
    } else if (head == "listener" && parts.size() == 3) {
        override_listener(config, parts[1], parts[2], text, key, errors);
    } else if (std::find(kTables.begin(), kTables.end(), head) != kTables.end()) {
        const std::string example = head == "listener" ? "listener.0.port" : std::string(head) + ".<key>";
        errors.add(0, key, "expected " + example + "=value: set one key of " + std::string(head) + " at a time");
    } else if (parts.size() == 1 && find_field(config_fields(), head) != nullptr) {
        override_field(config_fields(), config, head, text, key, errors);
    } else if (parts.size() == 1) {
        errors.add(0, key, unknown_key_message(head, top_level_keys()));
    } else {
        errors.add(0, key, "unknown key");
    }
}

}  // namespace

std::vector<ConfigError> apply_overrides(Config& config, std::span<const std::string> assignments) {
    std::vector<ConfigError> result;
    Collector errors(kOverrideSource, result);
    Config updated = config;
    for (const auto& assignment : assignments) {
        apply_one_override(updated, assignment, errors);
    }
    if (result.empty()) {
        // Keys that depend on each other (cert_file and key_file) are checked on the outcome, so that they can be
        // set one override at a time. A problem the config had before the overrides was reported where it was
        // written (file:line); only the ones the overrides brought are theirs.
        const auto before = listener_problems(config);
        for (auto& problem : listener_problems(updated)) {
            const bool old = std::any_of(before.begin(), before.end(), [&](const Problem& b) {
                return b.position == problem.position && b.field == problem.field && b.message == problem.message;
            });
            if (!old) errors.add(0, listener_key(problem.position, problem.field), std::move(problem.message));
        }
    }
    if (result.empty()) {
        for (auto& problem : auth_problems(updated)) errors.add(0, std::move(problem.key), std::move(problem.message));
    }
    if (result.empty()) {
        for (const auto& assignment : assignments) {
            updated.lines.overridden.insert(assignment.substr(0, assignment.find('=')));
        }
        config = std::move(updated);
    }
    return result;
}

std::vector<ConfigError> apply_override(Config& config, std::string_view assignment) {
    const std::string one(assignment);
    return apply_overrides(config, std::span<const std::string>(&one, 1));
}

}  // namespace moth::config
