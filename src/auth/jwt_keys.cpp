#include "auth/jwt_keys.hpp"

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <utility>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include <nlohmann/json.hpp>

namespace moth::auth {

namespace {

// RFC 7518 3.3: RS256 keys of 2048 bits or more. Smaller ones are refused rather than trusted.
constexpr int kMinRsaBits = 2048;
// Key files are a few KiB; a bound keeps a wrong path (a log, a device) from being read whole.
constexpr std::size_t kMaxKeyFile = 1024 * 1024;

[[noreturn]] void fail(std::string_view name, const std::string& message) {
    ERR_clear_error();  // the queue is per thread: leave nothing for the next unrelated OpenSSL call to misreport
    throw JwtKeyError(std::string(name) + ": " + message);
}

std::shared_ptr<EVP_PKEY> own(EVP_PKEY* pkey) {
    return {pkey, EVP_PKEY_free};
}

// The algorithm a public key verifies, or an error: RSA of 2048 bits or more is RS256, EC on P-256 is ES256.
JwtAlg alg_of_public_key(EVP_PKEY* pkey, std::string_view name, const std::string& where) {
    if (EVP_PKEY_is_a(pkey, "RSA")) {
        const int bits = EVP_PKEY_get_bits(pkey);
        if (bits < kMinRsaBits) fail(name, where + "RSA key of " + std::to_string(bits) + " bits (RS256 needs 2048+)");
        return JwtAlg::RS256;
    }
    if (EVP_PKEY_is_a(pkey, "EC")) {
        std::array<char, 64> group{};
        std::size_t len = 0;
        if (EVP_PKEY_get_group_name(pkey, group.data(), group.size(), &len) == 1 &&
            std::string_view(group.data(), len) == "prime256v1") {
            return JwtAlg::ES256;
        }
        fail(name, where + "EC key not on P-256 (ES256 is the only EC algorithm accepted)");
    }
    fail(name, where + "not an RSA or EC P-256 public key");
}

// An OpenSSL public check: a point on the curve, an odd modulus. Keys that fail it could never verify honestly.
void check_public(EVP_PKEY* pkey, std::string_view name, const std::string& where) {
    const std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(
        EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr), EVP_PKEY_CTX_free);
    if (!ctx || EVP_PKEY_public_check(ctx.get()) != 1) fail(name, where + "invalid public key");
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(path, std::string("cannot read: ") + std::strerror(errno));
    std::string bytes;
    std::array<char, 4096> chunk{};
    while (in.read(chunk.data(), chunk.size()) || in.gcount() > 0) {
        bytes.append(chunk.data(), static_cast<std::size_t>(in.gcount()));
        if (bytes.size() > kMaxKeyFile) fail(path, "larger than 1 MiB: not a key file");
    }
    if (in.bad()) fail(path, "read error");
    return bytes;
}

// --- JWKS members ---

std::string member_bytes(const nlohmann::json& jwk, const char* key, std::string_view name, const std::string& where) {
    const auto it = jwk.find(key);
    if (it == jwk.end()) fail(name, where + key + ": missing");
    if (!it->is_string()) fail(name, where + key + ": not a string");
    auto bytes = base64url_decode(it->get_ref<const std::string&>());
    if (!bytes || bytes->empty()) fail(name, where + key + ": not base64url");
    return std::move(*bytes);
}

struct ParamDeleter {
    void operator()(OSSL_PARAM_BLD* b) const { OSSL_PARAM_BLD_free(b); }
    void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
    void operator()(BIGNUM* n) const { BN_free(n); }
    void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};

// A public EVP_PKEY of `type` ("RSA", "EC") from the parameters the builder holds.
EVP_PKEY* pkey_from_params(const char* type, OSSL_PARAM_BLD* bld) {
    const std::unique_ptr<OSSL_PARAM, ParamDeleter> params(OSSL_PARAM_BLD_to_param(bld));
    const std::unique_ptr<EVP_PKEY_CTX, ParamDeleter> ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
    EVP_PKEY* pkey = nullptr;
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
        EVP_PKEY_fromdata(ctx.get(), &pkey, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
        return nullptr;
    }
    return pkey;
}

std::shared_ptr<EVP_PKEY> rsa_from_jwk(const nlohmann::json& jwk, std::string_view name, const std::string& where) {
    const std::string n = member_bytes(jwk, "n", name, where);
    const std::string e = member_bytes(jwk, "e", name, where);
    const auto bn = [](const std::string& b) {
        return std::unique_ptr<BIGNUM, ParamDeleter>(
            BN_bin2bn(reinterpret_cast<const unsigned char*>(b.data()), static_cast<int>(b.size()), nullptr));
    };
    if (n.size() > 2048 || e.size() > 512) fail(name, where + "RSA key too large");  // 16384-bit modulus at most
    const auto bn_n = bn(n);
    const auto bn_e = bn(e);
    const std::unique_ptr<OSSL_PARAM_BLD, ParamDeleter> bld(OSSL_PARAM_BLD_new());
    if (!bn_n || !bn_e || !bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1) {
        fail(name, where + "cannot build the RSA key");
    }
    EVP_PKEY* pkey = pkey_from_params("RSA", bld.get());
    if (pkey == nullptr) fail(name, where + "invalid RSA key");
    return own(pkey);
}

std::shared_ptr<EVP_PKEY> ec_from_jwk(const nlohmann::json& jwk, std::string_view name, const std::string& where) {
    const std::string x = member_bytes(jwk, "x", name, where);
    const std::string y = member_bytes(jwk, "y", name, where);
    // RFC 7518 6.2.1.2: the full coordinate length, 32 bytes on P-256, leading zeros kept.
    if (x.size() != 32 || y.size() != 32) fail(name, where + "x and y must be 32 bytes on P-256");
    const std::string point = "\x04" + x + y;  // SEC 1 uncompressed point
    const std::unique_ptr<OSSL_PARAM_BLD, ParamDeleter> bld(OSSL_PARAM_BLD_new());
    if (!bld || OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) != 1 ||
        OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) != 1) {
        fail(name, where + "cannot build the EC key");
    }
    EVP_PKEY* pkey = pkey_from_params("EC", bld.get());
    if (pkey == nullptr) fail(name, where + "invalid EC key (not a point on P-256)");
    return own(pkey);
}

std::optional<JwtAlg> alg_of_kty(const std::string& kty, const nlohmann::json& jwk) {
    if (kty == "RSA") return JwtAlg::RS256;
    if (kty == "oct") return JwtAlg::HS256;
    if (kty == "EC") {
        const auto crv = jwk.find("crv");
        if (crv != jwk.end() && crv->is_string() && crv->get_ref<const std::string&>() == "P-256") return JwtAlg::ES256;
    }
    return std::nullopt;  // another kty (OKP) or curve: not ours to verify with
}

// One JWKS entry: a key, nullopt for one this broker does not use, or an error.
std::optional<JwtKey> key_from_jwk(const nlohmann::json& jwk, std::string_view name, const std::string& where) {
    if (!jwk.is_object()) fail(name, where + "not an object");
    const auto str = [&](const char* key) -> std::optional<std::string> {
        const auto it = jwk.find(key);
        if (it == jwk.end()) return std::nullopt;
        if (!it->is_string()) fail(name, where + key + ": not a string");
        return it->get<std::string>();
    };
    const auto kty = str("kty");
    if (!kty) fail(name, where + "kty: missing");
    const auto use = str("use");
    if (use && *use != "sig") return std::nullopt;  // an encryption key ("enc") never verifies a signature
    const auto named_alg = str("alg");
    std::optional<JwtAlg> alg = alg_of_kty(*kty, jwk);
    if (named_alg) {
        const auto a = jwt_alg_from_name(*named_alg);
        if (!a) return std::nullopt;  // RS512, PS256...: a key meant for an algorithm we do not accept
        if (a != alg) fail(name, where + "alg " + *named_alg + " does not fit kty " + *kty);
    }
    if (!alg) return std::nullopt;
    JwtKey key;
    key.alg = *alg;
    key.kid = str("kid");
    if (*alg == JwtAlg::HS256) {
        key.secret = member_bytes(jwk, "k", name, where);
        return key;
    }
    key.pkey = *alg == JwtAlg::RS256 ? rsa_from_jwk(jwk, name, where) : ec_from_jwk(jwk, name, where);
    if (alg_of_public_key(key.pkey.get(), name, where) != *alg) fail(name, where + "key does not fit its kty");
    check_public(key.pkey.get(), name, where);
    return key;
}

}  // namespace

std::optional<JwtAlg> jwt_alg_from_name(std::string_view name) {
    if (name == "HS256") return JwtAlg::HS256;
    if (name == "RS256") return JwtAlg::RS256;
    if (name == "ES256") return JwtAlg::ES256;
    return std::nullopt;
}

std::string_view to_string(JwtAlg alg) {
    switch (alg) {
        case JwtAlg::HS256:
            return "HS256";
        case JwtAlg::RS256:
            return "RS256";
        case JwtAlg::ES256:
            return "ES256";
    }
    return "?";
}

JwtKeys JwtKeys::from_secret(std::string secret) {
    if (secret.empty()) fail("secret", "empty HS256 secret");
    JwtKey key;
    key.alg = JwtAlg::HS256;
    key.secret = std::move(secret);
    std::vector<JwtKey> keys;
    keys.push_back(std::move(key));
    return JwtKeys(std::move(keys));
}

JwtKeys JwtKeys::from_public_key_pem(std::string_view pem, std::string_view name) {
    if (pem.size() > kMaxKeyFile) fail(name, "larger than 1 MiB: not a key");
    const std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())),
                                                        BIO_free);
    EVP_PKEY* raw = bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr) : nullptr;
    if (raw == nullptr) fail(name, "no PEM public key (-----BEGIN PUBLIC KEY-----)");
    JwtKey key;
    key.pkey = own(raw);
    key.alg = alg_of_public_key(raw, name, "");
    check_public(raw, name, "");
    std::vector<JwtKey> keys;
    keys.push_back(std::move(key));
    return JwtKeys(std::move(keys));
}

JwtKeys JwtKeys::from_jwks(std::string_view json, std::string_view name) {
    const auto doc = nlohmann::json::parse(json.begin(), json.end(), nullptr, false);
    if (doc.is_discarded()) fail(name, "not JSON");
    if (!doc.is_object()) fail(name, "not a JSON object (a JWKS is {\"keys\": [...]})");
    const auto it = doc.find("keys");
    if (it == doc.end() || !it->is_array()) fail(name, "keys: missing or not an array");
    std::vector<JwtKey> keys;
    for (std::size_t i = 0; i < it->size(); ++i) {
        auto key = key_from_jwk((*it)[i], name, "keys[" + std::to_string(i) + "]: ");
        if (key) keys.push_back(std::move(*key));
    }
    if (keys.empty()) fail(name, "no usable key (HS256, RS256 or ES256 for signatures)");
    return JwtKeys(std::move(keys));
}

JwtKeys JwtKeys::from_secret_file(const std::string& path) {
    std::string secret = read_file(path);
    if (secret.ends_with("\r\n")) {
        secret.resize(secret.size() - 2);
    } else if (secret.ends_with('\n')) {
        secret.pop_back();
    }
    if (secret.empty()) fail(path, "empty HS256 secret");
    return from_secret(std::move(secret));
}

JwtKeys JwtKeys::from_public_key_file(const std::string& path) {
    return from_public_key_pem(read_file(path), path);
}

JwtKeys JwtKeys::from_jwks_file(const std::string& path) {
    return from_jwks(read_file(path), path);
}

std::vector<const JwtKey*> JwtKeys::candidates(JwtAlg alg, const std::optional<std::string>& kid) const {
    std::vector<const JwtKey*> out;
    for (const auto& k : keys_) {
        if (k.alg != alg) continue;
        if (kid && k.kid && *k.kid != *kid) continue;
        out.push_back(&k);
    }
    return out;
}

bool JwtKeys::knows_kid(const std::optional<std::string>& kid) const {
    if (!kid) return true;
    for (const auto& k : keys_) {
        if (!k.kid || *k.kid == *kid) return true;
    }
    return false;
}

bool JwtKeys::has_alg(JwtAlg alg) const {
    for (const auto& k : keys_) {
        if (k.alg == alg) return true;
    }
    return false;
}

std::optional<std::string> base64url_decode(std::string_view text) {
    const auto value = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') return c - 'A';
        if (c >= 'a' && c <= 'z') return c - 'a' + 26;
        if (c >= '0' && c <= '9') return c - '0' + 52;
        if (c == '-') return 62;
        if (c == '_') return 63;
        return -1;
    };
    if (text.size() % 4 == 1) return std::nullopt;
    std::string out;
    out.reserve(text.size() * 3 / 4);
    std::uint32_t acc = 0;
    int bits = 0;
    for (const char c : text) {
        const int v = value(c);
        if (v < 0) return std::nullopt;
        acc = (acc << 6) | static_cast<std::uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((acc >> bits) & 0xFFu));
        }
    }
    if ((acc & ((1u << bits) - 1u)) != 0) return std::nullopt;  // non-canonical: unused bits set
    return out;
}

}  // namespace moth::auth
