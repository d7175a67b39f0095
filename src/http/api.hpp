#pragma once
// The http listener's application layer, without any I/O: static files (web_root or the embedded console), the
// JSON API under /api/v1 and the Prometheus /metrics page (docs/http-api.md is the contract). api.cpp is the front
// door (checks, static files), routes.cpp the API's routes, text.cpp the text helpers declared below.
//
// The server (src/server/http_session.cpp) parses HTTP with Beast, hands each request here as a plain Request,
// and writes the Response back. What the API needs from the broker comes through a Backend that the server
// implements: state that lives in the workers' cores is gathered asynchronously, so handle() answers through a
// callback and never blocks.
//
// Thread affinity: an Api is used from one worker thread (the one serving the HTTP connection). Backend callbacks
// must run on that same thread.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "broker/admin.hpp"
#include "broker/cluster.hpp"

namespace moth::broker {
class Gate;
}  // namespace moth::broker

namespace moth::http {

inline constexpr std::size_t kMaxBodyBytes = 1024 * 1024;      // larger request bodies: 413
inline constexpr std::size_t kMaxDashboardBytes = 256 * 1024;  // PUT /api/v1/dashboard
inline constexpr std::size_t kDefaultRetainedLimit = 1000;

struct Request {
    std::string method;  // "GET", "HEAD", ...
    std::string target;  // as received: path and query, percent-encoded
    std::string authorization;
    std::string body;
    std::string content_type;           // the Content-Type header ("" when absent)
    std::optional<std::string> origin;  // the Origin header (nullopt when absent)
    std::string sec_fetch_site;         // the Sec-Fetch-Site header ("" when absent)
    std::string host;                   // the Host header: what the listener's own origin is compared with
};

struct Response {
    unsigned status = 200;
    std::string content_type = "application/json";
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;  // extra headers (WWW-Authenticate, Allow, ...)
    // HEAD: the body's length is announced but the body is not sent (the server does that).
};

struct StatsInfo {
    std::string version;
    std::uint64_t uptime_s = 0;
    unsigned workers = 0;
    std::uint64_t clients_connected = 0;
    std::uint64_t sessions = 0;
    std::uint64_t subscriptions = 0;
    std::uint64_t retained = 0;
    std::uint64_t messages_received = 0;
    std::uint64_t messages_sent = 0;
    std::uint64_t bytes_received = 0;
    std::uint64_t bytes_sent = 0;
    std::uint64_t messages_dropped = 0;
    std::uint64_t connection_failures = 0;  // connections closed because a call into the core threw
    std::uint64_t auth_failures = 0;        // CONNECTs refused by authentication
    std::uint64_t denied = 0;               // PUBLISH, SUBSCRIBE and wills refused by the ACL
    // Abuse limits (issue 19).
    std::uint64_t throttled = 0;             // times a client's input paused for its publish rate
    std::uint64_t rate_disconnects = 0;      // clients disconnected for their publish rate
    std::uint64_t connect_rate_refused = 0;  // CONNECTs refused by a connection rate
    std::uint64_t banned_refused = 0;        // CONNECTs refused by a ban
    std::uint64_t flapping_bans = 0;         // bans flapping detection gave
    std::uint64_t bans = 0;                  // bans in force now
};

struct RetainedInfo {
    std::string topic;
    std::uint8_t qos = 0;
    std::vector<std::byte> payload;
    std::optional<std::string> content_type;
};

struct ListenerInfo {
    std::string name;
    std::string kind;
    std::string address;
    std::uint16_t port = 0;
    bool anonymous = false;  // accepts clients without credentials: config::anonymous_allowed (issue 18)
};

// One bridge's link, as mothd's bridges report it (docs/bridges.md); its queue is the session "$bridge/<name>"
// (SessionInfo: queued, queued_bytes, dropped).
struct BridgeInfo {
    std::string name;
    bool connected = false;
    std::string address;     // the remote it is connected to, or tried last
    std::string last_error;  // "" when none
    std::uint64_t sent = 0;
    std::uint64_t received = 0;
    std::uint64_t refused = 0;
    std::uint64_t reconnects = 0;
    std::int64_t connected_since_unix_ms = 0;  // 0 while down
};

// A bridge as GET /api/v1/bridges and /metrics show it: its link, and its queue (the session "$bridge/<name>"; zero
// while that session does not exist).
struct BridgeView {
    BridgeInfo link;
    std::uint64_t queued_messages = 0;
    std::uint64_t queued_bytes = 0;
    std::uint64_t dropped = 0;
};

// One MQTT-SN gateway listener's counters (docs/mqtt-sn.md), for /metrics.
struct GatewayInfo {
    std::string listener;
    std::uint64_t clients = 0;  // addresses with a session now
    std::uint64_t datagrams_in = 0;
    std::uint64_t datagrams_out = 0;
    std::uint64_t malformed = 0;  // dropped: not MQTT-SN (or not a DTLS record for the gateway)
    std::uint64_t refused = 0;    // source address, client id or limit refused; QoS -1 publishes not allowed
    std::uint64_t qos_minus_one = 0;
    std::uint64_t send_failures = 0;
};

// The broker as the API sees it. Implemented by the server; every callback runs on the Api's thread.
class Backend {
public:
    virtual ~Backend() = default;
    // Counters, read at once (atomics and the shared retained index).
    [[nodiscard]] virtual StatsInfo stats() = 0;
    // Every worker's CoreSnapshot, merged; `done` once all workers answered.
    virtual void snapshot(broker::SnapshotQuery query, std::function<void(broker::CoreSnapshot)> done) = 0;
    // Retained messages matching the plain (valid) filter, at most `limit`; `truncated` when there were more.
    [[nodiscard]] virtual std::vector<RetainedInfo> retained(std::string_view filter, std::size_t limit,
                                                             bool& truncated) = 0;
    [[nodiscard]] virtual std::vector<ListenerInfo> listeners() = 0;
    // Administrative disconnect on whichever worker has the client; `done(found)`.
    virtual void disconnect(std::string client_id, std::function<void(bool)> done) = 0;
    // Publishes from the broker itself (a checked topic and QoS), after every check the broker applies to a client's
    // PUBLISH (topic levels, maximum QoS, retain available, size); returns why it refused, or nullopt.
    [[nodiscard]] virtual std::optional<std::string> publish(broker::BrokerPublish message) = 0;
    // The stored dashboard document: `done(json)`, nullopt when none is stored; `error` non-empty on failure.
    virtual void load_dashboard(std::function<void(std::optional<std::string> json, std::string error)> done) = 0;
    // Stores the document atomically; `done(error)`, empty on success.
    virtual void save_dashboard(std::string json, std::function<void(std::string error)> done) = 0;
    // Reads the file for the decoded URL path `path` under `web_root` (resolve_static); nullopt: 404.
    struct File {
        std::string name;  // the file served (index.html for a directory): its extension gives the content type
        std::string content;
    };
    virtual void read_static(std::string web_root, std::string path, std::function<void(std::optional<File>)> done) = 0;
    // The broker's ban list and abuse limits (thread-safe, callable from this thread); null when the broker has
    // none (the ban routes answer 503).
    [[nodiscard]] virtual broker::Gate* gate() = 0;
    // The bridges' links (any thread); empty without bridges.
    [[nodiscard]] virtual std::vector<BridgeInfo> bridges() { return {}; }
    // The MQTT-SN gateway listeners' counters (any thread); empty without mqttsn/mqttsns listeners.
    [[nodiscard]] virtual std::vector<GatewayInfo> gateways() { return {}; }
    // The cluster as this node sees it (any thread); nullopt when the broker is alone (docs/cluster.md).
    [[nodiscard]] virtual std::optional<broker::ClusterStatus> cluster() { return std::nullopt; }
};

struct Settings {
    std::string web_root;  // empty: the embedded assets
    std::string ws_path = "/mqtt";
    std::string api_token;
    std::string api_username;
    std::string api_password;
};

class Api {
public:
    Api(Settings settings, Backend& backend);

    // Answers one request (not a WebSocket upgrade: the server handles those). `done` runs exactly once, on this
    // thread, maybe before handle() returns.
    void handle(const Request& request, std::function<void(Response)> done);

private:
    // Why a request to /api or /metrics is refused (403 cross-site, 401 credentials, 415 a body that is not JSON),
    // or nullopt when it may go on to its route.
    [[nodiscard]] std::optional<Response> refusal(const Request& request, bool is_api) const;
    [[nodiscard]] bool authorized(const Request& request) const;
    void serve_static(const Request& request, std::string_view raw_path, std::function<void(Response)> done);

    Settings settings_;
    Backend& backend_;
};

// ---- helpers, exposed for the unit tests ----

// Whether a Content-Type header value is application/json (case-insensitive, parameters such as charset allowed).
[[nodiscard]] bool is_json_media_type(std::string_view content_type) noexcept;
// "text/html; charset=utf-8" etc. by the file name's extension; "application/octet-stream" when unknown.
[[nodiscard]] std::string_view content_type_for(std::string_view path) noexcept;
// Percent-decoding of a path or query component; nullopt for a malformed escape or an encoded NUL.
[[nodiscard]] std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space = false);
// The value of `key` in a query string ("a=1&b=2"), decoded; nullopt when absent or malformed.
[[nodiscard]] std::optional<std::string> query_param(std::string_view query, std::string_view key);
// The regular file that the decoded URL path `path` names under `web_root` (index.html for a directory), or nullopt
// when there is none or it lies outside web_root: ".." segments, and symbolic links leading out, are refused.
// Touches the file system (blocking): call it off the worker threads.
[[nodiscard]] std::optional<std::string> resolve_static(const std::string& web_root, std::string_view path);
// RFC 3339 UTC with seconds: "2026-11-24T22:50:43Z".
[[nodiscard]] std::string rfc3339(std::chrono::system_clock::time_point t);
// The same for a time in Unix seconds (bans are kept in those); "" for a time gmtime cannot represent.
[[nodiscard]] std::string rfc3339_seconds(std::int64_t unix_s);
// The Prometheus text exposition format 0.0.4 of the stats, per-listener connection counts and per-bridge figures
// (the moth_bridge_* families are left out when there are no bridges).
[[nodiscard]] std::string metrics_text(const StatsInfo& stats,
                                       const std::vector<std::pair<std::string, std::size_t>>& connections,
                                       const std::vector<BridgeView>& bridges = {},
                                       const std::vector<GatewayInfo>& gateways = {},
                                       const std::optional<broker::ClusterStatus>& cluster = std::nullopt);

}  // namespace moth::http
