#pragma once
// IP address ranges ("10.0.0.0/8", "2001:db8::/32") for bans and allow-lists, and the test of a connection's
// address against one. Text in, text out, no sockets: inet_pton does the parsing, so the forms accepted are the
// ones the C library accepts (dotted-quad IPv4 without leading zeros, any RFC 4291 IPv6 text form).
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace moth {

struct Cidr {
    // IPv4: bytes[0..3] hold the address and the rest is 0; IPv6: all 16. Bits past `prefix` are always 0.
    std::array<std::uint8_t, 16> bytes{};
    std::uint8_t prefix = 0;  // 0..32 (v4) or 0..128 (v6)
    bool v4 = false;
    bool operator==(const Cidr&) const = default;
};

// "192.0.2.7" (= /32), "10.0.0.0/8", "::1" (= /128), "2001:db8::/32". Host bits beyond the prefix must be 0
// ("10.0.0.1/8" is an error: it would most likely be a typo for a narrower range). nullopt for brackets, ports,
// zones ("fe80::1%eth0"), host names, a prefix out of range or with a sign or leading zero, and anything else.
[[nodiscard]] std::optional<Cidr> parse_cidr(std::string_view text);

// Whether `address`, as mothd's connections print it, lies in `range`: "127.0.0.1", "127.0.0.1:5000",
// "[::1]:5000", "[::1]", "::1", "::ffff:127.0.0.1". An IPv4-mapped IPv6 address (::ffff:a.b.c.d) matches IPv4
// ranges, and an IPv4 address matches IPv6 ranges as its mapped form, so a dual-stack listener's peers match the
// ranges people write. Unbracketed IPv6 text is read as an address without a port when it parses as one
// ("2001:db8::1:4711" is that address), else with the last ":<port>" taken off. False when it does not parse.
[[nodiscard]] bool cidr_contains(const Cidr& range, std::string_view address);

// Canonical text: "10.0.0.0/8", "192.0.2.7" for a /32, "::1" for a /128, "2001:db8::/32" (inet_ntop's IPv6 form).
// parse_cidr(to_string(c)) == c.
[[nodiscard]] std::string to_string(const Cidr& range);

}  // namespace moth
