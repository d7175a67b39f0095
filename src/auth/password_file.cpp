// Reading Mosquitto's password file; the rules and where Moth differs are in password_file.hpp.
#include "auth/password_file.hpp"

#include <fstream>
#include <sstream>
#include <string>

namespace moth::auth {
namespace {

// Mosquitto trims with isspace() in the C locale.
bool is_blank(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
    return s;
}

bool has_control_character(std::string_view s) {
    for (const char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f) return true;
    }
    return false;
}

PasswordLine bad(std::string_view problem) {
    return {PasswordLine::Kind::Bad, {}, {}, problem};
}

std::string hash_problem(std::string_view encoded) {
    const bool known = encoded.starts_with("$6$") || encoded.starts_with("$7$") ||
                       encoded.starts_with("$argon2id$") || encoded.starts_with("$scram-sha-256$");
    if (known) return "malformed password hash (a field does not decode or is out of range)";
    return "unknown password hash scheme (expected $6$, $7$, $argon2id$ or $scram-sha-256$; a plain-text password? "
           "'moth passwd -U FILE' hashes them)";
}

}  // namespace

PasswordFileError::PasswordFileError(std::string_view file, std::size_t line, std::string_view message)
    : std::runtime_error(std::string(file) + ":" + std::to_string(line) + ": " + std::string(message)), line_(line) {}

PasswordLine split_password_line(std::string_view line) {
    const std::string_view text = trim(line);
    if (text.empty() || text.front() == '#') return {};
    const auto colon = text.find(':');
    if (colon == std::string_view::npos) return bad("no ':' between user name and password hash");
    const std::string_view user = trim(text.substr(0, colon));
    const std::string_view secret = trim(text.substr(colon + 1));
    if (user.empty()) return bad("empty user name");
    if (user.size() > kMaxNameLength) return bad("user name longer than 65535 bytes");
    if (has_control_character(user)) return bad("control character in user name");
    if (secret.empty()) return bad("empty password hash");
    if (secret.size() > kMaxNameLength) return bad("password hash longer than 65535 bytes");
    if (secret.find(':') != std::string_view::npos) return bad("more than one ':' (a user name cannot contain ':')");
    return {PasswordLine::Kind::Entry, user, secret, {}};
}

PasswordFile PasswordFile::parse(std::string_view text, std::string_view name) {
    PasswordFile file;
    std::size_t number = 0;
    while (!text.empty()) {
        const auto end = text.find('\n');
        const std::string_view line = text.substr(0, end);
        text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
        ++number;
        if (line.find('\0') != std::string_view::npos) throw PasswordFileError(name, number, "NUL byte in line");
        const PasswordLine parsed = split_password_line(line);
        if (parsed.kind == PasswordLine::Kind::Skip) continue;
        if (parsed.kind == PasswordLine::Kind::Bad) throw PasswordFileError(name, number, parsed.problem);
        if (!hash_kind(parsed.secret)) {
            throw PasswordFileError(name, number,
                                    "user '" + std::string(parsed.user) + "': " + hash_problem(parsed.secret));
        }
        const auto [it, added] = file.hashes_.emplace(std::string(parsed.user), std::string(parsed.secret));
        if (!added) throw PasswordFileError(name, number, "user '" + it->first + "' is listed twice");
    }
    return file;
}

PasswordFile PasswordFile::load(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw PasswordFileError(path.string(), 0, "cannot open the password file");
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) throw PasswordFileError(path.string(), 0, "cannot read the password file");
    return parse(text.str(), path.string());
}

const std::string* PasswordFile::hash_of(std::string_view user) const {
    const auto it = hashes_.find(user);
    return it == hashes_.end() ? nullptr : &it->second;
}

std::optional<ScramCredential> PasswordFile::scram_of(std::string_view user) const {
    const std::string* hash = hash_of(user);
    return hash == nullptr ? std::nullopt : scram_decode(*hash);
}

}  // namespace moth::auth
