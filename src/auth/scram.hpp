#pragma once
// SCRAM-SHA-256 (RFC 5802 with RFC 7677's hash), the MQTT 5.0 enhanced authentication method "SCRAM-SHA-256":
// the stored credential (and its password-file form), the four messages' parsers, and both ends of one exchange.
// Shared by mothd (ScramServer, behind its provider chain) and the client library (ScramClient).
//
// The exchange, carried in CONNECT / AUTH 0x18 / CONNACK (or AUTH 0x19 / 0x18 / 0x00 to re-authenticate):
//   client-first  n,,n=user,r=<client nonce>
//   server-first  r=<client nonce><server nonce>,s=<base64 salt>,i=<iterations>
//   client-final  c=biws,r=<nonce>,p=<base64 ClientProof>
//   server-final  v=<base64 ServerSignature>          (or e=<error>)
//
// Passwords: RFC 7677 asks for SASLprep (RFC 4013) of the password. Moth does not implement it: passwords are used
// as the UTF-8 bytes given, on both ends and in `moth passwd`. ASCII passwords are unaffected (SASLprep leaves
// printable ASCII as it is); a non-ASCII password must be given in Unicode NFC (what most keyboards and terminals
// produce) to match what another SCRAM implementation derives from it. User names are compared as bytes too.
//
// No channel binding: the gs2 header is "n,," (or "y,,": the client could bind but believes the server cannot,
// which is true). "p=" (binding requested), an authzid "a=" and the mandatory extension "m=" are refused.
//
// Nothing here throws for what a peer sends: parsers return nullopt, exchanges return a Failure step. Only a
// failure of OpenSSL itself (no random numbers) throws std::runtime_error, from scram_credential and the
// ScramClient constructor (start-up work).
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace moth::auth {

inline constexpr std::string_view kScramSha256 = "SCRAM-SHA-256";  // the MQTT Authentication Method

// RFC 7677 section 4: at least 4096 iterations. The upper bound is the password file's (kPbkdf2MaxIterations), so
// a typo or a hostile server cannot make one login take minutes.
inline constexpr std::uint32_t kScramMinIterations = 4096;
inline constexpr std::uint32_t kScramMaxIterations = 10'000'000;
inline constexpr std::uint32_t kScramDefaultIterations = 4096;
inline constexpr std::size_t kScramMinSaltSize = 16;
inline constexpr std::size_t kScramMaxSaltSize = 1024;
inline constexpr std::size_t kScramSaltSize = 16;  // of new credentials

// What a server stores (RFC 5802 section 3): enough to check a proof and to prove itself, not to log in.
struct ScramCredential {
    std::string salt;  // raw bytes
    std::uint32_t iterations = 0;
    std::array<unsigned char, 32> stored_key{};  // H(HMAC(SaltedPassword, "Client Key"))
    std::array<unsigned char, 32> server_key{};  // HMAC(SaltedPassword, "Server Key")
};

// Derives the credential. Slow by design (PBKDF2 with `iterations`): off the network threads.
// Throws std::runtime_error when OpenSSL fails.
[[nodiscard]] ScramCredential scram_credential(std::string_view password, std::string_view salt,
                                               std::uint32_t iterations);

// Password-file form: "$scram-sha-256$<iterations>$<base64 salt>$<base64 StoredKey>$<base64 ServerKey>", standard
// base64 with padding.
[[nodiscard]] std::string scram_encode(const ScramCredential& credential);
// Strict: iterations kScramMinIterations..kScramMaxIterations (decimal, no sign, no leading zero), salt
// kScramMinSaltSize..kScramMaxSaltSize bytes, keys exactly 32 bytes, canonical padded base64. nullopt otherwise.
[[nodiscard]] std::optional<ScramCredential> scram_decode(std::string_view encoded);

// A plain password (MQTT CONNECT) against a SCRAM credential: derives it again and compares in constant time.
// Slow (PBKDF2). Throws std::runtime_error when OpenSSL fails.
[[nodiscard]] bool scram_verify_password(const ScramCredential& credential, std::string_view password);

// --- the messages (RFC 5802 section 7), parsed strictly ---------------------------------------------------------

struct ScramClientFirst {
    std::string gs2_header;  // "n,," or "y,,"
    std::string username;    // decoded ("=2C" -> ',', "=3D" -> '='); valid UTF-8, no NUL
    std::string nonce;       // printable ASCII without ','
    std::string bare;        // the message without the gs2 header (part of AuthMessage)
};
struct ScramServerFirst {
    std::string nonce;  // client nonce + server nonce
    std::string salt;   // decoded
    std::uint32_t iterations = 0;
};
struct ScramClientFinal {
    std::string channel_binding;  // c=, decoded: the gs2 header again (no binding data)
    std::string nonce;
    std::string proof;          // p=, decoded
    std::string without_proof;  // "c=...,r=..." (part of AuthMessage)
};
struct ScramServerFinal {
    std::string verifier;  // v=, decoded; empty when error is set
    std::string error;     // e= value
};

[[nodiscard]] std::optional<ScramClientFirst> parse_client_first(std::string_view message);
[[nodiscard]] std::optional<ScramServerFirst> parse_server_first(std::string_view message);
[[nodiscard]] std::optional<ScramClientFinal> parse_client_final(std::string_view message);
[[nodiscard]] std::optional<ScramServerFinal> parse_server_final(std::string_view message);

// --- the server's side of one exchange ---------------------------------------------------------------------------

// One exchange for one connection; not thread-safe. Call first() once, then final() once.
class ScramServer {
public:
    // The credential of a user; nullopt: unknown user (or one without a SCRAM credential).
    using Lookup = std::function<std::optional<ScramCredential>(std::string_view user)>;
    enum class Status { Continue, Success, Failure };
    struct Step {
        Status status = Status::Failure;
        // Continue: server-first; Success: server-final "v=..."; Failure: "e=<RFC 5802 server-error-value>",
        // what a broker may send back as the Authentication Data of its refusal.
        std::string message;
    };

    // `secret`: the server's own secret for made-up salts of unknown users (RFC 5802 section 5.1), so that a client
    // cannot tell from server-first whether a user exists; keep it stable across restarts and private.
    // `fixed_server_nonce` (tests only): used instead of a random server nonce when not empty.
    ScramServer(Lookup lookup, std::string_view secret, std::string fixed_server_nonce = {});

    // client-first -> {Continue, server-first} or {Failure, e=...}. An unknown user gets a stable made-up salt and
    // the default iteration count, and fails only at the proof.
    [[nodiscard]] Step first(std::string_view client_first);
    // client-final -> {Success, v=...} or {Failure, e=...}: the nonce, the channel binding echo and the proof.
    [[nodiscard]] Step final(std::string_view client_final);
    // The user name of client-first (decoded); empty before first().
    [[nodiscard]] const std::string& username() const { return username_; }

private:
    enum class State { Start, SentFirst, Done };
    Lookup lookup_;
    std::string secret_;
    std::string fixed_nonce_;
    State state_ = State::Start;
    std::string username_;
    std::string gs2_header_;
    std::string nonce_;
    std::string auth_prefix_;  // client-first-bare "," server-first
    ScramCredential credential_;
    bool known_ = false;
};

// --- the client's side ------------------------------------------------------------------------------------------

class ScramClient {
public:
    struct Result {
        bool ok = false;
        std::string message;  // ok: client-final; else why (for an Error's message)
    };

    // A random 24-byte nonce (base64). Throws std::runtime_error when OpenSSL has no random numbers.
    ScramClient(std::string username, std::string password);
    // A fixed nonce (tests, RFC vectors): printable ASCII without ','.
    ScramClient(std::string username, std::string password, std::string nonce);

    // client-first: "n,,n=<user, ',' and '=' escaped>,r=<nonce>".
    [[nodiscard]] std::string first() const;
    // server-first -> client-final. Fails on a malformed message, a nonce that does not extend ours, an iteration
    // count under kScramMinIterations (or over kScramMaxIterations), a salt out of bounds. May be called again
    // with another server-first (a new exchange with the same client-first).
    [[nodiscard]] Result final(std::string_view server_first);
    // server-final: true only for v= equal to the ServerSignature of the last final(); e= and anything else: false.
    [[nodiscard]] bool verify(std::string_view server_final) const;
    [[nodiscard]] const std::string& nonce() const { return nonce_; }

private:
    std::string username_;
    std::string password_;
    std::string nonce_;
    std::string expected_signature_;  // empty until final() succeeded
};

// 24 random bytes, base64: printable, no ','. Throws std::runtime_error when OpenSSL has no random numbers.
[[nodiscard]] std::string scram_nonce();

namespace scram_detail {
// Standard base64 with padding, canonical (what RFC 5802 and the password file use); nullopt otherwise.
[[nodiscard]] std::optional<std::string> strict_base64_decode(std::string_view text);
// saslname escaping of RFC 5802 section 5.1: ',' -> "=2C", '=' -> "=3D".
[[nodiscard]] std::string escape_name(std::string_view name);
}  // namespace scram_detail

}  // namespace moth::auth
