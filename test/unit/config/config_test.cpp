// Loading mothd's TOML config: defaults, the example file, every kind of error with its exact text, reloads.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "config/config.hpp"

#ifndef MOTH_SOURCE_DIR
#error "MOTH_SOURCE_DIR must point at the source tree (set by test/unit/config/CMakeLists.txt)"
#endif

namespace moth::config {
namespace {

std::vector<std::string> messages(const std::vector<ConfigError>& errors) {
    std::vector<std::string> out;
    for (const auto& e : errors) {
        out.push_back(e.to_string());
    }
    return out;
}

std::vector<std::string> parse_errors(std::string_view text) {
    return messages(parse_config(text, "test.toml").errors);
}

std::string read_text(const std::string& path) {
    std::ifstream in(path);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

const std::string kExampleConfig = std::string(MOTH_SOURCE_DIR) + "/conf/mothd.toml";

// ---- defaults and the example file ---------------------------------------------------------------------------

TEST(ConfigDefaults, TheCoursePortsOnAllAddresses) {
    const Config c = default_config();
    EXPECT_EQ(c.source, "<defaults>");
    ASSERT_EQ(c.listeners.size(), 6U);
    const std::vector<std::tuple<ListenerKind, std::string, std::uint16_t>> expected{
        {ListenerKind::Mqtt, "mqtt-0", 1883}, {ListenerKind::Mqtts, "mqtts-1", 8883},
        {ListenerKind::Ws, "ws-2", 8000},     {ListenerKind::Wss, "wss-3", 8884},
        {ListenerKind::MqttSn, "mqttsn-5", 1884}};
    for (std::size_t i = 0; i < expected.size(); ++i) {
        const auto& [kind, name, port] = expected[i];
        const std::size_t at = i < 4 ? i : 5;  // http-4 sits between the course's four and MQTT-SN
        EXPECT_EQ(c.listeners[at].kind, kind) << i;
        EXPECT_EQ(c.listeners[at].name, name);
        EXPECT_EQ(c.listeners[at].bind, "0.0.0.0");
        EXPECT_EQ(c.listeners[at].port, port);
        EXPECT_EQ(c.listeners[at].cert_file, "");  // the development certificate
        EXPECT_EQ(c.listeners[at].ws_path, "/mqtt");
    }
    EXPECT_EQ(c.data_dir, "./moth-data");
    EXPECT_EQ(c.log_level, "info");
    EXPECT_EQ(c.limits, Limits{});
    EXPECT_EQ(c.features, Features{});
    EXPECT_EQ(c.mqttsn, MqttSn{});
}

TEST(ConfigDefaults, TheHttpListenerIsLoopbackOnlyAndOpen) {
    // It carries the JSON API, open when no credentials are configured: never on all addresses by default.
    const Config c = default_config();
    ASSERT_EQ(c.listeners.size(), 6U);
    const Listener& http = c.listeners[4];
    EXPECT_EQ(http.kind, ListenerKind::Http);
    EXPECT_EQ(http.name, "http-4");
    EXPECT_EQ(http.bind, "127.0.0.1");
    EXPECT_EQ(http.port, 8080);
    EXPECT_EQ(http.ws_path, "/mqtt");
    EXPECT_EQ(http.web_root, "");  // the embedded console
    EXPECT_EQ(http.api_token, "");
    EXPECT_EQ(http.api_username, "");
    EXPECT_EQ(http.api_password, "");
}

TEST(ConfigDefaults, EmptyTextGivesTheDefaults) {
    const LoadResult r = parse_config("", "empty.toml");
    ASSERT_TRUE(r.ok()) << testing::PrintToString(messages(r.errors));
    EXPECT_EQ(r.config.source, "empty.toml");
    // The one difference a file makes by existing: it refuses anonymous clients unless it says otherwise (Mosquitto
    // 2's rule; the embedded defaults, the course demo, allow them).
    EXPECT_EQ(differences(r.config, default_config()), std::vector<std::string>{"auth.allow_anonymous"});
    EXPECT_FALSE(r.config.auth.allow_anonymous);
    EXPECT_TRUE(default_config().auth.allow_anonymous);
}

TEST(ConfigAuth, ReadsTheAuthTableAndTheListenersOwnAnonymousRule) {
    const LoadResult r = parse_config(
        "[auth]\npassword_file = \"/etc/moth/passwd\"\nacl_file = \"/etc/moth/acl\"\nallow_anonymous = false\n"
        "deny_action = \"disconnect\"\nverify_threads = 4\n"
        "[[listener]]\nkind = \"ws\"\nbind = \"127.0.0.1\"\nallow_anonymous = true\n[[listener]]\nkind = \"mqtt\"\n",
        "auth.toml");
    ASSERT_TRUE(r.ok()) << testing::PrintToString(messages(r.errors));
    const auto& a = r.config.auth;
    EXPECT_EQ(a.password_file, "/etc/moth/passwd");
    EXPECT_EQ(a.acl_file, "/etc/moth/acl");
    EXPECT_EQ(a.deny_action, DenyAction::Disconnect);
    EXPECT_EQ(a.verify_threads, 4U);
    EXPECT_TRUE(anonymous_allowed(r.config.listeners[0], a));
    EXPECT_FALSE(anonymous_allowed(r.config.listeners[1], a));
    EXPECT_FALSE(needs_restart("auth.acl_file"));
    EXPECT_FALSE(needs_restart("listener.0.allow_anonymous"));
    EXPECT_TRUE(needs_restart("auth.verify_threads"));
}

TEST(ConfigAuth, BadValuesNameTheirLine) {
    const LoadResult r = parse_config("[auth]\ndeny_action = \"shout\"\nverify_threads = 0\n", "bad.toml");
    ASSERT_EQ(r.errors.size(), 2U);
    EXPECT_EQ(r.errors[0].line, 2U);
    EXPECT_EQ(r.errors[0].key, "auth.deny_action");
    EXPECT_EQ(r.errors[1].line, 3U);
    EXPECT_EQ(r.errors[1].key, "auth.verify_threads");
}

TEST(ConfigDefaults, ExampleFileEqualsDefaultsFieldByField) {
    const LoadResult r = load_config_file(kExampleConfig);
    ASSERT_TRUE(r.ok()) << testing::PrintToString(messages(r.errors));
    EXPECT_EQ(r.config.source, kExampleConfig);
    // differences() names each field that differs; operator== (every member, by the compiler) backs it up in
    // case a field were ever missing from the loader's key table.
    EXPECT_EQ(differences(r.config, default_config()), std::vector<std::string>{});
    Config loaded = r.config;
    loaded.source = default_config().source;
    EXPECT_EQ(loaded, default_config());
}

TEST(ConfigDefaults, ExampleFileMentionsEveryKey) {
    // Every key must be documented in the example: turning each one to a non-default value must show up as a
    // difference, and its name must appear as "key =" in the file.
    const std::string text = read_text(kExampleConfig);
    for (const std::string key : {"workers",
                                  "tcp_nodelay",
                                  "io_backend",
                                  "data_dir",
                                  "ports_file",
                                  "log_level",
                                  "sys_interval_s",
                                  "server_reference",
                                  "max_connections",
                                  "max_packet_size",
                                  "receive_maximum",
                                  "max_inflight",
                                  "max_queued_messages",
                                  "max_queued_bytes",
                                  "queue_full_policy",
                                  "max_outgoing_buffer_bytes",
                                  "max_topic_levels",
                                  "max_subscriptions_per_client",
                                  "max_client_id_length",
                                  "max_keepalive",
                                  "max_session_expiry_interval",
                                  "topic_alias_maximum",
                                  "retain_available",
                                  "maximum_qos",
                                  "wildcard_subscriptions",
                                  "shared_subscriptions",
                                  "subscription_identifiers",
                                  "allow_zero_length_client_id",
                                  "shared_policy",
                                  "kind",
                                  "name",
                                  "bind",
                                  "port",
                                  "cert_file",
                                  "key_file",
                                  "ca_file",
                                  "require_client_cert",
                                  "tls_min_version",
                                  "tls_max_version",
                                  "ciphers",
                                  "ciphersuites",
                                  "use_cn_as_username",
                                  "ws_path",
                                  "allowed_origins",
                                  "proxy_protocol",
                                  "trust_x_forwarded_for",
                                  "web_root",
                                  "api_token",
                                  "api_username",
                                  "api_password",
                                  "gateway_id",
                                  "advertise_interval_s",
                                  "advertise_address",
                                  "retry_interval_ms",
                                  "max_retries",
                                  "sleep_buffer",
                                  "max_registrations",
                                  "session_expiry_s",
                                  "max_datagram",
                                  "qos_minus_one",
                                  "username",
                                  "client_ids",
                                  "allow_addresses"}) {
        EXPECT_NE(text.find(key + " ="), std::string::npos) << key;
    }
}

TEST(ConfigDefaults, ExampleListenersParseWhenUncommented) {
    // The commented-out listeners at the end of the example must be valid once their "# " is removed.
    const std::string text = read_text(kExampleConfig);
    const std::size_t start = text.find("# [[listener]]");
    ASSERT_NE(start, std::string::npos);
    std::string uncommented = text.substr(0, start);
    std::istringstream rest(text.substr(start));
    for (std::string line; std::getline(rest, line);) {
        uncommented += (line.starts_with("# ") ? line.substr(2) : line == "#" ? "" : line) + "\n";
    }
    const LoadResult r = parse_config(uncommented, "uncommented.toml");
    ASSERT_TRUE(r.ok()) << testing::PrintToString(messages(r.errors));
    ASSERT_EQ(r.config.listeners.size(), 8U);
    EXPECT_EQ(r.config.listeners[6].name, "mqtts-6");
    EXPECT_EQ(r.config.listeners[6].cert_file, "/etc/moth/server.crt");
    EXPECT_TRUE(r.config.listeners[6].require_client_cert);
    EXPECT_TRUE(r.config.listeners[6].use_cn_as_username);
    EXPECT_EQ(r.config.listeners[6].tls_min_version, "1.3");
    EXPECT_EQ(r.config.listeners[7].kind, ListenerKind::Http);
    EXPECT_EQ(r.config.listeners[7].name, "metrics");
    EXPECT_EQ(r.config.listeners[7].port, 9100);
    EXPECT_EQ(r.config.listeners[7].api_token, "change-me");
}

// ---- valid files ---------------------------------------------------------------------------------------------

TEST(ConfigParse, ReadsEveryTable) {
    const LoadResult r = parse_config(R"(
workers = 2
log_level = "debug"
server_reference = "other:1883"
[limits]
max_inflight = 10
queue_full_policy = "drop_oldest"
max_queued_bytes = 9000000000
[features]
maximum_qos = 1
shared_policy = "sticky"
[[listener]]
kind = "ws"
[[listener]]
kind = "mqtt"
name = "local"
bind = "localhost"
port = 0
max_connections = 5
)",
                                      "t.toml");
    ASSERT_TRUE(r.ok()) << testing::PrintToString(messages(r.errors));
    const Config& c = r.config;
    EXPECT_EQ(c.workers, 2U);
    EXPECT_EQ(c.log_level, "debug");
    EXPECT_EQ(c.server_reference, "other:1883");
    EXPECT_EQ(c.limits.max_inflight, 10);
    EXPECT_EQ(c.limits.queue_full_policy, QueueFullPolicy::DropOldest);
    EXPECT_EQ(c.limits.max_queued_bytes, 9000000000ULL);
    EXPECT_EQ(c.features.maximum_qos, 1);
    EXPECT_EQ(c.features.shared_policy, SharedPolicy::Sticky);
    ASSERT_EQ(c.listeners.size(), 2U);
    // Defaults that depend on the kind and the position.
    EXPECT_EQ(c.listeners[0].name, "ws-0");
    EXPECT_EQ(c.listeners[0].port, 8000);
    EXPECT_EQ(c.listeners[0].ws_path, "/mqtt");
    EXPECT_EQ(c.listeners[1].name, "local");
    EXPECT_EQ(c.listeners[1].bind, "localhost");
    EXPECT_EQ(c.listeners[1].port, 0);  // any free port
    EXPECT_EQ(c.listeners[1].max_connections, 5U);
    EXPECT_EQ(differences(c, default_config()),
              (std::vector<std::string>{"workers", "log_level", "server_reference", "limits.max_inflight",
                                        "limits.max_queued_bytes", "limits.queue_full_policy", "features.maximum_qos",
                                        "features.shared_policy", "auth.allow_anonymous", "listener.0.kind", "listener.0.name",
                                        "listener.0.port", "listener.1.kind", "listener.1.name", "listener.1.bind",
                                        "listener.1.port", "listener.1.max_connections", "listener.2",
                                        "listener.3", "listener.4", "listener.5"}));
}

TEST(ConfigParse, PortZeroIsAccepted) {
    const LoadResult r = parse_config("[[listener]]\nport = 0\n[[listener]]\nport = 0\nname = \"b\"\n", "t.toml");
    ASSERT_TRUE(r.ok()) << testing::PrintToString(messages(r.errors));
    EXPECT_EQ(r.config.listeners[0].port, 0);
    EXPECT_EQ(r.config.listeners[1].port, 0);  // two port-0 listeners on one address do not collide
}

TEST(ConfigParse, BindAcceptsIpv4Ipv6AndHostNames) {
    for (const std::string bind : {"0.0.0.0", "127.0.0.1", "::", "::1", "fe80::1%eth0", "2001:db8::8:800:200c:417a",
                                   "::ffff:192.0.2.1", "localhost", "broker.example.com", "my-host"}) {
        const LoadResult r = parse_config("[[listener]]\nbind = \"" + bind + "\"\n", "t.toml");
        ASSERT_TRUE(r.ok()) << bind << ": " << testing::PrintToString(messages(r.errors));
        EXPECT_EQ(r.config.listeners[0].bind, bind);
    }
}

TEST(ConfigParse, InlineTablesWorkAsListeners) {
    const LoadResult r =
        parse_config("listener = [{ kind = \"mqtt\", port = 1 }, { kind = \"http\", bind = \"::\" }]\n", "t.toml");
    ASSERT_TRUE(r.ok()) << testing::PrintToString(messages(r.errors));
    ASSERT_EQ(r.config.listeners.size(), 2U);
    EXPECT_EQ(r.config.listeners[1].name, "http-1");
    EXPECT_EQ(r.config.listeners[1].port, 8080);
}

TEST(ConfigParse, TlsListenerWithCertificateAndClientCa) {
    const LoadResult r = parse_config(R"([[listener]]
kind = "mqtts"
cert_file = "c.pem"
key_file = "k.pem"
ca_file = "ca.pem"
require_client_cert = true
)",
                                      "t.toml");
    ASSERT_TRUE(r.ok()) << testing::PrintToString(messages(r.errors));
    EXPECT_EQ(r.config.listeners[0].port, 8883);
    EXPECT_TRUE(r.config.listeners[0].require_client_cert);
}

// ---- errors, one kind at a time ------------------------------------------------------------------------------

TEST(ConfigErrors, SyntaxErrorNamesLineAndToml) {
    const auto errors = parse_errors("workers = 1\nlog_level = \"info\nx = 1\n");
    ASSERT_EQ(errors.size(), 1U);
    EXPECT_TRUE(errors[0].starts_with("test.toml:2: <toml>: ")) << errors[0];
}

TEST(ConfigErrors, SyntaxErrorDuplicateKey) {
    const auto errors = parse_errors("workers = 1\n\nworkers = 2\n");
    ASSERT_EQ(errors.size(), 1U);
    EXPECT_TRUE(errors[0].starts_with("test.toml:3: <toml>: ")) << errors[0];
}

TEST(ConfigErrors, UnknownKeys) {
    EXPECT_EQ(parse_errors("\nwokers = 1\n"),
              std::vector<std::string>{R"(test.toml:2: wokers: unknown key (did you mean "workers"?))"});
    EXPECT_EQ(
        parse_errors("[limits]\nmax_inflght = 1\n"),
        std::vector<std::string>{R"(test.toml:2: limits.max_inflght: unknown key (did you mean "max_inflight"?))"});
    EXPECT_EQ(parse_errors("[features]\nbananas = true\n"),
              std::vector<std::string>{"test.toml:2: features.bananas: unknown key"});
    EXPECT_EQ(parse_errors("[[listener]]\nport = 1\naddress = \"::\"\n"),
              std::vector<std::string>{"test.toml:3: listener.0.address: unknown key"});
    EXPECT_EQ(parse_errors("[limit]\nmax_inflight = 1\n"),
              std::vector<std::string>{R"(test.toml:1: limit: unknown key (did you mean "limits"?))"});
}

TEST(ConfigErrors, WrongTypes) {
    EXPECT_EQ(parse_errors("workers = \"2\"\n"),
              std::vector<std::string>{R"(test.toml:1: workers: expected an integer, got string "2")"});
    EXPECT_EQ(parse_errors("tcp_nodelay = 1\n"),
              std::vector<std::string>{"test.toml:1: tcp_nodelay: expected a boolean, got integer 1"});
    EXPECT_EQ(parse_errors("data_dir = 5\n"),
              std::vector<std::string>{"test.toml:1: data_dir: expected a string, got integer 5"});
    EXPECT_EQ(parse_errors("[limits]\nmax_inflight = 1.5\n"),
              std::vector<std::string>{"test.toml:2: limits.max_inflight: expected an integer, got float 1.5"});
    EXPECT_EQ(parse_errors("[features]\nshared_policy = [1]\n"),
              std::vector<std::string>{"test.toml:2: features.shared_policy: expected a string, got an array"});
    EXPECT_EQ(parse_errors("limits = 3\n"),
              std::vector<std::string>{"test.toml:1: limits: expected a table ([limits]), got integer 3"});
    EXPECT_EQ(
        parse_errors("[listener]\nport = 1\n"),
        std::vector<std::string>{"test.toml:1: listener: expected an array of tables ([[listener]]), got a table"});
    EXPECT_EQ(parse_errors("listener = [1]\n"),
              std::vector<std::string>{"test.toml:1: listener.0: expected a table, got integer 1"});
    EXPECT_EQ(parse_errors("listener = []\n"),
              std::vector<std::string>{"test.toml:1: listener: must list at least one listener (leave it out for "
                                       "the default mqtt listener)"});
}

TEST(ConfigErrors, ValuesOutOfRange) {
    EXPECT_EQ(parse_errors("workers = -1\n"),
              std::vector<std::string>{"test.toml:1: workers: must be between 0 and 1024, got -1"});
    EXPECT_EQ(parse_errors("[limits]\nreceive_maximum = 0\n"),
              std::vector<std::string>{"test.toml:2: limits.receive_maximum: must be between 1 and 65535, got 0"});
    EXPECT_EQ(parse_errors("[limits]\nmax_packet_size = 268435461\n"),
              std::vector<std::string>{
                  "test.toml:2: limits.max_packet_size: must be between 20 and 268435460, got 268435461"});
    EXPECT_EQ(
        parse_errors("[limits]\nmax_client_id_length = 22\n"),
        std::vector<std::string>{"test.toml:2: limits.max_client_id_length: must be between 23 and 65535, got 22"});
    EXPECT_EQ(parse_errors("[limits]\nmax_session_expiry_interval = 4294967296\n"),
              std::vector<std::string>{"test.toml:2: limits.max_session_expiry_interval: must be between 0 and "
                                       "4294967295, got 4294967296"});
    EXPECT_EQ(parse_errors("[features]\nmaximum_qos = 3\n"),
              std::vector<std::string>{"test.toml:2: features.maximum_qos: must be between 0 and 2, got 3"});
}

TEST(ConfigErrors, PortAbove65535) {
    EXPECT_EQ(parse_errors("[[listener]]\nport = 65536\n"),
              std::vector<std::string>{"test.toml:2: listener.0.port: must be between 0 and 65535, got 65536"});
    EXPECT_EQ(parse_errors("[[listener]]\nport = -1\n"),
              std::vector<std::string>{"test.toml:2: listener.0.port: must be between 0 and 65535, got -1"});
}

TEST(ConfigErrors, BadEnumStrings) {
    EXPECT_EQ(parse_errors("[[listener]]\nkind = \"tcp\"\n"),
              std::vector<std::string>{R"(test.toml:2: listener.0.kind: must be one of "mqtt", "mqtts", "ws", )"
                                       R"("wss", "http", "mqttsn", "mqttsns", got "tcp")"});
    EXPECT_EQ(parse_errors("log_level = \"verbose\"\n"),
              std::vector<std::string>{R"(test.toml:1: log_level: must be one of "trace", "debug", "info", "warn", )"
                                       R"("error", "critical", "off", got "verbose")"});
    EXPECT_EQ(parse_errors("[limits]\nqueue_full_policy = \"drop\"\n"),
              std::vector<std::string>{R"(test.toml:2: limits.queue_full_policy: must be one of "drop_new", )"
                                       R"("drop_oldest", got "drop")"});
    EXPECT_EQ(parse_errors("io_backend = \"kqueue\"\n"),
              std::vector<std::string>{R"(test.toml:1: io_backend: must be one of "auto", "io_uring", "epoll", )"
                                       R"(got "kqueue")"});
    EXPECT_EQ(parse_errors("[features]\nshared_policy = \"RoundRobin\"\n"),
              std::vector<std::string>{R"(test.toml:2: features.shared_policy: must be one of "round_robin", )"
                                       R"("random", "sticky", got "RoundRobin")"});
}

TEST(ConfigErrors, BadBindAddresses) {
    const auto bind_error = [](const std::string& bind) {
        const auto errors = parse_errors("[[listener]]\nbind = \"" + bind + "\"\n");
        return errors.size() == 1 ? errors[0] : testing::PrintToString(errors);
    };
    EXPECT_EQ(bind_error("256.0.0.1"), R"(test.toml:2: listener.0.bind: not a valid IPv4 address: "256.0.0.1")");
    EXPECT_EQ(bind_error("127.0.1"), R"(test.toml:2: listener.0.bind: not a valid IPv4 address: "127.0.1")");
    EXPECT_EQ(bind_error(":::1"), R"(test.toml:2: listener.0.bind: not a valid IPv6 address: ":::1")");
    EXPECT_EQ(bind_error("fe80::1%"), R"(test.toml:2: listener.0.bind: not a valid IPv6 address: "fe80::1%")");
    EXPECT_EQ(bind_error("[::1]"), R"(test.toml:2: listener.0.bind: write IPv6 addresses without brackets )"
                                   R"(("::1", not "[::1]"), got "[::1]")");
    EXPECT_EQ(bind_error("my host"), R"(test.toml:2: listener.0.bind: not a valid IPv4 address, IPv6 address or )"
                                     R"(host name: "my host")");
    EXPECT_EQ(bind_error("-bad.example"), R"(test.toml:2: listener.0.bind: not a valid IPv4 address, IPv6 )"
                                          R"(address or host name: "-bad.example")");
    EXPECT_EQ(bind_error(""), R"(test.toml:2: listener.0.bind: must not be empty (use "0.0.0.0" or "::" for )"
                              R"(every address))");
}

TEST(ConfigErrors, DuplicateListenerNamesAndPorts) {
    EXPECT_EQ(parse_errors(R"([[listener]]
port = 1883
[[listener]]
name = "mqtt-0"
port = 1884
[[listener]]
port = 1883
bind = "127.0.0.1"
[[listener]]
port = 1883
)"),
              (std::vector<std::string>{R"(test.toml:4: listener.1.name: duplicate name "mqtt-0" (listener.0 has )"
                                        R"(it too))",
                                        "test.toml:10: listener.3.port: port 1883 on 0.0.0.0 is already used by "
                                        "listener.0"}));
}

TEST(ConfigHttp, KeysOfAnHttpListener) {
    const LoadResult r = parse_config("[[listener]]\nkind = \"http\"\nport = 0\nweb_root = \"/srv/www\"\n"
                                      "ws_path = \"/ws\"\napi_token = \"s3cret\"\napi_username = \"admin\"\n"
                                      "api_password = \"pw\"\n",
                                      "t.toml");
    ASSERT_TRUE(r.ok()) << testing::PrintToString(messages(r.errors));
    ASSERT_EQ(r.config.listeners.size(), 1U);
    const Listener& l = r.config.listeners[0];
    EXPECT_EQ(l.name, "http-0");
    EXPECT_EQ(l.bind, "0.0.0.0");  // a listener the user writes binds where the user says, like the others
    EXPECT_EQ(l.web_root, "/srv/www");
    EXPECT_EQ(l.ws_path, "/ws");
    EXPECT_EQ(l.api_token, "s3cret");
    EXPECT_EQ(l.api_username, "admin");
    EXPECT_EQ(l.api_password, "pw");
}

TEST(ConfigHttp, BasicAuthNeedsBothHalves) {
    EXPECT_EQ(parse_errors("[[listener]]\nkind = \"http\"\napi_password = \"pw\"\n"),
              std::vector<std::string>{"test.toml:1: listener.0.api_username: required when api_password is set"});
    EXPECT_EQ(parse_errors("[[listener]]\nkind = \"http\"\napi_username = \"admin\"\n"),
              std::vector<std::string>{"test.toml:1: listener.0.api_password: required when api_username is set"});
    EXPECT_EQ(parse_errors("[[listener]]\nkind = \"http\"\napi_username = \"ad:min\"\napi_password = \"x\"\n"),
              (std::vector<std::string>{R"(test.toml:3: listener.0.api_username: must not contain ':', got "ad:min")",
                                        // the refused value leaves the username empty
                                        "test.toml:3: listener.0.api_username: required when api_password is set"}));
    EXPECT_EQ(parse_errors("[[listener]]\nkind = \"http\"\napi_token = \"t\"\n"), std::vector<std::string>{});
}

TEST(ConfigHttp, OverridesCheckTheCredentialsTogether) {
    Config c = default_config();
    const std::vector<std::string> half{"listener.4.api_username=admin"};
    const auto errors = apply_overrides(c, half);
    ASSERT_EQ(errors.size(), 1U);
    EXPECT_EQ(errors[0].to_string(), "<override>: listener.4.api_password: required when api_username is set");
    EXPECT_EQ(c, default_config());  // all or nothing
    const std::vector<std::string> both{"listener.4.api_username=admin", "listener.4.api_password=pw"};
    EXPECT_EQ(apply_overrides(c, both), std::vector<ConfigError>{});
    EXPECT_EQ(c.listeners[4].api_password, "pw");
    EXPECT_EQ(differences(default_config(), c), (std::vector<std::string>{"listener.4.api_username",
                                                                          "listener.4.api_password"}));
}

TEST(ConfigErrors, DefaultedNameCollisionIsReportedAtTheTable) {
    EXPECT_EQ(
        parse_errors("[[listener]]\nname = \"mqtt-1\"\nport = 1\n\n[[listener]]\nport = 2\n"),
        std::vector<std::string>{R"(test.toml:5: listener.1.name: duplicate name "mqtt-1" (listener.0 has it too))"});
}

TEST(ConfigErrors, BadListenerNameAndWsPath) {
    EXPECT_EQ(parse_errors("[[listener]]\nname = \"my listener\"\n"),
              std::vector<std::string>{R"(test.toml:2: listener.0.name: may contain only letters, digits, '-', '_' )"
                                       R"(and '.', got "my listener")"});
    EXPECT_EQ(parse_errors("[[listener]]\nkind = \"ws\"\nws_path = \"mqtt\"\n"),
              std::vector<std::string>{R"(test.toml:3: listener.0.ws_path: must start with '/', got "mqtt")"});
}

TEST(ConfigErrors, KeysThatDoNotApplyToTheKind) {
    EXPECT_EQ(parse_errors("[[listener]]\nkind = \"mqtt\"\ncert_file = \"c.pem\"\nkey_file = \"k.pem\"\n"
                           "require_client_cert = true\nws_path = \"/x\"\n"),
              (std::vector<std::string>{
                  "test.toml:3: listener.0.cert_file: only applies to mqtts, wss and mqttsns listeners",
                  "test.toml:4: listener.0.key_file: only applies to mqtts, wss and mqttsns listeners",
                  "test.toml:5: listener.0.require_client_cert: only applies to mqtts, wss and mqttsns listeners",
                  "test.toml:6: listener.0.ws_path: only applies to ws, wss and http listeners",
              }));
    EXPECT_EQ(parse_errors("[[listener]]\nkind = \"ws\"\nweb_root = \"/srv\"\napi_token = \"t\"\n"
                           "api_username = \"u\"\napi_password = \"p\"\n"),
              (std::vector<std::string>{
                  "test.toml:3: listener.0.web_root: only applies to http listeners",
                  "test.toml:4: listener.0.api_token: only applies to http listeners",
                  "test.toml:5: listener.0.api_username: only applies to http listeners",
                  "test.toml:6: listener.0.api_password: only applies to http listeners",
              }));
    EXPECT_EQ(parse_errors("[[listener]]\nkind = \"wss\"\ncert_file = \"c.pem\"\nrequire_client_cert = true\n"),
              (std::vector<std::string>{
                  "test.toml:1: listener.0.key_file: required when cert_file is set",
                  "test.toml:4: listener.0.require_client_cert: requires ca_file (the CA that signs client "
                  "certificates)",
              }));
}

TEST(ConfigParse, TlsVersionsCiphersAndProxySettings) {
    const LoadResult r = parse_config(R"(
[[listener]]
kind = "wss"
cert_file = "c.pem"
key_file = "k.pem"
ca_file = "ca.pem"
require_client_cert = true
use_cn_as_username = true
tls_min_version = "1.2"
tls_max_version = "1.3"
ciphers = "ECDHE+AESGCM:!aNULL:!MD5:@STRENGTH"
ciphersuites = "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
allowed_origins = ["https://console.example.com:8443", "https://*.example.com", "http://[::1]:8080", "*"]
proxy_protocol = true
trust_x_forwarded_for = true
[[listener]]
kind = "mqtt"
proxy_protocol = true
)",
                                      "test.toml");
    ASSERT_TRUE(r.ok()) << testing::PrintToString(messages(r.errors));
    const Listener& l = r.config.listeners[0];
    EXPECT_TRUE(l.use_cn_as_username);
    EXPECT_EQ(l.tls_max_version, "1.3");
    EXPECT_EQ(l.ciphers, "ECDHE+AESGCM:!aNULL:!MD5:@STRENGTH");
    EXPECT_EQ(l.ciphersuites, "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256");
    EXPECT_EQ(l.allowed_origins.size(), 4U);
    EXPECT_TRUE(l.proxy_protocol);
    EXPECT_TRUE(l.trust_x_forwarded_for);
    EXPECT_TRUE(r.config.listeners[1].proxy_protocol);
}

TEST(ConfigErrors, BadTlsSettings) {
    const std::string tls = "[[listener]]\nkind = \"mqtts\"\n";
    EXPECT_EQ(parse_errors(tls + "tls_min_version = \"1.1\"\n"),
              std::vector<std::string>{
                  R"(test.toml:3: listener.0.tls_min_version: must be "1.2" or "1.3", got "1.1")"});
    EXPECT_EQ(parse_errors(tls + "tls_max_version = \"TLSv1.3\"\n"),
              std::vector<std::string>{R"(test.toml:3: listener.0.tls_max_version: must be "" (the newest), "1.2" or )"
                                       R"("1.3", got "TLSv1.3")"});
    EXPECT_EQ(parse_errors(tls + "tls_min_version = \"1.3\"\ntls_max_version = \"1.2\"\n"),
              std::vector<std::string>{R"(test.toml:4: listener.0.tls_max_version: is below tls_min_version "1.3")"});
    // A typo in a cipher list fails at load time, from OpenSSL's own answer, also next to valid names.
    auto typo = parse_errors(tls + "ciphers = \"ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA265\"\n");
    ASSERT_EQ(typo.size(), 1U);
    EXPECT_EQ(typo[0].rfind("test.toml:3: listener.0.ciphers: unknown cipher or cipher group "
                            "\"ECDHE-ECDSA-AES128-GCM-SHA265\"",
                            0),
              0U)
        << typo[0];
    auto nothing = parse_errors(tls + "ciphers = \"NOSUCHCIPHER\"\n");
    ASSERT_EQ(nothing.size(), 1U);
    EXPECT_NE(nothing[0].find("listener.0.ciphers: OpenSSL selects no cipher from \"NOSUCHCIPHER\""), std::string::npos)
        << nothing[0];
    auto suite = parse_errors(tls + "ciphersuites = \"TLS_AES_256_GCM_SHA384:TLS_AES_512_GCM_SHA384\"\n");
    ASSERT_EQ(suite.size(), 1U);
    EXPECT_EQ(suite[0].rfind("test.toml:3: listener.0.ciphersuites: unknown TLS 1.3 cipher suite "
                             "\"TLS_AES_512_GCM_SHA384\"",
                             0),
              0U)
        << suite[0];
    EXPECT_EQ(parse_errors(tls + "tls_max_version = \"1.2\"\nciphersuites = \"TLS_AES_256_GCM_SHA384\"\n"),
              std::vector<std::string>{"test.toml:4: listener.0.ciphersuites: only applies to TLS 1.3, which "
                                       "tls_max_version \"1.2\" turns off"});
    // Like mosquitto's use_identity_as_username, the CN needs a certificate to come from.
    EXPECT_EQ(parse_errors(tls + "use_cn_as_username = true\n"),
              std::vector<std::string>{
                  "test.toml:3: listener.0.use_cn_as_username: requires require_client_cert = true"});
}

TEST(ConfigErrors, NewKeysThatDoNotApplyToTheKind) {
    EXPECT_EQ(parse_errors("[[listener]]\nkind = \"ws\"\nciphers = \"HIGH\"\nuse_cn_as_username = true\n"
                           "tls_min_version = \"1.3\"\n"),
              (std::vector<std::string>{
                  "test.toml:3: listener.0.ciphers: only applies to mqtts, wss and mqttsns listeners",
                  "test.toml:4: listener.0.use_cn_as_username: only applies to mqtts, wss and mqttsns listeners",
                  "test.toml:5: listener.0.tls_min_version: only applies to mqtts, wss and mqttsns listeners",
              }));
    EXPECT_EQ(parse_errors("[[listener]]\nkind = \"mqtts\"\nallowed_origins = [\"*\"]\ntrust_x_forwarded_for = true\n"),
              (std::vector<std::string>{
                  "test.toml:3: listener.0.allowed_origins: only applies to ws, wss and http listeners",
                  "test.toml:4: listener.0.trust_x_forwarded_for: only applies to ws, wss and http listeners",
              }));
}

// The two merged sets of listener keys, checked per kind together: the WebSocket options of tlsws apply to the http
// listener's upgrade, the http keys to nothing else, the TLS keys not to http.
TEST(ConfigHttp, WebSocketAndProxyOptionsOnAnHttpListener) {
    const LoadResult r = parse_config("[[listener]]\nkind = \"http\"\nport = 0\nallowed_origins = [\"https://a.example\"]\n"
                                      "trust_x_forwarded_for = true\nproxy_protocol = true\nmax_connections = 5\n"
                                      "api_token = \"t\"\n",
                                      "t.toml");
    ASSERT_TRUE(r.ok()) << testing::PrintToString(messages(r.errors));
    const Listener& l = r.config.listeners[0];
    EXPECT_EQ(l.allowed_origins, std::vector<std::string>{"https://a.example"});
    EXPECT_TRUE(l.trust_x_forwarded_for);
    EXPECT_TRUE(l.proxy_protocol);
    EXPECT_EQ(l.max_connections, 5U);
    EXPECT_EQ(parse_errors("[[listener]]\nkind = \"http\"\nuse_cn_as_username = true\ntls_min_version = \"1.3\"\n"),
              (std::vector<std::string>{
                  "test.toml:3: listener.0.use_cn_as_username: only applies to mqtts, wss and mqttsns listeners",
                  "test.toml:4: listener.0.tls_min_version: only applies to mqtts, wss and mqttsns listeners",
              }));
    EXPECT_EQ(parse_errors("[[listener]]\nkind = \"mqtt\"\nallowed_origins = [\"*\"]\napi_token = \"t\"\n"),
              (std::vector<std::string>{
                  "test.toml:3: listener.0.allowed_origins: only applies to ws, wss and http listeners",
                  "test.toml:4: listener.0.api_token: only applies to http listeners",
              }));
}

TEST(ConfigErrors, BadAllowedOrigins) {
    const std::string ws = "[[listener]]\nkind = \"ws\"\n";
    EXPECT_EQ(parse_errors(ws + "allowed_origins = \"*\"\n"),
              std::vector<std::string>{R"(test.toml:3: listener.0.allowed_origins: expected an array of strings, got )"
                                       R"(string "*")"});
    EXPECT_EQ(parse_errors(ws + "allowed_origins = [\"https://ok.example\", 5]\n"),
              std::vector<std::string>{"test.toml:3: listener.0.allowed_origins: element 1: expected a string, got "
                                       "integer 5"});
    for (const char* bad : {"example.com", "https://", "https://exa mple.com", "https://example.com:99999",
                            "https://example.com/path", "HTTPS://example.com"}) {
        SCOPED_TRACE(bad);
        auto errors = parse_errors(ws + "allowed_origins = [\"" + bad + "\"]\n");
        ASSERT_EQ(errors.size(), 1U);
        EXPECT_EQ(errors[0].rfind("test.toml:3: listener.0.allowed_origins: element 0: must be \"*\" or an origin", 0),
                  0U)
            << errors[0];
    }
}

TEST(ConfigErrors, OtherStringChecks) {
    EXPECT_EQ(parse_errors("data_dir = \"\"\n"), std::vector<std::string>{"test.toml:1: data_dir: must not be empty"});
    EXPECT_EQ(
        parse_errors("server_reference = \"a\\u0000b\"\n"),
        std::vector<std::string>{"test.toml:1: server_reference: must be valid UTF-8 without U+0000 and surrogates"});
}

TEST(ConfigErrors, EveryProblemInOneFileIsReportedInLineOrder) {
    const LoadResult r = parse_config(R"(workers = "four"
log_level = "loud"
colour = true

[limits]
max_inflight = 0
max_queued_bytes = -5

[features]
maximum_qos = 7

[[listener]]
kind = "mqtt"
port = 70000
bind = "1.2.3"

[[listener]]
kind = "mqtts"
name = "mqtt-0"
)",
                                      "broken.toml");
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(messages(r.errors),
              (std::vector<std::string>{
                  R"(broken.toml:1: workers: expected an integer, got string "four")",
                  R"(broken.toml:2: log_level: must be one of "trace", "debug", "info", "warn", "error", )"
                  R"("critical", "off", got "loud")",
                  "broken.toml:3: colour: unknown key",
                  "broken.toml:6: limits.max_inflight: must be between 1 and 65535, got 0",
                  "broken.toml:7: limits.max_queued_bytes: must be between 0 and 9223372036854775807, got -5",
                  "broken.toml:10: features.maximum_qos: must be between 0 and 2, got 7",
                  "broken.toml:14: listener.0.port: must be between 0 and 65535, got 70000",
                  R"(broken.toml:15: listener.0.bind: not a valid IPv4 address: "1.2.3")",
                  R"(broken.toml:19: listener.1.name: duplicate name "mqtt-0" (listener.0 has it too))",
              }));
    // Each error carries its parts, not only the text.
    EXPECT_EQ(r.errors[3].file, "broken.toml");
    EXPECT_EQ(r.errors[3].line, 6U);
    EXPECT_EQ(r.errors[3].key, "limits.max_inflight");
    EXPECT_EQ(r.errors[3].message, "must be between 1 and 65535, got 0");
}

TEST(ConfigErrors, ToStringWithoutLineOrKey) {
    EXPECT_EQ((ConfigError{"f.toml", 0, "workers", "bad"}).to_string(), "f.toml: workers: bad");
    EXPECT_EQ((ConfigError{"f.toml", 0, "", "cannot read: x"}).to_string(), "f.toml: cannot read: x");
    EXPECT_EQ((ConfigError{"f.toml", 3, "", "m"}).to_string(), "f.toml:3: m");
}

// ---- files ---------------------------------------------------------------------------------------------------

class ConfigFile : public testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() / ("moth_config_test_" + std::to_string(::getpid()) + "_" +
                                                         testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::create_directories(dir_);
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }
    std::filesystem::path dir_;
};

TEST_F(ConfigFile, MissingFileIsOneError) {
    const std::string path = (dir_ / "absent.toml").string();
    const LoadResult r = load_config_file(path);
    EXPECT_EQ(messages(r.errors), std::vector<std::string>{path + ": cannot read: No such file or directory"});
}

TEST_F(ConfigFile, DirectoryIsOneError) {
    const LoadResult r = load_config_file(dir_.string());
    EXPECT_EQ(messages(r.errors), std::vector<std::string>{dir_.string() + ": cannot read: Is a directory"});
}

TEST_F(ConfigFile, ErrorsNameThePath) {
    const std::string path = (dir_ / "m.toml").string();
    std::ofstream(path) << "# comment\n[limits]\nmax_inflight = \"x\"\n";
    EXPECT_EQ(messages(load_config_file(path).errors),
              std::vector<std::string>{path + R"(:3: limits.max_inflight: expected an integer, got string "x")"});
}

// ---- reload --------------------------------------------------------------------------------------------------

TEST(ConfigReload, LiveSettingsNeedNoRestart) {
    const Config running = default_config();
    Config reloaded = running;
    reloaded.source = "other.toml";
    reloaded.log_level = "debug";
    reloaded.sys_interval_s = 0;
    reloaded.server_reference = "elsewhere";
    reloaded.limits.max_inflight = 5;
    reloaded.limits.max_packet_size = 4096;
    reloaded.features.maximum_qos = 1;
    EXPECT_EQ(reload_differences(running, reloaded), std::vector<std::string>{});
    EXPECT_EQ(differences(running, reloaded),
              (std::vector<std::string>{"log_level", "sys_interval_s", "server_reference", "limits.max_packet_size",
                                        "limits.max_inflight", "features.maximum_qos"}));
}

TEST(ConfigReload, ListenersWorkersAndDataDirNeedARestart) {
    const Config running = default_config();
    Config reloaded = running;
    reloaded.workers = 4;
    reloaded.tcp_nodelay = false;
    reloaded.io_backend = IoBackend::Epoll;
    reloaded.data_dir = "/tmp/other";
    reloaded.ports_file = "/tmp/ports";
    reloaded.log_level = "warn";
    reloaded.listeners[0].port = 1884;
    reloaded.listeners.push_back(Listener{});
    EXPECT_EQ(reload_differences(running, reloaded),
              (std::vector<std::string>{"workers", "tcp_nodelay", "io_backend", "data_dir", "ports_file",
                                        "listener.0.port", "listener.6"}));
    EXPECT_EQ(reload_differences(reloaded, running),
              (std::vector<std::string>{"workers", "tcp_nodelay", "io_backend", "data_dir", "ports_file",
                                        "listener.0.port", "listener.6"}));
}

TEST(ConfigReload, SameConfigHasNoDifferences) {
    const LoadResult r = load_config_file(kExampleConfig);
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(differences(r.config, default_config()).empty());
    EXPECT_TRUE(reload_differences(r.config, default_config()).empty());
}

TEST(ConfigReload, NeedsRestart) {
    EXPECT_TRUE(needs_restart("workers"));
    EXPECT_TRUE(needs_restart("listener.3"));
    EXPECT_TRUE(needs_restart("listener.0.max_connections"));
    EXPECT_TRUE(needs_restart("listener.0.proxy_protocol"));
    EXPECT_TRUE(needs_restart("listener.0.use_cn_as_username"));
    EXPECT_TRUE(needs_restart("listener.0.require_client_cert"));
    // A listener's TLS material and Origin allow-list are applied by SIGHUP (Server::reload).
    for (const char* key : {"listener.1.cert_file", "listener.1.key_file", "listener.1.ca_file",
                            "listener.1.tls_min_version", "listener.1.tls_max_version", "listener.1.ciphers",
                            "listener.1.ciphersuites", "listener.12.allowed_origins"}) {
        EXPECT_FALSE(needs_restart(key)) << key;
    }
    EXPECT_FALSE(needs_restart("limits.max_connections"));
    EXPECT_FALSE(needs_restart("log_level"));
    EXPECT_FALSE(needs_restart("listeners_extra"));
}

TEST(ConfigNames, EnumNames) {
    EXPECT_EQ(to_string(ListenerKind::Wss), "wss");
    EXPECT_EQ(to_string(QueueFullPolicy::DropOldest), "drop_oldest");
    EXPECT_EQ(to_string(SharedPolicy::RoundRobin), "round_robin");
    EXPECT_EQ(default_port(ListenerKind::Http), 8080);
    EXPECT_TRUE(is_tls(ListenerKind::Mqtts));
    EXPECT_FALSE(is_tls(ListenerKind::Ws));
    EXPECT_TRUE(is_websocket(ListenerKind::Wss));
}

TEST(ConfigSecurity, LoopbackBindAddresses) {
    for (const char* a : {"127.0.0.1", "127.1.2.3", "::1", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1", "localhost"})
        EXPECT_TRUE(is_loopback_bind(a)) << a;
    for (const char* a : {"0.0.0.0", "::", "192.168.1.10", "128.0.0.1", "::2", "::ffff:10.0.0.1", "fe80::1%eth0",
                          "broker.example", "localhost.example"})
        EXPECT_FALSE(is_loopback_bind(a)) << a;
}

// ws and wss listeners stay open to every origin unless allowed_origins says otherwise; mothd warns about each one
// that a browser elsewhere can reach.
TEST(ConfigSecurity, OpenWebSocketWarnings) {
    const LoadResult r = parse_config(
        "[[listener]]\nname = \"open\"\nkind = \"ws\"\nport = 8000\n"
        "[[listener]]\nname = \"local\"\nkind = \"ws\"\nbind = \"127.0.0.1\"\nport = 8001\n"
        "[[listener]]\nname = \"fenced\"\nkind = \"wss\"\nport = 8884\nallowed_origins = [\"https://a.example\"]\n"
        "[[listener]]\nname = \"secure\"\nkind = \"wss\"\nbind = \"::\"\nport = 8885\n"
        "[[listener]]\nname = \"web\"\nkind = \"http\"\nport = 8080\n"
        "[[listener]]\nname = \"tcp\"\nkind = \"mqtt\"\nport = 1883\n",
        "t.toml");
    ASSERT_TRUE(r.ok()) << testing::PrintToString(messages(r.errors));
    const auto warnings = open_websocket_warnings(r.config);
    ASSERT_EQ(warnings.size(), 2U) << testing::PrintToString(warnings);
    EXPECT_EQ(warnings[0].rfind("listener open (ws on 0.0.0.0:8000) has no allowed_origins: any web page can connect "
                                "to it from a visitor's browser",
                                0),
              0U);
    EXPECT_EQ(warnings[1].rfind("listener secure (wss on [::]:8885)", 0), 0U);
}

}  // namespace
}  // namespace moth::config
