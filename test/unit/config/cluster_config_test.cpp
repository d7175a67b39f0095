// [cluster] (docs/cluster.md): off by default, every key read, bad values and bad combinations named by line.
#include <gtest/gtest.h>

#include "config/config.hpp"

namespace moth::config {
namespace {

std::vector<std::string> errors_of(std::string_view text) {
    std::vector<std::string> out;
    for (const auto& e : parse_config(text, "c.toml").errors) out.push_back(e.to_string());
    return out;
}

TEST(ConfigCluster, OffByDefault) {
    const Config c = default_config();
    EXPECT_FALSE(c.cluster.enabled);
    EXPECT_EQ(c.cluster.servers, std::vector<std::string>{"nats://127.0.0.1:4222"});
    EXPECT_EQ(c.cluster.replicas, 1U);
    EXPECT_EQ(c.cluster.prefix, "moth");
}

TEST(ConfigCluster, ReadsEveryKey) {
    const LoadResult r = parse_config(R"(
[cluster]
enabled = true
servers = ["nats://127.0.0.1:4222", "tls://nats.example.org:4443"]
node = "edge-1"
replicas = 3
prefix = "class_a"
user = "moth"
password = "secret"
tls_ca = "/etc/moth/nats-ca.pem"
tls_cert = "/etc/moth/node.pem"
tls_key = "/etc/moth/node.key"
connect_timeout_ms = 2000
ack_timeout_ms = 1500
message_retention_s = 3600
max_stream_bytes = 10485760
report_interval_s = 2
)",
                                      "c.toml");
    ASSERT_TRUE(r.ok()) << r.errors.front().to_string();
    const Cluster& c = r.config.cluster;
    EXPECT_TRUE(c.enabled);
    EXPECT_EQ(c.servers.size(), 2U);
    EXPECT_EQ(c.node, "edge-1");
    EXPECT_EQ(cluster_node_name(c), "edge-1");
    EXPECT_EQ(c.replicas, 3U);
    EXPECT_EQ(c.prefix, "class_a");
    EXPECT_EQ(c.user, "moth");
    EXPECT_EQ(c.tls_key, "/etc/moth/node.key");
    EXPECT_EQ(c.connect_timeout_ms, 2000U);
    EXPECT_EQ(c.ack_timeout_ms, 1500U);
    EXPECT_EQ(c.message_retention_s, 3600U);
    EXPECT_EQ(c.max_stream_bytes, 10485760U);
    EXPECT_EQ(c.report_interval_s, 2U);
}

TEST(ConfigCluster, BadValuesNameTheirLine) {
    EXPECT_EQ(errors_of("[cluster]\nnode = \"a.b\"\n"),
              std::vector<std::string>{
                  "c.toml:2: cluster.node: expected at most 64 letters, digits, '-' or '_', got \"a.b\""});
    EXPECT_EQ(errors_of("[cluster]\nreplicas = 7\n"),
              std::vector<std::string>{"c.toml:2: cluster.replicas: must be between 1 and 5, got 7"});
    EXPECT_EQ(errors_of("[cluster]\nservers = [\"http://x\"]\n").size(), 1U);
    EXPECT_EQ(errors_of("[cluster]\nprefix = \"\"\n").size(), 1U);
    EXPECT_EQ(errors_of("[cluster]\nnodes = 3\n").size(), 1U);  // an unknown key
}

TEST(ConfigCluster, CombinationsThatDoNotGoTogether) {
    EXPECT_EQ(errors_of("[cluster]\nenabled = true\nservers = []\n"),
              std::vector<std::string>{"c.toml:3: cluster.servers: an enabled cluster needs at least one NATS URL"});
    EXPECT_EQ(errors_of("[cluster]\nenabled = true\nuser = \"u\"\n"),
              std::vector<std::string>{"c.toml:1: cluster.password: user is set without a password"});
    EXPECT_EQ(errors_of("[cluster]\nenabled = true\ntoken = \"t\"\ncredentials = \"/x.creds\"\n").size(), 1U);
    EXPECT_EQ(errors_of("[cluster]\nenabled = true\ntls_cert = \"/c.pem\"\n").size(), 1U);
    // Not enabled: nothing to check together.
    EXPECT_TRUE(errors_of("[cluster]\nservers = []\n").empty());
}

TEST(ConfigCluster, ChangesNeedARestart) {
    const Config a = default_config();
    Config b = a;
    b.cluster.enabled = true;
    EXPECT_EQ(reload_differences(a, b), std::vector<std::string>{"cluster.enabled"});
}

TEST(ConfigCluster, DefaultNodeNameIsTheHostNameMadeToFit) {
    const std::string name = cluster_node_name(Cluster{});
    ASSERT_FALSE(name.empty());
    EXPECT_LE(name.size(), 64U);
    for (const char ch : name) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_');
}

}  // namespace
}  // namespace moth::config
