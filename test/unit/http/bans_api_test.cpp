// Issue 19 in the HTTP API, without sockets: the ban list routes (/api/v1/bans) over a fake Gate holding a real
// limits::BanList, the limit counters of /api/v1/clients and /metrics.
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "fake_backend.hpp"
#include "http/api.hpp"

namespace moth::http {
namespace {

using nlohmann::json;

class BansApi : public ::testing::Test {
protected:
    BansApi() { backend_.gate_ = &gate_; }

    [[nodiscard]] json listed() {
        const Response r = call(api_, "GET", "/api/v1/bans");
        EXPECT_EQ(r.status, 200U);
        return json::parse(r.body)["bans"];
    }

    FakeGate gate_;
    FakeBackend backend_;
    Api api_{Settings{}, backend_};
};

TEST_F(BansApi, AddListAndRemoveAClientIdBan) {
    EXPECT_EQ(listed(), json::array());
    const Response added =
        call(api_, "POST", "/api/v1/bans", R"({"kind":"client_id","value":"pest/1","reason":"spam","duration_s":60})");
    ASSERT_EQ(added.status, 201U) << added.body;
    EXPECT_EQ(added.content_type, "application/json");
    const json ban = json::parse(R"({"kind":"client_id","value":"pest/1","reason":"spam","until":1700000060,
        "until_text":"2023-11-14T22:14:20Z","source":"api","created":1700000000})");
    EXPECT_EQ(json::parse(added.body), ban);
    EXPECT_EQ(listed(), json::array({ban}));
    ASSERT_EQ(gate_.bans().size(), 1U);  // what the gate holds, not only what was answered
    EXPECT_EQ(gate_.bans()[0].until, 1'700'000'060);

    const Response removed = call(api_, "DELETE", "/api/v1/bans/client_id/pest%2F1");
    EXPECT_EQ(removed.status, 204U);
    EXPECT_EQ(removed.body, "");
    EXPECT_EQ(listed(), json::array());
    const Response again = call(api_, "DELETE", "/api/v1/bans/client_id/pest%2F1");
    EXPECT_EQ(again.status, 404U);
    EXPECT_EQ(json::parse(again.body)["error"], "no ban of client_id \"pest/1\"");
}

TEST_F(BansApi, AddressesAreCanonicalAndEncodedInThePath) {
    const Response added = call(api_, "POST", "/api/v1/bans", R"({"kind":"address","value":"FD00:0:0::/8"})");
    ASSERT_EQ(added.status, 201U) << added.body;
    const json ban = json::parse(added.body);
    EXPECT_EQ(ban["value"], "fd00::/8");
    EXPECT_EQ(ban["reason"], "");
    EXPECT_TRUE(ban["until"].is_null());  // no duration: until removed
    EXPECT_TRUE(ban["until_text"].is_null());
    // Removed by any spelling of the same range, percent-encoded or not.
    EXPECT_EQ(call(api_, "DELETE", "/api/v1/bans/address/fd00%3A0%3A%3A%2F8").status, 204U);
    EXPECT_TRUE(gate_.bans().empty());
    ASSERT_EQ(call(api_, "POST", "/api/v1/bans", R"({"kind":"address","value":"10.0.0.0/8"})").status, 201U);
    EXPECT_EQ(call(api_, "DELETE", "/api/v1/bans/address/10.0.0.0/8").status, 204U);
    EXPECT_TRUE(gate_.bans().empty());
}

TEST_F(BansApi, UntilAndReplacement) {
    ASSERT_EQ(call(api_, "POST", "/api/v1/bans", R"({"kind":"username","value":"mallory","until":1700000100})").status,
              201U);
    const Response replaced =
        call(api_, "POST", "/api/v1/bans", R"({"kind":"username","value":"mallory","until":null,"reason":null})");
    ASSERT_EQ(replaced.status, 201U);
    EXPECT_TRUE(json::parse(replaced.body)["until"].is_null());
    EXPECT_EQ(listed().size(), 1U);
    // Expired bans are not listed: the list is the gate's at its clock.
    ASSERT_EQ(call(api_, "POST", "/api/v1/bans", R"({"kind":"client_id","value":"brief","duration_s":1})").status,
              201U);
    EXPECT_EQ(listed().size(), 2U);
    gate_.now += 1;
    EXPECT_EQ(listed().size(), 1U);
}

TEST_F(BansApi, BadBansAreRefusedWithTheReason) {
    const std::pair<const char*, const char*> cases[] = {
        {"", "body is not valid JSON"},
        {"[]", "body must be a JSON object"},
        {R"({"value":"x"})", R"("kind" must be "client_id", "username" or "address")"},
        {R"({"kind":"ip","value":"x"})", R"("kind" must be)"},
        {R"({"kind":"client_id"})", R"("value" (a string) is required)"},
        {R"({"kind":"client_id","value":7})", R"("value" (a string) is required)"},
        {R"({"kind":"client_id","value":""})", "client_id must not be empty"},
        {R"({"kind":"address","value":"10.1.2.3/8"})", "CIDR range with zero host bits"},
        {R"({"kind":"address","value":"example.com"})", "is not an IPv4 or IPv6 address"},
        {R"({"kind":"username","value":"u","reason":5})", R"("reason" must be a string)"},
        {R"({"kind":"username","value":"u","duration_s":0})", R"("duration_s" must be a whole number)"},
        {R"({"kind":"username","value":"u","duration_s":-5})", R"("duration_s" must be a whole number)"},
        {R"({"kind":"username","value":"u","duration_s":1.5})", R"("duration_s" must be a whole number)"},
        {R"({"kind":"username","value":"u","duration_s":"60"})", R"("duration_s" must be a whole number)"},
        {R"({"kind":"username","value":"u","duration_s":18446744073709551615})", R"("duration_s" must be)"},
        {R"({"kind":"username","value":"u","duration_s":3200000000})", R"("duration_s" must be)"},  // > 100 years
        {R"({"kind":"username","value":"u","duration_s":60,"until":1700000100})", "not both"},
        {R"({"kind":"username","value":"u","until":1700000000})", R"("until" must be a Unix time)"},  // now: past
        {R"({"kind":"username","value":"u","until":"tomorrow"})", R"("until" must be a Unix time)"},
    };
    for (const auto& [body, why] : cases) {
        const Response r = call(api_, "POST", "/api/v1/bans", body);
        EXPECT_EQ(r.status, 400U) << body;
        const json j = json::parse(r.body, nullptr, false);
        ASSERT_TRUE(j.is_object() && j["error"].is_string()) << r.body;
        EXPECT_NE(j["error"].get<std::string>().find(why), std::string::npos) << body << " -> " << r.body;
    }
    EXPECT_TRUE(gate_.bans().empty());
}

TEST_F(BansApi, MethodsAndPaths) {
    Response r = call(api_, "PUT", "/api/v1/bans", "{}");
    EXPECT_EQ(r.status, 405U);
    ASSERT_EQ(r.headers.size(), 1U);
    EXPECT_EQ(r.headers[0], (std::pair<std::string, std::string>{"Allow", "GET, HEAD, POST"}));
    EXPECT_EQ(call(api_, "HEAD", "/api/v1/bans").status, 200U);
    r = call(api_, "GET", "/api/v1/bans/client_id/x");
    EXPECT_EQ(r.status, 405U);
    ASSERT_EQ(r.headers.size(), 1U);
    EXPECT_EQ(r.headers[0].second, "DELETE");
    for (const char* path : {"/api/v1/bans/ip/x", "/api/v1/bans/client_id", "/api/v1/bans/client_id/",
                             "/api/v1/bans/client_id/%zz", "/api/v1/bans/"}) {
        EXPECT_EQ(call(api_, "DELETE", path).status, 400U) << path;
    }
}

TEST_F(BansApi, SameDoorAsTheRestOfTheApi) {
    Settings s;
    s.api_token = "tok";
    Api guarded(s, backend_);
    EXPECT_EQ(call(guarded, "GET", "/api/v1/bans").status, 401U);
    EXPECT_EQ(call(guarded, "DELETE", "/api/v1/bans/client_id/x").status, 401U);
    EXPECT_EQ(call(guarded, "GET", "/api/v1/bans", {}, "Bearer tok").status, 200U);
    Request form = make("POST", "/api/v1/bans", "Bearer tok", R"({"kind":"client_id","value":"x"})");
    form.content_type = "text/plain";  // what another site's page can send without a preflight
    EXPECT_EQ(send(guarded, form).status, 415U);
    form.content_type = "application/json";
    form.host = "127.0.0.1:8080";
    form.origin = "http://evil.example";
    EXPECT_EQ(send(guarded, form).status, 403U);
    EXPECT_TRUE(gate_.bans().empty());
}

TEST(BansApiWithoutGate, Answers503) {
    FakeBackend b;
    Api api(Settings{}, b);
    for (const auto& [method, path] : {std::pair{"GET", "/api/v1/bans"}, std::pair{"POST", "/api/v1/bans"},
                                       std::pair{"DELETE", "/api/v1/bans/client_id/x"}}) {
        const Response r =
            call(api, method, path, method == std::string("POST") ? R"({"kind":"client_id","value":"x"})" : "");
        EXPECT_EQ(r.status, 503U) << method << ' ' << path;
        EXPECT_EQ(json::parse(r.body)["error"], "this broker keeps no ban list (it runs without abuse limits)");
    }
}

TEST(LimitCounters, ClientsShowThrottlingAndTheirPublishRate) {
    FakeBackend b;
    broker::ClientInfo limited;
    limited.client_id = "a";
    limited.throttled = 3;
    limited.publish_rate = 12.5;
    broker::ClientInfo free;
    free.client_id = "b";
    b.snap.clients = {limited, free};  // the fake answers GET /clients/<id> with the first
    Api api(Settings{}, b);
    const json list = json::parse(call(api, "GET", "/api/v1/clients").body)["clients"];
    ASSERT_EQ(list.size(), 2U);  // sorted by id
    EXPECT_EQ(list[0]["throttled"], 3);
    EXPECT_EQ(list[0]["publish_rate"], 12.5);
    EXPECT_EQ(list[1]["throttled"], 0);
    EXPECT_TRUE(list[1].contains("publish_rate") && list[1]["publish_rate"].is_null());
    const json one = json::parse(call(api, "GET", "/api/v1/clients/a").body);
    EXPECT_EQ(one["throttled"], 3);
}

TEST(LimitCounters, MetricsNameEveryLimit) {
    StatsInfo s;
    s.throttled = 7;
    s.rate_disconnects = 2;
    s.connect_rate_refused = 5;
    s.banned_refused = 4;
    s.flapping_bans = 1;
    s.bans = 3;
    const std::string text = metrics_text(s, {});
    for (const char* expected : {
             "# TYPE moth_publish_throttled_total counter\nmoth_publish_throttled_total 7\n",
             "# TYPE moth_publish_rate_disconnects_total counter\nmoth_publish_rate_disconnects_total 2\n",
             "# TYPE moth_connections_refused_total counter\n"
             "moth_connections_refused_total{reason=\"connection_rate\"} 5\n"
             "moth_connections_refused_total{reason=\"banned\"} 4\n",
             "# TYPE moth_flapping_bans_total counter\nmoth_flapping_bans_total 1\n",
             "# TYPE moth_bans gauge\nmoth_bans 3\n",
             "# HELP moth_bans ",
             "# HELP moth_connections_refused_total ",
         }) {
        EXPECT_NE(text.find(expected), std::string::npos) << expected;
    }
}

}  // namespace
}  // namespace moth::http
