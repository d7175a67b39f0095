#pragma once
// mothd's configuration: the typed Config, its TOML loader, command-line overrides and what a reload may change.
//
// Every key, its type, default and meaning is documented in docs/configuration.md; conf/mothd.toml lists them all
// with their defaults (a unit test keeps it equal to default_config()).
//
// Loading never throws and never stops at the first problem: it collects every error it can find (unknown keys,
// wrong types, values out of range, bad enum strings, duplicate listener names or ports, bad bind addresses) so
// that one run of `mothd -c file` shows all of them. Nothing here touches the network or the file system, except
// load_config_file reading its file. Free functions only, no state: callable from any thread.
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/cidr.hpp"
#include "limits/ban_list.hpp"
#include "config/bridge.hpp"
#include "config/durability.hpp"
#include "topic/shared_policy.hpp"

namespace moth::config {

enum class ListenerKind { Mqtt, Mqtts, Ws, Wss, Http, MqttSn, MqttSns };

// "mqtt", "mqtts", "ws", "wss", "http", "mqttsn", "mqttsns": the names used in the file, in logs and in the ports
// file.
[[nodiscard]] std::string_view to_string(ListenerKind kind) noexcept;
// The name a listener gets when its table has no `name`: "<kind>-<index>" ("mqtt-0"), index into the listeners.
[[nodiscard]] std::string default_listener_name(ListenerKind kind, std::size_t index);
// The port a listener of this kind gets when its table has no `port`: 1883, 8883, 8000, 8884, 8080, 1884, 1885.
[[nodiscard]] std::uint16_t default_port(ListenerKind kind) noexcept;
[[nodiscard]] constexpr bool is_tls(ListenerKind kind) noexcept {
    return kind == ListenerKind::Mqtts || kind == ListenerKind::Wss || kind == ListenerKind::MqttSns;
}
// MQTT-SN over UDP (mqttsn) or DTLS (mqttsns): datagrams, served by the gateway (docs/mqtt-sn.md).
[[nodiscard]] constexpr bool is_datagram(ListenerKind kind) noexcept {
    return kind == ListenerKind::MqttSn || kind == ListenerKind::MqttSns;
}
[[nodiscard]] constexpr bool is_websocket(ListenerKind kind) noexcept {
    return kind == ListenerKind::Ws || kind == ListenerKind::Wss;
}
// Kinds that accept a WebSocket upgrade at ws_path: ws, wss, and http (next to its pages and API).
[[nodiscard]] constexpr bool has_ws_path(ListenerKind kind) noexcept {
    return is_websocket(kind) || kind == ListenerKind::Http;
}

// Which credentials a listener accepts (docs/configuration.md, `auth`): any = what [auth] and allow_anonymous
// allow (a password, a certificate identity, or none); password = a user name and password; certificate = the
// verified client certificate's CN (an mqtts/wss listener with require_client_cert and use_cn_as_username).
enum class ListenerAuth { Any, Password, Certificate };
[[nodiscard]] std::string_view to_string(ListenerAuth auth) noexcept;  // "any", "password", "certificate"

struct Listener {
    ListenerKind kind = ListenerKind::Mqtt;
    std::string name;                   // logs and the ports file; default "<kind>-<index>"; [A-Za-z0-9._-]+, unique
    std::string bind = "0.0.0.0";       // IPv4, IPv6 without brackets ("::"), or a host name such as "localhost"
    std::uint16_t port = 1883;          // 0 = any free port (tests read the real one from ports_file)
    std::uint32_t max_connections = 0;  // 0 = unlimited (limits.max_connections still applies)
    // TLS (mqtts, wss only). Empty cert_file and key_file: a self-signed development certificate.
    std::string cert_file;
    std::string key_file;
    std::string ca_file;  // CA bundle that client certificates must chain to
    bool require_client_cert = false;
    std::string tls_min_version = "1.2";  // "1.2" or "1.3"
    std::string tls_max_version;          // "" = the newest OpenSSL has, "1.2" or "1.3"
    std::string ciphers;                  // OpenSSL cipher list for TLS 1.2; "" = OpenSSL's default
    std::string ciphersuites;             // TLS 1.3 suites, ':'-separated; "" = OpenSSL's default
    bool use_cn_as_username = false;      // the client certificate's subject CN becomes the MQTT username
    // ws, wss, http: Origin values a WebSocket upgrade may carry ("https://example.com:8443", "*",
    // "https://*.example.com"); empty = any on ws/wss. On http they add to the listener's own origin, the only one
    // allowed when empty. Requests without Origin (non-browser clients) are always allowed (docs/security.md).
    std::vector<std::string> allowed_origins;
    bool proxy_protocol = false;         // every connection starts with a PROXY protocol v1 or v2 header
    bool trust_x_forwarded_for = false;  // ws, wss, http: X-Forwarded-For / Forwarded names the client
    std::string ws_path = "/mqtt";  // ws, wss, http: HTTP path of the WebSocket upgrade
    // http only. web_root: directory served at "/" (empty: the assets embedded in mothd). api_token: when set,
    // /api/v1 and /metrics need "Authorization: Bearer <token>"; api_username + api_password: HTTP Basic auth
    // (either is accepted when both are set; none set: open).
    std::string web_root;
    std::string api_token;
    std::string api_username;
    std::string api_password;
    // Whether clients without a user name (and without a certificate identity) may connect here; unset: the
    // [auth] table's allow_anonymous decides.
    std::optional<bool> allow_anonymous;
    ListenerAuth auth = ListenerAuth::Any;
    // This listener's chain of identity providers ("file", "jwt", "http"); unset: [auth] providers.
    std::optional<std::vector<std::string>> auth_providers;
    // This listener's own values of the [limits] rates of the same names (>= 0, finite); unset: the [limits] value
    // applies. Read them through publish_rate(), publish_byte_rate() and connection_rate() below.
    std::optional<double> publish_rate, publish_burst, publish_byte_rate, publish_byte_burst;
    std::optional<double> connection_rate, connection_burst;

    bool operator==(const Listener&) const = default;
};

// What max_keepalive does to an MQTT 3.1/3.1.1 client asking for more (or for 0): 3.x has no Server Keep Alive to
// tell the client, so Mosquitto refuses it (return code 2); "apply" accepts it and enforces the limit silently.
enum class KeepaliveV3 { Refuse, Apply };
[[nodiscard]] std::string_view to_string(KeepaliveV3 action) noexcept;  // "refuse", "apply"
// features.shared_policy: the subscription tree's own enum, so that its values and names are defined once.
using SharedPolicy = topic::SharedPolicy;
using topic::to_string;  // to_string(SharedPolicy): "round_robin", "random", "sticky"
[[nodiscard]] std::string_view to_string(QueueFullPolicy policy) noexcept;  // "drop_new", "drop_oldest"
// What a client sending faster than limits.publish_rate / publish_byte_rate gets: slowed down (its input paused
// until the rate allows the next packet) or disconnected.
enum class OverRate { Slow, Disconnect };
[[nodiscard]] std::string_view to_string(OverRate action) noexcept;  // "slow", "disconnect"

struct Limits {
    std::uint32_t max_connections = 100000;    // broker-wide
    std::uint32_t max_packet_size = 1048576;   // bytes, both directions; CONNACK Maximum Packet Size
    std::uint16_t receive_maximum = 100;       // inbound QoS 1/2 window announced in CONNACK
    std::uint16_t max_inflight = 100;          // outbound window per session (capped by the client's)
    std::uint32_t max_queued_messages = 1000;  // per offline or slow session
    std::uint64_t max_queued_bytes = 64 * 1024 * 1024;
    QueueFullPolicy queue_full_policy = QueueFullPolicy::DropNew;
    std::uint64_t max_outgoing_buffer_bytes = 1024 * 1024;  // per connection; beyond it QoS 0 is dropped
    std::uint32_t max_topic_levels = 128;
    std::uint32_t max_subscriptions_per_client = 1000;  // 0 = unlimited
    std::uint32_t max_client_id_length = 256;
    std::uint16_t max_keepalive = 65535;  // Server Keep Alive: client keepalives above it are lowered
    KeepaliveV3 max_keepalive_v3 = KeepaliveV3::Refuse;  // 3.x clients above max_keepalive (or 0): see KeepaliveV3
    std::uint32_t max_session_expiry_interval = 4294967295;  // seconds
    std::uint16_t topic_alias_maximum = 32;                  // inbound aliases accepted per connection; 0 = none
    // Rates (all >= 0 and finite; a file may write integers). A burst of 0 means its default.
    double publish_rate = 0;         // PUBLISH packets/s per client; 0 = unlimited
    double publish_burst = 0;        // packets above the rate a client may send at once; 0 = max(1, publish_rate)
    double publish_byte_rate = 0;    // PUBLISH bytes/s per client (whole packets); 0 = unlimited
    double publish_byte_burst = 0;   // 0 = max(publish_byte_rate, 1)
    OverRate over_rate = OverRate::Slow;
    double connection_rate = 0;               // new connections/s per listener; 0 = unlimited
    double connection_burst = 0;              // 0 = max(1, connection_rate)
    double connection_rate_per_address = 0;   // new connections/s per source address (all listeners); 0 = unlimited
    double connection_burst_per_address = 0;  // 0 = max(1, connection_rate_per_address)

    bool operator==(const Limits&) const = default;
};

struct Features {
    bool retain_available = true;
    std::uint8_t maximum_qos = 2;
    bool wildcard_subscriptions = true;
    bool shared_subscriptions = true;
    bool subscription_identifiers = true;
    bool allow_zero_length_client_id = true;
    SharedPolicy shared_policy = SharedPolicy::RoundRobin;

    bool operator==(const Features&) const = default;
};

// [storage]: how durable the broker's state is; Durability is in config/durability.hpp.
enum class OnCorruption { Fail, MoveAside };
[[nodiscard]] std::string_view to_string(OnCorruption o) noexcept;  // "fail", "move-aside"

struct Storage {
    // sync, batched or memory: config/durability.hpp.
    Durability durability = Durability::Sync;
    std::uint32_t flush_interval_ms = 100;  // batched only
    // A store that cannot be read: fail (exit 2) or rename it "<dir>.damaged-<time>" and start empty.
    OnCorruption on_corruption = OnCorruption::Fail;
    // sync/batched: the messages of a session's queue kept in memory; the rest stays in the store only and is
    // read back as the queue drains. (memory mode keeps the whole queue, bounded by limits.max_queued_messages.)
    std::uint32_t queue_cache_messages = 100;

    bool operator==(const Storage&) const = default;
};

// [auth]: who may connect and what each client may read and write (docs/security.md).
enum class DenyAction { Acknowledge, Disconnect };
[[nodiscard]] std::string_view to_string(DenyAction a) noexcept;  // "ack", "disconnect"

// [auth.http]: an HTTP hook mothd POSTs JSON to at CONNECT (url) and, optionally, at each PUBLISH and SUBSCRIBE
// (authorize_url); docs/security.md "HTTP hook".
enum class OnError { Deny, Next };  // a hook that fails (timeout, status not 2xx, bad JSON): refuse, or ask the next
[[nodiscard]] std::string_view to_string(OnError e) noexcept;  // "deny", "next"
struct AuthHttp {
    std::string url;            // http://host[:port]/path or https://...; empty: no HTTP authentication
    std::string authorize_url;  // empty: PUBLISH and SUBSCRIBE are not asked
    std::string ca_file;        // https: CA bundle the hook's certificate must chain to; empty: the system's
    std::string cert_file;      // https: client certificate (with key_file) mothd presents
    std::string key_file;
    std::uint32_t timeout_ms = 5000;      // per request, connecting included
    std::uint32_t cache_ttl_s = 60;       // answers (allow and deny) kept this long; 0: no cache
    std::uint32_t max_connections = 8;    // kept-alive connections per URL
    OnError on_error = OnError::Deny;
    [[nodiscard]] bool enabled() const { return !url.empty() || !authorize_url.empty(); }
    bool operator==(const AuthHttp&) const = default;
};

// [auth.jwt]: a JSON Web Token as the MQTT password (or user name); docs/security.md "JWT".
enum class JwtFrom { Password, Username };
[[nodiscard]] std::string_view to_string(JwtFrom f) noexcept;  // "password", "username"
struct AuthJwt {
    // Exactly one key source: an HS256 secret (the file's bytes, a final newline dropped), a PEM public key (RSA:
    // RS256, EC P-256: ES256) or a JWKS document (RFC 7517). Read again on SIGHUP.
    std::string secret_file;
    std::string public_key_file;
    std::string jwks_file;
    std::vector<std::string> algorithms;  // accepted "alg" values; empty: those the key(s) can verify. Never "none".
    JwtFrom from = JwtFrom::Password;
    std::string issuer;    // non-empty: "iss" must equal it
    std::string audience;  // non-empty: "aud" (string or array) must contain it
    std::string username_claim = "sub";  // the identity's user name; empty: the CONNECT's User Name
    std::string acl_claim;               // non-empty: {"pub":[..],"sub":[..],"all":[..]} rules for this client
    std::uint32_t leeway_s = 0;          // clock skew allowed on exp and nbf
    [[nodiscard]] bool enabled() const {
        return !secret_file.empty() || !public_key_file.empty() || !jwks_file.empty();
    }
    bool operator==(const AuthJwt&) const = default;
};

struct Auth {
    std::string password_file;  // Mosquitto's format (moth passwd, mosquitto_passwd); empty: no passwords
    std::string acl_file;       // Mosquitto's acl_file format; empty: every client may read and write everything
    // For listeners that do not say: whether clients without a user name (and without a certificate identity) may
    // connect. With no config file (the course demo) true; a config file that does not say gets false (the rule of
    // Mosquitto 2).
    bool allow_anonymous = true;
    // An MQTT 3.1/3.1.1 client's denied PUBLISH: acknowledged and dropped (what Mosquitto, FlashMQ and EMQX do; 3.x
    // has no reason code to say why), or the client is disconnected. 5.0 clients get PUBACK/PUBREC 0x87 either way.
    DenyAction deny_action = DenyAction::Acknowledge;
    std::uint32_t verify_threads = 2;               // threads that check passwords (never a worker)
    std::uint32_t max_pending_verifications = 1000;  // CONNECTs waiting for a check; beyond: CONNACK Server busy
    // The identity providers asked in turn, by name: "file" (password_file), "jwt", "http". Empty: those configured,
    // in that order. A listener's auth_providers replaces it for that listener.
    std::vector<std::string> providers;
    AuthHttp http;
    AuthJwt jwt;

    bool operator==(const Auth&) const = default;
};

// [flapping]: a client id (or a source address) that connects too often within a window is banned for a while.
struct Flapping {
    bool enabled = true;
    std::uint32_t max_connects = 30;         // CONNECTs of one client id within window_s; more: banned (>= 2)
    std::uint32_t window_s = 60;             // >= 1
    std::uint32_t ban_s = 300;               // >= 1
    std::uint32_t address_max_connects = 0;  // CONNECTs from one source address within window_s; 0 = not checked
    bool operator==(const Flapping&) const = default;
};

// [mqttsn]: the MQTT-SN 1.2 gateway of every mqttsn/mqttsns listener (docs/mqtt-sn.md).
struct MqttSn {
    std::uint32_t gateway_id = 1;             // GwId in ADVERTISE and GWINFO, 1..255
    std::uint32_t advertise_interval_s = 900;  // ADVERTISE period; 0 = never. Listeners bound to loopback never do
    // "" = 255.255.255.255 (IPv4) or ff02::1 (IPv6), at the listener's port; else "ip", "ip:port", "[v6]:port"
    // (advertise_target): set, it advertises even from a listener bound to loopback.
    std::string advertise_address;
    std::uint32_t retry_interval_ms = 10'000;  // Tretry: an unanswered message to a client is sent again after this
    std::uint32_t max_retries = 4;             // Nretry: resends before the client counts as lost (its will published)
    std::uint32_t sleep_buffer = 100;          // QoS 0 messages kept for a sleeping client (QoS 1/2: its session queue)
    std::uint32_t max_inflight = 1;            // QoS 1/2 messages unacknowledged at once towards one client
    std::uint32_t max_registrations = 4'096;   // topic ids per client (REGISTER both ways); beyond: not delivered
    std::uint32_t session_expiry_s = 86'400;   // CleanSession=0: how long the session outlives the client
    std::uint32_t max_datagram = 65'507;       // largest datagram sent; larger messages are not delivered (counted)
    bool qos_minus_one = true;                 // QoS -1 PUBLISH without a connection (predefined and short topics)
    std::string username;                      // user name of the clients' sessions (ACL, auth); "" = anonymous
    std::vector<std::string> client_ids;       // client ids allowed ("*" wildcards); empty = any
    std::vector<std::string> allow_addresses;  // source address ranges allowed ("10.0.0.0/8"); empty = any
    std::map<std::uint16_t, std::string> predefined;  // [mqttsn.predefined]: topic id (1..65535) = topic name
    bool operator==(const MqttSn&) const = default;
};

// [cluster]: this node's link to a Moth cluster on NATS JetStream (docs/cluster.md). Off by default: a single mothd
// needs no NATS.
struct Cluster {
    bool enabled = false;
    std::vector<std::string> servers{"nats://127.0.0.1:4222"};  // NATS URLs (nats:// or tls://), tried in turn
    std::string node;          // this node's name ([A-Za-z0-9_-], at most 64); "" = the host name, made to fit
    std::uint32_t replicas = 1;  // JetStream replication of the cluster's streams and buckets (1, 3 or 5)
    std::string prefix = "moth";  // NATS subject and stream prefix ([A-Za-z0-9_-]): clusters sharing one NATS differ
    std::string user, password;   // NATS user and password, or
    std::string token;            // a NATS token, or
    std::string credentials;      // a NATS .creds file (JWT and NKey seed)
    std::string tls_ca, tls_cert, tls_key;  // TLS to NATS: the CA that signs the servers, a client certificate and key
    std::uint32_t connect_timeout_ms = 15'000;  // joining at start-up: NATS and JetStream must answer within this
    std::uint32_t ack_timeout_ms = 5'000;      // a QoS 1/2 message not confirmed by JetStream within this: refused
    std::uint32_t message_retention_s = 86'400;  // how long the message stream keeps QoS 1/2 messages
    std::uint64_t max_stream_bytes = 1ULL << 30;  // the message stream's size cap (oldest dropped beyond it)
    std::uint32_t report_interval_s = 5;  // how often a node reports itself to the others (0: never)
    bool operator==(const Cluster&) const = default;
};

// This node's name: [cluster] node, else the host name made to fit (letters, digits, '-', '_'; 64 at most).
[[nodiscard]] std::string cluster_node_name(const Cluster& c);

// advertise_address split into an IP literal and a port (0: the listener's); nullopt when it is not one.
struct AdvertiseTarget {
    std::string ip;
    std::uint16_t port = 0;
};
[[nodiscard]] std::optional<AdvertiseTarget> advertise_target(std::string_view text);

// [[ban]]: a client refused at CONNECT, by client id, user name or source address range: the ban list's own type
// (src/limits/ban_list.hpp), source Config. Exactly one of the keys client_id, username, address gives kind and value
// (an address in its canonical text, with `range`); `reason` and `until` (RFC 3339, UTC: Unix seconds) are optional.
// limits::to_string(Ban::Kind) names the keys: "client_id", "username", "address".
using Ban = limits::Ban;

// The identity providers a listener's CONNECTs go through, in order: its auth_providers, else [auth] providers,
// else those configured ("file" with a password_file, "jwt" with [auth.jwt] keys, "http" with auth.http.url).
[[nodiscard]] std::vector<std::string> provider_chain(const Listener& l, const Auth& a);

// The listener's allow_anonymous, or the [auth] default.
[[nodiscard]] inline bool anonymous_allowed(const Listener& l, const Auth& a) {
    return l.allow_anonymous.value_or(a.allow_anonymous);
}

// An effective rate: per second, and how much above it may come at once (the bucket's size). rate 0 = unlimited
// (the burst then means nothing).
struct Rate {
    double rate = 0, burst = 0;
};
// The listener's publish_rate/publish_burst, else the [limits] ones, with a burst of 0 resolved to
// max(1, rate).
[[nodiscard]] Rate publish_rate(const Listener& l, const Limits& limits);
// publish_byte_rate/publish_byte_burst likewise; a burst of 0 is max(rate, 1) bytes.
[[nodiscard]] Rate publish_byte_rate(const Listener& l, const Limits& limits);
// connection_rate/connection_burst likewise: new connections per second on this listener.
[[nodiscard]] Rate connection_rate(const Listener& l, const Limits& limits);
// connection_rate_per_address/connection_burst_per_address (no per-listener values: one address, all listeners).
[[nodiscard]] Rate connection_rate_per_address(const Limits& limits);

// How the workers do their plain TCP connections' I/O (io_backend): io_uring (one ring per worker, multishot
// receive into a shared buffer ring, batched submission) or Asio's epoll reactor. Auto: io_uring where the kernel
// and the process's seccomp profile allow it, else epoll (decided and logged at start-up).
enum class IoBackend : std::uint8_t { Auto, IoUring, Epoll };
[[nodiscard]] std::string_view to_string(IoBackend b) noexcept;  // "auto", "io_uring", "epoll"

struct Config {
    std::string source;         // file path, "<defaults>", or the name given to parse_config; not a setting
    std::uint32_t workers = 0;  // 0 = one per core
    bool tcp_nodelay = true;
    IoBackend io_backend = IoBackend::Auto;
    // Relative paths are relative to mothd's working directory (not to the config file), so `mothd` started
    // without a config by a user keeps its data next to where it was started and needs no root.
    std::string data_dir = "./moth-data";
    std::string ports_file;             // when set, mothd writes "<name> <kind> <address> <port>\n" per listener
    std::string log_level = "info";     // trace, debug, info, warn, error, critical, off
    std::uint32_t sys_interval_s = 10;  // $SYS publish interval, 0 = off
    std::string server_reference;       // v5: when set, CONNACK 0x9C Use another server with this reference
    Limits limits;
    Features features;
    Storage storage;
    Auth auth;
    Flapping flapping;
    MqttSn mqttsn;
    Cluster cluster;
    std::vector<Ban> bans;  // in file order
    // default (file has no [[listener]]): mqtt 1883, mqtts 8883, ws 8000, wss 8884, mqttsn 1884 (UDP) on 0.0.0.0,
    // http 8080 on 127.0.0.1
    std::vector<Listener> listeners;
    std::vector<Bridge> bridges;  // [[bridge]], in file order (docs/bridges.md); none by default

    // Where the file wrote things, for the errors only start-up finds (a port already taken, a certificate that
    // does not load, a data_dir that cannot be written): see source_error(). Not a setting: two configs never
    // differ by it.
    struct Lines {
        // Top-level keys ("data_dir"), tables ("limits", "ban.0") and their keys, dotted ("limits.publish_rate",
        // "flapping.ban_s", "ban.0.until") -> line. Listeners are below.
        std::map<std::string, std::size_t, std::less<>> keys;
        struct Listener {
            std::size_t table = 0;                                  // its [[listener]] line
            std::map<std::string, std::size_t, std::less<>> keys;  // its keys ("port") -> line
        };
        std::vector<Listener> listeners;  // by index in `listeners`, for those the file wrote
        std::set<std::string, std::less<>> overridden;  // dotted keys a --set changed: errors name "<override>"
        bool operator==(const Lines&) const { return true; }
    } lines;

    // Compares every field, `source` included; use differences() to compare settings only.
    bool operator==(const Config&) const = default;
};

struct ConfigError {
    std::string file;      // the source: a path, "<override>", ...
    std::size_t line = 0;  // 1-based; 0 = no line (a missing file, an override)
    std::string key;       // dotted key ("limits.max_inflight", "listener.1.port"), "<toml>" for syntax errors,
                           // empty when the whole file is at fault
    std::string message;

    // "file:line: key: message"; line 0 drops ":line", an empty key drops "key: ".
    [[nodiscard]] std::string to_string() const;
    bool operator==(const ConfigError&) const = default;
};

struct LoadResult {
    Config config;  // defaults where the file is silent or wrong; use only when ok()
    std::vector<ConfigError> errors;
    [[nodiscard]] bool ok() const { return errors.empty(); }
};

// A start-up error about a setting, as "file:line: key: message": `key` is a top-level key ("data_dir"), a dotted
// key of a table ("limits.publish_rate", "flapping.ban_s", "ban.0.address", or "ban.0" for the whole ban), or a
// listener's key ("port") when `listener` is its index in config.listeners. The line is where the file wrote that
// key, else its table's line ([[listener]], [limits], [[ban]]), else none (defaults, --set).
[[nodiscard]] ConfigError source_error(const Config& config, std::string_view key, std::string message,
                                       std::optional<std::size_t> listener = std::nullopt);

// Parses TOML text; `source` names it in errors and becomes config.source. A syntax error is the only error
// reported for that text ("source:line: <toml>: description"), as the TOML parser stops there.
[[nodiscard]] LoadResult parse_config(std::string_view toml_text, std::string source);
// Reads and parses a file. An unreadable file gives one error, "path: cannot read: <strerror>".
[[nodiscard]] LoadResult load_config_file(const std::string& path);
// The embedded defaults (source "<defaults>"): every field's default and four listeners on 0.0.0.0: "mqtt-0" on
// 1883, "mqtts-1" on 8883, "ws-2" on 8000 and "wss-3" on 8884 (the TLS ones with the development certificate),
// plus "http-4" on 127.0.0.1:8080 (loopback only, because it carries the unauthenticated API by default).
[[nodiscard]] Config default_config();

// Command-line overrides "key=value", applied after the file. Keys are dotted as in the file: "workers=2",
// "limits.max_inflight=10", "features.maximum_qos=1", "listener.0.port=0"; listener indexes are 0-based and the
// index one past the last adds a listener. Values are TOML values, except that a string key also takes bare text
// ("data_dir=/tmp/x", "listener.0.kind=ws"). Changing a listener's kind also moves its name and port along when
// they were the old kind's defaults ("mqtt-0" -> "ws-0", 1883 -> 8000). Bans cannot be set this way (an error says
// so): write [[ban]] tables in the file. Each key gets the same checks as in the
// file; the checks between keys and listeners (cert_file needs key_file, unique names and ports) run once on the
// outcome, so give mothd's every --set to one apply_overrides call. All or nothing: on any error the config is
// left unchanged. Errors name the file "<override>" and have no line.
[[nodiscard]] std::vector<ConfigError> apply_overrides(Config& config, std::span<const std::string> assignments);
// One override: apply_overrides with a single assignment.
[[nodiscard]] std::vector<ConfigError> apply_override(Config& config, std::string_view assignment);

// Every setting that differs, as dotted keys in file order ("limits.max_inflight", "listener.0.port",
// "listener.2" for a listener only one side has, "ban.1" for a [[ban]] that differs or that only one side has,
// "bridge.<name>" for a [[bridge]] that differs or that only one side has: bridges are matched by name, not order).
// `source` is not a setting and is ignored.
[[nodiscard]] std::vector<std::string> differences(const Config& a, const Config& b);
// What SIGHUP cannot apply: the differing keys that need a restart (workers, tcp_nodelay, io_backend, data_dir, ports_file,
// listeners added or removed, a listener's kind, name, bind, port, ws_path, proxy settings, ...). A listener's TLS
// files and settings (cert_file, key_file, ca_file, tls_*_version, ciphers, ciphersuites) and allowed_origins
// apply to new connections, and so do its auth and its rate overrides (publish_rate, connection_rate, ...).
// Everything else (limits, features, flapping, bans, bridges, log_level, sys_interval_s, server_reference) applies
// to new connections, or at once, without one (the bridge manager adds, restarts and removes bridges).
[[nodiscard]] std::vector<std::string> reload_differences(const Config& running, const Config& reloaded);
// True for a key (as returned by differences()) that only a restart can apply.
[[nodiscard]] bool needs_restart(std::string_view key) noexcept;

// Whether a listener's bind address reaches only this machine: 127.0.0.0/8, ::1, ::ffff:127.x.y.z, "localhost".
// Any other address, and any other host name, counts as reachable from elsewhere.
[[nodiscard]] bool is_loopback_bind(std::string_view bind);
// One line per ws/wss listener that any web page can reach from its visitors' browsers: bound to a non-loopback
// address with no allowed_origins (docs/security.md). mothd logs them as warnings at start-up.
[[nodiscard]] std::vector<std::string> open_websocket_warnings(const Config& config);

}  // namespace moth::config
