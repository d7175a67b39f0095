#pragma once
// A StoreBackend in memory: an ordered map. For tests, and as the reference the RocksDB backend is checked
// against. A write applies all its batches or none (failures are injected by FaultyBackend).
#include <map>
#include <mutex>
#include <string>

#include "broker/store.hpp"

namespace moth::store {

class MemoryBackend final : public broker::StoreBackend {
public:
    [[nodiscard]] bool write(const std::vector<const std::vector<broker::StoreOp>*>& batches, bool sync) override;
    void scan(const std::function<void(std::string_view, std::string_view)>& fn) override;
    void scan_from(std::string_view start, std::string_view end,
                   const std::function<bool(std::string_view, std::string_view)>& fn) override;
    [[nodiscard]] std::size_t size() const;

private:
    mutable std::mutex mu_;
    std::map<std::string, std::string, std::less<>> data_;
};

// Wraps a backend and fails every write from the n-th on (1-based), as a disk that stops accepting writes
// would; a failed write changes nothing.
class FaultyBackend final : public broker::StoreBackend {
public:
    FaultyBackend(broker::StoreBackend& inner, std::size_t fail_from) : inner_(inner), fail_from_(fail_from) {}
    [[nodiscard]] bool write(const std::vector<const std::vector<broker::StoreOp>*>& batches, bool sync) override {
        if (++writes_ >= fail_from_) return false;
        return inner_.write(batches, sync);
    }
    void scan(const std::function<void(std::string_view, std::string_view)>& fn) override { inner_.scan(fn); }
    void scan_from(std::string_view start, std::string_view end,
                   const std::function<bool(std::string_view, std::string_view)>& fn) override {
        inner_.scan_from(start, end, fn);
    }
    [[nodiscard]] std::string last_error() const override { return "injected failure"; }

private:
    broker::StoreBackend& inner_;
    std::size_t fail_from_;
    std::size_t writes_ = 0;
};

}  // namespace moth::store
