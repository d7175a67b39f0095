// moth device's options.
#include <gtest/gtest.h>

#include "arduino/device.hpp"

namespace {

using moth::arduino::DeviceOptions;
using moth::arduino::parse_device_options;

TEST(DeviceOptions, ParsesEveryOption) {
    DeviceOptions o;
    std::vector<std::string> positional;
    const auto err = parse_device_options(
        {"sketch.ino", "--broker", "127.0.0.1:18830", "--client-id", "X", "--count", "1000", "--speed=10",
         "--duration", "60", "--sensor", "temperature=24", "--sensor", "humidity=40", "--sensor", "noise=0.5",
         "--sensor", "failure-rate=0.1", "--sensor", "csv=data.csv", "--seed", "7", "--disconnect-on-exit",
         "--no-pin-log"},
        o, positional);
    ASSERT_EQ(err, "");
    EXPECT_EQ(positional, std::vector<std::string>{"sketch.ino"});
    EXPECT_EQ(o.broker_host, "127.0.0.1");
    EXPECT_EQ(o.broker_port, 18830);
    EXPECT_EQ(o.client_id, "X");
    EXPECT_EQ(o.count, 1000u);
    EXPECT_EQ(o.speed, 10.0);
    EXPECT_EQ(o.duration_s, 60.0);
    EXPECT_EQ(o.sensor.temperature, 24.0);
    EXPECT_EQ(o.sensor.humidity, 40.0);
    EXPECT_EQ(o.sensor.noise, 0.5);
    EXPECT_EQ(o.sensor.failure_rate, 0.1);
    EXPECT_EQ(o.sensor.csv, "data.csv");
    EXPECT_EQ(o.seed, 7u);
    EXPECT_TRUE(o.disconnect_on_exit);
    EXPECT_FALSE(o.log_pins);
}

TEST(DeviceOptions, BrokerPortDefaultsTo1883AndIpv6NeedsBrackets) {
    DeviceOptions o;
    std::vector<std::string> p;
    ASSERT_EQ(parse_device_options({"--broker", "localhost"}, o, p), "");
    EXPECT_EQ(o.broker_host, "localhost");
    EXPECT_EQ(o.broker_port, 1883);
    ASSERT_EQ(parse_device_options({"--broker", "[::1]:1884"}, o, p), "");
    EXPECT_EQ(o.broker_host, "::1");
    EXPECT_EQ(o.broker_port, 1884);
}

TEST(DeviceOptions, RefusesBadValuesWithAClearMessage) {
    const auto error_of = [](std::vector<std::string> args) {
        DeviceOptions o;
        std::vector<std::string> p;
        return parse_device_options(args, o, p);
    };
    EXPECT_EQ(error_of({"--count", "0"}), "--count must be within 1..100000");
    EXPECT_EQ(error_of({"--speed", "-1"}), "--speed must be a number within (0, 10000]");
    EXPECT_EQ(error_of({"--broker", "h:x"}), "--broker: bad port in 'h:x'");
    EXPECT_EQ(error_of({"--sensor", "humidity=120"}), "--sensor humidity must be within 0..100");
    EXPECT_EQ(error_of({"--sensor", "colour=red"}).rfind("unknown --sensor key 'colour'", 0), 0u);
    EXPECT_EQ(error_of({"--sensor", "noise"}), "--sensor expects KEY=VALUE, got 'noise'");
    EXPECT_EQ(error_of({"--frobnicate"}), "unknown option '--frobnicate'");
    EXPECT_EQ(error_of({"--duration"}), "--duration needs a value");
}

}  // namespace
