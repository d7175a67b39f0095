#include "store/rocksdb/rocksdb_store.hpp"

#include <chrono>
#include <ctime>

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

namespace moth::store {

struct RocksDbBackend::Impl {
    std::unique_ptr<rocksdb::DB> db;
    std::string last_error;
};

namespace {

// The smallest key greater than every key starting with `prefix` (prefixes here end in '\0', never 0xFF).
std::string prefix_end(std::string prefix) {
    while (!prefix.empty() && static_cast<unsigned char>(prefix.back()) == 0xFF) prefix.pop_back();
    if (!prefix.empty()) prefix.back() = static_cast<char>(static_cast<unsigned char>(prefix.back()) + 1);
    return prefix;
}

}  // namespace

RocksDbBackend::RocksDbBackend(const std::filesystem::path& dir) : dir_(dir), impl_(std::make_unique<Impl>()) {
    std::error_code ec;
    std::filesystem::create_directories(dir.parent_path().empty() ? std::filesystem::path(".") : dir.parent_path(), ec);
    rocksdb::Options options;
    options.create_if_missing = true;
    options.paranoid_checks = true;
    options.max_background_jobs = 2;
    options.keep_log_file_num = 3;
    rocksdb::DB* db = nullptr;
    const auto s = rocksdb::DB::Open(options, dir.string(), &db);
    if (!s.ok()) {
        const std::string what = s.ToString();
        if (s.IsIOError() && what.find("lock") != std::string::npos) {
            throw std::runtime_error("store " + dir.string() + " is in use (another mothd?): " + what);
        }
        throw broker::StoreCorrupt("store " + dir.string() + " cannot be opened: " + what);
    }
    impl_->db.reset(db);
}

RocksDbBackend::~RocksDbBackend() {
    if (impl_->db) {
        (void)impl_->db->Close();
    }
}

bool RocksDbBackend::write(const std::vector<const std::vector<broker::StoreOp>*>& batches, bool sync) {
    rocksdb::WriteBatch wb;
    for (const auto* b : batches) {
        for (const auto& op : *b) {
            rocksdb::Status s;
            switch (op.kind) {
                case broker::StoreOp::Kind::Put:
                    s = wb.Put(op.key, op.value);
                    break;
                case broker::StoreOp::Kind::Erase:
                case broker::StoreOp::Kind::Forget:
                    s = wb.Delete(op.key);
                    break;
                case broker::StoreOp::Kind::ErasePrefix:
                case broker::StoreOp::Kind::ForgetPrefix:
                    s = wb.DeleteRange(impl_->db->DefaultColumnFamily(), op.key, prefix_end(op.key));
                    break;
            }
            if (!s.ok()) {
                impl_->last_error = s.ToString();
                return false;
            }
        }
    }
    rocksdb::WriteOptions wo;
    wo.sync = sync;  // one fsync of the write-ahead log covers every batch in `batches`
    const auto s = impl_->db->Write(wo, &wb);
    if (!s.ok()) {
        impl_->last_error = s.ToString();
        return false;
    }
    return true;
}

void RocksDbBackend::scan(const std::function<void(std::string_view, std::string_view)>& fn) {
    rocksdb::ReadOptions ro;
    ro.verify_checksums = true;
    ro.fill_cache = false;
    std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(ro));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
        const auto k = it->key();
        const auto v = it->value();
        try {
            fn({k.data(), k.size()}, {v.data(), v.size()});
        } catch (const broker::StoreCorrupt& e) {
            throw broker::StoreCorrupt("store " + dir_.string() + ": " + e.what());
        }
    }
    if (!it->status().ok()) {
        throw broker::StoreCorrupt("store " + dir_.string() + " cannot be read: " + it->status().ToString());
    }
}

void RocksDbBackend::scan_from(std::string_view start, std::string_view end,
                               const std::function<bool(std::string_view, std::string_view)>& fn) {
    rocksdb::ReadOptions ro;
    ro.verify_checksums = true;
    const rocksdb::Slice upper(end.data(), end.size());
    ro.iterate_upper_bound = &upper;  // stops at `end`: no walk over the deletion markers of acknowledged records
    std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(ro));
    for (it->Seek(rocksdb::Slice(start.data(), start.size())); it->Valid(); it->Next()) {
        const auto k = it->key();
        const auto v = it->value();
        if (!fn({k.data(), k.size()}, {v.data(), v.size()})) return;
    }
    if (!it->status().ok()) {
        throw broker::StoreCorrupt("store " + dir_.string() + " cannot be read: " + it->status().ToString());
    }
}

std::string RocksDbBackend::last_error() const {
    return impl_->last_error;
}

std::filesystem::path move_aside(const std::filesystem::path& dir) {
    const auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::tm tm{};
    gmtime_r(&t, &tm);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    auto target = dir;
    target += std::string(".damaged-") + stamp;
    for (int i = 1; std::filesystem::exists(target); ++i) {
        target = dir;
        target += std::string(".damaged-") + stamp + "-" + std::to_string(i);
    }
    std::filesystem::rename(dir, target);
    return target;
}

}  // namespace moth::store
