#pragma once
// How a shared subscription group picks its receiver (MQTT 5.0 section 4.8.2 leaves it to the server). The one
// definition: the subscription tree runs it and the config file names it (config::SharedPolicy is an alias), so
// the two can never disagree on values or names.
#include <cstdint>
#include <string_view>

namespace moth::topic {

enum class SharedPolicy : std::uint8_t {
    RoundRobin,  // successive messages rotate through the members, in the order they joined
    Random,      // uniformly at random, from the tree's own generator (seeded at construction)
    Sticky,      // the same member until it leaves; then the longest-standing remaining member
};

// "round_robin", "random", "sticky": the names in the config file (features.shared_policy) and in logs.
[[nodiscard]] constexpr std::string_view to_string(SharedPolicy policy) noexcept {
    switch (policy) {
        case SharedPolicy::RoundRobin:
            return "round_robin";
        case SharedPolicy::Random:
            return "random";
        case SharedPolicy::Sticky:
            return "sticky";
    }
    return "unknown";
}

}  // namespace moth::topic
