#include "topic/subscription_tree.hpp"

#include <cstdint>

#include "topic/retained_index.hpp"

namespace moth::topic {

// Both containers are header-only templates; instantiating them here compiles every non-template member
// under the module's warning flags, even before the broker uses them.
template class SubscriptionTree<std::uint32_t>;
template class RetainedIndex<std::uint32_t>;

}  // namespace moth::topic
