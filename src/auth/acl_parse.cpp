// The acl_file parser. It follows Mosquitto 2.0's aclfile__parse token by token, so that every file Mosquitto
// accepts means the same here and every file it refuses is refused (with the line number, which Mosquitto omits):
// words are separated by spaces only (a tab inside "topic\tread" makes one unknown word, as in Mosquitto), trailing
// white space is dropped, a comment is a line whose first character is '#', and the topic is the rest of the line
// after the access word, trimmed, so it may contain spaces.
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <system_error>

#include "auth/acl.hpp"

namespace moth::auth {
namespace {

constexpr std::size_t kMaxTopic = 65535;  // mosquitto_sub_topic_check; [MQTT-4.7.3-3]

bool is_space(char c) noexcept {
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
    return s;
}

// strtok_r(..., " ", ...): skips spaces, returns the word up to the next space and leaves `rest` after that space.
std::optional<std::string_view> next_word(std::string_view& rest) noexcept {
    const auto start = rest.find_first_not_of(' ');
    if (start == std::string_view::npos) {
        rest = {};
        return std::nullopt;
    }
    rest.remove_prefix(start);
    const auto end = rest.find(' ');
    const auto word = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
    return word;
}

// mosquitto_sub_topic_check: '+' and '#' alone on their level, '#' last, at most 65535 bytes. Like Mosquitto, no
// UTF-8 check: a rule with invalid UTF-8 matches no valid topic name.
const char* filter_error(std::string_view f) noexcept {
    for (std::size_t i = 0; i < f.size(); ++i) {
        const bool starts_level = i == 0 || f[i - 1] == '/';
        const bool ends_level = i + 1 == f.size() || f[i + 1] == '/';
        if (f[i] == '+' && !(starts_level && ends_level)) return "'+' must be a whole level";
        if (f[i] == '#' && !(starts_level && i + 1 == f.size())) return "'#' must be the whole last level";
    }
    if (f.size() > kMaxTopic) return "longer than 65535 bytes";
    return nullptr;
}

// Access bits of an access word (0: deny), as Mosquitto's MOSQ_ACL_READ / MOSQ_ACL_WRITE / MOSQ_ACL_NONE.
std::optional<std::uint8_t> access_of(std::string_view word) noexcept {
    if (word == "read") return std::uint8_t{1};
    if (word == "write") return std::uint8_t{2};
    if (word == "readwrite") return std::uint8_t{3};
    if (word == "deny") return std::uint8_t{0};
    return std::nullopt;
}

std::vector<std::string> split_levels(std::string_view f) {
    std::vector<std::string> levels;
    for (std::size_t pos = 0; pos != topic::kNoLevel;) {
        const auto level = topic::level_at(f, pos);
        levels.emplace_back(level.text);
        pos = level.next;
    }
    return levels;
}

}  // namespace

AclError::AclError(std::string file_name, std::size_t line_number, const std::string& message)
    : std::runtime_error(file_name + (line_number > 0 ? ":" + std::to_string(line_number) : std::string{}) + ": " +
                         message),
      file(std::move(file_name)),
      line(line_number) {}

// Builds an Acl line by line; the friend of Acl that fills its sections.
class AclBuilder {
public:
    explicit AclBuilder(std::string_view name) : name_(name) {}

    void line(std::string_view text, std::size_t number) {
        number_ = number;
        if (text.find('\0') != std::string_view::npos) fail("NUL byte in the line");
        while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
        if (text.empty() || text.front() == '#') return;
        auto rest = text;
        const auto keyword = next_word(rest);
        if (!keyword) return;  // only spaces
        if (*keyword == "topic" || *keyword == "pattern") {
            rule(*keyword == "pattern", rest);
        } else if (*keyword == "user") {
            const auto user = trim(rest);
            if (user.empty()) fail("missing username after 'user'");
            user_ = std::string(user);
        } else {
            fail("unknown keyword \"" + std::string(*keyword) +
                 "\": expected topic, pattern or user (a comment's '#' must be the first character of the line)");
        }
    }

    Acl finish() && { return std::move(acl_); }

private:
    [[noreturn]] void fail(const std::string& message) const { throw AclError(std::string(name_), number_, message); }

    void rule(bool pattern, std::string_view rest) {
        auto access_word = next_word(rest);
        if (!access_word) fail("empty topic");
        std::string_view filter;
        if (rest.empty()) {
            filter = *access_word;  // "topic foo": no access word, readwrite; so "topic read" is the topic "read"
            access_word.reset();
        } else {
            filter = trim(rest);
        }
        std::uint8_t access = 3;  // Access::Read | Access::Write
        if (access_word) {
            const auto parsed = access_of(*access_word);
            if (!parsed) {
                fail("invalid access \"" + std::string(*access_word) + "\": expected read, write, readwrite or deny");
            }
            access = *parsed;
        }
        if (const char* error = filter_error(filter)) fail("invalid topic \"" + std::string(filter) + "\": " + error);
        Acl::Rule r{std::string(filter), split_levels(filter), access, pattern && filter.find("%u") != filter.npos};
        auto& section = pattern ? acl_.patterns_ : user_ ? acl_.users_[*user_] : acl_.anonymous_;
        (access == 0 ? section.denies : section.grants).push_back(std::move(r));
        ++acl_.rules_;
    }

    std::string_view name_;
    std::size_t number_ = 0;
    std::optional<std::string> user_;  // nullopt: still in the anonymous section
    Acl acl_;
};

Acl Acl::parse(std::string_view text, std::string_view name) {
    AclBuilder builder(name);
    std::size_t number = 0;
    while (!text.empty()) {
        const auto end = text.find('\n');
        builder.line(text.substr(0, end), ++number);
        text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
    }
    return std::move(builder).finish();
}

Acl Acl::load(const std::filesystem::path& path) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) throw AclError(path.string(), 0, "is a directory, not a file");
    std::ifstream in(path, std::ios::binary);
    if (!in) throw AclError(path.string(), 0, std::string("cannot open: ") + std::strerror(errno));
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) throw AclError(path.string(), 0, "cannot read");
    return parse(text.str(), path.string());
}

}  // namespace moth::auth
