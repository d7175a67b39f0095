#include "server/client_address.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstring>

namespace moth::server {

namespace {

constexpr std::array<std::uint8_t, 12> kV2Signature{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                                    0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
constexpr std::string_view kV1Prefix = "PROXY ";
constexpr std::size_t kV1MaxLength = 107;  // the specification's bound, CRLF included

bool parse_port(std::string_view s, std::uint16_t& port) {
    if (s.empty() || s.size() > 5 || (s.size() > 1 && s.front() == '0')) return false;
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (ec != std::errc{} || end != s.data() + s.size() || value > 65535) return false;
    port = static_cast<std::uint16_t>(value);
    return true;
}

// The canonical text of an IPv4 (`family` AF_INET) or IPv6 address, or nullopt when `s` is not one.
std::optional<std::string> canonical_address(std::string_view s, int family) {
    std::array<unsigned char, 16> bytes{};
    if (s.empty() || s.size() > 45 || inet_pton(family, std::string(s).c_str(), bytes.data()) != 1) return std::nullopt;
    std::array<char, INET6_ADDRSTRLEN> text{};
    if (inet_ntop(family, bytes.data(), text.data(), text.size()) == nullptr) return std::nullopt;
    return std::string(text.data());
}

std::string with_port(std::string address, std::uint16_t port) {
    // IPv6 in brackets ("[::1]:5000"): without them the port reads as part of the address (a ban on ::1 would not
    // match "::1:5000").
    if (address.find(':') != std::string::npos) return "[" + address + "]:" + std::to_string(port);
    return address + ":" + std::to_string(port);
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

// "1.2.3.4", "1.2.3.4:80", "2001:db8::1", "[2001:db8::1]", "[2001:db8::1]:80" -> "address[:port]".
std::optional<std::string> node_address(std::string_view s) {
    s = trim(s);
    if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
    if (s.starts_with('[')) {
        const auto close = s.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        auto address = canonical_address(s.substr(1, close - 1), AF_INET6);
        if (!address) return std::nullopt;
        const std::string_view rest = s.substr(close + 1);
        if (rest.empty()) return address;
        std::uint16_t port = 0;
        if (rest.front() != ':' || !parse_port(rest.substr(1), port)) return std::nullopt;
        return with_port(*address, port);
    }
    if (auto v6 = canonical_address(s, AF_INET6)) return v6;  // bare IPv6: no port possible
    const auto colon = s.find(':');
    auto address = canonical_address(s.substr(0, colon), AF_INET);
    if (!address) return std::nullopt;
    if (colon == std::string_view::npos) return address;
    std::uint16_t port = 0;
    if (!parse_port(s.substr(colon + 1), port)) return std::nullopt;
    return with_port(*address, port);
}

struct Origin {
    std::string scheme;
    std::string host;  // lower case; IPv6 keeps its brackets
    std::string port;  // empty: the scheme's default
};

std::string default_port(std::string_view scheme) {
    if (scheme == "http" || scheme == "ws") return "80";
    if (scheme == "https" || scheme == "wss") return "443";
    return {};
}

std::optional<Origin> split_origin(std::string_view s) {
    const auto sep = s.find("://");
    if (sep == std::string_view::npos || sep == 0) return std::nullopt;
    Origin o;
    o.scheme = lower(s.substr(0, sep));
    std::string_view rest = s.substr(sep + 3);
    if (rest.ends_with('/')) rest.remove_suffix(1);  // tolerate "https://a.example/" in a pattern
    if (rest.empty() || rest.find('/') != std::string_view::npos) return std::nullopt;
    std::size_t host_end = rest.size();
    if (rest.starts_with('[')) {
        host_end = rest.find(']');
        if (host_end == std::string_view::npos) return std::nullopt;
        ++host_end;
    } else if (const auto colon = rest.find(':'); colon != std::string_view::npos) {
        host_end = colon;
    }
    o.host = lower(rest.substr(0, host_end));
    if (o.host.empty()) return std::nullopt;
    if (host_end < rest.size()) {
        if (rest[host_end] != ':') return std::nullopt;
        o.port = std::string(rest.substr(host_end + 1));
        std::uint16_t ignored = 0;
        if (!parse_port(o.port, ignored)) return std::nullopt;
    }
    if (o.port == default_port(o.scheme)) o.port.clear();
    return o;
}

}  // namespace

// ---- PROXY protocol ----

ProxyHeaderParser::Result ProxyHeaderParser::fail(std::string why, std::size_t consumed) {
    status_ = Status::Error;
    error_ = std::move(why);
    return {Status::Error, consumed};
}

ProxyHeaderParser::Result ProxyHeaderParser::feed(std::span<const std::byte> in) {
    std::size_t used = 0;
    while (status_ == Status::NeedMore && used < in.size()) {
        const auto byte = static_cast<std::uint8_t>(in[used]);
        ++used;
        buf_.push_back(byte);
        const std::size_t n = buf_.size();
        if (version_ == 0) {
            const bool v1 = n <= kV1Prefix.size() && std::memcmp(buf_.data(), kV1Prefix.data(), n) == 0;
            const bool v2 = n <= kV2Signature.size() && std::memcmp(buf_.data(), kV2Signature.data(), n) == 0;
            if (!v1 && !v2) return fail("no PROXY protocol header (the connection must start with one)", used);
            if (v1 && n == kV1Prefix.size()) version_ = 1;
            if (v2 && n == kV2Signature.size()) version_ = 2;
            continue;
        }
        if (version_ == 1) {
            if (byte == '\n') {
                if (n < 2 || buf_[n - 2] != '\r')
                    return fail("PROXY v1 header: line feed without carriage return", used);
                if (parse_v1() == Status::Error) return {Status::Error, used};
                status_ = Status::Done;
            } else if (n >= kV1MaxLength) {
                return fail("PROXY v1 header longer than 107 bytes", used);
            }
            continue;
        }
        // v2: 12 signature bytes, version/command, family/protocol, 2 bytes length, then the addresses.
        if (n == 16) {
            if ((buf_[12] >> 4) != 2) return fail("PROXY v2 header: version " + std::to_string(buf_[12] >> 4), used);
            const std::size_t length = (static_cast<std::size_t>(buf_[14]) << 8) | buf_[15];
            if (length > kMaxV2Length)
                return fail("PROXY v2 header: " + std::to_string(length) + " bytes of addresses", used);
            v2_total_ = 16 + length;
        }
        if (n >= 16 && n == v2_total_) {
            if (parse_v2() == Status::Error) return {Status::Error, used};
            status_ = Status::Done;
        }
    }
    return {status_, used};
}

ProxyHeaderParser::Status ProxyHeaderParser::parse_v1() {
    // "PROXY TCP4 <src> <dst> <sport> <dport>\r\n", "PROXY TCP6 ...", "PROXY UNKNOWN[ anything]\r\n".
    const std::string_view line(reinterpret_cast<const char*>(buf_.data()) + kV1Prefix.size(),
                                buf_.size() - kV1Prefix.size() - 2);
    std::vector<std::string_view> words;
    std::size_t start = 0;
    while (start <= line.size()) {
        auto end = line.find(' ', start);
        if (end == std::string_view::npos) end = line.size();
        words.push_back(line.substr(start, end - start));
        start = end + 1;
    }
    if (!words.empty() && words[0] == "UNKNOWN") return Status::Done;  // keep the socket's address
    if (words.size() != 5 || (words[0] != "TCP4" && words[0] != "TCP6")) {
        fail("PROXY v1 header: expected \"TCP4|TCP6 <source> <destination> <source port> <destination port>\", got \"" +
                 std::string(line) + "\"",
             0);
        return Status::Error;
    }
    const int family = words[0] == "TCP4" ? AF_INET : AF_INET6;
    auto source = canonical_address(words[1], family);
    std::uint16_t sport = 0;
    std::uint16_t dport = 0;
    if (!source || !canonical_address(words[2], family) || !parse_port(words[3], sport) ||
        !parse_port(words[4], dport)) {
        fail("PROXY v1 header: bad address or port in \"" + std::string(line) + "\"", 0);
        return Status::Error;
    }
    source_ = with_port(*source, sport);
    return Status::Done;
}

ProxyHeaderParser::Status ProxyHeaderParser::parse_v2() {
    const std::uint8_t command = buf_[12] & 0x0F;
    const std::uint8_t family = buf_[13] >> 4;
    const std::size_t length = v2_total_ - 16;
    if (command == 0x0) return Status::Done;  // LOCAL: the proxy's own connection (health check)
    if (command != 0x1) {
        fail("PROXY v2 header: unknown command " + std::to_string(command), 0);
        return Status::Error;
    }
    const std::uint8_t* a = buf_.data() + 16;
    std::array<char, INET6_ADDRSTRLEN> text{};
    if (family == 0x1) {  // AF_INET: src, dst, sport, dport
        if (length < 12) {
            fail("PROXY v2 header: " + std::to_string(length) + " bytes are too few for IPv4 addresses", 0);
            return Status::Error;
        }
        inet_ntop(AF_INET, a, text.data(), text.size());
        source_ = with_port(text.data(), static_cast<std::uint16_t>((a[8] << 8) | a[9]));
    } else if (family == 0x2) {  // AF_INET6
        if (length < 36) {
            fail("PROXY v2 header: " + std::to_string(length) + " bytes are too few for IPv6 addresses", 0);
            return Status::Error;
        }
        inet_ntop(AF_INET6, a, text.data(), text.size());
        source_ = with_port(text.data(), static_cast<std::uint16_t>((a[32] << 8) | a[33]));
    }
    // AF_UNSPEC, AF_UNIX: nothing usable as an address; keep the socket's.
    return Status::Done;
}

// ---- X-Forwarded-For / Forwarded ----

std::optional<std::string> forwarded_client(std::span<const std::string_view> x_forwarded_for,
                                            std::span<const std::string_view> forwarded) {
    for (const auto header : x_forwarded_for) {
        const std::string_view first = trim(header.substr(0, header.find(',')));
        if (first.empty()) continue;  // an empty header: the next one may carry the list
        return node_address(first);
    }
    for (const auto header : forwarded) {
        const std::string_view element = header.substr(0, header.find(','));
        std::size_t start = 0;
        while (start <= element.size()) {
            auto end = element.find(';', start);
            if (end == std::string_view::npos) end = element.size();
            const std::string_view pair = trim(element.substr(start, end - start));
            start = end + 1;
            const auto eq = pair.find('=');
            if (eq == std::string_view::npos) continue;
            if (lower(trim(pair.substr(0, eq))) == "for") return node_address(pair.substr(eq + 1));
        }
        return std::nullopt;
    }
    return std::nullopt;
}

// ---- Origin ----

bool origin_allowed(std::string_view origin, std::span<const std::string> allowed) {
    if (allowed.empty()) return true;
    const auto o = split_origin(trim(origin));  // "null" (opaque origins) and garbage match only "*"
    for (const auto& entry : allowed) {
        if (entry == "*") return true;
        if (!o) continue;
        auto pattern = split_origin(entry);
        if (!pattern || pattern->scheme != o->scheme || pattern->port != o->port) continue;
        if (pattern->host.starts_with("*.")) {
            const std::string_view suffix = std::string_view(pattern->host).substr(1);  // ".example.com"
            if (o->host.size() > suffix.size() && std::string_view(o->host).ends_with(suffix)) return true;
        } else if (pattern->host == o->host) {
            return true;
        }
    }
    return false;
}

}  // namespace moth::server
