#pragma once
// Inside the output formatter (format.cpp, mosquitto_json.cpp): printing one field the way mosquitto_sub's
// printf calls do (width, '-' and '0' flags, precision), payload text and local time.
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

#include "format.hpp"

namespace moth::cli {

inline bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Plain UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF; NUL is allowed.
[[nodiscard]] bool valid_utf8(std::string_view s);

[[nodiscard]] std::string_view as_text(const std::vector<std::byte>& bytes);

// printf("%d"/"%-*d"/"%0*d"/"%*d") as formatted_print_int does it.
void put_int(std::string& out, long long value, char align, char pad, int width);
// `width` blanks of `pad`, where a field's value is absent.
void put_blank(std::string& out, char pad, int width);
// printf("%s") with optional width and precision (formatted_print_str); precision -1 means none. Like printf on
// a C string, the value ends at its first NUL.
void put_str(std::string& out, std::string_view value, char align, int width, int precision);
// write_payload: hex 0 raw, 1 lower case, 2 upper case.
void put_payload(std::string& out, std::string_view payload, int hex, char align, char pad, int width);

[[nodiscard]] std::tm local_tm(const Timestamp& when);
[[nodiscard]] std::string strftime_string(const char* format, const std::tm& tm);

}  // namespace moth::cli
