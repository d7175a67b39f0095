// moth pub/sub/rr option parsing: mosquitto's defaults, checks and exit code 1, and the ConnectOptions built.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "options.hpp"

namespace moth::cli {
namespace {

Options ok(Tool tool, std::vector<std::string> args) {
    auto r = parse(tool, args);
    EXPECT_TRUE(r.options.has_value()) << r.err;
    EXPECT_EQ(r.exit_code, 0);
    return r.options.value_or(Options{});
}

std::string bad(Tool tool, std::vector<std::string> args) {
    auto r = parse(tool, args);
    EXPECT_FALSE(r.options.has_value());
    EXPECT_EQ(r.exit_code, 1);
    return r.err;
}

ConnectOptions connect_options(const Options& o) {
    auto c = to_connect_options(o, 4242);
    EXPECT_TRUE(c.has_value()) << (c ? "" : c.error());
    return c ? *c : ConnectOptions{};
}

TEST(ParseSub, MosquittoDefaults) {
    const auto o = ok(Tool::Sub, {"-t", "a/#"});
    EXPECT_EQ(o.topics, std::vector<std::string>{"a/#"});
    EXPECT_EQ(o.version, ProtocolVersion::V3_1_1);
    EXPECT_EQ(o.output.mode, OutputMode::Payload);
    EXPECT_TRUE(o.output.eol);
    const auto c = connect_options(o);
    EXPECT_EQ(c.url, "mqtt://localhost:1883");
    EXPECT_EQ(c.version, ProtocolVersion::V3_1_1);
    EXPECT_EQ(c.keep_alive_s, 60);
    EXPECT_TRUE(c.clean_start);
    EXPECT_EQ(c.client_id, "");
    // mosquitto_sub reconnects once connected; so does moth sub, every second as libmosquitto does.
    EXPECT_TRUE(c.auto_reconnect);
    EXPECT_EQ(c.reconnect_min, std::chrono::seconds(1));
    EXPECT_EQ(c.reconnect_max, std::chrono::seconds(1));
    EXPECT_FALSE(connect_options(ok(Tool::Pub, {"-t", "a", "-m", "x"})).auto_reconnect);
}

TEST(ParseSub, HostPortTopicsVerbose) {
    const auto o = ok(Tool::Sub, {"-h", "broker.example", "-p", "1884", "-t", "a/#", "-t", "b/+", "-v", "-q", "1",
                                  "-C", "3", "-W", "5", "-N", "-R", "-T", "a/x"});
    EXPECT_EQ(o.topics, (std::vector<std::string>{"a/#", "b/+"}));
    EXPECT_EQ(o.output.mode, OutputMode::Verbose);
    EXPECT_FALSE(o.output.eol);
    EXPECT_EQ(o.qos, QoS::AtLeastOnce);
    EXPECT_EQ(o.count, 3);
    EXPECT_EQ(o.timeout_s, 5u);
    EXPECT_TRUE(o.no_retained);
    EXPECT_EQ(o.filter_out, std::vector<std::string>{"a/x"});
    EXPECT_EQ(connect_options(o).url, "mqtt://broker.example:1884");
}

TEST(ParseSub, FormatOverridesVerboseAndJsonOverridesBoth) {
    EXPECT_EQ(ok(Tool::Sub, {"-t", "a", "-v", "-F", "%t"}).output.mode, OutputMode::Format);
    EXPECT_EQ(ok(Tool::Sub, {"-t", "a", "-v", "-F", "%t", "--json"}).output.mode, OutputMode::Json);
    EXPECT_TRUE(ok(Tool::Sub, {"-t", "a", "--json", "--pretty"}).output.pretty);
}

TEST(ParseSub, BadFormatIsAnArgumentError) {
    EXPECT_NE(bad(Tool::Sub, {"-t", "a", "-F", "%z"}).find("Invalid format specifier 'z'."), std::string::npos);
}

TEST(ParseSub, ProtocolVersions) {
    EXPECT_EQ(ok(Tool::Sub, {"-t", "a", "-V", "31"}).version, ProtocolVersion::V3_1);
    EXPECT_EQ(ok(Tool::Sub, {"-t", "a", "-V", "mqttv31"}).version, ProtocolVersion::V3_1);
    EXPECT_EQ(ok(Tool::Sub, {"-t", "a", "-V", "311"}).version, ProtocolVersion::V3_1_1);
    EXPECT_EQ(ok(Tool::Sub, {"-t", "a", "-V", "mqttv311"}).version, ProtocolVersion::V3_1_1);
    EXPECT_EQ(ok(Tool::Sub, {"-t", "a", "-V", "5"}).version, ProtocolVersion::V5);
    EXPECT_EQ(ok(Tool::Sub, {"-t", "a", "-V", "mqttv5"}).version, ProtocolVersion::V5);
    EXPECT_NE(bad(Tool::Sub, {"-t", "a", "-V", "7"}).find("Invalid protocol version"), std::string::npos);
}

TEST(ParseSub, ArgumentErrors) {
    EXPECT_NE(bad(Tool::Sub, {}).find("You must specify a topic"), std::string::npos);
    EXPECT_NE(bad(Tool::Sub, {"-t", "a", "--bogus"}).find("--bogus"), std::string::npos);
    EXPECT_NE(bad(Tool::Sub, {"-t"}).find("-t argument given but no topic specified"), std::string::npos);
    EXPECT_NE(bad(Tool::Sub, {"-t", "a/#/b"}).find("Invalid subscription topic"), std::string::npos);
    EXPECT_NE(bad(Tool::Sub, {"-t", "a", "-q", "3"}).find("Invalid QoS given: 3"), std::string::npos);
    EXPECT_NE(bad(Tool::Sub, {"-t", "a", "-p", "0"}).find("Invalid port"), std::string::npos);
    EXPECT_NE(bad(Tool::Sub, {"-t", "a", "-p", "x"}).find("Invalid port"), std::string::npos);
    EXPECT_NE(bad(Tool::Sub, {"-t", "a", "-C", "0"}).find("Invalid message count"), std::string::npos);
    EXPECT_NE(bad(Tool::Sub, {"-t", "a", "-c"}).find("client id"), std::string::npos);
    EXPECT_NE(bad(Tool::Sub, {"-t", "a", "-m", "x"}).find("-m"), std::string::npos);  // pub's option
    EXPECT_NE(bad(Tool::Sub, {"-t", "a", "--will-payload", "x"}).find("no will topic"), std::string::npos);
    EXPECT_NE(bad(Tool::Sub, {"-t", "a", "--cert", "c.pem"}).find("keyfile"), std::string::npos);
    EXPECT_NE(bad(Tool::Sub, {"-t", "a", "unexpected"}).find("unexpected"), std::string::npos);
    EXPECT_NE(bad(Tool::Sub, {"-t", "a", "-k", "2"}).find("keepalive"), std::string::npos);
}

TEST(ParseSub, HelpExitsZeroWithUsage) {
    auto r = parse(Tool::Sub, {"--help"});
    EXPECT_FALSE(r.options);
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_NE(r.out.find("-F,--format"), std::string::npos) << r.out;
}

TEST(ParseSub, PersistentSession) {
    const auto o = ok(Tool::Sub, {"-t", "a", "-c", "-i", "me", "-k", "30"});
    const auto c = connect_options(o);
    EXPECT_FALSE(c.clean_start);
    EXPECT_EQ(c.client_id, "me");
    EXPECT_EQ(c.keep_alive_s, 30);
    // 5.0: -c without -x means a session that never expires
    EXPECT_EQ(connect_options(ok(Tool::Sub, {"-t", "a", "-c", "-i", "me", "-V", "5"})).session_expiry_interval,
              0xFFFFFFFFu);
    EXPECT_EQ(connect_options(ok(Tool::Sub, {"-t", "a", "-c", "-i", "me", "-V", "5", "-x", "60"}))
                  .session_expiry_interval,
              60u);
    EXPECT_NE(bad(Tool::Sub, {"-t", "a", "-V", "5", "-x", "-1"}).find("client id"), std::string::npos);
}

TEST(ParseSub, ClientIds) {
    EXPECT_EQ(client_id(ok(Tool::Sub, {"-t", "a", "-I", "pre_"}), 99), "pre_99");
    EXPECT_EQ(client_id(ok(Tool::Sub, {"-t", "a", "-V", "31"}), 99), "moth_sub_99");
    EXPECT_EQ(client_id(ok(Tool::Pub, {"-t", "a", "-m", "x", "-V", "31"}), 7), "moth_pub_7");
}

TEST(ParseSub, UrlOption) {
    const auto o = ok(Tool::Sub, {"-L", "mqtt://user:secret@example.org:1999/sensors/#"});
    EXPECT_EQ(o.topics, std::vector<std::string>{"sensors/#"});
    EXPECT_EQ(o.username, "user");
    EXPECT_EQ(o.password, "secret");
    EXPECT_EQ(connect_options(o).url, "mqtt://example.org:1999");
    EXPECT_EQ(connect_options(ok(Tool::Sub, {"-L", "mqtts://example.org/t"})).url, "mqtts://example.org:8883");
    const auto ws = ok(Tool::Sub, {"-L", "ws://example.org:8000", "-t", "a"});
    EXPECT_EQ(connect_options(ws).url, "ws://example.org:8000/mqtt");
    EXPECT_EQ(connect_options(ok(Tool::Sub, {"-L", "wss://example.org/ws", "-t", "a"})).url,
              "wss://example.org:443/ws");
    EXPECT_NE(bad(Tool::Sub, {"-L", "http://example.org/t"}).find("unsupported URL scheme"), std::string::npos);
    EXPECT_NE(bad(Tool::Sub, {"-L", "mqtt://example.org"}).find("topic"), std::string::npos);
    EXPECT_EQ(connect_options(ok(Tool::Sub, {"-L", "mqtt://[::1]:1884/t"})).url, "mqtt://[::1]:1884");
}

TEST(ParseSub, Tls) {
    const auto o = ok(Tool::Sub, {"-t", "a", "--cafile", "ca.pem", "--cert", "c.pem", "--key", "k.pem", "--insecure",
                                  "--tls-version", "tlsv1.3"});
    const auto c = connect_options(o);
    EXPECT_EQ(c.url, "mqtts://localhost:8883");
    EXPECT_EQ(c.tls.ca_file, "ca.pem");
    EXPECT_EQ(c.tls.cert_file, "c.pem");
    EXPECT_EQ(c.tls.key_file, "k.pem");
    EXPECT_TRUE(c.tls.insecure);
    EXPECT_EQ(c.tls.version, "tlsv1.3");
    EXPECT_EQ(connect_options(ok(Tool::Sub, {"-t", "a", "--capath", "/etc/ssl/certs", "-p", "9999"})).url,
              "mqtts://localhost:9999");
    EXPECT_NE(bad(Tool::Sub, {"-t", "a", "--tls-version", "tlsv1"}).find("TLS version"), std::string::npos);
}

TEST(ParseSub, UnixSocketIsReportedUnsupported) {
    const auto o = ok(Tool::Sub, {"-t", "a", "--unix", "/tmp/m.sock"});
    const auto c = to_connect_options(o, 1);
    ASSERT_FALSE(c.has_value());
    EXPECT_NE(c.error().find("--unix"), std::string::npos);
}

TEST(ParseSub, WillAndCredentials) {
    const auto o = ok(Tool::Sub, {"-t", "a", "-u", "bob", "-P", "pw", "--will-topic", "w/t", "--will-payload", "gone",
                                  "--will-qos", "2", "--will-retain", "-V", "5", "-D", "will", "content-type", "text/x",
                                  "-D", "will", "will-delay-interval", "5"});
    const auto c = connect_options(o);
    EXPECT_EQ(c.username, "bob");
    EXPECT_EQ(c.password, "pw");
    ASSERT_TRUE(c.will);
    EXPECT_EQ(c.will->topic, "w/t");
    EXPECT_EQ(c.will->payload.size(), 4u);
    EXPECT_EQ(c.will->qos, QoS::ExactlyOnce);
    EXPECT_TRUE(c.will->retain);
    EXPECT_EQ(c.will->properties.content_type, "text/x");
    EXPECT_EQ(c.will->delay_interval, 5u);
}

TEST(ParsePub, PayloadSources) {
    EXPECT_EQ(ok(Tool::Pub, {"-t", "a", "-m", "hi"}).source, PayloadSource::Message);
    EXPECT_EQ(ok(Tool::Pub, {"-t", "a", "-m", "-5"}).message, "-5");  // the next word, whatever it looks like
    EXPECT_EQ(ok(Tool::Pub, {"-t", "a", "-m", "--help"}).message, "--help");
    EXPECT_EQ(ok(Tool::Pub, {"-t", "a", "-m", ""}).message, "");
    EXPECT_EQ(ok(Tool::Pub, {"-t", "a", "-f", "x.bin"}).file, "x.bin");
    EXPECT_EQ(ok(Tool::Pub, {"-t", "a", "-s"}).source, PayloadSource::StdinWhole);
    EXPECT_EQ(ok(Tool::Pub, {"-t", "a", "-l"}).source, PayloadSource::StdinLines);
    EXPECT_EQ(ok(Tool::Pub, {"-t", "a", "-n"}).source, PayloadSource::Null);
    EXPECT_NE(bad(Tool::Pub, {"-t", "a", "-m", "x", "-l"}).find("Only one type of message"), std::string::npos);
}

TEST(ParsePub, MissingTopicOrMessagePrintsUsage) {
    for (const auto& args : {std::vector<std::string>{"-t", "a"}, std::vector<std::string>{"-m", "a"}}) {
        auto r = parse(Tool::Pub, args);
        EXPECT_FALSE(r.options);
        EXPECT_EQ(r.exit_code, 1);
        EXPECT_EQ(r.err, "Error: Both topic and message must be supplied.\n");
        EXPECT_FALSE(r.out.empty());
    }
}

TEST(ParsePub, QosRetainRepeat) {
    const auto o = ok(Tool::Pub, {"-t", "a/b", "-m", "hi", "-q", "2", "-r", "--repeat", "3", "--repeat-delay", "0.5"});
    EXPECT_EQ(o.qos, QoS::ExactlyOnce);
    EXPECT_TRUE(o.retain);
    EXPECT_EQ(o.repeat, 3);
    EXPECT_DOUBLE_EQ(o.repeat_delay_s, 0.5);
    EXPECT_NE(bad(Tool::Pub, {"-t", "a", "-m", "x", "--repeat", "0"}).find("--repeat"), std::string::npos);
    EXPECT_NE(bad(Tool::Pub, {"-t", "a", "-m", "x", "--repeat-delay", "-1"}).find("--repeat-delay"),
              std::string::npos);
    EXPECT_NE(bad(Tool::Pub, {"-t", "a/#", "-m", "x"}).find("Invalid publish topic"), std::string::npos);
    EXPECT_NE(bad(Tool::Pub, {"-t", "a", "-m", "x", "-v"}).find("-v"), std::string::npos);  // sub's option
}

TEST(ParsePub, V5Properties) {
    const auto o = ok(Tool::Pub, {"-t", "a", "-m", "x", "-V", "5", "-D", "publish", "user-property", "k1", "v1", "-D",
                                  "publish", "user-property", "k2", "v2", "-D", "publish", "content-type", "text/plain",
                                  "-D", "publish", "message-expiry-interval", "1000", "-D", "publish",
                                  "payload-format-indicator", "1", "-D", "publish", "response-topic", "resp/t", "-D",
                                  "publish", "correlation-data", "abc", "-D", "publish", "topic-alias", "3", "-D",
                                  "connect", "session-expiry-interval", "60", "-D", "connect", "receive-maximum", "10",
                                  "-D", "connect", "user-property", "ck", "cv", "-D", "connect", "maximum-packet-size",
                                  "1000", "-D", "connect", "topic-alias-maximum", "5", "-D", "connect",
                                  "request-problem-information", "0"});
    const auto& p = o.props.publish;
    EXPECT_EQ(p.user_properties, (std::vector<UserProperty>{{"k1", "v1"}, {"k2", "v2"}}));
    EXPECT_EQ(p.content_type, "text/plain");
    EXPECT_EQ(p.message_expiry_interval, 1000u);
    EXPECT_EQ(p.payload_format_indicator, 1);
    EXPECT_EQ(p.response_topic, "resp/t");
    ASSERT_TRUE(p.correlation_data);
    EXPECT_EQ(p.correlation_data->size(), 3u);
    EXPECT_EQ(o.props.publish_topic_alias, 3);
    const auto c = connect_options(o);
    EXPECT_EQ(c.session_expiry_interval, 60u);
    EXPECT_EQ(c.receive_maximum, 10);
    EXPECT_EQ(c.maximum_packet_size, 1000u);
    EXPECT_EQ(c.topic_alias_maximum, 5);
    EXPECT_EQ(c.request_problem_information, false);
    EXPECT_EQ(c.user_properties, (std::vector<UserProperty>{{"ck", "cv"}}));
}

TEST(ParseSub, SubscriptionIdentifier) {
    EXPECT_EQ(ok(Tool::Sub, {"-t", "a", "-V", "5", "-D", "subscribe", "subscription-identifier", "7"})
                  .props.subscription_identifier,
              7u);
}

TEST(Properties, Errors) {
    Properties p;
    EXPECT_NE(add_property(p, {"bogus", "content-type", "x"})->find("Invalid command"), std::string::npos);
    EXPECT_NE(add_property(p, {"publish", "bogus", "x"})->find("Invalid property name"), std::string::npos);
    EXPECT_NE(add_property(p, {"connect", "content-type", "x"})->find("not allowed for connect"), std::string::npos);
    EXPECT_NE(add_property(p, {"publish", "subscription-identifier", "1"})->find("not allowed"), std::string::npos);
    EXPECT_NE(add_property(p, {"publish", "message-expiry-interval", "x"})->find("Invalid value"), std::string::npos);
    EXPECT_NE(add_property(p, {"publish", "payload-format-indicator", "256"})->find("Invalid value"),
              std::string::npos);
    EXPECT_NE(add_property(p, {"subscribe", "subscription-identifier", "0"})->find("Invalid value"), std::string::npos);
    EXPECT_NE(add_property(p, {"publish", "user-property", "k"})->find("not enough"), std::string::npos);
    EXPECT_EQ(add_property(p, {"disconnect", "session-expiry-interval", "5"}), std::nullopt);
    EXPECT_NE(bad(Tool::Pub, {"-t", "a", "-m", "x", "-D", "publish"}).find("not enough"), std::string::npos);
}

TEST(ParseRr, DefaultsAndRequiredOptions) {
    const auto o = ok(Tool::Rr, {"-t", "req", "-e", "resp", "-m", "ping"});
    EXPECT_EQ(o.version, ProtocolVersion::V5);
    EXPECT_EQ(o.response_topic, "resp");
    EXPECT_EQ(o.count, 1);
    EXPECT_EQ(ok(Tool::Rr, {"-t", "req", "-e", "resp"}).source, PayloadSource::Null);
    auto r = parse(Tool::Rr, {"-t", "req"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("response topic"), std::string::npos);
    EXPECT_NE(bad(Tool::Rr, {"-t", "req", "-e", "r/#"}).find("Invalid response topic"), std::string::npos);
}

TEST(TopicMatches, Wildcards) {
    EXPECT_TRUE(topic_matches("a/#", "a/b/c"));
    EXPECT_TRUE(topic_matches("a/#", "a"));
    EXPECT_TRUE(topic_matches("#", "a/b"));
    EXPECT_TRUE(topic_matches("a/+/c", "a/b/c"));
    EXPECT_TRUE(topic_matches("+", "a"));
    EXPECT_TRUE(topic_matches("+/+", "/a"));
    EXPECT_TRUE(topic_matches("a/b", "a/b"));
    EXPECT_FALSE(topic_matches("a/b", "a/b/c"));
    EXPECT_FALSE(topic_matches("a/+", "a"));
    EXPECT_FALSE(topic_matches("a/+", "a/b/c"));
    EXPECT_FALSE(topic_matches("#", "$SYS/x"));
    EXPECT_FALSE(topic_matches("+/x", "$SYS/x"));
    EXPECT_TRUE(topic_matches("$SYS/#", "$SYS/x"));
    EXPECT_TRUE(topic_matches("a/+", "a/"));
}

// The topic rules are the codec's (the ones the client library checks before sending); the messages stay
// mosquitto_pub/sub's.
TEST(ParseTopics, CodecRulesWithMosquittoMessages) {
    const auto has = [](const std::string& err, const std::string& message) {
        return err.find(message) != std::string::npos;
    };
    EXPECT_EQ(ok(Tool::Sub, {"-t", "+/a/#", "-t", "$share/g/x/#"}).topics.size(), 2U);
    // [MQTT-4.7.1-2] '+' fills a whole level.
    EXPECT_TRUE(has(bad(Tool::Sub, {"-t", "a/b+"}),
                    "Error: Invalid subscription topic 'a/b+', are all '+' and '#' wildcards correct?"));
    // [MQTT-4.8.2-1] a ShareName has no wildcard.
    EXPECT_TRUE(has(bad(Tool::Sub, {"-t", "$share/+/x"}),
                    "Error: Invalid subscription topic '$share/+/x', are all '+' and '#' wildcards correct?"));
    // [MQTT-4.7.1-1] '#' is last.
    EXPECT_TRUE(has(bad(Tool::Sub, {"-t", "a", "-T", "#/a"}),
                    "Error: Invalid filter topic '#/a', are all '+' and '#' wildcards correct?"));
    EXPECT_TRUE(has(bad(Tool::Sub, {"-U", "a#"}),
                    "Error: Invalid unsubscribe topic 'a#', are all '+' and '#' wildcards correct?"));
    // [MQTT-3.3.2-2] no wildcard in a Topic Name; [MQTT-1.5.4-1] no ill-formed UTF-8 (an overlong NUL).
    EXPECT_TRUE(has(bad(Tool::Pub, {"-t", "a/+", "-m", "x"}),
                    "Error: Invalid publish topic 'a/+', does it contain '+' or '#'?"));
    EXPECT_TRUE(has(bad(Tool::Pub, {"-t", "a\xC0\x80", "-m", "x"}), "Error: Invalid publish topic"));
    EXPECT_TRUE(has(bad(Tool::Pub, {"-t", "a", "-m", "x", "--will-topic", "w/#"}),
                    "Error: Invalid will topic 'w/#', does it contain '+' or '#'?"));
}

TEST(ParseAuthMethod, ScramSha256ConfiguresEnhancedAuthenticationWithoutSendingThePassword) {
    const auto o = ok(Tool::Pub, {"-V", "5", "-t", "a", "-m", "x", "-u", "alice", "-P", "secret", "--auth-method",
                                  "scram-sha-256"});
    EXPECT_EQ(o.auth_method, "scram-sha-256");
    const auto c = connect_options(o);
    EXPECT_EQ(c.authentication_method, "SCRAM-SHA-256");
    const std::string first(reinterpret_cast<const char*>(c.authentication_data.data()), c.authentication_data.size());
    EXPECT_TRUE(first.starts_with("n,,n=alice,r=")) << first;
    EXPECT_FALSE(c.password);
    EXPECT_EQ(c.username, "alice");
    EXPECT_TRUE(c.on_auth);
    EXPECT_TRUE(c.on_auth_complete);
    // rr speaks 5.0 by default; the method name is case-insensitive on the command line.
    EXPECT_EQ(ok(Tool::Rr, {"-t", "q", "-e", "r", "-u", "a", "-P", "b", "--auth-method", "SCRAM-SHA-256"}).auth_method,
              "scram-sha-256");
    const auto plain = connect_options(ok(Tool::Sub, {"-t", "a", "-V", "5", "-u", "a", "-P", "b"}));
    EXPECT_TRUE(plain.authentication_method.empty());
    EXPECT_EQ(plain.password, "b");
}

TEST(ParseAuthMethod, Errors) {
    const auto has = [](const std::string& err, const std::string& message) {
        return err.find(message) != std::string::npos;
    };
    // MQTT 3.x has no AUTH packet nor Authentication Method property: refused before anything connects.
    EXPECT_TRUE(has(bad(Tool::Sub, {"-t", "a", "-u", "a", "-P", "b", "--auth-method", "scram-sha-256"}),
                    "Error: --auth-method needs MQTT 5.0 (-V 5)"));
    EXPECT_TRUE(has(bad(Tool::Sub, {"-t", "a", "-V", "5", "-u", "a", "-P", "b", "--auth-method", "plain"}),
                    "Error: Unknown authentication method 'plain' (known: scram-sha-256)."));
    EXPECT_TRUE(has(bad(Tool::Sub, {"-t", "a", "-V", "5", "-u", "a", "--auth-method", "scram-sha-256"}),
                    "needs a username (-u) and a password (-P)"));
    EXPECT_TRUE(has(bad(Tool::Sub, {"-t", "a", "-V", "5", "--auth-method", "scram-sha-256"}),
                    "needs a username (-u) and a password (-P)"));
    EXPECT_TRUE(has(bad(Tool::Sub, {"-t", "a", "-V", "5", "-u", "a", "-P", "b", "--auth-method", "scram-sha-256",
                                    "-D", "connect", "authentication-method", "X"}),
                    "cannot be used together"));
    EXPECT_TRUE(has(bad(Tool::Sub, {"-t", "a", "--auth-method"}),
                    "Error: --auth-method argument given but no authentication method specified."));
}

}  // namespace
}  // namespace moth::cli
