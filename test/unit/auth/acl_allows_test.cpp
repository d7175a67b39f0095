// Acl::allows, as a table: (file, client, topic, access) -> Mosquitto 2.0's answer. The interop test
// (test/interop/test_acl_mosquitto.py) asks Debian's mosquitto the same kind of questions about a similar file.
#include <gtest/gtest.h>

#include <optional>
#include <ostream>
#include <string_view>

#include "auth/acl.hpp"

namespace {

using moth::auth::Access;
using moth::auth::Acl;
using moth::auth::AclSubject;

constexpr std::string_view kFile = R"(# anonymous section: clients without a username
topic read public/#
topic deny public/secret
topic readwrite anon/rw

user alice
topic readwrite alice/#
topic deny alice/private/#
topic write drop/box
topic readwrite room 101/#
topic read $SYS/broker/#
topic readwrite students/#

user bob
topic read alice/#
topic readwrite bob/#
topic read +/broker/version

user dave
topic readwrite #

pattern readwrite students/%u/#
pattern deny students/%u/locked
pattern read devices/%c/cmd
pattern write devices/%c/state
pattern read tag/%c-%u
)";

struct Case {
    std::optional<std::string_view> username;
    std::string_view client_id;
    std::string_view topic;
    Access access;
    bool allowed;
    std::string_view why;
};

void PrintTo(const Case& c, std::ostream* os) {
    *os << (c.username ? *c.username : "(anonymous)") << '/' << c.client_id << ' '
        << (c.access == Access::Read ? "read " : "write ") << c.topic << " -> " << (c.allowed ? "allow" : "deny")
        << " (" << c.why << ')';
}

class AclAllows : public testing::TestWithParam<Case> {
protected:
    static const Acl& acl() {
        static const Acl parsed = Acl::parse(kFile, "table.acl");
        return parsed;
    }
};

TEST_P(AclAllows, AsMosquitto) {
    const auto& c = GetParam();
    EXPECT_EQ(acl().allows(AclSubject{c.client_id, c.username}, c.topic, c.access), c.allowed);
}

constexpr auto R = Access::Read;
constexpr auto W = Access::Write;
constexpr std::optional<std::string_view> kAnon;

INSTANTIATE_TEST_SUITE_P(
    Table, AclAllows,
    testing::Values(
        Case{kAnon, "a1", "public/news", R, true, "anonymous section"},
        Case{kAnon, "a1", "public", R, true, "'#' matches the parent level"},
        Case{kAnon, "a1", "public/news", W, false, "read-only grant"},
        Case{kAnon, "a1", "public/secret", R, false, "deny before the wider grant"},
        Case{kAnon, "a1", "public/secret/x", R, true, "deny of a topic name is not a prefix"},
        Case{kAnon, "a1", "anon/rw", W, true, "readwrite"},
        Case{kAnon, "a1", "alice/x", R, false, "users' sections are not the anonymous one"},
        Case{"carol", "c1", "public/news", R, false, "a named user never gets the anonymous section"},
        Case{"alice", "c1", "alice/x/y", W, true, "own section"},
        Case{"alice", "c1", "alice/private/x", R, false, "deny written after the grant still wins"},
        Case{"alice", "c1", "alice/private", W, false, "deny 'alice/private/#' covers its parent"},
        Case{"alice", "c1", "drop/box", W, true, "write-only"},
        Case{"alice", "c1", "drop/box", R, false, "write-only gives no read"},
        Case{"alice", "c1", "room 101/a", R, true, "topic with a space"},
        Case{"alice", "c1", "public/news", R, false, "anonymous rules do not apply"},
        Case{"bob", "c1", "alice/x", R, true, "read of another's tree"},
        Case{"bob", "c1", "alice/x", W, false, "but no write"},
        Case{"bob", "c1", "alice/private/x", R, true, "alice's deny is alice's"},
        // '$' topics: only rules starting with '$' match them; the broker refuses writes to $SYS.
        Case{"alice", "c1", "$SYS/broker/version", R, true, "explicit $SYS rule"},
        Case{"alice", "c1", "$SYS/broker/version", W, false, "$SYS is never written"},
        Case{"bob", "c1", "$SYS/broker/version", R, false, "a rule starting with '+' does not match '$'"},
        Case{"bob", "c1", "x/broker/version", R, true, "... but does match other topics"},
        Case{"dave", "c1", "$SYS/broker/version", R, false, "'#' does not match '$SYS'"},
        Case{"dave", "c1", "$other/x", W, false, "nor any '$' topic"},
        Case{"dave", "c1", "anything/at/all", W, true, "'#' matches everything else"},
        Case{"dave", "c1", "$share/g/x", W, false, "'$share' topics are refused"},
        // Patterns: %u and %c replaced; %u patterns skip anonymous clients.
        Case{"carol", "c1", "students/carol/hw1", W, true, "pattern with %u"},
        Case{"carol", "c1", "students/carol", R, true, "pattern '#' covers the parent"},
        Case{"carol", "c1", "students/bob/hw1", R, false, "another user's place"},
        Case{"carol", "c1", "students/carol/locked", W, false, "pattern deny before pattern grant"},
        Case{"alice", "c1", "students/alice/locked", W, true, "a user's grant beats a pattern's deny"},
        Case{kAnon, "a1", "students/%u/x", W, false, "%u patterns never apply to anonymous clients"},
        Case{kAnon, "dev42", "devices/dev42/cmd", R, true, "pattern with %c, anonymous"},
        Case{kAnon, "dev42", "devices/dev42/cmd", W, false, "read-only pattern"},
        Case{kAnon, "dev42", "devices/dev42/state", W, true, "write-only pattern"},
        Case{kAnon, "dev42", "devices/dev43/cmd", R, false, "another client's id"},
        Case{"carol", "dev42", "devices/dev42/cmd", R, true, "%c applies to named users too"},
        Case{"carol", "k9", "tag/k9-carol", R, true, "two placeholders in one level"},
        Case{"carol", "k9", "tag/k9-caro", R, false, "... compared whole"},
        Case{kAnon, "k9", "tag/k9-%u", R, false, "... skipped without a username"},
        Case{kAnon, "dev/7", "devices/dev/7/state", W, true, "a client id with '/' spans levels, as in Mosquitto"},
        Case{kAnon, "dev/7", "devices/dev/7", W, false, "... exactly"},
        Case{"bo/b", "x", "students/bo/b/1", W, true, "a username with '/' as well"},
        // A client id or username with '+' or '#' makes Mosquitto refuse every pattern, not the user's rules.
        Case{kAnon, "dev+", "devices/dev+/cmd", R, false, "'+' in the client id"},
        Case{kAnon, "dev#", "devices/dev#/cmd", R, false, "'#' in the client id"},
        Case{"eve#", "c1", "students/eve#/x", W, false, "'#' in the username"},
        Case{"bob", "evil+", "bob/x", W, true, "the user's own rules still apply"},
        Case{"bob", "evil+", "students/bob/x", W, false, "but patterns do not"}));

TEST(AclAllowsDollar, SysBridgeStateIsTheOnlyWritableSysTopic) {
    const auto acl = Acl::parse("topic readwrite $SYS/#\n", "a");
    const AclSubject s{"c", std::nullopt};
    EXPECT_TRUE(acl.allows(s, "$SYS/broker/connection/b1/state", Access::Write));
    EXPECT_FALSE(acl.allows(s, "$SYS/broker/connection/b1/other", Access::Write));
    EXPECT_FALSE(acl.allows(s, "$SYSTEM/x", Access::Write)) << "Mosquitto compares the first 4 characters";
    EXPECT_TRUE(acl.allows(s, "$SYS/broker/clients", Access::Read));
    // The bridge state topic still needs the file's consent.
    EXPECT_FALSE(Acl::parse("topic read $SYS/#\n", "a").allows(s, "$SYS/broker/connection/b1/state", Access::Write));
}

TEST(AclAllowsDollar, PatternReplacedIntoADollarTopic) {
    // Mosquitto applies its '$' rule to the replaced pattern: a client id starting with '$' makes one.
    const auto acl = Acl::parse("pattern readwrite %c/#\n", "a");
    EXPECT_TRUE(acl.allows({"$dev", std::nullopt}, "$dev/x", Access::Write));
    EXPECT_FALSE(acl.allows({"dev", std::nullopt}, "$dev/x", Access::Write));
    EXPECT_TRUE(acl.allows({"", std::nullopt}, "/x", Access::Write)) << "an empty client id replaces to nothing";
}

TEST(AclAllowsEdges, NoSectionAndNoPatternsDeniesEverything) {
    const auto acl = Acl::parse("user alice\ntopic a\n", "a");
    EXPECT_FALSE(acl.allows({"c", "bob"}, "a", Access::Read));
    EXPECT_FALSE(acl.allows({"c", std::nullopt}, "a", Access::Read));
    EXPECT_FALSE(acl.allows({"c", "alice"}, "", Access::Read)) << "an empty topic never matches";
}

TEST(AclAllowsEdges, PercentSignsThatAreNotPlaceholders) {
    const auto acl = Acl::parse("pattern read a/%x/%%c/%\n", "a");
    EXPECT_TRUE(acl.allows({"id", std::nullopt}, "a/%x/%id/%", Access::Read));
    EXPECT_FALSE(acl.allows({"id", std::nullopt}, "a/%x/%%c/%", Access::Read));
}

TEST(AclAllowsScale, ThousandRulesAnswerPerUser) {
    // 100 users x 10 rules: each user sees only its own section.
    std::string text;
    for (int u = 0; u < 100; ++u) {
        text += "user u" + std::to_string(u) + "\n";
        for (int r = 0; r < 10; ++r) text += "topic readwrite t" + std::to_string(u) + "/" + std::to_string(r) + "/#\n";
    }
    const auto acl = Acl::parse(text, "big");
    EXPECT_EQ(acl.rules(), 1000U);
    EXPECT_TRUE(acl.allows({"c", "u57"}, "t57/9/x", Access::Write));
    EXPECT_FALSE(acl.allows({"c", "u57"}, "t58/9/x", Access::Write));
    EXPECT_FALSE(acl.allows({"c", "u100"}, "t57/9/x", Access::Write));
}

}  // namespace
