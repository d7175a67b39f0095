// The store without the broker: the key layout round trip (StoreBatch -> backend -> load_state) on the memory
// and the RocksDB backends, group commit, failures injected at the n-th write, and damaged stores.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <limits>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "broker/store.hpp"
#include "store/group_commit.hpp"
#include "store/memory/memory_store.hpp"
#include "store/rocksdb/rocksdb_store.hpp"

namespace moth::store {
namespace {

using broker::kAnySeqWorker;
using broker::StoreBatch;
using broker::TimePoint;
using namespace std::chrono_literals;

struct TempDir {
    TempDir() {
        std::random_device rd;
        path =
            std::filesystem::temp_directory_path() / ("moth-store-test-" + std::to_string(rd()) + std::to_string(rd()));
        std::filesystem::create_directories(path);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    std::filesystem::path path;
};

broker::MessagePtr message(std::string topic, std::string payload, codec::QoS qos = codec::QoS::AtLeastOnce) {
    auto m = std::make_shared<broker::Message>();
    m->topic = std::move(topic);
    const auto* b = reinterpret_cast<const std::byte*>(payload.data());
    m->payload.assign(b, b + payload.size());
    m->qos = qos;
    return m;
}

std::string text(const broker::Message& m) {
    return {reinterpret_cast<const char*>(m.payload.data()), m.payload.size()};
}

// Waits (with a deadline) for `n` completions of a GroupCommitStore.
struct Completions {
    std::mutex mu;
    std::condition_variable cv;
    std::map<std::uint64_t, bool> results;
    broker::Store::Done done(std::uint64_t key) {
        return [this, key](bool ok) {
            std::lock_guard lock(mu);
            results[key] = ok;
            cv.notify_all();
        };
    }
    std::size_t count() {
        std::lock_guard lock(mu);
        return results.size();
    }
    bool wait(std::size_t n) {
        std::unique_lock lock(mu);
        return cv.wait_for(lock, 30s, [&] { return results.size() >= n; });
    }
};

void fill(StoreBatch& b, const TimePoint now) {
    broker::StoredSession s;
    s.client_id = "c1";
    s.version = 5;
    s.expiry_s = 3600;
    s.subscriptions.push_back({"a/+", 2, true, true, 1, 7});
    s.subscriptions.push_back({"$share/g/b", 1, false, false, 0, 0});
    b.put_session(s);
    for (std::uint64_t seq : {5U, 9U, 12U}) {
        broker::StoredDelivery d;
        d.seq = seq;
        auto m = std::make_shared<broker::Message>(*message("a/x", "m" + std::to_string(seq)));
        m->content_type = "text/plain";
        m->user_properties = {{"k", "v"}};
        m->expires_at = now + 3600s;
        d.message = m;
        d.qos = 2;
        d.subscription_ids = {7};
        b.put_delivery("c1", d);
    }
    b.mark_delivery("c1", 9, 42, true);
    b.put_incoming("c1", 17);
    b.put_will("c1", {message("will/c1", "gone"), 30, 60, 1234});
    b.put_retained(*message("r/1", "kept"));
    b.put_totals({1, 2, 3, 4, 5, 6, 7});
    // Records of a session that has no session record: removed when loading.
    broker::StoredDelivery orphan;
    orphan.seq = 99;
    orphan.message = message("a/x", "orphan");
    b.put_delivery("ghost", orphan);
}

void check_loaded(broker::StoreBackend& backend, TimePoint now) {
    auto st = broker::load_state(backend, now);
    ASSERT_EQ(st.sessions.size(), 1U);
    const auto& rs = st.sessions[0];
    EXPECT_EQ(rs.session.client_id, "c1");
    EXPECT_EQ(rs.session.expiry_s, 3600U);
    ASSERT_EQ(rs.session.subscriptions.size(), 2U);
    const auto& a =
        rs.session.subscriptions[1].filter == "a/+" ? rs.session.subscriptions[1] : rs.session.subscriptions[0];
    EXPECT_EQ(a.qos, 2);
    EXPECT_TRUE(a.no_local);
    EXPECT_TRUE(a.retain_as_published);
    EXPECT_EQ(a.retain_handling, 1);
    EXPECT_EQ(a.identifier, 7U);
    ASSERT_EQ(rs.deliveries.size(), 3U);
    EXPECT_EQ(rs.deliveries[0].seq, 5U);
    EXPECT_EQ(rs.deliveries[1].seq, 9U);
    EXPECT_EQ(rs.deliveries[2].seq, 12U);
    EXPECT_TRUE(rs.deliveries[1].pubrec);
    EXPECT_EQ(rs.deliveries[1].packet_id, 42);
    EXPECT_FALSE(rs.deliveries[0].pubrec);
    EXPECT_EQ(text(*rs.deliveries[2].message), "m12");
    EXPECT_EQ(rs.deliveries[2].message->content_type, "text/plain");
    ASSERT_TRUE(rs.deliveries[2].message->expires_at);
    EXPECT_LT(std::chrono::abs(*rs.deliveries[2].message->expires_at - (now + 3600s)), 2s);
    EXPECT_EQ(rs.incoming_qos2, std::vector<std::uint16_t>{17});
    ASSERT_TRUE(rs.will);
    EXPECT_EQ(rs.will->delay_s, 30U);
    EXPECT_EQ(rs.will->expiry_s, 60U);
    EXPECT_EQ(rs.will->due_unix_ms, 1234);
    ASSERT_EQ(st.retained.size(), 1U);
    EXPECT_EQ(st.retained[0]->topic, "r/1");
    EXPECT_EQ(st.totals.bytes_sent, 7U);
    EXPECT_EQ(st.next_seq, 100U);  // past every seq seen, the orphan's included
    EXPECT_EQ(st.orphans, 1U);
    EXPECT_EQ(broker::load_state(backend, now).orphans, 0U);  // removed by the first load
}

TEST(StoreLayout, RoundTripInMemory) {
    MemoryBackend mem;
    StoreBatch b{broker::Clock::now()};
    const auto now = broker::Clock::now();
    fill(b, now);
    auto ops = b.take();
    ASSERT_TRUE(mem.write({&ops}, true));
    check_loaded(mem, now);
}

TEST(StoreLayout, RoundTripInRocksDbAcrossReopen) {
    TempDir dir;
    const auto now = broker::Clock::now();
    {
        RocksDbBackend db(dir.path / "store");
        StoreBatch b{broker::Clock::now()};
        fill(b, now);
        auto ops = b.take();
        ASSERT_TRUE(db.write({&ops}, true));
    }
    RocksDbBackend db(dir.path / "store");
    check_loaded(db, now);
}

TEST(StoreLayout, EraseSessionRemovesEverythingOfThatClientOnly) {
    for (int kind = 0; kind < 2; ++kind) {
        TempDir dir;
        MemoryBackend mem;
        std::unique_ptr<RocksDbBackend> db;
        broker::StoreBackend* backend = &mem;
        if (kind == 1) {
            db = std::make_unique<RocksDbBackend>(dir.path / "store");
            backend = db.get();
        }
        StoreBatch b{broker::Clock::now()};
        const auto now = broker::Clock::now();
        fill(b, now);
        broker::StoredSession other;
        other.client_id = "c1x";  // a client id with c1 as its prefix keeps its records
        other.expiry_s = 10;
        b.put_session(other);
        broker::StoredDelivery d;
        d.seq = 200;
        d.message = message("a/x", "other");
        b.put_delivery("c1x", d);
        b.erase_session("c1");
        auto ops = b.take();
        ASSERT_TRUE(backend->write({&ops}, true));
        auto st = broker::load_state(*backend, now);
        ASSERT_EQ(st.sessions.size(), 1U) << kind;
        EXPECT_EQ(st.sessions[0].session.client_id, "c1x");
        ASSERT_EQ(st.sessions[0].deliveries.size(), 1U);
        EXPECT_EQ(st.sessions[0].deliveries[0].seq, 200U);
    }
}

// A backend whose first write blocks until released: the batches queued meanwhile must all go into the next
// single write (group commit), in the order they were queued.
class GateBackend final : public broker::StoreBackend {
public:
    bool write(const std::vector<const std::vector<broker::StoreOp>*>& batches, bool sync) override {
        {
            std::unique_lock lock(mu_);
            sizes_.push_back(batches.size());
            cv_.notify_all();
            cv_.wait(lock, [&] { return open_; });
        }
        return inner_.write(batches, sync);
    }
    void scan(const std::function<void(std::string_view, std::string_view)>& fn) override { inner_.scan(fn); }
    void wait_writes(std::size_t n) {
        std::unique_lock lock(mu_);
        cv_.wait_for(lock, 30s, [&] { return sizes_.size() >= n; });
    }
    void open() {
        std::lock_guard lock(mu_);
        open_ = true;
        cv_.notify_all();
    }
    std::vector<std::size_t> sizes() {
        std::lock_guard lock(mu_);
        return sizes_;
    }
    MemoryBackend inner_;

private:
    std::mutex mu_;
    std::condition_variable cv_;
    bool open_ = false;
    std::vector<std::size_t> sizes_;
};

TEST(GroupCommit, OneWriteCoversTheBatchesOfManyThreads) {
    GateBackend backend;
    GroupCommitStore store(backend, broker::Durability::Sync, 100ms);
    Completions c;
    StoreBatch first{broker::Clock::now()};
    first.put_retained(*message("first", "x"));
    store.commit(first.take(), c.done(0));
    backend.wait_writes(1);  // the committer is inside the first write
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 25; ++i) {
                StoreBatch b{broker::Clock::now()};
                b.put_retained(*message("t" + std::to_string(t) + "/" + std::to_string(i), "x"));
                store.commit(b.take(), c.done(static_cast<std::uint64_t>(1 + t * 25 + i)));
            }
        });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(c.count(), 0U);  // nothing is reported stored before its write returns
    backend.open();
    ASSERT_TRUE(c.wait(101));
    for (const auto& [k, ok] : c.results) EXPECT_TRUE(ok) << k;
    EXPECT_EQ(backend.sizes(), (std::vector<std::size_t>{1, 100}));  // two fsyncs for 101 batches
    EXPECT_EQ(backend.inner_.size(), 101U);
    const auto n = store.counters();
    EXPECT_EQ(n.writes, 2U);
    EXPECT_EQ(n.batches, 101U);
}

// The n-th write fails (and every one after it, as a disk that went bad would): every batch reported stored is
// in the store after a reopen, no batch reported failed is.
void fault_at(std::size_t n, bool rocks) {
    TempDir dir;
    MemoryBackend mem;
    std::unique_ptr<RocksDbBackend> db;
    broker::StoreBackend* inner = &mem;
    if (rocks) {
        db = std::make_unique<RocksDbBackend>(dir.path / "store");
        inner = db.get();
    }
    FaultyBackend faulty(*inner, n);
    Completions c;
    constexpr std::uint64_t kBatches = 40;
    {
        GroupCommitStore store(faulty, broker::Durability::Sync, 100ms);
        for (std::uint64_t i = 0; i < kBatches; ++i) {
            StoreBatch b{broker::Clock::now()};
            broker::StoredSession s;
            s.client_id = "c" + std::to_string(i);
            s.expiry_s = 60;
            b.put_session(s);
            broker::StoredDelivery d;
            d.seq = i + 1;
            d.message = message("t", std::to_string(i));
            b.put_delivery(s.client_id, d);
            store.commit(b.take(), c.done(i));
            if (i % 7 == 3) {
                ASSERT_TRUE(c.wait(i + 1));  // vary how the batches are grouped
            }
        }
        ASSERT_TRUE(c.wait(kBatches));
        store.close();
    }
    if (rocks) {
        db.reset();
        db = std::make_unique<RocksDbBackend>(dir.path / "store");
        inner = db.get();
    }
    auto st = broker::load_state(*inner, broker::Clock::now());
    std::set<std::string> stored;
    for (const auto& rs : st.sessions) {
        stored.insert(rs.session.client_id);
        EXPECT_EQ(rs.deliveries.size(), 1U) << rs.session.client_id;  // a batch is all or nothing
    }
    std::size_t acknowledged = 0;
    for (const auto& [i, ok] : c.results) {
        const bool present = stored.count("c" + std::to_string(i)) != 0;
        if (ok) {
            ++acknowledged;
            EXPECT_TRUE(present) << "batch " << i << " was reported stored but is lost (fail at write " << n << ")";
        } else {
            EXPECT_FALSE(present) << "batch " << i << " was reported failed but is stored (fail at write " << n << ")";
        }
    }
    EXPECT_EQ(stored.size(), acknowledged);
    if (n == 1) {
        EXPECT_EQ(acknowledged, 0U);
    }
}

TEST(StoreFaults, FailureAtTheNthWriteInMemory) {
    for (std::size_t n = 1; n <= 12; ++n) fault_at(n, false);
}

TEST(StoreFaults, FailureAtTheNthWriteInRocksDb) {
    for (std::size_t n : {1U, 2U, 3U, 5U, 8U}) fault_at(n, true);
}

TEST(StoreFaults, ClosedStoreReportsFailureAtOnce) {
    MemoryBackend mem;
    GroupCommitStore store(mem, broker::Durability::Sync, 100ms);
    store.close();
    bool called = false, result = true;
    StoreBatch b{broker::Clock::now()};
    b.put_retained(*message("x", "y"));
    store.commit(b.take(), [&](bool ok) {
        called = true;
        result = ok;
    });
    EXPECT_TRUE(called);
    EXPECT_FALSE(result);
    EXPECT_EQ(mem.size(), 0U);
}

TEST(StoreBatched, WritesTrailAndAreFlushedOnClose) {
    MemoryBackend mem;
    Completions c;
    {
        GroupCommitStore store(mem, broker::Durability::Batched, 60000ms);  // only close() flushes
        EXPECT_FALSE(store.acks_wait());
        for (std::uint64_t i = 0; i < 10; ++i) {
            StoreBatch b{broker::Clock::now()};
            b.put_retained(*message("r/" + std::to_string(i), "x"));
            store.commit(b.take(), c.done(i));
        }
        store.close();
    }
    EXPECT_EQ(c.results.size(), 10U);
    EXPECT_EQ(mem.size(), 10U);
}

constexpr std::uint64_t kLast = std::numeric_limits<std::uint64_t>::max();

// Reading part of one session's queue back (bounded offline queues): the range from a seq, at most `max`, in seq
// order, with the QoS 2 marks, only that client's ("a" is a prefix of "ab"), and after the writes queued before.
void read_range(broker::StoreBackend& backend, broker::Durability mode) {
    GroupCommitStore store(backend, mode, 1ms);
    for (const std::string client : {"a", "ab"}) {
        StoreBatch b{broker::Clock::now()};
        for (std::uint64_t seq = 1; seq <= 50; ++seq) {
            broker::StoredDelivery d;
            d.seq = seq * 2;  // even seqs only: a read may start between two
            d.qos = 2;
            d.message = message("t/" + client, client + std::to_string(d.seq), codec::QoS::ExactlyOnce);
            b.put_delivery(client, d);
        }
        b.mark_delivery(client, 40, 7, true);
        store.commit(b.take(), {});  // not waited for: the read must come after it anyway
    }
    std::mutex mu;
    std::condition_variable cv;
    std::vector<std::pair<bool, std::vector<broker::StoredDelivery>>> got;
    auto done = [&](bool ok, std::vector<broker::StoredDelivery> ds) {
        std::lock_guard lock(mu);
        got.emplace_back(ok, std::move(ds));
        cv.notify_all();
    };
    const auto caller = std::this_thread::get_id();
    store.read_deliveries("a", {35, kLast, kAnySeqWorker, 5}, [&](bool ok, std::vector<broker::StoredDelivery> ds) {
        EXPECT_NE(std::this_thread::get_id(), caller);  // on the store's thread
        done(ok, std::move(ds));
    });
    store.read_deliveries("a", {95, kLast, kAnySeqWorker, 100}, done);   // the tail: fewer than max
    store.read_deliveries("a", {101, kLast, kAnySeqWorker, 100}, done);  // past the end
    store.read_deliveries("zz", {1, kLast, kAnySeqWorker, 100}, done);   // no such client
    // Only the seqs of one writer: seq_worker(seq) is the seq's low kSeqWorkerBits, the seq itself here, so of
    // [11, 24] worker 20 has 20 alone. Then bounded above (inclusive).
    store.read_deliveries("a", {11, 24, 20, 100}, done);
    store.read_deliveries("a", {11, 29, kAnySeqWorker, 100}, done);  // 12, 14, ..., 28
    store.read_deliveries("a", {30, 29, kAnySeqWorker, 100}, done);  // an empty range
    {
        std::unique_lock lock(mu);
        ASSERT_TRUE(cv.wait_for(lock, 30s, [&] { return got.size() == 7; }));
    }
    for (const auto& g : got) EXPECT_TRUE(g.first);
    ASSERT_EQ(got[0].second.size(), 5U);
    for (std::size_t i = 0; i < 5; ++i) {
        const auto& d = got[0].second[i];
        EXPECT_EQ(d.seq, 36 + 2 * i);
        EXPECT_EQ(text(*d.message), "a" + std::to_string(d.seq));
        EXPECT_EQ(d.message->topic, "t/a");
        EXPECT_EQ(d.pubrec, d.seq == 40);
        EXPECT_EQ(d.packet_id, d.seq == 40 ? 7 : 0);
    }
    ASSERT_EQ(got[1].second.size(), 3U);
    EXPECT_EQ(got[1].second[0].seq, 96U);
    EXPECT_EQ(got[1].second[2].seq, 100U);
    EXPECT_TRUE(got[2].second.empty());
    EXPECT_TRUE(got[3].second.empty());
    ASSERT_EQ(got[4].second.size(), 1U);
    EXPECT_EQ(got[4].second[0].seq, 20U);
    ASSERT_EQ(got[5].second.size(), 9U);
    EXPECT_EQ(got[5].second.front().seq, 12U);
    EXPECT_EQ(got[5].second.back().seq, 28U);
    EXPECT_TRUE(got[6].second.empty());
    store.close();
    bool called = false, result = true;
    store.read_deliveries("a", {1, kLast, kAnySeqWorker, 10}, [&](bool ok, std::vector<broker::StoredDelivery>) {
        called = true;
        result = ok;
    });
    EXPECT_TRUE(called);  // a closed store answers at once, not ok
    EXPECT_FALSE(result);
}

TEST(StoreRead, RangeOfOneClientsDeliveriesInMemory) {
    MemoryBackend mem;
    read_range(mem, broker::Durability::Sync);
}

TEST(StoreRead, RangeOfOneClientsDeliveriesInRocksDbBatched) {
    TempDir dir;
    RocksDbBackend db(dir.path / "store");
    read_range(db, broker::Durability::Batched);
}

TEST(StoreDamage, UnreadableDatabaseNamesItsPath) {
    TempDir dir;
    const auto path = dir.path / "store";
    {
        RocksDbBackend db(path);
        StoreBatch b{broker::Clock::now()};
        b.put_retained(*message("r", "x"));
        auto ops = b.take();
        ASSERT_TRUE(db.write({&ops}, true));
    }
    // Damage every MANIFEST: the database can no longer be opened.
    for (const auto& e : std::filesystem::directory_iterator(path)) {
        if (e.path().filename().string().starts_with("MANIFEST")) {
            std::ofstream(e.path(), std::ios::trunc) << "garbage, not a manifest";
        }
    }
    try {
        RocksDbBackend db(path);
        FAIL() << "a damaged store opened";
    } catch (const broker::StoreCorrupt& e) {
        EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
    }
    const auto aside = move_aside(path);
    EXPECT_TRUE(std::filesystem::exists(aside));
    EXPECT_FALSE(std::filesystem::exists(path));
    EXPECT_NE(aside.string().find("store.damaged-"), std::string::npos);
    RocksDbBackend fresh(path);  // starts empty
    EXPECT_TRUE(broker::load_state(fresh, broker::Clock::now()).retained.empty());
}

TEST(StoreDamage, UndecodableRecordNamesItsKey) {
    MemoryBackend mem;
    std::vector<broker::StoreOp> ops{{broker::StoreOp::Kind::Put, "sclient", "\x05\x00"}};
    ASSERT_TRUE(mem.write({&ops}, true));
    try {
        (void)broker::load_state(mem, broker::Clock::now());
        FAIL() << "a truncated session record loaded";
    } catch (const broker::StoreCorrupt& e) {
        EXPECT_NE(std::string(e.what()).find("sclient"), std::string::npos) << e.what();
    }
}

}  // namespace
}  // namespace moth::store
