// The message codec (broker/message_codec.hpp) on its own: every optional field survives a round trip, absent ones
// stay absent, what follows a message is left to the caller, and damaged input is refused with CodecError.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "broker/message_codec.hpp"

namespace moth::broker {
namespace {

using namespace std::chrono_literals;

std::vector<std::byte> bytes(std::string_view s) {
    const auto* p = reinterpret_cast<const std::byte*>(s.data());
    return {p, p + s.size()};
}

Message full(TimePoint now) {
    Message m;
    m.topic = "sensors/kitchen/t";
    m.payload = bytes(std::string("21.5\0C", 6));  // a NUL inside: lengths, not terminators
    m.qos = codec::QoS::ExactlyOnce;
    m.retain = true;
    m.payload_format_indicator = 1;
    m.content_type = "text/plain";
    m.response_topic = "reply/here";
    m.correlation_data = bytes("id-7");
    m.user_properties = {{"unit", "C"}, {"unit", "again"}, {"", ""}};  // repeated and empty keys kept in order
    m.expires_at = now + 90s;
    return m;
}

std::vector<std::pair<std::string, std::string>> properties(const Message& m) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto up : m.user_properties) out.emplace_back(up.key, up.value);
    return out;
}

TEST(MessageCodec, EveryOptionalFieldRoundTrips) {
    const auto now = Clock::now();
    const Message m = full(now);
    std::string out = "prefix";  // appended to, never cleared
    encode_message(out, m, now);
    ASSERT_TRUE(out.starts_with("prefix"));
    std::string_view in(out);
    in.remove_prefix(6);
    const auto later = now + 10s;  // decoded 10 s later (steady time), e.g. after a restart
    const auto got = decode_message(in, later);
    EXPECT_TRUE(in.empty());
    EXPECT_EQ(got->topic, m.topic);
    EXPECT_EQ(got->payload, m.payload);
    EXPECT_EQ(got->qos, codec::QoS::ExactlyOnce);
    EXPECT_TRUE(got->retain);
    EXPECT_EQ(got->payload_format_indicator, std::optional<std::uint8_t>(1));
    EXPECT_EQ(got->content_type, m.content_type);
    EXPECT_EQ(got->response_topic, m.response_topic);
    EXPECT_EQ(got->correlation_data, m.correlation_data);
    EXPECT_EQ(properties(*got), properties(m));
    // The expiry is absolute wall time: read at a later steady `now`, it is that much later in steady terms.
    ASSERT_TRUE(got->expires_at);
    EXPECT_LT(std::chrono::abs(*got->expires_at - (later + 90s)), 1s);
    EXPECT_NE(got->memory_size(), 0U);
}

// Each optional field alone: the flags byte says which follow, so no field is mistaken for another.
TEST(MessageCodec, EachOptionalFieldAloneRoundTrips) {
    const auto now = Clock::now();
    const Message all = full(now);
    for (int field = 0; field < 6; ++field) {
        Message m;
        m.topic = "t";
        switch (field) {
            case 0: m.payload_format_indicator = all.payload_format_indicator; break;
            case 1: m.content_type = all.content_type; break;
            case 2: m.response_topic = all.response_topic; break;
            case 3: m.correlation_data = all.correlation_data; break;
            case 4: m.expires_at = all.expires_at; break;
            default: m.user_properties = all.user_properties; break;
        }
        std::string out;
        encode_message(out, m, now);
        std::string_view in(out);
        const auto got = decode_message(in, now);
        EXPECT_EQ(got->payload_format_indicator.has_value(), field == 0) << field;
        EXPECT_EQ(got->content_type, m.content_type) << field;
        EXPECT_EQ(got->response_topic, m.response_topic) << field;
        EXPECT_EQ(got->correlation_data, m.correlation_data) << field;
        EXPECT_EQ(got->expires_at.has_value(), field == 4) << field;
        EXPECT_EQ(properties(*got), properties(m)) << field;
        EXPECT_EQ(got->qos, codec::QoS::AtMostOnce) << field;
        EXPECT_FALSE(got->retain) << field;
    }
}

TEST(MessageCodec, LeavesWhatFollowsToTheCaller) {
    const auto now = Clock::now();
    std::string out;
    Message a;
    a.topic = "a";
    Message b = full(now);
    encode_message(out, a, now);
    encode_message(out, b, now);
    out += "tail";
    std::string_view in(out);
    EXPECT_EQ(decode_message(in, now)->topic, "a");
    EXPECT_EQ(decode_message(in, now)->topic, b.topic);
    EXPECT_EQ(in, "tail");
    ByteReader r(in);
    EXPECT_THROW(r.finish(), CodecError);  // a caller that wants nothing after the message says so
}

// A message cut anywhere is refused, never read as a shorter one, and the input is left as it was.
TEST(MessageCodec, RefusesTruncatedInput) {
    const auto now = Clock::now();
    std::string out;
    encode_message(out, full(now), now);
    for (std::size_t n = 0; n < out.size(); ++n) {
        const std::string cut = out.substr(0, n);
        std::string_view in(cut);
        EXPECT_THROW((void)decode_message(in, now), CodecError) << "cut at " << n << " of " << out.size();
        EXPECT_EQ(in.size(), n);
    }
}

TEST(MessageCodec, RefusesBadQoSAndOverlongProperties) {
    const auto now = Clock::now();
    Message m;
    m.topic = "t";
    std::string out;
    encode_message(out, m, now);
    // topic (4 + 1), payload length (4): the QoS byte follows.
    out[9] = 3;
    std::string_view in(out);
    EXPECT_THROW((void)decode_message(in, now), CodecError);

    // A user property key longer than an MQTT string can be (65535 bytes) cannot have come from a client.
    std::string raw;
    ByteWriter w(raw);
    w.str("t");
    w.bytes({});
    w.u8(0);
    w.u8(0);
    w.u8(0);  // no optional fields
    w.u32(1);
    w.str(std::string(65536, 'k'));
    w.str("v");
    std::string_view rin(raw);
    EXPECT_THROW((void)decode_message(rin, now), CodecError);
}

TEST(MessageCodec, IntegersAreBigEndian) {
    std::string out;
    ByteWriter w(out);
    w.u16(0x0102);
    w.u32(0x03040506);
    w.u64(0x0708090A0B0C0D0EULL);
    EXPECT_EQ(out, std::string("\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0A\x0B\x0C\x0D\x0E", 14));
    ByteReader r(out);
    EXPECT_EQ(r.u16(), 0x0102);
    EXPECT_EQ(r.u32(), 0x03040506U);
    EXPECT_EQ(r.u64(), 0x0708090A0B0C0D0EULL);
    r.finish();
    EXPECT_THROW((void)r.u8(), CodecError);
}

}  // namespace
}  // namespace moth::broker
