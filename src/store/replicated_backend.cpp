#include "store/replicated_backend.hpp"

namespace moth::store {

bool ReplicatedBackend::write(const std::vector<const std::vector<broker::StoreOp>*>& batches, bool sync) {
    // The cluster's copy first: a batch it did not confirm is not written here either (the publisher is refused
    // and sends again). Written there and not here (a local failure): the next owner may find a record this node
    // refused, as after a crash between the two; at least once, never lost.
    if (!replica_.write(batches)) {
        error_ = "the cluster's copy of the sessions did not confirm the write";
        return false;
    }
    error_.clear();
    return local_.write(batches, sync);
}

}  // namespace moth::store
