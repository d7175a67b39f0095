// MQTT Variable Byte Integer (5.0 section 1.5.5, 3.1.1 section 2.2.3).
#include "common/varint.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "support/codec_helpers.hpp"

namespace moth::common {
namespace {

using test::bytes;
using test::hex;

struct Boundary {
    std::uint32_t value;
    std::vector<std::byte> encoding;  // the minimal encoding, as in the table of section 1.5.5
};

std::vector<Boundary> boundaries() {
    return {
        {0, bytes({0x00})},
        {1, bytes({0x01})},
        {127, bytes({0x7F})},
        {128, bytes({0x80, 0x01})},
        {16'383, bytes({0xFF, 0x7F})},
        {16'384, bytes({0x80, 0x80, 0x01})},
        {2'097'151, bytes({0xFF, 0xFF, 0x7F})},
        {2'097'152, bytes({0x80, 0x80, 0x80, 0x01})},
        {268'435'455, bytes({0xFF, 0xFF, 0xFF, 0x7F})},
    };
}

TEST(VarInt, DecodesEveryBoundaryOfTheSpecTable) {
    for (const auto& b : boundaries()) {
        const auto r = decode_varint(b.encoding);
        EXPECT_EQ(r.status, VarIntStatus::Ok) << b.value;
        EXPECT_EQ(r.value, b.value) << hex(b.encoding);
        EXPECT_EQ(r.size, b.encoding.size()) << b.value;
    }
}

TEST(VarInt, EncodesEveryBoundaryMinimally) {  // [MQTT-1.5.5-1]
    for (const auto& b : boundaries()) {
        EXPECT_EQ(varint_size(b.value), b.encoding.size()) << b.value;
        std::vector<std::byte> out(kVarIntMaxBytes + 1, std::byte{0xEE});
        const std::size_t n = encode_varint(b.value, out.data());
        ASSERT_EQ(n, b.encoding.size()) << b.value;
        out.resize(n);
        EXPECT_EQ(out, b.encoding) << b.value << ": got " << hex(out) << ", expected " << hex(b.encoding);
    }
}

TEST(VarInt, EncodeWritesNoMoreThanItsSize) {
    std::vector<std::byte> out(kVarIntMaxBytes + 2, std::byte{0xEE});
    EXPECT_EQ(encode_varint(128, out.data()), 2U);
    EXPECT_EQ(out[2], std::byte{0xEE});
}

TEST(VarInt, SizeIsZeroAboveTheMaximum) {
    EXPECT_EQ(varint_size(kVarIntMax), 4U);
    EXPECT_EQ(varint_size(kVarIntMax + 1), 0U);
    EXPECT_EQ(varint_size(0xFFFF'FFFFU), 0U);
}

TEST(VarInt, NeedMoreAtEveryTruncation) {
    for (const auto& b : boundaries()) {
        for (std::size_t n = 0; n < b.encoding.size(); ++n) {
            const auto r = decode_varint(std::span<const std::byte>(b.encoding).first(n));
            EXPECT_EQ(r.status, VarIntStatus::NeedMore) << b.value << " truncated to " << n << " bytes";
        }
    }
}

TEST(VarInt, IgnoresBytesAfterTheInteger) {
    const auto in = bytes({0x80, 0x01, 0xFF, 0xFF});
    const auto r = decode_varint(in);
    EXPECT_EQ(r.status, VarIntStatus::Ok);
    EXPECT_EQ(r.value, 128U);
    EXPECT_EQ(r.size, 2U);
}

TEST(VarInt, FifthByteIsMalformed) {  // at most four bytes [MQTT-1.5.5 / 3.1.1 2.2.3]
    EXPECT_EQ(decode_varint(bytes({0xFF, 0xFF, 0xFF, 0xFF, 0x7F})).status, VarIntStatus::Malformed);
    EXPECT_EQ(decode_varint(bytes({0x80, 0x80, 0x80, 0x80, 0x01})).status, VarIntStatus::Malformed);
    // Known to be malformed as soon as the fourth byte has its continuation bit set.
    EXPECT_EQ(decode_varint(bytes({0xFF, 0xFF, 0xFF, 0xFF})).status, VarIntStatus::Malformed);
    EXPECT_EQ(decode_varint(bytes({0xFF, 0xFF, 0xFF})).status, VarIntStatus::NeedMore);
}

TEST(VarInt, NonMinimalEncodingIsAccepted) {  // documented choice: only the sender is bound by [MQTT-1.5.5-1]
    const auto r = decode_varint(bytes({0x80, 0x00}));
    EXPECT_EQ(r.status, VarIntStatus::Ok);
    EXPECT_EQ(r.value, 0U);
    EXPECT_EQ(r.size, 2U);
}

TEST(VarInt, RoundTripsSampleValues) {
    for (std::uint32_t v = 0; v < 70'000; v += 7) {
        std::byte buf[kVarIntMaxBytes];
        const auto n = encode_varint(v, buf);
        const auto r = decode_varint(std::span<const std::byte>(buf, n));
        ASSERT_EQ(r.status, VarIntStatus::Ok) << v;
        ASSERT_EQ(r.value, v);
        ASSERT_EQ(r.size, n);
    }
}

// The functions are constexpr: usable at compile time.
constexpr bool constexpr_round_trip() {
    std::byte buf[kVarIntMaxBytes]{};
    const auto n = encode_varint(2'097'152, buf);
    const auto r = decode_varint(std::span<const std::byte>(buf, n));
    return n == 4 && r.status == VarIntStatus::Ok && r.value == 2'097'152;
}
static_assert(constexpr_round_trip());

}  // namespace
}  // namespace moth::common
