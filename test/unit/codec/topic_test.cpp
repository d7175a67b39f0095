// Topic Names and Topic Filters (MQTT 5.0 section 4.7, shared subscriptions 4.8.2), with the specification's
// own examples (4.7.1.2, 4.7.1.3, 4.7.2).
#include "codec/topic.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace moth::codec {
namespace {

using namespace std::string_view_literals;

TEST(TopicName, ValidNames) {
    for (const std::string_view t : {"sport/tennis/player1"sv, "sport"sv, "/"sv, "/finance"sv, "a//b"sv, " "sv,
                                     "$SYS/broker/uptime"sv, "caf\xC3\xA9/\xE2\x82\xAC"sv, "sport/tennis/player1/"sv}) {
        EXPECT_EQ(validate_topic_name(t), TopicError::None) << t;
    }
}

TEST(TopicName, EmptyIsInvalid) {  // [MQTT-4.7.3-1]
    EXPECT_EQ(validate_topic_name(""), TopicError::Empty);
}

TEST(TopicName, WildcardsAreNotAllowed) {  // [MQTT-3.3.2-2], [MQTT-4.7.0-1]
    for (const std::string_view t : {"+"sv, "#"sv, "sport/+"sv, "sport/#"sv, "sport/tennis#"sv, "sport+"sv, "+/a"sv}) {
        EXPECT_EQ(validate_topic_name(t), TopicError::WildcardInName) << t;
    }
}

TEST(TopicName, LengthLimit) {  // [MQTT-4.7.3-3]
    EXPECT_EQ(validate_topic_name(std::string(65'535, 'a')), TopicError::None);
    EXPECT_EQ(validate_topic_name(std::string(65'536, 'a')), TopicError::TooLong);
}

TEST(TopicName, InvalidUtf8) {  // [MQTT-4.7.3-2], [MQTT-1.5.4-1/2]
    EXPECT_EQ(validate_topic_name("a\0b"sv), TopicError::InvalidUtf8);
    EXPECT_EQ(validate_topic_name("\xED\xA0\x80"), TopicError::InvalidUtf8);
    EXPECT_EQ(validate_topic_name("\xC0\xAF"), TopicError::InvalidUtf8);
    EXPECT_EQ(validate_topic_name("a/\xFF"), TopicError::InvalidUtf8);
}

TEST(TopicFilter, SpecExamplesThatAreValid) {  // 4.7.1.2, 4.7.1.3
    for (const std::string_view f : {"sport/tennis/player1/#"sv, "sport/#"sv, "#"sv, "+"sv, "+/tennis/#"sv,
                                     "sport/+/player1"sv, "sport/tennis/+"sv, "/+"sv, "+/+"sv, "+/"sv, "/#"sv,
                                     "sport/tennis/player1"sv, "$SYS/#"sv, "$SYS/monitor/+"sv, "a//b"sv}) {
        EXPECT_EQ(validate_topic_filter(f), TopicError::None) << f;
    }
}

TEST(TopicFilter, MisplacedMultiLevelWildcard) {  // [MQTT-4.7.1-1]: '#' alone on the last level
    for (const std::string_view f : {"sport/tennis#"sv, "sport/tennis/#/ranking"sv, "#/a"sv, "##"sv, "a/#/"sv,
                                     "a#"sv, "#a"sv}) {
        EXPECT_EQ(validate_topic_filter(f), TopicError::MisplacedWildcard) << f;
    }
}

TEST(TopicFilter, MisplacedSingleLevelWildcard) {  // [MQTT-4.7.1-2]: '+' occupies an entire level
    for (const std::string_view f : {"sport+"sv, "+sport"sv, "sp+ort/a"sv, "a/b+/c"sv, "++"sv, "a/++/b"sv}) {
        EXPECT_EQ(validate_topic_filter(f), TopicError::MisplacedWildcard) << f;
    }
}

TEST(TopicFilter, EmptyTooLongAndInvalidUtf8) {
    EXPECT_EQ(validate_topic_filter(""), TopicError::Empty);                          // [MQTT-4.7.3-1]
    EXPECT_EQ(validate_topic_filter(std::string(65'535, 'a')), TopicError::None);
    EXPECT_EQ(validate_topic_filter(std::string(65'536, 'a')), TopicError::TooLong);  // [MQTT-4.7.3-3]
    EXPECT_EQ(validate_topic_filter("a/\0"sv), TopicError::InvalidUtf8);             // [MQTT-1.5.4-2]
    EXPECT_EQ(validate_topic_filter("\xED\xBF\xBF/#"), TopicError::InvalidUtf8);     // [MQTT-1.5.4-1]
}

TEST(TopicFilter, SharedSubscriptions) {  // 4.8.2
    EXPECT_EQ(validate_topic_filter("$share/g/a/b"), TopicError::None);
    EXPECT_EQ(validate_topic_filter("$share/consumer1/sport/tennis/+"), TopicError::None);
    EXPECT_EQ(validate_topic_filter("$share/g/#"), TopicError::None);
    EXPECT_EQ(validate_topic_filter("$share/g/+"), TopicError::None);
    // [MQTT-4.8.2-1]: a ShareName of at least one character; [MQTT-4.8.2-2]: no '/', '+' or '#' in it.
    EXPECT_EQ(validate_topic_filter("$share/g"), TopicError::BadSharedFilter);    // no '/' and filter
    EXPECT_EQ(validate_topic_filter("$share/"), TopicError::BadSharedFilter);
    EXPECT_EQ(validate_topic_filter("$share//a"), TopicError::BadSharedFilter);   // empty ShareName
    EXPECT_EQ(validate_topic_filter("$share/g+/a"), TopicError::BadSharedFilter);
    EXPECT_EQ(validate_topic_filter("$share/+/a"), TopicError::BadSharedFilter);
    EXPECT_EQ(validate_topic_filter("$share/#/a"), TopicError::BadSharedFilter);
    EXPECT_EQ(validate_topic_filter("$share/g/"), TopicError::BadSharedFilter);   // empty filter
    EXPECT_NE(validate_topic_filter("$share/g/a#"), TopicError::None);            // invalid filter after the group
    EXPECT_NE(validate_topic_filter("$share/g/sport+"), TopicError::None);
    // Not shared subscriptions: only the exact prefix "$share/" is special.
    EXPECT_EQ(validate_topic_filter("$sharex/a"), TopicError::None);
    EXPECT_EQ(validate_topic_filter("$SHARE/g/a"), TopicError::None);
    EXPECT_EQ(validate_topic_filter("a/$share/g/b"), TopicError::None);
}

TEST(TopicFilter, ParseSharedFilter) {
    const auto s = parse_shared_filter("$share/g/a/b");
    ASSERT_TRUE(s.has_value());
    EXPECT_EQ(s->group, "g");
    EXPECT_EQ(s->filter, "a/b");
    const auto t = parse_shared_filter("$share/consumer-1/#");
    ASSERT_TRUE(t.has_value());
    EXPECT_EQ(t->group, "consumer-1");
    EXPECT_EQ(t->filter, "#");
    const auto u = parse_shared_filter("$share/g//x");  // the filter may start with an empty level
    ASSERT_TRUE(u.has_value());
    EXPECT_EQ(u->group, "g");
    EXPECT_EQ(u->filter, "/x");
    EXPECT_FALSE(parse_shared_filter("a/b").has_value());
    EXPECT_FALSE(parse_shared_filter("$sharex/g/a").has_value());
    EXPECT_FALSE(parse_shared_filter("$SHARE/g/a").has_value());
    EXPECT_FALSE(parse_shared_filter("$share").has_value());
    EXPECT_FALSE(parse_shared_filter("").has_value());
}

TEST(Topic, LevelCount) {  // 4.7.1.1: levels are separated by '/', and may be empty
    EXPECT_EQ(topic_level_count(""), 1U);
    EXPECT_EQ(topic_level_count("sport"), 1U);
    EXPECT_EQ(topic_level_count("sport/tennis/player1"), 3U);
    EXPECT_EQ(topic_level_count("/"), 2U);
    EXPECT_EQ(topic_level_count("/finance"), 2U);
    EXPECT_EQ(topic_level_count("a//b"), 3U);
    EXPECT_EQ(topic_level_count("sport/tennis/player1/#"), 4U);
}

TEST(Topic, HasWildcard) {
    EXPECT_TRUE(has_wildcard("a/+"));
    EXPECT_TRUE(has_wildcard("#"));
    EXPECT_TRUE(has_wildcard("sport/tennis#"));
    EXPECT_FALSE(has_wildcard("sport/tennis"));
    EXPECT_FALSE(has_wildcard(""));
}

TEST(Topic, ErrorTextsAreDistinct) {
    const TopicError all[] = {TopicError::None,           TopicError::Empty,          TopicError::TooLong,
                              TopicError::InvalidUtf8,    TopicError::WildcardInName, TopicError::MisplacedWildcard,
                              TopicError::BadSharedFilter};
    for (const auto a : all) {
        EXPECT_FALSE(topic_error_text(a).empty());
        for (const auto b : all) {
            if (a != b) {
                EXPECT_NE(topic_error_text(a), topic_error_text(b));
            }
        }
    }
}

}  // namespace
}  // namespace moth::codec
