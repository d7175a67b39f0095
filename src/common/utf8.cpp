#include "common/utf8.hpp"

#include <cstdint>

namespace moth::common {

Utf8Status validate_utf8(std::string_view s) noexcept {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const auto* end = p + s.size();
    while (p < end) {
        const unsigned char c = *p;
        if (c < 0x80) {
            if (c == 0) return Utf8Status::NullCharacter;
            ++p;
            continue;
        }
        std::size_t len = 0;
        std::uint32_t cp = 0;
        std::uint32_t min = 0;
        if ((c & 0xE0) == 0xC0) {
            len = 2, cp = c & 0x1FU, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3, cp = c & 0x0FU, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4, cp = c & 0x07U, min = 0x10000;
        } else {
            return Utf8Status::IllFormed;
        }
        if (static_cast<std::size_t>(end - p) < len) return Utf8Status::IllFormed;
        for (std::size_t i = 1; i < len; ++i) {
            if ((p[i] & 0xC0) != 0x80) return Utf8Status::IllFormed;
            cp = (cp << 6) | (p[i] & 0x3FU);
        }
        if (cp < min || cp > 0x10FFFF) return Utf8Status::IllFormed;
        if (cp >= 0xD800 && cp <= 0xDFFF) return Utf8Status::Surrogate;
        p += len;
    }
    return Utf8Status::Ok;
}

bool has_control_characters(std::string_view s) noexcept {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    for (std::size_t i = 0; i < s.size(); ++i) {
        const unsigned char c = p[i];
        if ((c >= 0x01 && c <= 0x1F) || c == 0x7F) return true;
        // U+0080..U+009F are encoded as C2 80..C2 9F.
        if (c == 0xC2 && i + 1 < s.size() && p[i + 1] >= 0x80 && p[i + 1] <= 0x9F) return true;
    }
    return false;
}

}  // namespace moth::common
