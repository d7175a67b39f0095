// JwtProvider: what the provider chain gets for a CONNECT's credentials: Next for what is not a token, Deny for a
// bad one, Allow with the identity, grants and expiry a good one carries.
#include <gtest/gtest.h>

#include <string>

#include "auth/jwt_provider.hpp"
#include "jwt_signer.hpp"

namespace moth::auth {
namespace {

using namespace moth::auth::test;
using codec::ReasonCode;
using nlohmann::json;

constexpr std::int64_t kNow = 1'800'000'000;
const std::string kSecret = "provider secret, 32 bytes or so!";

class JwtProviderTest : public ::testing::Test {
protected:
    JwtProvider make(config::AuthJwt cfg = {}) {
        cfg.secret_file = secret_.path();
        return JwtProvider(cfg, [this] { return now_; });
    }
    // The verdict `p` gives, checking that done is called exactly once, before authenticate returns.
    static Verdict ask(JwtProvider& p, std::optional<std::string> password, std::optional<std::string> username = "u") {
        Credentials c;
        c.client_id = "c1";
        c.username = std::move(username);
        c.password = std::move(password);
        int calls = 0;
        Verdict got;
        p.authenticate(c, [&](Verdict v) {
            ++calls;
            got = std::move(v);
        });
        EXPECT_EQ(calls, 1);
        return got;
    }

    TempFile secret_{kSecret + "\n"};
    std::int64_t now_ = kNow;
    Signer signer_ = hs256(kSecret);
};

TEST_F(JwtProviderTest, WhatIsNotATokenGoesToTheNextProvider) {
    auto p = make();
    EXPECT_EQ(p.name(), "jwt");
    const std::optional<std::string> passwords[] = {std::nullopt, "", "hunter2", "a.b", "a.b.c d", "my.pass.word"};
    for (const auto& password : passwords) {
        const auto v = ask(p, password);
        EXPECT_EQ(v.kind, Verdict::Kind::Next);
        EXPECT_EQ(v.why, "jwt: no token");
    }
}

TEST_F(JwtProviderTest, AValidTokenNamesTheUserAndExpiry) {
    auto p = make();
    const auto v = ask(p, signer_.token({{"sub", "alice"}, {"exp", kNow + 600}}));
    ASSERT_EQ(v.kind, Verdict::Kind::Allow) << v.why;
    EXPECT_EQ(v.username, "alice");
    EXPECT_EQ(v.expires_at, kNow + 600);
    EXPECT_EQ(v.grants, nullptr) << "no acl_claim configured";

    const auto forever = ask(p, signer_.token({{"sub", "alice"}}));
    ASSERT_EQ(forever.kind, Verdict::Kind::Allow);
    EXPECT_FALSE(forever.expires_at);
}

TEST_F(JwtProviderTest, UsernameClaim) {
    config::AuthJwt cfg;
    cfg.username_claim = "preferred_username";
    auto p = make(cfg);
    EXPECT_EQ(ask(p, signer_.token({{"preferred_username", "bob"}, {"sub", "x"}})).username, "bob");
    for (const json& claims : {json{{"sub", "x"}}, json{{"preferred_username", ""}}, json{{"preferred_username", 5}}}) {
        const auto v = ask(p, signer_.token(claims));
        EXPECT_EQ(v.kind, Verdict::Kind::Deny) << claims;
        EXPECT_EQ(v.reason, ReasonCode::BadUserNameOrPassword);
        EXPECT_EQ(v.why, "jwt: no preferred_username claim");
    }
    cfg.username_claim.clear();
    auto keep = make(cfg);
    const auto v = ask(keep, signer_.token({}));
    ASSERT_EQ(v.kind, Verdict::Kind::Allow);
    EXPECT_FALSE(v.username) << "the CONNECT's User Name stays";
}

TEST_F(JwtProviderTest, GrantsFromTheAclClaim) {
    config::AuthJwt cfg;
    cfg.acl_claim = "mqtt";
    auto p = make(cfg);
    const auto v = ask(p, signer_.token({{"sub", "d1"}, {"mqtt", {{"pub", {"devices/%c/#"}}, {"sub", {"cmd/%c"}}}}}));
    ASSERT_EQ(v.kind, Verdict::Kind::Allow) << v.why;
    ASSERT_NE(v.grants, nullptr);
    EXPECT_EQ(v.grants->publish, std::vector<std::string>{"devices/%c/#"});
    EXPECT_EQ(v.grants->subscribe, std::vector<std::string>{"cmd/%c"});
    EXPECT_FALSE(v.grants->superuser);

    EXPECT_EQ(ask(p, signer_.token({{"sub", "d1"}})).grants, nullptr) << "no claim: no grants";
    const auto bad = ask(p, signer_.token({{"sub", "d1"}, {"mqtt", {{"pub", {"a/#/b"}}}}}));
    EXPECT_EQ(bad.kind, Verdict::Kind::Deny);
    EXPECT_EQ(bad.reason, ReasonCode::NotAuthorized);
    EXPECT_EQ(bad.why.rfind("jwt: mqtt: pub[0]", 0), 0u) << bad.why;
}

TEST_F(JwtProviderTest, BadTokensAreDeniedWithTheReason) {
    config::AuthJwt cfg;
    cfg.issuer = "iss";
    auto p = make(cfg);
    const auto expired = ask(p, signer_.token({{"sub", "a"}, {"iss", "iss"}, {"exp", kNow}}));
    EXPECT_EQ(expired.kind, Verdict::Kind::Deny);
    EXPECT_EQ(expired.reason, ReasonCode::BadUserNameOrPassword);
    EXPECT_EQ(expired.why.rfind("jwt: token expired", 0), 0u) << expired.why;
    const auto wrong = ask(p, hs256("another").token({{"sub", "a"}, {"iss", "iss"}}));
    EXPECT_EQ(wrong.why.rfind("jwt: bad signature", 0), 0u) << wrong.why;
    EXPECT_EQ(ask(p, signer_.token({{"sub", "a"}})).why.rfind("jwt: wrong issuer", 0), 0u);

    // The clock is the provider's: the same token is valid before its exp and refused after.
    const std::string token = signer_.token({{"sub", "a"}, {"iss", "iss"}, {"exp", kNow + 10}});
    EXPECT_EQ(ask(p, token).kind, Verdict::Kind::Allow);
    now_ = kNow + 10;
    EXPECT_EQ(ask(p, token).kind, Verdict::Kind::Deny);
}

TEST_F(JwtProviderTest, TokenFromTheUserName) {
    config::AuthJwt cfg;
    cfg.from = config::JwtFrom::Username;
    auto p = make(cfg);
    EXPECT_EQ(ask(p, "password", signer_.token({{"sub", "carol"}})).username, "carol");
    EXPECT_EQ(ask(p, signer_.token({{"sub", "carol"}}), "carol").kind, Verdict::Kind::Next)
        << "a token in the password is not looked at";
}

TEST_F(JwtProviderTest, ConfigurationErrors) {
    const auto error = [&](const config::AuthJwt& cfg) -> std::string {
        try {
            JwtProvider p(cfg, [] { return kNow; });
        } catch (const JwtKeyError& e) {
            return e.what();
        }
        return "no error";
    };
    config::AuthJwt cfg;
    cfg.secret_file = secret_.path();
    cfg.algorithms = {"HS256", "none"};
    EXPECT_EQ(error(cfg), secret_.path() + ": algorithm none is not HS256, RS256 or ES256");
    cfg.algorithms = {"RS256"};
    EXPECT_EQ(error(cfg), secret_.path() + ": no key for any of the algorithms accepted");
    cfg.algorithms = {"HS256", "RS256"};
    EXPECT_EQ(error(cfg), "no error");
    cfg.secret_file.clear();
    cfg.jwks_file = "/nonexistent/jwks.json";
    EXPECT_EQ(error(cfg).rfind("/nonexistent/jwks.json: cannot read", 0), 0u);
    const TempFile pem(public_pem(ec_key().get()));
    cfg.jwks_file.clear();
    cfg.public_key_file = pem.path();
    cfg.algorithms = {"ES256"};
    EXPECT_EQ(error(cfg), "no error");
}

TEST_F(JwtProviderTest, AlgorithmsRestrictWhatTheKeysAccept) {
    const TempFile jwks(
        json{{"keys", {jwk(ec_key().get(), "e"), {{"kty", "oct"}, {"kid", "h"}, {"k", b64url(kSecret)}}}}}.dump());
    config::AuthJwt cfg;
    cfg.jwks_file = jwks.path();
    cfg.algorithms = {"ES256"};
    JwtProvider p(cfg, [] { return kNow; });
    EXPECT_EQ(ask(p, es256().token({{"sub", "e"}})).kind, Verdict::Kind::Allow);
    const auto hs = ask(p, signer_.token({{"sub", "h"}}));
    EXPECT_EQ(hs.kind, Verdict::Kind::Deny);
    EXPECT_EQ(hs.why.rfind("jwt: algorithm not accepted", 0), 0u) << hs.why;
}

}  // namespace
}  // namespace moth::auth
