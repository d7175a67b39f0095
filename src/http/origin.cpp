#include "http/origin.hpp"

#include <cstdint>

namespace moth::http {

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// 1..65535 in decimal digits.
std::optional<std::uint16_t> parse_port(std::string_view s) {
    if (s.empty() || s.size() > 5) return std::nullopt;
    unsigned value = 0;
    for (const char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value == 0 || value > 65535) return std::nullopt;
    return static_cast<std::uint16_t>(value);
}

struct HostPort {
    std::string host;  // lower case; IPv6 keeps its brackets
    std::optional<std::uint16_t> port;
};

// "host", "host:port", "[v6]", "[v6]:port"; nullopt for anything else (a path, userinfo, an empty part).
std::optional<HostPort> split_host_port(std::string_view s) {
    if (s.empty()) return std::nullopt;
    std::size_t host_end = s.size();
    if (s.front() == '[') {
        host_end = s.find(']');
        if (host_end == std::string_view::npos) return std::nullopt;
        ++host_end;
    } else if (const auto colon = s.find(':'); colon != std::string_view::npos) {
        host_end = colon;
    }
    HostPort hp;
    hp.host = lower(s.substr(0, host_end));
    if (hp.host.empty() || hp.host.find_first_of("/@?#\\ ") != std::string::npos) return std::nullopt;
    if (host_end < s.size()) {
        if (s[host_end] != ':') return std::nullopt;
        hp.port = parse_port(s.substr(host_end + 1));
        if (!hp.port) return std::nullopt;
    }
    return hp;
}

}  // namespace

bool same_origin_as_host(std::string_view origin, std::string_view host) {
    origin = trim(origin);
    const auto sep = origin.find("://");
    if (sep == std::string_view::npos) return false;  // also "null"
    const std::string scheme = lower(origin.substr(0, sep));
    std::uint16_t default_port = 0;
    if (scheme == "http") {
        default_port = 80;
    } else if (scheme == "https") {
        default_port = 443;
    } else {
        return false;
    }
    const auto o = split_host_port(origin.substr(sep + 3));
    const auto h = split_host_port(trim(host));
    if (!o || !h) return false;
    return o->host == h->host && o->port.value_or(default_port) == h->port.value_or(default_port);
}

std::optional<std::string> cross_site_refusal(const std::optional<std::string>& origin, std::string_view sec_fetch_site,
                                              std::string_view host) {
    if (origin && !same_origin_as_host(*origin, host)) {
        return "cross-site request refused: Origin " + std::string(trim(*origin)) +
               " is not this listener's origin (see docs/security.md)";
    }
    const std::string site = lower(trim(sec_fetch_site));
    if (site == "cross-site") return std::string("cross-site request refused: Sec-Fetch-Site: cross-site");
    if (site == "same-site" && !origin) {
        return std::string("cross-site request refused: Sec-Fetch-Site: same-site without this listener's Origin");
    }
    return std::nullopt;
}

}  // namespace moth::http
