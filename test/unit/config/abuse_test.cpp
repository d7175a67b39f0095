// The abuse limits' keys (issues 18 and 19): [limits] rates and over_rate, a listener's auth and its own rates,
// [flapping], [[ban]]: parsing, every error with its text and line, --set, differences and reloads, the Rate helpers.
#include <gtest/gtest.h>

#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "parse_helpers.hpp"

#ifndef MOTH_SOURCE_DIR
#error "MOTH_SOURCE_DIR must point at the source tree (set by test/unit/config/CMakeLists.txt)"
#endif

namespace moth::config {
namespace {

using test::messages;
using test::parse_errors;
using test::parse_ok;
using test::Strings;

Strings set(Config& c, std::string_view assignment) {
    return messages(apply_override(c, assignment));
}

std::string read_text(const std::string& path) {
    std::ifstream in(path);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// An mqtts listener whose clients' certificates are their identity: what auth = "certificate" needs.
constexpr std::string_view kCertListener =
    "[[listener]]\nkind = \"mqtts\"\nca_file = \"ca.pem\"\nrequire_client_cert = true\nuse_cn_as_username = true\n";

// ---- defaults ------------------------------------------------------------------------------------------------

TEST(ConfigAbuse, DefaultsLimitNothingButFlapping) {
    const Config c = default_config();
    EXPECT_EQ(c.limits.publish_rate, 0.0);
    EXPECT_EQ(c.limits.publish_burst, 0.0);
    EXPECT_EQ(c.limits.publish_byte_rate, 0.0);
    EXPECT_EQ(c.limits.publish_byte_burst, 0.0);
    EXPECT_EQ(c.limits.over_rate, OverRate::Slow);
    EXPECT_EQ(c.limits.connection_rate, 0.0);
    EXPECT_EQ(c.limits.connection_burst, 0.0);
    EXPECT_EQ(c.limits.connection_rate_per_address, 0.0);
    EXPECT_EQ(c.limits.connection_burst_per_address, 0.0);
    EXPECT_TRUE(c.flapping.enabled);
    EXPECT_EQ(c.flapping.max_connects, 30U);
    EXPECT_EQ(c.flapping.window_s, 60U);
    EXPECT_EQ(c.flapping.ban_s, 300U);
    EXPECT_EQ(c.flapping.address_max_connects, 0U);
    EXPECT_TRUE(c.bans.empty());
    for (const auto& l : c.listeners) {
        EXPECT_EQ(l.auth, ListenerAuth::Any) << l.name;
        EXPECT_FALSE(l.publish_rate || l.publish_burst || l.publish_byte_rate || l.publish_byte_burst ||
                     l.connection_rate || l.connection_burst)
            << l.name;
    }
}

TEST(ConfigAbuse, EnumNames) {
    EXPECT_EQ(to_string(ListenerAuth::Any), "any");
    EXPECT_EQ(to_string(ListenerAuth::Password), "password");
    EXPECT_EQ(to_string(ListenerAuth::Certificate), "certificate");
    EXPECT_EQ(to_string(OverRate::Slow), "slow");
    EXPECT_EQ(to_string(OverRate::Disconnect), "disconnect");
    EXPECT_EQ(to_string(Ban::Kind::ClientId), "client_id");
    EXPECT_EQ(to_string(Ban::Kind::Username), "username");
    EXPECT_EQ(to_string(Ban::Kind::Address), "address");
}

// ---- [limits] rates ------------------------------------------------------------------------------------------

TEST(ConfigAbuse, RatesTakeIntegersAndFloats) {
    const Config c = parse_ok(
        "[limits]\npublish_rate = 10\npublish_burst = 2.5\npublish_byte_rate = 1_000_000\npublish_byte_burst = 0.0\n"
        "over_rate = \"disconnect\"\nconnection_rate = 0.5\nconnection_burst = 3\nconnection_rate_per_address = 1e1\n"
        "connection_burst_per_address = 20\n");
    EXPECT_EQ(c.limits.publish_rate, 10.0);
    EXPECT_EQ(c.limits.publish_burst, 2.5);
    EXPECT_EQ(c.limits.publish_byte_rate, 1e6);
    EXPECT_EQ(c.limits.publish_byte_burst, 0.0);
    EXPECT_EQ(c.limits.over_rate, OverRate::Disconnect);
    EXPECT_EQ(c.limits.connection_rate, 0.5);
    EXPECT_EQ(c.limits.connection_burst, 3.0);
    EXPECT_EQ(c.limits.connection_rate_per_address, 10.0);
    EXPECT_EQ(c.limits.connection_burst_per_address, 20.0);
}

TEST(ConfigAbuse, NegativeNonFiniteAndNonNumericRatesAreErrors) {
    EXPECT_EQ(parse_errors("[limits]\npublish_rate = -1\npublish_burst = -0.5\npublish_byte_rate = inf\n"
                           "publish_byte_burst = nan\nconnection_rate = \"10\"\nconnection_burst = -inf\n"
                           "connection_rate_per_address = true\nover_rate = \"drop\"\n"),
              (Strings{"t.toml:2: limits.publish_rate: must be a finite number >= 0, got integer -1",
                       "t.toml:3: limits.publish_burst: must be a finite number >= 0, got float -0.5",
                       "t.toml:4: limits.publish_byte_rate: must be a finite number >= 0, got float inf",
                       "t.toml:5: limits.publish_byte_burst: must be a finite number >= 0, got float nan",
                       "t.toml:6: limits.connection_rate: expected a number, got string \"10\"",
                       "t.toml:7: limits.connection_burst: must be a finite number >= 0, got float -inf",
                       "t.toml:8: limits.connection_rate_per_address: expected a number, got boolean true",
                       "t.toml:9: limits.over_rate: must be one of \"slow\", \"disconnect\", got \"drop\""}));
    // The same checks on a listener's own values.
    EXPECT_EQ(parse_errors("[[listener]]\npublish_rate = -2\nconnection_burst = nan\n"),
              (Strings{"t.toml:2: listener.0.publish_rate: must be a finite number >= 0, got integer -2",
                       "t.toml:3: listener.0.connection_burst: must be a finite number >= 0, got float nan"}));
}

// ---- the Rate helpers ----------------------------------------------------------------------------------------

TEST(ConfigAbuse, RateHelpersResolveTheBurstDefaults) {
    Limits limits;
    Listener l;
    // Unlimited: rate 0 (the burst is then max(1, 0)).
    EXPECT_EQ(publish_rate(l, limits).rate, 0.0);
    EXPECT_EQ(publish_rate(l, limits).burst, 1.0);
    // A burst of 0 is max(1, rate): a rate below 1/s still lets one packet through at once.
    limits.publish_rate = 0.2;
    EXPECT_EQ(publish_rate(l, limits).burst, 1.0);
    limits.publish_rate = 10;
    EXPECT_EQ(publish_rate(l, limits).rate, 10.0);
    EXPECT_EQ(publish_rate(l, limits).burst, 10.0);
    limits.publish_burst = 3;
    EXPECT_EQ(publish_rate(l, limits).burst, 3.0);
    // Bytes: max(rate, 1).
    limits.publish_byte_rate = 4096;
    EXPECT_EQ(publish_byte_rate(l, limits).rate, 4096.0);
    EXPECT_EQ(publish_byte_rate(l, limits).burst, 4096.0);
    limits.publish_byte_rate = 0.5;
    EXPECT_EQ(publish_byte_rate(l, limits).burst, 1.0);
    limits.publish_byte_burst = 100;
    EXPECT_EQ(publish_byte_rate(l, limits).burst, 100.0);
    limits.connection_rate = 5;
    EXPECT_EQ(connection_rate(l, limits).rate, 5.0);
    EXPECT_EQ(connection_rate(l, limits).burst, 5.0);
    limits.connection_rate_per_address = 2;
    limits.connection_burst_per_address = 7;
    EXPECT_EQ(connection_rate_per_address(limits).rate, 2.0);
    EXPECT_EQ(connection_rate_per_address(limits).burst, 7.0);
}

TEST(ConfigAbuse, AListenersOwnRatesWinKeyByKey) {
    const Config c = parse_ok(
        "[limits]\npublish_rate = 10\npublish_burst = 20\npublish_byte_rate = 1000\nconnection_rate = 5\n"
        "[[listener]]\nname = \"own\"\npublish_rate = 100\npublish_byte_burst = 50\nconnection_rate = 0\n"
        "connection_burst = 9\n"
        "[[listener]]\nname = \"global\"\nport = 1884\n");
    const Listener& own = c.listeners[0];
    const Listener& global = c.listeners[1];
    EXPECT_EQ(own.publish_rate, 100.0);
    EXPECT_EQ(own.publish_burst, std::nullopt);
    // Each key on its own: the rate is the listener's, the burst still [limits]'.
    EXPECT_EQ(publish_rate(own, c.limits).rate, 100.0);
    EXPECT_EQ(publish_rate(own, c.limits).burst, 20.0);
    EXPECT_EQ(publish_byte_rate(own, c.limits).rate, 1000.0);
    EXPECT_EQ(publish_byte_rate(own, c.limits).burst, 50.0);
    // 0 on a listener is a value (unlimited there), not "unset".
    EXPECT_EQ(connection_rate(own, c.limits).rate, 0.0);
    EXPECT_EQ(connection_rate(own, c.limits).burst, 9.0);
    EXPECT_EQ(publish_rate(global, c.limits).rate, 10.0);
    EXPECT_EQ(publish_rate(global, c.limits).burst, 20.0);
    EXPECT_EQ(publish_byte_rate(global, c.limits).burst, 1000.0);
    EXPECT_EQ(connection_rate(global, c.limits).rate, 5.0);
    EXPECT_EQ(connection_rate(global, c.limits).burst, 5.0);
}

// ---- a listener's auth ---------------------------------------------------------------------------------------

TEST(ConfigAbuse, ListenerAuthValues) {
    Config c = parse_ok("[[listener]]\nauth = \"password\"\n[[listener]]\nport = 1884\nauth = \"any\"\n" +
                        std::string(kCertListener) + "auth = \"certificate\"\n");
    EXPECT_EQ(c.listeners[0].auth, ListenerAuth::Password);
    EXPECT_EQ(c.listeners[1].auth, ListenerAuth::Any);
    EXPECT_EQ(c.listeners[2].auth, ListenerAuth::Certificate);
    EXPECT_EQ(
        parse_errors("[[listener]]\nauth = \"cert\"\n"),
        Strings{"t.toml:2: listener.0.auth: must be one of \"any\", \"password\", \"certificate\", got \"cert\""});
}

TEST(ConfigAbuse, CertificateAuthNeedsATlsListenerWithCertificateIdentities) {
    const std::string needs =
        "\"certificate\" needs an mqtts or wss listener with require_client_cert = true and "
        "use_cn_as_username = true";
    EXPECT_EQ(parse_errors("[[listener]]\nkind = \"mqtt\"\nauth = \"certificate\"\n"),
              Strings{"t.toml:3: listener.0.auth: " + needs});
    EXPECT_EQ(parse_errors("[[listener]]\nkind = \"wss\"\nauth = \"certificate\"\n"),
              Strings{"t.toml:3: listener.0.auth: " + needs});
    // The certificate is required but its CN is not the user name: still not a certificate identity.
    EXPECT_EQ(parse_errors("[[listener]]\nkind = \"mqtts\"\nca_file = \"ca.pem\"\nrequire_client_cert = true\n"
                           "auth = \"certificate\"\n"),
              Strings{"t.toml:5: listener.0.auth: " + needs});
}

TEST(ConfigAbuse, PasswordAuthContradictsCertificateIdentities) {
    EXPECT_EQ(parse_errors(std::string(kCertListener) + "auth = \"password\"\n"),
              Strings{"t.toml:6: listener.0.auth: \"password\" contradicts use_cn_as_username = true (there the "
                      "certificate's CN is the identity, without a password)"});
}

// ---- [flapping] ----------------------------------------------------------------------------------------------

TEST(ConfigAbuse, FlappingTable) {
    const Config c = parse_ok(
        "[flapping]\nenabled = false\nmax_connects = 2\nwindow_s = 1\nban_s = 86400\naddress_max_connects = 500\n");
    EXPECT_EQ(c.flapping, (Flapping{false, 2, 1, 86400, 500}));
    EXPECT_EQ(parse_errors("[flapping]\nmax_connects = 1\nwindow_s = 0\nban_s = 0\naddress_max_connects = -1\n"
                           "enable = true\n"),
              (Strings{"t.toml:2: flapping.max_connects: must be between 2 and 4294967295, got 1",
                       "t.toml:3: flapping.window_s: must be between 1 and 4294967295, got 0",
                       "t.toml:4: flapping.ban_s: must be between 1 and 4294967295, got 0",
                       "t.toml:5: flapping.address_max_connects: must be between 0 and 4294967295, got -1",
                       "t.toml:6: flapping.enable: unknown key (did you mean \"enabled\"?)"}));
    EXPECT_EQ(parse_errors("flapping = 1\n"),
              Strings{"t.toml:1: flapping: expected a table ([flapping]), got integer 1"});
    EXPECT_EQ(parse_errors("flaping = 1\n"), Strings{"t.toml:1: flaping: unknown key (did you mean \"flapping\"?)"});
}

// ---- [[ban]] -------------------------------------------------------------------------------------------------

TEST(ConfigAbuse, BansOfEveryKind) {
    const Config c = parse_ok(
        "[[ban]]\nclient_id = \"loop-42\"\nreason = \"reconnect loop\"\n"
        "[[ban]]\nusername = \"mallory\"\nuntil = \"2027-01-31T12:00:00Z\"\n"
        "[[ban]]\naddress = \"203.0.113.0/24\"\nuntil = 2027-01-31T13:00:00+01:00\n"
        "[[ban]]\naddress = \"2001:db8::1\"\n");
    ASSERT_EQ(c.bans.size(), 4U);
    EXPECT_EQ(c.bans[0], (Ban{Ban::Kind::ClientId, "loop-42", std::nullopt, "reconnect loop", std::nullopt}));
    EXPECT_EQ(c.bans[1], (Ban{Ban::Kind::Username, "mallory", std::nullopt, "", 1801396800}));
    EXPECT_EQ(c.bans[2].kind, Ban::Kind::Address);
    EXPECT_EQ(c.bans[2].value, "203.0.113.0/24");
    EXPECT_EQ(c.bans[2].range, parse_cidr("203.0.113.0/24"));
    EXPECT_EQ(c.bans[2].until, 1801396800);  // 13:00 at +01:00 is 12:00 UTC
    ASSERT_TRUE(c.bans[3].range.has_value());
    EXPECT_TRUE(cidr_contains(*c.bans[3].range, "[2001:db8::1]:1883"));
    EXPECT_EQ(c.bans[3].until, std::nullopt);  // for ever
    // Inline tables work as for listeners, and an empty array is no bans.
    EXPECT_EQ(parse_ok("ban = [{ client_id = \"a\" }, { username = \"b\" }]\n").bans.size(), 2U);
    EXPECT_TRUE(parse_ok("ban = []\n").bans.empty());
}

TEST(ConfigAbuse, BanUntilForms) {
    const auto until = [](std::string_view value) {
        return parse_config("[[ban]]\nclient_id = \"c\"\nuntil = " + std::string(value) + "\n", "t.toml")
            .config.bans.at(0)
            .until;
    };
    EXPECT_EQ(until("\"1970-01-01T00:00:00Z\""), 0);
    EXPECT_EQ(until("\"1969-12-31T23:59:59Z\""), -1);
    EXPECT_EQ(until("\"2000-02-29T00:00:00Z\""), 951782400);       // a leap day
    EXPECT_EQ(until("\"2027-01-31T12:00:00.999Z\""), 1801396800);  // fractions of a second are dropped
    EXPECT_EQ(until("\"2027-01-31 12:00:00z\""), 1801396800);      // RFC 3339 allows ' ' and 'z'
    EXPECT_EQ(until("\"2027-01-31T10:30:00-01:30\""), 1801396800);
    const std::string expected =
        "expected an RFC 3339 date-time with a UTC offset such as \"2027-01-31T12:00:00Z\", got ";
    for (const auto& [value, got] : std::vector<std::pair<std::string, std::string>>{
             {"\"2027-01-31T12:00:00\"", "string \"2027-01-31T12:00:00\""},
             {"\"2027-01-31\"", "string \"2027-01-31\""},
             {"\"2027-02-30T12:00:00Z\"", "string \"2027-02-30T12:00:00Z\""},
             {"\"tomorrow\"", "string \"tomorrow\""},
             {"\"2027-01-31T12:00:00Z\\nx = 1\"", "string \"2027-01-31T12:00:00Z\nx = 1\""},
             {"1801396800", "integer 1801396800"},
             {"2027-01-31T12:00:00", "a date-time without an offset"},
             {"2027-01-31", "a date"}}) {
        EXPECT_EQ(parse_errors("[[ban]]\nclient_id = \"c\"\nuntil = " + value + "\n"),
                  Strings{"t.toml:3: ban.0.until: " + expected + got})
            << value;
    }
}

TEST(ConfigAbuse, BanErrors) {
    EXPECT_EQ(parse_errors("[[ban]]\nclient_id = \"\"\n"
                           "[[ban]]\nusername = \"\"\n"
                           "[[ban]]\naddress = \"10.0.0.1/8\"\n"
                           "[[ban]]\nreason = \"no kind\"\n"
                           "[[ban]]\nclient_id = \"a\"\naddress = \"10.0.0.1\"\n"
                           "[[ban]]\nclientid = \"x\"\nusername = 5\n"),  // a key given, if wrong: no "needs one"
              (Strings{"t.toml:2: ban.0.client_id: must not be empty", "t.toml:4: ban.1.username: must not be empty",
                       "t.toml:6: ban.2.address: expected an IPv4 or IPv6 address or range such as \"192.0.2.7\", "
                       "\"10.0.0.0/8\" or \"2001:db8::/32\" (no host bits past the prefix), got \"10.0.0.1/8\"",
                       "t.toml:7: ban.3: needs one of client_id, username, address",
                       "t.toml:9: ban.4: has both client_id and address: give exactly one of client_id, username, "
                       "address (one [[ban]] each)",
                       "t.toml:13: ban.5.clientid: unknown key (did you mean \"client_id\"?)",
                       "t.toml:14: ban.5.username: expected a string, got integer 5"}));
    EXPECT_EQ(parse_errors("ban = 1\n"),
              Strings{"t.toml:1: ban: expected an array of tables ([[ban]]), got integer 1"});
    EXPECT_EQ(parse_errors("ban = [1]\n"), Strings{"t.toml:1: ban.0: expected a table, got integer 1"});
    EXPECT_EQ(parse_errors("[[ban]]\naddress = \"host.example\"\n").size(), 1U);
    EXPECT_EQ(parse_errors("[[ban]]\naddress = \"[::1]\"\n").size(), 1U);
}

// ---- where errors point: source_error ------------------------------------------------------------------------

TEST(ConfigAbuse, SourceErrorFindsTheNewKeys) {
    const Config c = parse_ok(
        "[limits]\n"                          // 1
        "publish_rate = 5\n"                  // 2
        "[flapping]\n"                        // 3
        "ban_s = 10\n"                        // 4
        "[[ban]]\n"                           // 5
        "address = \"10.0.0.0/8\"\n"          // 6
        "[[ban]]\n"                           // 7
        "client_id = \"x\"\n"                 // 8
        "until = \"2030-01-01T00:00:00Z\"\n"  // 9
        "[[listener]]\n"                      // 10
        "auth = \"password\"\n"               // 11
        "publish_byte_rate = 100\n");         // 12
    const auto line = [&c](std::string_view key, std::optional<std::size_t> listener = std::nullopt) {
        return source_error(c, key, "m", listener).line;
    };
    EXPECT_EQ(line("limits.publish_rate"), 2U);
    EXPECT_EQ(line("limits.connection_rate"), 1U);  // not written: the [limits] line
    EXPECT_EQ(line("flapping.ban_s"), 4U);
    EXPECT_EQ(line("flapping.enabled"), 3U);
    EXPECT_EQ(line("ban.0.address"), 6U);
    EXPECT_EQ(line("ban.0"), 5U);
    EXPECT_EQ(line("ban.1.until"), 9U);
    EXPECT_EQ(line("ban.1.reason"), 7U);
    EXPECT_EQ(line("ban.2"), 0U);                 // no such ban
    EXPECT_EQ(line("features.maximum_qos"), 0U);  // no [features] table in the file
    EXPECT_EQ(line("auth", 0), 11U);
    EXPECT_EQ(line("publish_byte_rate", 0), 12U);
    EXPECT_EQ(line("connection_rate", 0), 10U);  // not written: the [[listener]] line
    EXPECT_EQ(source_error(c, "ban.1.until", "m").to_string(), "t.toml:9: ban.1.until: m");
    // A value from --set is blamed on the override.
    Config o = c;
    ASSERT_EQ(set(o, "limits.publish_rate=6"), Strings{});
    EXPECT_EQ(source_error(o, "limits.publish_rate", "m").to_string(), "<override>: limits.publish_rate: m");
}

// ---- --set ---------------------------------------------------------------------------------------------------

TEST(ConfigAbuse, OverridesOfTheNewKeys) {
    Config c = default_config();
    EXPECT_EQ(set(c, "limits.publish_rate=10"), Strings{});
    EXPECT_EQ(set(c, "limits.publish_byte_burst=1.5"), Strings{});
    EXPECT_EQ(set(c, "limits.over_rate=disconnect"), Strings{});
    EXPECT_EQ(set(c, "flapping.enabled=false"), Strings{});
    EXPECT_EQ(set(c, "flapping.address_max_connects=100"), Strings{});
    EXPECT_EQ(set(c, "listener.0.auth=password"), Strings{});
    EXPECT_EQ(set(c, "listener.0.connection_rate=2"), Strings{});
    EXPECT_EQ(c.limits.publish_rate, 10.0);
    EXPECT_EQ(c.limits.publish_byte_burst, 1.5);
    EXPECT_EQ(c.limits.over_rate, OverRate::Disconnect);
    EXPECT_FALSE(c.flapping.enabled);
    EXPECT_EQ(c.flapping.address_max_connects, 100U);
    EXPECT_EQ(c.listeners[0].auth, ListenerAuth::Password);
    EXPECT_EQ(c.listeners[0].connection_rate, 2.0);
    const Config before = c;
    EXPECT_EQ(set(c, "limits.publish_rate=-1"),
              Strings{"<override>: limits.publish_rate: must be a finite number >= 0, got integer -1"});
    EXPECT_EQ(set(c, "limits.publish_rate=nan"),
              Strings{"<override>: limits.publish_rate: must be a finite number >= 0, got float nan"});
    EXPECT_EQ(set(c, "flapping.max_connects=1"),
              Strings{"<override>: flapping.max_connects: must be between 2 and 4294967295, got 1"});
    EXPECT_EQ(set(c, "flapping=1"),
              Strings{"<override>: flapping: expected flapping.<key>=value: set one key of flapping at a time"});
    // The checks between a listener's keys run on the outcome, as in a file.
    EXPECT_EQ(set(c, "listener.0.auth=certificate"),
              Strings{"<override>: listener.0.auth: \"certificate\" needs an mqtts or wss listener with "
                      "require_client_cert = true and use_cn_as_username = true"});
    const std::string no_bans = "bans cannot be set with --set: write a [[ban]] table in the config file";
    EXPECT_EQ(set(c, "ban.0.client_id=x"), Strings{"<override>: ban.0.client_id: " + no_bans});
    EXPECT_EQ(set(c, "ban=[]"), Strings{"<override>: ban: " + no_bans});
    EXPECT_EQ(c, before);
    // Certificate auth set together with what it needs.
    Config tls = default_config();
    EXPECT_EQ(apply_overrides(tls, Strings{"listener.1.ca_file=ca.pem", "listener.1.require_client_cert=true",
                                           "listener.1.use_cn_as_username=true", "listener.1.auth=certificate"}),
              std::vector<ConfigError>{});
    EXPECT_EQ(tls.listeners[1].auth, ListenerAuth::Certificate);
}

// ---- differences and reloads ---------------------------------------------------------------------------------

TEST(ConfigAbuse, EveryNewKeyIsComparedAndAppliesWithoutRestart) {
    const std::vector<std::pair<std::string, std::string>> cases{
        {"limits.publish_rate", "1"},
        {"limits.publish_burst", "1"},
        {"limits.publish_byte_rate", "1"},
        {"limits.publish_byte_burst", "1"},
        {"limits.over_rate", "disconnect"},
        {"limits.connection_rate", "1"},
        {"limits.connection_burst", "1"},
        {"limits.connection_rate_per_address", "1"},
        {"limits.connection_burst_per_address", "1"},
        {"flapping.enabled", "false"},
        {"flapping.max_connects", "3"},
        {"flapping.window_s", "3"},
        {"flapping.ban_s", "3"},
        {"flapping.address_max_connects", "3"},
        {"listener.0.auth", "password"},
        {"listener.0.publish_rate", "0"},  // 0 differs from unset
        {"listener.0.publish_burst", "1"},
        {"listener.0.publish_byte_rate", "1"},
        {"listener.0.publish_byte_burst", "1"},
        {"listener.0.connection_rate", "1"},
        {"listener.0.connection_burst", "1"},
    };
    for (const auto& [key, value] : cases) {
        Config c = default_config();
        EXPECT_EQ(set(c, key + "=" + value), Strings{}) << key;
        EXPECT_EQ(differences(default_config(), c), Strings{key}) << key;
        EXPECT_EQ(reload_differences(default_config(), c), Strings{}) << key;
        EXPECT_FALSE(needs_restart(key)) << key;
    }
}

TEST(ConfigAbuse, BanDifferencesAreByPosition) {
    const Config none = parse_ok("");
    const Config one = parse_ok("[[ban]]\nclient_id = \"a\"\n");
    const Config two = parse_ok("[[ban]]\nclient_id = \"a\"\n[[ban]]\naddress = \"10.0.0.0/8\"\n");
    const Config changed = parse_ok("[[ban]]\nclient_id = \"a\"\nreason = \"r\"\n[[ban]]\naddress = \"10.0.0.0/8\"\n");
    EXPECT_EQ(differences(none, one), Strings{"ban.0"});
    EXPECT_EQ(differences(one, two), Strings{"ban.1"});
    EXPECT_EQ(differences(two, one), Strings{"ban.1"});
    EXPECT_EQ(differences(two, changed), Strings{"ban.0"});
    EXPECT_EQ(differences(two, two), Strings{});
    EXPECT_EQ(reload_differences(none, two), Strings{});
    EXPECT_FALSE(needs_restart("ban.0"));
    EXPECT_FALSE(needs_restart("ban.0.until"));
}

// ---- the example file ----------------------------------------------------------------------------------------

const std::string kExampleConfig = std::string(MOTH_SOURCE_DIR) + "/conf/mothd.toml";

TEST(ConfigAbuse, ExampleFileMentionsEveryNewKey) {
    const std::string text = read_text(kExampleConfig);
    for (const std::string key : {"publish_rate",
                                  "publish_burst",
                                  "publish_byte_rate",
                                  "publish_byte_burst",
                                  "over_rate",
                                  "connection_rate",
                                  "connection_burst",
                                  "connection_rate_per_address",
                                  "connection_burst_per_address",
                                  "[flapping]",
                                  "enabled",
                                  "max_connects",
                                  "window_s",
                                  "ban_s",
                                  "address_max_connects",
                                  "[[ban]]",
                                  "client_id",
                                  "username",
                                  "address",
                                  "reason",
                                  "until",
                                  "auth"}) {
        const std::string needle = key.starts_with('[') ? key : key + " =";
        EXPECT_NE(text.find(needle), std::string::npos) << key;
    }
}

TEST(ConfigAbuse, ExampleBansParseWhenUncommented) {
    // The commented [[ban]] examples must be valid once their "# " is removed: the block from the first
    // "# [[ban]]" to the first line that is not a comment.
    const std::string text = read_text(kExampleConfig);
    const std::size_t start = text.find("# [[ban]]");
    ASSERT_NE(start, std::string::npos);
    std::string uncommented;
    std::istringstream rest(text.substr(start));
    for (std::string line; std::getline(rest, line) && line.starts_with('#');) {
        uncommented += (line.starts_with("# ") ? line.substr(2) : "") + "\n";
    }
    const Config c = parse_ok(uncommented);
    ASSERT_EQ(c.bans.size(), 3U);
    EXPECT_EQ(c.bans[0].kind, Ban::Kind::ClientId);
    EXPECT_FALSE(c.bans[0].reason.empty());
    EXPECT_EQ(c.bans[1].kind, Ban::Kind::Username);
    EXPECT_TRUE(c.bans[1].until.has_value());
    EXPECT_EQ(c.bans[2].kind, Ban::Kind::Address);
    EXPECT_TRUE(c.bans[2].range.has_value());
}

TEST(ConfigAbuse, ExampleListenerRatesParseWhenUncommented) {
    // The commented per-listener rates in the first [[listener]] are valid keys there.
    const std::string text = read_text(kExampleConfig);
    std::string uncommented;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        const bool rate = line.starts_with("# publish_") || line.starts_with("# connection_");
        uncommented += (rate ? line.substr(2) : line) + "\n";
    }
    const Config c = parse_ok(uncommented);
    EXPECT_TRUE(c.listeners.at(0).publish_rate.has_value());
    EXPECT_TRUE(c.listeners.at(0).connection_burst.has_value());
}

}  // namespace
}  // namespace moth::config
