// The PROXY protocol parser, the X-Forwarded-For / Forwarded reader and the Origin allow-list (no sockets).
#include "server/client_address.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <string>
#include <vector>

namespace moth::server {
namespace {

std::vector<std::byte> bytes(std::string_view s) {
    std::vector<std::byte> out(s.size());
    std::memcpy(out.data(), s.data(), s.size());
    return out;
}

std::vector<std::byte> v2(std::uint8_t ver_cmd, std::uint8_t family, const std::vector<std::uint8_t>& body) {
    std::vector<std::uint8_t> raw{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
    raw.push_back(ver_cmd);
    raw.push_back(family);
    raw.push_back(static_cast<std::uint8_t>(body.size() >> 8));
    raw.push_back(static_cast<std::uint8_t>(body.size() & 0xFF));
    raw.insert(raw.end(), body.begin(), body.end());
    std::vector<std::byte> out(raw.size());
    std::memcpy(out.data(), raw.data(), raw.size());
    return out;
}

// Feeds `in` whole and then one byte at a time; both must agree. Returns the whole-feed parser.
ProxyHeaderParser parse(const std::vector<std::byte>& in, std::size_t* consumed = nullptr) {
    ProxyHeaderParser whole;
    const auto r = whole.feed(in);
    if (consumed != nullptr) *consumed = r.consumed;
    ProxyHeaderParser single;
    std::size_t used = 0;
    for (std::size_t i = 0; i < in.size() && single.status() == ProxyHeaderParser::Status::NeedMore; ++i) {
        const auto step = single.feed(std::span<const std::byte>(&in[i], 1));
        EXPECT_EQ(step.consumed, 1U);
        used += step.consumed;
    }
    EXPECT_EQ(single.status(), whole.status());
    EXPECT_EQ(single.source(), whole.source());
    EXPECT_EQ(used, r.consumed);
    return whole;
}

using Status = ProxyHeaderParser::Status;

TEST(ProxyProtocol, V1Tcp4StopsAtTheEndOfTheHeader) {
    std::size_t used = 0;
    const std::string header = "PROXY TCP4 192.0.2.10 198.51.100.1 40000 1883\r\n";
    auto p = parse(bytes(header + "\x10\x0c MQTT"), &used);
    EXPECT_EQ(p.status(), Status::Done);
    EXPECT_EQ(p.version(), 1);
    EXPECT_EQ(p.source(), std::optional<std::string>("192.0.2.10:40000"));
    EXPECT_EQ(used, header.size()) << "the CONNECT after the header is left for the next layer";
}

TEST(ProxyProtocol, V1Tcp6) {
    auto p = parse(bytes("PROXY TCP6 2001:DB8::1 2001:db8::2 1234 8883\r\n"));
    ASSERT_EQ(p.status(), Status::Done);
    EXPECT_EQ(p.source(), std::optional<std::string>("[2001:db8::1]:1234"));
}

TEST(ProxyProtocol, V1UnknownKeepsTheSocketAddress) {
    auto p = parse(bytes("PROXY UNKNOWN\r\n"));
    ASSERT_EQ(p.status(), Status::Done);
    EXPECT_FALSE(p.source());
    auto q = parse(bytes("PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n"));
    ASSERT_EQ(q.status(), Status::Done);
    EXPECT_FALSE(q.source());
}

TEST(ProxyProtocol, V1IncompleteNeedsMore) {
    auto p = parse(bytes("PROXY TCP4 192.0.2.10 198.51.1"));
    EXPECT_EQ(p.status(), Status::NeedMore);
}

TEST(ProxyProtocol, MalformedV1IsAnError) {
    for (const char* bad : {"PROXY TCP4 192.0.2.10 198.51.100.1 40000\r\n",        // a field missing
                            "PROXY TCP4 2001:db8::1 198.51.100.1 40000 1883\r\n",  // IPv6 in TCP4
                            "PROXY TCP4 192.0.2.300 198.51.100.1 40000 1883\r\n",  // not an address
                            "PROXY TCP4 192.0.2.1 198.51.100.1 70000 1883\r\n",    // port out of range
                            "PROXY TCP4 192.0.2.1 198.51.100.1 0400 1883\r\n",     // leading zero
                            "PROXY TCP4 192.0.2.1  198.51.100.1 400 1883\r\n",     // double space
                            "PROXY UDP4 192.0.2.1 198.51.100.1 400 1883\r\n",      // not TCP
                            "PROXY TCP4 192.0.2.1 198.51.100.1 400 1883\n",        // LF without CR
                            "proxy TCP4 192.0.2.1 198.51.100.1 400 1883\r\n"}) {   // case
        SCOPED_TRACE(bad);
        auto p = parse(bytes(bad));
        EXPECT_EQ(p.status(), Status::Error);
        EXPECT_FALSE(p.error().empty());
    }
}

TEST(ProxyProtocol, OverlongV1IsAnError) {
    auto p = parse(bytes("PROXY UNKNOWN " + std::string(200, 'x') + "\r\n"));
    EXPECT_EQ(p.status(), Status::Error);
}

TEST(ProxyProtocol, SomethingElseIsAnErrorAtItsFirstByte) {
    std::size_t used = 0;
    // An MQTT CONNECT, a TLS ClientHello, an HTTP request: refused before the first byte that cannot start one.
    auto p = parse(bytes("\x10\x0c\x00\x04MQTT"), &used);
    EXPECT_EQ(p.status(), Status::Error);
    EXPECT_EQ(used, 1U);
    EXPECT_EQ(parse(bytes("\x16\x03\x01\x02\x00")).status(), Status::Error);
    EXPECT_EQ(parse(bytes("GET /mqtt HTTP/1.1\r\n")).status(), Status::Error);
    EXPECT_EQ(parse(bytes("PROXX TCP4")).status(), Status::Error);
}

TEST(ProxyProtocol, V2ProxyIpv4WithTlvs) {
    std::vector<std::uint8_t> body{192, 0, 2, 10, 198, 51, 100, 1, 0x9C, 0x40, 0x07, 0x5B};
    body.insert(body.end(), {0x04, 0x00, 0x03, 'a', 'b', 'c'});  // a TLV (PP2_TYPE_NOOP), skipped
    auto in = v2(0x21, 0x11, body);
    const std::size_t header = in.size();
    in.push_back(std::byte{0x10});
    std::size_t used = 0;
    auto p = parse(in, &used);
    ASSERT_EQ(p.status(), Status::Done);
    EXPECT_EQ(p.version(), 2);
    EXPECT_EQ(p.source(), std::optional<std::string>("192.0.2.10:40000"));
    EXPECT_EQ(used, header);
}

TEST(ProxyProtocol, V2ProxyIpv6) {
    std::vector<std::uint8_t> body(36, 0);
    body[0] = 0x20, body[1] = 0x01, body[2] = 0x0d, body[3] = 0xb8, body[15] = 0x05;  // 2001:db8::5
    body[31] = 0x01;                                                                  // ::1
    body[32] = 0x12, body[33] = 0x34;                                                 // port 4660
    auto p = parse(v2(0x21, 0x21, body));
    ASSERT_EQ(p.status(), Status::Done);
    EXPECT_EQ(p.source(), std::optional<std::string>("[2001:db8::5]:4660"));
}

TEST(ProxyProtocol, V2LocalAndUnspecKeepTheSocketAddress) {
    auto local = parse(v2(0x20, 0x00, {}));
    ASSERT_EQ(local.status(), Status::Done);
    EXPECT_FALSE(local.source());
    auto local_with_addresses = parse(v2(0x20, 0x11, {1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2}));
    ASSERT_EQ(local_with_addresses.status(), Status::Done);
    EXPECT_FALSE(local_with_addresses.source()) << "LOCAL ignores the addresses";
    auto unspec = parse(v2(0x21, 0x00, {}));
    ASSERT_EQ(unspec.status(), Status::Done);
    EXPECT_FALSE(unspec.source());
}

TEST(ProxyProtocol, MalformedV2IsAnError) {
    EXPECT_EQ(parse(v2(0x11, 0x11, std::vector<std::uint8_t>(12))).status(), Status::Error);  // version 1
    EXPECT_EQ(parse(v2(0x22, 0x11, std::vector<std::uint8_t>(12))).status(), Status::Error);  // command 2
    EXPECT_EQ(parse(v2(0x21, 0x11, std::vector<std::uint8_t>(8))).status(), Status::Error);   // short IPv4
    EXPECT_EQ(parse(v2(0x21, 0x21, std::vector<std::uint8_t>(12))).status(), Status::Error);  // short IPv6
    auto huge = v2(0x21, 0x11, {});
    huge[14] = std::byte{0xFF};
    huge[15] = std::byte{0xFF};
    EXPECT_EQ(parse(huge).status(), Status::Error) << "65535 bytes of TLVs are not buffered";
    auto partial = v2(0x21, 0x11, std::vector<std::uint8_t>(12));
    partial.resize(20);
    EXPECT_EQ(parse(partial).status(), Status::NeedMore);
}

TEST(ForwardedFor, FirstAddressOfXForwardedFor) {
    std::array<std::string_view, 2> xff{"203.0.113.7, 10.0.0.1", "10.0.0.2"};
    EXPECT_EQ(forwarded_client(xff, {}), std::optional<std::string>("203.0.113.7"));
    std::array<std::string_view, 1> v6{" 2001:DB8::7 ,10.0.0.1"};
    EXPECT_EQ(forwarded_client(v6, {}), std::optional<std::string>("2001:db8::7"));
    std::array<std::string_view, 1> with_port{"[2001:db8::7]:4711"};
    EXPECT_EQ(forwarded_client(with_port, {}), std::optional<std::string>("[2001:db8::7]:4711"));
    std::array<std::string_view, 1> v4_port{"203.0.113.7:5000"};
    EXPECT_EQ(forwarded_client(v4_port, {}), std::optional<std::string>("203.0.113.7:5000"));
}

TEST(ForwardedFor, ForwardedHeaderWhenNoXForwardedFor) {
    std::array<std::string_view, 1> fwd{"for=192.0.2.60;proto=http;by=203.0.113.43, for=198.51.100.17"};
    EXPECT_EQ(forwarded_client({}, fwd), std::optional<std::string>("192.0.2.60"));
    std::array<std::string_view, 1> quoted{"proto=https; For=\"[2001:db8:cafe::17]:4711\""};
    EXPECT_EQ(forwarded_client({}, quoted), std::optional<std::string>("[2001:db8:cafe::17]:4711"));
    std::array<std::string_view, 1> xff{"203.0.113.7"};
    EXPECT_EQ(forwarded_client(xff, fwd), std::optional<std::string>("203.0.113.7")) << "X-Forwarded-For first";
}

TEST(ForwardedFor, NothingUsableKeepsTheSocketAddress) {
    for (std::string_view bad :
         {"unknown", "_hidden", "not an address", "300.1.1.1", "[2001:db8::1", "1.2.3.4:99999", ""}) {
        SCOPED_TRACE(bad);
        std::array<std::string_view, 1> xff{bad};
        EXPECT_FALSE(forwarded_client(xff, {}));
    }
    std::array<std::string_view, 1> fwd{"for=unknown"};
    EXPECT_FALSE(forwarded_client({}, fwd));
    std::array<std::string_view, 1> no_for{"proto=http;by=1.2.3.4"};
    EXPECT_FALSE(forwarded_client({}, no_for));
    EXPECT_FALSE(forwarded_client({}, {}));
}

TEST(Origin, EmptyListAndStarAllowEverything) {
    EXPECT_TRUE(origin_allowed("https://evil.example", {}));
    const std::vector<std::string> star{"*"};
    EXPECT_TRUE(origin_allowed("https://evil.example", star));
    EXPECT_TRUE(origin_allowed("null", star));
}

TEST(Origin, ExactOrigins) {
    const std::vector<std::string> allowed{"https://console.example.com:8443", "http://localhost:8080",
                                           "https://plain.example.com"};
    EXPECT_TRUE(origin_allowed("https://console.example.com:8443", allowed));
    EXPECT_TRUE(origin_allowed("HTTPS://Console.Example.COM:8443", allowed));
    EXPECT_TRUE(origin_allowed("http://localhost:8080", allowed));
    EXPECT_TRUE(origin_allowed("https://plain.example.com", allowed));
    EXPECT_TRUE(origin_allowed("https://plain.example.com:443", allowed)) << "the default port written out";
    EXPECT_FALSE(origin_allowed("https://console.example.com", allowed)) << "another port";
    EXPECT_FALSE(origin_allowed("http://console.example.com:8443", allowed)) << "another scheme";
    EXPECT_FALSE(origin_allowed("https://console.example.com.evil.example:8443", allowed));
    EXPECT_FALSE(origin_allowed("http://localhost:80", allowed));
    EXPECT_FALSE(origin_allowed("null", allowed));
    EXPECT_FALSE(origin_allowed("", allowed));
    EXPECT_FALSE(origin_allowed("https://plain.example.com/path", allowed));
}

TEST(Origin, HostWildcards) {
    const std::vector<std::string> allowed{"https://*.example.com"};
    EXPECT_TRUE(origin_allowed("https://a.example.com", allowed));
    EXPECT_TRUE(origin_allowed("https://a.b.example.com", allowed));
    EXPECT_FALSE(origin_allowed("https://example.com", allowed)) << "the wildcard needs a subdomain";
    EXPECT_FALSE(origin_allowed("https://badexample.com", allowed));
    EXPECT_FALSE(origin_allowed("https://a.example.com:8443", allowed));
    EXPECT_FALSE(origin_allowed("http://a.example.com", allowed));
}

}  // namespace
}  // namespace moth::server
