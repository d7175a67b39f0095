// Base64 (RFC 4648) as the HTTP API and moth --json use it. These cases were in test/unit/http/api_test.cpp
// and test/unit/cli/format_test.cpp while each had its own copy of the encoder.
#include "common/base64.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <optional>
#include <random>
#include <string>

namespace moth::common {
namespace {

TEST(Base64, EncodesWithPadding) {
    EXPECT_EQ(base64_encode(""), "");
    EXPECT_EQ(base64_encode("f"), "Zg==");
    EXPECT_EQ(base64_encode("fo"), "Zm8=");
    EXPECT_EQ(base64_encode("foo"), "Zm9v");
    EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
}

TEST(Base64, RoundTrips) {
    EXPECT_EQ(base64_decode("Zm9vYg=="), "foob");
    EXPECT_EQ(base64_decode("Zm9vYg"), "foob");  // padding optional
    EXPECT_EQ(base64_decode("!!"), std::nullopt);
    EXPECT_EQ(base64_decode("Z"), std::nullopt);
    std::mt19937 rng(7);
    for (int n = 0; n < 64; ++n) {
        std::string bytes(static_cast<std::size_t>(n), '\0');
        for (auto& c : bytes) c = static_cast<char>(rng() & 0xFF);
        EXPECT_EQ(base64_decode(base64_encode(bytes)), bytes) << n;
    }
}

}  // namespace
}  // namespace moth::common
