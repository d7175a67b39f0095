#pragma once
// Verifying a JSON Web Token (RFC 7519) in the JWS compact serialization (RFC 7515), as a CONNECT's password or user
// name carries it ([auth.jwt], docs/security.md "JWT"). A token is a peer's input: every problem is a JwtResult,
// never an exception. Pure and thread-safe: the caller passes the time.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "auth/jwt_keys.hpp"

namespace moth::auth {

struct JwtRules {
    std::vector<JwtAlg> algorithms;  // the accepted "alg" values; empty: any the keys have
    std::string issuer;              // non-empty: "iss" must equal it
    std::string audience;            // non-empty: "aud" (a string or an array of strings) must contain it
    std::uint32_t leeway_s = 0;      // clock skew forgiven on exp and nbf
};

enum class JwtError : std::uint8_t {
    Malformed,         // not a compact JWS with JSON object header and claims, padding, "crit", exp not a number...
    AlgorithmRefused,  // "none", an unknown alg, one not in rules.algorithms or not one the keys verify
    UnknownKey,        // a "kid" no key has
    BadSignature,
    Expired,
    NotYetValid,
    WrongIssuer,
    WrongAudience,
};
// "malformed token", "algorithm not accepted", "unknown key", "bad signature", "token expired",
// "token not yet valid", "wrong issuer", "wrong audience".
[[nodiscard]] std::string_view to_string(JwtError error);

struct JwtToken {
    nlohmann::json header, claims;    // both JSON objects
    std::optional<std::int64_t> exp;  // the "exp" claim, Unix seconds (a fraction dropped)
};

struct JwtResult {
    std::optional<JwtToken> token;  // set: the token is valid (and error/detail mean nothing)
    JwtError error{};
    std::string detail;  // for the log: which check failed and why ("exp 1700000000 <= now 1700000005")
};

// Tokens longer than this are refused unread (a CONNECT password may be 64 KiB).
inline constexpr std::size_t kMaxJwtSize = 16 * 1024;

// Checks, in order: the compact form and base64url (no padding), the header (an object, no "crit", a "kid" string
// when present), the algorithm (HS256/RS256/ES256, in rules.algorithms when it names any, and a key of it: so an RSA
// public key is never used as an HMAC secret), the signature (HS256 compared in constant time; ES256 as raw R||S),
// then the claims: exp > now - leeway, nbf <= now + leeway, iss, aud.
[[nodiscard]] JwtResult verify_jwt(std::string_view token, const JwtKeys& keys, const JwtRules& rules,
                                   std::int64_t now_unix);

// Three non-empty base64url segments separated by '.', at most kMaxJwtSize bytes, the first decoding to text that
// starts with '{': tells a token from a password before verifying anything (a provider hands a password that is not
// a token on to the next provider).
[[nodiscard]] bool looks_like_jwt(std::string_view s);

}  // namespace moth::auth
