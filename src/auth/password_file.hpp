#pragma once
// Mosquitto's password file, read as-is, and the password hashes it holds.
//
// Format (as Mosquitto 2.0's broker reads it, src/security_default.c pwfile__parse): one `username:hash` per line;
// leading and trailing whitespace (CR included) around the name and the hash is ignored; a line starting with `#`
// is a comment; blank lines are ignored. No line length limit; names and hashes up to 65,535 bytes (MQTT's string
// limit). A name cannot contain ':' (the first ':' ends it).
//
// Where Moth is stricter than Mosquitto, on purpose, because a file the broker half-reads locks people out without
// telling anyone: Mosquitto logs a notice and skips (or drops the entry of) each of the following, Moth refuses
// the whole file with `file:line: message`, so a reload keeps the running rules and says why:
//   - a line with text but no ':' (Mosquitto: skipped silently);
//   - an empty name or an empty hash (Mosquitto: skipped; strtok even turns "::x" into user "x");
//   - a second ':' after the hash (Mosquitto: the rest is ignored);
//   - a hash that is not `$6$`, `$7$`, `$argon2id$` or `$scram-sha-256$`, or one of those that does not decode
//     (Mosquitto: entry dropped, user cannot log in); a plain-text password is this case: `moth passwd -U` hashes
//     them;
//   - a user listed twice (Mosquitto: both are stored and which one wins depends on its hash table; mosquitto_passwd
//     never writes one).
// Moth's own addition: `$scram-sha-256$` entries (auth/scram.hpp, written by `moth passwd -H scram-sha-256`), the
// credential of SCRAM-SHA-256 enhanced authentication; such a user may also log in with a plain CONNECT password.
// Mosquitto refuses these entries (its user cannot log in there).
// Also: a comment may be indented (Mosquitto needs `#` in column 0; an indented `#x:y` would be user "#x" there).
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>

#include "auth/scram.hpp"

namespace moth::auth {

// A password file that cannot be used. what() is "file:line: message"; line 0 is about the whole file.
struct PasswordFileError : std::runtime_error {
    PasswordFileError(std::string_view file, std::size_t line, std::string_view message);
    [[nodiscard]] std::size_t line() const noexcept { return line_; }

private:
    std::size_t line_;
};

enum class HashKind {
    Sha512Pbkdf2,  // $7$iterations$salt$hash: PBKDF2-HMAC-SHA512, what mosquitto_passwd writes by default
    Sha512,        // $6$salt$hash: one SHA-512 of password + salt (mosquitto 1.x); read, written only on request
    Argon2id,      // $argon2id$v=19$m=..,t=..,p=..$salt$hash (PHC string): what `moth passwd` writes by default
    ScramSha256,   // $scram-sha-256$iterations$salt$StoredKey$ServerKey (auth/scram.hpp): SCRAM and plain passwords
};

// mosquitto_passwd 2.0's PW_DEFAULT_ITERATIONS (Debian 12's mosquitto 2.0.11 writes `$7$101$`). Low, which is why
// Moth writes argon2id unless asked for Mosquitto-readable entries.
inline constexpr int kPbkdf2DefaultIterations = 101;
// argon2id costs of new hashes: RFC 9106's second recommended option (t=3, 64 MiB) with one lane. One lane because
// the verify pool already runs several hashes side by side, and a hash that keeps to its thread makes the pool's
// size the whole CPU budget. About 0.1-0.2 s per hash on a current core: slow on purpose, off the workers.
inline constexpr std::uint32_t kArgon2TimeCost = 3;
inline constexpr std::uint32_t kArgon2MemoryKiB = 64 * 1024;
inline constexpr std::uint32_t kArgon2Lanes = 1;
// Upper bounds on what an entry may ask for, so that one typo in a file cannot make every verification allocate
// gigabytes or run for minutes: argon2id m up to 1 GiB, t up to 64, p up to 16; PBKDF2 up to 10 million rounds.
inline constexpr std::uint32_t kArgon2MaxMemoryKiB = 1024 * 1024;
inline constexpr std::uint32_t kArgon2MaxTimeCost = 64;
inline constexpr std::uint32_t kArgon2MaxLanes = 16;
inline constexpr int kPbkdf2MaxIterations = 10'000'000;

inline constexpr std::size_t kMaxNameLength = 65'535;

// The scheme of an encoded hash when it is one Moth can verify and it is well formed (the numbers in range, salt
// and hash decode); nullopt otherwise.
[[nodiscard]] std::optional<HashKind> hash_kind(std::string_view encoded);

// True when `password` matches `encoded`. Unknown scheme or malformed encoding: false. Compares in constant time.
// Slow by design (PBKDF2, argon2id): call it off the network threads (VerifyPool). Thread-safe.
[[nodiscard]] bool verify_password(std::string_view encoded, std::string_view password);

// A new encoded hash with a fresh random salt. `iterations` is used by Sha512Pbkdf2 (default
// kPbkdf2DefaultIterations, 1..kPbkdf2MaxIterations) and ScramSha256 (default kScramDefaultIterations,
// kScramMinIterations..kScramMaxIterations); out of range: std::invalid_argument.
// Throws std::runtime_error when the system's random generator or the hash library fails.
[[nodiscard]] std::string hash_password(std::string_view password, HashKind kind,
                                        std::optional<int> iterations = std::nullopt);

// One line of a password file, split as described above but without judging the hash (what `moth passwd` needs to
// rewrite a file it does not fully understand, plain-text passwords included).
struct PasswordLine {
    enum class Kind { Skip, Entry, Bad };  // Skip: blank or comment
    Kind kind = Kind::Skip;
    std::string_view user;
    std::string_view secret;
    std::string_view problem;  // for Bad
};
[[nodiscard]] PasswordLine split_password_line(std::string_view line);

class PasswordFile {
public:
    // Throws PasswordFileError (line 0 when the file cannot be read).
    [[nodiscard]] static PasswordFile load(const std::filesystem::path& path);
    // `name` is what errors call the text (usually its path). Throws PasswordFileError.
    [[nodiscard]] static PasswordFile parse(std::string_view text, std::string_view name);

    // The encoded hash of `user`, nullptr when the file does not list them. Valid while this object lives.
    [[nodiscard]] const std::string* hash_of(std::string_view user) const;
    [[nodiscard]] std::size_t size() const noexcept { return hashes_.size(); }
    // The SCRAM-SHA-256 credential of `user`; nullopt when the file does not list them or their entry is another
    // kind of hash (they cannot use SCRAM: the server never sees their password).
    [[nodiscard]] std::optional<ScramCredential> scram_of(std::string_view user) const;

private:
    struct Hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
    };
    std::unordered_map<std::string, std::string, Hash, std::equal_to<>> hashes_;
};

}  // namespace moth::auth
