#include "topic/subscription_tree.hpp"

#include <cstdint>

#include "topic/retained_index.hpp"

namespace moth::topic {

std::string_view to_string(SharedPolicy policy) noexcept {
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

// Both containers are header-only templates; instantiating them here compiles every non-template member
// under the module's warning flags, even before the broker uses them.
template class SubscriptionTree<std::uint32_t>;
template class RetainedIndex<std::uint32_t>;

}  // namespace moth::topic
