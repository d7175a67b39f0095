// libFuzzer target for the acl_file parser (src/auth/acl.hpp). Oracles beyond "does not crash": an error is
// "fuzz.acl:<line>: message" with a line inside the text; a file that parses answers allows and may_subscribe for a
// few fixed clients and topics, and may_subscribe never refuses a filter that is a topic the client may read.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "auth/acl.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using moth::auth::Access;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    std::optional<moth::auth::Acl> acl;
    try {
        acl.emplace(moth::auth::Acl::parse(text, "fuzz.acl"));
    } catch (const moth::auth::AclError& e) {
        std::size_t lines = 1;
        for (const char c : text) lines += c == '\n' ? 1 : 0;
        const std::string what = e.what();
        if (e.file != "fuzz.acl" || e.line == 0 || e.line > lines || what.rfind("fuzz.acl:", 0) != 0) std::abort();
        return 0;
    }
    const moth::auth::AclSubject subjects[] = {
        {"dev1", std::nullopt}, {"c/1", "alice"}, {"c1", "bob"}, {"c+", "u"}, {"", ""}};
    const std::string_view topics[] = {"a/b", "students/alice/x", "$SYS/broker/version", "devices/dev1/cmd", "/", "a"};
    for (const auto& s : subjects) {
        for (const auto t : topics) {
            const bool read = acl->allows(s, t, Access::Read);
            (void)acl->allows(s, t, Access::Write);
            if (read && !acl->may_subscribe(s, t)) std::abort();
        }
        (void)acl->may_subscribe(s, "#");
        (void)acl->may_subscribe(s, "+/+/#");
    }
    return 0;
}
