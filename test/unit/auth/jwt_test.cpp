// verify_jwt: tokens signed here with generated keys, and forged the ways attackers and broken issuers forge them.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "auth/jwt.hpp"
#include "auth/jwt_keys.hpp"
#include "jwt_signer.hpp"

namespace moth::auth {
namespace {

using namespace moth::auth::test;
using nlohmann::json;

constexpr std::int64_t kNow = 1'800'000'000;
const std::string kSecret = "0123456789abcdef0123456789abcdef";

JwtResult check(const std::string& token, const JwtKeys& keys, const JwtRules& rules = {}, std::int64_t now = kNow) {
    return verify_jwt(token, keys, rules, now);
}

// The error of a refused token (failing the test if it was accepted).
JwtError error_of(const std::string& token, const JwtKeys& keys, const JwtRules& rules = {}) {
    const auto r = check(token, keys, rules);
    EXPECT_FALSE(r.token) << "accepted: " << token;
    return r.error;
}

JwtKeys rsa_keys() {
    return JwtKeys::from_public_key_pem(public_pem(rsa_key().get()), "rsa.pem");
}
JwtKeys ec_keys() {
    return JwtKeys::from_public_key_pem(public_pem(ec_key().get()), "ec.pem");
}

// Replaces one segment (0 header, 1 claims, 2 signature) of a compact token.
std::string with_segment(const std::string& token, int index, const std::string& segment) {
    const auto a = token.find('.');
    const auto b = token.find('.', a + 1);
    if (index == 0) return segment + token.substr(a);
    if (index == 1) return token.substr(0, a + 1) + segment + token.substr(b);
    return token.substr(0, b + 1) + segment;
}

std::string flip_signature_byte(const std::string& token) {
    const auto sig = base64url_decode(token.substr(token.rfind('.') + 1));
    std::string s = sig.value();
    s[s.size() / 2] = static_cast<char>(s[s.size() / 2] ^ 0x01);
    return with_segment(token, 2, b64url(s));
}

TEST(Jwt, ValidTokensOfEachAlgorithm) {
    const json claims = {{"sub", "alice"}, {"exp", kNow + 60}};
    const std::pair<Signer, JwtKeys> cases[] = {
        {hs256(kSecret), JwtKeys::from_secret(kSecret)}, {rs256(), rsa_keys()}, {es256(), ec_keys()}};
    for (const auto& [signer, keys] : cases) {
        SCOPED_TRACE(signer.alg);
        const auto r = check(signer.token(claims), keys);
        ASSERT_TRUE(r.token) << r.detail;
        EXPECT_EQ(r.token->claims, claims);
        EXPECT_EQ(r.token->header["alg"], signer.alg);
        EXPECT_EQ(r.token->exp, kNow + 60);
    }
}

// RFC 7515 appendix A.1: the HS256 example, byte for byte (the header has a CRLF inside), with its JWK.
TEST(Jwt, Rfc7515AppendixA1) {
    const std::string token =
        "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
        ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
        ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const auto keys = JwtKeys::from_jwks(
        R"({"keys":[{"kty":"oct","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUu)"
        R"(TwjAzZr1Z9CAow"}]})",
        "rfc7515");
    const auto r = check(token, keys, {{}, "joe", "", 0}, 1300819379);
    ASSERT_TRUE(r.token) << r.detail;
    EXPECT_EQ(r.token->claims["http://example.com/is_root"], true);
    EXPECT_EQ(r.token->exp, 1300819380);
    EXPECT_EQ(check(token, keys, {}, 1300819380).error, JwtError::Expired);
}

TEST(Jwt, ExpiryNotBeforeAndLeeway) {
    const auto keys = JwtKeys::from_secret(kSecret);
    const auto signer = hs256(kSecret);
    EXPECT_EQ(error_of(signer.token({{"exp", kNow}}), keys), JwtError::Expired) << "exp is the first refused second";
    EXPECT_TRUE(check(signer.token({{"exp", kNow + 1}}), keys).token);
    EXPECT_EQ(error_of(signer.token({{"nbf", kNow + 1}}), keys), JwtError::NotYetValid);
    EXPECT_TRUE(check(signer.token({{"nbf", kNow}}), keys).token);
    EXPECT_TRUE(check(signer.token({}), keys).token) << "exp and nbf are optional (RFC 7519 4.1.4)";
    EXPECT_TRUE(check(signer.token({{"exp", kNow + 1.5}}), keys).token) << "a NumericDate may have a fraction";
    EXPECT_EQ(error_of(signer.token({{"exp", kNow + 0.5}}), keys), JwtError::Expired) << "exp rounded down";
    EXPECT_EQ(error_of(signer.token({{"nbf", kNow + 0.5}}), keys), JwtError::NotYetValid) << "nbf rounded up";
    EXPECT_TRUE(check(signer.token({{"nbf", kNow - 0.5}}), keys).token);

    const JwtRules leeway{{}, "", "", 10};
    EXPECT_TRUE(check(signer.token({{"exp", kNow - 9}}), keys, leeway).token);
    EXPECT_EQ(error_of(signer.token({{"exp", kNow - 10}}), keys, leeway), JwtError::Expired);
    EXPECT_TRUE(check(signer.token({{"nbf", kNow + 10}}), keys, leeway).token);
    EXPECT_EQ(error_of(signer.token({{"nbf", kNow + 11}}), keys, leeway), JwtError::NotYetValid);

    EXPECT_EQ(error_of(signer.token({{"exp", "tomorrow"}}), keys), JwtError::Malformed);
    EXPECT_EQ(error_of(signer.token({{"nbf", true}}), keys), JwtError::Malformed);
    EXPECT_TRUE(check(signer.token({{"exp", 1e300}}), keys).token) << "a huge exp is far future, not an overflow";
    EXPECT_TRUE(check(signer.token({{"exp", 18446744073709551615u}}), keys).token);
}

TEST(Jwt, AFlippedSignatureByteOrAlteredClaimsAreRefused) {
    const std::pair<Signer, JwtKeys> cases[] = {
        {hs256(kSecret), JwtKeys::from_secret(kSecret)}, {rs256(), rsa_keys()}, {es256(), ec_keys()}};
    for (const auto& [signer, keys] : cases) {
        SCOPED_TRACE(signer.alg);
        const std::string token = signer.token({{"sub", "alice"}});
        EXPECT_EQ(error_of(flip_signature_byte(token), keys), JwtError::BadSignature);
        EXPECT_EQ(error_of(with_segment(token, 1, b64url(R"({"sub":"admin"})")), keys), JwtError::BadSignature);
    }
}

TEST(Jwt, AnotherKeyOfTheSameKindIsABadSignature) {
    EXPECT_EQ(error_of(hs256("another secret").token({}), JwtKeys::from_secret(kSecret)), JwtError::BadSignature);
    EXPECT_EQ(error_of(rs256(rsa_key2()).token({}), rsa_keys()), JwtError::BadSignature);
    EXPECT_EQ(error_of(es256(ec_key2()).token({}), ec_keys()), JwtError::BadSignature);
}

TEST(Jwt, AlgNoneIsNeverAccepted) {
    const auto keys = JwtKeys::from_secret(kSecret);
    const std::string unsigned_token = b64url(R"({"alg":"none"})") + "." + b64url(R"({"sub":"admin"})") + ".";
    EXPECT_EQ(error_of(unsigned_token, keys), JwtError::AlgorithmRefused);
    EXPECT_EQ(error_of(unsigned_token + "c2lnbmF0dXJl", keys), JwtError::AlgorithmRefused);
    const json none_header = {{"alg", "none"}};
    EXPECT_EQ(error_of(hs256(kSecret).token({}, none_header), keys), JwtError::AlgorithmRefused)
        << "even with a valid HMAC over it";
    for (const char* alg : {"None", "NONE", "HS512", "PS256", "hs256", ""}) {
        EXPECT_EQ(error_of(hs256(kSecret).token({}, {{"alg", alg}}), keys), JwtError::AlgorithmRefused) << alg;
    }
    EXPECT_EQ(error_of(hs256(kSecret).token({}, {{"typ", "JWT"}}), keys), JwtError::Malformed) << "no alg";
}

TEST(Jwt, AlgorithmsOutsideTheRulesAreRefused) {
    const json jwks = {{"keys", {jwk(rsa_key().get(), "r"), {{"kty", "oct"}, {"kid", "h"}, {"k", b64url(kSecret)}}}}};
    const auto keys = JwtKeys::from_jwks(jwks.dump(), "jwks");
    const JwtRules rs_only{{JwtAlg::RS256}, "", "", 0};
    EXPECT_TRUE(check(rs256().token({}), keys, rs_only).token);
    EXPECT_EQ(error_of(hs256(kSecret).token({}), keys, rs_only), JwtError::AlgorithmRefused);
    EXPECT_TRUE(check(hs256(kSecret).token({}), keys).token) << "no rules: whatever the keys verify";
    EXPECT_EQ(error_of(es256().token({}), keys), JwtError::AlgorithmRefused) << "no ES256 key";
}

// The classic confusion: the verifier's RSA public key (which the attacker knows) used as an HMAC secret.
TEST(Jwt, KeyConfusionBetweenRsaPublicKeyAndHmacSecretIsRefused) {
    const std::string pem = public_pem(rsa_key().get());
    EXPECT_EQ(error_of(hs256(pem).token({{"sub", "admin"}}), rsa_keys()), JwtError::AlgorithmRefused)
        << "an RSA key never verifies an HS256 token";
    EXPECT_EQ(error_of(rs256().token({{"sub", "admin"}}), JwtKeys::from_secret(pem)), JwtError::AlgorithmRefused)
        << "a secret never verifies an RS256 token, whatever its bytes";
}

TEST(Jwt, IssuerAndAudience) {
    const auto keys = JwtKeys::from_secret(kSecret);
    const auto signer = hs256(kSecret);
    const JwtRules rules{{}, "https://issuer.example", "mqtt", 0};
    const json good = {{"iss", "https://issuer.example"}, {"aud", "mqtt"}};
    EXPECT_TRUE(check(signer.token(good), keys, rules).token);
    EXPECT_TRUE(check(signer.token({{"iss", "https://issuer.example"}, {"aud", {"web", "mqtt"}}}), keys, rules).token);
    EXPECT_EQ(error_of(signer.token({{"iss", "https://evil.example"}, {"aud", "mqtt"}}), keys, rules),
              JwtError::WrongIssuer);
    EXPECT_EQ(error_of(signer.token({{"aud", "mqtt"}}), keys, rules), JwtError::WrongIssuer) << "missing iss";
    EXPECT_EQ(error_of(signer.token({{"iss", 7}, {"aud", "mqtt"}}), keys, rules), JwtError::WrongIssuer);
    EXPECT_EQ(error_of(signer.token({{"iss", "https://issuer.example"}, {"aud", "web"}}), keys, rules),
              JwtError::WrongAudience);
    EXPECT_EQ(error_of(signer.token({{"iss", "https://issuer.example"}, {"aud", {"web", 1}}}), keys, rules),
              JwtError::WrongAudience);
    EXPECT_EQ(error_of(signer.token({{"iss", "https://issuer.example"}}), keys, rules), JwtError::WrongAudience);
    EXPECT_TRUE(check(signer.token({{"aud", "anything"}}), keys).token) << "no rules: iss and aud are not checked";
}

// Key rotation: a JWKS with the old and the new key; the kid picks one.
TEST(Jwt, KidSelectsTheKeyInAJwks) {
    const json jwks = {{"keys", {jwk(ec_key().get(), "2025"), jwk(ec_key2().get(), "2026")}}};
    const auto keys = JwtKeys::from_jwks(jwks.dump(), "jwks");
    const auto old_signer = es256(ec_key());
    const auto new_signer = es256(ec_key2());
    EXPECT_TRUE(check(old_signer.token({}, {{"alg", "ES256"}, {"kid", "2025"}}), keys).token);
    EXPECT_TRUE(check(new_signer.token({}, {{"alg", "ES256"}, {"kid", "2026"}}), keys).token);
    EXPECT_EQ(error_of(new_signer.token({}, {{"alg", "ES256"}, {"kid", "2025"}}), keys), JwtError::BadSignature)
        << "the kid names the only key tried";
    EXPECT_EQ(error_of(new_signer.token({}, {{"alg", "ES256"}, {"kid", "2024"}}), keys), JwtError::UnknownKey);
    EXPECT_TRUE(check(new_signer.token({}), keys).token) << "without kid, every ES256 key is tried";
    EXPECT_EQ(error_of(new_signer.token({}, {{"alg", "ES256"}, {"kid", 2026}}), keys), JwtError::Malformed);
}

TEST(Jwt, PaddingAndCharactersOutsideBase64urlAreMalformed) {
    const auto keys = JwtKeys::from_secret(kSecret);
    const std::string token = hs256(kSecret).token({{"sub", "abc"}});  // a claims segment of 4n+2 characters
    ASSERT_TRUE(check(token, keys).token);
    const std::string claims = token.substr(token.find('.') + 1, token.rfind('.') - token.find('.') - 1);
    ASSERT_EQ(claims.size() % 4, 2u);
    EXPECT_EQ(error_of(with_segment(token, 1, claims + "=="), keys), JwtError::Malformed);
    EXPECT_EQ(error_of(token + "=", keys), JwtError::Malformed) << "padded signature";
    std::string standard = token;
    standard[token.rfind('.') + 1] = '+';
    EXPECT_EQ(error_of(standard, keys), JwtError::Malformed);
    for (const std::string& bad :
         std::vector<std::string>{"", "abc", "a.b", "a.b.c.d", ".a.b", "a..b", token + ".x", " " + token}) {
        EXPECT_EQ(error_of(bad, keys), JwtError::Malformed) << bad;
    }
    EXPECT_EQ(error_of(std::string(kMaxJwtSize + 1, 'a'), keys), JwtError::Malformed);
}

TEST(Jwt, HeaderAndClaimsMustBeJsonObjectsWithoutCrit) {
    const auto keys = JwtKeys::from_secret(kSecret);
    const auto signer = hs256(kSecret);
    EXPECT_EQ(error_of(signer.token({}, {{"alg", "HS256"}, {"crit", {"exp"}}, {"exp", 1}}), keys), JwtError::Malformed);
    EXPECT_EQ(error_of(signer.token({}, json::array({"HS256"})), keys), JwtError::Malformed);
    EXPECT_EQ(error_of(signer.token(json::array({1, 2})), keys), JwtError::Malformed) << "claims an array";
    EXPECT_EQ(error_of(signer.token("sub"), keys), JwtError::Malformed) << "claims a string";
    const std::string input = b64url(R"({"alg":"HS256"})") + "." + b64url("{\"sub\":\"\xff\"}");
    EXPECT_EQ(error_of(input + "." + b64url(signer.sign(input)), keys), JwtError::Malformed) << "invalid UTF-8";
    const std::string deep(5000, '[');
    EXPECT_EQ(error_of(b64url(deep) + "." + b64url(deep) + ".c2ln", keys), JwtError::Malformed);
}

TEST(Jwt, LooksLikeJwt) {
    EXPECT_TRUE(looks_like_jwt(hs256(kSecret).token({})));
    EXPECT_TRUE(looks_like_jwt("eyJ9.b.c")) << "header {} ";
    EXPECT_TRUE(looks_like_jwt(b64url(" \r\n{") + ".b.c"));
    for (const char* s : {"", "password", "a.b", "a..c", ".b.c", "a.b.", "a.b.c.d", "a=.b.c", "a.b+.c", "eyJ9=.b.c",
                          "my.pass.word", "ZXlK.b.c"}) {
        EXPECT_FALSE(looks_like_jwt(s)) << s;
    }
    EXPECT_FALSE(looks_like_jwt("a.b." + std::string(kMaxJwtSize, 'c')));
}

TEST(Jwt, ErrorNames) {
    EXPECT_EQ(to_string(JwtError::Malformed), "malformed token");
    EXPECT_EQ(to_string(JwtError::AlgorithmRefused), "algorithm not accepted");
    EXPECT_EQ(to_string(JwtError::UnknownKey), "unknown key");
    EXPECT_EQ(to_string(JwtError::BadSignature), "bad signature");
    EXPECT_EQ(to_string(JwtError::Expired), "token expired");
    EXPECT_EQ(to_string(JwtError::NotYetValid), "token not yet valid");
    EXPECT_EQ(to_string(JwtError::WrongIssuer), "wrong issuer");
    EXPECT_EQ(to_string(JwtError::WrongAudience), "wrong audience");
}

}  // namespace
}  // namespace moth::auth
