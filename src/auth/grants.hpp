#pragma once
// A client's own authorization rules, handed out by the identity provider that let it in (an HTTP hook's answer, a
// JWT claim): for that client they replace the acl_file (docs/security.md "Rules from a provider"). Immutable once
// built; shared by the identity of every connection it was given to.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace moth::auth {

struct Grants {
    bool superuser = false;              // everything is allowed; no ACL and no authorization hook is asked
    std::vector<std::string> publish;    // filters the client may publish to
    std::vector<std::string> subscribe;  // filters the client may subscribe to and receive from
    std::vector<std::string> all;        // both
    // In every filter "%c" stands for the client id and "%u" for the user name; a rule naming one that contains
    // '+', '#' or '/' (or a %u of a client without user name) applies to nothing, as Mosquitto's patterns.

    bool operator==(const Grants&) const = default;
};

enum class GrantAccess : std::uint8_t {
    Read,       // a delivery on this topic name: a subscribe or all filter matches it
    Write,      // a PUBLISH (or will) on this topic name: a publish or all filter matches it
    Subscribe,  // a SUBSCRIBE of this filter: a subscribe or all filter covers it entirely
};

// Whether `grants` allow `access` to `topic` (a valid topic name; a valid filter for Subscribe, without
// "$share/<group>/"). A superuser is allowed everything. Pure; any thread.
[[nodiscard]] bool grants_allow(const Grants& grants, std::string_view client_id, std::string_view username,
                                std::string_view topic, GrantAccess access);

}  // namespace moth::auth
