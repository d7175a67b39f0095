#include "cluster/subject.hpp"

#include <openssl/evp.h>

#include "common/base64.hpp"

namespace moth::cluster {
namespace {

constexpr char kHex[] = "0123456789ABCDEF";
constexpr char kLowerHex[] = "0123456789abcdef";

bool needs_escape(unsigned char c) {
    return c <= 0x20 || c == 0x7F || c == '.' || c == '*' || c == '>' || c == '~';
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;  // lower case is never written, so never read: one spelling per topic
}

// Appends the tokens of `text` split at '/', each mapped by `token`.
template <typename F>
void append_levels(std::string& out, std::string_view text, F token) {
    std::size_t start = 0;
    while (true) {
        const auto slash = text.find('/', start);
        out += '.';
        out += token(text.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
        if (slash == std::string_view::npos) return;
        start = slash + 1;
    }
}

std::string head(std::string_view prefix, std::string_view kind) {
    std::string s;
    s.reserve(prefix.size() + kind.size() + 1);
    s.append(prefix).append(".").append(kind);
    return s;
}

std::string filter_token(std::string_view level) {
    if (level == "+") return "*";
    if (level == "#") return ">";
    return topic_token(level);
}

// One token back to its level; nullopt when it is not one topic_token() writes.
std::optional<std::string> level_of(std::string_view token) {
    if (token == "~") return std::string{};
    if (token.empty()) return std::nullopt;
    std::string level;
    for (std::size_t i = 0; i < token.size(); ++i) {
        const auto c = static_cast<unsigned char>(token[i]);
        if (c != '~') {
            if (needs_escape(c)) return std::nullopt;
            level += token[i];
            continue;
        }
        if (i + 2 >= token.size()) return std::nullopt;  // '~' needs two digits after it
        const int hi = hex_value(token[i + 1]), lo = hex_value(token[i + 2]);
        if (hi < 0 || lo < 0) return std::nullopt;
        const auto b = static_cast<unsigned char>(hi * 16 + lo);
        if (!needs_escape(b)) return std::nullopt;  // escaped without need: not our spelling
        level += static_cast<char>(b);
        i += 2;
    }
    return level;
}

}  // namespace

std::string base64url(std::string_view bytes) {
    std::string s = common::base64_encode(bytes);
    while (!s.empty() && s.back() == '=') s.pop_back();
    for (auto& c : s) {
        if (c == '+') c = '-';
        else if (c == '/') c = '_';
    }
    return s;
}

std::string sha256_hex(std::string_view bytes) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(bytes.data(), bytes.size(), digest, &n, EVP_sha256(), nullptr);
    std::string s;
    for (unsigned int i = 0; i < n; ++i) {
        s += kLowerHex[digest[i] >> 4];
        s += kLowerHex[digest[i] & 0xF];
    }
    return s;
}

std::string topic_token(std::string_view level) {
    if (level.empty()) return "~";
    std::string out;
    out.reserve(level.size());
    for (const char ch : level) {
        const auto c = static_cast<unsigned char>(ch);
        if (needs_escape(c)) {
            out += '~';
            out += kHex[c >> 4];
            out += kHex[c & 0xF];
        } else {
            out += ch;
        }
    }
    return out;
}

std::string long_subject(std::string_view prefix, std::string_view kind) { return head(prefix, kind) + ".~long"; }

std::string topic_subject(std::string_view prefix, std::string_view kind, std::string_view topic) {
    std::string s = head(prefix, kind);
    append_levels(s, topic, topic_token);
    if (s.size() > kMaxSubject) return long_subject(prefix, kind);
    return s;
}

std::vector<std::string> filter_subjects(std::string_view prefix, std::string_view kind, std::string_view filter) {
    std::vector<std::string> out;
    std::string s = head(prefix, kind);
    append_levels(s, filter, filter_token);
    // Only a last '#' is a wildcard (MQTT-4.7.1-1); elsewhere (a filter nobody validated) it stays a plain byte.
    for (auto at = s.find(".>."); at != std::string::npos; at = s.find(".>.", at + 1)) s[at + 1] = '#';
    if (s.size() > kMaxSubject) return {long_subject(prefix, kind)};
    // "a/#" also matches "a" (MQTT 4.7.1.2); "#" alone matches every topic, which "<prefix>.<kind>.>" covers.
    if (filter.size() >= 2 && filter.substr(filter.size() - 2) == "/#") {
        out.push_back(s);
        s.resize(s.size() - 2);
        out.push_back(std::move(s));
        return out;
    }
    out.push_back(std::move(s));
    return out;
}

std::optional<std::string> topic_from_subject(std::string_view subject, std::size_t skip_tokens) {
    for (std::size_t i = 0; i < skip_tokens; ++i) {
        const auto dot = subject.find('.');
        if (dot == std::string_view::npos) return std::nullopt;
        subject.remove_prefix(dot + 1);
    }
    std::string topic;
    bool first = true;
    while (true) {
        const auto dot = subject.find('.');
        auto level = level_of(subject.substr(0, dot));
        if (!level) return std::nullopt;
        if (!first) topic += '/';
        topic += *level;
        first = false;
        if (dot == std::string_view::npos) return topic;
        subject.remove_prefix(dot + 1);
    }
}

std::string retained_key(std::string_view topic) {
    std::string key = "r." + base64url(topic);
    if (key.size() > kMaxRetainedKey) return "h." + sha256_hex(topic);
    return key;
}

std::optional<std::string> topic_from_retained_key(std::string_view key) {
    if (key.substr(0, 2) != "r.") return std::nullopt;
    key.remove_prefix(2);
    for (const char c : key) {
        if (c == '+' || c == '/' || c == '=') return std::nullopt;  // only base64url without padding is written
    }
    return common::base64_decode(key);
}

std::uint64_t fnv1a64(std::string_view bytes) {
    std::uint64_t h = 14695981039346656037ULL;
    for (const char c : bytes) {
        h ^= static_cast<unsigned char>(c);
        h *= 1099511628211ULL;
    }
    return h;
}

std::string hex16(std::uint64_t v) {
    std::string s(16, '0');
    for (int i = 15; i >= 0; --i, v >>= 4) s[static_cast<std::size_t>(i)] = kLowerHex[v & 0xF];
    return s;
}

std::vector<std::string> carried_subjects(std::string_view prefix, std::string_view kind, std::string_view filter) {
    auto subjects = filter_subjects(prefix, kind, filter);
    const auto long_subj = long_subject(prefix, kind);
    if (subjects.size() != 1 || subjects[0] != long_subj) subjects.push_back(long_subj);
    return subjects;
}

}  // namespace moth::cluster
