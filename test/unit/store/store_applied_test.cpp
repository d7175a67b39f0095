// Cluster message ids applied (format 4, key "x" + id, value the Unix ms it was written; docs/cluster.md): what
// StoreBatch::put_applied writes, load_state gives back in RestoredState::cluster_applied while it is younger than
// kAppliedKeep, and erases once it is older; erase_applied removes it. Memory backend, no disk.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "broker/store.hpp"
#include "store/memory/memory_store.hpp"

namespace moth::store {
namespace {

using broker::StoreBatch;

void write(broker::StoreBackend& backend, StoreBatch& b) {
    auto ops = b.take();
    ASSERT_TRUE(backend.write({&ops}, true));
}

std::size_t records(MemoryBackend& mem, char tag) {
    std::size_t n = 0;
    mem.scan([&](std::string_view key, std::string_view) { n += !key.empty() && key[0] == tag; });
    return n;
}

TEST(StoreApplied, RecentIdsComeBackOldOnesAreErased) {
    const auto now = broker::Clock::now();
    MemoryBackend mem;
    StoreBatch recent{now - std::chrono::minutes(2)};
    recent.put_applied("\nn2.1700000000000.7");
    recent.put_applied("$share/g/a/#\nn3.1700000000000.9");  // a group's copy: its own key
    write(mem, recent);
    StoreBatch old{now - broker::kAppliedKeep - std::chrono::minutes(1)};
    old.put_applied("\nn2.1600000000000.1");
    write(mem, old);
    const auto state = broker::load_state(mem, now);
    auto applied = state.cluster_applied;
    std::sort(applied.begin(), applied.end());
    EXPECT_EQ(applied, (std::vector<std::string>{"\nn2.1700000000000.7", "$share/g/a/#\nn3.1700000000000.9"}));
    EXPECT_EQ(records(mem, 'x'), 2U) << "the old one is past any redelivery: erased at start";
    StoreBatch gone{now};
    gone.erase_applied("\nn2.1700000000000.7");
    write(mem, gone);
    EXPECT_EQ(records(mem, 'x'), 1U);
}

TEST(StoreApplied, ADamagedRecordNamesItsKey) {
    MemoryBackend mem;
    std::vector<broker::StoreOp> ops{{broker::StoreOp::Kind::Put, "x\nid", "short"}};
    ASSERT_TRUE(mem.write({&ops}, true));
    try {
        (void)broker::load_state(mem, broker::Clock::now());
        FAIL() << "a damaged record loads";
    } catch (const broker::StoreCorrupt& e) {
        EXPECT_NE(std::string(e.what()).find("record \"x.id\""), std::string::npos) << e.what();
    }
}

}  // namespace
}  // namespace moth::store
