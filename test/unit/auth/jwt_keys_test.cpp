// JwtKeys: the three key sources ([auth.jwt] secret_file, public_key_file, jwks_file), the algorithm each key is
// bound to, kid lookup, and the errors an operator sees ("file: message").
#include <gtest/gtest.h>

#include <string>

#include "auth/jwt_keys.hpp"
#include "jwt_signer.hpp"

namespace moth::auth {
namespace {

using namespace moth::auth::test;
using nlohmann::json;

// what() of the JwtKeyError `f` throws; fails the test if it throws none.
template <typename F>
std::string error_of(F f) {
    try {
        (void)f();
    } catch (const JwtKeyError& e) {
        return e.what();
    }
    ADD_FAILURE() << "no JwtKeyError";
    return {};
}

JwtKeys jwks(const json& keys) {
    return JwtKeys::from_jwks(json{{"keys", keys}}.dump(), "jwks.json");
}

TEST(JwtKeys, AlgorithmNames) {
    for (const auto alg : {JwtAlg::HS256, JwtAlg::RS256, JwtAlg::ES256}) {
        EXPECT_EQ(jwt_alg_from_name(to_string(alg)), alg);
    }
    for (const char* name : {"none", "hs256", "HS512", "PS256", "EdDSA", ""}) EXPECT_FALSE(jwt_alg_from_name(name));
}

// RFC 4648 section 10's vectors in the URL alphabet, and the strictness JWS asks for (RFC 7515 2: no padding).
TEST(JwtKeys, Base64url) {
    EXPECT_EQ(base64url_decode(""), "");
    EXPECT_EQ(base64url_decode("Zg"), "f");
    EXPECT_EQ(base64url_decode("Zm8"), "fo");
    EXPECT_EQ(base64url_decode("Zm9v"), "foo");
    EXPECT_EQ(base64url_decode("Zm9vYmFy"), "foobar");
    EXPECT_EQ(base64url_decode("-_8"), "\xfb\xff");
    for (const char* bad : {"Zg==", "Zm8=", "+/8", "Zm9v Y", "Z", "Zm9vY", "Zh", "Zm9"}) {
        EXPECT_FALSE(base64url_decode(bad)) << bad;  // "Zh", "Zm9": unused bits set, a second spelling of a value
    }
    EXPECT_EQ(base64url_decode(b64url(std::string("\0\x01\xfe\xff", 4))), std::string("\0\x01\xfe\xff", 4));
}

TEST(JwtKeys, SecretFileDropsOneFinalNewline) {
    const TempFile lf("s3cret\n"), crlf("s3cret\r\n"), two("s3cret\n\n"), bare("s3cret");
    EXPECT_EQ(JwtKeys::from_secret_file(lf.path()).keys().at(0).secret, "s3cret");
    EXPECT_EQ(JwtKeys::from_secret_file(crlf.path()).keys().at(0).secret, "s3cret");
    EXPECT_EQ(JwtKeys::from_secret_file(two.path()).keys().at(0).secret, "s3cret\n");
    EXPECT_EQ(JwtKeys::from_secret_file(bare.path()).keys().at(0).secret, "s3cret");
    EXPECT_EQ(JwtKeys::from_secret_file(bare.path()).keys().at(0).alg, JwtAlg::HS256);
    const TempFile empty("\n");
    EXPECT_EQ(error_of([&] { return JwtKeys::from_secret_file(empty.path()); }), empty.path() + ": empty HS256 secret");
    EXPECT_EQ(error_of([] { return JwtKeys::from_secret(""); }), "secret: empty HS256 secret");
    EXPECT_EQ(error_of([] {
                  return JwtKeys::from_secret_file("/nonexistent/jwt.secret");
              }).rfind("/nonexistent/jwt.secret: cannot read", 0),
              0u);
}

TEST(JwtKeys, PublicKeyPemGivesItsAlgorithm) {
    const TempFile rsa(public_pem(rsa_key().get())), ec(public_pem(ec_key().get()));
    const auto r = JwtKeys::from_public_key_file(rsa.path());
    ASSERT_EQ(r.keys().size(), 1u);
    EXPECT_EQ(r.keys()[0].alg, JwtAlg::RS256);
    EXPECT_FALSE(r.keys()[0].kid);
    EXPECT_EQ(JwtKeys::from_public_key_file(ec.path()).keys().at(0).alg, JwtAlg::ES256);
}

TEST(JwtKeys, PublicKeyPemErrors) {
    EXPECT_EQ(error_of([] { return JwtKeys::from_public_key_pem("not a key", "k.pem"); }),
              "k.pem: no PEM public key (-----BEGIN PUBLIC KEY-----)");
    const Pkey p384(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384"), EVP_PKEY_free);
    EXPECT_NE(error_of([&] { return JwtKeys::from_public_key_pem(public_pem(p384.get()), "k.pem"); }).find("P-256"),
              std::string::npos);
    const Pkey ed(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"), EVP_PKEY_free);
    EXPECT_EQ(error_of([&] { return JwtKeys::from_public_key_pem(public_pem(ed.get()), "k.pem"); }),
              "k.pem: not an RSA or EC P-256 public key");
    const Pkey small(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(1024)), EVP_PKEY_free);
    EXPECT_EQ(error_of([&] { return JwtKeys::from_public_key_pem(public_pem(small.get()), "k.pem"); }),
              "k.pem: RSA key of 1024 bits (RS256 needs 2048+)");
}

TEST(JwtKeys, JwksOfEveryKind) {
    const auto keys = jwks({jwk(rsa_key().get(), "r1"),
                            jwk(ec_key().get(), "e1"),
                            {{"kty", "oct"}, {"kid", "h1"}, {"k", b64url("secret")}, {"alg", "HS256"}},
                            {{"kty", "oct"}, {"k", b64url("other")}, {"use", "sig"}}});
    ASSERT_EQ(keys.keys().size(), 4u);
    EXPECT_EQ(keys.keys()[0].alg, JwtAlg::RS256);
    EXPECT_EQ(keys.keys()[1].alg, JwtAlg::ES256);
    EXPECT_EQ(keys.keys()[2].alg, JwtAlg::HS256);
    EXPECT_EQ(keys.keys()[2].secret, "secret");
    EXPECT_EQ(keys.keys()[2].kid, "h1");
    EXPECT_FALSE(keys.keys()[3].kid);

    // Lookup: a kid picks its keys of that alg; a key without kid answers to any kid; no kid: every key of the alg.
    EXPECT_EQ(keys.candidates(JwtAlg::HS256, "h1").size(), 2u);
    EXPECT_EQ(keys.candidates(JwtAlg::HS256, std::nullopt).size(), 2u);
    EXPECT_EQ(keys.candidates(JwtAlg::RS256, "r1").size(), 1u);
    EXPECT_TRUE(keys.candidates(JwtAlg::RS256, "e1").empty());
    EXPECT_TRUE(keys.knows_kid("zzz")) << "the kid-less oct key";
    EXPECT_FALSE(jwks(json::array({jwk(ec_key().get(), "e1")})).knows_kid("zzz"));
}

TEST(JwtKeys, JwksSkipsKeysNotForVerifyingOurAlgorithms) {
    auto enc = jwk(rsa_key().get(), "enc");
    enc["use"] = "enc";
    auto rs512 = jwk(rsa_key().get(), "rs512");
    rs512["alg"] = "RS512";
    const json okp = {{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", b64url("x")}};
    const json p384 = {{"kty", "EC"}, {"crv", "P-384"}, {"x", b64url("x")}, {"y", b64url("y")}};
    const auto keys = jwks({enc, rs512, okp, p384, jwk(ec_key().get(), "sig")});
    ASSERT_EQ(keys.keys().size(), 1u);
    EXPECT_EQ(keys.keys()[0].kid, "sig");
    EXPECT_EQ(error_of([&] {
                  return jwks({enc, okp});
              }),
              "jwks.json: no usable key (HS256, RS256 or ES256 for signatures)");
}

TEST(JwtKeys, JwksErrors) {
    const auto err = [](const std::string& text) { return error_of([&] { return JwtKeys::from_jwks(text, "j"); }); };
    EXPECT_EQ(err("{"), "j: not JSON");
    EXPECT_EQ(err("[]"), "j: not a JSON object (a JWKS is {\"keys\": [...]})");
    EXPECT_EQ(err(R"({"keys": {}})"), "j: keys: missing or not an array");
    EXPECT_EQ(err(R"({"keys": []})"), "j: no usable key (HS256, RS256 or ES256 for signatures)");
    EXPECT_EQ(err(R"({"keys": [7]})"), "j: keys[0]: not an object");
    EXPECT_EQ(err(R"({"keys": [{"k": "YQ"}]})"), "j: keys[0]: kty: missing");
    EXPECT_EQ(err(R"({"keys": [{"kty": "oct", "k": "YQ=="}]})"), "j: keys[0]: k: not base64url");
    EXPECT_EQ(err(R"({"keys": [{"kty": "oct", "k": ""}]})"), "j: keys[0]: k: not base64url");
    EXPECT_EQ(err(R"({"keys": [{"kty": "oct", "k": "YQ", "kid": 1}]})"), "j: keys[0]: kid: not a string");
    EXPECT_EQ(err(R"({"keys": [{"kty": "RSA", "e": "AQAB"}]})"), "j: keys[0]: n: missing");

    auto mismatched = jwk(rsa_key().get());
    mismatched["alg"] = "ES256";
    EXPECT_EQ(err(json{{"keys", json::array({mismatched})}}.dump()), "j: keys[0]: alg ES256 does not fit kty RSA");
    auto short_x = jwk(ec_key().get());
    short_x["x"] = b64url("short");
    EXPECT_EQ(err(json{{"keys", json::array({short_x})}}.dump()), "j: keys[0]: x and y must be 32 bytes on P-256");
    auto off_curve = jwk(ec_key().get());
    off_curve["y"] = off_curve["x"];
    EXPECT_EQ(err(json{{"keys", json::array({off_curve})}}.dump()).rfind("j: keys[0]: invalid", 0), 0u);
    auto small = jwk(rsa_key().get());
    small["n"] = b64url(std::string(128, '\xc5'));
    EXPECT_EQ(err(json{{"keys", json::array({small})}}.dump()), "j: keys[0]: RSA key of 1024 bits (RS256 needs 2048+)");

    const TempFile file(R"({"keys": [1]})");
    EXPECT_EQ(error_of([&] { return JwtKeys::from_jwks_file(file.path()); }), file.path() + ": keys[0]: not an object");
}

}  // namespace
}  // namespace moth::auth
