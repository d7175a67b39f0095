// Broker URLs: every accepted form, its defaults, the round trip through to_string, and every refusal.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "net/stream.hpp"

namespace moth::net {
namespace {

struct Good {
    std::string text;
    Scheme scheme;
    std::string host;
    std::uint16_t port;
    std::string path;
    std::string canonical;  // to_string of the result
};

std::vector<Good> good() {
    return {
        {"mqtt://broker.example", Scheme::Mqtt, "broker.example", 1883, "/mqtt", "mqtt://broker.example:1883"},
        {"mqtt://broker.example:1884", Scheme::Mqtt, "broker.example", 1884, "/mqtt", "mqtt://broker.example:1884"},
        {"mqtt://broker.example/", Scheme::Mqtt, "broker.example", 1883, "/mqtt", "mqtt://broker.example:1883"},
        {"MQTT://Broker.Example", Scheme::Mqtt, "Broker.Example", 1883, "/mqtt", "mqtt://Broker.Example:1883"},
        {"mqtts://broker.example", Scheme::Mqtts, "broker.example", 8883, "/mqtt", "mqtts://broker.example:8883"},
        {"mqtts://10.0.0.1:9999", Scheme::Mqtts, "10.0.0.1", 9999, "/mqtt", "mqtts://10.0.0.1:9999"},
        {"ws://broker.example", Scheme::Ws, "broker.example", 80, "/mqtt", "ws://broker.example:80/mqtt"},
        {"ws://broker.example:8000", Scheme::Ws, "broker.example", 8000, "/mqtt", "ws://broker.example:8000/mqtt"},
        {"ws://broker.example:8000/", Scheme::Ws, "broker.example", 8000, "/", "ws://broker.example:8000/"},
        {"ws://h/a/b?c=d", Scheme::Ws, "h", 80, "/a/b?c=d", "ws://h:80/a/b?c=d"},
        {"ws://h?c=d", Scheme::Ws, "h", 80, "/?c=d", "ws://h:80/?c=d"},
        {"wss://broker.example", Scheme::Wss, "broker.example", 443, "/mqtt", "wss://broker.example:443/mqtt"},
        {"wss://broker.example:8884/mqtt", Scheme::Wss, "broker.example", 8884, "/mqtt",
         "wss://broker.example:8884/mqtt"},
        {"mqtt://[::1]", Scheme::Mqtt, "::1", 1883, "/mqtt", "mqtt://[::1]:1883"},
        {"mqtt://[::1]:1884", Scheme::Mqtt, "::1", 1884, "/mqtt", "mqtt://[::1]:1884"},
        {"mqtts://[2001:db8::1]:8883", Scheme::Mqtts, "2001:db8::1", 8883, "/mqtt", "mqtts://[2001:db8::1]:8883"},
        {"ws://[fe80::1%eth0]:8000/ws", Scheme::Ws, "fe80::1%eth0", 8000, "/ws", "ws://[fe80::1%eth0]:8000/ws"},
        {"wss://[::ffff:127.0.0.1]", Scheme::Wss, "::ffff:127.0.0.1", 443, "/mqtt",
         "wss://[::ffff:127.0.0.1]:443/mqtt"},
        // A bare host[:port] is plain MQTT.
        {"localhost", Scheme::Mqtt, "localhost", 1883, "/mqtt", "mqtt://localhost:1883"},
        {"localhost:1884", Scheme::Mqtt, "localhost", 1884, "/mqtt", "mqtt://localhost:1884"},
        {"127.0.0.1:65535", Scheme::Mqtt, "127.0.0.1", 65535, "/mqtt", "mqtt://127.0.0.1:65535"},
        {"[::1]:1", Scheme::Mqtt, "::1", 1, "/mqtt", "mqtt://[::1]:1"},
        {"my_host-1.lan", Scheme::Mqtt, "my_host-1.lan", 1883, "/mqtt", "mqtt://my_host-1.lan:1883"},
    };
}

TEST(ParseUrl, AcceptsEveryForm) {
    for (const auto& g : good()) {
        const auto r = parse_url(g.text);
        ASSERT_TRUE(r.has_value()) << g.text << ": " << r.error();
        EXPECT_EQ(r->scheme, g.scheme) << g.text;
        EXPECT_EQ(r->host, g.host) << g.text;
        EXPECT_EQ(r->port, g.port) << g.text;
        EXPECT_EQ(r->path, g.path) << g.text;
        EXPECT_EQ(to_string(*r), g.canonical) << g.text;
    }
}

TEST(ParseUrl, ToStringRoundTrips) {
    for (const auto& g : good()) {
        const auto first = parse_url(g.text);
        ASSERT_TRUE(first.has_value()) << g.text;
        const auto again = parse_url(to_string(*first));
        ASSERT_TRUE(again.has_value()) << to_string(*first) << ": " << again.error();
        EXPECT_EQ(again->scheme, first->scheme) << g.text;
        EXPECT_EQ(again->host, first->host) << g.text;
        EXPECT_EQ(again->port, first->port) << g.text;
        EXPECT_EQ(again->path, first->path) << g.text;
    }
}

TEST(ToString, DefaultUrlIsLocalMqtt) {
    EXPECT_EQ(to_string(Url{}), "mqtt://localhost:1883");
}

struct Bad {
    std::string text;
    std::string message_part;  // the error must say this
};

TEST(ParseUrl, RefusesWithAClearMessage) {
    const std::vector<Bad> bad = {
        {"", "empty URL"},
        {"http://h", "unsupported scheme 'http'"},
        {"tcp://h:1883", "unsupported scheme 'tcp'"},
        {"://h", "unsupported scheme ''"},
        {"mqtt://", "missing host"},
        {"mqtt://:1883", "missing host"},
        {"ws:///mqtt", "missing host"},
        {"mqtt://h:", "missing port"},
        {"mqtt://h:0", "invalid port '0'"},
        {"mqtt://h:65536", "invalid port '65536'"},
        {"mqtt://h:-1", "invalid port '-1'"},
        {"mqtt://h:12a", "invalid port '12a'"},
        {"mqtt://h:99999999999999999999", "invalid port"},
        {"mqtt://::1", "must be in brackets"},
        {"::1", "must be in brackets"},
        {"mqtt://[::1", "missing ']'"},
        {"mqtt://[::1]x", "unexpected text after ']'"},
        {"mqtt://[::1]:", "missing port"},
        {"mqtt://[]:1883", "invalid IPv6 address"},
        {"mqtt://[zz::1]", "invalid IPv6 address"},
        {"mqtt://[127.0.0.1]", "invalid IPv6 address"},
        {"mqtt://user:pw@h", "user name"},
        {"mqtt://h/path", "only allowed in ws:// and wss://"},
        {"mqtts://h:8883/mqtt", "only allowed in ws:// and wss://"},
        {"ws://h/mqtt#frag", "fragment"},
        {"mqtt://h#x", "fragment"},
        {"mqtt://ho st", "white space"},
        {"mqtt://h*st", "invalid host name 'h*st'"},
    };
    for (const auto& b : bad) {
        const auto r = parse_url(b.text);
        ASSERT_FALSE(r.has_value()) << "accepted '" << b.text << "' as " << to_string(*r);
        EXPECT_NE(r.error().find(b.message_part), std::string::npos)
            << "'" << b.text << "' gave: " << r.error() << " (expected to mention: " << b.message_part << ")";
    }
}

TEST(ParseUrl, ErrorQuotesTheInput) {
    const auto r = parse_url("mqtt://h:70000");
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().find("'mqtt://h:70000'"), std::string::npos) << r.error();
}

}  // namespace
}  // namespace moth::net
