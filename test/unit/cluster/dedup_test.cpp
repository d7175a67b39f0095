// Deduplication of bus deliveries (src/cluster/dedup.hpp).
#include "cluster/dedup.hpp"

#include <gtest/gtest.h>

namespace moth::cluster {
namespace {

TEST(Dedup, DuplicatesWaitForTheFirstCopysAck) {
    Dedup d;
    std::vector<bool> acks;
    ASSERT_TRUE(d.first("k", nullptr));
    EXPECT_FALSE(d.first("k", [&](bool ok) { acks.push_back(ok); }));
    EXPECT_TRUE(acks.empty());  // the first copy is not routed yet
    d.acked("k", true);
    EXPECT_EQ(acks, std::vector<bool>{true});
    EXPECT_FALSE(d.first("k", [&](bool ok) { acks.push_back(ok); }));  // after it: acknowledged at once
    EXPECT_EQ(acks, (std::vector<bool>{true, true}));
}

TEST(Dedup, ARefusedFirstCopyIsForgottenSoItsRedeliveryCounts) {
    Dedup d;
    std::vector<bool> acks;
    ASSERT_TRUE(d.first("k", nullptr));
    EXPECT_FALSE(d.first("k", [&](bool ok) { acks.push_back(ok); }));
    d.acked("k", false);
    EXPECT_EQ(acks, std::vector<bool>{false});
    EXPECT_TRUE(d.first("k", nullptr));
}

TEST(Dedup, ForgetsTheOldestBeyondItsCapacity) {
    Dedup d(2);
    std::vector<bool> acks;
    ASSERT_TRUE(d.first("a", nullptr));
    EXPECT_FALSE(d.first("a", [&](bool ok) { acks.push_back(ok); }));
    ASSERT_TRUE(d.first("b", nullptr));
    ASSERT_TRUE(d.first("c", nullptr));  // "a" goes; its waiting duplicate is refused (redelivered later)
    EXPECT_EQ(acks, std::vector<bool>{false});
    EXPECT_EQ(d.size(), 2u);
    EXPECT_TRUE(d.first("a", nullptr));
}

}  // namespace
}  // namespace moth::cluster
