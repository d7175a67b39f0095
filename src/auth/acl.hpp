#pragma once
// Mosquitto's acl_file, read as-is (docs/acl.md): who may publish to (write) and receive from (read) which topics.
//
//   # comment (only in the first column)      user <username>          (starts that user's section)
//   topic [read|write|readwrite|deny] <filter>  pattern [read|write|readwrite|deny] <filter with %c / %u>
//
// Lines before the first `user` line form the anonymous section (clients without a username); patterns apply to
// every client, %c standing for its client id and %u for its username. The answers are those of Mosquitto 2.0
// (src/security_default.c mosquitto_acl_check_default and security.c acl__check_dollar), asserted against
// Debian's mosquitto by test/interop/test_acl_mosquitto.py.
//
// An Acl is immutable once built: every const member may be called from any thread at the same time.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "topic/levels.hpp"

namespace moth::auth {

// A file that cannot be read or has an error. what() is "file:line: message"; line 0 (a file that cannot be read)
// gives "file: message".
struct AclError : std::runtime_error {
    AclError(std::string file, std::size_t line, const std::string& message);
    std::string file;
    std::size_t line;
};

// Who asks. The views must stay valid for the duration of the call only.
struct AclSubject {
    std::string_view client_id;
    std::optional<std::string_view> username;  // nullopt: connected without a username (anonymous)
};

// Values as Mosquitto's MOSQ_ACL_READ / MOSQ_ACL_WRITE. SUBSCRIBE is asked through Acl::may_subscribe.
enum class Access : std::uint8_t { Read = 1, Write = 2 };

class Acl {
public:
    // Throws AclError (unreadable file, or the first error in it, with its line number).
    [[nodiscard]] static Acl load(const std::filesystem::path& path);
    // `name` is the file name used in error messages.
    [[nodiscard]] static Acl parse(std::string_view text, std::string_view name);

    // Mosquitto's answer for a PUBLISH (Write) or a delivery (Read) of `topic`, a valid topic name. Besides the
    // file's rules, as Mosquitto: writing to "$SYS..." is refused (except "$SYS/broker/connection/+/state",
    // which the file must still allow), and reading or writing "$share..." is refused. No allocation unless the
    // client id or username contains '/' and a pattern names it.
    [[nodiscard]] bool allows(const AclSubject& subject, std::string_view topic, Access access) const;

    // Moth's check of a SUBSCRIBE (Mosquitto checks none): whether `filter` (valid; for a shared subscription
    // "$share/<group>/<f>", pass <f>: the broker strips the prefix) can match a topic the subject may read, i.e.
    // some read rule intersects it and no deny rule that takes precedence over that rule covers the intersection
    // entirely. Never false when some topic matching `filter` is readable (allows(Read)); it may be true when
    // several deny rules together, none alone, cover the readable part: delivery is checked anyway.
    [[nodiscard]] bool may_subscribe(const AclSubject& subject, std::string_view filter) const;

    // Number of topic and pattern lines.
    [[nodiscard]] std::size_t rules() const noexcept { return rules_; }

    struct Rule {
        std::string filter;               // as written; patterns still hold %c and %u
        std::vector<std::string> levels;  // filter split on '/'
        std::uint8_t access = 0;          // Access bits; 0 for deny
        bool names_username = false;      // contains %u: never applies to anonymous clients
    };
    // One user's (or the anonymous) rules; deny rules are consulted before grants, whatever the file order.
    struct Section {
        std::vector<Rule> denies;
        std::vector<Rule> grants;
        [[nodiscard]] bool empty() const noexcept { return denies.empty() && grants.empty(); }
    };

private:
    friend class AclBuilder;
    [[nodiscard]] const Section* section_of(const AclSubject& subject) const;

    Section anonymous_;
    topic::LevelMap<Section> users_;
    Section patterns_;
    std::size_t rules_ = 0;
};

}  // namespace moth::auth
