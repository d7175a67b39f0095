#include "topic/levels.hpp"

namespace moth::topic {

bool topic_matches(std::string_view filter, std::string_view topic) noexcept {
    if (is_dollar_topic(topic) && !filter.empty() && (filter.front() == '+' || filter.front() == '#')) return false;
    std::size_t f = 0;
    std::size_t t = 0;
    for (;;) {
        if (f == kNoLevel) return t == kNoLevel;
        const auto fl = level_at(filter, f);
        // '#' matches the parent level too: "sport/#" matches "sport" [MQTT-4.7.1-2].
        if (fl.text == "#") return true;
        if (t == kNoLevel) return false;
        const auto tl = level_at(topic, t);
        if (fl.text != "+" && fl.text != tl.text) return false;
        f = fl.next;
        t = tl.next;
    }
}

}  // namespace moth::topic
