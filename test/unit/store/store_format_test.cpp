// The store's format version record ("v"): a new store gets it, a store written before the record existed is read
// as format 1 and then carries it, and a store from a newer build is refused, naming its path and both versions,
// without being read any further (its records might otherwise look damaged and be moved aside).
#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "broker/store.hpp"
#include "store/memory/memory_store.hpp"
#include "store/rocksdb/rocksdb_store.hpp"

namespace moth::store {
namespace {

using broker::FormatRecord;
using broker::kStoreFormatVersion;
using broker::StoreBatch;

struct TempDir {
    TempDir() {
        std::random_device rd;
        path = std::filesystem::temp_directory_path() /
               ("moth-store-format-test-" + std::to_string(rd()) + std::to_string(rd()));
        std::filesystem::create_directories(path);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    std::filesystem::path path;
};

// The "v" record's value, as the backend holds it (absent: empty optional).
std::optional<std::string> format_value(broker::StoreBackend& backend) {
    std::optional<std::string> out;
    backend.scan([&](std::string_view key, std::string_view value) {
        if (key == "v") out = std::string(value);
    });
    return out;
}

std::string version_bytes(std::uint32_t v) {
    std::string out;
    broker::ByteWriter(out).u32(v);
    return out;
}

void write(broker::StoreBackend& backend, StoreBatch& b) {
    auto ops = b.take();
    ASSERT_TRUE(backend.write({&ops}, true));
}

TEST(StoreFormat, NewStoreGetsTheRecord) {
    MemoryBackend mem;
    const auto st = broker::load_state(mem, broker::Clock::now());
    EXPECT_EQ(st.format, FormatRecord::AddedToEmpty);
    EXPECT_EQ(format_value(mem), version_bytes(kStoreFormatVersion));
    EXPECT_EQ(mem.size(), 1U);
    // The next start finds it.
    EXPECT_EQ(broker::load_state(mem, broker::Clock::now()).format, FormatRecord::Present);
    EXPECT_EQ(mem.size(), 1U);
}

// A store an earlier Moth wrote (sessions, queue, retained, no "v"): read as format 1, its sessions come back, and
// from then on it carries the record. Done on RocksDB across a reopen, as mothd upgrades would meet it.
TEST(StoreFormat, OldStoreWithoutTheRecordIsReadAndThenCarriesIt) {
    TempDir dir;
    const auto now = broker::Clock::now();
    {
        RocksDbBackend db(dir.path / "store");
        StoreBatch b{now};
        broker::StoredSession s;
        s.client_id = "sensor-1";
        s.expiry_s = 3600;
        s.subscriptions.push_back({"cmd/#", 1, false, false, 0, 0});
        b.put_session(s);
        broker::StoredDelivery d;
        d.seq = 3;
        auto m = std::make_shared<broker::Message>();
        m->topic = "cmd/reboot";
        m->qos = codec::QoS::AtLeastOnce;
        d.message = m;
        b.put_delivery("sensor-1", d);
        b.put_retained(*m);
        write(db, b);
        ASSERT_FALSE(format_value(db));  // the layout of format 1, as earlier builds left it
    }
    {
        RocksDbBackend db(dir.path / "store");
        const auto st = broker::load_state(db, now);
        EXPECT_EQ(st.format, FormatRecord::AddedToOld);
        ASSERT_EQ(st.sessions.size(), 1U);
        EXPECT_EQ(st.sessions[0].session.client_id, "sensor-1");
        ASSERT_EQ(st.sessions[0].session.subscriptions.size(), 1U);
        EXPECT_EQ(st.sessions[0].session.subscriptions[0].filter, "cmd/#");
        ASSERT_EQ(st.sessions[0].deliveries.size(), 1U);
        EXPECT_EQ(st.sessions[0].deliveries[0].message->topic, "cmd/reboot");
        EXPECT_EQ(st.retained.size(), 1U);
    }
    RocksDbBackend db(dir.path / "store");
    EXPECT_EQ(format_value(db), version_bytes(kStoreFormatVersion));
    const auto st = broker::load_state(db, now);
    EXPECT_EQ(st.format, FormatRecord::Present);
    EXPECT_EQ(st.sessions.size(), 1U);
}

// A newer build's store is refused before its other records are read: one this build cannot decode is there, and
// must not be reported as damage. The message names the path and both versions; the store is left as it was.
TEST(StoreFormat, NewerVersionIsRefusedNamingPathAndVersions) {
    TempDir dir;
    const auto path = dir.path / "store";
    {
        RocksDbBackend db(path);
        StoreBatch b{broker::Clock::now()};
        b.put_format_version(kStoreFormatVersion + 6);
        write(db, b);
        std::vector<broker::StoreOp> future{{broker::StoreOp::Kind::Put, "x-record-of-a-later-layout", "?"}};
        ASSERT_TRUE(db.write({&future}, true));
    }
    RocksDbBackend db(path);
    try {
        (void)broker::load_state(db, broker::Clock::now());
        FAIL() << "a store of a newer format was loaded";
    } catch (const broker::StoreFormatTooNew& e) {
        EXPECT_EQ(e.found(), kStoreFormatVersion + 6);
        EXPECT_EQ(e.supported(), kStoreFormatVersion);
        EXPECT_EQ(std::string(e.what()), "store " + path.string() + ": format version " +
                                             std::to_string(kStoreFormatVersion + 6) +
                                             " is newer than this mothd reads (" + std::to_string(kStoreFormatVersion) +
                                             "); use a newer mothd or move the directory away");
    }
    EXPECT_EQ(format_value(db), version_bytes(kStoreFormatVersion + 6));  // not rewritten
}

TEST(StoreFormat, DamagedRecordIsCorruptNotNewer) {
    for (const std::string& value : {std::string("\x00\x01", 2), version_bytes(0), version_bytes(1) + "x"}) {
        MemoryBackend mem;
        std::vector<broker::StoreOp> ops{{broker::StoreOp::Kind::Put, "v", value}};
        ASSERT_TRUE(mem.write({&ops}, true));
        try {
            (void)broker::load_state(mem, broker::Clock::now());
            FAIL() << "a damaged version record loaded";
        } catch (const broker::StoreCorrupt& e) {
            EXPECT_NE(std::string(e.what()).find("\"v\""), std::string::npos) << e.what();
        }
    }
}

// Format 2 (issue 18): a session record ends with its client's identity, so that the ACL checks an offline session's
// deliveries as its user after a restart. A format 1 store is read (its sessions anonymous until they reconnect) and
// from then on says format 2, so that an older mothd refuses it clearly instead of taking new records for damage.
TEST(StoreFormat, Format1SessionsAreReadAndTheStoreIsUpgraded) {
    MemoryBackend mem;
    {
        StoreBatch b{broker::Clock::now()};
        b.put_format_version(1);
        write(mem, b);
        // A format 1 session record: version, expiry, no subscriptions, and nothing after them.
        std::string v;
        broker::ByteWriter w(v);
        w.u8(5);
        w.u32(3600);
        w.u32(0);
        std::vector<broker::StoreOp> ops{{broker::StoreOp::Kind::Put, "sold-client", v}};
        ASSERT_TRUE(mem.write({&ops}, true));
    }
    const auto st = broker::load_state(mem, broker::Clock::now());
    EXPECT_EQ(st.format, FormatRecord::Upgraded);
    ASSERT_EQ(st.sessions.size(), 1U);
    EXPECT_EQ(st.sessions[0].session.expiry_s, 3600U);
    EXPECT_FALSE(st.sessions[0].session.username.has_value());
    EXPECT_EQ(format_value(mem), version_bytes(kStoreFormatVersion));
}

TEST(StoreFormat, SessionUserNameSurvivesARestart) {
    MemoryBackend mem;
    (void)broker::load_state(mem, broker::Clock::now());
    StoreBatch b{broker::Clock::now()};
    broker::StoredSession named;
    named.client_id = "named";
    named.username = "alice";
    broker::StoredSession anonymous;
    anonymous.client_id = "anonymous";
    b.put_session(named);
    b.put_session(anonymous);
    write(mem, b);
    const auto st = broker::load_state(mem, broker::Clock::now());
    ASSERT_EQ(st.sessions.size(), 2U);
    for (const auto& rs : st.sessions) {
        if (rs.session.client_id == "named") {
            EXPECT_EQ(rs.session.username, std::optional<std::string>("alice"));
        } else {
            EXPECT_FALSE(rs.session.username.has_value());
        }
    }
}

}  // namespace
}  // namespace moth::store
