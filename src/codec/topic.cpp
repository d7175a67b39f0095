#include "codec/topic.hpp"

#include <algorithm>

#include "codec/types.hpp"
#include "common/utf8.hpp"

namespace moth::codec {

namespace {

TopicError check_common(std::string_view s) noexcept {
    if (s.empty()) return TopicError::Empty;
    if (s.size() > kMaxStringLength) return TopicError::TooLong;
    if (!common::is_valid_mqtt_utf8(s)) return TopicError::InvalidUtf8;
    return TopicError::None;
}

// Wildcards must fill a whole level, and '#' must be the last level [MQTT-4.7.1-1], [MQTT-4.7.1-2].
TopicError check_filter_levels(std::string_view f) noexcept {
    for (std::size_t i = 0; i < f.size(); ++i) {
        const char c = f[i];
        if (c != '+' && c != '#') continue;
        const bool starts_level = i == 0 || f[i - 1] == '/';
        const bool ends_level = i + 1 == f.size() || f[i + 1] == '/';
        if (!starts_level || !ends_level) return TopicError::MisplacedWildcard;
        if (c == '#' && i + 1 != f.size()) return TopicError::MisplacedWildcard;
    }
    return TopicError::None;
}

constexpr std::string_view kSharePrefix = "$share/";

}  // namespace

TopicError validate_topic_name(std::string_view topic) noexcept {
    if (auto e = check_common(topic); e != TopicError::None) return e;
    if (has_wildcard(topic)) return TopicError::WildcardInName;
    return TopicError::None;
}

TopicError validate_topic_filter(std::string_view filter) noexcept {
    if (auto e = check_common(filter); e != TopicError::None) return e;
    if (auto shared = parse_shared_filter(filter)) {
        // [MQTT-4.8.2-1] ShareName: at least one character, no '/', '+' or '#'; [MQTT-4.8.2-2] then '/'
        // and a Topic Filter.
        if (shared->group.empty() || shared->group.find_first_of("/+#") != std::string_view::npos) {
            return TopicError::BadSharedFilter;
        }
        if (shared->filter.empty()) return TopicError::BadSharedFilter;
        return check_filter_levels(shared->filter);
    }
    if (filter == "$share") return TopicError::BadSharedFilter;
    return check_filter_levels(filter);
}

std::optional<SharedFilter> parse_shared_filter(std::string_view filter) noexcept {
    if (!filter.starts_with(kSharePrefix)) return std::nullopt;
    const auto rest = filter.substr(kSharePrefix.size());
    const auto slash = rest.find('/');
    if (slash == std::string_view::npos) return SharedFilter{rest, {}};
    return SharedFilter{rest.substr(0, slash), rest.substr(slash + 1)};
}

std::size_t topic_level_count(std::string_view s) noexcept {
    return 1 + static_cast<std::size_t>(std::count(s.begin(), s.end(), '/'));
}

}  // namespace moth::codec
