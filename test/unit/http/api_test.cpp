// moth::http without sockets: the helpers, path resolution under web_root, and the Api driven through a fake
// Backend whose callbacks run at once.
#include "http/api.hpp"

#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "fake_backend.hpp"
#include "http/assets.hpp"
#include "http/origin.hpp"

namespace moth::http {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

TEST(HttpHelpers, PercentDecoding) {
    EXPECT_EQ(percent_decode("/a%20b/%2e%2E"), "/a b/..");
    EXPECT_EQ(percent_decode("a+b"), "a+b");
    EXPECT_EQ(percent_decode("a+b", true), "a b");
    EXPECT_EQ(percent_decode("%"), std::nullopt);
    EXPECT_EQ(percent_decode("%4"), std::nullopt);
    EXPECT_EQ(percent_decode("%zz"), std::nullopt);
    EXPECT_EQ(percent_decode("a%00b"), std::nullopt);  // an encoded NUL never reaches a file name
    EXPECT_EQ(query_param("filter=a%2F%23&limit=5", "filter"), "a/#");
    EXPECT_EQ(query_param("filter=a%2F%23&limit=5", "limit"), "5");
    EXPECT_EQ(query_param("limit=5", "filter"), std::nullopt);
    EXPECT_EQ(query_param("flag", "flag"), "");
}

TEST(HttpHelpers, ContentTypesAndTime) {
    EXPECT_EQ(content_type_for("/index.html"), "text/html; charset=utf-8");
    EXPECT_EQ(content_type_for("/a/b.JS"), "text/javascript; charset=utf-8");
    EXPECT_EQ(content_type_for("x.mjs"), "text/javascript; charset=utf-8");
    EXPECT_EQ(content_type_for("x.woff2"), "font/woff2");
    EXPECT_EQ(content_type_for("x.js.map"), "application/json");
    EXPECT_EQ(content_type_for("/dir.d/README"), "application/octet-stream");
    EXPECT_EQ(rfc3339(std::chrono::system_clock::time_point(std::chrono::seconds(1700000000))), "2023-11-14T22:13:20Z");
}

TEST(HttpHelpers, MetricsTextHasHelpTypeAndEscapedLabels) {
    StatsInfo s;
    s.version = "1.2\"3";
    s.clients_connected = 3;
    s.bytes_sent = 99;
    s.connection_failures = 2;
    const std::string text = metrics_text(s, {{"mqtt-0", 2}, {"web", 0}});
    EXPECT_NE(text.find("# HELP moth_clients_connected "), std::string::npos);
    EXPECT_NE(text.find("# TYPE moth_clients_connected gauge\nmoth_clients_connected 3\n"), std::string::npos);
    EXPECT_NE(text.find("# TYPE moth_bytes_sent_total counter\nmoth_bytes_sent_total 99\n"), std::string::npos);
    EXPECT_NE(text.find("# HELP moth_connection_failures_total "), std::string::npos);
    EXPECT_NE(text.find("# TYPE moth_connection_failures_total counter\nmoth_connection_failures_total 2\n"),
              std::string::npos);
    EXPECT_NE(text.find("moth_connections{listener=\"mqtt-0\"} 2\nmoth_connections{listener=\"web\"} 0\n"),
              std::string::npos);
    EXPECT_NE(text.find("moth_build_info{version=\"1.2\\\"3\"} 1\n"), std::string::npos);
}

TEST(HttpAssets, ThePlaceholderOrTheConsoleHasAnIndex) {
    const EmbeddedAsset* index = find_embedded("/");
    ASSERT_NE(index, nullptr);
    EXPECT_EQ(index->path, "/index.html");
    EXPECT_EQ(index->content_type, "text/html; charset=utf-8");
    EXPECT_NE(index->bytes.find("<html"), std::string_view::npos);
    EXPECT_EQ(find_embedded("/index.html"), index);
    EXPECT_EQ(find_embedded("/no-such-file"), nullptr);
    if (embedded_is_placeholder()) {
        EXPECT_NE(index->bytes.find("mothd"), std::string_view::npos);
    }
}

class ResolveStatic : public ::testing::Test {
protected:
    void SetUp() override {
        base_ = fs::temp_directory_path() / ("moth-http-test-" + std::to_string(std::random_device{}()));
        root_ = base_ / "www";
        fs::create_directories(root_ / "sub");
        write(root_ / "index.html", "root");
        write(root_ / "sub" / "index.html", "sub");
        write(root_ / "a.txt", "a");
        write(base_ / "secret.txt", "secret");
        fs::create_symlink(base_ / "secret.txt", root_ / "leak.txt");
        fs::create_symlink(root_ / "a.txt", root_ / "alias.txt");
    }
    void TearDown() override { fs::remove_all(base_); }
    static void write(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }
    [[nodiscard]] std::optional<std::string> resolve(std::string_view path) const {
        return resolve_static(root_.string(), path);
    }

    fs::path base_, root_;
};

TEST_F(ResolveStatic, FilesAndDirectoryIndexes) {
    const std::string real_root = fs::canonical(root_).string();
    EXPECT_EQ(resolve("/"), real_root + "/index.html");
    EXPECT_EQ(resolve("/sub"), real_root + "/sub/index.html");
    EXPECT_EQ(resolve("/sub/"), real_root + "/sub/index.html");
    EXPECT_EQ(resolve("/a.txt"), real_root + "/a.txt");
    EXPECT_EQ(resolve("/alias.txt"), real_root + "/a.txt");  // a link that stays inside is fine
    EXPECT_EQ(resolve("/missing"), std::nullopt);
}

TEST_F(ResolveStatic, NothingOutsideTheRoot) {
    for (const char* path : {"/../secret.txt", "/sub/../../secret.txt", "/sub/../a.txt", "/./a.txt", "/leak.txt", "..",
                             "", "a.txt", "/..\\secret.txt"}) {
        EXPECT_EQ(resolve(path), std::nullopt) << path;
    }
}

// ---- the Api with a fake backend (fake_backend.hpp) ----

TEST(HttpApi, OpenWhenNoCredentialsAreSet) {
    FakeBackend b;
    Api api(Settings{}, b);
    const Response r = call(api, "GET", "/api/v1/stats");
    EXPECT_EQ(r.status, 200U);
    EXPECT_EQ(json::parse(r.body)["version"], "test");
}

TEST(HttpApi, TokenAndBasicAuth) {
    FakeBackend b;
    Settings s;
    s.api_token = "tok";
    s.api_username = "u";
    s.api_password = "p";
    Api api(s, b);
    for (const char* auth : {"", "Bearer", "Bearer tok2", "Bearer to", "Basic dTpx" /* u:q */, "Basic %%%", "tok"}) {
        const Response r = call(api, "GET", "/metrics", {}, auth);
        EXPECT_EQ(r.status, 401U) << auth;
        ASSERT_EQ(r.headers.size(), 1U);
        EXPECT_EQ(r.headers[0], (std::pair<std::string, std::string>{"WWW-Authenticate", "Basic realm=\"mothd\""}));
    }
    EXPECT_EQ(call(api, "GET", "/metrics", {}, "Bearer tok").status, 200U);
    EXPECT_EQ(call(api, "GET", "/api/v1/stats", {}, "Basic dTpw" /* u:p */).status, 200U);
    EXPECT_EQ(call(api, "GET", "/api/v1/nothing", {}, "").status, 401U);  // no probing without credentials
}

TEST(HttpApi, ClientsByIdAreUrlDecodedAndDeleteSaysWhetherFound) {
    FakeBackend b;
    broker::ClientInfo c;
    c.client_id = "a/b c";
    c.transport = "ws";
    c.protocol_version = 5;
    b.snap.clients.push_back(c);
    Api api(Settings{}, b);
    const Response one = call(api, "GET", "/api/v1/clients/a%2Fb%20c");
    EXPECT_EQ(one.status, 200U);
    ASSERT_FALSE(b.queries.empty());
    EXPECT_EQ(b.queries.back().client_id, "a/b c");
    EXPECT_EQ(json::parse(one.body)["transport"], "ws");
    EXPECT_EQ(call(api, "DELETE", "/api/v1/clients/known").body, "{\"disconnected\":\"known\"}\n");
    EXPECT_EQ(call(api, "DELETE", "/api/v1/clients/unknown").status, 404U);
    EXPECT_EQ(call(api, "PUT", "/api/v1/clients/known").status, 405U);
}

// Issue 18: the console warns when a listener reachable from the network takes anonymous clients.
TEST(HttpApi, ListenersSayWhetherTheyTakeAnonymousClients) {
    FakeBackend b;
    b.snap.connections_by_listener["mqtt-0"] = 2;
    Api api(Settings{}, b);
    const Response r = call(api, "GET", "/api/v1/listeners");
    ASSERT_EQ(r.status, 200U);
    EXPECT_EQ(json::parse(r.body), json::parse(R"({"listeners":[
        {"name":"mqtt-0","kind":"mqtt","address":"0.0.0.0","port":1883,"anonymous":true,"connections":2},
        {"name":"http-1","kind":"http","address":"127.0.0.1","port":8080,"anonymous":false,"connections":0}]})"));
    ASSERT_FALSE(b.queries.empty());
    EXPECT_TRUE(b.queries.back().listeners);
    EXPECT_EQ(call(api, "POST", "/api/v1/listeners").status, 405U);
}

TEST(HttpApi, PublishChecksItsInput) {
    FakeBackend b;
    Api api(Settings{}, b);
    EXPECT_EQ(call(api, "POST", "/api/v1/publish", R"({"topic":"a/b","payload":"x","qos":2,"retain":true})").status,
              200U);
    ASSERT_EQ(b.published.size(), 1U);
    EXPECT_EQ(b.published[0].topic, "a/b");
    EXPECT_EQ(b.published[0].qos, codec::QoS::ExactlyOnce);
    EXPECT_TRUE(b.published[0].retain);
    EXPECT_EQ(b.published[0].payload.size(), 1U);
    for (const char* body : {"", "[]", R"({"topic":"a/#"})", R"({"topic":"a","qos":-1})", R"({"topic":"$x"})"}) {
        EXPECT_EQ(call(api, "POST", "/api/v1/publish", body).status, 400U) << body;
    }
    EXPECT_EQ(b.published.size(), 1U);
}

TEST(HttpApi, RetainedQueryDefaultsAndChecks) {
    FakeBackend b;
    Api api(Settings{}, b);
    EXPECT_EQ(call(api, "GET", "/api/v1/retained").status, 200U);
    EXPECT_EQ(b.last_filter, "#");
    EXPECT_EQ(b.last_limit, kDefaultRetainedLimit);
    EXPECT_EQ(call(api, "GET", "/api/v1/retained?filter=a%2F%2B&limit=3").status, 200U);
    EXPECT_EQ(b.last_filter, "a/+");
    EXPECT_EQ(b.last_limit, 3U);
    EXPECT_EQ(call(api, "GET", "/api/v1/retained?limit=x").status, 400U);
    EXPECT_EQ(call(api, "GET", "/api/v1/retained?filter=%24share%2Fg%2Fa").status, 400U);
}

TEST(HttpApi, DashboardStoresValidJsonOnly) {
    FakeBackend b;
    Api api(Settings{}, b);
    EXPECT_EQ(call(api, "GET", "/api/v1/dashboard").status, 404U);
    EXPECT_EQ(call(api, "PUT", "/api/v1/dashboard", "{nope").status, 400U);
    EXPECT_EQ(call(api, "PUT", "/api/v1/dashboard", std::string(kMaxDashboardBytes + 1, ' ')).status, 413U);
    EXPECT_EQ(call(api, "PUT", "/api/v1/dashboard", R"({"a":1})").status, 200U);
    EXPECT_EQ(call(api, "GET", "/api/v1/dashboard").body, R"({"a":1})");
}

TEST(HttpApi, StaticMethodsAndEmbeddedIndex) {
    FakeBackend b;
    Api api(Settings{}, b);
    const Response index = call(api, "GET", "/");
    EXPECT_EQ(index.status, 200U);
    EXPECT_EQ(index.content_type, "text/html; charset=utf-8");
    EXPECT_EQ(call(api, "POST", "/").status, 405U);
    EXPECT_EQ(call(api, "GET", "/missing.js").status, 404U);
    EXPECT_EQ(call(api, "GET", "/%zz").status, 400U);
    EXPECT_EQ(call(api, "GET", "no-slash").status, 400U);
}

TEST(HttpOrigin, SameOriginAsHost) {
    EXPECT_TRUE(same_origin_as_host("http://127.0.0.1:8080", "127.0.0.1:8080"));
    EXPECT_TRUE(same_origin_as_host("HTTP://Broker.Example:8080", "broker.example:8080"));
    EXPECT_TRUE(same_origin_as_host("https://127.0.0.1:8080", "127.0.0.1:8080"));  // paho-mqtt, TLS proxies
    EXPECT_TRUE(same_origin_as_host("http://broker.example", "broker.example"));
    EXPECT_TRUE(same_origin_as_host("http://broker.example:80", "broker.example"));
    EXPECT_TRUE(same_origin_as_host("https://broker.example", "broker.example:443"));
    EXPECT_TRUE(same_origin_as_host("http://[::1]:8080", "[::1]:8080"));
    EXPECT_TRUE(same_origin_as_host(" http://a.example:1 ", "a.example:1"));
    EXPECT_FALSE(same_origin_as_host("http://broker.example:443", "broker.example"));  // http's default is 80
    EXPECT_FALSE(same_origin_as_host("http://127.0.0.1:8081", "127.0.0.1:8080"));
    EXPECT_FALSE(same_origin_as_host("http://localhost:8080", "127.0.0.1:8080"));
    EXPECT_FALSE(same_origin_as_host("http://evil.example", "broker.example"));
    EXPECT_FALSE(same_origin_as_host("http://broker.example.evil.example", "broker.example"));
    EXPECT_FALSE(same_origin_as_host("null", "127.0.0.1:8080"));
    EXPECT_FALSE(same_origin_as_host("file://", "127.0.0.1:8080"));
    EXPECT_FALSE(same_origin_as_host("ftp://127.0.0.1:8080", "127.0.0.1:8080"));
    EXPECT_FALSE(same_origin_as_host("http://127.0.0.1:8080/", "127.0.0.1:8080"));
    EXPECT_FALSE(same_origin_as_host("http://u@127.0.0.1:8080", "127.0.0.1:8080"));
    EXPECT_FALSE(same_origin_as_host("http://127.0.0.1:8080", ""));
    EXPECT_FALSE(same_origin_as_host("http://127.0.0.1:", "127.0.0.1:"));
    EXPECT_FALSE(same_origin_as_host("http://127.0.0.1:0", "127.0.0.1:0"));
    EXPECT_FALSE(same_origin_as_host("http://[::1", "[::1"));
}

TEST(HttpOrigin, CrossSiteRefusal) {
    const std::string host = "127.0.0.1:8080";
    const std::optional<std::string> own = "http://127.0.0.1:8080";
    const std::optional<std::string> none;
    EXPECT_EQ(cross_site_refusal(none, "", host), std::nullopt);  // curl, scripts
    EXPECT_EQ(cross_site_refusal(own, "", host), std::nullopt);
    EXPECT_EQ(cross_site_refusal(own, "same-origin", host), std::nullopt);
    EXPECT_EQ(cross_site_refusal(none, "same-origin", host), std::nullopt);
    EXPECT_EQ(cross_site_refusal(none, "none", host), std::nullopt);  // typed into the address bar
    EXPECT_EQ(cross_site_refusal(own, "same-site", host), std::nullopt);
    EXPECT_NE(cross_site_refusal(none, "same-site", host), std::nullopt);
    EXPECT_NE(cross_site_refusal(none, "Cross-Site", host), std::nullopt);
    EXPECT_NE(cross_site_refusal(own, "cross-site", host), std::nullopt);
    EXPECT_NE(cross_site_refusal(std::string("null"), "", host), std::nullopt);
    EXPECT_NE(cross_site_refusal(std::string("http://evil.example"), "same-origin", host), std::nullopt);
    EXPECT_NE(cross_site_refusal(own, "", ""), std::nullopt);  // no Host: the own origin is unknown
}

TEST(HttpApi, RefusesCrossSiteRequestsBeforeAnythingElse) {
    FakeBackend b;
    Settings s;
    s.api_token = "tok";
    Api api(s, b);
    Request r = make("POST", "/api/v1/publish", "Bearer tok", R"({"topic":"a","payload":"x"})");
    r.host = "127.0.0.1:8080";
    r.content_type = "text/plain;charset=UTF-8";
    r.origin = "http://evil.example";
    Response res = send(api, r);
    EXPECT_EQ(res.status, 403U);
    EXPECT_EQ(res.content_type, "application/json");
    EXPECT_TRUE(json::parse(res.body).contains("error"));
    r.origin.reset();
    r.sec_fetch_site = "cross-site";
    EXPECT_EQ(send(api, r).status, 403U);
    r.authorization.clear();  // 403 comes before 401: another site learns nothing about the credentials
    EXPECT_EQ(send(api, r).status, 403U);
    r.target = "/metrics";
    r.method = "GET";
    r.body.clear();
    EXPECT_EQ(send(api, r).status, 403U);
    r.target = "/";  // static files are for anyone
    EXPECT_EQ(send(api, r).status, 200U);
    EXPECT_TRUE(b.published.empty());
}

TEST(HttpApi, BodiesMustBeJson) {
    FakeBackend b;
    Api api(Settings{}, b);
    Request r = make("POST", "/api/v1/publish", "", R"({"topic":"a","payload":"x"})");
    for (const char* type : {"", "text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded",
                             "multipart/form-data; boundary=x", "application/jsonx", "application/json-seq"}) {
        r.content_type = type;
        const Response res = send(api, r);
        EXPECT_EQ(res.status, 415U) << type;
        EXPECT_TRUE(json::parse(res.body).contains("error")) << type;
    }
    EXPECT_TRUE(b.published.empty());
    for (const char* type : {"application/json", "Application/JSON", "application/json; charset=utf-8"}) {
        r.content_type = type;
        EXPECT_EQ(send(api, r).status, 200U) << type;
    }
    EXPECT_EQ(b.published.size(), 3U);
    r = make("PUT", "/api/v1/dashboard", "", R"({"a":1})");
    r.content_type = "text/plain";
    EXPECT_EQ(send(api, r).status, 415U);
    r = make("DELETE", "/api/v1/clients/known");  // no body, no Content-Type needed
    EXPECT_EQ(send(api, r).status, 200U);
    EXPECT_TRUE(is_json_media_type(" application/json ;charset=utf-8"));
    EXPECT_FALSE(is_json_media_type("text/json"));
}

}  // namespace
}  // namespace moth::http
