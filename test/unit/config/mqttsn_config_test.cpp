// [mqttsn] and the mqttsn/mqttsns listener kinds (docs/mqtt-sn.md).
#include <gtest/gtest.h>

#include "config/config.hpp"

namespace moth::config {
namespace {

std::vector<std::string> errors_of(std::string_view text) {
    std::vector<std::string> out;
    for (const auto& e : parse_config(text, "sn.toml").errors) out.push_back(e.to_string());
    return out;
}

TEST(ConfigMqttSn, ReadsTheTableAndThePredefinedTopics) {
    const LoadResult r = parse_config(R"(
[mqttsn]
gateway_id = 7
advertise_interval_s = 0
retry_interval_ms = 250
max_retries = 2
client_ids = ["sensor-*"]
allow_addresses = ["127.0.0.0/8", "::1"]
username = "devices"
[mqttsn.predefined]
1 = "mytopic/temp"
2 = "mytopic/humid"
[[listener]]
kind = "mqttsn"
port = 0
[[listener]]
kind = "mqttsns"
port = 0
)",
                                      "sn.toml");
    ASSERT_TRUE(r.ok()) << r.errors.front().to_string();
    const MqttSn& sn = r.config.mqttsn;
    EXPECT_EQ(sn.gateway_id, 7U);
    EXPECT_EQ(sn.advertise_interval_s, 0U);
    EXPECT_EQ(sn.retry_interval_ms, 250U);
    EXPECT_EQ(sn.max_retries, 2U);
    EXPECT_EQ(sn.client_ids, std::vector<std::string>{"sensor-*"});
    EXPECT_EQ(sn.allow_addresses, (std::vector<std::string>{"127.0.0.0/8", "::1"}));
    EXPECT_EQ(sn.username, "devices");
    EXPECT_EQ(sn.predefined, (std::map<std::uint16_t, std::string>{{1, "mytopic/temp"}, {2, "mytopic/humid"}}));
    ASSERT_EQ(r.config.listeners.size(), 2U);
    EXPECT_EQ(r.config.listeners[0].kind, ListenerKind::MqttSn);
    EXPECT_EQ(r.config.listeners[1].kind, ListenerKind::MqttSns);
    EXPECT_EQ(default_port(ListenerKind::MqttSn), 1884);
    EXPECT_EQ(default_port(ListenerKind::MqttSns), 1885);
    EXPECT_TRUE(is_tls(ListenerKind::MqttSns));
    EXPECT_TRUE(is_datagram(ListenerKind::MqttSns));
    EXPECT_FALSE(is_datagram(ListenerKind::Mqtt));
}

TEST(ConfigMqttSn, BadValuesNameTheirLine) {
    EXPECT_EQ(errors_of("[mqttsn]\ngateway_id = 0\n"),
              std::vector<std::string>{"sn.toml:2: mqttsn.gateway_id: must be between 1 and 255, got 0"});
    EXPECT_EQ(errors_of("[mqttsn]\nallow_addresses = [\"10.0.0.0/99\"]\n").size(), 1U);
    EXPECT_EQ(errors_of("[mqttsn]\nadvertise_address = \"broadcast\"\n").size(), 1U);
    const auto bad_id = errors_of("[mqttsn.predefined]\n0 = \"a/b\"\n");
    ASSERT_EQ(bad_id.size(), 1U);
    EXPECT_NE(bad_id[0].find("mqttsn.predefined: key \"0\": expected a topic id from 1 to 65535"), std::string::npos)
        << bad_id[0];
    const auto wildcard = errors_of("[mqttsn.predefined]\n3 = \"a/#\"\n");
    ASSERT_EQ(wildcard.size(), 1U);
    EXPECT_NE(wildcard[0].find("key \"3\""), std::string::npos) << wildcard[0];
    const auto twice = errors_of("[mqttsn.predefined]\n3 = \"a/b\"\n4 = \"a/b\"\n");
    ASSERT_EQ(twice.size(), 1U);
    EXPECT_NE(twice[0].find("already has id 3"), std::string::npos) << twice[0];
    EXPECT_EQ(errors_of("[mqttsn]\nunknown = 1\n").size(), 1U);
}

TEST(ConfigMqttSn, AdvertiseAddressTakesAnIpWithOrWithoutAPort) {
    const auto check = [](std::string_view text, const char* ip, std::uint16_t port) {
        const auto t = advertise_target(text);
        ASSERT_TRUE(t.has_value()) << text;
        EXPECT_EQ(t->ip, ip) << text;
        EXPECT_EQ(t->port, port) << text;
    };
    check("255.255.255.255", "255.255.255.255", 0);
    check("10.0.0.255:1884", "10.0.0.255", 1884);
    check("ff02::1", "ff02::1", 0);
    check("[ff02::1]:1885", "ff02::1", 1885);
    check("[::1]", "::1", 0);
    for (const char* bad : {"broadcast", "10.0.0.255:", "10.0.0.255:0", "10.0.0.255:70000", "[ff02::1", "[1.2.3.4]:5",
                            "host:1884", "[ff02::1]x"}) {
        EXPECT_FALSE(advertise_target(bad).has_value()) << bad;
    }
    EXPECT_TRUE(errors_of("[mqttsn]\nadvertise_address = \"127.0.0.1:9\"\n").empty());
}

TEST(ConfigMqttSn, UdpAndTcpPortsDoNotCollideButTwoUdpListenersDo) {
    EXPECT_TRUE(errors_of("[[listener]]\nkind = \"mqtt\"\nport = 1884\n[[listener]]\nkind = \"mqttsn\"\nport = 1884\n")
                    .empty());
    EXPECT_EQ(errors_of("[[listener]]\nkind = \"mqttsn\"\nport = 1884\n[[listener]]\nkind = \"mqttsns\"\nport = 1884\n")
                  .size(),
              1U);
}

TEST(ConfigMqttSn, TcpOnlyKeysAreRefusedOnDatagramListeners) {
    EXPECT_EQ(errors_of("[[listener]]\nkind = \"mqttsn\"\nproxy_protocol = true\n"),
              std::vector<std::string>{"sn.toml:3: listener.0.proxy_protocol: only applies to TCP listeners"});
    EXPECT_EQ(errors_of("[[listener]]\nkind = \"mqttsn\"\ncert_file = \"a.pem\"\nkey_file = \"a.key\"\n").size(), 2U);
    EXPECT_TRUE(errors_of("[[listener]]\nkind = \"mqttsns\"\ncert_file = \"a.pem\"\nkey_file = \"a.key\"\n").empty());
}

TEST(ConfigMqttSn, OverridesAndDifferencesKnowTheTable) {
    Config a = default_config();
    Config b = a;
    b.mqttsn.max_retries = 9;
    EXPECT_EQ(differences(a, b), std::vector<std::string>{"mqttsn.max_retries"});
    // The gateway's listeners read their settings when they start: SIGHUP cannot apply these.
    EXPECT_EQ(reload_differences(a, b), std::vector<std::string>{"mqttsn.max_retries"});
    Config c = a;
    ASSERT_EQ(c.listeners[5].kind, ListenerKind::MqttSn);
    c.listeners[5].allow_anonymous = false;
    c.listeners[0].allow_anonymous = false;  // a TCP listener's: applied to new connections on SIGHUP
    EXPECT_EQ(reload_differences(a, c), std::vector<std::string>{"listener.5.allow_anonymous"});
}

}  // namespace
}  // namespace moth::config
