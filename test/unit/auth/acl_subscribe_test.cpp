// Acl::may_subscribe, Moth's check of SUBSCRIBE (Mosquitto has none): hand-picked cases, then its promise checked
// exhaustively on small files: it never refuses a filter through which some topic could be read.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/acl.hpp"
#include "topic/levels.hpp"

namespace {

using moth::auth::Access;
using moth::auth::Acl;
using moth::auth::AclSubject;

constexpr std::string_view kFile = R"(topic read public/#
topic deny public/secret/#

user alice
topic readwrite alice/#
topic deny alice/private/#
topic write drop/box
topic read $SYS/broker/#

user bob
topic read alice/#
topic deny alice/+/x

user dave
topic readwrite #
topic deny #

pattern readwrite students/%u/#
pattern deny students/%u/locked/#
pattern read devices/%c/cmd
)";

const Acl& acl() {
    static const Acl parsed = Acl::parse(kFile, "sub.acl");
    return parsed;
}

constexpr AclSubject kAnon{"dev1", std::nullopt};
AclSubject user(std::string_view name, std::string_view client_id = "c1") {
    return {client_id, name};
}

TEST(AclMaySubscribe, GrantsThatIntersect) {
    EXPECT_TRUE(acl().may_subscribe(user("alice"), "alice/#"));
    EXPECT_TRUE(acl().may_subscribe(user("alice"), "#")) << "'#' intersects alice/#: delivery filters the rest";
    EXPECT_TRUE(acl().may_subscribe(user("alice"), "+/x")) << "alice/x";
    EXPECT_TRUE(acl().may_subscribe(user("alice"), "alice/+/x/#")) << "alice/public/x";
    EXPECT_FALSE(acl().may_subscribe(user("alice"), "bob/#"));
    EXPECT_FALSE(acl().may_subscribe(user("alice"), "drop/box")) << "write-only gives no read";
    EXPECT_TRUE(acl().may_subscribe(kAnon, "public/+"));
    EXPECT_FALSE(acl().may_subscribe(kAnon, "alice/#"));
}

TEST(AclMaySubscribe, DenyCoveringTheReadablePart) {
    EXPECT_FALSE(acl().may_subscribe(user("alice"), "alice/private/#"));
    EXPECT_FALSE(acl().may_subscribe(user("alice"), "alice/private"));
    EXPECT_FALSE(acl().may_subscribe(user("alice"), "alice/private/+/x"));
    EXPECT_TRUE(acl().may_subscribe(user("alice"), "alice/+/#")) << "alice/public is readable";
    EXPECT_FALSE(acl().may_subscribe(kAnon, "public/secret/#"));
    EXPECT_TRUE(acl().may_subscribe(kAnon, "public/#"));
    EXPECT_FALSE(acl().may_subscribe(user("bob"), "alice/+/x"));
    EXPECT_TRUE(acl().may_subscribe(user("bob"), "alice/+/y"));
    EXPECT_FALSE(acl().may_subscribe(user("dave"), "#")) << "deny # takes back grant #";
    EXPECT_FALSE(acl().may_subscribe(user("dave"), "a/b"));
}

TEST(AclMaySubscribe, DollarTopics) {
    EXPECT_TRUE(acl().may_subscribe(user("alice"), "$SYS/broker/+"));
    EXPECT_TRUE(acl().may_subscribe(user("alice"), "$SYS/#")) << "$SYS/broker/... inside it";
    EXPECT_FALSE(acl().may_subscribe(user("alice"), "$SYS/other/#"));
    EXPECT_TRUE(acl().may_subscribe(user("alice"), "+/broker/#")) << "not for $SYS, but alice/broker/x";
    const auto sys = Acl::parse("topic read $SYS/#\n", "a");
    EXPECT_FALSE(sys.may_subscribe(kAnon, "+/broker/#")) << "a wildcard first level never sees $SYS";
    EXPECT_FALSE(sys.may_subscribe(kAnon, "#"));
    EXPECT_TRUE(sys.may_subscribe(kAnon, "$SYS/+"));
    const auto all = Acl::parse("topic read #\ntopic read $share/#\n", "a");
    EXPECT_FALSE(all.may_subscribe(kAnon, "$SYS/#")) << "'#' does not grant $SYS";
    EXPECT_TRUE(all.may_subscribe(kAnon, "x/#"));
    EXPECT_FALSE(all.may_subscribe(kAnon, "$share/g/x")) << "pass the stripped filter; $share topics are unreadable";
}

TEST(AclMaySubscribe, Patterns) {
    EXPECT_TRUE(acl().may_subscribe(user("carol"), "students/carol/#"));
    EXPECT_TRUE(acl().may_subscribe(user("carol"), "students/+/hw"));
    EXPECT_FALSE(acl().may_subscribe(user("carol"), "students/bob/#"));
    EXPECT_FALSE(acl().may_subscribe(user("carol"), "students/carol/locked/#"));
    EXPECT_FALSE(acl().may_subscribe(kAnon, "students/+/x")) << "%u patterns skip anonymous clients";
    EXPECT_TRUE(acl().may_subscribe(kAnon, "devices/dev1/cmd"));
    EXPECT_FALSE(acl().may_subscribe(kAnon, "devices/dev2/cmd"));
    EXPECT_FALSE(acl().may_subscribe({"dev+", std::nullopt}, "devices/+/cmd")) << "'+' in the id: no patterns";
    EXPECT_TRUE(acl().may_subscribe({"a/b", std::nullopt}, "devices/a/b/cmd")) << "'/' in the id spans levels";
    EXPECT_FALSE(acl().may_subscribe({"a/b", std::nullopt}, "devices/a/cmd"));
}

TEST(AclMaySubscribe, UserDenyBeatsPatternGrantButPatternDenyNotUserGrant) {
    const auto acl = Acl::parse(
        "user u\ntopic deny students/u/secret\ntopic read students/u/locked/#\n"
        "pattern read students/%u/#\npattern deny students/%u/locked/#\n",
        "a");
    EXPECT_FALSE(acl.may_subscribe(user("u"), "students/u/secret"));
    EXPECT_TRUE(acl.may_subscribe(user("u"), "students/u/locked/x"));
    EXPECT_TRUE(acl.allows(user("u"), "students/u/locked/x", Access::Read));
}

// The promise, exhaustively: for every small filter F and every subject, if some topic in the universe matching F
// is readable (allows(Read)), may_subscribe(F) is true. And on files without overlapping denies it is exact.
const std::vector<std::string_view> kNames = {"a", "b", "$s", "+", "#"};

std::vector<std::string> small_filters() {
    std::vector<std::string> out;
    std::vector<std::string> frontier = {""};
    for (int depth = 0; depth < 3; ++depth) {
        std::vector<std::string> next;
        for (const auto& p : frontier) {
            if (!p.empty() && p.back() == '#') continue;
            for (const auto n : kNames) next.push_back(depth == 0 ? std::string(n) : p + "/" + std::string(n));
        }
        out.insert(out.end(), next.begin(), next.end());
        frontier = next;
    }
    return out;
}

std::vector<std::string> small_topics() {
    std::vector<std::string> out;
    for (const auto& f : small_filters()) {
        if (f.find_first_of("+#") == std::string::npos) out.push_back(f);
    }
    for (const auto& f : std::vector<std::string>(out)) out.push_back(f + "/z");
    out.push_back("z");
    out.push_back("u");
    out.push_back("u/a");
    return out;
}

TEST(AclMaySubscribe, NeverRefusesAReadableFilter) {
    const std::vector<std::string_view> files = {
        "topic read a/#\ntopic deny a/b\n",
        "topic read +/b\ntopic deny a/#\ntopic read $s/#\n",
        "topic read #\ntopic deny +/+\ntopic deny $s\n",
        "topic write #\ntopic read a/+/b\n",
        "pattern read %c/#\npattern deny %c/a\ntopic deny b/#\ntopic read b/a\n",
        "pattern read +/%c\npattern deny a/#\ntopic read a/u\n",
    };
    const auto filters = small_filters();
    const auto topics = small_topics();
    const std::vector<AclSubject> subjects = {{"u", std::nullopt}, {"a", std::nullopt}, {"u", "x"}};
    std::size_t readable_filters = 0;
    for (const auto text : files) {
        const auto acl = Acl::parse(text, "small");
        for (const auto& s : subjects) {
            for (const auto& f : filters) {
                bool readable = false;
                for (const auto& t : topics) {
                    readable = readable || (moth::topic::topic_matches(f, t) && acl.allows(s, t, Access::Read));
                }
                if (readable) {
                    ++readable_filters;
                    ASSERT_TRUE(acl.may_subscribe(s, f)) << text << "client " << s.client_id << ": " << f;
                }
            }
        }
    }
    EXPECT_GT(readable_filters, 100U);
}

}  // namespace
