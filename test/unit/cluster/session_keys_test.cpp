// The store's session records as keys of the cluster's sessions bucket (src/cluster/session_keys.hpp).
#include "cluster/session_keys.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "broker/store.hpp"
#include "cluster/subject.hpp"

namespace moth::cluster {
namespace {

using broker::StoreOp;

// The keys StoreBatch writes for one client: what the core hands the replica.
std::vector<StoreOp> ops_of(void (*fill)(broker::StoreBatch&)) {
    broker::StoreBatch b(broker::Clock::now());
    fill(b);
    return b.take();
}

bool valid_kv_key(const std::string& k) {
    if (k.empty() || k.front() == '.' || k.back() == '.' || k.find("..") != std::string::npos) return false;
    return std::all_of(k.begin(), k.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
               c == '.' || c == '=' || c == '/';
    });
}

TEST(ClientToken, Base64UrlWithoutPadding) {
    EXPECT_EQ(client_token("dev-1"), "ZGV2LTE");
    EXPECT_EQ(client_token("\xFB\xFF"), "-_8");  // '+' and '/' of base64 are '-' and '_'
    EXPECT_EQ(client_token(std::string(150, 'a')).size(), 200u);  // 150 bytes: exactly 200 characters, kept
}

TEST(ClientToken, LongAndEmptyIdsAreHashed) {
    const std::string long_id(151, 'a');  // 202 characters of base64
    EXPECT_EQ(client_token(long_id), "h" + sha256_hex(long_id));
    EXPECT_EQ(client_token(long_id).size(), 65u);
    EXPECT_NE(client_token(long_id), client_token(long_id + "b"));
    EXPECT_EQ(client_token(""), "h" + sha256_hex(""));
}

TEST(SessionKey, ClientRecordsByTag) {
    auto ops = ops_of([](broker::StoreBatch& b) {
        broker::StoredSession s;
        s.client_id = "dev-1";
        b.put_session(s);
        b.mark_delivery("dev-1", 0x0102030405060708ULL, 7, true);
        b.put_incoming("dev-1", 0xABCD);
    });
    ASSERT_EQ(ops.size(), 3u);
    auto s = session_key(ops[0].key);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->kind, SessionKey::Kind::Record);
    EXPECT_EQ(s->tag, 's');
    EXPECT_EQ(s->client_id, "dev-1");
    EXPECT_EQ(s->key, "c.ZGV2LTE.s");
    auto p = session_key(ops[1].key);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->key, "c.ZGV2LTE.p.0102030405060708");
    auto i = session_key(ops[2].key);
    ASSERT_TRUE(i);
    EXPECT_EQ(i->key, "c.ZGV2LTE.i.abcd");
    EXPECT_EQ(owner_key("dev-1"), "c.ZGV2LTE.o");
    EXPECT_EQ(client_keys("dev-1"), "c.ZGV2LTE.>");
}

TEST(SessionKey, EraseSessionGivesRecordsAndPrefixes) {
    auto ops = ops_of([](broker::StoreBatch& b) { b.erase_session("dev-1"); });
    std::vector<std::string> keys;
    for (const auto& op : ops) {
        auto k = session_key(op.key);
        ASSERT_TRUE(k) << op.key;
        keys.push_back(k->key);
        EXPECT_EQ(k->kind, k->tag == 's' || k->tag == 'w' ? SessionKey::Kind::Record : SessionKey::Kind::Prefix);
    }
    EXPECT_EQ(keys, (std::vector<std::string>{"c.ZGV2LTE.s", "c.ZGV2LTE.w", "c.ZGV2LTE.q.>", "c.ZGV2LTE.p.>",
                                              "c.ZGV2LTE.i.>"}));
}

TEST(SessionKey, OtherRecordsAndBridgesAreNotReplicated) {
    auto ops = ops_of([](broker::StoreBatch& b) {
        broker::Message m;
        m.topic = "r/1";
        b.put_retained(m);
        b.put_totals({});
        b.put_format_version(broker::kStoreFormatVersion);
        b.put_applied("\nnode.1.2");  // a plain path's id: this node's own
        broker::StoredSession s;
        s.client_id = "$bridge/up";
        b.put_session(s);
    });
    for (const auto& op : ops) EXPECT_FALSE(session_key(op.key)) << op.key;
    EXPECT_FALSE(session_key(broker::applied_key("@")));
    EXPECT_FALSE(session_key(broker::applied_key("@ss_1\n")));
    EXPECT_FALSE(session_key(broker::applied_key("@a.b\nm")));  // not one of our consumer names
}

TEST(SessionKey, AppliedIdsOfSessionConsumersRoundTrip) {
    const std::string id = "@ss_0123456789abcdef\nnode-a.1765000000000.42";
    auto k = session_key(broker::applied_key(id));
    ASSERT_TRUE(k);
    EXPECT_EQ(k->kind, SessionKey::Kind::Applied);
    EXPECT_EQ(k->key, "x.ss_0123456789abcdef." + base64url("node-a.1765000000000.42"));
    EXPECT_TRUE(valid_kv_key(k->key));
    EXPECT_EQ(applied_id_of(k->key), id);
    EXPECT_EQ(applied_keys("ss_0123456789abcdef"), "x.ss_0123456789abcdef.>");
    EXPECT_FALSE(applied_id_of("x.ss_1"));
    EXPECT_FALSE(applied_id_of("x.ss_1.a+b"));
    EXPECT_FALSE(applied_id_of("c.ss_1.YQ"));
}

TEST(SessionKey, EveryClientRecordMapsBackToItsStoreKey) {
    for (const auto& client :
         std::vector<std::string>{"dev-1", "caf\xC3\xA9/with spaces.and.dots", std::string(300, 'z')}) {
        std::vector<std::string> store_keys;
        {
            broker::StoreBatch b(broker::Clock::now());
            broker::StoredSession s;
            s.client_id = client;
            b.put_session(s);
            b.mark_delivery(client, 1, 1, false);
            b.mark_delivery(client, 0x10000, 2, false);
            b.put_incoming(client, 3);
            b.erase_will(client);
            for (auto& op : b.take()) store_keys.push_back(op.key);
        }
        for (const auto& sk : store_keys) {
            auto k = session_key(sk);
            ASSERT_TRUE(k);
            EXPECT_TRUE(valid_kv_key(k->key)) << k->key;
            EXPECT_EQ(store_key_of(k->key, client), sk) << k->key;
            EXPECT_FALSE(store_key_of(k->key, client + "x")) << "another client's key";
        }
        EXPECT_FALSE(store_key_of(owner_key(client), client));
        EXPECT_TRUE(valid_kv_key(owner_key(client)));
    }
}

TEST(SessionKey, HexKeepsTheOrderOfSeqs) {
    std::vector<std::string> kv;
    for (std::uint64_t seq : {1ULL, 0xFFULL, 0x100ULL, 0xFFFF0000ULL, 0x1'0000'0000ULL}) {
        broker::StoreBatch b(broker::Clock::now());
        b.mark_delivery("c", seq, 1, false);
        kv.push_back(session_key(b.take()[0].key)->key);
    }
    EXPECT_TRUE(std::is_sorted(kv.begin(), kv.end()));
}

TEST(SessionKey, BadKeysDoNotMapBack) {
    EXPECT_FALSE(store_key_of("c.ZGV2LTE.q.0G", "dev-1"));  // not hex
    EXPECT_FALSE(store_key_of("c.ZGV2LTE.q.ABCD", "dev-1"));  // upper case is never written
    EXPECT_FALSE(store_key_of("c.ZGV2LTE.q.abc", "dev-1"));  // odd length
    EXPECT_FALSE(store_key_of("c.ZGV2LTE.q", "dev-1"));
    EXPECT_FALSE(store_key_of("c.ZGV2LTE.s.00", "dev-1"));
    EXPECT_FALSE(store_key_of("c.ZGV2LTE.z", "dev-1"));
    EXPECT_FALSE(store_key_of("c.ZGV2LTE.", "dev-1"));
}

TEST(SessionConsumer, NamedAfterClientFilterAndSubject) {
    const auto a = session_consumer("dev-1", "a/#", "moth.q1.a.>");
    EXPECT_EQ(a, "ss_" + hex16(fnv1a64(std::string("dev-1\0a/#\0moth.q1.a.>", 21))));
    EXPECT_NE(a, session_consumer("dev-1", "a/#", "moth.q1.a"));
    EXPECT_NE(a, session_consumer("dev-2", "a/#", "moth.q1.a.>"));
}

}  // namespace
}  // namespace moth::cluster
