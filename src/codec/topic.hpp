#pragma once
// Topic Name and Topic Filter rules (MQTT 5.0 section 4.7, 3.1.1 section 4.7).
#include <cstdint>
#include <optional>
#include <string_view>

namespace moth::codec {

enum class TopicError : std::uint8_t {
    None,
    Empty,              // [MQTT-4.7.3-1] at least one character
    TooLong,            // more than 65535 bytes [MQTT-4.7.3-3]
    InvalidUtf8,        // [MQTT-4.7.3-2] and [MQTT-1.5.4-1/2]
    WildcardInName,     // '+' or '#' in a Topic Name [MQTT-3.3.2-2]
    MisplacedWildcard,  // '#' not last or not alone on its level [MQTT-4.7.1-1]; '+' not alone [MQTT-4.7.1-2]
    BadSharedFilter,    // "$share/" without a valid ShareName or filter [MQTT-4.8.2-1/2]
};

[[nodiscard]] std::string_view topic_error_text(TopicError e) noexcept;

// A Topic Name, as in PUBLISH and a Will Topic.
[[nodiscard]] TopicError validate_topic_name(std::string_view topic) noexcept;

// A Topic Filter, as in SUBSCRIBE and UNSUBSCRIBE; "$share/<group>/<filter>" is checked as a shared
// subscription: non-empty ShareName without '/', '+' or '#', followed by '/' and a valid filter.
[[nodiscard]] TopicError validate_topic_filter(std::string_view filter) noexcept;

struct SharedFilter {
    std::string_view group;   // ShareName
    std::string_view filter;  // the filter after "$share/<group>/"
};

// The parts of a shared subscription filter, or nullopt when `filter` does not start with "$share/".
// Validity is checked by validate_topic_filter, not here.
[[nodiscard]] std::optional<SharedFilter> parse_shared_filter(std::string_view filter) noexcept;

// A plain loop: find_first_of("+#") calls memchr once per character, which was half the cost of
// decoding a PUBLISH (docs/benchmarks.md).
[[nodiscard]] inline bool has_wildcard(std::string_view s) noexcept {
    for (const char c : s) {
        if (c == '+' || c == '#') return true;
    }
    return false;
}

// Number of levels: 1 + number of '/'.
[[nodiscard]] std::size_t topic_level_count(std::string_view s) noexcept;

}  // namespace moth::codec
