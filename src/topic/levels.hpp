#pragma once
// Level-by-level walking of topic names and filters, shared by the subscription tree and the retained
// index. Both split on the fly instead of building a vector of levels, so that matching a PUBLISH does
// not allocate.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace moth::topic {

// Offset of "no more levels": every level, the last one included, has been consumed. Distinct from an
// offset equal to size(), which is an empty last level ("sport/" has two levels, "sport" and "").
inline constexpr std::size_t kNoLevel = std::string_view::npos;

struct Level {
    std::string_view text;  // the level, possibly empty
    std::size_t next;       // offset of the following level, or kNoLevel
};

// The level of `s` starting at `start` (precondition: start <= s.size()).
[[nodiscard]] inline Level level_at(std::string_view s, std::size_t start) noexcept {
    const auto slash = s.find('/', start);
    if (slash == std::string_view::npos) return {s.substr(start), kNoLevel};
    return {s.substr(start, slash - start), slash + 1};
}

// [MQTT-4.7.2-1]: wildcards in the first level of a filter do not match topics starting with '$', so
// that "#" does not see "$SYS/...".
[[nodiscard]] inline bool is_dollar_topic(std::string_view topic) noexcept {
    return !topic.empty() && topic.front() == '$';
}

// Transparent hashing, so that a child map keyed by owned strings is searched with a string_view taken
// from the topic being matched, without building a std::string. Inline and word at a time: topic levels are
// a few bytes, and a lookup hashes the level and the neighbours it walks past in its bucket (the map keeps
// no hash codes), which made std::hash's out-of-line byte loop a quarter of matching a PUBLISH. Like
// std::hash, not keyed.
struct LevelHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
        constexpr std::uint64_t kMul = 0x9E3779B97F4A7C15ULL;
        std::uint64_t h = s.size() * kMul;
        std::size_t i = 0;
        for (; i + 8 <= s.size(); i += 8) {
            std::uint64_t w = 0;
            std::memcpy(&w, s.data() + i, 8);
            h = (h ^ w) * kMul;
            h ^= h >> 32;
        }
        std::uint64_t w = 0;
        for (; i < s.size(); ++i) w = (w << 8) | static_cast<unsigned char>(s[i]);
        h = (h ^ w) * kMul;
        return static_cast<std::size_t>(h ^ (h >> 32));
    }
};

template <class T>
using LevelMap = std::unordered_map<std::string, T, LevelHash, std::equal_to<>>;

// Whether the plain filter `filter` matches the topic name `topic` (MQTT 5.0 section 4.7), '$' rule
// included. Both must be valid (codec::validate_topic_filter / validate_topic_name). For one-off checks
// (ACL patterns, bridges); routing goes through SubscriptionTree, which matches every filter at once.
[[nodiscard]] bool topic_matches(std::string_view filter, std::string_view topic) noexcept;

}  // namespace moth::topic
