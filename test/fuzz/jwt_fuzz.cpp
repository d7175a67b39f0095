// libFuzzer target for JWT verification (src/auth/jwt.hpp) and JWKS parsing (src/auth/jwt_keys.hpp): both read what a
// peer or an operator wrote. Oracles beyond "does not crash, throws nothing": an accepted token looks like a JWT and
// carries an algorithm its key verifies; a JWKS either parses into at least one key or is a JwtKeyError.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "auth/jwt.hpp"
#include "auth/jwt_keys.hpp"

namespace {

constexpr std::int64_t kNow = 1'800'000'000;

// Fixed keys, built once: an HS256 secret and a JWKS with one P-256 key (kid "fuzz").
const moth::auth::JwtKeys& secret_keys() {
    static const auto keys = moth::auth::JwtKeys::from_secret("moth fuzz secret");
    return keys;
}
const moth::auth::JwtKeys& ec_keys() {
    static const auto keys = moth::auth::JwtKeys::from_jwks(
        R"({"keys":[{"kty":"EC","crv":"P-256","kid":"fuzz","x":"v9cMmSck2ywel9ta5qMdp1tXrWk3DL5nKPCnzCBuDhg",)"
        R"("y":"UHsEW2FaH8P2_-95u80idrYRJESz4kD90k7P_SvscjM"}]})",
        "fuzz.jwks");
    return keys;
}

void verify(std::string_view text, const moth::auth::JwtKeys& keys, const moth::auth::JwtRules& rules) {
    const auto r = moth::auth::verify_jwt(text, keys, rules, kNow);
    if (!r.token) return;
    if (!moth::auth::looks_like_jwt(text) || !r.token->header.is_object() || !r.token->claims.is_object()) std::abort();
    const auto alg = moth::auth::jwt_alg_from_name(r.token->header.value("alg", ""));
    if (!alg || keys.candidates(*alg, std::nullopt).empty()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const moth::auth::JwtRules any{};
    const moth::auth::JwtRules strict{{moth::auth::JwtAlg::HS256}, "moth", "mqtt", 30};
    verify(text, secret_keys(), any);
    verify(text, secret_keys(), strict);
    verify(text, ec_keys(), any);
    try {
        const auto keys = moth::auth::JwtKeys::from_jwks(text, "fuzz.jwks");
        if (keys.keys().empty()) std::abort();
        for (const auto& k : keys.keys()) {
            if ((k.alg == moth::auth::JwtAlg::HS256) != (k.pkey == nullptr)) std::abort();
        }
    } catch (const moth::auth::JwtKeyError& e) {
        if (std::string_view(e.what()).rfind("fuzz.jwks: ", 0) != 0) std::abort();
    }
    return 0;
}
