// The expected strings were captured from Debian's mosquitto_sub 2.0.11 (`-F '<format>'`, TZ=UTC) receiving the
// same messages: the formatter must print exactly what mosquitto_sub prints.
#include <cstdlib>
#include <ctime>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "format.hpp"

namespace moth::cli {
namespace {

Message text(std::string topic, std::string_view payload, QoS qos = QoS::AtMostOnce, bool retain = false) {
    Message m;
    m.topic = std::move(topic);
    for (const char c : payload) m.payload.push_back(static_cast<std::byte>(c));
    m.qos = qos;
    m.retain = retain;
    return m;
}

// f/2 as mosquitto_pub -V 5 -D publish user-property k1 v1 -D publish user-property k2 v2 -D publish content-type
// text/plain -D publish message-expiry-interval 1000 -D publish payload-format-indicator 1 -D publish
// response-topic resp/t -D publish correlation-data abc, received 18 seconds later.
Message with_properties() {
    auto m = text("f/2", "he\"l\\lo", QoS::AtMostOnce, true);
    m.properties.user_properties = {{"k1", "v1"}, {"k2", "v2"}};
    m.properties.content_type = "text/plain";
    m.properties.message_expiry_interval = 982;
    m.properties.payload_format_indicator = 1;
    m.properties.response_topic = "resp/t";
    m.properties.correlation_data = std::vector<std::byte>{std::byte{'a'}, std::byte{'b'}, std::byte{'c'}};
    return m;
}

class FormatTest : public ::testing::Test {
protected:
    void SetUp() override {
        setenv("TZ", "UTC", 1);
        tzset();
    }
    // 2026-11-24T20:29:27.404223Z
    static constexpr Timestamp kWhen{1795552167, 404223123};

    static std::string fmt(std::string_view format, const Message& m, bool eol = true) {
        OutputOptions o;
        o.mode = OutputMode::Format;
        o.format = std::string(format);
        o.eol = eol;
        std::string out;
        std::string err;
        render(o, m, kWhen, out, err);
        return out;
    }
};

TEST_F(FormatTest, BasicSpecifiers) {
    EXPECT_EQ(fmt("%t|%p|%q|%r|%l|%m", text("f/1", "hello", QoS::AtMostOnce, true)), "f/1|hello|0|1|5|0\n");
    EXPECT_EQ(fmt("%t|%p|%q|%r", text("a/b", "x", QoS::ExactlyOnce, false)), "a/b|x|2|0\n");
}

TEST_F(FormatTest, TopicWidthAndPrecision) {
    EXPECT_EQ(fmt("[%10t][%-10t][%.2t][%5.3t][%-5.3t]", text("f/1", "hello")),
              "[       f/1][f/1       ][f/][  f/1][f/1  ]\n");
    EXPECT_EQ(fmt("[%.t][%5.t]", text("f/1", "hello")), "[][     ]\n");
}

TEST_F(FormatTest, PayloadWidthTruncatesAndPads) {
    EXPECT_EQ(fmt("[%10p][%-10p][%010p][%3p]", text("f/1", "hello")), "[     hello][hello     ][00000hello][hel]\n");
    // mosquitto_sub quirks: '-' without width pads by the payload length; "%-05p" pads nothing.
    EXPECT_EQ(fmt("[%-p][%-3p][%-05p][%00p][%-0p]", text("f/1", "hello")), "[hello     ][hel][hello][hello][hello     ]\n");
}

TEST_F(FormatTest, HexPayload) {
    EXPECT_EQ(fmt("[%x][%X][%10x][%-10x][%010X][%3x]", text("f/1", "hello")),
              "[68656c6c6f][68656C6C6F][      6865][6865      ][0000006865][ 68]\n");
    EXPECT_EQ(fmt("[%-x][%-010x]", text("f/1", "hello")), "[68656c6c6f     ][6865      ]\n");
    EXPECT_EQ(fmt("%x", text("f/4", std::string_view("a\x01\xff" "b", 4))), "6101ff62\n");
}

TEST_F(FormatTest, IntegerWidths) {
    EXPECT_EQ(fmt("[%5l][%-5l][%05l][%5q][%5r][%05m][%-05l]", text("f/1", "hello", QoS::AtMostOnce, true)),
              "[    5][5    ][00005][0][1][00000][5    ]\n");
}

TEST_F(FormatTest, Properties) {
    const auto m = with_properties();
    EXPECT_EQ(fmt("%P|%C|%D|%E|%F|%R|%S|%A", m), "k1:v1 k2:v2|text/plain|abc|982|1|resp/t||\n");
    EXPECT_EQ(fmt("[%10C][%-10E][%05F][%3R][%5S][%5A][%.3C]", m),
              "[text/plain][982       ][00001][resp/t][     ][     ][tex]\n");
    // Absent properties: %C pads with spaces, %E/%F/%S/%A with the pad character, %R and %D print nothing.
    EXPECT_EQ(fmt("%P|%C|%D|%E|%F|%R|%S|%A", text("f/1", "hello")), "|||||||\n");
    EXPECT_EQ(fmt("[%10C][%-10E][%05F][%3R][%5S][%5A][%.3C]", text("f/1", "hello")),
              "[          ][          ][00000][][     ][     ][]\n");
}

TEST_F(FormatTest, SubscriptionIdentifier) {
    auto m = text("a", "b");
    m.properties.subscription_identifiers = {7, 9};
    EXPECT_EQ(fmt("%S|%03S", m), "7|007\n");
}

TEST_F(FormatTest, EscapesAndLiterals) {
    EXPECT_EQ(fmt("\\\\\\0\\a\\e\\n\\r\\t\\v|%%|@@", text("t", "p")),
              std::string("\\\0\a\x1b\n\r\t\v|%|@\n", 13));
}

TEST_F(FormatTest, Time) {
    const auto m = text("f/1", "hello");
    EXPECT_EQ(fmt("@Y|%I|@N", m), "2026|2026-11-24T20:29:27+0000|404223123\n");
    EXPECT_EQ(fmt("[%12I][%.4I][%-30I]|%U|@H@M@%", m),
              "[2026-11-24T20:29:27+0000][2026][2026-11-24T20:29:27+0000      ]|1795552167.404223123|2029%\n");
}

TEST_F(FormatTest, JsonEscapedLikeCJson) {
    EXPECT_EQ(fmt("%j", text("f/1", "hello", QoS::AtMostOnce, true)),
              "{\"tst\":\"2026-11-24T20:29:27.404223Z+0000\",\"topic\":\"f/1\",\"qos\":0,\"retain\":1,"
              "\"payloadlen\":5,\"payload\":\"hello\"}\n");
    EXPECT_EQ(fmt("%j", text("f/4", std::string_view("a\x01\xff" "b", 4), QoS::AtMostOnce, true)),
              "{\"tst\":\"2026-11-24T20:29:27.404223Z+0000\",\"topic\":\"f/4\",\"qos\":0,\"retain\":1,"
              "\"payloadlen\":4,\"payload\":\"a\\u0001\xff" "b\"}\n");
    EXPECT_EQ(fmt("%j", text("e", "", QoS::AtMostOnce, false)),
              "{\"tst\":\"2026-11-24T20:29:27.404223Z+0000\",\"topic\":\"e\",\"qos\":0,\"retain\":0,"
              "\"payloadlen\":0,\"payload\":null}\n");
}

TEST_F(FormatTest, JsonWithPropertiesAndPretty) {
    const auto m = with_properties();
    EXPECT_EQ(fmt("%j", m),
              "{\"tst\":\"2026-11-24T20:29:27.404223Z+0000\",\"topic\":\"f/2\",\"qos\":0,\"retain\":1,"
              "\"payloadlen\":7,\"properties\":{\"payload-format-indicator\":1,\"message-expiry-interval\":982,"
              "\"content-type\":\"text/plain\",\"response-topic\":\"resp/t\",\"correlation-data\":\"abc\","
              "\"user-properties\":{\"k1\":\"v1\",\"k2\":\"v2\"}},\"payload\":\"he\\\"l\\\\lo\"}\n");
    OutputOptions o;
    o.mode = OutputMode::Format;
    o.format = "%j";
    o.pretty = true;
    std::string out;
    std::string err;
    render(o, text("f/4", "ab", QoS::AtMostOnce, true), kWhen, out, err);
    EXPECT_EQ(out,
              "{\n\t\"tst\":\t\"2026-11-24T20:29:27.404223Z+0000\",\n\t\"topic\":\t\"f/4\",\n\t\"qos\":\t0,\n"
              "\t\"retain\":\t1,\n\t\"payloadlen\":\t2,\n\t\"payload\":\t\"ab\"\n}\n");
    out.clear();
    render(o, with_properties(), kWhen, out, err);
    EXPECT_NE(out.find("\t\"properties\":\t{\n\t\t\"payload-format-indicator\":\t1,\n"), std::string::npos) << out;
    EXPECT_NE(out.find("\t\t\"user-properties\":\t{\n\t\t\t\"k1\":\t\"v1\",\n\t\t\t\"k2\":\t\"v2\"\n\t\t}\n\t},\n"),
              std::string::npos)
        << out;
}

TEST_F(FormatTest, JsonUnescapedPayload) {
    EXPECT_EQ(fmt("%J", text("t", "{\"temperature\": 27.0, \"humidity\":57, \"a\":[1, 2.5, true, null]}")),
              "{\"tst\":\"2026-11-24T20:29:27.404223Z+0000\",\"topic\":\"t\",\"qos\":0,\"retain\":0,"
              "\"payloadlen\":62,\"payload\":{\"temperature\":27,\"humidity\":57,\"a\":[1,2.5,true,null]}}\n");
    OutputOptions o;
    o.mode = OutputMode::Format;
    o.format = "%J";
    std::string out;
    std::string err;
    render(o, text("f/1", "hello"), kWhen, out, err);
    EXPECT_EQ(out, "\n");
    EXPECT_EQ(err, "Error: Message payload is not valid JSON on topic f/1.\n");
}

TEST_F(FormatTest, NoEndOfLine) {
    EXPECT_EQ(fmt("%t %p", text("a", "b"), false), "a b");
}

TEST_F(FormatTest, VerboseAndPayloadModes) {
    OutputOptions o;
    std::string out;
    std::string err;
    o.mode = OutputMode::Payload;
    render(o, text("a", "hi"), kWhen, out, err);
    render(o, text("a", ""), kWhen, out, err);  // nothing for an empty payload
    EXPECT_EQ(out, "hi\n");
    out.clear();
    o.mode = OutputMode::Verbose;
    render(o, text("a/b", "hi"), kWhen, out, err);
    render(o, text("a/c", ""), kWhen, out, err);
    EXPECT_EQ(out, "a/b hi\na/c (null)\n");
    out.clear();
    o.eol = false;
    render(o, text("a/b", "hi"), kWhen, out, err);
    render(o, text("a/c", ""), kWhen, out, err);  // -v -N prints nothing at all for an empty payload
    EXPECT_EQ(out, "a/b hi");
}

TEST(CheckFormat, AcceptsWhatMosquittoAccepts) {
    for (const char* f : {"%t %p", "%%", "%-10.3t", "%010x", "@@@Y", "\\\\\\0\\a\\e\\n\\r\\t\\v", "%j%J%U%I",
                          "%A%C%D%E%F%l%m%P%q%R%S%r%X", "plain"}) {
        EXPECT_EQ(check_format(f), std::nullopt) << f;
    }
}

TEST(CheckFormat, RejectsWhatMosquittoRejects) {
    EXPECT_EQ(check_format("%z"), "Invalid format specifier 'z'.");
    EXPECT_EQ(check_format("abc%"), "Incomplete format specifier.");
    EXPECT_EQ(check_format("%-"), "Incomplete format specifier.");
    EXPECT_EQ(check_format("%5"), "Incomplete format specifier.");
    EXPECT_EQ(check_format("%5."), "Incomplete format specifier.");
    EXPECT_EQ(check_format("@"), "Incomplete format specifier.");
    EXPECT_EQ(check_format("\\"), "Incomplete escape specifier.");
    EXPECT_EQ(check_format("\\z"), "Invalid escape specifier 'z'.");
    EXPECT_EQ(check_format("%0-5t"), "Invalid format specifier '-'.");
}

TEST(MothJson, TextPayload) {
    auto m = text("a/b", "hi \"there\"", QoS::AtLeastOnce, true);
    EXPECT_EQ(to_json(m, false), R"({"topic":"a/b","payload":"hi \"there\"","qos":1,"retain":true})");
}

TEST(MothJson, BinaryPayloadIsBase64) {
    auto m = text("a", std::string_view("\xff\x00\x01", 3));
    EXPECT_EQ(to_json(m, false), R"({"topic":"a","payload":"/wAB","encoding":"base64","qos":0,"retain":false})");
}

TEST(MothJson, Properties) {
    auto m = text("a", "x");
    m.properties.content_type = "text/plain";
    m.properties.correlation_data = std::vector<std::byte>{std::byte{0xff}};
    m.properties.user_properties = {{"k", "v"}, {"k", "w"}};
    m.properties.subscription_identifiers = {3};
    const auto j = nlohmann::json::parse(to_json(m, false));
    EXPECT_EQ(j["properties"]["content-type"], "text/plain");
    EXPECT_EQ(j["properties"]["correlation-data"], "/w==");
    EXPECT_EQ(j["properties"]["correlation-data-encoding"], "base64");
    EXPECT_EQ(j["properties"]["user-properties"], nlohmann::json::parse(R"([["k","v"],["k","w"]])"));
    EXPECT_EQ(j["properties"]["subscription-identifiers"], nlohmann::json::parse("[3]"));
    EXPECT_NE(to_json(m, true).find("\n  \"topic\": \"a\""), std::string::npos);
}

TEST(MothJson, Utf8PayloadStaysText) {
    EXPECT_EQ(to_json(text("t", "Grüße €"), false), R"({"topic":"t","payload":"Grüße €","qos":0,"retain":false})");
    // Overlong encoding and a lone surrogate are not UTF-8.
    EXPECT_NE(to_json(text("t", "\xc0\xaf"), false).find("base64"), std::string::npos);
    EXPECT_NE(to_json(text("t", "\xed\xa0\x80"), false).find("base64"), std::string::npos);
}

}  // namespace
}  // namespace moth::cli
