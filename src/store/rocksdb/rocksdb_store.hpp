#pragma once
// The RocksDB StoreBackend: one database in <data_dir>/store, created on first start. The only place in Moth
// that includes a RocksDB header (rocksdb_store.cpp); callers see the StoreBackend interface.
#include <filesystem>
#include <memory>
#include <string>

#include "broker/store.hpp"

namespace moth::store {

class RocksDbBackend final : public broker::StoreBackend {
public:
    // Opens (creating when missing) the database in `dir`. Throws broker::StoreCorrupt naming the path when the
    // database is damaged or unreadable.
    explicit RocksDbBackend(const std::filesystem::path& dir);
    ~RocksDbBackend() override;
    RocksDbBackend(const RocksDbBackend&) = delete;
    RocksDbBackend& operator=(const RocksDbBackend&) = delete;

    [[nodiscard]] bool write(const std::vector<const std::vector<broker::StoreOp>*>& batches, bool sync) override;
    void scan(const std::function<void(std::string_view, std::string_view)>& fn) override;
    void scan_from(std::string_view start, std::string_view end,
                   const std::function<bool(std::string_view, std::string_view)>& fn) override;
    [[nodiscard]] std::string last_error() const override;
    [[nodiscard]] std::string where() const override { return dir_.string(); }
    [[nodiscard]] const std::filesystem::path& path() const { return dir_; }

private:
    struct Impl;
    std::filesystem::path dir_;
    std::unique_ptr<Impl> impl_;
};

// Renames a damaged store directory to "<dir>.damaged-<UTC timestamp>" and returns the new name.
std::filesystem::path move_aside(const std::filesystem::path& dir);

}  // namespace moth::store
