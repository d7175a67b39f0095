#pragma once
// What the HTTP API (src/http) sees of the broker: plain copies of what the cores hold, and the requests it makes
// of them. src/http includes this header, never core.hpp.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "broker/identity.hpp"
#include "codec/types.hpp"

namespace moth::broker {

// The client ids of mothd's bridges' local sessions ("$bridge/<name>"): refused to anyone but the bridge itself.
inline constexpr std::string_view kBridgeClientPrefix = "$bridge/";

// Which listener a connection came in on, for the HTTP API: set by the I/O layer at on_open and carried along
// when the connection moves to another worker. Immutable and shared by every connection of the listener.
struct ListenerTag {
    std::string name;       // the listener's name ("mqtt-0"); "bridge:<name>" for a bridge's own connection
    std::string transport;  // "mqtt", "mqtts", "ws", "wss", "http" (MQTT over the http listener's WebSocket), or
                            // "bridge": mothd's own bridge client (internal(): trusted, see below)
    // A bridge's queue (docs/bridges.md): its store-and-forward limits replace limits.max_queued_* for the session,
    // and QoS 0 messages may be queued as QoS 1 (queue_qos0). Null for every other listener.
    std::shared_ptr<const QueueOverride> queue;

    // mothd's own connection (a bridge's local side): let in without credentials as a superuser, no abuse limits,
    // and the only one allowed a "$bridge/" client id.
    [[nodiscard]] bool internal() const { return transport == "bridge"; }
};

// ---- Introspection and administration (the HTTP API). Plain copies, safe to hand to another thread. ----

struct ClientInfo {
    std::string client_id;
    std::string username;  // empty when the CONNECT had none
    std::string address;   // "ip:port"
    std::string listener;
    std::string transport;
    unsigned protocol_version = 4;             // the CONNECT's protocol level: 3, 4 or 5
    std::chrono::nanoseconds connected_for{};  // since the CONNECT was accepted, as of the call's `now`
    std::uint16_t keepalive_s = 0;
    bool clean_start = false;
    std::size_t subscriptions = 0;
    std::size_t inflight = 0;
    std::size_t queued = 0;
    std::uint64_t denied = 0;  // PUBLISH and SUBSCRIBE refused by the ACL on this connection
    // Publish rate limits (only where one applies): times the client was slowed down, and its PUBLISH rate over
    // the last whole second.
    std::uint64_t throttled = 0;
    std::optional<double> publish_rate;
};

struct SessionInfo {
    std::string client_id;
    bool connected = false;
    std::uint32_t expiry_interval_s = 0;  // 0xFFFFFFFF: never
    std::size_t subscriptions = 0;
    std::size_t inflight = 0;
    std::size_t queued = 0;
    std::size_t queued_in_memory = 0;  // of `queued`: the rest is in the store only (storage.queue_cache_messages)
    std::uint64_t queued_bytes = 0;    // what limits.max_queued_bytes counts, in memory and in the store
    std::uint64_t dropped = 0;         // bridges' sessions only ("$bridge/"): dropped by the queue's limits
};

struct SubscriptionInfo {
    std::string client_id;
    std::string filter;        // without "$share/<group>/"
    std::string shared_group;  // empty when not shared
    std::uint8_t qos = 0;      // granted
    bool no_local = false;
    bool retain_as_published = false;
    std::uint8_t retain_handling = 0;
    std::uint32_t identifier = 0;  // 0: none
};

// What one worker's core holds, for the API to merge across workers.
struct CoreSnapshot {
    std::vector<ClientInfo> clients;
    std::vector<SessionInfo> sessions;
    std::vector<SubscriptionInfo> subscriptions;
    std::unordered_map<std::string, std::size_t> connections_by_listener;  // open connections (MQTT) per listener
};

// What the snapshot should include (subscriptions can be many; the others are one entry per client).
struct SnapshotQuery {
    bool clients = false;
    bool sessions = false;
    bool subscriptions = false;
    bool listeners = false;
    std::optional<std::string> client_id;  // only this client's entries
};

// A message the broker publishes itself (the HTTP API's publish): no session, no No Local origin.
struct BrokerPublish {
    std::string topic;  // a valid topic name, not starting with '$'; checked by the caller
    std::vector<std::byte> payload;
    codec::QoS qos = codec::QoS::AtMostOnce;
    bool retain = false;
    std::optional<std::string> content_type;
    std::vector<std::pair<std::string, std::string>> user_properties;
};

}  // namespace moth::broker
