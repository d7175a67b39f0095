// RetainedIndex: set/replace/erase/find, wildcard filters, the '$' rule and pruning.
#include "topic/retained_index.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

using moth::topic::RetainedIndex;
using Index = RetainedIndex<std::string>;

std::vector<std::string> match(const Index& index, std::string_view filter) {
    std::vector<std::string> topics;
    index.match(filter, [&](std::string_view topic, const std::string& message) {
        EXPECT_EQ(message, "m:" + std::string(topic));
        topics.emplace_back(topic);
    });
    std::sort(topics.begin(), topics.end());
    return topics;
}

Index make(std::initializer_list<const char*> topics) {
    Index index;
    for (const auto* topic : topics) index.set(topic, "m:" + std::string(topic));
    return index;
}

using Topics = std::vector<std::string>;

TEST(RetainedIndex, SetFindReplaceErase) {
    Index index;
    EXPECT_EQ(index.find("a/b"), nullptr);
    index.set("a/b", "one");
    index.set("a/b", "two");  // replaces
    EXPECT_EQ(index.size(), 1u);
    ASSERT_NE(index.find("a/b"), nullptr);
    EXPECT_EQ(*index.find("a/b"), "two");
    EXPECT_EQ(index.find("a"), nullptr);  // a node on the way, not a retained topic
    EXPECT_EQ(index.find("a/b/c"), nullptr);
    EXPECT_FALSE(index.erase("a"));
    EXPECT_TRUE(index.erase("a/b"));
    EXPECT_FALSE(index.erase("a/b"));
    EXPECT_EQ(index.size(), 0u);
    EXPECT_EQ(index.find("a/b"), nullptr);
}

TEST(RetainedIndex, WildcardFilters) {
    const auto index = make({"sport", "sport/tennis", "sport/tennis/player1", "sport/tennis/player1/ranking",
                             "sport/tennis/player2", "sport/golf", "sport/", "/finance", "finance", "a//b"});
    EXPECT_EQ(match(index, "sport/tennis/player1/#"),
              (Topics{"sport/tennis/player1", "sport/tennis/player1/ranking"}));
    EXPECT_EQ(match(index, "sport/#"), (Topics{"sport", "sport/", "sport/golf", "sport/tennis", "sport/tennis/player1",
                                               "sport/tennis/player1/ranking", "sport/tennis/player2"}));
    EXPECT_EQ(match(index, "sport/+"), (Topics{"sport/", "sport/golf", "sport/tennis"}));
    EXPECT_EQ(match(index, "sport/tennis/+"), (Topics{"sport/tennis/player1", "sport/tennis/player2"}));
    EXPECT_EQ(match(index, "+/tennis/+/ranking"), (Topics{"sport/tennis/player1/ranking"}));
    EXPECT_EQ(match(index, "+"), (Topics{"finance", "sport"}));
    EXPECT_EQ(match(index, "+/+"), (Topics{"/finance", "sport/", "sport/golf", "sport/tennis"}));
    EXPECT_EQ(match(index, "/+"), (Topics{"/finance"}));
    EXPECT_EQ(match(index, "a/+/b"), (Topics{"a//b"}));
    EXPECT_EQ(match(index, "sport/tennis/player3"), Topics{});
    EXPECT_EQ(match(index, "nothing/#"), Topics{});
    EXPECT_EQ(match(index, "#").size(), index.size());
}

TEST(RetainedIndex, DollarTopicsAreHiddenFromLeadingWildcards) {
    const auto index = make({"$SYS/broker/uptime", "$SYS", "$share", "plain/x", "plain/$x"});
    EXPECT_EQ(match(index, "#"), (Topics{"plain/$x", "plain/x"}));
    EXPECT_EQ(match(index, "+"), Topics{});
    EXPECT_EQ(match(index, "+/broker/uptime"), Topics{});
    EXPECT_EQ(match(index, "+/+"), (Topics{"plain/$x", "plain/x"}));
    EXPECT_EQ(match(index, "$SYS/#"), (Topics{"$SYS", "$SYS/broker/uptime"}));
    EXPECT_EQ(match(index, "$SYS/+/uptime"), (Topics{"$SYS/broker/uptime"}));
    EXPECT_EQ(match(index, "$SYS"), (Topics{"$SYS"}));
}

TEST(RetainedIndex, ErasePrunesNodesLeftEmpty) {
    Index index;
    index.set("a/b/c", "m:a/b/c");
    index.set("a", "m:a");
    index.set("/x", "m:/x");
    EXPECT_EQ(index.node_count(), 5u);  // a, a/b, a/b/c, "", /x
    EXPECT_TRUE(index.erase("a/b/c"));
    EXPECT_EQ(index.node_count(), 3u);
    EXPECT_TRUE(index.erase("/x"));
    EXPECT_EQ(index.node_count(), 1u);
    EXPECT_FALSE(index.erase("a/b"));
    EXPECT_TRUE(index.erase("a"));
    EXPECT_EQ(index.node_count(), 0u);
    EXPECT_EQ(index.size(), 0u);
    EXPECT_EQ(match(index, "#"), Topics{});
}

TEST(RetainedIndex, ErasingAnInnerTopicKeepsItsChildren) {
    auto index = make({"a", "a/b"});
    EXPECT_TRUE(index.erase("a"));
    EXPECT_EQ(match(index, "#"), (Topics{"a/b"}));
    EXPECT_EQ(match(index, "a/#"), (Topics{"a/b"}));
    EXPECT_EQ(index.node_count(), 2u);
}

TEST(RetainedIndex, ForEachAndClear) {
    auto index = make({"a", "a/b", "$SYS/x", "/", "//"});
    Topics seen;
    index.for_each([&](std::string_view topic, const std::string& message) {
        EXPECT_EQ(message, "m:" + std::string(topic));
        seen.emplace_back(topic);
    });
    std::sort(seen.begin(), seen.end());
    EXPECT_EQ(seen, (Topics{"$SYS/x", "/", "//", "a", "a/b"}));  // for_each, unlike "#", includes '$' topics
    index.clear();
    EXPECT_EQ(index.size(), 0u);
    EXPECT_EQ(index.node_count(), 0u);
    EXPECT_EQ(index.find("a"), nullptr);
}

TEST(RetainedIndex, HoldsSharedMessagesWithoutCopyingThem) {
    struct Message {
        std::string payload;
    };
    RetainedIndex<std::shared_ptr<const Message>> index;
    const auto message = std::make_shared<const Message>(Message{"21.5"});
    index.set("sensors/t", message);
    EXPECT_EQ(message.use_count(), 2);
    int seen = 0;
    index.match("sensors/+", [&](std::string_view, const std::shared_ptr<const Message>& m) {
        EXPECT_EQ(m.get(), message.get());
        ++seen;
    });
    EXPECT_EQ(seen, 1);
    EXPECT_TRUE(index.erase("sensors/t"));
    EXPECT_EQ(message.use_count(), 1);
}

}  // namespace
