// The topic <-> NATS subject mapping of the cluster bus (src/cluster/subject.hpp).
#include "cluster/subject.hpp"

#include <gtest/gtest.h>

namespace moth::cluster {
namespace {

using Subjects = std::vector<std::string>;

TEST(TopicToken, PassesOrdinaryBytesAndUtf8) {
    EXPECT_EQ(topic_token("sensor-1_a"), "sensor-1_a");
    EXPECT_EQ(topic_token("caf\xC3\xA9"), "caf\xC3\xA9");
    EXPECT_EQ(topic_token("+"), "+");  // a '+' inside a topic name cannot occur, but a '+' byte is no NATS wildcard
}

TEST(TopicToken, EscapesWhatNatsReservesAndTheEscapeItself) {
    EXPECT_EQ(topic_token("a.b"), "a~2Eb");
    EXPECT_EQ(topic_token("*"), "~2A");
    EXPECT_EQ(topic_token(">"), "~3E");
    EXPECT_EQ(topic_token("~"), "~7E");
    EXPECT_EQ(topic_token("a b"), "a~20b");
    EXPECT_EQ(topic_token(std::string_view("\x00\x1F\x7F", 3)), "~00~1F~7F");
}

TEST(TopicToken, EmptyLevelIsATildeAlone) { EXPECT_EQ(topic_token(""), "~"); }

TEST(TopicSubject, OneTokenPerLevel) {
    EXPECT_EQ(topic_subject("moth", "q0", "a/b/c"), "moth.q0.a.b.c");
    EXPECT_EQ(topic_subject("moth", "q1", "/a//"), "moth.q1.~.a.~.~");
    EXPECT_EQ(topic_subject("moth", "q1", ""), "moth.q1.~");
    EXPECT_EQ(topic_subject("p", "q0", "$SYS/x.y"), "p.q0.$SYS.x~2Ey");
}

TEST(TopicSubject, OverLongSubjectsTravelOnTheLongSubject) {
    const std::string just(kMaxSubject - 8, 'x');  // "moth.q0." + just = kMaxSubject
    EXPECT_EQ(topic_subject("moth", "q0", just).size(), kMaxSubject);
    EXPECT_EQ(topic_subject("moth", "q0", just + "y"), "moth.q0.~long");
    EXPECT_EQ(long_subject("moth", "q1"), "moth.q1.~long");
    // Escapes count: 700 dots are 2100 bytes of subject.
    EXPECT_EQ(topic_subject("moth", "q1", std::string(700, '.')), "moth.q1.~long");
}

TEST(FilterSubjects, WildcardsMapToNatsWildcards) {
    EXPECT_EQ(filter_subjects("moth", "q0", "a/+/c"), (Subjects{"moth.q0.a.*.c"}));
    EXPECT_EQ(filter_subjects("moth", "q0", "+"), (Subjects{"moth.q0.*"}));
    EXPECT_EQ(filter_subjects("moth", "q1", "#"), (Subjects{"moth.q1.>"}));
    EXPECT_EQ(filter_subjects("moth", "q1", "a.b/x y"), (Subjects{"moth.q1.a~2Eb.x~20y"}));
}

TEST(FilterSubjects, MultiLevelWildcardAlsoMatchesTheParent) {
    // MQTT-4.7.1-2: "sport/#" also matches "sport".
    EXPECT_EQ(filter_subjects("moth", "q0", "a/#"), (Subjects{"moth.q0.a.>", "moth.q0.a"}));
    EXPECT_EQ(filter_subjects("moth", "q0", "a/+/#"), (Subjects{"moth.q0.a.*.>", "moth.q0.a.*"}));
    EXPECT_EQ(filter_subjects("moth", "q0", "/#"), (Subjects{"moth.q0.~.>", "moth.q0.~"}));
}

TEST(FilterSubjects, OnlyALastHashIsAWildcard) {
    // Filters come validated (MQTT-4.7.1-1), but a '>' inside a subject would be refused by NATS: keep it a byte.
    EXPECT_EQ(filter_subjects("moth", "q0", "a/#/b/#"), (Subjects{"moth.q0.a.#.b.>", "moth.q0.a.#.b"}));
}

TEST(FilterSubjects, EmptyLevelsAreMatchedByPlus) {
    // '+' matches an empty level (MQTT-4.7.1-3 allows "+/+" to match "/"): "*" matches the token "~".
    EXPECT_EQ(filter_subjects("moth", "q0", "+/+"), (Subjects{"moth.q0.*.*"}));
    EXPECT_EQ(topic_subject("moth", "q0", "/"), "moth.q0.~.~");
}

TEST(FilterSubjects, OverLongFiltersOnlyNeedTheLongSubject) {
    EXPECT_EQ(filter_subjects("moth", "q0", std::string(3000, 'f') + "/#"), (Subjects{"moth.q0.~long"}));
}

TEST(TopicFromSubject, InvertsTopicSubject) {
    for (const std::string t : {"a/b", "/", "", "a.b/~/x y/*/>", "caf\xC3\xA9//", "~7E", "~"}) {
        EXPECT_EQ(topic_from_subject(topic_subject("moth", "q1", t), 2), t) << t;
    }
}

TEST(TopicFromSubject, RefusesWhatTopicSubjectNeverWrites) {
    EXPECT_EQ(topic_from_subject("moth.q0.a~2", 2), std::nullopt);    // truncated escape
    EXPECT_EQ(topic_from_subject("moth.q0.a~2e", 2), std::nullopt);   // lower-case hex
    EXPECT_EQ(topic_from_subject("moth.q0.a~41", 2), std::nullopt);   // 'A' needs no escape
    EXPECT_EQ(topic_from_subject("moth.q0.*", 2), std::nullopt);      // a wildcard is no topic
    EXPECT_EQ(topic_from_subject("moth.q0.a..b", 2), std::nullopt);   // empty token
    EXPECT_EQ(topic_from_subject("moth.q0.~long", 2), std::nullopt);  // the long subject carries no topic
    EXPECT_EQ(topic_from_subject("moth", 2), std::nullopt);
}

TEST(RetainedKey, Base64UrlWithoutPadding) {
    EXPECT_EQ(retained_key("a"), "r.YQ");
    EXPECT_EQ(retained_key("?>?"), "r.Pz4_");         // '/' of standard base64 becomes '_'
    EXPECT_EQ(retained_key("\xFB\xEF"), "r.--8");      // '+' becomes '-'
    EXPECT_EQ(topic_from_retained_key("r.Pz4_"), "?>?");
    EXPECT_EQ(topic_from_retained_key(retained_key("a/b/c d")), "a/b/c d");
}

TEST(RetainedKey, LongTopicsAreHashed) {
    const std::string topic(1000, 't');  // 1336 base64 characters
    const auto key = retained_key(topic);
    ASSERT_EQ(key.size(), 2u + 64u);
    EXPECT_EQ(key.substr(0, 2), "h.");
    EXPECT_EQ(retained_key("abc").substr(0, 2), "r.");
    EXPECT_EQ(topic_from_retained_key(key), std::nullopt);
    EXPECT_NE(retained_key(topic + "u"), key);
}

TEST(RetainedKey, KeysUseOnlyKvCharacters) {
    for (const std::string& t : std::vector<std::string>{"a/b", "\xFF\xFE/+/#", std::string(900, '\x01')}) {
        for (const char c : retained_key(t)) {
            EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '/' || c == '_' || c == '=' ||
                        c == '.')
                << c;
        }
    }
}

TEST(Fnv1a, KnownValues) {
    EXPECT_EQ(hex16(fnv1a64("")), "cbf29ce484222325");
    EXPECT_EQ(hex16(fnv1a64("a")), "af63dc4c8601ec8c");
}

}  // namespace
}  // namespace moth::cluster
