// A bridge's topic rules in Mosquitto's form (docs/bridges.md): which filters each side subscribes to, and how
// topics and QoS change on the way, as Mosquitto's bridge does for the same `topic` lines.
#include <gtest/gtest.h>

#include "bridge/topic_map.hpp"

namespace moth::bridge {
namespace {

using config::BridgeDirection;
using config::BridgeTopic;

BridgeTopic rule(std::string pattern, BridgeDirection d, std::uint8_t qos, std::string local = "",
                 std::string remote = "") {
    return BridgeTopic{std::move(pattern), d, qos, std::move(local), std::move(remote)};
}

TEST(TopicMapTest, WithoutPrefixesTopicsGoAsTheyAre) {
    const TopicMap m({rule("sensors/#", BridgeDirection::Out, 1)});
    const auto out = m.outbound("sensors/t1", 2);
    ASSERT_TRUE(out);
    EXPECT_EQ(out->topic, "sensors/t1");
    EXPECT_EQ(out->qos, 1) << "downgraded to the rule's QoS";
    EXPECT_FALSE(m.outbound("other/t1", 1));
    EXPECT_FALSE(m.inbound("sensors/t1", 1)) << "an out rule brings nothing in";
    ASSERT_EQ(m.local_filters().size(), 1U);
    EXPECT_EQ(m.local_filters()[0].filter, "sensors/#");
    EXPECT_TRUE(m.remote_filters().empty());
}

TEST(TopicMapTest, PrefixesAreSwappedBothWays) {
    // topic # both 2 classroom/ school/room7/
    const TopicMap m({rule("#", BridgeDirection::Both, 2, "classroom/", "school/room7/")});
    const auto out = m.outbound("classroom/esp32/temp", 1);
    ASSERT_TRUE(out);
    EXPECT_EQ(out->topic, "school/room7/esp32/temp");
    EXPECT_EQ(out->qos, 1) << "never upgraded";
    const auto in = m.inbound("school/room7/cmd/led", 2);
    ASSERT_TRUE(in);
    EXPECT_EQ(in->topic, "classroom/cmd/led");
    EXPECT_FALSE(m.outbound("classroom", 0)) << "the prefix's parent level has no place on the other side";
    EXPECT_EQ(m.local_filters()[0].filter, "classroom/#");
    EXPECT_EQ(m.remote_filters()[0].filter, "school/room7/#");
}

TEST(TopicMapTest, AnEmptyPatternMapsOneTopicOntoAnother) {
    // topic "" in 0 local/led remote/led
    const TopicMap m({rule("", BridgeDirection::In, 0, "local/led", "remote/led")});
    const auto in = m.inbound("remote/led", 1);
    ASSERT_TRUE(in);
    EXPECT_EQ(in->topic, "local/led");
    EXPECT_EQ(in->qos, 0);
    EXPECT_FALSE(m.inbound("remote/led/x", 1));
    EXPECT_EQ(m.remote_filters()[0].filter, "remote/led");
}

TEST(TopicMapTest, TheFirstMatchingRuleWinsAndFiltersAreMergedAtTheHighestQoS) {
    const TopicMap m({rule("a/+", BridgeDirection::Out, 0, "", "x/"), rule("a/#", BridgeDirection::Out, 2, "", "y/"),
                      rule("a/+", BridgeDirection::Both, 1, "", "x/")});
    EXPECT_EQ(m.outbound("a/b", 2)->topic, "x/a/b");
    EXPECT_EQ(m.outbound("a/b", 2)->qos, 0);
    EXPECT_EQ(m.outbound("a/b/c", 2)->topic, "y/a/b/c");
    const auto local = m.local_filters();
    ASSERT_EQ(local.size(), 2U);
    EXPECT_EQ(local[0].filter, "a/+");
    EXPECT_EQ(local[0].qos, 1);
    EXPECT_EQ(local[1].filter, "a/#");
    EXPECT_EQ(m.remote_filters().size(), 1U);
    EXPECT_EQ(m.remote_filters()[0].filter, "x/a/+");
}

}  // namespace
}  // namespace moth::bridge
