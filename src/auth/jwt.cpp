#include "auth/jwt.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <memory>
#include <utility>
#include <variant>

#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace moth::auth {

namespace {

JwtResult failure(JwtError error, std::string detail) {
    return JwtResult{std::nullopt, error, std::move(detail)};
}

// Header values echoed into the log come from the peer: printable ASCII only, and short.
std::string printable(std::string_view s) {
    std::string out;
    for (const char c : s.substr(0, 64)) out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
    return out;
}

bool is_base64url(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

struct Segments {
    std::string_view header, claims, signature;
    std::string_view signing_input;  // "header.claims": what the signature covers, as sent
};

// Exactly two dots; the signature may be empty here so that an unsigned "alg":"none" token is named as such.
std::optional<Segments> split(std::string_view token) {
    const auto first = token.find('.');
    if (first == std::string_view::npos) return std::nullopt;
    const auto second = token.find('.', first + 1);
    if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) return std::nullopt;
    Segments s{token.substr(0, first), token.substr(first + 1, second - first - 1), token.substr(second + 1),
               token.substr(0, second)};
    if (s.header.empty() || s.claims.empty()) return std::nullopt;
    return s;
}

// A JSON object, or nullopt.
std::optional<nlohmann::json> json_object(const std::string& bytes) {
    auto doc = nlohmann::json::parse(bytes, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) return std::nullopt;
    return doc;
}

// RFC 7515 appendix A.3: an ES256 signature is R||S, 32 bytes each; OpenSSL verifies the DER ECDSA-Sig-Value.
std::optional<std::string> es256_to_der(const std::string& raw) {
    if (raw.size() != 64) return std::nullopt;
    const auto* p = reinterpret_cast<const unsigned char*>(raw.data());
    const std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> sig(ECDSA_SIG_new(), ECDSA_SIG_free);
    BIGNUM* r = BN_bin2bn(p, 32, nullptr);
    BIGNUM* s = BN_bin2bn(p + 32, 32, nullptr);
    if (!sig || r == nullptr || s == nullptr || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
        BN_free(r);
        BN_free(s);
        return std::nullopt;
    }
    unsigned char* der = nullptr;
    const int len = i2d_ECDSA_SIG(sig.get(), &der);
    if (len <= 0) return std::nullopt;
    std::string out(reinterpret_cast<const char*>(der), static_cast<std::size_t>(len));
    OPENSSL_free(der);
    return out;
}

bool verify_hs256(const JwtKey& key, std::string_view input, const std::string& sig) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
    unsigned int len = 0;
    if (HMAC(EVP_sha256(), key.secret.data(), static_cast<int>(key.secret.size()),
             reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac.data(), &len) == nullptr) {
        return false;
    }
    return sig.size() == len && CRYPTO_memcmp(mac.data(), sig.data(), len) == 0;
}

bool verify_pkey(const JwtKey& key, std::string_view input, const std::string& sig) {
    const std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    const bool ok = ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.pkey.get()) == 1 &&
                    EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
    ERR_clear_error();  // a failed verification leaves errors on this thread's queue; nobody else must read them
    return ok;
}

bool verify_signature(JwtAlg alg, const std::vector<const JwtKey*>& keys, std::string_view input,
                      const std::string& sig) {
    std::optional<std::string> der;
    if (alg == JwtAlg::ES256) {
        der = es256_to_der(sig);
        if (!der) return false;
    }
    for (const JwtKey* key : keys) {
        const bool ok =
            alg == JwtAlg::HS256 ? verify_hs256(*key, input, sig) : verify_pkey(*key, input, der ? *der : sig);
        if (ok) return true;
    }
    return false;
}

// The header's algorithm and the keys to try, or the failure.
std::variant<std::vector<const JwtKey*>, JwtResult> keys_for(const nlohmann::json& header, const JwtKeys& keys,
                                                             const JwtRules& rules) {
    const auto alg_it = header.find("alg");
    if (alg_it == header.end() || !alg_it->is_string()) return failure(JwtError::Malformed, "no alg in the header");
    const auto& name = alg_it->get_ref<const std::string&>();
    const auto alg = jwt_alg_from_name(name);
    if (!alg) return failure(JwtError::AlgorithmRefused, "alg " + printable(name) + " is never accepted");
    if (!rules.algorithms.empty() &&
        std::find(rules.algorithms.begin(), rules.algorithms.end(), *alg) == rules.algorithms.end()) {
        return failure(JwtError::AlgorithmRefused, "alg " + name + " is not in algorithms");
    }
    // RFC 7515 4.1.11: an extension we do not implement must not be ignored, and we implement none.
    if (header.contains("crit")) return failure(JwtError::Malformed, "crit header not supported");
    std::optional<std::string> kid;
    if (const auto it = header.find("kid"); it != header.end()) {
        if (!it->is_string()) return failure(JwtError::Malformed, "kid is not a string");
        kid = it->get<std::string>();
    }
    if (!keys.knows_kid(kid)) return failure(JwtError::UnknownKey, "no key with kid " + printable(*kid));
    auto candidates = keys.candidates(*alg, kid);
    if (candidates.empty()) return failure(JwtError::AlgorithmRefused, "no " + name + " key");
    return candidates;
}

// A NumericDate claim (RFC 7519 2: seconds, maybe with a fraction): false when present and not a number. A fraction
// is rounded the safe way: exp down (expires up to a second early), nbf up (valid up to a second late).
bool numeric_date(const nlohmann::json& claims, const char* key, bool round_up, std::optional<std::int64_t>& out) {
    const auto it = claims.find(key);
    if (it == claims.end()) return true;
    constexpr std::int64_t kFar = std::int64_t{1} << 50;  // far beyond any real date; keeps the arithmetic exact
    if (it->is_number_unsigned()) {
        out = static_cast<std::int64_t>(std::min<std::uint64_t>(it->get<std::uint64_t>(), kFar));
    } else if (it->is_number_integer()) {
        out = std::clamp<std::int64_t>(it->get<std::int64_t>(), -kFar, kFar);
    } else if (it->is_number_float()) {
        const double d = it->get<double>();
        if (!std::isfinite(d)) return false;
        const double clamped = std::clamp(d, -static_cast<double>(kFar), static_cast<double>(kFar));
        out = static_cast<std::int64_t>(round_up ? std::ceil(clamped) : std::floor(clamped));
    } else {
        return false;
    }
    return true;
}

bool audience_contains(const nlohmann::json& claims, const std::string& audience) {
    const auto it = claims.find("aud");
    if (it == claims.end()) return false;
    if (it->is_string()) return it->get_ref<const std::string&>() == audience;
    if (!it->is_array()) return false;
    return std::any_of(it->begin(), it->end(), [&](const nlohmann::json& a) {
        return a.is_string() && a.get_ref<const std::string&>() == audience;
    });
}

// The checks after the signature; nullopt: the claims pass.
std::optional<JwtResult> check_claims(const nlohmann::json& claims, const JwtRules& rules, std::int64_t now,
                                      std::optional<std::int64_t>& exp) {
    std::optional<std::int64_t> nbf;
    if (!numeric_date(claims, "exp", false, exp)) return failure(JwtError::Malformed, "exp is not a number");
    if (!numeric_date(claims, "nbf", true, nbf)) return failure(JwtError::Malformed, "nbf is not a number");
    const std::int64_t leeway = rules.leeway_s;
    if (exp && *exp <= now - leeway) {
        return failure(JwtError::Expired, "exp " + std::to_string(*exp) + " <= now " + std::to_string(now));
    }
    if (nbf && *nbf > now + leeway) {
        return failure(JwtError::NotYetValid, "nbf " + std::to_string(*nbf) + " > now " + std::to_string(now));
    }
    if (!rules.issuer.empty()) {
        const auto it = claims.find("iss");
        if (it == claims.end() || !it->is_string() || it->get_ref<const std::string&>() != rules.issuer) {
            return failure(JwtError::WrongIssuer, "iss is not " + rules.issuer);
        }
    }
    if (!rules.audience.empty() && !audience_contains(claims, rules.audience)) {
        return failure(JwtError::WrongAudience, "aud does not contain " + rules.audience);
    }
    return std::nullopt;
}

JwtResult verify(std::string_view token, const JwtKeys& keys, const JwtRules& rules, std::int64_t now) {
    if (token.size() > kMaxJwtSize) return failure(JwtError::Malformed, "longer than 16 KiB");
    const auto segments = split(token);
    if (!segments) return failure(JwtError::Malformed, "not three base64url segments");
    const auto header_bytes = base64url_decode(segments->header);
    const auto claims_bytes = base64url_decode(segments->claims);
    if (!header_bytes || !claims_bytes) return failure(JwtError::Malformed, "not base64url (without padding)");
    auto header = json_object(*header_bytes);
    if (!header) return failure(JwtError::Malformed, "header is not a JSON object");
    auto chosen = keys_for(*header, keys, rules);
    if (auto* refused = std::get_if<JwtResult>(&chosen)) return std::move(*refused);
    const auto& candidates = std::get<std::vector<const JwtKey*>>(chosen);
    const auto signature = base64url_decode(segments->signature);
    if (!signature) return failure(JwtError::Malformed, "signature is not base64url");
    if (!verify_signature(candidates.front()->alg, candidates, segments->signing_input, *signature)) {
        return failure(JwtError::BadSignature, "signature does not verify");
    }
    // Parsed only once signed: unauthenticated claims are never looked at.
    auto claims = json_object(*claims_bytes);
    if (!claims) return failure(JwtError::Malformed, "claims are not a JSON object");
    std::optional<std::int64_t> exp;
    if (auto refused = check_claims(*claims, rules, now, exp)) return std::move(*refused);
    return JwtResult{JwtToken{std::move(*header), std::move(*claims), exp}, {}, {}};
}

}  // namespace

std::string_view to_string(JwtError error) {
    switch (error) {
        case JwtError::Malformed:
            return "malformed token";
        case JwtError::AlgorithmRefused:
            return "algorithm not accepted";
        case JwtError::UnknownKey:
            return "unknown key";
        case JwtError::BadSignature:
            return "bad signature";
        case JwtError::Expired:
            return "token expired";
        case JwtError::NotYetValid:
            return "token not yet valid";
        case JwtError::WrongIssuer:
            return "wrong issuer";
        case JwtError::WrongAudience:
            return "wrong audience";
    }
    return "?";
}

JwtResult verify_jwt(std::string_view token, const JwtKeys& keys, const JwtRules& rules, std::int64_t now_unix) {
    try {
        return verify(token, keys, rules, now_unix);
    } catch (const std::exception& e) {  // bad_alloc, a json type error missed: the token is refused, never thrown
        return failure(JwtError::Malformed, std::string("internal error: ") + e.what());
    }
}

bool looks_like_jwt(std::string_view s) {
    if (s.size() > kMaxJwtSize) return false;
    int dots = 0;
    char previous = '.';
    for (const char c : s) {
        if (c == '.') {
            if (previous == '.') return false;  // an empty segment
            ++dots;
        } else if (!is_base64url(c)) {
            return false;
        }
        previous = c;
    }
    if (dots != 2 || previous == '.') return false;
    // "my.pass.word" is three base64url segments too: a JOSE header is a JSON object, so its first byte is '{' (after
    // any whitespace). A password that is not a token then reaches the next provider instead of a "bad token" deny.
    const auto header = base64url_decode(s.substr(0, s.find('.')));
    if (!header) return false;
    const auto first = header->find_first_not_of(" \t\r\n");
    return first != std::string::npos && (*header)[first] == '{';
}

}  // namespace moth::auth
