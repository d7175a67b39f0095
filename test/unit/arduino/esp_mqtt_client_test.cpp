// EspMQTTClient's constructors and defaults, and its messages when nothing is connected (no sockets needed).
#include <gtest/gtest.h>

#include <string>

#include "EspMQTTClient.h"
#include "arduino/device.hpp"

namespace {

using moth::arduino::Device;
using moth::arduino::DeviceOptions;

class EspMqtt : public testing::Test {
protected:
    void SetUp() override {
        device_.freeze();  // only advance() moves the clock: a loaded CI machine cannot skip a millisecond check
        moth::arduino::set_current_device(&device_);
    }
    void TearDown() override { moth::arduino::set_current_device(nullptr); }
    Device device_{DeviceOptions{}, 0};
};

TEST_F(EspMqtt, DefaultsAreTheLibrarys) {
    EspMQTTClient client("ssid", "password", "broker.hivemq.com", "TEST", 1883);
    EXPECT_EQ(client.pubSubClient().getKeepAlive(), 15);       // MQTT_KEEPALIVE
    EXPECT_EQ(client.pubSubClient().getBufferSize(), 256);     // MQTT_MAX_PACKET_SIZE
    EXPECT_EQ(client.pubSubClient().getSocketTimeout(), 15);   // MQTT_SOCKET_TIMEOUT
    EXPECT_EQ(client.mqttReconnectionAttemptDelay(), 15000u);  // 15 s between MQTT attempts
    EXPECT_EQ(client.wifiReconnectionAttemptDelay(), 60000u);  // 60 s for WiFi
    EXPECT_FALSE(client.isConnected());
    EXPECT_FALSE(client.isWifiConnected());
    EXPECT_FALSE(client.isMqttConnected());
    EXPECT_EQ(client.getConnectionEstablishedCount(), 0u);

    client.setKeepAlive(30);
    client.setMqttReconnectionAttemptDelay(2000);
    client.setWifiReconnectionAttemptDelay(3000);
    EXPECT_TRUE(client.setMaxPacketSize(1024));
    EXPECT_EQ(client.pubSubClient().getKeepAlive(), 30);
    EXPECT_EQ(client.pubSubClient().getBufferSize(), 1024);
    EXPECT_EQ(client.mqttReconnectionAttemptDelay(), 2000u);
    EXPECT_EQ(client.wifiReconnectionAttemptDelay(), 3000u);
}

TEST_F(EspMqtt, FiveConstructors) {
    EspMQTTClient wifi_no_auth("ssid", "pw", "host-a", "A", 1884);
    EXPECT_STREQ(wifi_no_auth.getMqttServerIp(), "host-a");
    EXPECT_STREQ(wifi_no_auth.getMqttClientName(), "A");
    EXPECT_EQ(wifi_no_auth.getMqttServerPort(), 1884);

    EspMQTTClient wifi_auth("ssid", "pw", "host-b", "user", "pass", "B", 1885);
    EXPECT_STREQ(wifi_auth.getMqttServerIp(), "host-b");
    EXPECT_STREQ(wifi_auth.getMqttClientName(), "B");
    EXPECT_EQ(wifi_auth.getMqttServerPort(), 1885);

    EspMQTTClient mqtt_auth("host-c", 1886, "user", "pass", "C");  // port second
    EXPECT_STREQ(mqtt_auth.getMqttServerIp(), "host-c");
    EXPECT_STREQ(mqtt_auth.getMqttClientName(), "C");
    EXPECT_EQ(mqtt_auth.getMqttServerPort(), 1886);

    EspMQTTClient mqtt_no_auth("host-d", 1887, "D");
    EXPECT_STREQ(mqtt_no_auth.getMqttServerIp(), "host-d");
    EXPECT_STREQ(mqtt_no_auth.getMqttClientName(), "D");
    EXPECT_EQ(mqtt_no_auth.getMqttServerPort(), 1887);

    EspMQTTClient defaults;  // port and name only, both defaulted
    EXPECT_EQ(defaults.getMqttServerPort(), 1883);
    EXPECT_STREQ(defaults.getMqttClientName(), "ESP32");
    defaults.setMqttServer("host-e", "u", "p", 1999);
    defaults.setMqttClientName("E");
    EXPECT_STREQ(defaults.getMqttServerIp(), "host-e");
    EXPECT_EQ(defaults.getMqttServerPort(), 1999);
    EXPECT_STREQ(defaults.getMqttClientName(), "E");

    EspMQTTClient named_default(1890);
    EXPECT_EQ(named_default.getMqttServerPort(), 1890);
    EXPECT_STREQ(named_default.getMqttClientName(), "ESP32");
}

TEST_F(EspMqtt, DebuggingMessagesUseTheLibrarysTexts) {
    EspMQTTClient client("ssid", "pw", "broker", "T", 1883);
    testing::internal::CaptureStdout();
    EXPECT_FALSE(client.publish("a/b", "x"));  // silent: debugging is off
    client.enableDebuggingMessages();
    EXPECT_FALSE(client.publish("a/b", "x"));
    EXPECT_FALSE(client.subscribe("a/b", [](const String&) {}));
    EXPECT_FALSE(client.subscribe("a/+", [](const String&, const String&) {}));
    EXPECT_FALSE(client.unsubscribe("a/b"));
    EXPECT_FALSE(client.setMaxPacketSize(0));
    client.enableHTTPWebUpdater();
    client.enableHTTPWebUpdater();
    const std::string out = testing::internal::GetCapturedStdout();
    EXPECT_EQ(out,
              "MQTT! Trying to publish when disconnected, skipping.\n"
              "MQTT! Trying to subscribe when disconnected, skipping.\n"
              "MQTT! Trying to subscribe when disconnected, skipping.\n"
              "MQTT! Trying to unsubscribe when disconnected, skipping.\n"
              "MQTT! failed to set the max packet size.\n"
              "SYS! You can't call enableHTTPWebUpdater() more than once !\n");
}

TEST_F(EspMqtt, FirstLoopsFollowTheLibrarysWiFiTiming) {
    EspMQTTClient client("ssid", "pw", "broker", "T", 1883);
    client.enableDebuggingMessages();
    testing::internal::CaptureStdout();
    client.loop();  // first call: WiFi reset, attempt scheduled 500 ms later
    device_.advance(499);
    client.loop();
    EXPECT_FALSE(client.isWifiConnected());
    device_.advance(1);
    client.loop();  // the attempt: WiFi.begin() connects at once on Linux
    client.loop();  // the next call sees it
    EXPECT_TRUE(client.isWifiConnected());
    EXPECT_FALSE(client.isMqttConnected());
    const std::string out = testing::internal::GetCapturedStdout();
    EXPECT_NE(out.find("\nWiFi: Connecting to ssid ... (0.500000s) \n"), std::string::npos) << out;
    EXPECT_NE(out.find("WiFi: Connected (0.500000s), ip : 10.77.0.2 \n"), std::string::npos) << out;
}

TEST_F(EspMqtt, DelayedExecutionRunsWhenDue) {
    EspMQTTClient client("broker", 1883, "T");  // MQTT only: no WiFi handling
    int runs = 0;
    client.executeDelayed(300, [&] { ++runs; });
    client.loop();  // WiFi is there; this call ends on that change
    client.loop();  // the MQTT attempt is 500 ms away: delayed callbacks are processed, none is due
    EXPECT_EQ(runs, 0);
    device_.advance(299);
    client.loop();
    EXPECT_EQ(runs, 0);
    device_.advance(1);
    client.loop();
    EXPECT_EQ(runs, 1);
    client.loop();
    EXPECT_EQ(runs, 1);  // once
}

}  // namespace
