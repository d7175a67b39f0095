// HttpProvider against a fake HttpPoster: the request bodies, every answer shape, failures under both on_error
// values, the decision cache (with a fake clock) and the coalescing of identical requests. No sockets.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "auth/http_provider.hpp"

namespace moth::auth {
namespace {

using Json = nlohmann::json;
using namespace std::chrono_literals;

// Keeps every POST; the test answers them when it likes (in order, or all at once).
class FakePoster final : public HttpPoster {
public:
    struct Post {
        HttpUrl url;
        std::string body;
        std::function<void(HttpResponse)> done;
    };
    void post(const HttpUrl& url, std::string body, std::function<void(HttpResponse)> done) override {
        posts.push_back(Post{url, std::move(body), std::move(done)});
    }
    void answer(std::size_t i, int status, std::string body = {}) {
        auto done = std::move(posts.at(i).done);
        done(HttpResponse{status, std::move(body), {}});
    }
    void fail(std::size_t i, std::string error) {
        auto done = std::move(posts.at(i).done);
        done(HttpResponse{0, {}, std::move(error)});
    }
    [[nodiscard]] Json json(std::size_t i) const { return Json::parse(posts.at(i).body); }

    std::vector<Post> posts;
};

class HttpProviderTest : public ::testing::Test {
protected:
    HttpProvider& make(config::OnError on_error = config::OnError::Deny, std::uint32_t ttl = 60) {
        config.url = "http://hook.example:8080/auth";
        config.authorize_url = "https://hook.example/acl?x=1";
        config.on_error = on_error;
        config.cache_ttl_s = ttl;
        provider = std::make_unique<HttpProvider>(
            config, poster, [this](int level, const std::string& line) { logs.emplace_back(level, line); },
            [this] { return now; });
        return *provider;
    }
    // The verdict, when it came before authenticate() returned or after the test answered.
    std::optional<Verdict> ask(const Credentials& c) {
        auto slot = std::make_shared<std::optional<Verdict>>();
        provider->authenticate(c, [slot](Verdict v) { *slot = std::move(v); });
        last = slot;
        return *slot;
    }
    static Credentials device(std::string client_id) {
        return Credentials{std::move(client_id), "fleet", "s3cret", "192.0.2.1:5000", "mqtt-0", "5.0", ""};
    }

    config::AuthHttp config;
    std::shared_ptr<FakePoster> poster = std::make_shared<FakePoster>();
    std::vector<std::pair<int, std::string>> logs;
    std::chrono::steady_clock::time_point now{1000s};
    std::unique_ptr<HttpProvider> provider;
    std::shared_ptr<std::optional<Verdict>> last;
};

TEST_F(HttpProviderTest, AuthenticationRequestCarriesEveryField) {
    make();
    EXPECT_FALSE(ask(Credentials{"c1", "alice", "pw", "192.0.2.1:5000", "mqtt-0", "5.0", "device-7"}));
    ASSERT_EQ(poster->posts.size(), 1u);
    EXPECT_EQ(poster->posts[0].url.host, "hook.example");
    EXPECT_EQ(poster->posts[0].url.port, 8080);
    EXPECT_EQ(poster->posts[0].url.target, "/auth");
    EXPECT_EQ(poster->json(0), Json::parse(R"({"client_id": "c1", "username": "alice", "password": "pw",
        "peer": "192.0.2.1:5000", "listener": "mqtt-0", "protocol": "5.0", "cert_cn": "device-7"})"));
}

TEST_F(HttpProviderTest, MissingCredentialsAreNullAndBinaryPasswordsBase64) {
    make();
    (void)ask(Credentials{"c1", std::nullopt, std::nullopt, "[2001:db8::1]:5000", "ws-0", "3.1.1", ""});
    const Json anonymous = poster->json(0);
    EXPECT_TRUE(anonymous["username"].is_null());
    EXPECT_TRUE(anonymous["password"].is_null());
    EXPECT_TRUE(anonymous["cert_cn"].is_null());
    EXPECT_EQ(anonymous["protocol"], "3.1.1");
    (void)ask(Credentials{"c1", "u", std::string("\xff\x00\x01", 3), "p", "l", "5.0", ""});
    const Json binary = poster->json(1);
    EXPECT_FALSE(binary.contains("password"));
    EXPECT_EQ(binary["password_base64"], "/wAB");
}

TEST_F(HttpProviderTest, NoUrlHandsOnAtOnce) {
    config.url = "";
    provider = std::make_unique<HttpProvider>(config, poster, nullptr, nullptr);
    const auto v = ask(device("d1"));
    ASSERT_TRUE(v);
    EXPECT_EQ(v->kind, Verdict::Kind::Next);
    EXPECT_EQ(v->why, "http: no url");
    EXPECT_TRUE(poster->posts.empty());
}

TEST_F(HttpProviderTest, BadUrlThrows) {
    config.url = "ftp://hook.example/";
    EXPECT_THROW(HttpProvider(config, poster, nullptr, nullptr), std::runtime_error);
    config.url = "http://hook.example/";
    config.authorize_url = "http://[::1/";
    EXPECT_THROW(HttpProvider(config, poster, nullptr, nullptr), std::runtime_error);
}

TEST_F(HttpProviderTest, Status204Allows) {
    make();
    (void)ask(device("d1"));
    poster->answer(0, 204);
    ASSERT_TRUE(*last);
    EXPECT_EQ((*last)->kind, Verdict::Kind::Allow);
    EXPECT_EQ((*last)->grants, nullptr);
}

TEST_F(HttpProviderTest, ResultsMapToVerdicts) {
    make(config::OnError::Deny, 0);
    (void)ask(device("d1"));
    poster->answer(0, 200, R"({"result": "allow"})");
    EXPECT_EQ((*last)->kind, Verdict::Kind::Allow);
    EXPECT_EQ((*last)->grants, nullptr);  // no superuser, no acl: the acl_file applies
    (void)ask(device("d2"));
    poster->answer(1, 200, R"({"result": "deny"})");
    EXPECT_EQ((*last)->kind, Verdict::Kind::Deny);
    EXPECT_EQ((*last)->reason, codec::ReasonCode::BadUserNameOrPassword);
    (void)ask(device("d3"));
    poster->answer(2, 201, R"({"result": "ignore"})");
    EXPECT_EQ((*last)->kind, Verdict::Kind::Next);
    EXPECT_TRUE(logs.empty());
}

TEST_F(HttpProviderTest, AllowCarriesSuperuserAndAcl) {
    make();
    (void)ask(device("d1"));
    poster->answer(0, 200, R"({"result": "allow", "superuser": true})");
    ASSERT_NE((*last)->grants, nullptr);
    EXPECT_TRUE((*last)->grants->superuser);
    (void)ask(Credentials{"d2", "other", "pw", "p", "l", "5.0", ""});
    poster->answer(1, 200, R"({"result": "allow", "acl": {"pub": ["devices/%c/#"], "sub": ["cmd/%c"]}})");
    ASSERT_NE((*last)->grants, nullptr);
    EXPECT_FALSE((*last)->grants->superuser);
    EXPECT_EQ((*last)->grants->publish, std::vector<std::string>{"devices/%c/#"});
    EXPECT_EQ((*last)->grants->subscribe, std::vector<std::string>{"cmd/%c"});
}

// Each of these is a failure: on_error = deny refuses with Server unavailable and logs a warning.
TEST_F(HttpProviderTest, FailuresDenyWithServerUnavailable) {
    make(config::OnError::Deny, 0);
    const std::vector<std::pair<int, std::string>> answers = {
        {500, R"({"result": "allow"})"},
        {200, "not json"},
        {200, "[1, 2]"},
        {200, R"({"result": "maybe"})"},
        {200, R"({"allow": true})"},
        {200, R"({"result": "allow", "acl": {"pub": ["a/#/b"]}})"},
        {200, R"({"result": "allow", "superuser": "yes"})"},
        {302, ""}};
    for (std::size_t i = 0; i < answers.size(); ++i) {
        (void)ask(device("d"));
        poster->answer(i, answers[i].first, answers[i].second);
        ASSERT_TRUE(*last) << i;
        EXPECT_EQ((*last)->kind, Verdict::Kind::Deny) << answers[i].second;
        EXPECT_EQ((*last)->reason, codec::ReasonCode::ServerUnavailable) << answers[i].second;
    }
    (void)ask(device("d"));
    poster->fail(answers.size(), "timeout");
    EXPECT_EQ((*last)->kind, Verdict::Kind::Deny);
    EXPECT_EQ((*last)->why, "http: timeout");
    ASSERT_FALSE(logs.empty());
    EXPECT_EQ(logs[0].first, 2);
    EXPECT_NE(logs[0].second.find("http://hook.example:8080/auth"), std::string::npos) << logs[0].second;
    EXPECT_NE(logs[0].second.find("status 500"), std::string::npos) << logs[0].second;
}

TEST_F(HttpProviderTest, FailureWarningsAreRateLimited) {
    make(config::OnError::Deny, 0);
    for (std::size_t i = 0; i < 20; ++i) {
        (void)ask(device("d"));
        poster->answer(i, 500);
    }
    EXPECT_GE(logs.size(), 1u);
    EXPECT_LE(logs.size(), 5u);  // LogLimiter's burst per shape and interval
}

TEST_F(HttpProviderTest, FailuresHandOnWithOnErrorNext) {
    make(config::OnError::Next);
    (void)ask(device("d1"));
    poster->fail(0, "connection refused");
    EXPECT_EQ((*last)->kind, Verdict::Kind::Next);
    EXPECT_EQ((*last)->why, "http: connection refused");
    (void)ask(device("d1"));  // failures are not cached: asked again
    ASSERT_EQ(poster->posts.size(), 2u);
    poster->answer(1, 503);
    EXPECT_EQ((*last)->kind, Verdict::Kind::Next);
}

TEST_F(HttpProviderTest, CacheAnswersAtOnceUntilTheTtlEnds) {
    make(config::OnError::Deny, 60);
    (void)ask(device("d1"));
    poster->answer(0, 200, R"({"result": "deny"})");
    now += 59s;
    const auto cached = ask(device("d1"));
    ASSERT_TRUE(cached);  // answered before authenticate() returned
    EXPECT_EQ(cached->kind, Verdict::Kind::Deny);
    EXPECT_EQ(poster->posts.size(), 1u);
    now += 1s;
    EXPECT_FALSE(ask(device("d1")));
    EXPECT_EQ(poster->posts.size(), 2u);
}

TEST_F(HttpProviderTest, CacheKeyIgnoresClientIdAndPeerButNotThePassword) {
    make();
    (void)ask(device("d1"));
    poster->answer(0, 200, R"({"result": "allow", "acl": {"all": ["devices/%c/#"]}})");
    Credentials other = device("d2");
    other.remote = "198.51.100.9:4000";
    const auto shared = ask(other);
    ASSERT_TRUE(shared);
    EXPECT_EQ(shared->kind, Verdict::Kind::Allow);
    ASSERT_NE(shared->grants, nullptr);
    EXPECT_EQ(shared->grants->all, std::vector<std::string>{"devices/%c/#"});  // filled per client by the broker
    Credentials wrong = device("d3");
    wrong.password = "guess";
    EXPECT_FALSE(ask(wrong));
    Credentials listener = device("d4");
    listener.listener = "ws-0";
    EXPECT_FALSE(ask(listener));
    EXPECT_EQ(poster->posts.size(), 3u);
}

TEST_F(HttpProviderTest, IdenticalRequestsInFlightAreCoalesced) {
    make();
    std::vector<Verdict> answers;
    for (const char* id : {"d1", "d2", "d3"})
        provider->authenticate(device(id), [&](Verdict v) { answers.push_back(std::move(v)); });
    ASSERT_EQ(poster->posts.size(), 1u);
    EXPECT_TRUE(answers.empty());
    poster->answer(0, 204);
    ASSERT_EQ(answers.size(), 3u);
    for (const auto& v : answers) EXPECT_EQ(v.kind, Verdict::Kind::Allow);
}

TEST_F(HttpProviderTest, CoalescedWaitersShareAFailureWhichIsNotCached) {
    make(config::OnError::Deny);
    std::vector<Verdict> answers;
    for (int i = 0; i < 2; ++i) provider->authenticate(device("d"), [&](Verdict v) { answers.push_back(v); });
    poster->fail(0, "timeout");
    ASSERT_EQ(answers.size(), 2u);
    EXPECT_EQ(answers[1].reason, codec::ReasonCode::ServerUnavailable);
    EXPECT_FALSE(ask(device("d")));
    EXPECT_EQ(poster->posts.size(), 2u);
}

TEST_F(HttpProviderTest, WithoutCacheEveryConnectAsks) {
    make(config::OnError::Deny, 0);
    (void)ask(device("d1"));
    (void)ask(device("d1"));
    EXPECT_EQ(poster->posts.size(), 2u);
    poster->answer(0, 204);
    EXPECT_FALSE(ask(device("d1")));
    EXPECT_EQ(poster->posts.size(), 3u);
}

AccessRequest publish(std::string topic) {
    return AccessRequest{
        AccessRequest::Action::Publish, "d1", "fleet", "192.0.2.1:5000", "mqtt-0", std::move(topic), 1, true};
}

TEST_F(HttpProviderTest, AuthorizeWithoutUrlIsNext) {
    config.url = "http://hook.example/auth";
    provider = std::make_unique<HttpProvider>(config, poster, nullptr, nullptr);
    EXPECT_EQ(provider->authorize(publish("t"), [](HookAnswer) { FAIL(); }), HookAnswer::Next);
    EXPECT_TRUE(poster->posts.empty());
}

TEST_F(HttpProviderTest, AuthorizeRequestAndAnswers) {
    make(config::OnError::Deny, 0);
    std::vector<HookAnswer> answers;
    const auto later = [&](HookAnswer a) { answers.push_back(a); };
    EXPECT_EQ(provider->authorize(publish("devices/d1/temp"), later), std::nullopt);
    ASSERT_EQ(poster->posts.size(), 1u);
    EXPECT_EQ(poster->posts[0].url.target, "/acl?x=1");
    EXPECT_TRUE(poster->posts[0].url.tls);
    EXPECT_EQ(poster->json(0), Json::parse(R"({"client_id": "d1", "username": "fleet", "peer": "192.0.2.1:5000",
        "listener": "mqtt-0", "action": "publish", "topic": "devices/d1/temp", "qos": 1, "retain": true})"));
    poster->answer(0, 204);
    AccessRequest subscribe{AccessRequest::Action::Subscribe, "d1", std::nullopt, "p", "l", "cmd/#", 2, false};
    (void)provider->authorize(subscribe, later);
    EXPECT_EQ(poster->json(1)["action"], "subscribe");
    EXPECT_TRUE(poster->json(1)["username"].is_null());
    poster->answer(1, 200, R"({"result": "deny"})");
    (void)provider->authorize(publish("x"), later);
    poster->answer(2, 200, R"({"result": "ignore"})");
    (void)provider->authorize(publish("x"), later);
    poster->answer(3, 500);
    EXPECT_EQ(answers, (std::vector{HookAnswer::Allow, HookAnswer::Deny, HookAnswer::Next, HookAnswer::Deny}));
}

TEST_F(HttpProviderTest, AuthorizeFailureWithOnErrorNext) {
    make(config::OnError::Next, 0);
    std::optional<HookAnswer> answer;
    (void)provider->authorize(publish("t"), [&](HookAnswer a) { answer = a; });
    poster->fail(0, "timeout");
    EXPECT_EQ(answer, HookAnswer::Next);
}

TEST_F(HttpProviderTest, AuthorizeCacheAndCoalescing) {
    make(config::OnError::Deny, 10);
    int later_calls = 0;
    const auto later = [&](HookAnswer a) {
        EXPECT_EQ(a, HookAnswer::Deny);
        ++later_calls;
    };
    EXPECT_EQ(provider->authorize(publish("t"), later), std::nullopt);
    EXPECT_EQ(provider->authorize(publish("t"), later), std::nullopt);
    ASSERT_EQ(poster->posts.size(), 1u);
    poster->answer(0, 200, R"({"result": "deny"})");
    EXPECT_EQ(later_calls, 2);
    AccessRequest other_peer = publish("t");
    other_peer.remote = "198.51.100.1:1";
    EXPECT_EQ(provider->authorize(other_peer, later), HookAnswer::Deny);  // the peer is not part of the key
    EXPECT_EQ(provider->authorize(publish("u"), later), std::nullopt);    // the topic is
    AccessRequest qos0 = publish("t");
    qos0.qos = 0;
    EXPECT_EQ(provider->authorize(qos0, later), std::nullopt);  // and so is the QoS
    now += 10s;
    EXPECT_EQ(provider->authorize(publish("t"), later), std::nullopt);
    EXPECT_EQ(poster->posts.size(), 4u);
}

TEST(HttpUrl, Parses) {
    std::string error;
    auto url = HttpUrl::parse("HTTPS://Example.com", error);
    ASSERT_TRUE(url) << error;
    EXPECT_TRUE(url->tls);
    EXPECT_EQ(url->port, 443);
    EXPECT_EQ(url->target, "/");
    url = HttpUrl::parse("http://[2001:db8::1]:8080/a/b?c=d#frag", error);
    ASSERT_TRUE(url) << error;
    EXPECT_EQ(url->host, "2001:db8::1");
    EXPECT_EQ(url->port, 8080);
    EXPECT_EQ(url->target, "/a/b?c=d");
    EXPECT_EQ(url->authority(), "[2001:db8::1]:8080");
    url = HttpUrl::parse("http://10.0.0.1?q", error);
    ASSERT_TRUE(url) << error;
    EXPECT_EQ(url->port, 80);
    EXPECT_EQ(url->target, "/?q");
    for (const char* bad : {"hook.example/auth", "ftp://h/", "http://", "http://h:0/", "http://h:65536/", "http://h:x/",
                            "http://u:p@h/", "http://::1/", "http://[::1/", "http://[zz]/"}) {
        EXPECT_FALSE(HttpUrl::parse(bad, error)) << bad;
        EXPECT_FALSE(error.empty());
    }
}

}  // namespace
}  // namespace moth::auth
