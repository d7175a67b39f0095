// The password hashes of password_file.hpp: Mosquitto's $6$ and $7$ (OpenSSL), argon2id (libargon2) and
// SCRAM-SHA-256 credentials (auth/scram.hpp).
#include <argon2.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <charconv>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "auth/password_file.hpp"
#include "common/base64.hpp"

namespace moth::auth {
namespace {

constexpr std::size_t kSha512Size = 64;
constexpr std::size_t kMosquittoSaltSize = 12;  // mosquitto_passwd's SALT_LEN
constexpr std::size_t kArgon2SaltSize = 16;
constexpr std::size_t kArgon2HashSize = 32;

// Mosquitto's $6$ / $7$ fields, decoded.
struct Sha512Entry {
    int iterations = 0;  // 0 for $6$
    std::string salt;
    std::string hash;
};

std::vector<std::string_view> split_dollar(std::string_view s) {
    std::vector<std::string_view> parts;
    for (;;) {
        const auto at = s.find('$');
        parts.push_back(s.substr(0, at));
        if (at == std::string_view::npos) return parts;
        s.remove_prefix(at + 1);
    }
}

template <typename T>
std::optional<T> parse_number(std::string_view s) {
    T value{};
    if (s.empty() || s.size() > 10) return std::nullopt;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
    return value;
}

std::optional<Sha512Entry> decode_mosquitto(std::string_view encoded) {
    const auto parts = split_dollar(encoded);  // "", "6"|"7", [iterations,] salt, hash
    Sha512Entry e;
    std::size_t salt_at = 2;
    if (parts.size() == 5 && parts[1] == "7") {
        const auto n = parse_number<int>(parts[2]);
        if (!n || *n < 1 || *n > kPbkdf2MaxIterations) return std::nullopt;
        e.iterations = *n;
        salt_at = 3;
    } else if (parts.size() != 4 || parts[1] != "6") {
        return std::nullopt;
    }
    auto salt = common::base64_decode(parts[salt_at]);
    auto hash = common::base64_decode(parts[salt_at + 1]);
    if (!salt || !hash || salt->empty() || salt->size() > kSha512Size || hash->size() != kSha512Size) {
        return std::nullopt;
    }
    e.salt = std::move(*salt);
    e.hash = std::move(*hash);
    return e;
}

// Checks the PHC string before libargon2 sees it, so that the cost bounds of password_file.hpp hold.
bool argon2_well_formed(std::string_view encoded) {
    const auto parts = split_dollar(encoded);  // "", "argon2id", "v=19", "m=..,t=..,p=..", salt, hash
    if (parts.size() != 6 || parts[1] != "argon2id" || parts[2] != "v=19") return false;
    const std::string_view costs = parts[3];
    const auto c1 = costs.find(',');
    const auto c2 = costs.find(',', c1 == std::string_view::npos ? c1 : c1 + 1);
    if (c1 == std::string_view::npos || c2 == std::string_view::npos) return false;
    const std::string_view m = costs.substr(0, c1), t = costs.substr(c1 + 1, c2 - c1 - 1), p = costs.substr(c2 + 1);
    if (!m.starts_with("m=") || !t.starts_with("t=") || !p.starts_with("p=")) return false;
    const auto mem = parse_number<std::uint32_t>(m.substr(2));
    const auto time = parse_number<std::uint32_t>(t.substr(2));
    const auto lanes = parse_number<std::uint32_t>(p.substr(2));
    if (!mem || !time || !lanes || *lanes < 1 || *lanes > kArgon2MaxLanes || *time < 1 || *time > kArgon2MaxTimeCost ||
        *mem < 8 * *lanes || *mem > kArgon2MaxMemoryKiB) {
        return false;
    }
    const auto salt = common::base64_decode(parts[4]);
    const auto hash = common::base64_decode(parts[5]);
    return salt && hash && salt->size() >= ARGON2_MIN_SALT_LENGTH && hash->size() >= ARGON2_MIN_OUTLEN;
}

std::string sha512_digest(std::string_view password, const Sha512Entry& e) {
    std::string out(kSha512Size, '\0');
    auto* md = reinterpret_cast<unsigned char*>(out.data());
    if (e.iterations == 0) {
        EVP_MD_CTX* ctx = EVP_MD_CTX_new();
        const bool ok = ctx != nullptr && EVP_DigestInit_ex(ctx, EVP_sha512(), nullptr) == 1 &&
                        EVP_DigestUpdate(ctx, password.data(), password.size()) == 1 &&
                        EVP_DigestUpdate(ctx, e.salt.data(), e.salt.size()) == 1 &&
                        EVP_DigestFinal_ex(ctx, md, nullptr) == 1;
        EVP_MD_CTX_free(ctx);
        if (!ok) throw std::runtime_error("SHA-512 failed");
        return out;
    }
    if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                          reinterpret_cast<const unsigned char*>(e.salt.data()), static_cast<int>(e.salt.size()),
                          e.iterations, EVP_sha512(), static_cast<int>(out.size()), md) != 1) {
        throw std::runtime_error("PBKDF2-HMAC-SHA512 failed");
    }
    return out;
}

std::string random_bytes(std::size_t n) {
    std::string out(n, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
        throw std::runtime_error("the system's random generator failed (RAND_bytes)");
    }
    return out;
}

std::string hash_argon2id(std::string_view password) {
    const std::string salt = random_bytes(kArgon2SaltSize);
    const std::size_t length =
        argon2_encodedlen(kArgon2TimeCost, kArgon2MemoryKiB, kArgon2Lanes, kArgon2SaltSize, kArgon2HashSize, Argon2_id);
    std::string encoded(length, '\0');
    const int rc =
        argon2id_hash_encoded(kArgon2TimeCost, kArgon2MemoryKiB, kArgon2Lanes, password.data(), password.size(),
                              salt.data(), salt.size(), kArgon2HashSize, encoded.data(), encoded.size());
    if (rc != ARGON2_OK) throw std::runtime_error(std::string("argon2id failed: ") + argon2_error_message(rc));
    encoded.resize(std::strlen(encoded.c_str()));  // the length above counts the terminating NUL
    return encoded;
}

// Mosquitto writes standard base64 with padding.
std::string b64(std::string_view bytes) {
    return common::base64_encode(bytes);
}

}  // namespace

std::optional<HashKind> hash_kind(std::string_view encoded) {
    if (encoded.starts_with("$scram-sha-256$")) {
        return scram_decode(encoded) ? std::optional(HashKind::ScramSha256) : std::nullopt;
    }
    if (encoded.starts_with("$argon2id$")) {
        return argon2_well_formed(encoded) ? std::optional(HashKind::Argon2id) : std::nullopt;
    }
    const auto e = decode_mosquitto(encoded);
    if (!e) return std::nullopt;
    return e->iterations == 0 ? HashKind::Sha512 : HashKind::Sha512Pbkdf2;
}

bool verify_password(std::string_view encoded, std::string_view password) {
    if (encoded.starts_with("$scram-sha-256$")) {
        // A SCRAM user logging in with a plain CONNECT password: derive the keys again and compare both.
        const auto credential = scram_decode(encoded);
        return credential && scram_verify_password(*credential, password);
    }
    if (encoded.starts_with("$argon2id$")) {
        if (!argon2_well_formed(encoded)) return false;
        // libargon2 wants a NUL-terminated string; it compares in constant time itself.
        const std::string copy(encoded);
        return argon2id_verify(copy.c_str(), password.data(), password.size()) == ARGON2_OK;
    }
    const auto e = decode_mosquitto(encoded);
    if (!e) return false;
    const std::string digest = sha512_digest(password, *e);
    return CRYPTO_memcmp(digest.data(), e->hash.data(), kSha512Size) == 0;
}

std::string hash_password(std::string_view password, HashKind kind, std::optional<int> iterations) {
    switch (kind) {
        case HashKind::ScramSha256: {
            const int n = iterations.value_or(static_cast<int>(kScramDefaultIterations));
            if (n < static_cast<int>(kScramMinIterations) || n > static_cast<int>(kScramMaxIterations)) {
                throw std::invalid_argument("SCRAM-SHA-256 iterations out of range (4096..10000000)");
            }
            return scram_encode(
                scram_credential(password, random_bytes(kScramSaltSize), static_cast<std::uint32_t>(n)));
        }
        case HashKind::Argon2id:
            return hash_argon2id(password);
        case HashKind::Sha512: {
            Sha512Entry e{0, random_bytes(kMosquittoSaltSize), {}};
            return "$6$" + b64(e.salt) + "$" + b64(sha512_digest(password, e));
        }
        case HashKind::Sha512Pbkdf2: {
            const int pbkdf2_iterations = iterations.value_or(kPbkdf2DefaultIterations);
            if (pbkdf2_iterations < 1 || pbkdf2_iterations > kPbkdf2MaxIterations) {
                throw std::invalid_argument("PBKDF2 iterations out of range");
            }
            Sha512Entry e{pbkdf2_iterations, random_bytes(kMosquittoSaltSize), {}};
            return "$7$" + std::to_string(pbkdf2_iterations) + "$" + b64(e.salt) + "$" +
                   b64(sha512_digest(password, e));
        }
    }
    throw std::invalid_argument("unknown HashKind");
}

}  // namespace moth::auth
