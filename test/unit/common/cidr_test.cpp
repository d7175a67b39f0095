// IP ranges for [[ban]] address = "...": parsing, canonical text, and matching the addresses mothd's connections
// print (with and without ports, IPv6 in brackets, IPv4-mapped IPv6).
#include "common/cidr.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>

namespace moth {
namespace {

Cidr must_parse(std::string_view text) {
    const auto c = parse_cidr(text);
    EXPECT_TRUE(c.has_value()) << text;
    return c.value_or(Cidr{});
}

TEST(Cidr, ParsesSingleAddressesAsFullPrefixes) {
    const Cidr v4 = must_parse("192.0.2.7");
    EXPECT_TRUE(v4.v4);
    EXPECT_EQ(v4.prefix, 32);
    EXPECT_EQ(v4.bytes[0], 192);
    EXPECT_EQ(v4.bytes[3], 7);
    EXPECT_EQ(v4.bytes[4], 0);  // the unused bytes stay 0, so == compares the address alone
    const Cidr v6 = must_parse("::1");
    EXPECT_FALSE(v6.v4);
    EXPECT_EQ(v6.prefix, 128);
    EXPECT_EQ(v6.bytes[15], 1);
    EXPECT_EQ(must_parse("192.0.2.7/32"), v4);
    EXPECT_EQ(must_parse("::1/128"), v6);
}

TEST(Cidr, ParsesRanges) {
    const Cidr ten = must_parse("10.0.0.0/8");
    EXPECT_TRUE(ten.v4);
    EXPECT_EQ(ten.prefix, 8);
    const Cidr doc = must_parse("2001:db8::/32");
    EXPECT_FALSE(doc.v4);
    EXPECT_EQ(doc.prefix, 32);
    EXPECT_EQ(doc.bytes[0], 0x20);
    EXPECT_EQ(doc.bytes[3], 0xb8);
    EXPECT_EQ(must_parse("0.0.0.0/0").prefix, 0);
    EXPECT_EQ(must_parse("::/0").prefix, 0);
    EXPECT_EQ(must_parse("192.0.2.6/31").prefix, 31);
    EXPECT_EQ(must_parse("2001:db8::/127").prefix, 127);
    // IPv4-mapped IPv6 text stays IPv6 (it matches IPv4 addresses through the mapping, see below).
    EXPECT_FALSE(must_parse("::ffff:10.0.0.0/104").v4);
}

TEST(Cidr, RefusesHostBitsBeyondThePrefix) {
    EXPECT_EQ(parse_cidr("10.0.0.1/8"), std::nullopt);
    EXPECT_EQ(parse_cidr("192.0.2.7/31"), std::nullopt);  // the last bit is a host bit at /31
    EXPECT_EQ(parse_cidr("1.0.0.0/0"), std::nullopt);
    EXPECT_EQ(parse_cidr("2001:db8::1/127"), std::nullopt);
    EXPECT_EQ(parse_cidr("2001:db8::1/64"), std::nullopt);
    EXPECT_EQ(parse_cidr("::1/0"), std::nullopt);
}

TEST(Cidr, RefusesGarbage) {
    for (const std::string_view bad :
         {"", "/", "/8", "10.0.0.0/", "10.0.0.0/33", "::/129", "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0.0/08",
          "10.0.0.0/8x", "10.0.0.0/8/8", "10.0.0.0/1000", "10.0.0", "10.0.0.0.0", "256.0.0.1", "010.0.0.1",
          "10.0.0.1:1883", "[::1]", "[::1]/128", "::1%lo", "fe80::1%eth0/64", "localhost", "example.com",
          " 10.0.0.1", "10.0.0.1 ", "1:2:3:4:5:6:7:8:9", "gggg::", "::1::2"}) {
        EXPECT_EQ(parse_cidr(bad), std::nullopt) << bad;
    }
}

TEST(Cidr, CanonicalTextRoundTrips) {
    EXPECT_EQ(to_string(must_parse("10.0.0.0/8")), "10.0.0.0/8");
    EXPECT_EQ(to_string(must_parse("192.0.2.7")), "192.0.2.7");
    EXPECT_EQ(to_string(must_parse("192.0.2.7/32")), "192.0.2.7");
    EXPECT_EQ(to_string(must_parse("::1")), "::1");
    EXPECT_EQ(to_string(must_parse("0:0:0:0:0:0:0:1/128")), "::1");
    EXPECT_EQ(to_string(must_parse("2001:DB8:0:0::/32")), "2001:db8::/32");
    EXPECT_EQ(to_string(must_parse("0.0.0.0/0")), "0.0.0.0/0");
    EXPECT_EQ(to_string(must_parse("::/0")), "::/0");
    for (const std::string_view text : {"10.0.0.0/8", "192.0.2.6/31", "2001:db8::/127", "::ffff:10.0.0.0/104"}) {
        const Cidr c = must_parse(text);
        EXPECT_EQ(parse_cidr(to_string(c)), c) << text;
    }
}

TEST(Cidr, ContainsIpv4AddressesWithAndWithoutPorts) {
    const Cidr ten = must_parse("10.0.0.0/8");
    EXPECT_TRUE(cidr_contains(ten, "10.0.0.0"));
    EXPECT_TRUE(cidr_contains(ten, "10.255.255.255"));
    EXPECT_TRUE(cidr_contains(ten, "10.1.2.3:5000"));
    EXPECT_FALSE(cidr_contains(ten, "11.0.0.0"));
    EXPECT_FALSE(cidr_contains(ten, "9.255.255.255:1"));
    const Cidr one = must_parse("192.0.2.7");
    EXPECT_TRUE(cidr_contains(one, "192.0.2.7:65535"));
    EXPECT_FALSE(cidr_contains(one, "192.0.2.6"));
    EXPECT_FALSE(cidr_contains(one, "192.0.2.8"));
}

TEST(Cidr, PrefixEdges) {
    const Cidr all4 = must_parse("0.0.0.0/0");
    EXPECT_TRUE(cidr_contains(all4, "0.0.0.0"));
    EXPECT_TRUE(cidr_contains(all4, "255.255.255.255:1"));
    EXPECT_TRUE(cidr_contains(all4, "::ffff:1.2.3.4"));  // a mapped IPv4 address is an IPv4 address
    EXPECT_FALSE(cidr_contains(all4, "::1"));            // IPv6 proper is not in an IPv4 range
    const Cidr all6 = must_parse("::/0");
    EXPECT_TRUE(cidr_contains(all6, "::1"));
    EXPECT_TRUE(cidr_contains(all6, "[2001:db8::1]:80"));
    EXPECT_TRUE(cidr_contains(all6, "1.2.3.4"));  // as ::ffff:1.2.3.4
    const Cidr pair = must_parse("192.0.2.6/31");
    EXPECT_TRUE(cidr_contains(pair, "192.0.2.6"));
    EXPECT_TRUE(cidr_contains(pair, "192.0.2.7"));
    EXPECT_FALSE(cidr_contains(pair, "192.0.2.5"));
    EXPECT_FALSE(cidr_contains(pair, "192.0.2.8"));
    const Cidr pair6 = must_parse("2001:db8::/127");
    EXPECT_TRUE(cidr_contains(pair6, "2001:db8::"));
    EXPECT_TRUE(cidr_contains(pair6, "2001:db8::1"));
    EXPECT_FALSE(cidr_contains(pair6, "2001:db8::2"));
    // A prefix that ends inside a byte: /12 keeps the high nibble of the second byte.
    const Cidr twelve = must_parse("172.16.0.0/12");
    EXPECT_TRUE(cidr_contains(twelve, "172.31.255.255"));
    EXPECT_FALSE(cidr_contains(twelve, "172.32.0.0"));
    EXPECT_FALSE(cidr_contains(twelve, "172.15.255.255"));
}

TEST(Cidr, ContainsIpv6InEveryForm) {
    const Cidr loop = must_parse("::1");
    EXPECT_TRUE(cidr_contains(loop, "::1"));
    EXPECT_TRUE(cidr_contains(loop, "[::1]"));
    EXPECT_TRUE(cidr_contains(loop, "[::1]:5000"));
    EXPECT_FALSE(cidr_contains(loop, "::2"));
    const Cidr doc = must_parse("2001:db8::/32");
    EXPECT_TRUE(cidr_contains(doc, "2001:db8:ffff::1"));
    EXPECT_TRUE(cidr_contains(doc, "[2001:DB8::1]:1883"));
    EXPECT_FALSE(cidr_contains(doc, "2001:db9::1"));
}

TEST(Cidr, MappedIpv4MatchesIpv4RangesAndBack) {
    const Cidr loop = must_parse("127.0.0.0/8");
    EXPECT_TRUE(cidr_contains(loop, "::ffff:127.0.0.1"));
    EXPECT_TRUE(cidr_contains(loop, "[::ffff:127.0.0.1]:5000"));
    EXPECT_TRUE(cidr_contains(loop, "::ffff:7f00:1"));  // the same address in hex
    EXPECT_FALSE(cidr_contains(loop, "::ffff:128.0.0.1"));
    EXPECT_FALSE(cidr_contains(loop, "::127.0.0.1"));  // IPv4-compatible (deprecated), not mapped
    // A range written in mapped form matches plain IPv4 addresses.
    const Cidr mapped = must_parse("::ffff:10.0.0.0/104");
    EXPECT_TRUE(cidr_contains(mapped, "10.9.8.7:1"));
    EXPECT_TRUE(cidr_contains(mapped, "::ffff:10.9.8.7"));
    EXPECT_FALSE(cidr_contains(mapped, "11.0.0.0"));
}

TEST(Cidr, UnbracketedIpv6WithAPort) {
    // An IPv6 address followed by ":port" without brackets is ambiguous; it reads as a whole address when it is
    // one, else the last ":<digits>" is the port.
    EXPECT_TRUE(cidr_contains(must_parse("127.0.0.1"), "::ffff:127.0.0.1:5000"));
    EXPECT_TRUE(cidr_contains(must_parse("2001:db8::1:4711"), "2001:db8::1:4711"));
}

TEST(Cidr, AddressesThatDoNotParseMatchNothing) {
    const Cidr all4 = must_parse("0.0.0.0/0");
    const Cidr all6 = must_parse("::/0");
    for (const std::string_view bad :
         {"", "?", "localhost", "localhost:1883", "10.0.0", "10.0.0.1:", "10.0.0.1:65536", "10.0.0.1:x",
          "10.0.0.1:-1", "[10.0.0.1]:1883", "[::1", "[::1]x", "[::1]:", "[::1]:99999", "::1%lo", "1.2.3.4/8",
          "10.0.0.1 ", "::1::2:5000"}) {
        EXPECT_FALSE(cidr_contains(all4, bad)) << bad;
        EXPECT_FALSE(cidr_contains(all6, bad)) << bad;
    }
}

}  // namespace
}  // namespace moth
