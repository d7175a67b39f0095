// SCRAM-SHA-256: the key derivation of RFC 5802 section 3, the stored credential, and both ends of the exchange.
// The messages' grammar is in scram_messages.cpp.
#include "auth/scram.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <stdexcept>
#include <utility>
#include <vector>

#include "common/base64.hpp"

namespace moth::auth {
namespace {

using Key = std::array<unsigned char, 32>;

std::string_view as_view(const Key& k) {
    return {reinterpret_cast<const char*>(k.data()), k.size()};
}

bool hmac(std::string_view key, std::string_view data, Key& out) {
    unsigned int length = 0;
    return HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
                reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(), &length) != nullptr &&
           length == out.size();
}

bool sha256(std::string_view data, Key& out) {
    unsigned int length = 0;
    return EVP_Digest(data.data(), data.size(), out.data(), &length, EVP_sha256(), nullptr) == 1 &&
           length == out.size();
}

// SaltedPassword and what follows from it (RFC 5802 section 3).
struct Keys {
    Key client_key{};
    Key stored_key{};
    Key server_key{};
};

bool derive(std::string_view password, std::string_view salt, std::uint32_t iterations, Keys& out) {
    if (iterations == 0 || iterations > kScramMaxIterations) return false;
    Key salted{};
    // An empty string_view may have a null data(); PBKDF2 gets a real (empty) string then.
    const char* pass = password.empty() ? "" : password.data();
    const bool ok =
        PKCS5_PBKDF2_HMAC(pass, static_cast<int>(password.size()), reinterpret_cast<const unsigned char*>(salt.data()),
                          static_cast<int>(salt.size()), static_cast<int>(iterations), EVP_sha256(),
                          static_cast<int>(salted.size()), salted.data()) == 1 &&
        hmac(as_view(salted), "Client Key", out.client_key) && sha256(as_view(out.client_key), out.stored_key) &&
        hmac(as_view(salted), "Server Key", out.server_key);
    OPENSSL_cleanse(salted.data(), salted.size());
    return ok;
}

std::string random_bytes(std::size_t n) {
    std::string out(n, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
        throw std::runtime_error("the system's random generator failed (RAND_bytes)");
    }
    return out;
}

std::optional<std::uint32_t> decimal(std::string_view s) {
    if (s.empty() || s.size() > 8 || s[0] < '1' || s[0] > '9') return std::nullopt;  // 10,000,000 has 8 digits
    std::uint32_t n = 0;
    for (const char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        n = n * 10 + static_cast<std::uint32_t>(c - '0');
    }
    return n;
}

bool valid_credential(const ScramCredential& c) {
    return c.iterations >= kScramMinIterations && c.iterations <= kScramMaxIterations &&
           c.salt.size() >= kScramMinSaltSize && c.salt.size() <= kScramMaxSaltSize;
}

ScramServer::Step failure(std::string_view error) {
    return {ScramServer::Status::Failure, "e=" + std::string(error)};
}

}  // namespace

std::string scram_nonce() {
    return common::base64_encode(random_bytes(24));  // 32 characters of [A-Za-z0-9+/]: printable, no ','
}

ScramCredential scram_credential(std::string_view password, std::string_view salt, std::uint32_t iterations) {
    Keys keys;
    if (!derive(password, salt, iterations, keys)) throw std::runtime_error("SCRAM-SHA-256 key derivation failed");
    OPENSSL_cleanse(keys.client_key.data(), keys.client_key.size());
    return {std::string(salt), iterations, keys.stored_key, keys.server_key};
}

std::string scram_encode(const ScramCredential& c) {
    return "$scram-sha-256$" + std::to_string(c.iterations) + "$" + common::base64_encode(c.salt) + "$" +
           common::base64_encode(as_view(c.stored_key)) + "$" + common::base64_encode(as_view(c.server_key));
}

std::optional<ScramCredential> scram_decode(std::string_view encoded) {
    constexpr std::string_view kPrefix = "$scram-sha-256$";
    if (!encoded.starts_with(kPrefix)) return std::nullopt;
    std::string_view rest = encoded.substr(kPrefix.size());
    std::array<std::string_view, 4> parts;  // iterations, salt, StoredKey, ServerKey
    for (std::size_t i = 0; i < parts.size(); ++i) {
        const auto at = rest.find('$');
        if ((at == std::string_view::npos) != (i + 1 == parts.size())) return std::nullopt;
        parts[i] = rest.substr(0, at);
        rest = at == std::string_view::npos ? std::string_view{} : rest.substr(at + 1);
    }
    const auto iterations = decimal(parts[0]);
    auto salt = scram_detail::strict_base64_decode(parts[1]);
    const auto stored = scram_detail::strict_base64_decode(parts[2]);
    const auto server = scram_detail::strict_base64_decode(parts[3]);
    if (!iterations || !salt || !stored || !server || stored->size() != 32 || server->size() != 32) {
        return std::nullopt;
    }
    ScramCredential c;
    c.iterations = *iterations;
    c.salt = std::move(*salt);
    std::copy(stored->begin(), stored->end(), c.stored_key.begin());
    std::copy(server->begin(), server->end(), c.server_key.begin());
    if (!valid_credential(c)) return std::nullopt;
    return c;
}

bool scram_verify_password(const ScramCredential& credential, std::string_view password) {
    if (!valid_credential(credential)) return false;
    const ScramCredential again = scram_credential(password, credential.salt, credential.iterations);
    // Both keys: a file entry whose ServerKey does not belong to its StoredKey is refused too.
    const bool stored = CRYPTO_memcmp(again.stored_key.data(), credential.stored_key.data(), 32) == 0;
    const bool server = CRYPTO_memcmp(again.server_key.data(), credential.server_key.data(), 32) == 0;
    return stored && server;
}

// --- ScramServer ------------------------------------------------------------------------------------------------

ScramServer::ScramServer(Lookup lookup, std::string_view secret, std::string fixed_server_nonce)
    : lookup_(std::move(lookup)), secret_(secret), fixed_nonce_(std::move(fixed_server_nonce)) {}

ScramServer::Step ScramServer::first(std::string_view client_first) {
    const bool in_order = state_ == State::Start;
    state_ = State::Done;  // until this step succeeds, the exchange is over; a call out of order ends it too
    if (!in_order) return failure("other-error");
    if (client_first.starts_with("p=")) return failure("channel-binding-not-supported");
    if (client_first.size() >= 5 && client_first.substr(1, 4) == ",,m=") return failure("extensions-not-supported");
    const auto cf = parse_client_first(client_first);
    if (!cf) return failure("invalid-encoding");
    username_ = cf->username;
    gs2_header_ = cf->gs2_header;
    std::optional<ScramCredential> found = lookup_ ? lookup_(username_) : std::nullopt;
    known_ = found && valid_credential(*found);
    if (known_) {
        credential_ = std::move(*found);
    } else {
        // RFC 5802 section 5.1: the same salt for the same unknown user every time, and the usual iteration count,
        // so that server-first does not tell who exists. The keys stay zero; known_ makes the proof fail.
        Key made_up{};
        if (!hmac(secret_, "moth scram salt:" + username_, made_up)) return failure("other-error");
        credential_ = {std::string(as_view(made_up).substr(0, kScramSaltSize)), kScramDefaultIterations, {}, {}};
    }
    try {
        nonce_ = cf->nonce + (fixed_nonce_.empty() ? scram_nonce() : fixed_nonce_);
    } catch (const std::runtime_error&) {
        return failure("no-resources");
    }
    std::string server_first = "r=" + nonce_ + ",s=" + common::base64_encode(credential_.salt) +
                               ",i=" + std::to_string(credential_.iterations);
    auth_prefix_ = cf->bare + "," + server_first;
    state_ = State::SentFirst;
    return {Status::Continue, std::move(server_first)};
}

ScramServer::Step ScramServer::final(std::string_view client_final) {
    const bool in_order = state_ == State::SentFirst;
    state_ = State::Done;
    if (!in_order) return failure("other-error");
    const auto cf = parse_client_final(client_final);
    if (!cf) return failure("invalid-encoding");
    if (cf->channel_binding != gs2_header_) return failure("channel-bindings-dont-match");
    if (cf->nonce != nonce_) return failure("other-error");
    if (cf->proof.size() != 32) return failure("invalid-proof");
    const std::string auth_message = auth_prefix_ + "," + cf->without_proof;
    // ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage); the proof holds when H(ClientKey) == StoredKey.
    Key signature{}, client_key{}, stored{};
    if (!hmac(as_view(credential_.stored_key), auth_message, signature)) return failure("other-error");
    for (std::size_t i = 0; i < client_key.size(); ++i) {
        client_key[i] = static_cast<unsigned char>(static_cast<unsigned char>(cf->proof[i]) ^ signature[i]);
    }
    if (!sha256(as_view(client_key), stored)) return failure("other-error");
    const bool match = CRYPTO_memcmp(stored.data(), credential_.stored_key.data(), stored.size()) == 0;
    if (!match || !known_) return failure("invalid-proof");
    Key server_signature{};
    if (!hmac(as_view(credential_.server_key), auth_message, server_signature)) return failure("other-error");
    return {Status::Success, "v=" + common::base64_encode(as_view(server_signature))};
}

// --- ScramClient ------------------------------------------------------------------------------------------------

ScramClient::ScramClient(std::string username, std::string password)
    : ScramClient(std::move(username), std::move(password), scram_nonce()) {}

ScramClient::ScramClient(std::string username, std::string password, std::string nonce)
    : username_(std::move(username)), password_(std::move(password)), nonce_(std::move(nonce)) {}

std::string ScramClient::first() const {
    return "n,,n=" + scram_detail::escape_name(username_) + ",r=" + nonce_;
}

ScramClient::Result ScramClient::final(std::string_view server_first) {
    expected_signature_.clear();
    const auto sf = parse_server_first(server_first);
    if (!sf) return {false, "malformed SCRAM server-first message"};
    if (!sf->nonce.starts_with(nonce_) || sf->nonce.size() == nonce_.size()) {
        return {false, "the SCRAM server nonce does not extend the client's"};
    }
    if (sf->iterations < kScramMinIterations || sf->iterations > kScramMaxIterations) {
        return {false, "SCRAM iteration count " + std::to_string(sf->iterations) + " outside " +
                           std::to_string(kScramMinIterations) + ".." + std::to_string(kScramMaxIterations)};
    }
    if (sf->salt.size() > kScramMaxSaltSize) return {false, "SCRAM salt longer than 1024 bytes"};
    Keys keys;
    if (!derive(password_, sf->salt, sf->iterations, keys)) return {false, "SCRAM key derivation failed"};
    // No channel binding: c= is the base64 of the gs2 header "n,," ("biws").
    const std::string without_proof = "c=" + common::base64_encode("n,,") + ",r=" + sf->nonce;
    const std::string auth_message = first().substr(3) + "," + std::string(server_first) + "," + without_proof;
    Key signature{}, server_signature{};
    if (!hmac(as_view(keys.stored_key), auth_message, signature) ||
        !hmac(as_view(keys.server_key), auth_message, server_signature)) {
        return {false, "SCRAM signature failed"};
    }
    Key proof{};
    for (std::size_t i = 0; i < proof.size(); ++i) {
        proof[i] = static_cast<unsigned char>(keys.client_key[i] ^ signature[i]);
    }
    OPENSSL_cleanse(keys.client_key.data(), keys.client_key.size());
    expected_signature_ = std::string(as_view(server_signature));
    return {true, without_proof + ",p=" + common::base64_encode(as_view(proof))};
}

bool ScramClient::verify(std::string_view server_final) const {
    if (expected_signature_.empty()) return false;
    const auto sf = parse_server_final(server_final);
    if (!sf || !sf->error.empty() || sf->verifier.size() != expected_signature_.size()) return false;
    return CRYPTO_memcmp(sf->verifier.data(), expected_signature_.data(), expected_signature_.size()) == 0;
}

}  // namespace moth::auth
