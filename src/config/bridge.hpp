#pragma once
// [[bridge]] tables (docs/bridges.md): a link from this broker to another one, with Mosquitto's topic rules and a
// store-and-forward queue on disk. Included by config.hpp; parsed by bridge.cpp (keys and checks:
// docs/configuration.md "[[bridge]]").
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace moth::config {

enum class QueueFullPolicy { DropNew, DropOldest };

enum class BridgeDirection { In, Out, Both };
[[nodiscard]] std::string_view to_string(BridgeDirection d) noexcept;  // "in", "out", "both"

// One `topic` line of a Mosquitto bridge, in the same words: `pattern [in|out|both [qos [local-prefix
// remote-prefix]]]` (pattern "" with prefixes: the prefix itself is the topic, as in Mosquitto). A message matching
// local_prefix + pattern locally goes out as remote_prefix + the rest (out, both); one matching remote_prefix +
// pattern on the remote comes in as local_prefix + the rest (in, both).
struct BridgeTopic {
    std::string pattern;
    BridgeDirection direction = BridgeDirection::Out;
    std::uint8_t qos = 0;  // the maximum: messages above it are sent at it (downgraded)
    std::string local_prefix;
    std::string remote_prefix;

    bool operator==(const BridgeTopic&) const = default;
};

// Parses one rule as written in `topics = [...]`; error text on failure (no file/line: the caller adds them).
// Mosquitto's rules: words separated by blanks; `""` is an empty pattern or prefix; the direction is "in", "out" or
// "both" (any case); qos 0, 1 or 2; a local prefix needs a remote one; each prefix is a topic name (no wildcards);
// an empty pattern needs both prefixes non-empty; local_prefix + pattern and remote_prefix + pattern must be valid
// topic filters (not shared ones). Missing direction: out; missing qos: 0.
[[nodiscard]] std::optional<BridgeTopic> parse_bridge_topic(std::string_view text, std::string& error);
// The rule written back in Mosquitto's form (what the API and the logs show), always with direction and qos:
// "sensors/# out 1", "# both 2 local/ remote/", `"" in 0 a/b x/y`. parse_bridge_topic(to_string(t)) == t.
[[nodiscard]] std::string to_string(const BridgeTopic& t);
// The topic filters a rule stands for: local_prefix + pattern (matched against local messages, out) and
// remote_prefix + pattern (subscribed to on the remote, in).
[[nodiscard]] std::string local_filter(const BridgeTopic& t);
[[nodiscard]] std::string remote_filter(const BridgeTopic& t);

enum class BridgeProtocol { V3_1_1, V5 };
[[nodiscard]] std::string_view to_string(BridgeProtocol p) noexcept;  // "3.1.1", "5.0"

// A bridge address as the client library's URL parser (src/net/url.cpp) reads it, written in full:
// "mqtt://host:port", "mqtts://host:port", "ws://host:port/path", "wss://host:port/path" (IPv6 hosts in brackets,
// default ports 1883, 8883, 80, 443, default WebSocket path "/mqtt"); a bare "host[:port]" is mqtt://. nullopt and
// `error` set (what is wrong, without the address itself) when the text is not such an address.
[[nodiscard]] std::optional<std::string> normalize_bridge_address(std::string_view text, std::string& error);
// Whether a (normalized) address is mqtts:// or wss://.
[[nodiscard]] bool is_tls_address(std::string_view address) noexcept;

inline constexpr std::size_t kMaxBridgeClientIdLength = 256;

struct Bridge {
    std::string name;                    // unique among bridges: [A-Za-z0-9_.-]{1,64}
    std::vector<std::string> addresses;  // mqtt://, mqtts://, ws://, wss:// URLs (host:port alone = mqtt://),
                                         // tried in order: the first that connects is used (failover); kept
                                         // normalized (normalize_bridge_address), so net::parse_url reads them
    BridgeProtocol protocol = BridgeProtocol::V5;
    std::string client_id;  // on the remote; "" = "<host name>.<name>" (Mosquitto's default)
    std::optional<std::string> username;
    std::optional<std::string> password;
    std::uint16_t keepalive_s = 60;
    bool clean_start = false;               // the remote keeps the bridge's session between connections
    std::uint32_t session_expiry_s = 0;     // 5.0: on the remote; 0 with clean_start = false: until the connection ends
    std::uint32_t reconnect_min_ms = 1000;  // back-off between attempts: doubles up to max, with full jitter
    std::uint32_t reconnect_max_ms = 60000;
    bool try_private = true;           // 3.1.1: protocol level 0x84 (Mosquitto's bridge bit): the remote does not echo
    bool keep_retain = true;           // forward the retain flag (false: everything goes as not retained)
    bool queue_qos0 = false;           // out: QoS 0 messages are stored and forwarded too (sent at QoS 0)
    std::uint16_t max_inflight = 100;  // messages on their way to the remote (and from it) at once
    // The store-and-forward queue (out): messages waiting for the remote, on disk; what happens when it is full.
    std::uint64_t max_queued_bytes = 1024ULL * 1024 * 1024;
    std::uint32_t max_queued_messages = 10'000'000;
    QueueFullPolicy queue_full_policy = QueueFullPolicy::DropOldest;
    // mqtts:// and wss://
    std::string ca_file;
    std::string cert_file;
    std::string key_file;
    std::string sni;            // "" = the address's host
    bool tls_insecure = false;  // no certificate or host name check (testing only)
    std::vector<BridgeTopic> topics;

    bool operator==(const Bridge&) const = default;
};

// The client id the bridge connects to the remote with: client_id, or "<host name>.<name>" when it is empty (host
// name cut so that the whole fits kMaxBridgeClientIdLength; just the name when the host name is empty).
[[nodiscard]] std::string bridge_client_id(const Bridge& b, std::string_view host_name);

}  // namespace moth::config
