// The http listener's small text jobs that need no routing: percent-decoding and query strings, mapping a URL path
// to a file under web_root, RFC 3339 time stamps, and the Prometheus text of /metrics (split from api.cpp).
#include <algorithm>
#include <ctime>
#include <filesystem>
#include <string>
#include <system_error>

#include "http/api.hpp"

namespace moth::http {

namespace {

// "# HELP" and "# TYPE" lines of a metric family.
void help_type(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
}

// Label values escape backslash, double quote and newline (exposition format 0.0.4).
std::string label(std::string_view v) {
    std::string e;
    for (const char c : v) {
        if (c == '\\' || c == '"') {
            e += '\\';
            e += c;
        } else if (c == '\n') {
            e += "\\n";
        } else {
            e += c;
        }
    }
    return e;
}

// The moth_bridge_* families: one sample per bridge each, labelled bridge="<name>".
void bridge_metrics(std::string& out, const std::vector<BridgeView>& bridges) {
    if (bridges.empty()) return;
    const auto family = [&](std::string_view name, std::string_view type, std::string_view help, auto value) {
        help_type(out, name, type, help);
        for (const BridgeView& b : bridges) {
            out += name;
            out += "{bridge=\"" + label(b.link.name) + "\"} " + std::to_string(value(b)) + "\n";
        }
    };
    using V = const BridgeView&;
    family("moth_bridge_connected", "gauge", "1 while the bridge's link to its remote is up, else 0.",
           [](V b) { return b.link.connected ? 1 : 0; });
    family("moth_bridge_sent_total", "counter", "Messages the bridge's remote acknowledged since start.",
           [](V b) { return b.link.sent; });
    family("moth_bridge_received_total", "counter", "Messages from the bridge's remote taken since start.",
           [](V b) { return b.link.received; });
    family("moth_bridge_refused_total", "counter",
           "Messages a side of the bridge refused with an error reason code since start.",
           [](V b) { return b.link.refused; });
    family("moth_bridge_reconnects_total", "counter", "The bridge's connection attempts after the first since start.",
           [](V b) { return b.link.reconnects; });
    family("moth_bridge_queued_messages", "gauge", "Messages waiting in the bridge's queue for its remote.",
           [](V b) { return b.queued_messages; });
    family("moth_bridge_queued_bytes", "gauge", "Bytes of the messages waiting in the bridge's queue.",
           [](V b) { return b.queued_bytes; });
    family("moth_bridge_dropped_total", "counter", "Messages the bridge's queue limits dropped since start.",
           [](V b) { return b.dropped; });
}

// The moth_mqttsn_* families: one sample per gateway listener each, labelled listener="<name>".
void gateway_metrics(std::string& out, const std::vector<GatewayInfo>& gateways) {
    if (gateways.empty()) return;
    const auto family = [&](std::string_view name, std::string_view type, std::string_view help, auto value) {
        help_type(out, name, type, help);
        for (const GatewayInfo& g : gateways) {
            out += name;
            out += "{listener=\"" + label(g.listener) + "\"} " + std::to_string(value(g)) + "\n";
        }
    };
    using V = const GatewayInfo&;
    family("moth_mqttsn_clients", "gauge", "MQTT-SN clients (source addresses) with a session now.",
           [](V g) { return g.clients; });
    family("moth_mqttsn_datagrams_received_total", "counter", "Datagrams the gateway received since start.",
           [](V g) { return g.datagrams_in; });
    family("moth_mqttsn_datagrams_sent_total", "counter", "Datagrams the gateway sent since start.",
           [](V g) { return g.datagrams_out; });
    family("moth_mqttsn_malformed_total", "counter", "Datagrams dropped as not MQTT-SN (or not DTLS) since start.",
           [](V g) { return g.malformed; });
    family("moth_mqttsn_refused_total", "counter",
           "Datagrams refused (source address, client id, client limit, QoS -1 not allowed) since start.",
           [](V g) { return g.refused; });
    family("moth_mqttsn_qos_minus_one_total", "counter", "QoS -1 messages published since start.",
           [](V g) { return g.qos_minus_one; });
    family("moth_mqttsn_send_failures_total", "counter", "Datagrams the socket would not take since start.",
           [](V g) { return g.send_failures; });
}

// The moth_cluster_* families (docs/cluster.md): this node's link to NATS and the nodes it hears from.
void cluster_metrics(std::string& out, const broker::ClusterStatus& c) {
    const auto single = [&](std::string_view name, std::string_view type, std::string_view help, std::uint64_t v) {
        help_type(out, name, type, help);
        out += std::string(name) + "{node=\"" + label(c.node) + "\"} " + std::to_string(v) + "\n";
    };
    std::uint64_t alive = 0;
    for (const auto& n : c.nodes) alive += n.alive ? 1 : 0;
    single("moth_cluster_link_up", "gauge", "1 while this node is connected to NATS.", c.connected ? 1 : 0);
    single("moth_cluster_nodes", "gauge", "Nodes heard from within three report intervals, this one included.", alive);
    single("moth_cluster_published_total", "counter", "Messages this node sent to the cluster since start.",
           c.published);
    single("moth_cluster_received_total", "counter", "Messages the cluster delivered to this node since start.",
           c.received);
    single("moth_cluster_duplicates_total", "counter",
           "Deliveries dropped as already seen (overlapping filters, redeliveries) since start.", c.duplicates);
    single("moth_cluster_publish_failures_total", "counter",
           "QoS 1/2 messages JetStream did not confirm (refused to their publisher) since start.", c.publish_failures);
    single("moth_cluster_reconnects_total", "counter", "Reconnections to NATS since start.", c.reconnects);
    single("moth_cluster_interests", "gauge", "Distinct filters this node holds on NATS.", c.interests);
}

}  // namespace

std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space) {
    std::string out;
    out.reserve(s.size());
    const auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if (c == '%') {
            if (i + 2 >= s.size()) return std::nullopt;
            const int hi = hex(s[i + 1]);
            const int lo = hex(s[i + 2]);
            if (hi < 0 || lo < 0) return std::nullopt;
            const char decoded = static_cast<char>(hi * 16 + lo);
            if (decoded == '\0') return std::nullopt;
            out += decoded;
            i += 2;
        } else if (c == '+' && plus_is_space) {
            out += ' ';
        } else {
            out += c;
        }
    }
    return out;
}

std::optional<std::string> query_param(std::string_view query, std::string_view key) {
    while (!query.empty()) {
        const auto amp = query.find('&');
        const std::string_view pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
        const auto eq = pair.find('=');
        const auto name = percent_decode(pair.substr(0, eq), true);
        if (!name || *name != key) continue;
        return percent_decode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1), true);
    }
    return std::nullopt;
}

std::optional<std::string> resolve_static(const std::string& web_root, std::string_view path) {
    namespace fs = std::filesystem;
    if (path.empty() || path.front() != '/' || path.find('\0') != std::string_view::npos) return std::nullopt;
    // No segment may climb: "..", and "." for good measure, refused outright rather than normalised away.
    // Empty segments ("//") are skipped, so the result is always relative to web_root.
    fs::path relative;
    std::string_view rest = path;
    while (!rest.empty()) {
        const auto slash = rest.find('/');
        const std::string_view segment = rest.substr(0, slash);
        if (segment == ".." || segment == "." || segment.find('\\') != std::string_view::npos) return std::nullopt;
        if (!segment.empty()) relative /= fs::path(std::string(segment));
        rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    }
    std::error_code ec;
    const fs::path root = fs::canonical(web_root, ec);
    if (ec) return std::nullopt;
    fs::path candidate = root / relative;
    if (fs::is_directory(candidate, ec)) candidate /= "index.html";
    // Symbolic links are followed, but wherever they lead must still be under web_root.
    const fs::path real = fs::canonical(candidate, ec);
    if (ec || !fs::is_regular_file(real, ec)) return std::nullopt;
    const auto [root_end, real_it] = std::mismatch(root.begin(), root.end(), real.begin(), real.end());
    if (root_end != root.end()) return std::nullopt;
    return real.string();
}

std::string rfc3339(std::chrono::system_clock::time_point t) {
    return rfc3339_seconds(static_cast<std::int64_t>(std::chrono::system_clock::to_time_t(t)));
}

std::string rfc3339_seconds(std::int64_t unix_s) {
    const auto secs = static_cast<std::time_t>(unix_s);
    std::tm tm{};
    if (gmtime_r(&secs, &tm) == nullptr) return {};
    std::array<char, 32> buf{};
    const std::size_t n = std::strftime(buf.data(), buf.size(), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return std::string(buf.data(), n);
}

std::string metrics_text(const StatsInfo& s, const std::vector<std::pair<std::string, std::size_t>>& connections,
                         const std::vector<BridgeView>& bridges, const std::vector<GatewayInfo>& gateways,
                         const std::optional<broker::ClusterStatus>& cluster) {
    std::string out;
    const auto metric = [&](std::string_view name, std::string_view type, std::string_view help) {
        help_type(out, name, type, help);
    };
    // A metric with one unlabelled sample.
    const auto single = [&](std::string_view name, std::string_view type, std::string_view help, std::uint64_t value) {
        metric(name, type, help);
        out += name;
        out += ' ';
        out += std::to_string(value);
        out += '\n';
    };
    single("moth_clients_connected", "gauge", "MQTT clients connected now.", s.clients_connected);
    single("moth_sessions", "gauge", "Sessions held, connected or not.", s.sessions);
    single("moth_subscriptions", "gauge", "Subscriptions held by all sessions.", s.subscriptions);
    single("moth_retained_messages", "gauge", "Retained messages stored.", s.retained);
    single("moth_messages_received_total", "counter", "MQTT packets received since start.", s.messages_received);
    single("moth_messages_sent_total", "counter", "MQTT packets sent since start.", s.messages_sent);
    single("moth_bytes_received_total", "counter", "MQTT bytes received since start.", s.bytes_received);
    single("moth_bytes_sent_total", "counter", "MQTT bytes sent since start.", s.bytes_sent);
    single("moth_messages_dropped_total", "counter", "Messages dropped (queue limits, slow consumers) since start.",
           s.messages_dropped);
    single("moth_connection_failures_total", "counter",
           "Connections closed because the broker failed internally while serving them, since start.",
           s.connection_failures);
    single("moth_auth_failures_total", "counter", "CONNECTs refused by authentication since start.", s.auth_failures);
    single("moth_access_denied_total", "counter", "PUBLISH, SUBSCRIBE and wills refused by the ACL since start.",
           s.denied);
    single("moth_publish_throttled_total", "counter",
           "Times a client's input was paused for its publish rate since start.", s.throttled);
    single("moth_publish_rate_disconnects_total", "counter", "Clients disconnected for their publish rate since start.",
           s.rate_disconnects);
    metric("moth_connections_refused_total", "counter",
           "CONNECTs refused by the abuse limits since start, by reason (a connection rate, a ban).");
    out +=
        "moth_connections_refused_total{reason=\"connection_rate\"} " + std::to_string(s.connect_rate_refused) + "\n";
    out += "moth_connections_refused_total{reason=\"banned\"} " + std::to_string(s.banned_refused) + "\n";
    single("moth_flapping_bans_total", "counter", "Bans given by flapping detection since start.", s.flapping_bans);
    single("moth_bans", "gauge", "Bans in force now (config file, API and flapping detection).", s.bans);
    metric("moth_connections", "gauge", "Open MQTT connections per listener.");
    for (const auto& [name, n] : connections) {
        out += "moth_connections{listener=\"" + label(name) + "\"} " + std::to_string(n) + "\n";
    }
    bridge_metrics(out, bridges);
    gateway_metrics(out, gateways);
    if (cluster) cluster_metrics(out, *cluster);
    single("moth_uptime_seconds", "gauge", "Seconds since mothd started.", s.uptime_s);
    metric("moth_build_info", "gauge", "Build information; always 1.");
    out += "moth_build_info{version=\"" + label(s.version) + "\"} 1\n";
    return out;
}

}  // namespace moth::http
