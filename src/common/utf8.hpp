#pragma once
// UTF-8 validation as MQTT requires of every UTF-8 Encoded String (MQTT 5.0 section 1.5.4,
// 3.1.1 section 1.5.3): well formed per RFC 3629 (no overlong forms, no code points above U+10FFFF),
// no surrogates U+D800..U+DFFF [MQTT-1.5.4-1] and no U+0000 [MQTT-1.5.4-2].
#include <string_view>

namespace moth::common {

enum class Utf8Status : unsigned char {
    Ok,
    IllFormed,      // bad lead/continuation byte, truncated sequence, overlong form, > U+10FFFF
    Surrogate,      // U+D800..U+DFFF encoded
    NullCharacter,  // U+0000
};

[[nodiscard]] Utf8Status validate_utf8(std::string_view s) noexcept;

[[nodiscard]] inline bool is_valid_mqtt_utf8(std::string_view s) noexcept {
    return validate_utf8(s) == Utf8Status::Ok;
}

// True when `s` contains a control character U+0001..U+001F or U+007F..U+009F, which the specification
// says SHOULD NOT appear [MQTT-1.5.4-? non normative]; useful for warnings, never a reason to reject.
[[nodiscard]] bool has_control_characters(std::string_view s) noexcept;

}  // namespace moth::common
