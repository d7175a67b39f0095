// acl_check FILE USER CLIENTID TOPIC read|write|subscribe
// Prints "allow" or "deny": Acl::allows (read, write) or Acl::may_subscribe (subscribe) for one client. USER "-"
// is a client without a username. Exit status 0 with an answer, 2 on a usage or file error (printed on stderr).
// Used by test/interop/test_acl_mosquitto.py to compare Moth's answers with Debian's mosquitto's.
#include <iostream>
#include <optional>
#include <string_view>

#include "auth/acl.hpp"

int main(int argc, char** argv) {
    if (argc != 6) {
        std::cerr << "usage: acl_check FILE USER|- CLIENTID TOPIC read|write|subscribe\n";
        return 2;
    }
    const std::string_view user = argv[2];
    const moth::auth::AclSubject subject{argv[3], user == "-" ? std::nullopt : std::optional<std::string_view>(user)};
    const std::string_view topic = argv[4];
    const std::string_view what = argv[5];
    try {
        const auto acl = moth::auth::Acl::load(argv[1]);
        bool allowed = false;
        if (what == "read") {
            allowed = acl.allows(subject, topic, moth::auth::Access::Read);
        } else if (what == "write") {
            allowed = acl.allows(subject, topic, moth::auth::Access::Write);
        } else if (what == "subscribe") {
            allowed = acl.may_subscribe(subject, topic);
        } else {
            std::cerr << "acl_check: unknown access \"" << what << "\"\n";
            return 2;
        }
        std::cout << (allowed ? "allow" : "deny") << '\n';
        return 0;
    } catch (const moth::auth::AclError& e) {
        std::cerr << "acl_check: " << e.what() << '\n';
        return 2;
    }
}
