// Field printing for the output formatter (format_fields.hpp), as mosquitto_sub 2.0.11's printf calls print.
#include "format_fields.hpp"

#include <array>
#include <cstdint>
#include <cstdio>

namespace moth::cli {

bool valid_utf8(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size()) {
        const auto b = static_cast<unsigned char>(s[i]);
        std::size_t n = 0;
        std::uint32_t cp = 0;
        if (b < 0x80) {
            ++i;
            continue;
        } else if ((b & 0xE0) == 0xC0) {
            n = 1;
            cp = b & 0x1Fu;
        } else if ((b & 0xF0) == 0xE0) {
            n = 2;
            cp = b & 0x0Fu;
        } else if ((b & 0xF8) == 0xF0) {
            n = 3;
            cp = b & 0x07u;
        } else {
            return false;
        }
        if (i + n >= s.size()) return false;
        for (std::size_t k = 1; k <= n; ++k) {
            const auto c = static_cast<unsigned char>(s[i + k]);
            if ((c & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (c & 0x3Fu);
        }
        static constexpr std::array<std::uint32_t, 4> kMin{0, 0x80, 0x800, 0x10000};
        if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += n + 1;
    }
    return true;
}

std::string_view as_text(const std::vector<std::byte>& bytes) {
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

void put_int(std::string& out, long long value, char align, char pad, int width) {
    if (width == 0) {
        out += std::to_string(value);
        return;
    }
    const char* spec = align == '-' ? "%-*lld" : pad == '0' ? "%0*lld" : "%*lld";
    const int n = std::snprintf(nullptr, 0, spec, width, value);
    if (n <= 0) return;
    std::vector<char> buf(static_cast<std::size_t>(n) + 1);
    std::snprintf(buf.data(), buf.size(), spec, width, value);
    out.append(buf.data(), static_cast<std::size_t>(n));
}

void put_blank(std::string& out, char pad, int width) {
    if (width > 0) out.append(static_cast<std::size_t>(width), pad);
}

void put_str(std::string& out, std::string_view value, char align, int width, int precision) {
    if (const auto nul = value.find('\0'); nul != std::string_view::npos) value = value.substr(0, nul);
    if (precision >= 0 && value.size() > static_cast<std::size_t>(precision)) {
        value = value.substr(0, static_cast<std::size_t>(precision));
    }
    const std::size_t w = width > 0 ? static_cast<std::size_t>(width) : 0;
    const std::size_t pad = w > value.size() ? w - value.size() : 0;
    if (align != '-') out.append(pad, ' ');
    out.append(value);
    if (align == '-') out.append(pad, ' ');
}

void put_payload(std::string& out, std::string_view payload, int hex, char align, char pad, int width) {
    long long len = static_cast<long long>(payload.size());
    long long padlen = 0;
    if (width > 0) {
        if (len > width) len = width;
        if (hex > 0) {
            len /= 2;
            padlen = width - len * 2;
        } else {
            padlen = width - len;
        }
    } else {
        padlen = width - len;
    }
    if (align != '-') {
        for (long long i = 0; i < padlen; ++i) out += pad;
    }
    const auto bytes = payload.substr(0, static_cast<std::size_t>(len));
    if (hex == 0) {
        out.append(bytes);
    } else {
        static constexpr char kLower[] = "0123456789abcdef";
        static constexpr char kUpper[] = "0123456789ABCDEF";
        const char* digits = hex == 1 ? kLower : kUpper;
        for (const char c : bytes) {
            const auto b = static_cast<unsigned char>(c);
            out += digits[b >> 4];
            out += digits[b & 0x0F];
        }
    }
    // printf("%*s", padlen, ""): a negative width left-justifies, so it pads too.
    if (align == '-') out.append(static_cast<std::size_t>(padlen < 0 ? -padlen : padlen), ' ');
}

std::tm local_tm(const Timestamp& when) {
    std::tm tm{};
    const std::time_t s = when.seconds;
    localtime_r(&s, &tm);
    return tm;
}

std::string strftime_string(const char* format, const std::tm& tm) {
    std::array<char, 100> buf{};
    const std::size_t n = std::strftime(buf.data(), buf.size(), format, &tm);
    return {buf.data(), n};
}

}  // namespace moth::cli
