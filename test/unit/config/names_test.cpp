// The enum <-> name tables that other modules reuse: each name is written once, so every value's name must read
// back (from a file and from --set) as that same value; the ports file, the logs and the server's listener tags
// all use these names.
#include <gtest/gtest.h>

#include <string>
#include <type_traits>

#include "broker/store.hpp"
#include "config/config.hpp"
#include "topic/shared_policy.hpp"

namespace moth::config {
namespace {

// One enum per rule: the store runs config's durability modes, the subscription tree config's policies.
static_assert(std::is_same_v<broker::Durability, Durability>);
static_assert(std::is_same_v<SharedPolicy, topic::SharedPolicy>);

constexpr ListenerKind kKinds[] = {ListenerKind::Mqtt, ListenerKind::Mqtts, ListenerKind::Ws, ListenerKind::Wss,
                                   ListenerKind::Http};

TEST(ConfigNames, EveryListenerKindRoundTrips) {
    for (const auto kind : kKinds) {
        const std::string name(to_string(kind));
        Config c = default_config();
        c.listeners.resize(1);
        ASSERT_TRUE(apply_override(c, "listener.0.kind=" + name).empty()) << name;
        EXPECT_EQ(c.listeners[0].kind, kind) << name;
        // The default name follows the kind ("mqtt-0" -> "<kind>-0"), from the same table.
        EXPECT_EQ(c.listeners[0].name, name + "-0");
        EXPECT_EQ(default_listener_name(kind, 3), name + "-3");

        auto r = parse_config("[[listener]]\nkind = \"" + name + "\"\nport = 0\n", "k.toml");
        ASSERT_TRUE(r.ok()) << name;
        EXPECT_EQ(r.config.listeners.at(0).kind, kind);
        EXPECT_EQ(r.config.listeners.at(0).name, name + "-0");
    }
    EXPECT_EQ(to_string(ListenerKind::Mqtt), "mqtt");
    EXPECT_EQ(to_string(ListenerKind::Mqtts), "mqtts");
    EXPECT_EQ(to_string(ListenerKind::Ws), "ws");
    EXPECT_EQ(to_string(ListenerKind::Wss), "wss");
    EXPECT_EQ(to_string(ListenerKind::Http), "http");
}

TEST(ConfigNames, EverySharedPolicyRoundTrips) {
    for (const auto p : {SharedPolicy::RoundRobin, SharedPolicy::Random, SharedPolicy::Sticky}) {
        const std::string name(to_string(p));
        EXPECT_EQ(name, topic::to_string(p));
        Config c = default_config();
        ASSERT_TRUE(apply_override(c, "features.shared_policy=" + name).empty()) << name;
        EXPECT_EQ(c.features.shared_policy, p) << name;
    }
}

TEST(ConfigNames, EveryDurabilityRoundTrips) {
    for (const auto d : {Durability::Sync, Durability::Batched, Durability::Memory}) {
        const std::string name(to_string(d));
        Config c = default_config();
        ASSERT_TRUE(apply_override(c, "storage.durability=" + name).empty()) << name;
        EXPECT_EQ(c.storage.durability, d) << name;
    }
}

}  // namespace
}  // namespace moth::config
