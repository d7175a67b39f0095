// libFuzzer target for the password file reader (src/auth/password_file.hpp), which reads what operators and
// mosquitto_passwd write. Oracles beyond "does not crash": a file is accepted or refused with a PasswordFileError
// naming a line inside the text (never another exception); every accepted entry has a hash Moth can verify, and
// the file reads the same with CRLF line ends.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "auth/password_file.hpp"

using moth::auth::PasswordFile;
using moth::auth::PasswordFileError;

namespace {

std::size_t count_lines(std::string_view text) {
    std::size_t n = 1;
    for (const char c : text) n += c == '\n' ? 1 : 0;
    return n;
}

// nullopt-like: -1 when refused, else the number of entries.
long parse(std::string_view text) {
    try {
        const PasswordFile file = PasswordFile::parse(text, "fuzz");
        return static_cast<long>(file.size());
    } catch (const PasswordFileError& e) {
        if (e.line() == 0 || e.line() > count_lines(text)) std::abort();
        return -1;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const long entries = parse(text);
    std::string crlf;
    for (const char c : text) {
        if (c == '\n') crlf += '\r';
        crlf += c;
    }
    if (parse(crlf) != entries) std::abort();
    if (entries > 0) {
        // Every line that was accepted names a user with a usable hash.
        std::string_view rest = text;
        const PasswordFile file = PasswordFile::parse(text, "fuzz");
        while (!rest.empty()) {
            const auto end = rest.find('\n');
            const auto line = moth::auth::split_password_line(rest.substr(0, end));
            rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
            if (line.kind != moth::auth::PasswordLine::Kind::Entry) continue;
            const std::string* hash = file.hash_of(line.user);
            if (hash == nullptr || *hash != line.secret || !moth::auth::hash_kind(*hash)) std::abort();
        }
    }
    return 0;
}
