// Reading Mosquitto's password file: what is accepted as Mosquitto accepts it, and every refused line named by
// file and line number.
#include <gtest/gtest.h>

#include <unistd.h>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "auth/password_file.hpp"
#include "vectors.hpp"

namespace moth::auth {
namespace {

using namespace moth::auth::test;

std::string entry(const char* user, const char* hash) {
    return std::string(user) + ":" + hash;
}

TEST(PasswordFile, ReadsCommentsBlankLinesWhitespaceAndCrlf) {
    const std::string text =
        "# users of the class\n"
        "\n" +
        entry("alice", kPbkdf2Alice) + "\r\n" +  // written on Windows
        "   \t\n"                                // blank with whitespace
        "  # indented comment\n" +
        "  bob  :  " + kSha512Bob + "   \n" +  // Mosquitto trims both fields
        entry("carol", kArgon2Carol);          // no final newline
    const PasswordFile file = PasswordFile::parse(text, "pw");
    EXPECT_EQ(file.size(), 3u);
    ASSERT_NE(file.hash_of("alice"), nullptr);
    EXPECT_EQ(*file.hash_of("alice"), kPbkdf2Alice);
    ASSERT_NE(file.hash_of("bob"), nullptr);
    EXPECT_EQ(*file.hash_of("bob"), kSha512Bob);
    EXPECT_EQ(*file.hash_of("carol"), kArgon2Carol);
    EXPECT_EQ(file.hash_of("dave"), nullptr);
    EXPECT_EQ(file.hash_of("Alice"), nullptr) << "names are case-sensitive, as in Mosquitto";
}

TEST(PasswordFile, EmptyTextIsAnEmptyFile) {
    EXPECT_EQ(PasswordFile::parse("", "pw").size(), 0u);
    EXPECT_EQ(PasswordFile::parse("# nobody yet\n\n", "pw").size(), 0u);
}

// Parses `text` expecting an error; returns what() and checks the line.
std::string error_of(const std::string& text, std::size_t line) {
    try {
        (void)PasswordFile::parse(text, "conf/pw");
    } catch (const PasswordFileError& e) {
        EXPECT_EQ(e.line(), line) << e.what();
        return e.what();
    }
    ADD_FAILURE() << "no error for " << text;
    return {};
}

TEST(PasswordFile, BadLinesAreErrorsWithTheirLineNumber) {
    const std::string ok = entry("alice", kPbkdf2Alice) + "\n";
    EXPECT_EQ(error_of(ok + "# c\nbob\n", 3), "conf/pw:3: no ':' between user name and password hash");
    EXPECT_EQ(error_of(ok + ":" + kSha512Bob + "\n", 2), "conf/pw:2: empty user name");
    EXPECT_EQ(error_of(ok + "  :" + kSha512Bob + "\n", 2), "conf/pw:2: empty user name");
    EXPECT_EQ(error_of("\n\nbob:\n", 3), "conf/pw:3: empty password hash");
    EXPECT_EQ(error_of(ok + "bob:" + kSha512Bob + ":extra\n", 2),
              "conf/pw:2: more than one ':' (a user name cannot contain ':')");
    EXPECT_EQ(error_of(std::string("bo\x01") + "b:" + kSha512Bob, 1), "conf/pw:1: control character in user name");
    EXPECT_EQ(error_of(std::string("bob:") + kSha512Bob + "\n" + std::string("x\0y:z", 5), 2),
              "conf/pw:2: NUL byte in line");
}

TEST(PasswordFile, UnknownAndMalformedHashesAreErrors) {
    EXPECT_EQ(error_of("# plain text, never hashed\nbob:secret\n", 2),
              "conf/pw:2: user 'bob': unknown password hash scheme (expected $6$, $7$, $argon2id$ or $scram-sha-256$; "
              "a plain-text password? 'moth passwd -U FILE' hashes them)");
    EXPECT_EQ(error_of("bob:$7$0$plk0NDjp3Vgb8QKF$yfW1\n", 1),
              "conf/pw:1: user 'bob': malformed password hash (a field does not decode or is out of range)");
    EXPECT_NE(error_of("bob:$6$plk0NDjp3Vgb8QKF\n", 1).find("malformed"), std::string::npos);
    EXPECT_NE(error_of("bob:$argon2id$v=19$m=1,t=1,p=1$x$y\n", 1).find("malformed"), std::string::npos);
}

TEST(PasswordFile, ScramEntriesAreReadAndGiveTheirCredential) {
    const PasswordFile file =
        PasswordFile::parse(entry("alice", kPbkdf2Alice) + "\n" + entry("dave", kScramDave) + "\n", "pw");
    ASSERT_NE(file.hash_of("dave"), nullptr);
    EXPECT_EQ(hash_kind(*file.hash_of("dave")), HashKind::ScramSha256);
    const auto dave = file.scram_of("dave");
    ASSERT_TRUE(dave.has_value());
    EXPECT_EQ(dave->iterations, 4096u);
    EXPECT_EQ(dave->salt.size(), 16u);
    EXPECT_EQ(scram_encode(*dave), kScramDave);
    EXPECT_FALSE(file.scram_of("alice")) << "a PBKDF2 user has no SCRAM credential";
    EXPECT_FALSE(file.scram_of("nobody"));
    // The plain CONNECT password of a SCRAM user goes through the usual verification.
    EXPECT_TRUE(verify_password(*file.hash_of("dave"), kScramDavePassword));
    EXPECT_FALSE(verify_password(*file.hash_of("dave"), "pencil2"));
}

TEST(PasswordFile, MalformedScramEntriesAreErrorsWithTheirLine) {
    const std::string keys =
        "$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=$wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";
    EXPECT_EQ(error_of("# ok\ndave:$scram-sha-256$1000$W22ZaJ0SNY7soEsUEjb6gQ==" + keys + "\n", 2),
              "conf/pw:2: user 'dave': malformed password hash (a field does not decode or is out of range)");
    EXPECT_NE(error_of("dave:$scram-sha-256$4096$AAAA" + keys + "\n", 1).find("malformed"), std::string::npos);
    EXPECT_NE(error_of("dave:$scram-sha-256$4096$W22ZaJ0SNY7soEsUEjb6gQ==$AAAA\n", 1).find("malformed"),
              std::string::npos);
}

TEST(PasswordFile, DuplicateUserIsAnError) {
    const std::string text =
        entry("alice", kPbkdf2Alice) + "\n" + entry("bob", kSha512Bob) + "\n" + entry("alice", kArgon2Carol) + "\n";
    EXPECT_EQ(error_of(text, 3), "conf/pw:3: user 'alice' is listed twice");
}

TEST(PasswordFile, LoadReadsAFileAndNamesMissingOnesAtLineZero) {
    const auto dir = std::filesystem::temp_directory_path();
    const auto path = dir / ("moth-pw-test-" + std::to_string(::getpid()));
    {
        std::ofstream out(path, std::ios::binary);
        out << entry("alice", kPbkdf2Alice) << "\nbob\n";
    }
    try {
        (void)PasswordFile::load(path);
        ADD_FAILURE() << "bad line 2 not reported";
    } catch (const PasswordFileError& e) {
        EXPECT_EQ(e.line(), 2u);
        EXPECT_EQ(std::string(e.what()).rfind(path.string() + ":2: ", 0), 0u) << e.what();
    }
    {
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        out << entry("alice", kPbkdf2Alice) << "\n";
    }
    EXPECT_EQ(PasswordFile::load(path).size(), 1u);
    std::filesystem::remove(path);
    try {
        (void)PasswordFile::load(path);
        ADD_FAILURE() << "missing file not reported";
    } catch (const PasswordFileError& e) {
        EXPECT_EQ(e.line(), 0u);
        EXPECT_EQ(std::string(e.what()), path.string() + ":0: cannot open the password file");
    }
}

TEST(SplitPasswordLine, KeepsPlainTextForMothPasswd) {
    const PasswordLine line = split_password_line(" u1 : p1 \r");
    EXPECT_EQ(line.kind, PasswordLine::Kind::Entry);
    EXPECT_EQ(line.user, "u1");
    EXPECT_EQ(line.secret, "p1");
    EXPECT_EQ(split_password_line("# x:y").kind, PasswordLine::Kind::Skip);
    EXPECT_EQ(split_password_line("x").kind, PasswordLine::Kind::Bad);
}

}  // namespace
}  // namespace moth::auth
