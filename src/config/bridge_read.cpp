// The [[bridge]] tables: their keys, and the checks that span several keys of a bridge or several bridges. Every
// error names the bridge by its index and the key at fault: "mothd.toml:12: bridge.0.addresses: ...".
#include <algorithm>
#include <array>
#include <map>
#include <string>

#include "config/fields.hpp"

namespace moth::config {

namespace detail {

namespace {

inline constexpr std::array<EnumName<BridgeProtocol>, 2> kBridgeProtocols{{
    {"3.1.1", BridgeProtocol::V3_1_1},
    {"5.0", BridgeProtocol::V5},
}};
// Less than a few large messages would make every outage a loss; the queue is on disk, so room is cheap.
inline constexpr std::uint64_t kMinQueuedBytes = 1024 * 1024;
inline constexpr std::uint64_t kMaxReconnectMs = 86'400'000;  // a day
inline constexpr std::size_t kMaxBridgeName = 64;

using KeyLines = std::map<std::string, std::size_t, std::less<>>;

// The name is part of $SYS/broker/connection/<name>/state, of metric labels and of the derived client id.
std::optional<std::string> bridge_name(std::string_view s) {
    const bool ok = !s.empty() && s.size() <= kMaxBridgeName && std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
               c == '.';
    });
    if (ok) return std::nullopt;
    return "must be 1 to " + std::to_string(kMaxBridgeName) + " letters, digits, '-', '_' or '.', got " + quote(s);
}

std::optional<std::string> client_id(std::string_view s) {
    if (s.size() > kMaxBridgeClientIdLength) {
        return "must be at most " + std::to_string(kMaxBridgeClientIdLength) + " bytes, got " +
               std::to_string(s.size()) + " (empty: \"<host name>.<name>\")";
    }
    return mqtt_string(s);
}

// username, password: absent is not the same as empty (an empty user name is still sent).
Field<Bridge> optional_string_field(std::string_view key, std::optional<std::string> Bridge::*member) {
    Reader<Bridge> read = [member](Bridge& target, const toml::node& node) -> std::optional<std::string> {
        const auto* value = node.as_string();
        if (value == nullptr) return "expected a string, got " + describe(node);
        if (auto problem = mqtt_string(value->get())) return problem;
        target.*member = value->get();
        return std::nullopt;
    };
    return {key, true, std::move(read), member_equal(member)};
}

// An array of strings, each turned into a V by `parse` (V parse(std::string_view, std::string& error)); every bad
// element is reported at its own line, so that a long `topics` list written one rule per line points at the rule.
template <class V, class Parse>
void read_elements(const toml::node& node, std::vector<V>& out, Parse parse, std::string_view empty_message,
                   const std::string& key, std::size_t line, Collector& errors) {
    const toml::array* array = node.as_array();
    if (array == nullptr) {
        errors.add(line, key, "expected an array of strings, got " + describe(node));
        return;
    }
    if (array->empty()) {
        errors.add(line, key, std::string(empty_message));
        return;
    }
    std::vector<V> values;
    for (std::size_t i = 0; i < array->size(); ++i) {
        const toml::node& element = *array->get(i);
        const std::size_t at = line_of(element.source()) != 0 ? line_of(element.source()) : line;
        const std::string label = "element " + std::to_string(i) + ": ";
        const auto* text = element.as_string();
        if (text == nullptr) {
            errors.add(at, key, label + "expected a string, got " + describe(element));
            continue;
        }
        std::string problem;
        if (auto value = parse(text->get(), problem)) {
            values.push_back(std::move(*value));
        } else {
            errors.add(at, key, label + quote(text->get()) + ": " + problem);
        }
    }
    out = std::move(values);
}

constexpr std::string_view kNoAddresses =
    "must list at least one address (\"mqtt://host:1883\", \"mqtts://host\", ...)";
constexpr std::string_view kNoTopics = "must list at least one topic rule (\"sensors/# out 1\")";

// The Field of a list key, for the key table (names, --set refusals); read_bridge reads these keys element-wise.
template <class V, class Parse>
Field<Bridge> list_field(std::string_view key, std::vector<V> Bridge::*member, Parse parse,
                         std::string_view empty_message) {
    Reader<Bridge> read = [=](Bridge& target, const toml::node& node) -> std::optional<std::string> {
        std::vector<ConfigError> found;
        Collector scratch("", found);
        read_elements(node, target.*member, parse, empty_message, std::string(key), 0, scratch);
        return found.empty() ? std::nullopt : std::optional(found.front().message);
    };
    return {key, false, std::move(read), member_equal(member)};
}

struct BridgeProblem {
    std::string_view field;
    std::string message;
};

// The checks between keys of one bridge; `written` holds the keys the file has.
std::vector<BridgeProblem> bridge_problems(const Bridge& b, const KeyLines& written) {
    std::vector<BridgeProblem> out;
    if (!written.contains("name")) {
        out.push_back({"name", "missing: every [[bridge]] needs a name (letters, digits, '-', '_', '.')"});
    }
    if (!written.contains("addresses")) out.push_back({"addresses", "missing: " + std::string(kNoAddresses)});
    if (!written.contains("topics")) out.push_back({"topics", "missing: " + std::string(kNoTopics)});
    if (b.reconnect_min_ms > b.reconnect_max_ms) {
        out.push_back({written.contains("reconnect_min_ms") ? "reconnect_min_ms" : "reconnect_max_ms",
                       "reconnect_min_ms (" + std::to_string(b.reconnect_min_ms) + ") is above reconnect_max_ms (" +
                           std::to_string(b.reconnect_max_ms) + ")"});
    }
    if (b.password && !b.username) {
        // MQTT 3.1.1 forbids it [MQTT-3.1.2-22]; 5.0 allows it, but remotes authenticate by user name.
        out.push_back({"password", "needs a username"});
    }
    if (b.session_expiry_s != 0 && b.protocol == BridgeProtocol::V3_1_1) {
        out.push_back({"session_expiry_s",
                       "is MQTT 5.0 only: with protocol = \"3.1.1\" clean_start = false keeps "
                       "the session for ever"});
    }
    if (!b.cert_file.empty() && b.key_file.empty()) {
        out.push_back({"cert_file", "needs key_file (the client certificate's private key)"});
    } else if (b.cert_file.empty() && !b.key_file.empty()) {
        out.push_back({"key_file", "needs cert_file (the client certificate)"});
    }
    const std::array<std::pair<std::string_view, bool>, 5> tls{{{"ca_file", !b.ca_file.empty()},
                                                                {"cert_file", !b.cert_file.empty()},
                                                                {"key_file", !b.key_file.empty()},
                                                                {"sni", !b.sni.empty()},
                                                                {"tls_insecure", b.tls_insecure}}};
    const auto first_tls = std::find_if(tls.begin(), tls.end(), [](const auto& t) { return t.second; });
    const auto plain =
        std::find_if(b.addresses.begin(), b.addresses.end(), [](const std::string& a) { return !is_tls_address(a); });
    if (first_tls != tls.end() && plain != b.addresses.end()) {
        out.push_back({first_tls->first,
                       "TLS settings need mqtts:// or wss:// addresses only, and " + quote(*plain) + " is not one"});
    }
    return out;
}

Bridge read_bridge(const toml::table& table, std::size_t index, Config& config, Collector& errors) {
    Bridge b;
    KeyLines written;
    const std::string prefix = bridge_key(index) + ".";
    for (auto&& [k, v] : table) {
        const std::size_t line = key_line(k, v);
        const std::string key = prefix + std::string(k.str());
        const Field<Bridge>* field = find_field(bridge_fields(), k.str());
        if (field == nullptr) {
            errors.add(line, key, unknown_key_message(k.str(), field_keys(bridge_fields())));
            continue;
        }
        written[std::string(k.str())] = line;
        if (k.str() == "addresses") {
            read_elements(v, b.addresses, normalize_bridge_address, kNoAddresses, key, line, errors);
        } else if (k.str() == "topics") {
            read_elements(v, b.topics, parse_bridge_topic, kNoTopics, key, line, errors);
        } else if (auto problem = field->read(b, v)) {
            errors.add(line, key, std::move(*problem));
        }
    }
    const std::size_t table_line = line_of(table.source());
    config.lines.keys[bridge_key(index)] = table_line;
    for (const auto& [key, key_line] : written) {
        config.lines.keys[bridge_key(index, key)] = key_line;
    }
    for (auto& problem : bridge_problems(b, written)) {
        const auto it = written.find(problem.field);
        errors.add(it != written.end() ? it->second : table_line, bridge_key(index, problem.field),
                   std::move(problem.message));
    }
    return b;
}

}  // namespace

const std::vector<Field<Bridge>>& bridge_fields() {
    static const std::vector<Field<Bridge>> fields{
        string_field("name", &Bridge::name, bridge_name),
        list_field("addresses", &Bridge::addresses, normalize_bridge_address, kNoAddresses),
        enum_field("protocol", &Bridge::protocol, kBridgeProtocols),
        string_field("client_id", &Bridge::client_id, client_id),
        optional_string_field("username", &Bridge::username),
        optional_string_field("password", &Bridge::password),
        // 0 (no keepalive) would leave a dead link unnoticed until the next write.
        integer_field("keepalive_s", &Bridge::keepalive_s, 1, kU16Max),
        bool_field("clean_start", &Bridge::clean_start),
        integer_field("session_expiry_s", &Bridge::session_expiry_s, 0, kU32Max),
        integer_field("reconnect_min_ms", &Bridge::reconnect_min_ms, 1, kMaxReconnectMs),
        integer_field("reconnect_max_ms", &Bridge::reconnect_max_ms, 1, kMaxReconnectMs),
        bool_field("try_private", &Bridge::try_private),
        bool_field("keep_retain", &Bridge::keep_retain),
        bool_field("queue_qos0", &Bridge::queue_qos0),
        // Receive Maximum and packet ids are 16-bit; 0 would send nothing.
        integer_field("max_inflight", &Bridge::max_inflight, 1, kU16Max),
        integer_field("max_queued_bytes", &Bridge::max_queued_bytes, kMinQueuedBytes, kTomlMax),
        integer_field("max_queued_messages", &Bridge::max_queued_messages, 1, kU32Max),
        enum_field("queue_full_policy", &Bridge::queue_full_policy, kQueueFullPolicies),
        string_field("ca_file", &Bridge::ca_file, any_string),
        string_field("cert_file", &Bridge::cert_file, any_string),
        string_field("key_file", &Bridge::key_file, any_string),
        string_field("sni", &Bridge::sni, any_string),
        bool_field("tls_insecure", &Bridge::tls_insecure),
        list_field("topics", &Bridge::topics, parse_bridge_topic, kNoTopics),
    };
    return fields;
}

std::string bridge_key(std::size_t index, std::string_view field) {
    std::string key = "bridge." + std::to_string(index);
    if (!field.empty()) {
        key += '.';
        key += field;
    }
    return key;
}

void read_bridges(const toml::node& node, std::size_t line, Config& config, Collector& errors) {
    config.bridges.clear();
    const toml::array* array = node.as_array();
    if (array == nullptr) {
        errors.add(line, "bridge", "expected an array of tables ([[bridge]]), got " + describe(node));
        return;
    }
    for (std::size_t i = 0; i < array->size(); ++i) {
        const toml::node& element = *array->get(i);
        const toml::table* table = element.as_table();
        if (table == nullptr) {
            errors.add(line_of(element.source()), bridge_key(i), "expected a table, got " + describe(element));
            config.bridges.emplace_back();  // keeps the indexes in later messages those of the file
            continue;
        }
        Bridge b = read_bridge(*table, i, config, errors);
        // The name keys the bridge's queue in the store, its $SYS topic and its metrics: two would share them.
        const auto same = std::find_if(config.bridges.begin(), config.bridges.end(),
                                       [&](const Bridge& other) { return !b.name.empty() && other.name == b.name; });
        if (same != config.bridges.end()) {
            const auto at = config.lines.keys.find(bridge_key(i, "name"));
            errors.add(at != config.lines.keys.end() ? at->second : line_of(table->source()), bridge_key(i, "name"),
                       quote(b.name) + " is already the name of " +
                           bridge_key(static_cast<std::size_t>(same - config.bridges.begin())));
        }
        config.bridges.push_back(std::move(b));
    }
}

}  // namespace detail

}  // namespace moth::config
