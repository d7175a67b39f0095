// libFuzzer target for the cluster's topic <-> NATS subject naming (src/cluster/subject.hpp). The input is a topic
// name (and, read as a filter, a topic filter).
//
// Oracles beyond "does not crash" (ASan/UBSan):
//   - topic_from_subject(topic_subject(t)) == t unless t travels on the long subject;
//   - every token of a topic's subject is free of '.', whitespace, control bytes, '*' and '>';
//   - a filter's tokens are either the wildcards "*" / ">" ('>' last only) or free of them, and fit kMaxSubject;
//   - a retained key uses only KV key characters and fits; an "r." key decodes back to the topic.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "cluster/subject.hpp"

using namespace moth::cluster;

namespace {

[[noreturn]] void fail() { std::abort(); }

bool plain_token(std::string_view tok) {
    if (tok.empty()) return false;
    for (const char ch : tok) {
        const auto c = static_cast<unsigned char>(ch);
        if (c <= 0x20 || c == 0x7F || c == '.' || c == '*' || c == '>') return false;
    }
    return true;
}

// Calls f on each token after the first `skip`.
template <typename F>
void tokens(std::string_view s, std::size_t skip, F f) {
    std::size_t i = 0;
    while (true) {
        const auto dot = s.find('.');
        if (i++ >= skip) f(s.substr(0, dot), dot == std::string_view::npos);
        if (dot == std::string_view::npos) return;
        s.remove_prefix(dot + 1);
    }
}

void check_topic(const std::string& t) {
    const auto s = topic_subject("moth", "q1", t);
    if (s.size() > kMaxSubject) fail();
    if (s == long_subject("moth", "q1")) return;
    if (topic_from_subject(s, 2) != t) fail();
    tokens(s, 2, [](std::string_view tok, bool) {
        if (!plain_token(tok)) fail();
    });
}

void check_filter(const std::string& f) {
    for (const auto& s : filter_subjects("moth", "q0", f)) {
        if (s.size() > kMaxSubject) fail();
        tokens(s, 2, [](std::string_view tok, bool last) {
            if (tok == "*" || (tok == ">" && last)) return;
            if (!plain_token(tok)) fail();
        });
    }
}

void check_key(const std::string& t) {
    const auto key = retained_key(t);
    if (key.size() > kMaxRetainedKey) fail();
    for (const char c : key) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                        c == '/' || c == '_' || c == '=' || c == '.';
        if (!ok) fail();
    }
    if (key.starts_with("r.") && topic_from_retained_key(key) != t) fail();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string in(reinterpret_cast<const char*>(data), size);
    check_topic(in);
    check_filter(in);
    check_key(in);
    (void)topic_from_subject(in, 0);  // arbitrary subjects must be refused or read, never crash
    return 0;
}
