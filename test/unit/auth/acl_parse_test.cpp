// The acl_file parser: every line kind, white space and comments as Mosquitto 2.0.11 reads them (each quirk below
// was checked against Debian's mosquitto binary), and errors with their line numbers.
#include <gtest/gtest.h>

#include <unistd.h>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "auth/acl.hpp"

namespace {

using moth::auth::Access;
using moth::auth::Acl;
using moth::auth::AclError;
using moth::auth::AclSubject;

constexpr AclSubject kAnon{"c1", std::nullopt};

AclSubject user(std::string_view name) {
    return {"c1", name};
}

// The message of the AclError that parsing `text` throws, or "" when it parses.
std::string error_of(std::string_view text) {
    try {
        (void)Acl::parse(text, "acl.conf");
    } catch (const AclError& e) {
        return e.what();
    }
    return "";
}

TEST(AclParse, EmptyFileHasNoRulesAndAllowsNothing) {
    const auto acl = Acl::parse("", "acl.conf");
    EXPECT_EQ(acl.rules(), 0U);
    EXPECT_FALSE(acl.allows(kAnon, "a", Access::Read));
    EXPECT_FALSE(acl.allows(user("u"), "a", Access::Write));
}

TEST(AclParse, CommentsBlankAndSpaceOnlyLinesAreSkipped) {
    const auto acl = Acl::parse("# a comment\n\n   \n\t\n#topic read x\ntopic read a\n", "acl.conf");
    EXPECT_EQ(acl.rules(), 1U);
    EXPECT_TRUE(acl.allows(kAnon, "a", Access::Read));
    EXPECT_FALSE(acl.allows(kAnon, "x", Access::Read));
}

TEST(AclParse, EveryAccessWordAndItsAbsence) {
    const auto acl = Acl::parse(
        "topic read r\ntopic write w\ntopic readwrite rw\ntopic deny d\ntopic none\ntopic readwrite d\n", "acl.conf");
    EXPECT_EQ(acl.rules(), 6U);
    EXPECT_TRUE(acl.allows(kAnon, "r", Access::Read));
    EXPECT_FALSE(acl.allows(kAnon, "r", Access::Write));
    EXPECT_FALSE(acl.allows(kAnon, "w", Access::Read));
    EXPECT_TRUE(acl.allows(kAnon, "w", Access::Write));
    EXPECT_TRUE(acl.allows(kAnon, "rw", Access::Read));
    EXPECT_TRUE(acl.allows(kAnon, "rw", Access::Write));
    // No access word: readwrite.
    EXPECT_TRUE(acl.allows(kAnon, "none", Access::Read));
    EXPECT_TRUE(acl.allows(kAnon, "none", Access::Write));
    // deny wins over the later readwrite of the same topic.
    EXPECT_FALSE(acl.allows(kAnon, "d", Access::Read));
    EXPECT_FALSE(acl.allows(kAnon, "d", Access::Write));
}

TEST(AclParse, AnAccessWordAloneIsTheTopic) {
    // Mosquitto: with nothing after it, the word is the topic and access is readwrite.
    const auto acl = Acl::parse("topic read\ntopic deny\n", "acl.conf");
    EXPECT_TRUE(acl.allows(kAnon, "read", Access::Write));
    EXPECT_TRUE(acl.allows(kAnon, "deny", Access::Read));
}

TEST(AclParse, SpacesAroundWordsAndInsideTopics) {
    const auto acl = Acl::parse(
        "   topic    read    room 101/#   \n"
        "topic write \t tabbed start\r\n"
        "topic  plain\n"
        "user   Ann Lee  \n"
        "topic read a  b\n",
        "acl.conf");
    EXPECT_TRUE(acl.allows(kAnon, "room 101/x", Access::Read));
    EXPECT_FALSE(acl.allows(kAnon, "room", Access::Read));
    EXPECT_TRUE(acl.allows(kAnon, "tabbed start", Access::Write));
    EXPECT_TRUE(acl.allows(kAnon, "plain", Access::Read));
    // The username is the rest of the line, trimmed: inner spaces kept.
    EXPECT_TRUE(acl.allows(user("Ann Lee"), "a  b", Access::Read));
    EXPECT_FALSE(acl.allows(user("Ann"), "a  b", Access::Read));
}

TEST(AclParse, CrLfLineEndingsAndNoFinalNewline) {
    const auto acl = Acl::parse("topic read a\r\nuser bob\r\ntopic write b", "acl.conf");
    EXPECT_EQ(acl.rules(), 2U);
    EXPECT_TRUE(acl.allows(kAnon, "a", Access::Read));
    EXPECT_TRUE(acl.allows(user("bob"), "b", Access::Write));
}

TEST(AclParse, UserSectionsWithTheSameNameMerge) {
    const auto acl = Acl::parse("user a\ntopic x\nuser b\ntopic y\nuser a\ntopic z\n", "acl.conf");
    EXPECT_EQ(acl.rules(), 3U);
    EXPECT_TRUE(acl.allows(user("a"), "x", Access::Read));
    EXPECT_TRUE(acl.allows(user("a"), "z", Access::Read));
    EXPECT_FALSE(acl.allows(user("a"), "y", Access::Read));
    EXPECT_TRUE(acl.allows(user("b"), "y", Access::Read));
}

TEST(AclParse, PatternsAfterAUserLineStillApplyToEveryone) {
    const auto acl = Acl::parse("user a\npattern read p/%c\ntopic read own\n", "acl.conf");
    EXPECT_TRUE(acl.allows({"c7", std::nullopt}, "p/c7", Access::Read));
    EXPECT_TRUE(acl.allows({"c8", "b"}, "p/c8", Access::Read));
    EXPECT_FALSE(acl.allows(kAnon, "own", Access::Read));
}

struct BadLine {
    std::string_view text;
    std::string_view error;  // the whole what()
};

class AclParseErrors : public testing::TestWithParam<BadLine> {};

TEST_P(AclParseErrors, NamesFileLineAndCause) {
    EXPECT_EQ(error_of(GetParam().text), GetParam().error);
}

INSTANTIATE_TEST_SUITE_P(
    Lines, AclParseErrors,
    testing::Values(
        BadLine{"topic read a\n\nbogus line\n",
                "acl.conf:3: unknown keyword \"bogus\": expected topic, pattern or user (a comment's '#' must be the "
                "first character of the line)"},
        BadLine{"Topic read a",
                "acl.conf:1: unknown keyword \"Topic\": expected topic, pattern or user (a comment's "
                "'#' must be the first character of the line)"},
        // A comment must start in the first column; words are separated by spaces, not tabs (as in Mosquitto).
        BadLine{"  # indented",
                "acl.conf:1: unknown keyword \"#\": expected topic, pattern or user (a comment's '#' "
                "must be the first character of the line)"},
        BadLine{"topic\tread a",
                "acl.conf:1: unknown keyword \"topic\tread\": expected topic, pattern or user (a "
                "comment's '#' must be the first character of the line)"},
        BadLine{"topic read\ta b", "acl.conf:1: invalid access \"read\ta\": expected read, write, readwrite or deny"},
        BadLine{"# ok\ntopic", "acl.conf:2: empty topic"}, BadLine{"pattern   ", "acl.conf:1: empty topic"},
        BadLine{"user", "acl.conf:1: missing username after 'user'"},
        BadLine{"user    \t", "acl.conf:1: missing username after 'user'"},
        BadLine{"topic READ a", "acl.conf:1: invalid access \"READ\": expected read, write, readwrite or deny"},
        BadLine{"topic foo bar", "acl.conf:1: invalid access \"foo\": expected read, write, readwrite or deny"},
        BadLine{"topic read a#", "acl.conf:1: invalid topic \"a#\": '#' must be the whole last level"},
        BadLine{"topic read a/#/b", "acl.conf:1: invalid topic \"a/#/b\": '#' must be the whole last level"},
        BadLine{"pattern read +a/%c", "acl.conf:1: invalid topic \"+a/%c\": '+' must be a whole level"},
        BadLine{"topic read a/b+", "acl.conf:1: invalid topic \"a/b+\": '+' must be a whole level"},
        BadLine{"topic read x # trailing comment",
                "acl.conf:1: invalid topic \"x # trailing comment\": '#' must be the whole last level"}));

TEST(AclParse, NulByteAndOverlongTopicAreErrors) {
    EXPECT_EQ(error_of(std::string_view("topic a\0b\n", 10)), "acl.conf:1: NUL byte in the line");
    const std::string longest = "topic " + std::string(65535, 'x');
    EXPECT_EQ(error_of(longest), "");
    EXPECT_EQ(error_of(longest + "x"),
              "acl.conf:1: invalid topic \"" + std::string(65536, 'x') + "\": longer than 65535 bytes");
}

TEST(AclParse, ErrorCarriesFileAndLine) {
    try {
        (void)Acl::parse("topic a\ntopic b\nuser\n", "/etc/moth/acl");
        FAIL() << "no error";
    } catch (const AclError& e) {
        EXPECT_EQ(e.file, "/etc/moth/acl");
        EXPECT_EQ(e.line, 3U);
    }
}

TEST(AclLoad, ReadsAFileAndNamesItInErrors) {
    const auto dir = std::filesystem::temp_directory_path() / ("moth-acl-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const auto path = dir / "acl";
    { std::ofstream(path) << "user u\ntopic read a/#\n"; }
    EXPECT_TRUE(Acl::load(path).allows(user("u"), "a/b", Access::Read));
    { std::ofstream(path) << "user u\ntopic rad a/#\n"; }
    EXPECT_THROW(
        {
            try {
                (void)Acl::load(path);
            } catch (const AclError& e) {
                EXPECT_EQ(std::string(e.what()),
                          path.string() + ":2: invalid access \"rad\": expected read, write, readwrite or deny");
                throw;
            }
        },
        AclError);
    std::filesystem::remove_all(dir);
    try {
        (void)Acl::load(path);
        FAIL() << "a missing file loaded";
    } catch (const AclError& e) {
        EXPECT_EQ(e.line, 0U);
        EXPECT_EQ(std::string(e.what()).rfind(path.string() + ": cannot open: ", 0), 0U) << e.what();
    }
}

}  // namespace
