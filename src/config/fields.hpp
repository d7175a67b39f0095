#pragma once
// Internal to the config module (not part of config.hpp's interface): the key tables that drive loading, overrides
// and differences, the string checks of single values, and the pieces the loader's files share.
//
// One Field per key, in file order: reading a node into its member, whether an override takes bare text for it,
// and how two values compare. Adding a key is adding one line to its table (fields.cpp); the loader, --set,
// differences() and the example-file test then know it.
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <toml++/toml.h>

#include "config/config.hpp"

namespace moth::config::detail {

inline constexpr std::string_view kDefaultsSource = "<defaults>";
inline constexpr std::string_view kOverrideSource = "<override>";
inline constexpr std::string_view kSyntaxKey = "<toml>";
inline constexpr std::string_view kDefaultWsPath = "/mqtt";
inline constexpr std::uint64_t kU16Max = std::numeric_limits<std::uint16_t>::max();
inline constexpr std::uint64_t kU32Max = std::numeric_limits<std::uint32_t>::max();
// TOML integers are signed 64-bit: the largest a file can say.
inline constexpr std::uint64_t kTomlMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());

template <class E>
struct EnumName {
    std::string_view name;
    E value;
};

inline constexpr std::array<EnumName<ListenerKind>, 7> kListenerKinds{{
    {"mqtt", ListenerKind::Mqtt},
    {"mqtts", ListenerKind::Mqtts},
    {"ws", ListenerKind::Ws},
    {"wss", ListenerKind::Wss},
    {"http", ListenerKind::Http},
    {"mqttsn", ListenerKind::MqttSn},
    {"mqttsns", ListenerKind::MqttSns},
}};
inline constexpr std::array<EnumName<QueueFullPolicy>, 2> kQueueFullPolicies{{
    {"drop_new", QueueFullPolicy::DropNew},
    {"drop_oldest", QueueFullPolicy::DropOldest},
}};
inline constexpr std::array<EnumName<KeepaliveV3>, 2> kKeepaliveV3{{
    {"refuse", KeepaliveV3::Refuse},
    {"apply", KeepaliveV3::Apply},
}};
// The subscription tree's names (topic/shared_policy.hpp), in the order the error message lists them.
inline constexpr std::array<EnumName<SharedPolicy>, 3> kSharedPolicies{{
    {to_string(SharedPolicy::RoundRobin), SharedPolicy::RoundRobin},
    {to_string(SharedPolicy::Random), SharedPolicy::Random},
    {to_string(SharedPolicy::Sticky), SharedPolicy::Sticky},
}};
inline constexpr std::array<EnumName<IoBackend>, 3> kIoBackends{{
    {"auto", IoBackend::Auto},
    {"io_uring", IoBackend::IoUring},
    {"epoll", IoBackend::Epoll},
}};
inline constexpr std::array<EnumName<Durability>, 3> kDurabilities{{
    {"sync", Durability::Sync},
    {"batched", Durability::Batched},
    {"memory", Durability::Memory},
}};
inline constexpr std::array<EnumName<DenyAction>, 2> kDenyActions{{
    {"ack", DenyAction::Acknowledge},
    {"disconnect", DenyAction::Disconnect},
}};
inline constexpr std::array<EnumName<OnCorruption>, 2> kOnCorruption{{
    {"fail", OnCorruption::Fail},
    {"move-aside", OnCorruption::MoveAside},
}};
inline constexpr std::array<EnumName<ListenerAuth>, 3> kListenerAuths{{
    {"any", ListenerAuth::Any},
    {"password", ListenerAuth::Password},
    {"certificate", ListenerAuth::Certificate},
}};
inline constexpr std::array<EnumName<OverRate>, 2> kOverRates{{
    {"slow", OverRate::Slow},
    {"disconnect", OverRate::Disconnect},
}};
// spdlog's level names; "critical" too, as mothd's --log-level accepts it.
inline constexpr std::array<std::string_view, 7> kLogLevels{"trace", "debug",    "info", "warn",
                                                            "error", "critical", "off"};

template <class E, std::size_t N>
std::string_view enum_name(const std::array<EnumName<E>, N>& names, E value) noexcept {
    for (const auto& n : names) {
        if (n.value == value) {
            return n.name;
        }
    }
    return "?";
}

std::string quote(std::string_view s);

// `"a", "b", "c"`: the choices an enum key takes, for its error message.
template <class Range>
std::string list_choices(const Range& names) {
    std::string out;
    for (const auto& n : names) {
        if (!out.empty()) {
            out += ", ";
        }
        if constexpr (std::is_convertible_v<decltype(n), std::string_view>) {
            out += quote(n);
        } else {
            out += quote(n.name);
        }
    }
    return out;
}

// What a node holds, for "expected X, got <this>": `string "abc"`, `integer 5`, `a table`, ...
std::string describe(const toml::node& n);

inline std::size_t line_of(const toml::source_region& region) noexcept {
    return region.begin.line;
}

// "unknown key", with the closest known key when one is a plausible typo.
std::string unknown_key_message(std::string_view key, const std::vector<std::string_view>& known);

// ---- string validators (validators.cpp): nullopt when fine, else what is wrong ---------------------------------

using Check = std::optional<std::string> (*)(std::string_view);

std::optional<std::string> any_string(std::string_view);
std::optional<std::string> non_empty(std::string_view s);
std::optional<std::string> log_level(std::string_view s);
std::optional<std::string> mqtt_string(std::string_view s);
std::optional<std::string> bind_address(std::string_view s);
std::optional<std::string> listener_name(std::string_view s);
std::optional<std::string> api_username(std::string_view s);  // the user part of HTTP Basic credentials
std::optional<std::string> ws_path(std::string_view s);
std::optional<std::string> tls_min_version(std::string_view s);
std::optional<std::string> tls_max_version(std::string_view s);
std::optional<std::string> origin_pattern(std::string_view s);  // an allowed_origins entry

// ---- the schema: one Field per key, in file order ------------------------------------------------------------

// Reads a node into its member of T, or says why it cannot.
template <class T>
using Reader = std::function<std::optional<std::string>(T&, const toml::node&)>;

template <class T>
struct Field {
    std::string_view key;
    bool is_string = false;  // overrides take bare text for it
    Reader<T> read;
    std::function<bool(const T&, const T&)> equal;
};

template <class T, class U>
std::function<bool(const T&, const T&)> member_equal(U T::*member) {
    return [member](const T& a, const T& b) { return a.*member == b.*member; };
}

template <class T, class U>
Field<T> integer_field(std::string_view key, U T::*member, std::uint64_t min, std::uint64_t max) {
    Reader<T> read = [member, min, max](T& target, const toml::node& node) -> std::optional<std::string> {
        const auto* value = node.as_integer();
        if (value == nullptr) {
            return "expected an integer, got " + describe(node);
        }
        const std::int64_t x = value->get();
        if (x < 0 || static_cast<std::uint64_t>(x) < min || static_cast<std::uint64_t>(x) > max) {
            return "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " +
                   std::to_string(x);
        }
        target.*member = static_cast<U>(x);
        return std::nullopt;
    };
    return {key, false, std::move(read), member_equal(member)};
}

// B: bool, or std::optional<bool> for a key whose absence means "not said" (a listener's allow_anonymous).
template <class T, class B>
Field<T> bool_field(std::string_view key, B T::*member) {
    Reader<T> read = [member](T& target, const toml::node& node) -> std::optional<std::string> {
        const auto* value = node.as_boolean();
        if (value == nullptr) {
            return "expected a boolean, got " + describe(node);
        }
        target.*member = value->get();
        return std::nullopt;
    };
    return {key, false, std::move(read), member_equal(member)};
}

template <class T>
Field<T> string_field(std::string_view key, std::string T::*member, Check check) {
    Reader<T> read = [member, check](T& target, const toml::node& node) -> std::optional<std::string> {
        const auto* value = node.as_string();
        if (value == nullptr) {
            return "expected a string, got " + describe(node);
        }
        if (auto problem = check(value->get())) {
            return problem;
        }
        target.*member = value->get();
        return std::nullopt;
    };
    return {key, true, std::move(read), member_equal(member)};
}

// An array of strings, each checked by `check`; the message names the element ("element 2: ...").
template <class T>
Field<T> string_list_field(std::string_view key, std::vector<std::string> T::*member, Check check) {
    Reader<T> read = [member, check](T& target, const toml::node& node) -> std::optional<std::string> {
        const auto* array = node.as_array();
        if (array == nullptr) {
            return "expected an array of strings, got " + describe(node);
        }
        std::vector<std::string> values;
        for (std::size_t i = 0; i < array->size(); ++i) {
            const auto* value = array->get(i)->as_string();
            if (value == nullptr) {
                return "element " + std::to_string(i) + ": expected a string, got " + describe(*array->get(i));
            }
            if (auto problem = check(value->get())) {
                return "element " + std::to_string(i) + ": " + *problem;
            }
            values.push_back(value->get());
        }
        target.*member = std::move(values);
        return std::nullopt;
    };
    return {key, false, std::move(read), member_equal(member)};
}

template <class T, class E, std::size_t N>
Field<T> enum_field(std::string_view key, E T::*member, const std::array<EnumName<E>, N>& names) {
    Reader<T> read = [member, &names](T& target, const toml::node& node) -> std::optional<std::string> {
        const auto* value = node.as_string();
        if (value == nullptr) {
            return "expected a string, got " + describe(node);
        }
        for (const auto& n : names) {
            if (n.name == value->get()) {
                target.*member = n.value;
                return std::nullopt;
            }
        }
        return "must be one of " + list_choices(names) + ", got " + quote(value->get());
    };
    return {key, true, std::move(read), member_equal(member)};
}

// A rate or a burst: an integer or a float, >= 0 and finite (TOML has inf and nan). D: double, or
// std::optional<double> for a listener's own value (absent: the [limits] one applies).
template <class T, class D>
Field<T> rate_field(std::string_view key, D T::*member) {
    Reader<T> read = [member](T& target, const toml::node& node) -> std::optional<std::string> {
        double x = 0;
        if (const auto* integer = node.as_integer()) {
            x = static_cast<double>(integer->get());
        } else if (const auto* floating = node.as_floating_point()) {
            x = floating->get();
        } else {
            return "expected a number, got " + describe(node);
        }
        if (!std::isfinite(x) || x < 0) {
            return "must be a finite number >= 0, got " + describe(node);
        }
        target.*member = x;
        return std::nullopt;
    };
    return {key, false, std::move(read), member_equal(member)};
}

// The key tables (fields.cpp), built once on first use.
const std::vector<Field<Config>>& config_fields();
const std::vector<Field<Limits>>& limits_fields();
const std::vector<Field<Features>>& features_fields();
const std::vector<Field<Storage>>& storage_fields();
const std::vector<Field<Auth>>& auth_fields();
const std::vector<Field<Flapping>>& flapping_fields();
const std::vector<Field<Listener>>& listener_fields();
const std::vector<Field<MqttSn>>& mqttsn_fields();  // mqttsn.cpp
const std::vector<Field<Cluster>>& cluster_fields();  // cluster.cpp
// An enabled [cluster]'s settings that do not go together: (dotted key, message).
std::vector<std::pair<std::string, std::string>> cluster_problems(const Cluster& c);

template <class T>
const Field<T>* find_field(const std::vector<Field<T>>& fields, std::string_view key) {
    for (const auto& f : fields) {
        if (f.key == key) {
            return &f;
        }
    }
    return nullptr;
}

template <class T>
std::vector<std::string_view> field_keys(const std::vector<Field<T>>& fields) {
    std::vector<std::string_view> keys;
    for (const auto& f : fields) {
        keys.push_back(f.key);
    }
    return keys;
}

inline constexpr std::array<std::string_view, 10> kTables{"limits", "features", "storage",  "auth",  "flapping", "cluster",
                                                         "mqttsn", "ban",      "listener", "bridge"};

// The keys a file may have at its top level: the settings and the tables.
std::vector<std::string_view> top_level_keys();

// "listener.<index>" or "listener.<index>.<field>".
std::string listener_key(std::size_t index, std::string_view field = {});

// ---- errors, shared by the file reader and the overrides ------------------------------------------------------

class Collector {
public:
    Collector(std::string_view file, std::vector<ConfigError>& out) : file_(file), out_(out) {}
    void add(std::size_t line, std::string key, std::string message) {
        out_.push_back({std::string(file_), line, std::move(key), std::move(message)});
    }

private:
    std::string_view file_;
    std::vector<ConfigError>& out_;
};

// The line of a key, or of its value when the parser gave the key none.
inline std::size_t key_line(const toml::key& k, const toml::node& v) {
    const std::size_t line = line_of(k.source());
    return line != 0 ? line : line_of(v.source());
}

// Reads every key of `table` into `target`; `lines` (if given) receives the line of each key present.
template <class T>
void read_table(const std::vector<Field<T>>& fields, T& target, const toml::table& table, const std::string& prefix,
                Collector& errors, std::map<std::string, std::size_t, std::less<>>* lines = nullptr) {
    for (auto&& [k, v] : table) {
        const std::size_t line = key_line(k, v);
        const Field<T>* field = find_field(fields, k.str());
        if (field == nullptr) {
            errors.add(line, prefix + std::string(k.str()), unknown_key_message(k.str(), field_keys(fields)));
            continue;
        }
        if (lines != nullptr) {
            (*lines)[std::string(k.str())] = line;
        }
        if (auto problem = field->read(target, v)) {
            errors.add(line, prefix + std::string(k.str()), std::move(*problem));
        }
    }
}

// Reads [name] into `target`, recording the table's line as "name" and each key's as "name.key" in lines.keys.
template <class T>
 void read_sub_table(std::string_view name, const std::vector<Field<T>>& fields, T& target, const toml::node& node,
                    std::size_t line, Collector& errors, Config::Lines& lines) {
    const toml::table* table = node.as_table();
    if (table == nullptr) {
        errors.add(line, std::string(name), "expected a table ([" + std::string(name) + "]), got " + describe(node));
        return;
    }
    std::map<std::string, std::size_t, std::less<>> key_lines;
    read_table(fields, target, *table, std::string(name) + ".", errors, &key_lines);
    lines.keys[std::string(name)] = line;
    for (const auto& [key, key_line] : key_lines) {
        lines.keys[std::string(name) + "." + key] = key_line;
    }
}

// ---- checks that span several keys of a listener, or several listeners (listeners.cpp) -------------------------

struct Problem {
    std::size_t position = 0;  // which listener (index into the vector checked)
    std::string_view field;    // which of its keys to blame
    std::string message;
};

// Keys set on a listener of a kind that ignores them, and TLS settings that need each other.
void check_listener(const Listener& l, std::size_t position, std::vector<Problem>& out);
// Names must be unique, and two listeners cannot bind the same address and port. The later one is blamed.
// `labels` gives each position's index as the user wrote it (file order), for the message.
void check_listener_set(const std::vector<Listener>& listeners, std::span<const std::size_t> labels,
                        std::vector<Problem>& out);
// Every listener problem of `config` (each listener alone, then the set: names, ports), by position.
std::vector<Problem> listener_problems(const Config& config);
// Reads the file's `listener` array (replacing config.listeners) and reports each problem at its line.
void read_listeners(const toml::node& node, std::size_t line, Config& config, Collector& errors);

// ---- [[ban]] (abuse.cpp) ---------------------------------------------------------------------------------------

// Reads the file's `ban` array into config.bans, recording "ban.<i>" and "ban.<i>.<key>" in config.lines.keys.
void read_bans(const toml::node& node, std::size_t line, Config& config, Collector& errors);
// "ban.<index>" or "ban.<index>.<field>".
std::string ban_key(std::size_t index, std::string_view field = {});

// ---- [[bridge]] (bridge_read.cpp) -------------------------------------------------------------------------------

const std::vector<Field<Bridge>>& bridge_fields();
// Reads the file's `bridge` array into config.bridges (every key's checks, then those spanning keys and bridges),
// recording "bridge.<i>" and "bridge.<i>.<key>" in config.lines.keys.
void read_bridges(const toml::node& node, std::size_t line, Config& config, Collector& errors);
// "bridge.<index>" or "bridge.<index>.<field>".
std::string bridge_key(std::size_t index, std::string_view field = {});

// ---- [auth.http], [auth.jwt], provider chains (auth.cpp) --------------------------------------------------------

const std::vector<Field<AuthHttp>>& auth_http_fields();
const std::vector<Field<AuthJwt>>& auth_jwt_fields();
Field<Auth> providers_field();              // [auth] providers
Field<Listener> auth_providers_field();     // a listener's auth_providers
// Reads the file's [auth] table, [auth.http] and [auth.jwt] included.
void read_auth(const toml::node& node, std::size_t line, Config& config, Collector& errors);
struct AuthProblem {
    std::string key;  // dotted: "auth.providers", "listener.0.auth_providers", "auth.jwt"
    std::string message;
};
// Keys of [auth] that contradict each other: a chain naming a provider that is not configured, two JWT key sources.
std::vector<AuthProblem> auth_problems(const Config& config);

}  // namespace moth::config::detail
