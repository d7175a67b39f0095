#pragma once
// The keys a JWT may be verified with ([auth.jwt], docs/security.md "JWT"): an HS256 secret, a PEM public key (RSA:
// RS256, EC P-256: ES256) or a JWKS document (RFC 7517). Each key carries the one algorithm it verifies, so a token
// can never pick how its own key is used (the RS256-public-key-as-HS256-secret confusion). Loaded at start-up and on
// SIGHUP; errors throw JwtKeyError. Immutable once built: any thread may verify with it at once.
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/types.h>

namespace moth::auth {

enum class JwtAlg : std::uint8_t { HS256, RS256, ES256 };

// "HS256", "RS256", "ES256" (case-sensitive, as RFC 7518 registers them); nullopt for anything else ("none" too).
[[nodiscard]] std::optional<JwtAlg> jwt_alg_from_name(std::string_view name);
[[nodiscard]] std::string_view to_string(JwtAlg alg);

// what() = "<file>: <message>" ("conf/jwks.json: keys[1]: n: not base64url").
class JwtKeyError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct JwtKey {
    JwtAlg alg = JwtAlg::HS256;
    std::optional<std::string> kid;  // a JWKS key's "kid"; a secret or PEM key has none
    std::shared_ptr<EVP_PKEY> pkey;  // RS256, ES256: the public key; never modified, so verified with concurrently
    std::string secret;              // HS256: the shared secret's bytes
};

class JwtKeys {
public:
    // Never empty: every factory throws rather than return a set without a key.
    static JwtKeys from_secret(std::string secret);
    // An RSA (2048 bits or more: RS256) or EC P-256 (ES256) "BEGIN PUBLIC KEY" PEM; `name` prefixes errors.
    static JwtKeys from_public_key_pem(std::string_view pem, std::string_view name);
    // {"keys": [...]}: kty RSA (n, e), EC (crv P-256, x, y), oct (k). A key with "use" other than "sig", an algorithm
    // other than HS256/RS256/ES256 or another curve is skipped; a key that is broken, or whose "alg" contradicts its
    // kty, is an error, as is a document with no usable key.
    static JwtKeys from_jwks(std::string_view json, std::string_view name);

    // The file's bytes, one final "\n" or "\r\n" dropped; an empty secret is an error.
    static JwtKeys from_secret_file(const std::string& path);
    static JwtKeys from_public_key_file(const std::string& path);
    static JwtKeys from_jwks_file(const std::string& path);

    // The keys that may verify a token with header `alg` and `kid`: with a kid, the keys with that kid (and a key
    // without kid: a secret or PEM key answers to any kid); without, every key. Either way only keys of `alg`.
    [[nodiscard]] std::vector<const JwtKey*> candidates(JwtAlg alg, const std::optional<std::string>& kid) const;
    // Whether some key has this kid (or no kid at all), whatever its algorithm: tells "unknown key" from "wrong alg".
    [[nodiscard]] bool knows_kid(const std::optional<std::string>& kid) const;
    [[nodiscard]] bool has_alg(JwtAlg alg) const;
    [[nodiscard]] const std::vector<JwtKey>& keys() const { return keys_; }

private:
    explicit JwtKeys(std::vector<JwtKey> keys) : keys_(std::move(keys)) {}
    std::vector<JwtKey> keys_;
};

// RFC 4648 section 5 without padding, strictly: nullopt for '=', any byte outside the alphabet, a length of 4n+1, or
// non-zero unused bits in the last character (so one value has exactly one encoding). Shared by tokens and JWKS.
[[nodiscard]] std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace moth::auth
