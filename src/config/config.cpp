#include "config/config.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <sstream>
#include <utility>

#include <toml++/toml.h>

#include "codec/types.hpp"
#include "common/utf8.hpp"
#include "config/tls_names.hpp"

namespace moth::config {

namespace {

constexpr std::string_view kDefaultsSource = "<defaults>";
constexpr std::string_view kOverrideSource = "<override>";
constexpr std::string_view kSyntaxKey = "<toml>";
constexpr std::string_view kDefaultWsPath = "/mqtt";
constexpr std::uint64_t kU16Max = std::numeric_limits<std::uint16_t>::max();
constexpr std::uint64_t kU32Max = std::numeric_limits<std::uint32_t>::max();
// TOML integers are signed 64-bit: the largest a file can say.
constexpr std::uint64_t kTomlMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());

template <class E>
struct EnumName {
    std::string_view name;
    E value;
};

constexpr std::array<EnumName<ListenerKind>, 5> kListenerKinds{{
    {"mqtt", ListenerKind::Mqtt},
    {"mqtts", ListenerKind::Mqtts},
    {"ws", ListenerKind::Ws},
    {"wss", ListenerKind::Wss},
    {"http", ListenerKind::Http},
}};
constexpr std::array<EnumName<QueueFullPolicy>, 2> kQueueFullPolicies{{
    {"drop_new", QueueFullPolicy::DropNew},
    {"drop_oldest", QueueFullPolicy::DropOldest},
}};
constexpr std::array<EnumName<KeepaliveV3>, 2> kKeepaliveV3{{
    {"refuse", KeepaliveV3::Refuse},
    {"apply", KeepaliveV3::Apply},
}};
// The subscription tree's names (topic/shared_policy.hpp), in the order the error message lists them.
constexpr std::array<EnumName<SharedPolicy>, 3> kSharedPolicies{{
    {to_string(SharedPolicy::RoundRobin), SharedPolicy::RoundRobin},
    {to_string(SharedPolicy::Random), SharedPolicy::Random},
    {to_string(SharedPolicy::Sticky), SharedPolicy::Sticky},
}};
constexpr std::array<EnumName<Durability>, 3> kDurabilities{{
    {"sync", Durability::Sync},
    {"batched", Durability::Batched},
    {"memory", Durability::Memory},
}};
constexpr std::array<EnumName<DenyAction>, 2> kDenyActions{{
    {"ack", DenyAction::Acknowledge},
    {"disconnect", DenyAction::Disconnect},
}};
constexpr std::array<EnumName<OnCorruption>, 2> kOnCorruption{{
    {"fail", OnCorruption::Fail},
    {"move-aside", OnCorruption::MoveAside},
}};
// spdlog's level names; "critical" too, as mothd's --log-level accepts it.
constexpr std::array<std::string_view, 7> kLogLevels{"trace", "debug", "info", "warn", "error", "critical", "off"};

template <class E, std::size_t N>
std::string_view enum_name(const std::array<EnumName<E>, N>& names, E value) noexcept {
    for (const auto& n : names) {
        if (n.value == value) {
            return n.name;
        }
    }
    return "?";
}

std::string quote(std::string_view s) {
    std::string out;
    out.reserve(s.size() + 2);
    out += '"';
    out += s;
    out += '"';
    return out;
}

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
std::string describe(const toml::node& n) {
    std::ostringstream os;
    switch (n.type()) {
        case toml::node_type::string:
            os << "string " << quote(n.as_string()->get());
            break;
        case toml::node_type::integer:
            os << "integer " << *n.as_integer();
            break;
        case toml::node_type::floating_point:
            os << "float " << *n.as_floating_point();
            break;
        case toml::node_type::boolean:
            os << "boolean " << *n.as_boolean();
            break;
        case toml::node_type::table:
            os << "a table";
            break;
        case toml::node_type::array:
            os << "an array";
            break;
        case toml::node_type::date:
            os << "a date";
            break;
        case toml::node_type::time:
            os << "a time";
            break;
        case toml::node_type::date_time:
            os << "a date-time";
            break;
        case toml::node_type::none:
            os << "nothing";
            break;
    }
    return os.str();
}

std::size_t line_of(const toml::source_region& region) noexcept {
    return region.begin.line;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) {
        row[j] = j;
    }
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t above = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0U : 1U)});
            diagonal = above;
        }
    }
    return row[b.size()];
}

// "unknown key", with the closest known key when one is a plausible typo.
std::string unknown_key_message(std::string_view key, const std::vector<std::string_view>& known) {
    std::string_view best;
    std::size_t best_distance = std::numeric_limits<std::size_t>::max();
    for (auto candidate : known) {
        const std::size_t d = edit_distance(key, candidate);
        if (d < best_distance) {
            best_distance = d;
            best = candidate;
        }
    }
    if (!best.empty() && best_distance <= std::max<std::size_t>(2, key.size() / 4)) {
        return "unknown key (did you mean " + quote(best) + "?)";
    }
    return "unknown key";
}

// ---- string validators ----------------------------------------------------------------------------------------

using Check = std::optional<std::string> (*)(std::string_view);

std::optional<std::string> any_string(std::string_view) {
    return std::nullopt;
}

std::optional<std::string> non_empty(std::string_view s) {
    if (s.empty()) {
        return "must not be empty";
    }
    return std::nullopt;
}

std::optional<std::string> log_level(std::string_view s) {
    if (std::find(kLogLevels.begin(), kLogLevels.end(), s) == kLogLevels.end()) {
        return "must be one of " + list_choices(kLogLevels) + ", got " + quote(s);
    }
    return std::nullopt;
}

std::optional<std::string> mqtt_string(std::string_view s) {
    if (s.size() > codec::kMaxStringLength) {
        return "must be at most " + std::to_string(codec::kMaxStringLength) + " bytes long";
    }
    if (!common::is_valid_mqtt_utf8(s)) {
        return std::string("must be valid UTF-8 without U+0000 and surrogates");
    }
    return std::nullopt;
}

bool is_host_name(std::string_view s) {
    if (s.empty() || s.size() > 253) {
        return false;
    }
    std::size_t start = 0;
    while (start <= s.size()) {
        std::size_t end = s.find('.', start);
        if (end == std::string_view::npos) {
            end = s.size();
        }
        const std::string_view label = s.substr(start, end - start);
        if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
            return false;
        }
        for (const char ch : label) {
            const bool ok =
                (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-';
            if (!ok) {
                return false;
            }
        }
        start = end + 1;
    }
    return true;
}

std::optional<std::string> bind_address(std::string_view s) {
    if (s.empty()) {
        return std::string(R"(must not be empty (use "0.0.0.0" or "::" for every address))");
    }
    if (s.front() == '[') {
        return "write IPv6 addresses without brackets (\"::1\", not \"[::1]\"), got " + quote(s);
    }
    std::array<unsigned char, 16> buffer{};
    if (s.find(':') != std::string_view::npos) {
        // A link-local address may carry a zone: "fe80::1%eth0".
        const std::string_view address = s.substr(0, s.find('%'));
        const bool zone_ok = address.size() == s.size() || address.size() + 1 < s.size();
        if (!zone_ok || inet_pton(AF_INET6, std::string(address).c_str(), buffer.data()) != 1) {
            return "not a valid IPv6 address: " + quote(s);
        }
        return std::nullopt;
    }
    if (s.find_first_not_of("0123456789.") == std::string_view::npos) {
        if (inet_pton(AF_INET, std::string(s).c_str(), buffer.data()) != 1) {
            return "not a valid IPv4 address: " + quote(s);
        }
        return std::nullopt;
    }
    if (!is_host_name(s)) {
        return "not a valid IPv4 address, IPv6 address or host name: " + quote(s);
    }
    return std::nullopt;
}

std::optional<std::string> listener_name(std::string_view s) {
    if (s.empty()) {
        return "must not be empty";
    }
    // It is one space-separated word of the ports file and of log lines.
    for (const char ch : s) {
        const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
                        ch == '_' || ch == '.';
        if (!ok) {
            return "may contain only letters, digits, '-', '_' and '.', got " + quote(s);
        }
    }
    return std::nullopt;
}

// The user part of HTTP Basic credentials ("user:password"): a colon would end it early.
std::optional<std::string> api_username(std::string_view s) {
    if (s.find(':') != std::string_view::npos) {
        return "must not contain ':', got " + quote(s);
    }
    return std::nullopt;
}

std::optional<std::string> ws_path(std::string_view s) {
    if (s.empty() || s.front() != '/') {
        return "must start with '/', got " + quote(s);
    }
    for (const char ch : s) {
        const auto byte = static_cast<unsigned char>(ch);
        if (byte <= 0x20 || byte == 0x7f) {
            return "must not contain spaces or control characters, got " + quote(s);
        }
    }
    return std::nullopt;
}

std::optional<std::string> tls_min_version(std::string_view s) {
    if (s != "1.2" && s != "1.3") {
        return "must be \"1.2\" or \"1.3\", got " + quote(s);
    }
    return std::nullopt;
}

std::optional<std::string> tls_max_version(std::string_view s) {
    if (!s.empty() && s != "1.2" && s != "1.3") {
        return "must be \"\" (the newest), \"1.2\" or \"1.3\", got " + quote(s);
    }
    return std::nullopt;
}

// An allowed_origins entry: "*", or scheme://host[:port] where host may start with "*." (any subdomain).
std::optional<std::string> origin_pattern(std::string_view s) {
    if (s == "*") {
        return std::nullopt;
    }
    const std::string problem = "must be \"*\" or an origin such as \"https://example.com:8443\" or "
                                "\"https://*.example.com\", got " + quote(s);
    const std::size_t sep = s.find("://");
    if (sep == std::string_view::npos || sep == 0) {
        return problem;
    }
    for (const char ch : s.substr(0, sep)) {
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '+' || ch == '-' || ch == '.')) {
            return problem + " (the scheme is lower case)";
        }
    }
    std::string_view host = s.substr(sep + 3);
    if (host.starts_with("*.")) {
        host.remove_prefix(2);
    }
    std::string_view port;
    if (host.starts_with('[')) {  // an IPv6 literal
        const std::size_t close = host.find(']');
        if (close == std::string_view::npos || close == 1) {
            return problem;
        }
        port = host.substr(close + 1);
        if (!port.empty() && port.front() != ':') {
            return problem;
        }
    } else {
        const std::size_t colon = host.find(':');
        if (colon != std::string_view::npos) {
            port = host.substr(colon);
            host = host.substr(0, colon);
        }
        if (!is_host_name(host) && bind_address(host).has_value()) {
            return problem;
        }
    }
    if (!port.empty()) {
        port.remove_prefix(1);
        if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos ||
            std::stoul(std::string(port)) > kU16Max) {
            return problem;
        }
    }
    return std::nullopt;
}

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

const std::vector<Field<Config>>& config_fields() {
    static const std::vector<Field<Config>> fields{
        integer_field("workers", &Config::workers, 0, 1024),
        bool_field("tcp_nodelay", &Config::tcp_nodelay),
        string_field("data_dir", &Config::data_dir, non_empty),
        string_field("ports_file", &Config::ports_file, any_string),
        string_field("log_level", &Config::log_level, log_level),
        integer_field("sys_interval_s", &Config::sys_interval_s, 0, 86400),
        string_field("server_reference", &Config::server_reference, mqtt_string),
    };
    return fields;
}

const std::vector<Field<Limits>>& limits_fields() {
    static const std::vector<Field<Limits>> fields{
        integer_field("max_connections", &Limits::max_connections, 1, kU32Max),
        // Below 20 bytes not even a CONNECT with a short client id fits.
        integer_field("max_packet_size", &Limits::max_packet_size, 20, codec::kMaxPacketSize),
        integer_field("receive_maximum", &Limits::receive_maximum, 1, kU16Max),  // 0 is a protocol error
        integer_field("max_inflight", &Limits::max_inflight, 1, kU16Max),
        integer_field("max_queued_messages", &Limits::max_queued_messages, 0, kU32Max),
        integer_field("max_queued_bytes", &Limits::max_queued_bytes, 0, kTomlMax),
        enum_field("queue_full_policy", &Limits::queue_full_policy, kQueueFullPolicies),
        integer_field("max_outgoing_buffer_bytes", &Limits::max_outgoing_buffer_bytes, 1, kTomlMax),
        integer_field("max_topic_levels", &Limits::max_topic_levels, 1, kU16Max),
        integer_field("max_subscriptions_per_client", &Limits::max_subscriptions_per_client, 0, kU32Max),
        // A server must accept client ids of 1 to 23 bytes [MQTT-3.1.3-5].
        integer_field("max_client_id_length", &Limits::max_client_id_length, 23, kU16Max),
        // 0 would turn keepalive off for every client instead of bounding it.
        integer_field("max_keepalive", &Limits::max_keepalive, 1, kU16Max),
        enum_field("max_keepalive_v3", &Limits::max_keepalive_v3, kKeepaliveV3),
        integer_field("max_session_expiry_interval", &Limits::max_session_expiry_interval, 0, kU32Max),
        integer_field("topic_alias_maximum", &Limits::topic_alias_maximum, 0, kU16Max),
    };
    return fields;
}

const std::vector<Field<Features>>& features_fields() {
    static const std::vector<Field<Features>> fields{
        bool_field("retain_available", &Features::retain_available),
        integer_field("maximum_qos", &Features::maximum_qos, 0, 2),
        bool_field("wildcard_subscriptions", &Features::wildcard_subscriptions),
        bool_field("shared_subscriptions", &Features::shared_subscriptions),
        bool_field("subscription_identifiers", &Features::subscription_identifiers),
        bool_field("allow_zero_length_client_id", &Features::allow_zero_length_client_id),
        enum_field("shared_policy", &Features::shared_policy, kSharedPolicies),
    };
    return fields;
}

const std::vector<Field<Storage>>& storage_fields() {
    static const std::vector<Field<Storage>> fields{
        enum_field("durability", &Storage::durability, kDurabilities),
        integer_field("flush_interval_ms", &Storage::flush_interval_ms, 1, 60000),
        enum_field("on_corruption", &Storage::on_corruption, kOnCorruption),
        integer_field("queue_cache_messages", &Storage::queue_cache_messages, 1, 1000000),
    };
    return fields;
}

const std::vector<Field<Auth>>& auth_fields() {
    static const std::vector<Field<Auth>> fields{
        string_field("password_file", &Auth::password_file, any_string),
        string_field("acl_file", &Auth::acl_file, any_string),
        bool_field("allow_anonymous", &Auth::allow_anonymous),
        enum_field("deny_action", &Auth::deny_action, kDenyActions),
        integer_field("verify_threads", &Auth::verify_threads, 1, 64),
        integer_field("max_pending_verifications", &Auth::max_pending_verifications, 1, 1000000),
    };
    return fields;
}

const std::vector<Field<Listener>>& listener_fields() {
    static const std::vector<Field<Listener>> fields{
        enum_field("kind", &Listener::kind, kListenerKinds),
        string_field("name", &Listener::name, listener_name),
        string_field("bind", &Listener::bind, bind_address),
        integer_field("port", &Listener::port, 0, kU16Max),
        integer_field("max_connections", &Listener::max_connections, 0, kU32Max),
        string_field("cert_file", &Listener::cert_file, any_string),
        string_field("key_file", &Listener::key_file, any_string),
        string_field("ca_file", &Listener::ca_file, any_string),
        bool_field("require_client_cert", &Listener::require_client_cert),
        string_field("tls_min_version", &Listener::tls_min_version, tls_min_version),
        string_field("tls_max_version", &Listener::tls_max_version, tls_max_version),
        string_field("ciphers", &Listener::ciphers, tls_cipher_list_problem),
        string_field("ciphersuites", &Listener::ciphersuites, tls_ciphersuites_problem),
        bool_field("use_cn_as_username", &Listener::use_cn_as_username),
        string_field("ws_path", &Listener::ws_path, ws_path),
        string_field("web_root", &Listener::web_root, any_string),
        string_field("api_token", &Listener::api_token, any_string),
        string_field("api_username", &Listener::api_username, api_username),
        string_field("api_password", &Listener::api_password, any_string),
        string_list_field("allowed_origins", &Listener::allowed_origins, origin_pattern),
        bool_field("proxy_protocol", &Listener::proxy_protocol),
        bool_field("trust_x_forwarded_for", &Listener::trust_x_forwarded_for),
        bool_field("allow_anonymous", &Listener::allow_anonymous),
    };
    return fields;
}

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

constexpr std::array<std::string_view, 5> kTables{"limits", "features", "storage", "auth", "listener"};

std::vector<std::string_view> top_level_keys() {
    auto keys = field_keys(config_fields());
    keys.insert(keys.end(), kTables.begin(), kTables.end());
    return keys;
}

std::string listener_key(std::size_t index, std::string_view field = {}) {
    std::string key = "listener." + std::to_string(index);
    if (!field.empty()) {
        key += '.';
        key += field;
    }
    return key;
}

// ---- checks that span several keys ---------------------------------------------------------------------------

struct Problem {
    std::size_t position = 0;  // which listener (index into the vector checked)
    std::string_view field;    // which of its keys to blame
    std::string message;
};

// Keys set on a listener of a kind that ignores them, and TLS settings that need each other.
void check_listener(const Listener& l, std::size_t position, std::vector<Problem>& out) {
    if (!is_tls(l.kind)) {
        constexpr std::string_view kMessage = "only applies to mqtts and wss listeners";
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
            if (listeners[i].port == listeners[j].port && listeners[i].bind == listeners[j].bind) {
                out.push_back({i, "port",
                               "port " + std::to_string(listeners[i].port) + " on " + listeners[i].bind +
                                   " is already used by " + listener_key(labels[j])});
                break;
            }
        }
    }
}

// ---- reading a file ------------------------------------------------------------------------------------------

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

std::size_t key_line(const toml::key& k, const toml::node& v) {
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

struct ListenerSource {
    std::size_t index = 0;  // in the file's listener array
    std::size_t table_line = 0;
    std::map<std::string, std::size_t, std::less<>> key_lines;

    std::size_t line(std::string_view field) const {
        const auto it = key_lines.find(field);
        return it != key_lines.end() ? it->second : table_line;
    }
};

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

template <class T>
void read_sub_table(std::string_view name, const std::vector<Field<T>>& fields, T& target, const toml::node& node,
                    std::size_t line, Collector& errors) {
    const toml::table* table = node.as_table();
    if (table == nullptr) {
        errors.add(line, std::string(name), "expected a table ([" + std::string(name) + "]), got " + describe(node));
        return;
    }
    read_table(fields, target, *table, std::string(name) + ".", errors);
}

// ---- overrides -----------------------------------------------------------------------------------------------

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
    } else if (head == "auth" && parts.size() == 2) {
        override_field(auth_fields(), config.auth, parts[1], text, key, errors);
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

template <class T>
void diff_fields(const std::vector<Field<T>>& fields, const T& a, const T& b, const std::string& prefix,
                 std::vector<std::string>& out) {
    for (const auto& f : fields) {
        if (!f.equal(a, b)) {
            out.push_back(prefix + std::string(f.key));
        }
    }
}

}  // namespace

// ---- public API ----------------------------------------------------------------------------------------------

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

std::string_view to_string(ListenerKind kind) noexcept {
    return enum_name(kListenerKinds, kind);
}

std::string default_listener_name(ListenerKind kind, std::size_t index) {
    return std::string(to_string(kind)) + "-" + std::to_string(index);
}

std::string_view to_string(QueueFullPolicy policy) noexcept {
    return enum_name(kQueueFullPolicies, policy);
}

std::string_view to_string(KeepaliveV3 action) noexcept {
    return enum_name(kKeepaliveV3, action);
}

std::string_view to_string(Durability d) noexcept {
    return enum_name(kDurabilities, d);
}

std::string_view to_string(OnCorruption o) noexcept {
    return enum_name(kOnCorruption, o);
}

std::string_view to_string(DenyAction a) noexcept {
    return enum_name(kDenyActions, a);
}

std::uint16_t default_port(ListenerKind kind) noexcept {
    switch (kind) {
        case ListenerKind::Mqtt:
            return 1883;
        case ListenerKind::Mqtts:
            return 8883;
        case ListenerKind::Ws:
            return 8000;
        case ListenerKind::Wss:
            return 8884;
        case ListenerKind::Http:
            return 8080;
    }
    return 1883;
}

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
    } else if (const auto it = config.lines.keys.find(key); it != config.lines.keys.end()) {
        e.line = it->second;
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
            read_sub_table(name, limits_fields(), config.limits, v, line, errors);
        } else if (name == "features") {
            read_sub_table(name, features_fields(), config.features, v, line, errors);
        } else if (name == "storage") {
            read_sub_table(name, storage_fields(), config.storage, v, line, errors);
        } else if (name == "auth") {
            read_sub_table(name, auth_fields(), config.auth, v, line, errors);
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

namespace {

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

std::vector<std::string> differences(const Config& a, const Config& b) {
    std::vector<std::string> out;
    diff_fields(config_fields(), a, b, "", out);
    diff_fields(limits_fields(), a.limits, b.limits, "limits.", out);
    diff_fields(features_fields(), a.features, b.features, "features.", out);
    diff_fields(storage_fields(), a.storage, b.storage, "storage.", out);
    diff_fields(auth_fields(), a.auth, b.auth, "auth.", out);
    const std::size_t common = std::min(a.listeners.size(), b.listeners.size());
    for (std::size_t i = 0; i < common; ++i) {
        diff_fields(listener_fields(), a.listeners[i], b.listeners[i], listener_key(i) + ".", out);
    }
    for (std::size_t i = common; i < std::max(a.listeners.size(), b.listeners.size()); ++i) {
        out.push_back(listener_key(i));
    }
    return out;
}

bool needs_restart(std::string_view key) noexcept {
    if (key.starts_with("listener.")) {
        // "listener.<index>.<field>": a listener's TLS material and Origin allow-list apply to new connections
        // (Server::reload builds new TLS contexts); "listener.<index>" alone is a listener added or removed.
        const std::size_t dot = key.find('.', 9);
        if (dot == std::string_view::npos) {
            return true;
        }
        constexpr std::array<std::string_view, 7> kReloadable{"cert_file",       "key_file", "ca_file",
                                                              "tls_min_version", "tls_max_version", "ciphers",
                                                              "ciphersuites"};
        const std::string_view field = key.substr(dot + 1);
        return field != "allowed_origins" && field != "allow_anonymous" &&
               std::find(kReloadable.begin(), kReloadable.end(), field) == kReloadable.end();
    }
    return key == "workers" || key == "tcp_nodelay" || key == "data_dir" || key == "ports_file" || key == "listener" ||
           key.starts_with("storage.") || key == "auth.verify_threads" || key == "auth.max_pending_verifications";
}

std::vector<std::string> reload_differences(const Config& running, const Config& reloaded) {
    std::vector<std::string> out;
    for (auto& key : differences(running, reloaded)) {
        if (needs_restart(key)) {
            out.push_back(std::move(key));
        }
    }
    return out;
}

}  // namespace moth::config
