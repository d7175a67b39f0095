// [cluster]: this node's link to a Moth cluster on NATS JetStream (docs/cluster.md).
#include <unistd.h>

#include <cctype>

#include "config/fields.hpp"

namespace moth::config::detail {

namespace {

// Node names and the prefix become parts of NATS subjects, stream and consumer names: letters, digits, '-', '_'.
bool name_chars(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isalnum(c) || c == '-' || c == '_'; });
}

std::optional<std::string> node_name(std::string_view s) {
    if (s.empty()) return std::nullopt;  // the host name
    if (s.size() > 64 || !name_chars(s)) {
        return "expected at most 64 letters, digits, '-' or '_', got " + quote(s);
    }
    return std::nullopt;
}

std::optional<std::string> prefix_name(std::string_view s) {
    if (s.empty() || s.size() > 32 || !name_chars(s)) {
        return "expected 1 to 32 letters, digits, '-' or '_', got " + quote(s);
    }
    return std::nullopt;
}

std::optional<std::string> nats_url(std::string_view s) {
    for (const std::string_view scheme : {"nats://", "tls://"}) {
        if (s.starts_with(scheme) && s.size() > scheme.size()) return std::nullopt;
    }
    return "expected a NATS URL such as \"nats://127.0.0.1:4222\" or \"tls://nats.example.org:4222\", got " + quote(s);
}

// Each readable path is checked when the node starts (the NATS library opens them); here only its shape.
std::optional<std::string> path(std::string_view s) {
    if (s.find('\0') != std::string_view::npos) return "a path cannot contain NUL";
    return std::nullopt;
}

}  // namespace

const std::vector<Field<Cluster>>& cluster_fields() {
    static const std::vector<Field<Cluster>> fields{
        bool_field("enabled", &Cluster::enabled),
        string_list_field("servers", &Cluster::servers, nats_url),
        string_field("node", &Cluster::node, node_name),
        integer_field("replicas", &Cluster::replicas, 1, 5),
        string_field("prefix", &Cluster::prefix, prefix_name),
        string_field("user", &Cluster::user, any_string),
        string_field("password", &Cluster::password, any_string),
        string_field("token", &Cluster::token, any_string),
        string_field("credentials", &Cluster::credentials, path),
        string_field("tls_ca", &Cluster::tls_ca, path),
        string_field("tls_cert", &Cluster::tls_cert, path),
        string_field("tls_key", &Cluster::tls_key, path),
        integer_field("connect_timeout_ms", &Cluster::connect_timeout_ms, 100, 600'000),
        integer_field("ack_timeout_ms", &Cluster::ack_timeout_ms, 100, 600'000),
        integer_field("message_retention_s", &Cluster::message_retention_s, 60, kU32Max),
        integer_field("max_stream_bytes", &Cluster::max_stream_bytes, 1ULL << 20, kTomlMax),
        integer_field("report_interval_s", &Cluster::report_interval_s, 0, 3'600),
    };
    return fields;
}

std::vector<std::pair<std::string, std::string>> cluster_problems(const Cluster& c) {
    std::vector<std::pair<std::string, std::string>> out;
    if (!c.enabled) return out;
    if (c.servers.empty()) out.emplace_back("cluster.servers", "an enabled cluster needs at least one NATS URL");
    if (!c.user.empty() && c.password.empty()) out.emplace_back("cluster.password", "user is set without a password");
    const int ways = static_cast<int>(!c.user.empty()) + static_cast<int>(!c.token.empty()) +
                     static_cast<int>(!c.credentials.empty());
    if (ways > 1) out.emplace_back("cluster.token", "choose one of user/password, token or credentials");
    if (c.tls_cert.empty() != c.tls_key.empty()) {
        out.emplace_back(c.tls_cert.empty() ? "cluster.tls_cert" : "cluster.tls_key",
                         "tls_cert and tls_key go together");
    }
    return out;
}

}  // namespace moth::config::detail

namespace moth::config {

std::string cluster_node_name(const Cluster& c) {
    if (!c.node.empty()) return c.node;
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') return "moth";
    std::string out;
    for (const char ch : std::string_view(host)) {
        if (out.size() == 64) break;
        const auto u = static_cast<unsigned char>(ch);
        out.push_back(std::isalnum(u) || ch == '-' || ch == '_' ? ch : '_');
    }
    return out;
}

}  // namespace moth::config
