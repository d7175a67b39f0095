// moth bench's measuring half: payload header, latency percentiles, loss/duplicate/reorder accounting, topic
// patterns and the command line. No broker, no sockets.
#include <gtest/gtest.h>

#include <array>
#include <random>

#include "bench_stats.hpp"

namespace moth::cli::bench {
namespace {

// ---- payload header --------------------------------------------------------------------------------------------
TEST(BenchHeader, RoundTripsAtTheFrontOfThePayloadInLittleEndian) {
    std::array<std::byte, 20> payload{};
    payload.fill(std::byte{0xee});
    const PayloadHeader h{0x0102030405060708ULL, 0x0a0b0c0dU, 0xfffffffeU};
    write_header(payload, h);
    EXPECT_EQ(payload[0], std::byte{0x08});  // send_ns, least significant byte first
    EXPECT_EQ(payload[7], std::byte{0x01});
    EXPECT_EQ(payload[8], std::byte{0x0d});   // publisher
    EXPECT_EQ(payload[12], std::byte{0xfe});  // sequence
    EXPECT_EQ(payload[15], std::byte{0xff});
    EXPECT_EQ(payload[16], std::byte{0xee});  // filler untouched
    const auto back = read_header(payload);
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, h);
}

TEST(BenchHeader, AShorterPayloadHasNoHeader) {
    std::array<std::byte, kHeaderSize - 1> payload{};
    EXPECT_FALSE(read_header(payload).has_value());
    std::array<std::byte, kHeaderSize> exact{};
    EXPECT_TRUE(read_header(exact).has_value());
}

// ---- histogram ---------------------------------------------------------------------------------------------------
TEST(BenchHistogram, EmptyReportsZero) {
    Histogram h;
    EXPECT_EQ(h.count(), 0U);
    EXPECT_EQ(h.percentile(0.5), 0U);
    EXPECT_EQ(h.max(), 0U);
}

TEST(BenchHistogram, SmallValuesAreExact) {
    Histogram h;
    for (std::uint64_t v = 1; v <= 100; ++v) h.record(v);
    EXPECT_EQ(h.percentile(0.5), 50U);
    EXPECT_EQ(h.percentile(0.99), 99U);
    EXPECT_EQ(h.percentile(0.999), 100U);
    EXPECT_EQ(h.percentile(1.0), 100U);
    EXPECT_EQ(h.percentile(0.0), 1U);
    EXPECT_EQ(h.max(), 100U);
}

TEST(BenchHistogram, LargeValuesWithinRelativePrecision) {
    // 1..100000 us in ns: the q-quantile is q * 100000 us; buckets are within 1/256.
    Histogram h;
    for (std::uint64_t us = 1; us <= 100'000; ++us) h.record(us * 1000);
    for (double q : {0.5, 0.9, 0.99, 0.999}) {
        const double want = q * 100'000'000.0;
        const auto got = static_cast<double>(h.percentile(q));
        EXPECT_GE(got, want) << q;  // the bucket's upper bound: never below the true value
        EXPECT_LE(got, want * (1 + 1.0 / 256)) << q;
    }
    EXPECT_EQ(h.max(), 100'000'000U);
    EXPECT_EQ(h.percentile(1.0), 100'000'000U);  // clamped to the exact max
}

TEST(BenchHistogram, BucketsAreMonotonicAndContainTheirValues) {
    std::mt19937_64 rng(7);
    for (int i = 0; i < 10000; ++i) {
        const std::uint64_t v = rng() >> (rng() % 40 + 24);
        const auto b = Histogram::bucket_of(v);
        EXPECT_LE(v, Histogram::bucket_upper(b)) << v;
        if (b > 0) {
            EXPECT_GT(v, Histogram::bucket_upper(b - 1)) << v;
        }
    }
}

TEST(BenchHistogram, MergeEqualsRecordingEverythingInOne) {
    Histogram a, b, all;
    for (std::uint64_t v = 0; v < 5000; ++v) {
        (v % 3 == 0 ? a : b).record(v * 37);
        all.record(v * 37);
    }
    a.merge(b);
    EXPECT_EQ(a.count(), all.count());
    EXPECT_EQ(a.max(), all.max());
    for (double q : {0.1, 0.5, 0.99, 0.999}) EXPECT_EQ(a.percentile(q), all.percentile(q));
}

// ---- receipts and accounting ----------------------------------------------------------------------------------
TEST(BenchReceipts, CountsDuplicatesAndOutOfOrder) {
    Receipts r;
    EXPECT_TRUE(r.record(0, 0));
    EXPECT_TRUE(r.record(0, 2));
    EXPECT_TRUE(r.record(0, 1));   // later than 2: out of order
    EXPECT_FALSE(r.record(0, 2));  // duplicate
    EXPECT_TRUE(r.record(1, 5));   // another publisher: its own sequence
    EXPECT_TRUE(r.record(1, 200));
    EXPECT_EQ(r.received(), 6U);
    EXPECT_EQ(r.duplicates(), 1U);
    EXPECT_EQ(r.out_of_order(), 1U);
}

TEST(BenchAccounting, PairsInOrderAndComplete) {
    Receipts s0, s1;
    for (std::uint32_t q = 0; q < 1000; ++q) s0.record(0, q);
    for (std::uint32_t q = 0; q < 500; ++q) s1.record(1, q);
    const auto a = account({&s0, &s1}, {{0}, {1}}, {{0}, {1}}, {1000, 500});
    EXPECT_EQ(a.expected, 1500U);
    EXPECT_EQ(a.received, 1500U);
    EXPECT_EQ(a.unique, 1500U);
    EXPECT_EQ(a.lost, 0U);
    EXPECT_EQ(a.duplicated, 0U);
    EXPECT_EQ(a.out_of_order, 0U);
    EXPECT_EQ(a.unexpected, 0U);
}

TEST(BenchAccounting, LostDuplicatedReorderedAndUnexpected) {
    Receipts s0;
    for (std::uint32_t q = 0; q < 100; ++q) {
        if (q == 10 || q == 11 || q == 99) continue;  // 3 lost, the last one among them
        s0.record(0, q);
    }
    s0.record(0, 10);  // arrives late: out of order, not lost
    s0.record(0, 5);   // duplicate
    s0.record(0, 7);   // duplicate
    s0.record(1, 0);   // from a publisher this subscriber does not expect
    const auto a = account({&s0}, {{0}}, {{0}}, {100, 1});
    EXPECT_EQ(a.expected, 100U);
    EXPECT_EQ(a.lost, 2U);  // 11 and 99
    EXPECT_EQ(a.duplicated, 2U);
    EXPECT_EQ(a.out_of_order, 1U);
    EXPECT_EQ(a.unexpected, 1U);
    EXPECT_EQ(a.received, 101U);
}

TEST(BenchAccounting, FanOutCountsEverySubscriberSeparately) {
    Receipts s0, s1;
    for (std::uint32_t q = 0; q < 10; ++q) s0.record(0, q);
    for (std::uint32_t q = 0; q < 9; ++q) s1.record(0, q);  // s1 misses seq 9
    const auto a = account({&s0, &s1}, {{0}, {1}}, {{0}, {0}}, {10});
    EXPECT_EQ(a.expected, 20U);
    EXPECT_EQ(a.lost, 1U);
    EXPECT_EQ(a.duplicated, 0U);
}

TEST(BenchAccounting, SharedGroupSplitsDeliveriesWithoutCallingThemLost) {
    // Round robin over two members: each sees every other message, in order; together they have all.
    Receipts m0, m1;
    for (std::uint32_t q = 0; q < 100; ++q) (q % 2 == 0 ? m0 : m1).record(0, q);
    auto a = account({&m0, &m1}, {{0, 1}}, {{0}}, {100});
    EXPECT_EQ(a.expected, 100U);
    EXPECT_EQ(a.lost, 0U);
    EXPECT_EQ(a.duplicated, 0U);
    EXPECT_EQ(a.out_of_order, 0U);
    // The same message to both members is a duplicate for the group.
    m1.record(0, 0);
    a = account({&m0, &m1}, {{0, 1}}, {{0}}, {100});
    EXPECT_EQ(a.duplicated, 1U);
    EXPECT_EQ(a.lost, 0U);
}

TEST(BenchAccounting, NothingReceivedIsAllLost) {
    Receipts s0;
    const auto a = account({&s0}, {{0}}, {{0, 1}}, {7, 3});
    EXPECT_EQ(a.expected, 10U);
    EXPECT_EQ(a.lost, 10U);
}

// ---- patterns -----------------------------------------------------------------------------------------------------
TEST(BenchPattern, ExpandsIndexSequenceAndPercent) {
    EXPECT_EQ(expand("bench/%i", 42), "bench/42");
    EXPECT_EQ(expand("s/%i/%j", 3, 9), "s/3/9");
    EXPECT_EQ(expand("100%%/%i", 1), "100%/1");
    EXPECT_EQ(expand("%x/%", 1), "%x/%");
    EXPECT_TRUE(has_seq("a/%j"));
    EXPECT_FALSE(has_seq("a/%%j"));
    EXPECT_FALSE(has_seq("a/%i"));
}

TEST(BenchPattern, SharedFiltersMatchAsTheirFilter) {
    EXPECT_EQ(share_group("$share/g1/a/+"), "g1");
    EXPECT_EQ(share_group("a/+"), "");
    EXPECT_TRUE(filter_matches("$share/g1/bench/+", "bench/7"));
    EXPECT_FALSE(filter_matches("$share/g1/bench/+", "other/7"));
    EXPECT_TRUE(filter_matches("bench/#", "bench/a/b"));
    EXPECT_FALSE(filter_matches("bench/1", "bench/10"));
}

// ---- command line -------------------------------------------------------------------------------------------------
TEST(BenchOptions, ScenarioDefaults) {
    auto r = parse_options({"pairs"});
    ASSERT_TRUE(r.options);
    EXPECT_EQ(r.options->num_publishers(), 50U);
    EXPECT_EQ(r.options->num_subscribers(), 50U);
    EXPECT_EQ(r.options->topic_pattern(), "bench/%i");
    EXPECT_EQ(r.options->filter_pattern(), "bench/%i");
    EXPECT_EQ(r.options->effective_window(), 1000U);

    r = parse_options({"fanout", "-c", "20"});
    ASSERT_TRUE(r.options);
    EXPECT_EQ(r.options->num_publishers(), 1U);
    EXPECT_EQ(r.options->num_subscribers(), 20U);

    r = parse_options({"fanin"});
    ASSERT_TRUE(r.options);
    EXPECT_EQ(r.options->num_publishers(), 200U);
    EXPECT_EQ(r.options->num_subscribers(), 1U);
    EXPECT_EQ(r.options->filter_pattern(), "bench/+");

    EXPECT_EQ(r.options->effective_window(), 2U);  // 200 publishers share one subscriber's queue

    r = parse_options({"shared", "--group", "g"});
    ASSERT_TRUE(r.options);
    EXPECT_EQ(r.options->num_subscribers(), 10U);
    EXPECT_EQ(r.options->effective_window(), 25U);
    EXPECT_EQ(r.options->filter_pattern(), "$share/g/bench/+");

    r = parse_options({"conn"});
    ASSERT_TRUE(r.options);
    EXPECT_EQ(r.options->clients, 100U);
    EXPECT_EQ(r.options->num_publishers(), 0U);
}

TEST(BenchOptions, ParsesValues) {
    const auto r = parse_options({"pubsub",
                                  "-L",
                                  "wss://h:1/mqtt",
                                  "-V",
                                  "5",
                                  "-q",
                                  "1",
                                  "-s",
                                  "16",
                                  "-r",
                                  "2.5",
                                  "-w",
                                  "0",
                                  "-d",
                                  "3",
                                  "-T",
                                  "2",
                                  "--json",
                                  "--broker-pid",
                                  "123",
                                  "--insecure"});
    ASSERT_TRUE(r.options) << r.text;
    const Options& o = *r.options;
    EXPECT_EQ(o.scenario, Scenario::Pairs);
    EXPECT_EQ(o.url, "wss://h:1/mqtt");
    EXPECT_EQ(o.version, 5);
    EXPECT_EQ(o.qos, 1);
    EXPECT_EQ(o.size, 16U);
    EXPECT_DOUBLE_EQ(o.rate, 2.5);
    EXPECT_EQ(o.effective_window(), 0U);
    EXPECT_DOUBLE_EQ(o.duration_s, 3);
    EXPECT_EQ(o.threads, 2U);
    EXPECT_TRUE(o.json);
    EXPECT_TRUE(o.insecure);
    EXPECT_EQ(o.broker_pid, 123);
}

TEST(BenchOptions, UserNameAndPasswordPatternsExpandPerConnection) {
    // -P stays --publishers (mosquitto_pub's -P is the password): --pw is the short spelling here.
    const auto r =
        parse_options({"conn", "-u", "user%i", "--pw", "secret%i-100%%", "-P", "3", "--connect-timeout", "2.5"});
    ASSERT_TRUE(r.options) << r.text;
    const Options& o = *r.options;
    EXPECT_EQ(o.publishers, 3U);
    EXPECT_DOUBLE_EQ(o.connect_timeout_s, 2.5);
    const Credentials c0 = credentials(o, 0);
    EXPECT_EQ(c0.username, "user0");
    EXPECT_EQ(c0.password, "secret0-100%");
    const Credentials c999 = credentials(o, 999);
    EXPECT_EQ(c999.username, "user999");
    EXPECT_EQ(c999.password, "secret999-100%");

    // One fixed user for every connection; an empty password is sent (present, zero length), not left out.
    const auto fixed = parse_options({"pairs", "--username", "bench", "--password", ""});
    ASSERT_TRUE(fixed.options) << fixed.text;
    EXPECT_EQ(credentials(*fixed.options, 7).username, "bench");
    EXPECT_EQ(credentials(*fixed.options, 7).password, "");

    // Neither given: no user name and no password in CONNECT (anonymous), and the default timeout.
    const auto anonymous = parse_options({"pairs"});
    ASSERT_TRUE(anonymous.options);
    EXPECT_FALSE(credentials(*anonymous.options, 0).username.has_value());
    EXPECT_FALSE(credentials(*anonymous.options, 0).password.has_value());
    EXPECT_DOUBLE_EQ(anonymous.options->connect_timeout_s, 60);
}

TEST(BenchOptions, PasswordWithoutUserNameOnlyInMqtt5) {
    // [MQTT-3.1.2-22]: a 3.1.1 CONNECT may not carry a password without a user name; 5.0 allows it.
    const auto v311 = parse_options({"pairs", "--pw", "x"});
    EXPECT_FALSE(v311.options.has_value());
    EXPECT_NE(v311.text.find("--password needs --username"), std::string::npos);
    const auto v5 = parse_options({"pairs", "--pw", "x", "-V", "5"});
    ASSERT_TRUE(v5.options) << v5.text;
    EXPECT_FALSE(credentials(*v5.options, 0).username.has_value());
    EXPECT_EQ(credentials(*v5.options, 0).password, "x");
}

TEST(BenchOptions, BindTakesAnIpAddressForPlainMqtt) {
    // Unset: the kernel picks the source address.
    const auto none = parse_options({"conn"});
    ASSERT_TRUE(none.options);
    EXPECT_TRUE(none.options->bind.empty());

    const auto v4 = parse_options({"conn", "-c", "10", "--bind", "127.0.0.2", "-L", "mqtt://127.0.0.1:1883"});
    ASSERT_TRUE(v4.options) << v4.text;
    EXPECT_EQ(v4.options->bind, "127.0.0.2");
    const auto v6 = parse_options({"conn", "--bind", "::1", "-L", "[::1]:1883"});  // a bare host:port is mqtt
    ASSERT_TRUE(v6.options) << v6.text;
    EXPECT_EQ(v6.options->bind, "::1");

    // Literals only (no host names), and TCP only: TLS and WebSocket connect through net::connect().
    for (const std::vector<std::string>& args :
         std::vector<std::vector<std::string>>{{"conn", "--bind"},
                                               {"conn", "--bind", "localhost"},
                                               {"conn", "--bind", "127.0.0.256"},
                                               {"conn", "--bind", ""},
                                               {"conn", "--bind", "127.0.0.2", "-L", "mqtts://127.0.0.1:8883"},
                                               {"conn", "--bind", "127.0.0.2", "-L", "ws://127.0.0.1:8000/mqtt"}}) {
        const auto r = parse_options(args);
        EXPECT_FALSE(r.options.has_value()) << args.back();
        EXPECT_EQ(r.exit_code, 1);
        EXPECT_NE(r.text.find("Error: "), std::string::npos);
    }
    EXPECT_NE(parse_options({"conn", "--bind", "127.0.0.2", "-L", "wss://h"}).text.find("mqtt:// URLs only"),
              std::string::npos);
    EXPECT_NE(std::string(usage()).find("--bind ADDR"), std::string::npos);
}

TEST(BenchOptions, RefusesBadInputWithAMessage) {
    for (const std::vector<std::string>& args :
         std::vector<std::vector<std::string>>{{},
                                               {"nope"},
                                               {"pairs", "-s", "15"},
                                               {"pairs", "-q", "2"},
                                               {"pairs", "-V", "3"},
                                               {"pairs", "-c"},
                                               {"pairs", "-c", "x"},
                                               {"pairs", "--bogus"},
                                               {"pairs", "-T", "0"},
                                               {"pairs", "-r", "-1"},
                                               {"pairs", "-u"},
                                               {"pairs", "--connect-timeout", "0"},
                                               {"shared", "--group", "a/b"}}) {
        const auto r = parse_options(args);
        EXPECT_FALSE(r.options.has_value());
        EXPECT_EQ(r.exit_code, 1);
        EXPECT_NE(r.text.find("Error: "), std::string::npos);
    }
    const auto help = parse_options({"--help"});
    EXPECT_FALSE(help.options);
    EXPECT_EQ(help.exit_code, 0);
    EXPECT_NE(help.text.find("Usage: moth bench"), std::string::npos);
}

}  // namespace
}  // namespace moth::cli::bench
