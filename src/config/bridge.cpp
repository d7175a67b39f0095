// A bridge's values that are more than a string: Mosquitto's topic rules and the remote's addresses, read and
// written back. Pure functions; the [[bridge]] tables themselves are read in bridge_read.cpp.
#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <optional>
#include <string>
#include <vector>

#include "codec/topic.hpp"
#include "config/bridge.hpp"

namespace moth::config {

namespace {

// How an empty pattern or prefix is written in a rule, as in mosquitto.conf.
constexpr std::string_view kEmpty = R"("")";
constexpr std::string_view kRuleForm = "pattern [in|out|both [qos [local-prefix remote-prefix]]]";

std::string quoted(std::string_view s) {
    return "\"" + std::string(s) + "\"";
}

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); });
    return out;
}

std::vector<std::string_view> words(std::string_view text) {
    std::vector<std::string_view> out;
    constexpr std::string_view kBlank = " \t";
    for (std::size_t at = text.find_first_not_of(kBlank); at != std::string_view::npos;) {
        const std::size_t end = text.find_first_of(kBlank, at);
        out.push_back(text.substr(at, end == std::string_view::npos ? end : end - at));
        at = end == std::string_view::npos ? end : text.find_first_not_of(kBlank, end);
    }
    return out;
}

std::string_view unquote_empty(std::string_view word) {
    return word == kEmpty ? std::string_view{} : word;
}

// A prefix is put in front of topics, so it is a topic name itself: no wildcards (Mosquitto's check too).
bool check_prefix(std::string_view which, std::string_view prefix, std::string& error) {
    if (prefix.empty()) return true;
    if (const auto e = codec::validate_topic_name(prefix); e != codec::TopicError::None) {
        error = std::string(which) + " prefix " + quoted(prefix) + ": " + std::string(codec::topic_error_text(e));
        return false;
    }
    return true;
}

// prefix + pattern is what is subscribed to (remote) or matched (local): it must be a topic filter.
bool check_filter(std::string_view which, const std::string& filter, std::string& error) {
    if (codec::parse_shared_filter(filter)) {
        error = std::string(which) + " topic " + quoted(filter) + " is a shared subscription: not a bridge topic";
        return false;
    }
    if (const auto e = codec::validate_topic_filter(filter); e != codec::TopicError::None) {
        error = std::string(which) + " topic " + quoted(filter) +
                " (prefix + pattern) is not a valid topic filter: " + std::string(codec::topic_error_text(e));
        return false;
    }
    return true;
}

bool parse_direction(std::string_view word, BridgeDirection& out, std::string& error) {
    const std::string w = lower(word);
    if (w == "in") {
        out = BridgeDirection::In;
    } else if (w == "out") {
        out = BridgeDirection::Out;
    } else if (w == "both") {
        out = BridgeDirection::Both;
    } else {
        error = "direction must be \"in\", \"out\" or \"both\", got " + quoted(word);
        return false;
    }
    return true;
}

bool valid_host_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '.' || c == '_';
}

bool valid_ipv6(std::string_view s) {
    if (s.find(':') == std::string_view::npos) return false;
    const std::size_t pct = s.find('%');
    const std::string_view address = s.substr(0, pct);
    if (!std::all_of(address.begin(), address.end(), [](char c) {
            return std::isxdigit(static_cast<unsigned char>(c)) != 0 || c == ':' || c == '.';
        })) {
        return false;
    }
    if (pct == std::string_view::npos) return true;
    const std::string_view zone = s.substr(pct + 1);
    return !zone.empty() && std::all_of(zone.begin(), zone.end(), valid_host_char);
}

struct Scheme {
    std::string_view name;
    std::uint16_t port;
    bool websocket;
};
constexpr std::array<Scheme, 4> kSchemes{
    {{"mqtt", 1883, false}, {"mqtts", 8883, false}, {"ws", 80, true}, {"wss", 443, true}}};

// The host and port of an authority ("host", "host:1884", "[::1]:1884"): the same rules as net::parse_url.
bool parse_authority(std::string_view authority, std::string& host, std::uint16_t& port, std::string& error) {
    std::string_view port_text;
    bool has_port = false;
    if (authority.empty()) {
        error = "no host in the address";
        return false;
    }
    if (authority.front() == '[') {
        const std::size_t close = authority.find(']');
        if (close == std::string_view::npos || !valid_ipv6(authority.substr(1, close - 1))) {
            error = "a bad IPv6 address (write it in brackets: \"mqtt://[::1]:1883\")";
            return false;
        }
        host = authority.substr(1, close - 1);
        const std::string_view after = authority.substr(close + 1);
        if (!after.empty() && after.front() != ':') {
            error = "text after ']'";
            return false;
        }
        has_port = !after.empty();
        port_text = has_port ? after.substr(1) : after;
    } else {
        const std::size_t colon = authority.find(':');
        if (colon != std::string_view::npos && authority.find(':', colon + 1) != std::string_view::npos) {
            error = "an IPv6 address without brackets (write \"mqtt://[::1]:1883\")";
            return false;
        }
        host = authority.substr(0, colon);
        has_port = colon != std::string_view::npos;
        port_text = has_port ? authority.substr(colon + 1) : std::string_view{};
        if (host.empty() || !std::all_of(host.begin(), host.end(), valid_host_char)) {
            error = host.empty() ? "no host in the address" : "a bad host name " + quoted(host);
            return false;
        }
    }
    if (has_port) {
        unsigned value = 0;
        const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
        if (port_text.empty() || ec != std::errc{} || end != port_text.data() + port_text.size() || value == 0 ||
            value > 65535) {
            error = "a bad port " + quoted(port_text) + " (1 to 65535)";
            return false;
        }
        port = static_cast<std::uint16_t>(value);
    }
    return true;
}

}  // namespace

std::string_view to_string(BridgeDirection d) noexcept {
    switch (d) {
        case BridgeDirection::In:
            return "in";
        case BridgeDirection::Out:
            return "out";
        case BridgeDirection::Both:
            return "both";
    }
    return "out";
}

std::string_view to_string(BridgeProtocol p) noexcept {
    return p == BridgeProtocol::V3_1_1 ? "3.1.1" : "5.0";
}

std::optional<BridgeTopic> parse_bridge_topic(std::string_view text, std::string& error) {
    const std::vector<std::string_view> w = words(text);
    if (w.empty()) {
        error = "empty rule: expected `" + std::string(kRuleForm) + "`";
        return std::nullopt;
    }
    if (w.size() > 5) {
        error = "too many words: expected `" + std::string(kRuleForm) + "`";
        return std::nullopt;
    }
    if (w.size() == 4) {
        error = "a local prefix needs a remote prefix (write \"\" for an empty one)";
        return std::nullopt;
    }
    BridgeTopic t;
    t.pattern = unquote_empty(w[0]);
    if (w.size() > 1 && !parse_direction(w[1], t.direction, error)) return std::nullopt;
    if (w.size() > 2) {
        if (w[2].size() != 1 || w[2][0] < '0' || w[2][0] > '2') {
            error = "qos must be 0, 1 or 2, got " + quoted(w[2]);
            return std::nullopt;
        }
        t.qos = static_cast<std::uint8_t>(w[2][0] - '0');
    }
    if (w.size() == 5) {
        t.local_prefix = unquote_empty(w[3]);
        t.remote_prefix = unquote_empty(w[4]);
    }
    if (!check_prefix("local", t.local_prefix, error) || !check_prefix("remote", t.remote_prefix, error)) {
        return std::nullopt;
    }
    if (t.pattern.empty() && (t.local_prefix.empty() || t.remote_prefix.empty())) {
        error = "an empty pattern (\"\") needs a local and a remote prefix: they are then the topics";
        return std::nullopt;
    }
    if (!check_filter("local", local_filter(t), error) || !check_filter("remote", remote_filter(t), error)) {
        return std::nullopt;
    }
    return t;
}

std::string to_string(const BridgeTopic& t) {
    const auto word = [](const std::string& s) { return s.empty() ? std::string(kEmpty) : s; };
    std::string out = word(t.pattern);
    out += ' ';
    out += to_string(t.direction);
    out += ' ';
    out += static_cast<char>('0' + t.qos);
    if (!t.local_prefix.empty() || !t.remote_prefix.empty()) {
        out += ' ' + word(t.local_prefix) + ' ' + word(t.remote_prefix);
    }
    return out;
}

std::string local_filter(const BridgeTopic& t) {
    return t.local_prefix + t.pattern;
}

std::string remote_filter(const BridgeTopic& t) {
    return t.remote_prefix + t.pattern;
}

std::optional<std::string> normalize_bridge_address(std::string_view text, std::string& error) {
    const auto fail = [&](std::string why) {
        error = std::move(why);
        return std::nullopt;
    };
    if (text.empty()) {
        error = "empty address";
        return std::nullopt;
    }
    if (std::any_of(text.begin(), text.end(),
                    [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0 || c == '\0'; })) {
        return fail("white space in the address");
    }
    Scheme scheme = kSchemes[0];
    if (const std::size_t sep = text.find("://"); sep != std::string_view::npos) {
        const std::string name = lower(text.substr(0, sep));
        const auto it = std::find_if(kSchemes.begin(), kSchemes.end(), [&](const Scheme& s) { return s.name == name; });
        if (it == kSchemes.end()) return fail("not an mqtt://, mqtts://, ws:// or wss:// address");
        scheme = *it;
        text.remove_prefix(sep + 3);
    }
    const std::size_t authority_end = text.find_first_of("/?#");
    const std::string_view authority = text.substr(0, authority_end);
    const std::string_view rest = authority_end == std::string_view::npos ? "" : text.substr(authority_end);
    if (authority.find('@') != std::string_view::npos) {
        return fail("a user name in the address: give it as username (and password)");
    }
    std::string host;
    std::uint16_t port = scheme.port;
    std::string why;
    if (!parse_authority(authority, host, port, why)) return fail(why);
    std::string path = "/mqtt";
    if (rest.find('#') != std::string_view::npos) return fail("a fragment ('#') in the address");
    if (!scheme.websocket && !rest.empty() && rest != "/")
        return fail("a path in the address: only ws:// and wss:// take one");
    if (scheme.websocket && !rest.empty()) path = rest.front() == '?' ? "/" + std::string(rest) : std::string(rest);

    std::string out = std::string(scheme.name) + "://";
    out += host.find(':') != std::string::npos ? "[" + host + "]" : host;
    out += ':' + std::to_string(port);
    if (scheme.websocket) out += path;
    return out;
}

bool is_tls_address(std::string_view address) noexcept {
    return address.starts_with("mqtts://") || address.starts_with("wss://");
}

std::string bridge_client_id(const Bridge& b, std::string_view host_name) {
    if (!b.client_id.empty()) return b.client_id;
    if (host_name.empty() || b.name.size() + 1 >= kMaxBridgeClientIdLength) return b.name;
    return std::string(host_name.substr(0, kMaxBridgeClientIdLength - 1 - b.name.size())) + "." + b.name;
}

}  // namespace moth::config
