#include "common/cidr.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>

namespace moth {

namespace {

struct Address {
    std::array<std::uint8_t, 16> bytes{};
    bool v4 = false;
};

// A bare address: dotted-quad IPv4, or IPv6 text (no brackets, no zone, no port).
std::optional<Address> parse_address(std::string_view text) {
    // The longest IPv6 text form is 45 characters ("ffff:...:255.255.255.255"); refusing longer text early keeps
    // the copy for inet_pton small.
    if (text.empty() || text.size() > 45) return std::nullopt;
    const std::string copy(text);
    Address a;
    if (text.find(':') == std::string_view::npos) {
        if (inet_pton(AF_INET, copy.c_str(), a.bytes.data()) != 1) return std::nullopt;
        a.v4 = true;
        return a;
    }
    if (inet_pton(AF_INET6, copy.c_str(), a.bytes.data()) != 1) return std::nullopt;
    return a;
}

bool is_port(std::string_view s) {
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    return !s.empty() && s.size() <= 5 && ec == std::errc{} && end == s.data() + s.size() && value <= 65535;
}

// "a.b.c.d", "a.b.c.d:port", "[v6]", "[v6]:port", "v6", and unbracketed "v6:port" when "v6:port" as a whole is
// not an address (see cidr_contains in the header).
std::optional<Address> parse_peer(std::string_view text) {
    if (text.starts_with('[')) {
        const std::size_t close = text.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        const std::string_view rest = text.substr(close + 1);
        if (!rest.empty() && !(rest.front() == ':' && is_port(rest.substr(1)))) return std::nullopt;
        auto a = parse_address(text.substr(1, close - 1));
        if (!a || a->v4) return std::nullopt;  // brackets hold IPv6 only
        return a;
    }
    const std::size_t colons = static_cast<std::size_t>(std::count(text.begin(), text.end(), ':'));
    if (colons == 1) {
        const std::size_t colon = text.find(':');
        if (!is_port(text.substr(colon + 1))) return std::nullopt;
        auto a = parse_address(text.substr(0, colon));
        if (!a || !a->v4) return std::nullopt;
        return a;
    }
    if (auto whole = parse_address(text)) return whole;
    if (colons < 2) return std::nullopt;
    const std::size_t last = text.rfind(':');
    if (!is_port(text.substr(last + 1))) return std::nullopt;
    auto a = parse_address(text.substr(0, last));
    if (!a || a->v4) return std::nullopt;
    return a;
}

// Whether the first `bits` bits of a and b are equal.
bool same_prefix(const std::uint8_t* a, const std::uint8_t* b, unsigned bits) {
    const unsigned whole = bits / 8;
    if (!std::equal(a, a + whole, b)) return false;
    const unsigned rest = bits % 8;
    if (rest == 0) return true;
    const auto mask = static_cast<std::uint8_t>(0xFF << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

bool is_v4_mapped(const std::array<std::uint8_t, 16>& b) {
    return std::all_of(b.begin(), b.begin() + 10, [](std::uint8_t x) { return x == 0; }) && b[10] == 0xFF &&
           b[11] == 0xFF;
}

}  // namespace

std::optional<Cidr> parse_cidr(std::string_view text) {
    const std::size_t slash = text.find('/');
    const auto address = parse_address(text.substr(0, slash));
    if (!address) return std::nullopt;
    Cidr c;
    c.v4 = address->v4;
    c.bytes = address->bytes;
    const unsigned max = c.v4 ? 32 : 128;
    unsigned prefix = max;
    if (slash != std::string_view::npos) {
        const std::string_view digits = text.substr(slash + 1);
        // Digits only: from_chars alone would take "+8" or stop early on "8x".
        if (digits.empty() || digits.size() > 3 || digits.find_first_not_of("0123456789") != std::string_view::npos ||
            (digits.size() > 1 && digits.front() == '0')) {
            return std::nullopt;
        }
        std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
        if (prefix > max) return std::nullopt;
    }
    c.prefix = static_cast<std::uint8_t>(prefix);
    // Host bits must be 0: compare the address with itself masked to the prefix.
    std::array<std::uint8_t, 16> masked{};
    const unsigned whole = prefix / 8;
    std::copy_n(c.bytes.begin(), whole, masked.begin());
    if (prefix % 8 != 0) {
        masked[whole] = static_cast<std::uint8_t>(c.bytes[whole] & (0xFF << (8 - prefix % 8)));
    }
    if (masked != c.bytes) return std::nullopt;
    return c;
}

bool cidr_contains(const Cidr& range, std::string_view address) {
    auto a = parse_peer(address);
    if (!a) return false;
    if (range.v4 && !a->v4) {
        if (!is_v4_mapped(a->bytes)) return false;
        std::array<std::uint8_t, 16> v4{};
        std::copy_n(a->bytes.begin() + 12, 4, v4.begin());
        a->bytes = v4;
        a->v4 = true;
    } else if (!range.v4 && a->v4) {
        std::array<std::uint8_t, 16> mapped{};
        mapped[10] = 0xFF;
        mapped[11] = 0xFF;
        std::copy_n(a->bytes.begin(), 4, mapped.begin() + 12);
        a->bytes = mapped;
        a->v4 = false;
    }
    return same_prefix(range.bytes.data(), a->bytes.data(), range.prefix);
}

std::string to_string(const Cidr& range) {
    std::array<char, INET6_ADDRSTRLEN> text{};
    if (inet_ntop(range.v4 ? AF_INET : AF_INET6, range.bytes.data(), text.data(), text.size()) == nullptr) {
        return "?";  // cannot happen for 4 or 16 bytes and a buffer of INET6_ADDRSTRLEN
    }
    std::string out(text.data());
    if (range.prefix != (range.v4 ? 32 : 128)) {
        out += '/';
        out += std::to_string(range.prefix);
    }
    return out;
}

}  // namespace moth
