#pragma once
// Test-side JWT issuing: keys generated with OpenSSL EVP (RSA 2048, EC P-256), their PEM and JWK forms, and a
// signer that builds compact tokens from any header and claims, so the tests can forge exactly the token an attacker
// or a broken issuer would send. Independent of the code under test except for base64url decoding (not used here).
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <nlohmann/json.hpp>

namespace moth::auth::test {

inline std::string b64url(std::string_view bytes) {
    static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    std::uint32_t acc = 0;
    int bits = 0;
    for (const char c : bytes) {
        acc = (acc << 8) | static_cast<unsigned char>(c);
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out.push_back(kAlphabet[(acc >> bits) & 0x3Fu]);
        }
    }
    if (bits > 0) out.push_back(kAlphabet[(acc << (6 - bits)) & 0x3Fu]);
    return out;
}

using Pkey = std::shared_ptr<EVP_PKEY>;

inline Pkey generate_rsa() {
    EVP_PKEY* k = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(2048));
    if (k == nullptr) throw std::runtime_error("RSA keygen failed");
    return {k, EVP_PKEY_free};
}
inline Pkey generate_ec() {
    EVP_PKEY* k = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    if (k == nullptr) throw std::runtime_error("EC keygen failed");
    return {k, EVP_PKEY_free};
}
// Generated once per test binary: RSA key generation takes a while under ASan.
inline const Pkey& rsa_key() {
    static const Pkey k = generate_rsa();
    return k;
}
inline const Pkey& rsa_key2() {
    static const Pkey k = generate_rsa();
    return k;
}
inline const Pkey& ec_key() {
    static const Pkey k = generate_ec();
    return k;
}
inline const Pkey& ec_key2() {
    static const Pkey k = generate_ec();
    return k;
}

inline std::string public_pem(EVP_PKEY* k) {
    const std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
    if (PEM_write_bio_PUBKEY(bio.get(), k) != 1) throw std::runtime_error("PEM_write_bio_PUBKEY");
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(len));
}

inline std::string bn_param(EVP_PKEY* k, const char* name, int pad) {
    BIGNUM* bn = nullptr;
    if (EVP_PKEY_get_bn_param(k, name, &bn) != 1) throw std::runtime_error(name);
    const int len = pad > 0 ? pad : BN_num_bytes(bn);
    std::string out(static_cast<std::size_t>(len), '\0');
    BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), len);
    BN_free(bn);
    return out;
}

// The public JWK of an RSA or EC P-256 key (RFC 7517/7518 section 6).
inline nlohmann::json jwk(EVP_PKEY* k, std::optional<std::string> kid = std::nullopt) {
    nlohmann::json j;
    if (EVP_PKEY_is_a(k, "RSA")) {
        j = {{"kty", "RSA"},
             {"n", b64url(bn_param(k, OSSL_PKEY_PARAM_RSA_N, 0))},
             {"e", b64url(bn_param(k, OSSL_PKEY_PARAM_RSA_E, 0))}};
    } else {
        j = {{"kty", "EC"},
             {"crv", "P-256"},
             {"x", b64url(bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X, 32))},
             {"y", b64url(bn_param(k, OSSL_PKEY_PARAM_EC_PUB_Y, 32))}};
    }
    if (kid) j["kid"] = *kid;
    return j;
}

// How a token is signed: an HMAC secret (HS256) or a private key (RS256, ES256 as raw R||S).
struct Signer {
    std::string alg;  // the header's alg; "none" signs nothing
    std::string secret;
    EVP_PKEY* pkey = nullptr;

    [[nodiscard]] std::string sign(std::string_view input) const {
        if (alg == "HS256") {
            std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
            unsigned int len = 0;
            HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
                 reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac.data(), &len);
            return std::string(reinterpret_cast<const char*>(mac.data()), len);
        }
        if (pkey == nullptr) return {};
        const std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
        std::size_t len = 0;
        EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, pkey);
        const auto* in = reinterpret_cast<const unsigned char*>(input.data());
        EVP_DigestSign(ctx.get(), nullptr, &len, in, input.size());
        std::string sig(len, '\0');
        EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, in, input.size());
        sig.resize(len);
        if (!EVP_PKEY_is_a(pkey, "EC")) return sig;
        const auto* p = reinterpret_cast<const unsigned char*>(sig.data());  // DER -> R||S (RFC 7515 A.3)
        ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
        std::string raw(64, '\0');
        BN_bn2binpad(ECDSA_SIG_get0_r(es), reinterpret_cast<unsigned char*>(raw.data()), 32);
        BN_bn2binpad(ECDSA_SIG_get0_s(es), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
        ECDSA_SIG_free(es);
        return raw;
    }

    // header: null gives {"alg": alg, "typ": "JWT"}. Claims null (what `{}` converts to) are sent as {}.
    [[nodiscard]] std::string token(nlohmann::json claims, nlohmann::json header = nullptr) const {
        if (header.is_null()) header = {{"alg", alg}, {"typ", "JWT"}};
        if (claims.is_null()) claims = nlohmann::json::object();
        const std::string input = b64url(header.dump()) + "." + b64url(claims.dump());
        return input + "." + b64url(sign(input));
    }
};

inline Signer hs256(std::string secret) {
    return Signer{"HS256", std::move(secret), nullptr};
}
inline Signer rs256(const Pkey& k = rsa_key()) {
    return Signer{"RS256", {}, k.get()};
}
inline Signer es256(const Pkey& k = ec_key()) {
    return Signer{"ES256", {}, k.get()};
}

// A file under the temp directory, removed with the object.
class TempFile {
public:
    explicit TempFile(std::string_view bytes) {
        static std::atomic<int> counter{0};
        path_ = (std::filesystem::temp_directory_path() /
                 ("moth-jwt-" + std::to_string(::getpid()) + "-" + std::to_string(counter++)))
                    .string();
        std::ofstream(path_, std::ios::binary) << bytes;
    }
    ~TempFile() { std::filesystem::remove(path_); }
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;
    [[nodiscard]] const std::string& path() const { return path_; }

private:
    std::string path_;
};

}  // namespace moth::auth::test
