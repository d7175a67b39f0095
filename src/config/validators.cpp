// The checks of single string values (a bind address, a listener name, an Origin pattern, ...): each says what is
// wrong, in words that go after "file:line: key: ".
#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <string>

#include "codec/types.hpp"
#include "common/utf8.hpp"
#include "config/fields.hpp"

namespace moth::config::detail {

namespace {

bool is_host_name(std::string_view s) {
    if (s.empty() || s.size() > 253) {
        return false;
    }
    std::size_t start = 0;
    while (start <= s.size()) {
        std::size_t end = s.find('.', start);
        if (end == std::string_view::npos) {
            end = s.size();
        }
        const std::string_view label = s.substr(start, end - start);
        if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
            return false;
        }
        for (const char ch : label) {
            const bool ok =
                (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-';
            if (!ok) {
                return false;
            }
        }
        start = end + 1;
    }
    return true;
}

}  // namespace

std::optional<std::string> any_string(std::string_view) {
    return std::nullopt;
}

std::optional<std::string> non_empty(std::string_view s) {
    if (s.empty()) {
        return "must not be empty";
    }
    return std::nullopt;
}

std::optional<std::string> log_level(std::string_view s) {
    if (std::find(kLogLevels.begin(), kLogLevels.end(), s) == kLogLevels.end()) {
        return "must be one of " + list_choices(kLogLevels) + ", got " + quote(s);
    }
    return std::nullopt;
}

std::optional<std::string> mqtt_string(std::string_view s) {
    if (s.size() > codec::kMaxStringLength) {
        return "must be at most " + std::to_string(codec::kMaxStringLength) + " bytes long";
    }
    if (!common::is_valid_mqtt_utf8(s)) {
        return std::string("must be valid UTF-8 without U+0000 and surrogates");
    }
    return std::nullopt;
}

std::optional<std::string> bind_address(std::string_view s) {
    if (s.empty()) {
        return std::string(R"(must not be empty (use "0.0.0.0" or "::" for every address))");
    }
    if (s.front() == '[') {
        return "write IPv6 addresses without brackets (\"::1\", not \"[::1]\"), got " + quote(s);
    }
    std::array<unsigned char, 16> buffer{};
    if (s.find(':') != std::string_view::npos) {
        // A link-local address may carry a zone: "fe80::1%eth0".
        const std::string_view address = s.substr(0, s.find('%'));
        const bool zone_ok = address.size() == s.size() || address.size() + 1 < s.size();
        if (!zone_ok || inet_pton(AF_INET6, std::string(address).c_str(), buffer.data()) != 1) {
            return "not a valid IPv6 address: " + quote(s);
        }
        return std::nullopt;
    }
    if (s.find_first_not_of("0123456789.") == std::string_view::npos) {
        if (inet_pton(AF_INET, std::string(s).c_str(), buffer.data()) != 1) {
            return "not a valid IPv4 address: " + quote(s);
        }
        return std::nullopt;
    }
    if (!is_host_name(s)) {
        return "not a valid IPv4 address, IPv6 address or host name: " + quote(s);
    }
    return std::nullopt;
}

std::optional<std::string> listener_name(std::string_view s) {
    if (s.empty()) {
        return "must not be empty";
    }
    // It is one space-separated word of the ports file and of log lines.
    for (const char ch : s) {
        const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
                        ch == '_' || ch == '.';
        if (!ok) {
            return "may contain only letters, digits, '-', '_' and '.', got " + quote(s);
        }
    }
    return std::nullopt;
}

// The user part of HTTP Basic credentials ("user:password"): a colon would end it early.
std::optional<std::string> api_username(std::string_view s) {
    if (s.find(':') != std::string_view::npos) {
        return "must not contain ':', got " + quote(s);
    }
    return std::nullopt;
}

std::optional<std::string> ws_path(std::string_view s) {
    if (s.empty() || s.front() != '/') {
        return "must start with '/', got " + quote(s);
    }
    for (const char ch : s) {
        const auto byte = static_cast<unsigned char>(ch);
        if (byte <= 0x20 || byte == 0x7f) {
            return "must not contain spaces or control characters, got " + quote(s);
        }
    }
    return std::nullopt;
}

std::optional<std::string> tls_min_version(std::string_view s) {
    if (s != "1.2" && s != "1.3") {
        return "must be \"1.2\" or \"1.3\", got " + quote(s);
    }
    return std::nullopt;
}

std::optional<std::string> tls_max_version(std::string_view s) {
    if (!s.empty() && s != "1.2" && s != "1.3") {
        return "must be \"\" (the newest), \"1.2\" or \"1.3\", got " + quote(s);
    }
    return std::nullopt;
}

// An allowed_origins entry: "*", or scheme://host[:port] where host may start with "*." (any subdomain).
std::optional<std::string> origin_pattern(std::string_view s) {
    if (s == "*") {
        return std::nullopt;
    }
    const std::string problem = "must be \"*\" or an origin such as \"https://example.com:8443\" or "
                                "\"https://*.example.com\", got " + quote(s);
    const std::size_t sep = s.find("://");
    if (sep == std::string_view::npos || sep == 0) {
        return problem;
    }
    for (const char ch : s.substr(0, sep)) {
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '+' || ch == '-' || ch == '.')) {
            return problem + " (the scheme is lower case)";
        }
    }
    std::string_view host = s.substr(sep + 3);
    if (host.starts_with("*.")) {
        host.remove_prefix(2);
    }
    std::string_view port;
    if (host.starts_with('[')) {  // an IPv6 literal
        const std::size_t close = host.find(']');
        if (close == std::string_view::npos || close == 1) {
            return problem;
        }
        port = host.substr(close + 1);
        if (!port.empty() && port.front() != ':') {
            return problem;
        }
    } else {
        const std::size_t colon = host.find(':');
        if (colon != std::string_view::npos) {
            port = host.substr(colon);
            host = host.substr(0, colon);
        }
        if (!is_host_name(host) && bind_address(host).has_value()) {
            return problem;
        }
    }
    if (!port.empty()) {
        port.remove_prefix(1);
        if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos ||
            std::stoul(std::string(port)) > kU16Max) {
            return problem;
        }
    }
    return std::nullopt;
}

}  // namespace moth::config::detail
