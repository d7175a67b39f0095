// [[bridge]] tables (issue 21): a full bridge parsed field by field, every error with its text and line,
// Mosquitto's topic rules (parsed, refused, written back), addresses normalized as the client library reads them,
// the example in conf/mothd.toml, --set, and what a reload reports.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "parse_helpers.hpp"
#include "net/stream.hpp"

#ifndef MOTH_SOURCE_DIR
#error "MOTH_SOURCE_DIR must point at the source tree (set by test/unit/config/CMakeLists.txt)"
#endif

namespace moth::config {
namespace {

using test::messages;
using test::parse_errors;
using test::parse_ok;
using test::Strings;

// A minimal valid bridge; `extra` goes on line 5 (or more lines from there).
std::string minimal(std::string_view extra = {}, std::string_view name = "b") {
    return "[[bridge]]\nname = \"" + std::string(name) + "\"\naddresses = [\"h\"]\ntopics = [\"#\"]\n" +
           std::string(extra) + "\n";
}

// ---- a full bridge -------------------------------------------------------------------------------------------

constexpr std::string_view kFull = R"([[bridge]]
name = "cloud"
addresses = ["mqtts://cloud.example.com", "wss://cloud-2.example.com:8443/ws"]
protocol = "3.1.1"
client_id = "classroom-7"
username = "edge"
password = "secret"
keepalive_s = 30
clean_start = true
session_expiry_s = 0
reconnect_min_ms = 500
reconnect_max_ms = 30000
try_private = false
keep_retain = false
queue_qos0 = true
max_inflight = 20
max_queued_bytes = 2097152
max_queued_messages = 5000
queue_full_policy = "drop_new"
ca_file = "/etc/moth/cloud-ca.pem"
cert_file = "/etc/moth/edge.crt"
key_file = "/etc/moth/edge.key"
sni = "cloud.example.com"
tls_insecure = false
topics = [
  "sensors/# out 1",
  "# both 2 local/ remote/",
  '"" in 0 a/b x/y',
]

[[bridge]]
name = "lan.2"
addresses = ["192.168.1.10"]
topics = ["sensors/#"]
)";

TEST(BridgeConfig, FullExampleParsesToTheExpectedStruct) {
    const Config c = parse_ok(kFull);
    ASSERT_EQ(c.bridges.size(), 2U);

    Bridge cloud;
    cloud.name = "cloud";
    cloud.addresses = {"mqtts://cloud.example.com:8883", "wss://cloud-2.example.com:8443/ws"};
    cloud.protocol = BridgeProtocol::V3_1_1;
    cloud.client_id = "classroom-7";
    cloud.username = "edge";
    cloud.password = "secret";
    cloud.keepalive_s = 30;
    cloud.clean_start = true;
    cloud.session_expiry_s = 0;
    cloud.reconnect_min_ms = 500;
    cloud.reconnect_max_ms = 30000;
    cloud.try_private = false;
    cloud.keep_retain = false;
    cloud.queue_qos0 = true;
    cloud.max_inflight = 20;
    cloud.max_queued_bytes = 2097152;
    cloud.max_queued_messages = 5000;
    cloud.queue_full_policy = QueueFullPolicy::DropNew;
    cloud.ca_file = "/etc/moth/cloud-ca.pem";
    cloud.cert_file = "/etc/moth/edge.crt";
    cloud.key_file = "/etc/moth/edge.key";
    cloud.sni = "cloud.example.com";
    cloud.tls_insecure = false;
    cloud.topics = {{"sensors/#", BridgeDirection::Out, 1, "", ""},
                    {"#", BridgeDirection::Both, 2, "local/", "remote/"},
                    {"", BridgeDirection::In, 0, "a/b", "x/y"}};
    EXPECT_EQ(c.bridges[0], cloud);

    Bridge lan;  // every other key at its default
    lan.name = "lan.2";
    lan.addresses = {"mqtt://192.168.1.10:1883"};
    lan.topics = {{"sensors/#", BridgeDirection::Out, 0, "", ""}};
    EXPECT_EQ(c.bridges[1], lan);
}

TEST(BridgeConfig, DefaultsAreNoBridgesAndTheDocumentedValues) {
    EXPECT_TRUE(default_config().bridges.empty());
    const Bridge b;
    EXPECT_EQ(b.protocol, BridgeProtocol::V5);
    EXPECT_EQ(b.keepalive_s, 60);
    EXPECT_FALSE(b.clean_start);
    EXPECT_EQ(b.reconnect_min_ms, 1000U);
    EXPECT_EQ(b.reconnect_max_ms, 60000U);
    EXPECT_TRUE(b.try_private);
    EXPECT_TRUE(b.keep_retain);
    EXPECT_FALSE(b.queue_qos0);
    EXPECT_EQ(b.max_inflight, 100);
    EXPECT_EQ(b.max_queued_bytes, 1024ULL * 1024 * 1024);
    EXPECT_EQ(b.queue_full_policy, QueueFullPolicy::DropOldest);
    EXPECT_FALSE(b.username.has_value());
    EXPECT_FALSE(b.password.has_value());
}

TEST(BridgeConfig, LinesOfTheFileAreKeptForStartUpErrors) {
    const Config c = parse_ok(kFull);
    EXPECT_EQ(source_error(c, "bridge.0.addresses", "cannot resolve").to_string(),
              "t.toml:3: bridge.0.addresses: cannot resolve");
    EXPECT_EQ(source_error(c, "bridge.1.ca_file", "unreadable").to_string(), "t.toml:31: bridge.1.ca_file: unreadable");
}

// ---- errors, each with its line ------------------------------------------------------------------------------

TEST(BridgeConfig, EachKeyErrorOnItsLine) {
    const std::vector<std::pair<std::string, std::string>> cases{
        {"nmae = \"x\"", "t.toml:5: bridge.0.nmae: unknown key (did you mean \"name\"?)"},
        {"keepalive_s = \"60\"", "t.toml:5: bridge.0.keepalive_s: expected an integer, got string \"60\""},
        {"keepalive_s = 0", "t.toml:5: bridge.0.keepalive_s: must be between 1 and 65535, got 0"},
        {"clean_start = 1", "t.toml:5: bridge.0.clean_start: expected a boolean, got integer 1"},
        {"protocol = \"3.1\"", "t.toml:5: bridge.0.protocol: must be one of \"3.1.1\", \"5.0\", got \"3.1\""},
        {"protocol = 5", "t.toml:5: bridge.0.protocol: expected a string, got integer 5"},
        {"queue_full_policy = \"drop\"",
         "t.toml:5: bridge.0.queue_full_policy: must be one of \"drop_new\", \"drop_oldest\", got \"drop\""},
        {"max_inflight = 0", "t.toml:5: bridge.0.max_inflight: must be between 1 and 65535, got 0"},
        {"max_inflight = 65536", "t.toml:5: bridge.0.max_inflight: must be between 1 and 65535, got 65536"},
        {"max_queued_bytes = 1048575",
         "t.toml:5: bridge.0.max_queued_bytes: must be between 1048576 and 9223372036854775807, got 1048575"},
        {"max_queued_messages = 0", "t.toml:5: bridge.0.max_queued_messages: must be between 1 and 4294967295, got 0"},
        {"client_id = \"" + std::string(257, 'c') + "\"",
         "t.toml:5: bridge.0.client_id: must be at most 256 bytes, got 257 (empty: \"<host name>.<name>\")"},
        {"username = 7", "t.toml:5: bridge.0.username: expected a string, got integer 7"},
        {"password = \"p\"", "t.toml:5: bridge.0.password: needs a username"},
        {"reconnect_min_ms = 70000",
         "t.toml:5: bridge.0.reconnect_min_ms: reconnect_min_ms (70000) is above reconnect_max_ms (60000)"},
        {"session_expiry_s = 60\nprotocol = \"3.1.1\"",
         "t.toml:5: bridge.0.session_expiry_s: is MQTT 5.0 only: with protocol = \"3.1.1\" clean_start = false keeps "
         "the session for ever"},
        {"ca_file = \"ca.pem\"",
         "t.toml:5: bridge.0.ca_file: TLS settings need mqtts:// or wss:// addresses only, and "
         "\"mqtt://h:1883\" is not one"},
        {"tls_insecure = true",
         "t.toml:5: bridge.0.tls_insecure: TLS settings need mqtts:// or wss:// addresses only, and "
         "\"mqtt://h:1883\" is not one"},
    };
    for (const auto& [extra, expected] : cases) {
        EXPECT_EQ(parse_errors(minimal(extra)), Strings{expected}) << extra;
    }
}

TEST(BridgeConfig, ReconnectMaxBelowTheDefaultMinIsBlamedOnMax) {
    EXPECT_EQ(parse_errors(minimal("reconnect_max_ms = 10")),
              Strings{"t.toml:5: bridge.0.reconnect_max_ms: reconnect_min_ms (1000) is above reconnect_max_ms (10)"});
}

TEST(BridgeConfig, CertificateAndKeyGoTogether) {
    const std::string tls = "[[bridge]]\nname = \"b\"\naddresses = [\"mqtts://h\"]\ntopics = [\"#\"]\n";
    EXPECT_EQ(parse_errors(tls + "cert_file = \"c.pem\"\n"),
              Strings{"t.toml:5: bridge.0.cert_file: needs key_file (the client certificate's private key)"});
    EXPECT_EQ(parse_errors(tls + "key_file = \"k.pem\"\n"),
              Strings{"t.toml:5: bridge.0.key_file: needs cert_file (the client certificate)"});
    parse_ok(tls + "cert_file = \"c.pem\"\nkey_file = \"k.pem\"\nca_file = \"ca.pem\"\nsni = \"x\"\n");
}

TEST(BridgeConfig, TlsSettingsWithAnyPlainAddressAreRefused) {
    // A failover from mqtts:// to mqtt:// would send the credentials in clear: the TLS keys say TLS is wanted.
    EXPECT_EQ(parse_errors("[[bridge]]\nname = \"b\"\naddresses = [\"mqtts://a\", \"ws://b\"]\ntopics = [\"#\"]\n"
                           "sni = \"a\"\n"),
              Strings{"t.toml:5: bridge.0.sni: TLS settings need mqtts:// or wss:// addresses only, and "
                      "\"ws://b:80/mqtt\" is not one"});
}

TEST(BridgeConfig, MissingNameAddressesAndTopicsAreBlamedOnTheTable) {
    EXPECT_EQ(parse_errors("workers = 1\n[[bridge]]\nkeepalive_s = 5\n"),
              (Strings{"t.toml:2: bridge.0.name: missing: every [[bridge]] needs a name (letters, digits, '-', '_', "
                       "'.')",
                       "t.toml:2: bridge.0.addresses: missing: must list at least one address (\"mqtt://host:1883\", "
                       "\"mqtts://host\", ...)",
                       "t.toml:2: bridge.0.topics: missing: must list at least one topic rule (\"sensors/# out 1\")"}));
}

TEST(BridgeConfig, EmptyListsAreRefusedOnTheirLine) {
    EXPECT_EQ(parse_errors("[[bridge]]\nname = \"b\"\naddresses = []\ntopics = []\n"),
              (Strings{"t.toml:3: bridge.0.addresses: must list at least one address (\"mqtt://host:1883\", "
                       "\"mqtts://host\", ...)",
                       "t.toml:4: bridge.0.topics: must list at least one topic rule (\"sensors/# out 1\")"}));
    EXPECT_EQ(parse_errors("[[bridge]]\nname = \"b\"\naddresses = \"h\"\ntopics = [1]\n"),
              (Strings{"t.toml:3: bridge.0.addresses: expected an array of strings, got string \"h\"",
                       "t.toml:4: bridge.0.topics: element 0: expected a string, got integer 1"}));
}

TEST(BridgeConfig, BadNames) {
    EXPECT_EQ(parse_errors(minimal({}, "a/b")),
              Strings{"t.toml:2: bridge.0.name: must be 1 to 64 letters, digits, '-', '_' or '.', got \"a/b\""});
    EXPECT_EQ(parse_errors(minimal({}, "")),
              Strings{"t.toml:2: bridge.0.name: must be 1 to 64 letters, digits, '-', '_' or '.', got \"\""});
    EXPECT_EQ(parse_errors(minimal({}, std::string(65, 'n'))).size(), 1U);
    parse_ok(minimal({}, std::string(64, 'n')));
}

TEST(BridgeConfig, DuplicateNameIsBlamedOnTheLaterBridge) {
    EXPECT_EQ(parse_errors(minimal({}, "x") + minimal({}, "y") + minimal({}, "x")),
              Strings{"t.toml:12: bridge.2.name: \"x\" is already the name of bridge.0"});
}

TEST(BridgeConfig, BadAddressesAndTopicRulesOnTheirOwnLines) {
    constexpr std::string_view kText = R"([[bridge]]
name = "b"
addresses = [
  "mqtt://ok",
  "http://web.example.com",
  "mqtt://h:0",
]
topics = [
  "sensors/# out 1",
  "sensors/# sideways",
  "# out 3",
]
)";
    EXPECT_EQ(parse_errors(kText),
              (Strings{"t.toml:5: bridge.0.addresses: element 1: \"http://web.example.com\": not an mqtt://, mqtts://, "
                       "ws:// or wss:// address",
                       "t.toml:6: bridge.0.addresses: element 2: \"mqtt://h:0\": a bad port \"0\" (1 to 65535)",
                       "t.toml:10: bridge.0.topics: element 1: \"sensors/# sideways\": direction must be \"in\", "
                       "\"out\" or \"both\", got \"sideways\"",
                       "t.toml:11: bridge.0.topics: element 2: \"# out 3\": qos must be 0, 1 or 2, got \"3\""}));
}

TEST(BridgeConfig, BridgeMustBeAnArrayOfTables) {
    EXPECT_EQ(parse_errors("[bridge]\nname = \"b\"\n"),
              Strings{"t.toml:1: bridge: expected an array of tables ([[bridge]]), got a table"});
    EXPECT_EQ(parse_errors("bridge = [1]\n"), Strings{"t.toml:1: bridge.0: expected a table, got integer 1"});
}

TEST(BridgeConfig, TopLevelTypoSuggestsBridge) {
    EXPECT_EQ(parse_errors("[[brigde]]\n"), Strings{"t.toml:1: brigde: unknown key (did you mean \"bridge\"?)"});
}

// ---- topic rules ---------------------------------------------------------------------------------------------

struct GoodRule {
    std::string text;
    BridgeTopic parsed;
    std::string written;  // to_string(parsed)
};

TEST(BridgeTopicRule, MosquittoExamplesParseAndWriteBack) {
    const std::vector<GoodRule> rules{
        // mosquitto.conf(5): `topic sensors/# out 1`, `topic # both 2 local/ remote/`, `topic "" in 0 a/b x/y`
        {"sensors/# out 1", {"sensors/#", BridgeDirection::Out, 1, "", ""}, "sensors/# out 1"},
        {"# both 2 local/ remote/", {"#", BridgeDirection::Both, 2, "local/", "remote/"}, "# both 2 local/ remote/"},
        {R"("" in 0 a/b x/y)", {"", BridgeDirection::In, 0, "a/b", "x/y"}, R"("" in 0 a/b x/y)"},
        // direction defaults to out, qos to 0; the direction in any case; blanks and tabs between words
        {"sensors/#", {"sensors/#", BridgeDirection::Out, 0, "", ""}, "sensors/# out 0"},
        {"a/+ IN", {"a/+", BridgeDirection::In, 0, "", ""}, "a/+ in 0"},
        {"  a/b \t Both  2 ", {"a/b", BridgeDirection::Both, 2, "", ""}, "a/b both 2"},
        // one empty prefix: the other side keeps the topic as it is
        {R"(# out 1 "" cloud/)", {"#", BridgeDirection::Out, 1, "", "cloud/"}, R"(# out 1 "" cloud/)"},
        {R"(# in 1 edge/ "")", {"#", BridgeDirection::In, 1, "edge/", ""}, R"(# in 1 edge/ "")"},
        {R"(# in 1 "" "")", {"#", BridgeDirection::In, 1, "", ""}, "# in 1"},
        {"$SYS/broker/# in 0", {"$SYS/broker/#", BridgeDirection::In, 0, "", ""}, "$SYS/broker/# in 0"},
    };
    for (const auto& rule : rules) {
        std::string error;
        const auto parsed = parse_bridge_topic(rule.text, error);
        ASSERT_TRUE(parsed) << rule.text << ": " << error;
        EXPECT_EQ(*parsed, rule.parsed) << rule.text;
        EXPECT_EQ(to_string(*parsed), rule.written) << rule.text;
        const auto again = parse_bridge_topic(to_string(*parsed), error);
        ASSERT_TRUE(again) << rule.written << ": " << error;
        EXPECT_EQ(*again, *parsed) << rule.written;
    }
}

TEST(BridgeTopicRule, FiltersArePrefixPlusPattern) {
    std::string error;
    const auto prefixed = parse_bridge_topic("# both 2 local/ remote/", error);
    ASSERT_TRUE(prefixed);
    EXPECT_EQ(local_filter(*prefixed), "local/#");
    EXPECT_EQ(remote_filter(*prefixed), "remote/#");
    const auto empty = parse_bridge_topic(R"("" in 0 a/b x/y)", error);
    ASSERT_TRUE(empty);
    EXPECT_EQ(local_filter(*empty), "a/b");  // the prefixes alone are the topics
    EXPECT_EQ(remote_filter(*empty), "x/y");
}

TEST(BridgeTopicRule, RefusedRulesSayWhy) {
    const std::vector<std::pair<std::string, std::string>> rules{
        {"", "empty rule: expected `pattern [in|out|both [qos [local-prefix remote-prefix]]]`"},
        {" \t ", "empty rule: expected `pattern [in|out|both [qos [local-prefix remote-prefix]]]`"},
        {"a out 1 l/ r/ extra", "too many words: expected `pattern [in|out|both [qos [local-prefix remote-prefix]]]`"},
        {"a sideways", "direction must be \"in\", \"out\" or \"both\", got \"sideways\""},
        {"a out 3", "qos must be 0, 1 or 2, got \"3\""},
        {"a out x", "qos must be 0, 1 or 2, got \"x\""},
        {"a out 01", "qos must be 0, 1 or 2, got \"01\""},
        {"a out 1 local/", "a local prefix needs a remote prefix (write \"\" for an empty one)"},
        // Mosquitto's "Invalid bridge remapping": an empty pattern needs both prefixes
        {R"("")", "an empty pattern (\"\") needs a local and a remote prefix: they are then the topics"},
        {R"("" in 0)", "an empty pattern (\"\") needs a local and a remote prefix: they are then the topics"},
        {R"("" in 0 "" x/y)", "an empty pattern (\"\") needs a local and a remote prefix: they are then the topics"},
        // prefixes are topic names; prefix + pattern a topic filter [MQTT-4.7.1-1] [MQTT-4.7.1-2]
        {"# out 1 l/+/ r/", "local prefix \"l/+/\": topic name contains a wildcard ('+' or '#')"},
        {"# out 1 l/ r/#", "remote prefix \"r/#\": topic name contains a wildcard ('+' or '#')"},
        {"# out 1 local remote/",
         "local topic \"local#\" (prefix + pattern) is not a valid topic filter: "
         "wildcard not alone on its level, or '#' not last"},
        {"a/#/b",
         "local topic \"a/#/b\" (prefix + pattern) is not a valid topic filter: "
         "wildcard not alone on its level, or '#' not last"},
        {"$share/g/# in 1", "local topic \"$share/g/#\" is a shared subscription: not a bridge topic"},
    };
    for (const auto& [text, expected] : rules) {
        std::string error;
        EXPECT_FALSE(parse_bridge_topic(text, error)) << text;
        EXPECT_EQ(error, expected) << text;
    }
}

// ---- addresses -----------------------------------------------------------------------------------------------

TEST(BridgeAddress, NormalizedAsTheClientLibraryReadsIt) {
    const std::vector<std::pair<std::string, std::string>> good{
        {"localhost", "mqtt://localhost:1883"},
        {"localhost:1884", "mqtt://localhost:1884"},
        {"MQTT://h", "mqtt://h:1883"},
        {"mqtt://h/", "mqtt://h:1883"},
        {"mqtts://h", "mqtts://h:8883"},
        {"ws://h", "ws://h:80/mqtt"},
        {"ws://h:8000/", "ws://h:8000/"},
        {"wss://h/ws?x=1", "wss://h:443/ws?x=1"},
        {"ws://h?x", "ws://h:80/?x"},
        {"[::1]:1884", "mqtt://[::1]:1884"},
        {"mqtts://[fe80::1%eth0]", "mqtts://[fe80::1%eth0]:8883"},
        {"h_1.lan:65535", "mqtt://h_1.lan:65535"},
    };
    for (const auto& [text, expected] : good) {
        std::string error;
        EXPECT_EQ(normalize_bridge_address(text, error), expected) << text << ": " << error;
        // The bridge hands the address to net::parse_url: both must agree, and the normal form must be stable.
        const auto url = net::parse_url(text);
        ASSERT_TRUE(url) << text << ": " << url.error();
        EXPECT_EQ(net::to_string(*url), expected) << text;
        EXPECT_EQ(normalize_bridge_address(expected, error), expected) << expected;
    }
    const std::vector<std::string> bad{"",          "http://h",      "mqtt://",       "mqtt://h:0", "mqtt://h:65536",
                                       "mqtt://h:", "mqtt://h:x",    "mqtt://u@h",    "mqtt://h/p", "::1",
                                       "a b",       "mqtt://[::1",   "mqtt://h#frag", "ws://h/#f",  "mqtt://h!",
                                       "[xyz]:1",   "mqtt://[::1]x", "mqtt://:1883"};
    for (const auto& text : bad) {
        std::string error;
        EXPECT_FALSE(normalize_bridge_address(text, error)) << text;
        EXPECT_FALSE(error.empty()) << text;
        EXPECT_FALSE(net::parse_url(text)) << text << " (the client library accepts it)";
    }
}

TEST(BridgeAddress, TlsSchemes) {
    EXPECT_TRUE(is_tls_address("mqtts://h:8883"));
    EXPECT_TRUE(is_tls_address("wss://h:443/mqtt"));
    EXPECT_FALSE(is_tls_address("mqtt://h:1883"));
    EXPECT_FALSE(is_tls_address("ws://h:80/mqtt"));
}

// ---- client id -----------------------------------------------------------------------------------------------

TEST(BridgeClientId, ConfiguredOrHostDotName) {
    Bridge b;
    b.name = "cloud";
    EXPECT_EQ(bridge_client_id(b, "pi-7"), "pi-7.cloud");  // Mosquitto's default: <host name>.<connection name>
    EXPECT_EQ(bridge_client_id(b, ""), "cloud");
    const std::string id = bridge_client_id(b, std::string(300, 'h'));
    EXPECT_EQ(id.size(), kMaxBridgeClientIdLength);
    EXPECT_TRUE(id.ends_with(".cloud"));
    b.client_id = "edge";
    EXPECT_EQ(bridge_client_id(b, "pi-7"), "edge");
}

// ---- the example file, --set, reloads --------------------------------------------------------------------------

std::string read_text(const std::string& path) {
    std::ifstream in(path);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

TEST(BridgeConfig, ExampleInConfParsesWhenUncommentedAndNamesEveryKey) {
    // The commented [[bridge]] in conf/mothd.toml: from "# [[bridge]]" to the first line that is not a comment.
    const std::string text = read_text(std::string(MOTH_SOURCE_DIR) + "/conf/mothd.toml");
    const std::size_t start = text.find("# [[bridge]]");
    ASSERT_NE(start, std::string::npos);
    std::string uncommented;
    std::istringstream rest(text.substr(start));
    for (std::string line; std::getline(rest, line) && line.starts_with('#');) {
        uncommented += (line.starts_with("# ") ? line.substr(2) : "") + "\n";
    }
    const Config c = parse_ok(uncommented);
    ASSERT_EQ(c.bridges.size(), 1U);
    EXPECT_FALSE(c.bridges[0].topics.empty());
    for (const std::string_view key : {"name",
                                       "addresses",
                                       "protocol",
                                       "client_id",
                                       "username",
                                       "password",
                                       "keepalive_s",
                                       "clean_start",
                                       "session_expiry_s",
                                       "reconnect_min_ms",
                                       "reconnect_max_ms",
                                       "try_private",
                                       "keep_retain",
                                       "queue_qos0",
                                       "max_inflight",
                                       "max_queued_bytes",
                                       "max_queued_messages",
                                       "queue_full_policy",
                                       "ca_file",
                                       "cert_file",
                                       "key_file",
                                       "sni",
                                       "tls_insecure",
                                       "topics"}) {
        EXPECT_NE(uncommented.find("\n" + std::string(key) + " = "), std::string::npos) << key;
    }
}

TEST(BridgeConfig, ExampleInTheDocsParses) {
    // The first ```toml block of docs/configuration.md's [[bridge]] section.
    const std::string text = read_text(std::string(MOTH_SOURCE_DIR) + "/docs/configuration.md");
    const std::size_t section = text.find("## `[[bridge]]`");
    ASSERT_NE(section, std::string::npos);
    const std::size_t begin = text.find("```toml\n", section);
    ASSERT_NE(begin, std::string::npos);
    const std::size_t end = text.find("```", begin + 8);
    ASSERT_NE(end, std::string::npos);
    const Config c = parse_ok(text.substr(begin + 8, end - begin - 8));
    ASSERT_EQ(c.bridges.size(), 1U);
    EXPECT_EQ(c.bridges[0].addresses,
              (std::vector<std::string>{"mqtts://cloud.example.com:8883", "mqtts://cloud-2.example.com:8884"}));
    ASSERT_EQ(c.bridges[0].topics.size(), 2U);
    EXPECT_EQ(to_string(c.bridges[0].topics[0]), R"(sensors/# out 1 "" classroom-7/)");
    EXPECT_EQ(remote_filter(c.bridges[0].topics[1]), "classroom-7/commands/#");
    EXPECT_EQ(local_filter(c.bridges[0].topics[1]), "commands/#");
}

TEST(BridgeConfig, OverridesRefuseBridges) {
    Config c = default_config();
    EXPECT_EQ(messages(apply_override(c, "bridge.0.name=x")),
              Strings{"<override>: bridge.0.name: bridges cannot be set with --set: write a [[bridge]] table in the "
                      "config file"});
    EXPECT_TRUE(c.bridges.empty());
}

TEST(BridgeConfig, ReloadAppliesBridgesAndNamesThem) {
    const Config running = parse_ok(minimal({}, "keep") + minimal({}, "change") + minimal({}, "gone"));
    const Config reloaded = parse_ok(minimal({}, "keep") + minimal("keepalive_s = 5", "change") + minimal({}, "new"));
    EXPECT_EQ(differences(running, reloaded), (Strings{"bridge.change", "bridge.gone", "bridge.new"}));
    EXPECT_TRUE(reload_differences(running, reloaded).empty());
    EXPECT_FALSE(needs_restart("bridge.change"));

    // Order alone is no change: bridges are known by name.
    const Config reordered = parse_ok(minimal({}, "gone") + minimal({}, "keep") + minimal({}, "change"));
    EXPECT_TRUE(differences(running, reordered).empty());
    // Nor is a difference in how an address was written, once normalized.
    EXPECT_TRUE(differences(parse_ok(minimal({}, "a")),
                            parse_ok("[[bridge]]\nname = \"a\"\naddresses = [\"mqtt://h:1883\"]\ntopics = [\"#\"]\n"))
                    .empty());
    // A changed topic rule is a change of its bridge.
    const Config topic_changed = parse_ok("[[bridge]]\nname = \"keep\"\naddresses = [\"h\"]\ntopics = [\"# in\"]\n" +
                                          minimal({}, "change") + minimal({}, "gone"));
    EXPECT_EQ(differences(running, topic_changed), Strings{"bridge.keep"});
}

}  // namespace
}  // namespace moth::config
