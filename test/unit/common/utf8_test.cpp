// UTF-8 Encoded Strings (MQTT 5.0 section 1.5.4, 3.1.1 section 1.5.3).
#include "common/utf8.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace moth::common {
namespace {

using namespace std::string_view_literals;

TEST(Utf8, AcceptsWellFormedStrings) {
    EXPECT_EQ(validate_utf8(""), Utf8Status::Ok);
    EXPECT_EQ(validate_utf8("sport/tennis"), Utf8Status::Ok);
    EXPECT_EQ(validate_utf8("\x7F"), Utf8Status::Ok);                  // U+007F, highest one-byte form
    EXPECT_EQ(validate_utf8("\xC2\x80"), Utf8Status::Ok);              // U+0080, lowest two-byte form
    EXPECT_EQ(validate_utf8("caf\xC3\xA9"), Utf8Status::Ok);           // "café"
    EXPECT_EQ(validate_utf8("\xDF\xBF"), Utf8Status::Ok);              // U+07FF
    EXPECT_EQ(validate_utf8("\xE0\xA0\x80"), Utf8Status::Ok);          // U+0800, lowest three-byte form
    EXPECT_EQ(validate_utf8("\xE2\x82\xAC"), Utf8Status::Ok);          // U+20AC euro sign
    EXPECT_EQ(validate_utf8("\xED\x9F\xBF"), Utf8Status::Ok);          // U+D7FF, just below the surrogates
    EXPECT_EQ(validate_utf8("\xEE\x80\x80"), Utf8Status::Ok);          // U+E000, just above the surrogates
    EXPECT_EQ(validate_utf8("\xEF\xBB\xBF"), Utf8Status::Ok);          // U+FEFF must not be rejected [MQTT-1.5.4-3]
    EXPECT_EQ(validate_utf8("\xEF\xBF\xBF"), Utf8Status::Ok);          // U+FFFF
    EXPECT_EQ(validate_utf8("\xF0\x90\x80\x80"), Utf8Status::Ok);      // U+10000, lowest four-byte form
    EXPECT_EQ(validate_utf8("\xF0\x9D\x84\x9E"), Utf8Status::Ok);      // U+1D11E musical symbol G clef
    EXPECT_EQ(validate_utf8("\xF4\x8F\xBF\xBF"), Utf8Status::Ok);      // U+10FFFF, the highest code point
    EXPECT_EQ(validate_utf8("a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80z"), Utf8Status::Ok);  // mixed lengths
    EXPECT_TRUE(is_valid_mqtt_utf8("\xE6\x97\xA5\xE6\x9C\xAC"));  // "日本"
}

TEST(Utf8, RejectsOverlongForms) {  // RFC 3629, [MQTT-1.5.4-1]
    EXPECT_EQ(validate_utf8("\xC0\x80"), Utf8Status::IllFormed);          // U+0000 in two bytes
    EXPECT_EQ(validate_utf8("\xC0\xAF"), Utf8Status::IllFormed);          // '/' in two bytes
    EXPECT_EQ(validate_utf8("\xC1\xBF"), Utf8Status::IllFormed);          // U+007F in two bytes
    EXPECT_EQ(validate_utf8("\xE0\x80\xAF"), Utf8Status::IllFormed);      // '/' in three bytes
    EXPECT_EQ(validate_utf8("\xE0\x9F\xBF"), Utf8Status::IllFormed);      // U+07FF in three bytes
    EXPECT_EQ(validate_utf8("\xF0\x80\x80\xAF"), Utf8Status::IllFormed);  // '/' in four bytes
    EXPECT_EQ(validate_utf8("\xF0\x8F\xBF\xBF"), Utf8Status::IllFormed);  // U+FFFF in four bytes
    EXPECT_FALSE(is_valid_mqtt_utf8("\xC0\x80"));
}

TEST(Utf8, RejectsSurrogates) {  // [MQTT-1.5.4-1]
    EXPECT_EQ(validate_utf8("\xED\xA0\x80"), Utf8Status::Surrogate);  // U+D800
    EXPECT_EQ(validate_utf8("\xED\xAD\xBF"), Utf8Status::Surrogate);  // U+DB7F
    EXPECT_EQ(validate_utf8("\xED\xB0\x80"), Utf8Status::Surrogate);  // U+DC00
    EXPECT_EQ(validate_utf8("\xED\xBF\xBF"), Utf8Status::Surrogate);  // U+DFFF
    EXPECT_EQ(validate_utf8("ok\xED\xA0\x80ok"), Utf8Status::Surrogate);
    EXPECT_FALSE(is_valid_mqtt_utf8("\xED\xA0\x80"));
}

TEST(Utf8, RejectsTheNullCharacter) {  // [MQTT-1.5.4-2]
    EXPECT_EQ(validate_utf8("\0"sv), Utf8Status::NullCharacter);
    EXPECT_EQ(validate_utf8("a\0b"sv), Utf8Status::NullCharacter);
    EXPECT_EQ(validate_utf8("abc\0"sv), Utf8Status::NullCharacter);
    EXPECT_FALSE(is_valid_mqtt_utf8("a\0"sv));
}

TEST(Utf8, RejectsTruncatedSequences) {
    EXPECT_EQ(validate_utf8("\xC3"), Utf8Status::IllFormed);
    EXPECT_EQ(validate_utf8("caf\xC3"), Utf8Status::IllFormed);
    EXPECT_EQ(validate_utf8("\xE2\x82"), Utf8Status::IllFormed);
    EXPECT_EQ(validate_utf8("\xF0\x9D\x84"), Utf8Status::IllFormed);
    EXPECT_EQ(validate_utf8("\xF0"), Utf8Status::IllFormed);
}

TEST(Utf8, RejectsBadLeadAndContinuationBytes) {
    EXPECT_EQ(validate_utf8("\x80"), Utf8Status::IllFormed);              // lone continuation byte
    EXPECT_EQ(validate_utf8("a\xBF"), Utf8Status::IllFormed);
    EXPECT_EQ(validate_utf8("\xC3\x28"), Utf8Status::IllFormed);          // continuation byte missing
    EXPECT_EQ(validate_utf8("\xE2\x28\xAC"), Utf8Status::IllFormed);
    EXPECT_EQ(validate_utf8("\xF0\x9D\x28\x9E"), Utf8Status::IllFormed);
    EXPECT_EQ(validate_utf8("\xF8\x88\x80\x80\x80"), Utf8Status::IllFormed);  // five-byte form
    EXPECT_EQ(validate_utf8("\xFC\x84\x80\x80\x80\x80"), Utf8Status::IllFormed);
    EXPECT_EQ(validate_utf8("\xFE"), Utf8Status::IllFormed);
    EXPECT_EQ(validate_utf8("\xFF"), Utf8Status::IllFormed);
}

TEST(Utf8, RejectsCodePointsAboveTheUnicodeRange) {
    EXPECT_EQ(validate_utf8("\xF4\x90\x80\x80"), Utf8Status::IllFormed);  // U+110000
    EXPECT_EQ(validate_utf8("\xF5\x80\x80\x80"), Utf8Status::IllFormed);
    EXPECT_EQ(validate_utf8("\xF7\xBF\xBF\xBF"), Utf8Status::IllFormed);  // U+1FFFFF
}

TEST(Utf8, ControlCharacterHelper) {  // SHOULD NOT appear (1.5.4): U+0001..U+001F, U+007F..U+009F
    EXPECT_FALSE(has_control_characters(""));
    EXPECT_FALSE(has_control_characters("sport/tennis player1"));
    EXPECT_FALSE(has_control_characters("caf\xC3\xA9"));
    EXPECT_FALSE(has_control_characters("\xC2\xA0"));          // U+00A0 no-break space is not a control character
    EXPECT_FALSE(has_control_characters("\xE2\x82\xAC"));      // euro sign: continuation bytes 0x82, 0xAC
    EXPECT_FALSE(has_control_characters("\xF0\x9F\x98\x80"));  // U+1F600: continuation bytes 0x9F, 0x98, 0x80
    EXPECT_FALSE(has_control_characters("\x20\x7E"));
    EXPECT_TRUE(has_control_characters("\x01"));
    EXPECT_TRUE(has_control_characters("a\tb"));
    EXPECT_TRUE(has_control_characters("line\n"));
    EXPECT_TRUE(has_control_characters("\x1F"));
    EXPECT_TRUE(has_control_characters("\x7F"));
    EXPECT_TRUE(has_control_characters("x\xC2\x80"));  // U+0080
    EXPECT_TRUE(has_control_characters("\xC2\x9F"));   // U+009F
}

}  // namespace
}  // namespace moth::common
