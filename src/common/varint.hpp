#pragma once
// MQTT Variable Byte Integer (MQTT 5.0 section 1.5.5, 3.1.1 section 2.2.3): 7 bits per byte,
// least significant group first, high bit set on every byte but the last, at most 4 bytes.
#include <cstddef>
#include <cstdint>
#include <span>

namespace moth::common {

inline constexpr std::uint32_t kVarIntMax = 268'435'455;  // 0xFF 0xFF 0xFF 0x7F
inline constexpr std::size_t kVarIntMaxBytes = 4;

enum class VarIntStatus : std::uint8_t { Ok, NeedMore, Malformed };

struct VarIntDecode {
    VarIntStatus status = VarIntStatus::NeedMore;
    std::uint32_t value = 0;
    std::size_t size = 0;  // bytes consumed when Ok
};

// Decodes a variable byte integer at the start of `in`. NeedMore when `in` ends inside the integer,
// Malformed when a fifth byte would be needed [MQTT-1.5.5-1]. A non-minimal encoding (e.g. 0x80 0x00)
// is accepted, as the specification only says the minimal number of bytes MUST be used by the sender.
[[nodiscard]] constexpr VarIntDecode decode_varint(std::span<const std::byte> in) noexcept {
    std::uint32_t value = 0;
    for (std::size_t i = 0; i < kVarIntMaxBytes; ++i) {
        if (i >= in.size()) return {VarIntStatus::NeedMore, 0, 0};
        const auto b = std::to_integer<std::uint32_t>(in[i]);
        value |= (b & 0x7FU) << (7 * i);
        if ((b & 0x80U) == 0) return {VarIntStatus::Ok, value, i + 1};
    }
    return {VarIntStatus::Malformed, 0, 0};
}

// Number of bytes the minimal encoding of `value` takes; 0 when value > kVarIntMax.
[[nodiscard]] constexpr std::size_t varint_size(std::uint32_t value) noexcept {
    if (value < 128U) return 1;
    if (value < 16'384U) return 2;
    if (value < 2'097'152U) return 3;
    if (value <= kVarIntMax) return 4;
    return 0;
}

// Writes the minimal encoding of `value` (<= kVarIntMax) to `out`, which must hold varint_size(value)
// bytes. Returns the number of bytes written.
constexpr std::size_t encode_varint(std::uint32_t value, std::byte* out) noexcept {
    std::size_t n = 0;
    do {
        auto b = static_cast<std::uint8_t>(value & 0x7FU);
        value >>= 7;
        if (value != 0) b = static_cast<std::uint8_t>(b | 0x80U);
        out[n++] = std::byte{b};
    } while (value != 0);
    return n;
}

}  // namespace moth::common
