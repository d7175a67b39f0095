// Command-line overrides ("key=value", applied after the file).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/config.hpp"

namespace moth::config {
namespace {

std::vector<std::string> set(Config& c, std::string_view assignment) {
    std::vector<std::string> out;
    for (const auto& e : apply_override(c, assignment)) {
        out.push_back(e.to_string());
    }
    return out;
}

using Strings = std::vector<std::string>;

// The override mechanics on a config with a single listener (mqtt-0 on 1883), so that index 1 is "one past the
// end"; the embedded defaults have five listeners (config_test.cpp checks them).
Config one_listener() {
    Config c = default_config();
    c.listeners.resize(1);
    return c;
}

TEST(ConfigOverride, TopLevelValuesOfEveryType) {
    Config c = one_listener();
    EXPECT_EQ(set(c, "workers=2"), Strings{});
    EXPECT_EQ(set(c, "tcp_nodelay=false"), Strings{});
    EXPECT_EQ(set(c, "data_dir=/tmp/moth data"), Strings{});  // bare text for a string key
    EXPECT_EQ(set(c, "log_level = \"debug\""), Strings{});    // or a TOML string; spaces around '=' are fine
    EXPECT_EQ(set(c, "ports_file="), Strings{});              // empty string
    EXPECT_EQ(c.workers, 2U);
    EXPECT_FALSE(c.tcp_nodelay);
    EXPECT_EQ(c.data_dir, "/tmp/moth data");
    EXPECT_EQ(c.log_level, "debug");
    EXPECT_EQ(c.ports_file, "");
    EXPECT_EQ(c.source, "<defaults>");  // overrides change settings, not where they came from
}

TEST(ConfigOverride, TablesUseDottedKeys) {
    Config c = one_listener();
    EXPECT_EQ(set(c, "limits.max_inflight=10"), Strings{});
    EXPECT_EQ(set(c, "limits.queue_full_policy=drop_oldest"), Strings{});
    EXPECT_EQ(set(c, "limits.max_queued_bytes=1_000_000"), Strings{});  // TOML integer syntax
    EXPECT_EQ(set(c, "features.maximum_qos=1"), Strings{});
    EXPECT_EQ(set(c, "features.shared_subscriptions=false"), Strings{});
    EXPECT_EQ(c.limits.max_inflight, 10);
    EXPECT_EQ(c.limits.queue_full_policy, QueueFullPolicy::DropOldest);
    EXPECT_EQ(c.limits.max_queued_bytes, 1000000U);
    EXPECT_EQ(c.features.maximum_qos, 1);
    EXPECT_FALSE(c.features.shared_subscriptions);
}

TEST(ConfigOverride, ListenerByIndex) {
    Config c = one_listener();
    EXPECT_EQ(set(c, "listener.0.port=0"), Strings{});
    EXPECT_EQ(set(c, "listener.0.bind=::1"), Strings{});
    EXPECT_EQ(c.listeners[0].port, 0);
    EXPECT_EQ(c.listeners[0].bind, "::1");
}

TEST(ConfigOverride, IndexOnePastTheEndAddsAListener) {
    Config c = one_listener();
    EXPECT_EQ(set(c, "listener.1.kind=ws"), Strings{});
    ASSERT_EQ(c.listeners.size(), 2U);
    EXPECT_EQ(c.listeners[1].kind, ListenerKind::Ws);
    EXPECT_EQ(c.listeners[1].name, "ws-1");  // the name and port of a ws listener, not of the mqtt one it began as
    EXPECT_EQ(c.listeners[1].port, 8000);
    EXPECT_EQ(set(c, "listener.1.port=0"), Strings{});
    EXPECT_EQ(c.listeners[1].port, 0);
}

TEST(ConfigOverride, KindChangeKeepsExplicitNameAndPort) {
    Config c = one_listener();
    EXPECT_EQ(set(c, "listener.0.name=main"), Strings{});
    EXPECT_EQ(set(c, "listener.0.port=1999"), Strings{});
    EXPECT_EQ(set(c, "listener.0.kind=http"), Strings{});
    EXPECT_EQ(c.listeners[0].name, "main");
    EXPECT_EQ(c.listeners[0].port, 1999);
}

TEST(ConfigOverride, OverridesAfterAFile) {
    LoadResult r = parse_config("[[listener]]\nport = 1884\n[[listener]]\nkind = \"http\"\n", "t.toml");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(set(r.config, "listener.1.port=0"), Strings{});
    EXPECT_EQ(r.config.listeners[0].port, 1884);
    EXPECT_EQ(r.config.listeners[1].port, 0);
    EXPECT_EQ(differences(r.config, one_listener()),
              (Strings{"auth.allow_anonymous", "listener.0.port", "listener.1"}));  // a file refuses anonymous
}

TEST(ConfigOverride, KeysThatNeedEachOtherAreCheckedOnTheOutcome) {
    Config c = one_listener();
    // One at a time, cert_file alone is incomplete...
    EXPECT_EQ(set(c, "listener.0.kind=mqtts"), Strings{});
    EXPECT_EQ(set(c, "listener.0.cert_file=c.pem"),
              Strings{"<override>: listener.0.key_file: required when cert_file is set"});
    EXPECT_EQ(c.listeners[0].cert_file, "");
    // ...given together, the pair is fine.
    EXPECT_EQ(apply_overrides(c, std::vector<std::string>{"listener.0.cert_file=c.pem", "listener.0.key_file=k.pem"}),
              std::vector<ConfigError>{});
    EXPECT_EQ(c.listeners[0].key_file, "k.pem");
    EXPECT_EQ(c.listeners[0].port, 8883);
}

TEST(ConfigOverride, BatchIsAllOrNothingAndReportsEveryError) {
    Config c = one_listener();
    const Config before = c;
    EXPECT_EQ(apply_overrides(c, std::vector<std::string>{"workers=2", "limits.max_inflight=0", "nope=1"}),
              (std::vector<ConfigError>{
                  {"<override>", 0, "limits.max_inflight", "must be between 1 and 65535, got 0"},
                  {"<override>", 0, "nope", "unknown key"},
              }));
    EXPECT_EQ(c, before);
}

TEST(ConfigOverride, ErrorsLeaveTheConfigUnchanged) {
    Config c = one_listener();
    const Config before = c;
    EXPECT_EQ(set(c, "workers"), Strings{R"(<override>: workers: expected key=value, got "workers")"});
    EXPECT_EQ(set(c, "=3"), Strings{R"(<override>: expected key=value, got "=3")"});
    EXPECT_EQ(set(c, "wokers=2"), Strings{R"(<override>: wokers: unknown key (did you mean "workers"?))"});
    EXPECT_EQ(set(c, "workers=two"), Strings{R"(<override>: workers: expected an integer, got string "two")"});
    EXPECT_EQ(set(c, "workers=2000"), Strings{"<override>: workers: must be between 0 and 1024, got 2000"});
    EXPECT_EQ(set(c, "tcp_nodelay=yes"), Strings{R"(<override>: tcp_nodelay: expected a boolean, got string "yes")"});
    EXPECT_EQ(set(c, "log_level=loud"),
              Strings{R"(<override>: log_level: must be one of "trace", "debug", "info", "warn", "error", )"
                      R"("critical", "off", got "loud")"});
    EXPECT_EQ(set(c, "data_dir=\"unterminated"),
              Strings{R"(<override>: data_dir: not a valid TOML string: "unterminated)"});
    EXPECT_EQ(set(c, "limits.max_inflight=0"),
              Strings{"<override>: limits.max_inflight: must be between 1 and 65535, got 0"});
    EXPECT_EQ(set(c, "limits.bogus=1"), Strings{"<override>: limits.bogus: unknown key"});
    EXPECT_EQ(set(c, "limits=1"),
              Strings{"<override>: limits: expected limits.<key>=value: set one key of limits at a time"});
    EXPECT_EQ(set(c, "limits.a.b=1"),
              Strings{"<override>: limits.a.b: expected limits.<key>=value: set one key of limits at a time"});
    EXPECT_EQ(set(c, "a.b=1"), Strings{"<override>: a.b: unknown key"});
    EXPECT_EQ(c, before);
}

TEST(ConfigOverride, ListenerErrors) {
    Config c = one_listener();
    const Config before = c;
    EXPECT_EQ(set(c, "listener.0.port=65536"),
              Strings{"<override>: listener.0.port: must be between 0 and 65535, got 65536"});
    EXPECT_EQ(set(c, "listener.x.port=1"),
              Strings{"<override>: listener.x.port: expected listener.<index>.<key> with a 0-based index"});
    EXPECT_EQ(set(c, "listener.2.port=1"),
              Strings{"<override>: listener.2: no such listener: there are 1 (index 1 adds one)"});
    EXPECT_EQ(set(c, "listener.0=1"),
              Strings{"<override>: listener.0: expected listener.0.port=value: set one key of listener at a time"});
    EXPECT_EQ(set(c, "listener.0.bind=[::]"),
              Strings{R"(<override>: listener.0.bind: write IPv6 addresses without brackets ("::1", not )"
                      R"("[::1]"), got "[::]")"});
    EXPECT_EQ(set(c, "listener.0.cert_file=/c.pem"),
              (Strings{"<override>: listener.0.cert_file: only applies to mqtts, wss and mqttsns listeners"}));
    EXPECT_EQ(set(c, "listener.1.port=1883"),
              (Strings{"<override>: listener.1.port: port 1883 on 0.0.0.0 is already used by listener.0"}));
    EXPECT_EQ(set(c, "listener.1.name=mqtt-0"),
              (Strings{R"(<override>: listener.1.name: duplicate name "mqtt-0" (listener.0 has it too))",
                       "<override>: listener.1.port: port 1883 on 0.0.0.0 is already used by listener.0"}));
    EXPECT_EQ(c, before);
}

TEST(ConfigOverride, EveryKeyCanBeOverriddenAndIsCompared) {
    // Each key takes a non-default value through an override, and differences() reports exactly that key: the
    // loader's key table covers every field in both directions.
    const std::vector<std::pair<std::string, std::string>> cases{
        {"workers", "3"},
        {"tcp_nodelay", "false"},
        {"io_backend", "epoll"},
        {"data_dir", "/d"},
        {"ports_file", "/p"},
        {"log_level", "off"},
        {"sys_interval_s", "0"},
        {"server_reference", "x"},
        {"limits.max_connections", "7"},
        {"limits.max_packet_size", "4096"},
        {"limits.receive_maximum", "7"},
        {"limits.max_inflight", "7"},
        {"limits.max_queued_messages", "7"},
        {"limits.max_queued_bytes", "7"},
        {"limits.queue_full_policy", "drop_oldest"},
        {"limits.max_outgoing_buffer_bytes", "7"},
        {"limits.max_topic_levels", "7"},
        {"limits.max_subscriptions_per_client", "0"},
        {"limits.max_client_id_length", "23"},
        {"limits.max_keepalive", "60"},
        {"limits.max_session_expiry_interval", "7"},
        {"limits.topic_alias_maximum", "0"},
        {"features.retain_available", "false"},
        {"features.maximum_qos", "0"},
        {"features.wildcard_subscriptions", "false"},
        {"features.shared_subscriptions", "false"},
        {"features.subscription_identifiers", "false"},
        {"features.allow_zero_length_client_id", "false"},
        {"features.shared_policy", "random"},
        {"listener.0.name", "n"},
        {"listener.0.bind", "::"},
        {"listener.0.port", "1"},
        {"listener.0.max_connections", "1"},
    };
    for (const auto& entry : cases) {
        const std::string& key = entry.first;
        const std::string& value = entry.second;
        Config c = one_listener();
        EXPECT_EQ(set(c, key + "=" + value), Strings{}) << key;
        EXPECT_EQ(differences(one_listener(), c), Strings{key}) << key;
        EXPECT_EQ(reload_differences(one_listener(), c).empty(), !needs_restart(key)) << key;
    }
    // TLS and WebSocket keys need a listener of the right kind.
    Config c = one_listener();
    const std::vector<std::string> tls{"listener.1.kind=wss",
                                       "listener.1.cert_file=c",
                                       "listener.1.key_file=k",
                                       "listener.1.ca_file=a",
                                       "listener.1.require_client_cert=true",
                                       "listener.1.tls_min_version=1.3",
                                       "listener.1.tls_max_version=1.3",
                                       "listener.1.ciphersuites=TLS_AES_256_GCM_SHA384",
                                       "listener.1.use_cn_as_username=true",
                                       "listener.1.ws_path=/ws",
                                       R"(listener.1.allowed_origins=["https://*.example.com"])",
                                       "listener.1.proxy_protocol=true",
                                       "listener.1.trust_x_forwarded_for=true"};
    EXPECT_EQ(apply_overrides(c, tls), std::vector<ConfigError>{});
    Config wss_default = one_listener();
    EXPECT_EQ(set(wss_default, "listener.1.kind=wss"), Strings{});
    const Strings changed{"listener.1.cert_file",          "listener.1.key_file",        "listener.1.ca_file",
                          "listener.1.require_client_cert", "listener.1.tls_min_version", "listener.1.tls_max_version",
                          "listener.1.ciphersuites",        "listener.1.use_cn_as_username", "listener.1.ws_path",
                          "listener.1.allowed_origins",     "listener.1.proxy_protocol",
                          "listener.1.trust_x_forwarded_for"};
    EXPECT_EQ(differences(wss_default, c), changed);
    // Of these, SIGHUP applies the TLS material and the Origin list; the rest needs a restart.
    EXPECT_EQ(reload_differences(wss_default, c),
              (Strings{"listener.1.require_client_cert", "listener.1.use_cn_as_username", "listener.1.ws_path",
                       "listener.1.proxy_protocol", "listener.1.trust_x_forwarded_for"}));
    Config tls12 = wss_default;
    EXPECT_EQ(set(tls12, "listener.1.ciphers=ECDHE+AESGCM"), Strings{});
    EXPECT_EQ(set(tls12, "listener.1.ciphers=ECDHE+NOPE"),
              Strings{"<override>: listener.1.ciphers: OpenSSL selects no cipher from \"ECDHE+NOPE\" (see `openssl "
                      "ciphers -v '<list>'`)"});
}

}  // namespace
}  // namespace moth::config

namespace moth::config {
namespace {

// [storage]: the durability mode and its knobs, from a file and from overrides; all need a restart.
TEST(ConfigStorage, KeysParseOverrideAndNeedARestart) {
    const Config d = default_config();
    EXPECT_EQ(d.storage.durability, Durability::Sync);  // acknowledged means stored, by default
    EXPECT_EQ(d.storage.flush_interval_ms, 100U);
    EXPECT_EQ(d.storage.on_corruption, OnCorruption::Fail);
    EXPECT_EQ(d.storage.queue_cache_messages, 100U);
    auto r = parse_config("[storage]\ndurability = \"batched\"\nflush_interval_ms = 250\non_corruption = \"move-aside\"\n",
                          "s.toml");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.config.storage.durability, Durability::Batched);
    EXPECT_EQ(r.config.storage.flush_interval_ms, 250U);
    EXPECT_EQ(r.config.storage.on_corruption, OnCorruption::MoveAside);
    auto bad = parse_config("[storage]\ndurability = \"fast\"\nflush_interval_ms = 0\n", "s.toml");
    ASSERT_EQ(bad.errors.size(), 2U);
    EXPECT_EQ(bad.errors[0].to_string(),
              "s.toml:2: storage.durability: must be one of \"sync\", \"batched\", \"memory\", got \"fast\"");
    EXPECT_EQ(bad.errors[1].key, "storage.flush_interval_ms");
    auto zero = parse_config("[storage]\nqueue_cache_messages = 0\n", "s.toml");
    ASSERT_EQ(zero.errors.size(), 1U);
    EXPECT_EQ(zero.errors[0].key, "storage.queue_cache_messages");
    Config q = default_config();
    EXPECT_EQ(set(q, "storage.queue_cache_messages=5"), Strings{});
    EXPECT_EQ(q.storage.queue_cache_messages, 5U);
    EXPECT_EQ(reload_differences(d, q), Strings{"storage.queue_cache_messages"});
    Config c = default_config();
    EXPECT_EQ(set(c, "storage.durability=memory"), Strings{});
    EXPECT_EQ(c.storage.durability, Durability::Memory);
    EXPECT_EQ(reload_differences(d, c), Strings{"storage.durability"});
    EXPECT_EQ(to_string(Durability::Batched), "batched");
    EXPECT_EQ(to_string(OnCorruption::MoveAside), "move-aside");
}

}  // namespace
}  // namespace moth::config
