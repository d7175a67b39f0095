// `moth passwd`, after mosquitto_passwd 2.0 (apps/mosquitto_passwd in eclipse/mosquitto): the same flags, usage
// rules, messages and exit codes, so scripts switch by changing the command name. Differences, each on purpose:
//   - argon2id is the default hash (-H sha512-pbkdf2 writes what Mosquitto reads; -H sha512 is accepted too;
//     -H scram-sha-256 writes SCRAM-SHA-256 credentials for MQTT 5.0 enhanced authentication, which Mosquitto
//     cannot read);
//   - the file is replaced atomically (a temporary file in the same directory, then rename) with its mode and,
//     where allowed, its owner kept, instead of rewritten in place with a backup copy; -c creates it 0600;
//   - comments and blank lines survive every edit (mosquitto_passwd 2.0 calls them a corrupt file);
//   - -U leaves entries that are already hashed alone, so running it twice does not hash a hash;
//   - --check FILE USER [PASSWORD] exits 0 when the password is right, 1 otherwise (prompts when PASSWORD is left
//     out, so it stays out of the shell history).
#include "passwd.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

#include "auth/password_file.hpp"

namespace moth::cli {
namespace {

namespace fs = std::filesystem;
using auth::HashKind;

constexpr std::string_view kUsage =
    "moth passwd is a tool for managing password files for mothd (and mosquitto: the format is the same).\n\n"
    "Usage: moth passwd [-H hash] [-I iterations] [-c | -D] passwordfile username\n"
    "       moth passwd [-H hash] [-I iterations] [-c] -b passwordfile username password\n"
    "       moth passwd [-H hash] [-I iterations] -U passwordfile\n"
    "       moth passwd --check passwordfile username [password]\n"
    " -b : run in batch mode to allow passing passwords on the command line.\n"
    " -c : create a new password file. This will overwrite existing files.\n"
    " -D : delete the username rather than adding/updating its password.\n"
    " -H : specify the hashing algorithm: argon2id (the default, recommended), sha512-pbkdf2 (entries that\n"
    "      mosquitto can read too; sha512: mosquitto 1.6 and earlier) or scram-sha-256 (for MQTT 5.0 clients that\n"
    "      log in with SCRAM-SHA-256, e.g. moth pub --auth-method scram-sha-256; plain passwords work too).\n"
    " -I : iterations for -H sha512-pbkdf2 (default 101, as mosquitto_passwd) and -H scram-sha-256\n"
    "      (default 4096, at least 4096).\n"
    " -U : update a plain text password file to use hashed passwords.\n"
    " --check : exit 0 if the password is right for username in passwordfile, 1 if not.\n"
    "\nSee docs/security.md (\"Passwords\") for more information.\n";

constexpr std::size_t kMaxLength = 65'535;

enum class Mode { Set, Create, Delete, Upgrade, Check };

struct Args {
    Mode mode = Mode::Set;
    bool batch = false;
    HashKind kind = HashKind::Argon2id;
    std::optional<int> iterations;  // none: the hash's default
    std::string file;
    std::string user;
    std::optional<std::string> password;
};

int usage() {
    std::fputs(kUsage.data(), stdout);
    return 1;
}

int fail(const std::string& message) {
    std::fprintf(stderr, "%s\n", message.c_str());
    return 1;
}

// The flags before the first other word, as mosquitto_passwd reads them. nullopt: parsed; else the exit code.
std::optional<int> parse_flags(const std::vector<std::string>& a, std::size_t& i, Args& out, bool& create, bool& erase,
                               bool& upgrade) {
    for (; i < a.size(); ++i) {
        const std::string& w = a[i];
        if (w == "-H" || w == "-I") {
            if (i + 1 == a.size()) return fail("Error: " + w + " argument given but not enough other arguments.");
            const std::string& v = a[++i];
            if (w == "-I") {
                out.iterations = std::atoi(v.c_str());
                if (*out.iterations < 1) return fail("Error: Number of iterations must be > 0.");
                if (*out.iterations > auth::kPbkdf2MaxIterations) return fail("Error: Too many iterations.");
            } else if (v == "argon2id") {
                out.kind = HashKind::Argon2id;
            } else if (v == "sha512-pbkdf2") {
                out.kind = HashKind::Sha512Pbkdf2;
            } else if (v == "sha512") {
                out.kind = HashKind::Sha512;
            } else if (v == "scram-sha-256") {
                out.kind = HashKind::ScramSha256;
            } else {
                return fail("Error: Unknown hash type '" + v + "'");
            }
        } else if (w == "-b") {
            out.batch = true;
        } else if (w == "-c") {
            create = true;
        } else if (w == "-D") {
            erase = true;
        } else if (w == "-U") {
            upgrade = true;
        } else {
            break;
        }
    }
    return std::nullopt;
}

std::optional<int> parse_args(const std::vector<std::string>& a, Args& out) {
    if (a.empty() || a[0] == "--help" || a[0] == "-h") return usage();
    if (a[0] == "--check") {
        if (a.size() != 3 && a.size() != 4) return usage();
        out.mode = Mode::Check;
        out.file = a[1];
        out.user = a[2];
        if (a.size() == 4) out.password = a[3];
        return std::nullopt;
    }
    std::size_t i = 0;
    bool create = false, erase = false, upgrade = false;
    if (auto rc = parse_flags(a, i, out, create, erase, upgrade)) return rc;
    if (out.kind == HashKind::ScramSha256 && out.iterations && *out.iterations < int(auth::kScramMinIterations)) {
        return fail("Error: -H scram-sha-256 needs at least 4096 iterations (RFC 7677).");
    }
    if (create && erase) return fail("Error: -c and -D cannot be used together.");
    if (create && upgrade) return fail("Error: -c and -U cannot be used together.");
    if (erase && upgrade) return fail("Error: -D and -U cannot be used together.");
    if (erase && out.batch) return fail("Error: -b and -D cannot be used together.");
    const std::size_t left = a.size() - i;
    if (create) {
        out.mode = Mode::Create;
        if (out.batch && left < 3) {
            return fail("Error: -c argument given but password file, username, or password missing.");
        }
        if (!out.batch && left < 2) return fail("Error: -c argument given but password file or username missing.");
    } else if (erase) {
        out.mode = Mode::Delete;
        if (left < 2) return fail("Error: -D argument given but password file or username missing.");
    } else if (upgrade) {
        out.mode = Mode::Upgrade;
        if (left != 1) return fail("Error: -U argument given but password file missing.");
    } else if (left != (out.batch ? 3u : 2u)) {
        return usage();
    }
    out.file = a[i];
    if (out.mode != Mode::Upgrade) out.user = a[i + 1];
    if (out.batch) out.password = a[i + 2];
    return std::nullopt;
}

std::optional<int> check_names(const Args& args) {
    if (args.user.size() > kMaxLength) return fail("Error: Username must be less than 65536 characters long.");
    for (const char c : args.user) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f) return fail("Error: Username must not contain control characters.");
    }
    if (args.user.find(':') != std::string::npos) {
        return fail("Error: Username must not contain the ':' character.");
    }
    if (args.password && args.password->size() > kMaxLength) {
        return fail("Error: Password must be less than 65536 characters long.");
    }
    return std::nullopt;
}

// --- the terminal ---------------------------------------------------------------------------------------------

struct termios g_saved_termios;
volatile std::sig_atomic_t g_echo_off = 0;

void restore_terminal_and_exit(int) {
    if (g_echo_off != 0) ::tcsetattr(STDIN_FILENO, TCSANOW, &g_saved_termios);
    ::_exit(0);  // what mosquitto_passwd does on SIGINT / SIGTERM
}

// Prints `prompt`, reads one line from standard input without echo when it is a terminal. Echo goes off before the
// prompt appears, so that a password typed (or pasted) the moment the prompt shows is never echoed.
std::string read_hidden(const char* prompt) {
    const bool tty = ::isatty(STDIN_FILENO) != 0 && ::tcgetattr(STDIN_FILENO, &g_saved_termios) == 0;
    if (tty) {
        struct termios quiet = g_saved_termios;
        quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        g_echo_off = 1;
        ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
    }
    std::fputs(prompt, stdout);
    std::fflush(stdout);
    std::string line;
    std::getline(std::cin, line);
    if (tty) {
        ::tcsetattr(STDIN_FILENO, TCSANOW, &g_saved_termios);
        g_echo_off = 0;
    }
    std::fputs("\n", stdout);
    return line;
}

// mosquitto_passwd's get_password(): twice, both non-empty and equal. nullopt: the exit code is in `rc`.
std::optional<std::string> prompt_password(bool twice, int& rc) {
    std::signal(SIGINT, restore_terminal_and_exit);
    std::signal(SIGTERM, restore_terminal_and_exit);
    std::string first = read_hidden("Password: ");
    if (first.empty()) {
        rc = fail("Error: Empty password.");
        return std::nullopt;
    }
    if (!twice) return first;
    const std::string second = read_hidden("Reenter password: ");
    if (second.empty()) {
        rc = fail("Error: Empty password.");
        return std::nullopt;
    }
    if (first != second) {
        std::fputs("Error: Passwords do not match.\n", stderr);
        rc = 2;  // as mosquitto_passwd 2.0.11 exits
        return std::nullopt;
    }
    return first;
}

// --- the file -------------------------------------------------------------------------------------------------

// Replaces `path` by `text` atomically: readers (a reloading mothd) see the old file or the new one, never half.
// `like`: the old file's status, whose mode and owner the new one keeps; none: a new file, mode 0600.
int write_atomically(const fs::path& path, const std::string& text, const std::optional<struct stat>& like) {
    std::string temp = path.string() + ".tmp.XXXXXX";
    const int fd = ::mkstemp(temp.data());
    if (fd < 0)
        return fail("Error: Unable to open file " + path.string() + " for writing. " + std::strerror(errno) + ".");
    bool ok = ::fchmod(fd, like ? (like->st_mode & 07777) : 0600) == 0;
    if (ok && like && (like->st_uid != ::geteuid() || like->st_gid != ::getegid())) {
        (void)::fchown(fd, like->st_uid, like->st_gid);  // root editing mosquitto's file keeps it mosquitto's
    }
    for (std::size_t done = 0; ok && done < text.size();) {
        const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        ok = n > 0;
        if (ok) done += static_cast<std::size_t>(n);
    }
    ok = ok && ::fsync(fd) == 0;
    const int saved = errno;
    ok = (::close(fd) == 0) && ok;
    if (ok && ::rename(temp.c_str(), path.c_str()) == 0) return 0;
    const int err = ok ? errno : saved;
    ::unlink(temp.c_str());
    return fail("Error: Unable to write password file " + path.string() + ". " + std::strerror(err) + ".");
}

// The file's text and status; nullopt after printing mosquitto_passwd's message.
std::optional<std::string> read_existing(const fs::path& path, struct stat& status) {
    std::ifstream in(path, std::ios::binary);
    if (!in || ::stat(path.c_str(), &status) != 0) {
        const int err = errno;
        std::fprintf(stderr, "Error: Unable to open password file %s. %s.\n", path.c_str(), std::strerror(err));
        return std::nullopt;
    }
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// Follows a symbolic link, so that the link stays and the file it names is replaced (mosquitto_passwd: realpath).
fs::path resolve(const std::string& file) {
    std::error_code ec;
    const fs::path canonical = fs::canonical(file, ec);
    return ec ? fs::path(file) : canonical;
}

// Rewrites the lines of an existing file for -b/prompt (Set), -D and -U; keeps comments and blank lines.
int edit_file(const Args& args, const std::optional<std::string>& password) {
    const fs::path path = resolve(args.file);
    struct stat status {};
    const auto text = read_existing(path, status);
    if (!text) return 1;
    std::string out;
    bool found = false;
    std::size_t number = 0;
    std::string_view rest = *text;
    while (!rest.empty()) {
        const auto end = rest.find('\n');
        const std::string_view line = rest.substr(0, end);
        rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
        ++number;
        const auth::PasswordLine parsed = auth::split_password_line(line);
        if (parsed.kind == auth::PasswordLine::Kind::Bad) {
            return fail("Error: Corrupt password file at line " + std::to_string(number) + ".");
        }
        std::string replacement(line);
        if (parsed.kind == auth::PasswordLine::Kind::Entry) {
            const bool match = parsed.user == args.user;
            if (args.mode == Mode::Upgrade && !auth::hash_kind(parsed.secret)) {
                replacement =
                    std::string(parsed.user) + ":" + auth::hash_password(parsed.secret, args.kind, args.iterations);
            } else if (match && args.mode == Mode::Delete) {
                found = true;
                continue;
            } else if (match && args.mode == Mode::Set) {
                if (found) continue;  // a second line for the same user would make the file invalid
                found = true;
                replacement = args.user + ":" + auth::hash_password(*password, args.kind, args.iterations);
            }
        }
        out += replacement;
        out += '\n';
    }
    if (args.mode == Mode::Delete && !found) {
        return fail("Warning: User " + args.user + " not found in password file.");
    }
    if (args.mode == Mode::Set && !found) {
        out += args.user + ":" + auth::hash_password(*password, args.kind, args.iterations) + "\n";
    }
    return write_atomically(path, out, status);
}

int check(const Args& args) {
    std::optional<std::string> password = args.password;
    if (!password) {
        int rc = 0;
        password = prompt_password(false, rc);
        if (!password) return rc;
    }
    try {
        const auth::PasswordFile file = auth::PasswordFile::load(args.file);
        const std::string* hash = file.hash_of(args.user);
        if (hash == nullptr) return fail("User " + args.user + " not found in password file.");
        if (!auth::verify_password(*hash, *password)) return fail("Password does not match.");
        return 0;
    } catch (const auth::PasswordFileError& e) {
        return fail(std::string("Error: ") + e.what());
    }
}

}  // namespace

int run_passwd(const std::vector<std::string>& words) {
    Args args;
    if (auto rc = parse_args(words, args)) return *rc;
    if (auto rc = check_names(args)) return *rc;
    if (args.mode == Mode::Check) return check(args);
    try {
        std::optional<std::string> password = args.password;
        if (!password && (args.mode == Mode::Set || args.mode == Mode::Create)) {
            if (args.mode == Mode::Set && !fs::exists(resolve(args.file))) {
                // mosquitto_passwd opens the file before it asks for the password.
                return fail("Error: Unable to open password file " + args.file + ". " + std::strerror(ENOENT) + ".");
            }
            int rc = 0;
            password = prompt_password(true, rc);
            if (!password) return rc;
        }
        if (args.mode == Mode::Create) {
            const std::string line = args.user + ":" + auth::hash_password(*password, args.kind, args.iterations);
            return write_atomically(resolve(args.file), line + "\n", std::nullopt);
        }
        return edit_file(args, password);
    } catch (const std::exception& e) {
        return fail(std::string("Error: Unable to hash password. ") + e.what());
    }
}

}  // namespace moth::cli
