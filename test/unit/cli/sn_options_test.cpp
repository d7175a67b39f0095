// moth sn pub/sub/bench option parsing: defaults, the one-topic-form rule, QoS -1's limits, exit code 2.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "sn_options.hpp"

namespace moth::cli::sn {
namespace {

SnOptions ok(SnTool tool, std::vector<std::string> args) {
    auto r = parse(tool, args);
    EXPECT_TRUE(r.options.has_value()) << r.err;
    EXPECT_EQ(r.exit_code, 0);
    return r.options.value_or(SnOptions{});
}

std::string bad(SnTool tool, std::vector<std::string> args) {
    auto r = parse(tool, args);
    EXPECT_FALSE(r.options.has_value());
    EXPECT_FALSE(r.bench.has_value());
    EXPECT_EQ(r.exit_code, kExitBadOptions);
    return r.err;
}

TEST(SnParsePub, DefaultsAndTopicName) {
    const auto o = ok(SnTool::Pub, {"-t", "a/b", "-m", "hello"});
    EXPECT_EQ(o.gateway.host, "localhost");
    EXPECT_EQ(o.gateway.port, 1884);
    EXPECT_EQ(o.gateway.retry_ms, 1000u);
    EXPECT_EQ(o.gateway.tries, 5u);
    EXPECT_EQ(o.topic_kind, TopicKind::Name);
    EXPECT_EQ(o.topic, "a/b");
    EXPECT_EQ(o.message, "hello");
    EXPECT_EQ(o.qos, 0);
    EXPECT_TRUE(o.clean);
    EXPECT_EQ(o.keepalive_s, 60);
    EXPECT_EQ(o.count, 1u);
    EXPECT_FALSE(o.will);
    EXPECT_FALSE(o.sleep_s);
}

TEST(SnParsePub, AllFlags) {
    const auto o = ok(SnTool::Pub, {"-h",
                                    "::1",
                                    "-p",
                                    "11884",
                                    "-6",
                                    "-i",
                                    "dev1",
                                    "--short",
                                    "ab",
                                    "-m",
                                    "x",
                                    "-q",
                                    "2",
                                    "-r",
                                    "--count",
                                    "3",
                                    "--interval-ms",
                                    "50",
                                    "-k",
                                    "30",
                                    "--no-clean",
                                    "--will-topic",
                                    "w/t",
                                    "--will-payload",
                                    "gone",
                                    "--will-qos",
                                    "1",
                                    "--will-retain",
                                    "--sleep",
                                    "20",
                                    "--retry-ms",
                                    "200",
                                    "--retries",
                                    "3"});
    EXPECT_EQ(o.gateway.host, "::1");
    EXPECT_EQ(o.gateway.port, 11884);
    EXPECT_TRUE(o.gateway.ipv6);
    EXPECT_EQ(o.gateway.retry_ms, 200u);
    EXPECT_EQ(o.gateway.tries, 3u);
    EXPECT_EQ(o.id, "dev1");
    EXPECT_EQ(o.topic_kind, TopicKind::Short);
    EXPECT_EQ(o.topic, "ab");
    EXPECT_EQ(o.qos, 2);
    EXPECT_TRUE(o.retain);
    EXPECT_EQ(o.count, 3u);
    EXPECT_EQ(o.interval_ms, 50u);
    EXPECT_EQ(o.keepalive_s, 30);
    EXPECT_FALSE(o.clean);
    ASSERT_TRUE(o.will);
    EXPECT_EQ(o.will->topic, "w/t");
    EXPECT_EQ(o.will->payload, "gone");
    EXPECT_EQ(o.will->qos, 1);
    EXPECT_TRUE(o.will->retain);
    EXPECT_EQ(o.sleep_s, 20);
}

TEST(SnParsePub, QosMinusOneOnlyWithKnownIds) {
    // MQTT-SN 1.2 section 6.8: QoS -1 has no connection, so only short names and predefined ids.
    const auto o = ok(SnTool::Pub, {"--predefined", "7", "-m", "x", "-q", "-1"});
    EXPECT_EQ(o.qos, -1);
    EXPECT_EQ(o.topic_kind, TopicKind::Predefined);
    EXPECT_EQ(o.topic_id, 7);
    EXPECT_EQ(ok(SnTool::Pub, {"--short", "ab", "-m", "x", "--qos", "-1"}).qos, -1);
    EXPECT_NE(bad(SnTool::Pub, {"-t", "a/b", "-m", "x", "-q", "-1"}).find("QoS -1 needs"), std::string::npos);
    bad(SnTool::Pub, {"--short", "ab", "-m", "x", "-q", "-1", "--sleep", "5"});
}

TEST(SnParsePub, Rejects) {
    bad(SnTool::Pub, {"-m", "x"});                              // no topic
    bad(SnTool::Pub, {"-t", "a", "--short", "ab", "-m", "x"});  // two topic forms
    bad(SnTool::Pub, {"-t", "a"});                              // no message
    bad(SnTool::Pub, {"--short", "abc", "-m", "x"});            // not two characters
    bad(SnTool::Pub, {"-t", "a/+", "-m", "x"});                 // wildcard in a name
    bad(SnTool::Pub, {"-t", "a", "-m", "x", "-q", "3"});
    bad(SnTool::Pub, {"-t", "a", "-m", "x", "-q", "one"});
    bad(SnTool::Pub, {"-t", "a", "-m", "x", "--will-payload", "p"});  // will without topic
    bad(SnTool::Pub, {"-t", "a", "-m", "x", "--will-topic", "w", "--will-qos", "3"});
    bad(SnTool::Pub, {"-t", "a", "-m", "x", "--retries", "0"});
    bad(SnTool::Pub, {"-t", "a", "-m", "x", "--bogus"});
    bad(SnTool::Pub, {"-t", "a", "-m", "x", "-p", "70000"});
    EXPECT_NE(bad(SnTool::Pub, {"-m", "x"}).find("moth sn pub --help"), std::string::npos);
}

TEST(SnParseSub, FlagsAndSleep) {
    const auto o = ok(SnTool::Sub, {"-t", "a/#", "-q", "1", "-C", "4", "-W", "9", "-v"});
    EXPECT_EQ(o.topic, "a/#");
    EXPECT_EQ(o.qos, 1);
    EXPECT_EQ(o.max_messages, 4u);
    EXPECT_EQ(o.timeout_s, 9u);
    EXPECT_TRUE(o.verbose);
    const auto s = ok(SnTool::Sub, {"--predefined", "3", "--sleep", "10", "--wake-every-ms", "500"});
    EXPECT_EQ(s.topic_kind, TopicKind::Predefined);
    EXPECT_EQ(s.sleep_s, 10);
    EXPECT_EQ(s.wake_every_ms, 500u);
}

TEST(SnParseSub, Rejects) {
    bad(SnTool::Sub, {"-t", "a", "-q", "-1"});  // QoS -1 is PUBLISH only
    bad(SnTool::Sub, {"-t", "a", "--sleep", "10"});
    bad(SnTool::Sub, {"-t", "a", "--wake-every-ms", "100"});
    // Section 6.14: a sleeper that does not wake within its Duration is lost.
    bad(SnTool::Sub, {"-t", "a", "--sleep", "1", "--wake-every-ms", "1000"});
    bad(SnTool::Sub, {"-t", "a", "-m", "x"});  // -m is pub's
}

TEST(SnParse, Dtls) {
    // --dtls moves the default port to the mqttsns listener's (1885); an explicit -p stays.
    const auto o = ok(SnTool::Pub, {"-t", "a", "-m", "x", "--dtls", "--insecure"});
    EXPECT_TRUE(o.gateway.dtls);
    EXPECT_TRUE(o.gateway.insecure);
    EXPECT_EQ(o.gateway.port, 1885);
    EXPECT_EQ(ok(SnTool::Sub, {"-t", "a", "--dtls", "-p", "9000"}).gateway.port, 9000);
    EXPECT_EQ(ok(SnTool::Sub, {"-t", "a"}).gateway.port, 1884);
    auto b = parse(SnTool::Bench, {"--dtls"});
    ASSERT_TRUE(b.bench) << b.err;
    EXPECT_EQ(b.bench->gateway.port, 1885);
    bad(SnTool::Pub, {"-t", "a", "-m", "x", "--insecure"});  // a DTLS flag without --dtls
    bad(SnTool::Pub, {"-t", "a", "-m", "x", "--dtls", "--cafile", "/nonexistent/ca.pem"});
}

TEST(SnParse, Help) {
    const auto r = parse(SnTool::Sub, {"--help"});
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_FALSE(r.options);
    EXPECT_NE(r.out.find("--wake-every-ms"), std::string::npos);
    EXPECT_NE(r.out.find("moth sn sub"), std::string::npos);
}

TEST(SnParseBench, DefaultsAndFlags) {
    auto r = parse(SnTool::Bench, {});
    ASSERT_TRUE(r.bench) << r.err;
    EXPECT_EQ(r.bench->clients, 1u);
    EXPECT_EQ(r.bench->qos, 1);
    EXPECT_EQ(r.bench->connect_rate, 500);
    r = parse(SnTool::Bench, {"--clients", "10000", "--rate-per-client", "1", "--duration", "60", "--qos", "0", "-t",
                              "load", "--subscribe", "--broker-pid", "123", "--connect-rate", "1000", "-p", "2000"});
    ASSERT_TRUE(r.bench) << r.err;
    EXPECT_EQ(r.bench->clients, 10000u);
    EXPECT_EQ(r.bench->duration_s, 60);
    EXPECT_EQ(r.bench->qos, 0);
    EXPECT_EQ(r.bench->prefix, "load");
    EXPECT_TRUE(r.bench->subscribe);
    EXPECT_EQ(r.bench->broker_pid, 123);
    EXPECT_EQ(r.bench->connect_rate, 1000);
    EXPECT_EQ(r.bench->gateway.port, 2000);
    bad(SnTool::Bench, {"--qos", "3"});
    bad(SnTool::Bench, {"--clients", "0"});
    bad(SnTool::Bench, {"-t", "a/#"});
}

}  // namespace
}  // namespace moth::cli::sn
