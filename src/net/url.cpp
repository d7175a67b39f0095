// Broker URLs: mqtt://, mqtts://, ws://, wss://, or a bare host[:port].
#include <algorithm>
#include <cctype>
#include <charconv>
#include <string>
#include <string_view>

#include "net/stream.hpp"

namespace moth::net {
namespace {

using Error = boost::system::result<Url, std::string>;

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); });
    return out;
}

std::uint16_t default_port(Scheme s) {
    switch (s) {
        case Scheme::Mqtt:
            return 1883;
        case Scheme::Mqtts:
            return 8883;
        case Scheme::Ws:
            return 80;
        case Scheme::Wss:
            return 443;
    }
    return 1883;
}

std::string_view scheme_name(Scheme s) {
    switch (s) {
        case Scheme::Mqtt:
            return "mqtt";
        case Scheme::Mqtts:
            return "mqtts";
        case Scheme::Ws:
            return "ws";
        case Scheme::Wss:
            return "wss";
    }
    return "mqtt";
}

bool is_websocket(Scheme s) {
    return s == Scheme::Ws || s == Scheme::Wss;
}

// Host names and IPv4 literals: letters, digits, '-', '.', '_' (some LAN names have it).
bool valid_host_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '.' || c == '_';
}

// Inside brackets: hex digits, ':', '.' (embedded IPv4), and '%' + zone id.
bool valid_ipv6(std::string_view s) {
    if (s.find(':') == std::string_view::npos) return false;
    const auto pct = s.find('%');
    const auto addr = s.substr(0, pct);
    if (!std::all_of(addr.begin(), addr.end(),
                     [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0 || c == ':' || c == '.'; }))
        return false;
    if (pct != std::string_view::npos) {
        const auto zone = s.substr(pct + 1);
        if (zone.empty() || !std::all_of(zone.begin(), zone.end(), valid_host_char)) return false;
    }
    return true;
}

}  // namespace

boost::system::result<Url, std::string> parse_url(std::string_view text) {
    const std::string_view original = text;
    const auto quote = [&] { return "'" + std::string(original) + "'"; };
    if (text.empty()) return Error(boost::system::in_place_error, "empty URL");
    if (std::any_of(text.begin(), text.end(),
                    [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0 || c == '\0'; }))
        return Error(boost::system::in_place_error, "URL " + quote() + " contains white space");

    Url url;
    if (const auto sep = text.find("://"); sep != std::string_view::npos) {
        const auto name = lower(text.substr(0, sep));
        if (name == "mqtt") {
            url.scheme = Scheme::Mqtt;
        } else if (name == "mqtts") {
            url.scheme = Scheme::Mqtts;
        } else if (name == "ws") {
            url.scheme = Scheme::Ws;
        } else if (name == "wss") {
            url.scheme = Scheme::Wss;
        } else {
            return Error(boost::system::in_place_error,
                         "unsupported scheme '" + name + "' in " + quote() + " (expected mqtt, mqtts, ws or wss)");
        }
        text.remove_prefix(sep + 3);
    }
    url.port = default_port(url.scheme);
    url.path = "/mqtt";

    // Authority ends at the first '/', '?' or '#'.
    const auto auth_end = text.find_first_of("/?#");
    std::string_view authority = text.substr(0, auth_end);
    std::string_view rest = auth_end == std::string_view::npos ? std::string_view{} : text.substr(auth_end);

    if (authority.find('@') != std::string_view::npos)
        return Error(boost::system::in_place_error,
                     "user name in URL " + quote() + " is not supported (give credentials as options)");
    if (authority.empty()) return Error(boost::system::in_place_error, "missing host in URL " + quote());

    std::string_view host;
    std::string_view port;
    bool has_port = false;
    if (authority.front() == '[') {
        const auto close = authority.find(']');
        if (close == std::string_view::npos)
            return Error(boost::system::in_place_error, "missing ']' after IPv6 address in URL " + quote());
        host = authority.substr(1, close - 1);
        if (!valid_ipv6(host))
            return Error(boost::system::in_place_error,
                         "invalid IPv6 address '" + std::string(host) + "' in URL " + quote());
        const auto after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':')
                return Error(boost::system::in_place_error, "unexpected text after ']' in URL " + quote());
            port = after.substr(1);
            has_port = true;
        }
    } else {
        const auto colon = authority.find(':');
        if (colon != std::string_view::npos && authority.find(':', colon + 1) != std::string_view::npos)
            return Error(boost::system::in_place_error,
                         "IPv6 address in URL " + quote() + " must be in brackets, e.g. mqtt://[::1]:1883");
        host = authority.substr(0, colon);
        if (colon != std::string_view::npos) {
            port = authority.substr(colon + 1);
            has_port = true;
        }
        if (host.empty()) return Error(boost::system::in_place_error, "missing host in URL " + quote());
        if (!std::all_of(host.begin(), host.end(), valid_host_char))
            return Error(boost::system::in_place_error,
                         "invalid host name '" + std::string(host) + "' in URL " + quote());
    }
    if (has_port) {
        if (port.empty()) return Error(boost::system::in_place_error, "missing port after ':' in URL " + quote());
        unsigned value = 0;
        const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
        if (ec != std::errc{} || end != port.data() + port.size() || value == 0 || value > 65535)
            return Error(boost::system::in_place_error,
                         "invalid port '" + std::string(port) + "' in URL " + quote() + " (expected 1 to 65535)");
        url.port = static_cast<std::uint16_t>(value);
    }
    url.host = std::string(host);

    if (!rest.empty()) {
        if (rest.front() == '#')
            return Error(boost::system::in_place_error, "fragment ('#') in URL " + quote() + " is not supported");
        if (!is_websocket(url.scheme)) {
            if (rest != "/")
                return Error(boost::system::in_place_error,
                             "a path is only allowed in ws:// and wss:// URLs, not in " + quote());
        } else {
            if (rest.find('#') != std::string_view::npos)
                return Error(boost::system::in_place_error, "fragment ('#') in URL " + quote() + " is not supported");
            // "ws://host?x" has a query but no path: the request target still needs one.
            url.path = rest.front() == '?' ? "/" + std::string(rest) : std::string(rest);
        }
    }
    return url;
}

std::string to_string(const Url& url) {
    std::string out(scheme_name(url.scheme));
    out += "://";
    if (url.host.find(':') != std::string::npos) {
        out += '[';
        out += url.host;
        out += ']';
    } else {
        out += url.host;
    }
    out += ':';
    out += std::to_string(url.port);
    if (is_websocket(url.scheme)) out += url.path.empty() ? std::string("/") : url.path;
    return out;
}

}  // namespace moth::net
