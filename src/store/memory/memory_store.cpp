#include "store/memory/memory_store.hpp"

namespace moth::store {

bool MemoryBackend::write(const std::vector<const std::vector<broker::StoreOp>*>& batches, bool /*sync*/) {
    std::lock_guard lock(mu_);
    for (const auto* b : batches) {
        for (const auto& op : *b) {
            switch (op.kind) {
                case broker::StoreOp::Kind::Put:
                    data_[op.key] = op.value;
                    break;
                case broker::StoreOp::Kind::Erase:
                case broker::StoreOp::Kind::Forget:
                    data_.erase(op.key);
                    break;
                case broker::StoreOp::Kind::ErasePrefix:
                case broker::StoreOp::Kind::ForgetPrefix: {
                    auto it = data_.lower_bound(op.key);
                    while (it != data_.end() && it->first.compare(0, op.key.size(), op.key) == 0) it = data_.erase(it);
                    break;
                }
            }
        }
    }
    return true;
}

void MemoryBackend::scan(const std::function<void(std::string_view, std::string_view)>& fn) {
    std::lock_guard lock(mu_);
    for (const auto& [k, v] : data_) fn(k, v);
}

void MemoryBackend::scan_from(std::string_view start, std::string_view end,
                              const std::function<bool(std::string_view, std::string_view)>& fn) {
    std::lock_guard lock(mu_);
    for (auto it = data_.lower_bound(start); it != data_.end() && it->first < end; ++it) {
        if (!fn(it->first, it->second)) return;
    }
}

std::size_t MemoryBackend::size() const {
    std::lock_guard lock(mu_);
    return data_.size();
}

}  // namespace moth::store
