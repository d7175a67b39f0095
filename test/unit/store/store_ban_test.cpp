// Ban records (format 3, key "b" + kind letter + value): what StoreBatch::put_ban writes, load_state reads back
// as it was; erase_ban removes it; a damaged record is StoreCorrupt naming its key. Memory backend, no disk.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <tuple>
#include <vector>

#include "broker/store.hpp"
#include "store/memory/memory_store.hpp"

namespace moth::store {
namespace {

using broker::StoreBatch;
using limits::Ban;

const broker::TimePoint kNow = broker::Clock::now();

void write(broker::StoreBackend& backend, StoreBatch& b) {
    auto ops = b.take();
    ASSERT_TRUE(backend.write({&ops}, true));
}

Ban ban(Ban::Kind kind, std::string_view value, Ban::Source source, std::optional<std::int64_t> until,
        std::string reason, std::int64_t created) {
    auto b = limits::make_ban(kind, value);
    EXPECT_TRUE(b) << value;
    if (!b) return {};
    b->source = source;
    b->until = until;
    b->reason = std::move(reason);
    b->created = created;
    return *b;
}

std::vector<Ban> sorted(std::vector<Ban> v) {
    std::sort(v.begin(), v.end(),
              [](const Ban& a, const Ban& b) { return std::tie(a.kind, a.value) < std::tie(b.kind, b.value); });
    return v;
}

TEST(StoreBans, PutBanThenLoadGivesTheSameBans) {
    const std::vector<Ban> bans{
        ban(Ban::Kind::ClientId, "sensor-1", Ban::Source::Api, std::nullopt, "", 1'700'000'000),
        ban(Ban::Kind::ClientId, "flappy", Ban::Source::Flapping, 1'700'000'300, "flapping: more than 30",
            1'700'000'000),
        ban(Ban::Kind::Username, "mallory", Ban::Source::Api, 1'800'000'000, "reason with \"quotes\"\n", 5),
        ban(Ban::Kind::Username, "ünïcode user", Ban::Source::Api, std::nullopt, "", 0),
        ban(Ban::Kind::Address, "192.0.2.7", Ban::Source::Api, std::nullopt, "one host", 1),
        ban(Ban::Kind::Address, "10.0.0.0/8", Ban::Source::Flapping, 1'700'000'300, "", 2),
        ban(Ban::Kind::Address, "2001:db8::/32", Ban::Source::Api, 0, "until 0 is not no until", 3),
        ban(Ban::Kind::Address, "::1", Ban::Source::Api, std::nullopt, "", 4),
    };
    MemoryBackend mem;
    StoreBatch b{kNow};
    for (const auto& x : bans) b.put_ban(x);
    write(mem, b);
    // Expired ones come back too: the caller (AbuseGate::attach_store) erases them.
    const auto st = broker::load_state(mem, kNow);
    EXPECT_EQ(sorted(st.bans), sorted(bans));
    EXPECT_TRUE(st.sessions.empty());
    EXPECT_EQ(st.orphans, 0U);
    EXPECT_EQ(broker::load_state(mem, kNow).bans.size(), bans.size());  // nothing of them was erased
}

TEST(StoreBans, PutReplacesAndEraseRemoves) {
    MemoryBackend mem;
    StoreBatch b{kNow};
    b.put_ban(ban(Ban::Kind::ClientId, "a", Ban::Source::Api, std::nullopt, "first", 1));
    b.put_ban(ban(Ban::Kind::Username, "a", Ban::Source::Api, std::nullopt, "", 1));
    b.put_ban(ban(Ban::Kind::Address, "10.0.0.0/8", Ban::Source::Api, std::nullopt, "", 1));
    write(mem, b);
    const auto second = ban(Ban::Kind::ClientId, "a", Ban::Source::Flapping, 99, "second", 2);
    b.put_ban(second);
    b.erase_ban(Ban::Kind::Username, "a");
    b.erase_ban(Ban::Kind::Address, "10.0.0.0/8");
    write(mem, b);
    EXPECT_EQ(broker::load_state(mem, kNow).bans, (std::vector<Ban>{second}));
}

// Writes one raw record and expects load_state to refuse it as StoreCorrupt naming `key` (as printable text).
void expect_corrupt(const std::string& key, const std::string& value, const std::string& printable) {
    MemoryBackend mem;
    std::vector<broker::StoreOp> ops{{broker::StoreOp::Kind::Put, key, value}};
    ASSERT_TRUE(mem.write({&ops}, true));
    try {
        (void)broker::load_state(mem, kNow);
        ADD_FAILURE() << "no StoreCorrupt for " << printable;
    } catch (const broker::StoreCorrupt& e) {
        EXPECT_NE(std::string(e.what()).find("\"" + printable + "\""), std::string::npos) << e.what();
    }
}

// A good value, as put_ban writes it, to pair with a bad key.
std::string good_value() {
    MemoryBackend mem;
    StoreBatch b{kNow};
    b.put_ban(ban(Ban::Kind::ClientId, "x", Ban::Source::Api, std::nullopt, "r", 1));
    auto ops = b.take();
    EXPECT_EQ(ops.size(), 1U);
    EXPECT_EQ(ops[0].key, "bcx");
    return ops.empty() ? std::string() : ops[0].value;
}

TEST(StoreBans, CorruptRecordsThrowNamingTheKey) {
    const std::string v = good_value();
    expect_corrupt("bxsomething", v, "bxsomething");            // no such kind letter
    expect_corrupt("b", v, "b");                                // no kind at all
    expect_corrupt("banot-an-address", v, "banot-an-address");  // not a range
    expect_corrupt("ba10.0.0.1/8", v, "ba10.0.0.1/8");          // host bits set
    expect_corrupt("bc", v, "bc");                              // an empty client id
    expect_corrupt(std::string("b\x01x", 3), v, "b.x");         // named in printable characters
    std::string bad_source = v;
    bad_source[0] = 7;
    expect_corrupt("bcx", bad_source, "bcx");
    expect_corrupt("bcx", v.substr(0, v.size() - 1), "bcx");  // truncated
    expect_corrupt("bcx", v + "?", "bcx");                    // trailing bytes
}

}  // namespace
}  // namespace moth::store
