// What differs between two configs, and which of those differences only a restart can apply (SIGHUP).
#include <algorithm>
#include <array>
#include <cstdlib>
#include <string>

#include "config/fields.hpp"

namespace moth::config {

using namespace detail;

namespace {

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

std::vector<std::string> differences(const Config& a, const Config& b) {
    std::vector<std::string> out;
    diff_fields(config_fields(), a, b, "", out);
    diff_fields(limits_fields(), a.limits, b.limits, "limits.", out);
    diff_fields(features_fields(), a.features, b.features, "features.", out);
    diff_fields(storage_fields(), a.storage, b.storage, "storage.", out);
    diff_fields(auth_fields(), a.auth, b.auth, "auth.", out);
    diff_fields(auth_http_fields(), a.auth.http, b.auth.http, "auth.http.", out);
    diff_fields(auth_jwt_fields(), a.auth.jwt, b.auth.jwt, "auth.jwt.", out);
    diff_fields(flapping_fields(), a.flapping, b.flapping, "flapping.", out);
    diff_fields(mqttsn_fields(), a.mqttsn, b.mqttsn, "mqttsn.", out);
    diff_fields(cluster_fields(), a.cluster, b.cluster, "cluster.", out);
    for (std::size_t i = 0; i < std::max(a.bans.size(), b.bans.size()); ++i) {
        if (i >= a.bans.size() || i >= b.bans.size() || a.bans[i] != b.bans[i]) {
            out.push_back(ban_key(i));
        }
    }
    // Bridges by name, not by index: the bridge manager keeps the unchanged ones connected, whatever their order.
    const auto find = [](const std::vector<Bridge>& in, const std::string& name) {
        return std::find_if(in.begin(), in.end(), [&](const Bridge& x) { return x.name == name; });
    };
    for (const Bridge& x : a.bridges) {
        const auto y = find(b.bridges, x.name);
        if (y == b.bridges.end() || *y != x) out.push_back("bridge." + x.name);
    }
    for (const Bridge& y : b.bridges) {
        if (find(a.bridges, y.name) == a.bridges.end()) out.push_back("bridge." + y.name);
    }
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
        // "listener.<index>.<field>": a listener's TLS material, Origin allow-list, who may connect and its rates
        // apply to new connections (Server::reload builds new TLS contexts; the others are read per connection);
        // "listener.<index>" alone is a listener added or removed.
        const std::size_t dot = key.find('.', 9);
        if (dot == std::string_view::npos) {
            return true;
        }
        constexpr std::array<std::string_view, 17> kReloadable{
            "cert_file",       "key_file",      "ca_file",           "tls_min_version",    "tls_max_version",
            "ciphers",         "ciphersuites",  "allowed_origins",   "allow_anonymous",    "auth",
            "publish_rate",    "publish_burst", "publish_byte_rate", "publish_byte_burst", "connection_rate",
            "connection_burst", "auth_providers"};
        const std::string_view field = key.substr(dot + 1);
        return std::find(kReloadable.begin(), kReloadable.end(), field) == kReloadable.end();
    }
    // "bridge.<name>": the bridge manager adds, restarts or removes that bridge on SIGHUP.
    // "mqttsn.<key>": the gateway's listeners take their settings when they start; "cluster.<key>": the link to NATS
    // is made once, at start.
    return key == "workers" || key == "tcp_nodelay" || key == "io_backend" || key == "data_dir" || key == "ports_file" || key == "listener" ||
           key.starts_with("storage.") || key.starts_with("mqttsn.") || key.starts_with("cluster.") || key == "auth.verify_threads" || key == "auth.max_pending_verifications";
}

std::vector<std::string> reload_differences(const Config& running, const Config& reloaded) {
    std::vector<std::string> out;
    // An MQTT-SN listener (mqttsn, mqttsns) reads all its settings at start, TLS files and who may connect included.
    const auto datagram = [&](std::string_view key) {
        if (!key.starts_with("listener.")) return false;
        const std::size_t index = std::strtoul(std::string(key.substr(9)).c_str(), nullptr, 10);
        return index < running.listeners.size() && is_datagram(running.listeners[index].kind);
    };
    for (auto& key : differences(running, reloaded)) {
        if (needs_restart(key) || datagram(key)) {
            out.push_back(std::move(key));
        }
    }
    return out;
}

}  // namespace moth::config
