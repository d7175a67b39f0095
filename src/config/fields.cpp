// The key tables (one Field per key, in file order), the names of every enum, and the helpers for error messages.
#include <algorithm>
#include <sstream>

#include "codec/types.hpp"
#include "config/fields.hpp"
#include "config/tls_names.hpp"

namespace moth::config {
namespace detail {

std::string quote(std::string_view s) {
    std::string out;
    out.reserve(s.size() + 2);
    out += '"';
    out += s;
    out += '"';
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

namespace {

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

}  // namespace

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

const std::vector<Field<Config>>& config_fields() {
    static const std::vector<Field<Config>> fields{
        integer_field("workers", &Config::workers, 0, 1024),
        bool_field("tcp_nodelay", &Config::tcp_nodelay),
        enum_field("io_backend", &Config::io_backend, kIoBackends),
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
        rate_field("publish_rate", &Limits::publish_rate),
        rate_field("publish_burst", &Limits::publish_burst),
        rate_field("publish_byte_rate", &Limits::publish_byte_rate),
        rate_field("publish_byte_burst", &Limits::publish_byte_burst),
        enum_field("over_rate", &Limits::over_rate, kOverRates),
        rate_field("connection_rate", &Limits::connection_rate),
        rate_field("connection_burst", &Limits::connection_burst),
        rate_field("connection_rate_per_address", &Limits::connection_rate_per_address),
        rate_field("connection_burst_per_address", &Limits::connection_burst_per_address),
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
        providers_field(),
    };
    return fields;
}

const std::vector<Field<Flapping>>& flapping_fields() {
    static const std::vector<Field<Flapping>> fields{
        bool_field("enabled", &Flapping::enabled),
        // 1 would ban a client for its second CONNECT in a window: a reconnect after a network hiccup.
        integer_field("max_connects", &Flapping::max_connects, 2, kU32Max),
        integer_field("window_s", &Flapping::window_s, 1, kU32Max),
        integer_field("ban_s", &Flapping::ban_s, 1, kU32Max),
        integer_field("address_max_connects", &Flapping::address_max_connects, 0, kU32Max),
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
        enum_field("auth", &Listener::auth, kListenerAuths),
        auth_providers_field(),
        rate_field("publish_rate", &Listener::publish_rate),
        rate_field("publish_burst", &Listener::publish_burst),
        rate_field("publish_byte_rate", &Listener::publish_byte_rate),
        rate_field("publish_byte_burst", &Listener::publish_byte_burst),
        rate_field("connection_rate", &Listener::connection_rate),
        rate_field("connection_burst", &Listener::connection_burst),
    };
    return fields;
}

std::vector<std::string_view> top_level_keys() {
    auto keys = field_keys(config_fields());
    keys.insert(keys.end(), kTables.begin(), kTables.end());
    return keys;
}

std::string listener_key(std::size_t index, std::string_view field) {
    std::string key = "listener." + std::to_string(index);
    if (!field.empty()) {
        key += '.';
        key += field;
    }
    return key;
}

}  // namespace detail

std::string_view to_string(ListenerKind kind) noexcept {
    return detail::enum_name(detail::kListenerKinds, kind);
}

std::string default_listener_name(ListenerKind kind, std::size_t index) {
    return std::string(to_string(kind)) + "-" + std::to_string(index);
}

std::string_view to_string(QueueFullPolicy policy) noexcept {
    return detail::enum_name(detail::kQueueFullPolicies, policy);
}

std::string_view to_string(KeepaliveV3 action) noexcept {
    return detail::enum_name(detail::kKeepaliveV3, action);
}

std::string_view to_string(IoBackend b) noexcept {
    return detail::enum_name(detail::kIoBackends, b);
}

std::string_view to_string(Durability d) noexcept {
    return detail::enum_name(detail::kDurabilities, d);
}

std::string_view to_string(OnCorruption o) noexcept {
    return detail::enum_name(detail::kOnCorruption, o);
}

std::string_view to_string(ListenerAuth auth) noexcept {
    return detail::enum_name(detail::kListenerAuths, auth);
}

std::string_view to_string(OverRate action) noexcept {
    return detail::enum_name(detail::kOverRates, action);
}

std::string_view to_string(DenyAction a) noexcept {
    return detail::enum_name(detail::kDenyActions, a);
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
        case ListenerKind::MqttSn:
            return 1884;
        case ListenerKind::MqttSns:
            return 1885;
    }
    return 1883;
}

}  // namespace moth::config
