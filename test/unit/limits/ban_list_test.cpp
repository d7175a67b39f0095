// BanList and make_ban (src/limits/ban_list.hpp): canonical addresses, matching a CONNECT by client id, user name
// and address (IPv4, CIDR, IPv6, IPv4-mapped), expiry, order, reloads of the config's bans, the generation, and
// match() running while the list changes (run it under the ASan build; TSan would see a race here too).
#include "limits/ban_list.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace moth::limits {
namespace {

using Kind = Ban::Kind;

Ban ban(Kind kind, std::string_view value, std::optional<std::int64_t> until = std::nullopt,
        Ban::Source source = Ban::Source::Api) {
    auto b = make_ban(kind, value);
    EXPECT_TRUE(b) << value;
    if (!b) return {};
    b->until = until;
    b->source = source;
    return *b;
}

constexpr std::int64_t kNow = 1'700'000'000;

TEST(BanList, MakeBanChecksAndCanonicalizes) {
    std::string error;
    for (Kind k : {Kind::ClientId, Kind::Username, Kind::Address}) {
        EXPECT_FALSE(make_ban(k, "", &error));
        EXPECT_NE(error.find("must not be empty"), std::string::npos) << error;
    }
    for (const char* bad : {"10.0.0.1/8", "host.example", "[::1]", "10.0.0.1:1883", "10.0.0.0/33", "10.0.0.0/08",
                            "fe80::1%eth0", "2001:db8::/129"}) {
        error.clear();
        EXPECT_FALSE(make_ban(Kind::Address, bad, &error)) << bad;
        EXPECT_NE(error.find(bad), std::string::npos) << error;
    }
    EXPECT_FALSE(make_ban(Kind::Address, "nonsense"));  // no error pointer: fine

    EXPECT_EQ(make_ban(Kind::Address, "10.0.0.7/32")->value, "10.0.0.7");
    EXPECT_EQ(make_ban(Kind::Address, "2001:0DB8::/32")->value, "2001:db8::/32");
    EXPECT_EQ(make_ban(Kind::Address, "::1/128")->value, "::1");
    const auto r = make_ban(Kind::Address, "10.0.0.0/8");
    ASSERT_TRUE(r && r->range);
    EXPECT_EQ(r->range->prefix, 8);
    // Ids and names are taken as they are (an MQTT client id may be any UTF-8, spaces included).
    const auto id = make_ban(Kind::ClientId, " Sensor 1 ");
    ASSERT_TRUE(id);
    EXPECT_EQ(id->value, " Sensor 1 ");
    EXPECT_FALSE(id->range);
    EXPECT_FALSE(make_ban(Kind::Username, "10.0.0.0/8")->range);
}

TEST(BanList, KindAndSourceNames) {
    for (Kind k : {Kind::ClientId, Kind::Username, Kind::Address}) EXPECT_EQ(ban_kind(to_string(k)), k);
    for (auto s : {Ban::Source::Config, Ban::Source::Api, Ban::Source::Flapping}) {
        EXPECT_EQ(ban_source(to_string(s)), s);
    }
    EXPECT_EQ(to_string(Kind::ClientId), "client_id");
    EXPECT_EQ(to_string(Ban::Source::Flapping), "flapping");
    EXPECT_FALSE(ban_kind("ip"));
    EXPECT_FALSE(ban_source(""));
}

TEST(BanList, AddReplaceRemove) {
    BanList l;
    EXPECT_TRUE(l.empty());
    EXPECT_TRUE(l.add(ban(Kind::ClientId, "a")));
    Ban again = ban(Kind::ClientId, "a");
    again.reason = "second thoughts";
    EXPECT_FALSE(l.add(again));  // replaced, not added
    ASSERT_EQ(l.list(kNow).size(), 1U);
    EXPECT_EQ(l.list(kNow)[0].reason, "second thoughts");
    EXPECT_TRUE(l.add(ban(Kind::Username, "a")));  // another kind: another ban
    EXPECT_EQ(l.list(kNow).size(), 2U);

    EXPECT_FALSE(l.remove(Kind::ClientId, "b"));
    EXPECT_FALSE(l.remove(Kind::Address, "a"));
    EXPECT_TRUE(l.remove(Kind::ClientId, "a"));
    EXPECT_FALSE(l.remove(Kind::ClientId, "a"));
    EXPECT_TRUE(l.remove(Kind::Username, "a"));
    EXPECT_TRUE(l.empty());
}

// An address ban is named by any text parse_cidr reads as the same range; text it refuses (a leading zero in the
// prefix, host bits) names no ban.
TEST(BanList, AddressRemovedByAnyFormOfItsRange) {
    BanList l;
    ASSERT_TRUE(l.add(ban(Kind::Address, "10.0.0.0/8")));
    ASSERT_TRUE(l.add(ban(Kind::Address, "192.0.2.7")));
    ASSERT_TRUE(l.add(ban(Kind::Address, "2001:db8::/32")));
    EXPECT_FALSE(l.remove(Kind::Address, "10.0.0.0/08"));
    EXPECT_FALSE(l.remove(Kind::Address, "10.0.0.1/8"));
    EXPECT_FALSE(l.remove(Kind::Address, "10.0.0.0/16"));
    EXPECT_TRUE(l.remove(Kind::Address, "10.0.0.0/8"));
    EXPECT_TRUE(l.remove(Kind::Address, "192.0.2.7/32"));
    EXPECT_TRUE(l.remove(Kind::Address, "2001:0db8:0000::/32"));
    EXPECT_TRUE(l.empty());
}

TEST(BanList, MatchesClientIdUsernameAndAddress) {
    BanList l;
    l.add(ban(Kind::ClientId, "evil"));
    l.add(ban(Kind::Username, "mallory"));
    l.add(ban(Kind::Address, "192.0.2.7"));
    l.add(ban(Kind::Address, "10.0.0.0/8"));
    l.add(ban(Kind::Address, "::1"));
    l.add(ban(Kind::Address, "2001:db8::/32"));
    auto who = [&](std::string_view id, std::optional<std::string_view> user, std::string_view remote) {
        const auto b = l.match(id, user, remote, kNow);
        return b ? std::string(to_string(b->kind)) + " " + b->value : std::string("-");
    };
    EXPECT_EQ(who("evil", std::nullopt, "203.0.113.1:5000"), "client_id evil");
    EXPECT_EQ(who("Evil", std::nullopt, "203.0.113.1:5000"), "-");  // ids are case-sensitive
    EXPECT_EQ(who("ok", "mallory", "203.0.113.1:5000"), "username mallory");
    EXPECT_EQ(who("mallory", std::nullopt, "203.0.113.1:5000"), "-");         // a user name ban is not an id ban
    EXPECT_EQ(who("evil", "mallory", "203.0.113.1:5000"), "client_id evil");  // the id is asked first
    // IPv4: a /32 and a /8.
    EXPECT_EQ(who("ok", std::nullopt, "192.0.2.7:5000"), "address 192.0.2.7");
    EXPECT_EQ(who("ok", std::nullopt, "192.0.2.8:5000"), "-");
    EXPECT_EQ(who("ok", std::nullopt, "10.200.3.4:1"), "address 10.0.0.0/8");
    EXPECT_EQ(who("ok", std::nullopt, "11.0.0.1:1"), "-");
    // IPv6 as connections print it, and a range.
    EXPECT_EQ(who("ok", std::nullopt, "[::1]:5000"), "address ::1");
    EXPECT_EQ(who("ok", std::nullopt, "[::2]:5000"), "-");
    EXPECT_EQ(who("ok", std::nullopt, "[2001:db8:1::5]:80"), "address 2001:db8::/32");
    // A dual-stack listener's IPv4 peer, as an IPv4-mapped IPv6 address, meets the IPv4 ranges.
    EXPECT_EQ(who("ok", std::nullopt, "[::ffff:10.1.2.3]:5000"), "address 10.0.0.0/8");
    EXPECT_EQ(who("ok", std::nullopt, "[::ffff:192.0.2.7]:5000"), "address 192.0.2.7");
    EXPECT_EQ(who("ok", std::nullopt, "[::ffff:11.1.2.3]:5000"), "-");
    EXPECT_EQ(who("ok", std::nullopt, "not an address"), "-");
}

// And the other way: an IPv4 peer meets a range written in its IPv4-mapped form.
TEST(BanList, IPv4PeerMatchesMappedRange) {
    BanList l;
    l.add(ban(Kind::Address, "::ffff:192.0.2.0/120"));
    EXPECT_TRUE(l.match("x", std::nullopt, "192.0.2.200:1", kNow));
    EXPECT_FALSE(l.match("x", std::nullopt, "192.0.3.1:1", kNow));
}

TEST(BanList, ExpiredNeverMatchesNorIsListed) {
    BanList l;
    l.add(ban(Kind::ClientId, "temp", kNow + 10));
    l.add(ban(Kind::Address, "10.0.0.0/8", kNow + 10));
    l.add(ban(Kind::Username, "u", kNow + 10));
    EXPECT_TRUE(l.match("temp", std::nullopt, "1.2.3.4:1", kNow + 9));
    EXPECT_TRUE(l.match("x", std::nullopt, "10.0.0.1:1", kNow + 9));
    EXPECT_TRUE(l.match("x", "u", "1.2.3.4:1", kNow + 9));
    EXPECT_EQ(l.list(kNow + 9).size(), 3U);
    // `until` is the first second it no longer holds.
    EXPECT_FALSE(l.match("temp", "u", "10.0.0.1:1", kNow + 10));
    EXPECT_TRUE(l.list(kNow + 10).empty());
    EXPECT_FALSE(l.empty());  // still held until purged
}

TEST(BanList, ListIsInKindThenValueOrder) {
    BanList l;
    l.add(ban(Kind::Address, "10.0.0.0/8"));
    l.add(ban(Kind::Username, "zed"));
    l.add(ban(Kind::ClientId, "b"));
    l.add(ban(Kind::Address, "1.2.3.4"));
    l.add(ban(Kind::ClientId, "a"));
    l.add(ban(Kind::Username, "amy"));
    std::vector<std::string> got;
    for (const auto& b : l.list(kNow)) got.push_back(std::string(to_string(b.kind)) + " " + b.value);
    EXPECT_EQ(got, (std::vector<std::string>{"client_id a", "client_id b", "username amy", "username zed",
                                             "address 1.2.3.4", "address 10.0.0.0/8"}));
}

TEST(BanList, PurgeExpiredReturnsThem) {
    BanList l;
    l.add(ban(Kind::ClientId, "gone", kNow));
    l.add(ban(Kind::Address, "10.0.0.0/8", kNow - 5));
    l.add(ban(Kind::ClientId, "stays", kNow + 1));
    l.add(ban(Kind::Username, "forever"));
    const auto g = l.generation();
    auto gone = l.purge_expired(kNow);
    ASSERT_EQ(gone.size(), 2U);
    std::sort(gone.begin(), gone.end(), [](const Ban& a, const Ban& b) { return a.value < b.value; });
    EXPECT_EQ(gone[0].value, "10.0.0.0/8");
    EXPECT_EQ(gone[1].value, "gone");
    EXPECT_NE(l.generation(), g);
    // Gone for good: an earlier time does not bring them back.
    EXPECT_EQ(l.list(kNow - 100).size(), 2U);
    const auto g2 = l.generation();
    EXPECT_TRUE(l.purge_expired(kNow).empty());
    EXPECT_EQ(l.generation(), g2);  // nothing changed
}

// A reload replaces the config's bans and keeps the API's and flapping's.
TEST(BanList, SetConfigBansReplacesOnlyConfigOnes) {
    BanList l;
    l.add(ban(Kind::ClientId, "api"));
    l.add(ban(Kind::ClientId, "flappy", kNow + 60, Ban::Source::Flapping));
    // Whatever source they carry, these are the config's.
    l.set_config_bans({ban(Kind::ClientId, "c1"), ban(Kind::Address, "10.0.0.0/8")});
    auto sources = [&] {
        std::vector<std::string> out;
        for (const auto& b : l.list(kNow)) out.push_back(b.value + "=" + std::string(to_string(b.source)));
        return out;
    };
    EXPECT_EQ(sources(), (std::vector<std::string>{"api=api", "c1=config", "flappy=flapping", "10.0.0.0/8=config"}));
    l.set_config_bans({ban(Kind::ClientId, "c2")});
    EXPECT_EQ(sources(), (std::vector<std::string>{"api=api", "c2=config", "flappy=flapping"}));
    EXPECT_FALSE(l.match("c1", std::nullopt, "10.0.0.1:1", kNow));
    EXPECT_TRUE(l.match("c2", std::nullopt, "1.2.3.4:1", kNow));
    l.set_config_bans({});
    EXPECT_EQ(sources(), (std::vector<std::string>{"api=api", "flappy=flapping"}));
}

// Connected clients are checked again when the generation moves: every change moves it, a no-op does not.
TEST(BanList, GenerationChangesOnEveryChange) {
    BanList l;
    auto g = l.generation();
    auto changed = [&] {
        const auto now = l.generation();
        const bool c = now != g;
        g = now;
        return c;
    };
    l.add(ban(Kind::ClientId, "a"));
    EXPECT_TRUE(changed());
    l.add(ban(Kind::ClientId, "a"));  // a replacement may change reason or expiry
    EXPECT_TRUE(changed());
    EXPECT_FALSE(l.remove(Kind::ClientId, "b"));
    EXPECT_FALSE(changed());
    EXPECT_TRUE(l.remove(Kind::ClientId, "a"));
    EXPECT_TRUE(changed());
    l.set_config_bans({ban(Kind::ClientId, "c")});
    EXPECT_TRUE(changed());
    (void)l.match("c", std::nullopt, "1.2.3.4:1", kNow);
    (void)l.list(kNow);
    EXPECT_FALSE(changed());
}

// Workers match() on every CONNECT while the API adds and removes: readers always see either the state before or
// after a change (the permanent ban always, the toggled one matching only itself). A bounded loop, no sleeps.
TEST(BanList, ConcurrentMatchWhileChanging) {
    BanList l;
    l.add(ban(Kind::ClientId, "perm"));
    std::atomic<bool> done{false};
    std::atomic<int> wrong{0};
    std::vector<std::thread> readers;
    for (int t = 0; t < 2; ++t) {
        readers.emplace_back([&] {
            int rounds = 0;
            while (!done.load(std::memory_order_acquire) || rounds < 100) {
                ++rounds;
                const auto p = l.match("perm", std::nullopt, "203.0.113.9:1", kNow);
                if (!p || p->value != "perm") ++wrong;
                if (const auto a = l.match("x", std::nullopt, "10.1.1.1:1", kNow); a && a->value != "10.0.0.0/8") {
                    ++wrong;
                }
                if (const auto u = l.match("x", "u0", "203.0.113.9:1", kNow); u && u->value != "u0") ++wrong;
                (void)l.list(kNow);
            }
        });
    }
    for (int i = 0; i < 300; ++i) {
        l.add(ban(Kind::Address, "10.0.0.0/8"));
        l.add(ban(Kind::Username, "u" + std::to_string(i % 3)));
        if (i % 7 == 0) l.set_config_bans({ban(Kind::ClientId, "cfg" + std::to_string(i))});
        l.remove(Kind::Address, "10.0.0.0/8");
        l.remove(Kind::Username, "u" + std::to_string((i + 1) % 3));
        (void)l.purge_expired(kNow);
    }
    done.store(true, std::memory_order_release);
    for (auto& t : readers) t.join();
    EXPECT_EQ(wrong.load(), 0);
    EXPECT_TRUE(l.match("perm", std::nullopt, "1.2.3.4:1", kNow));
}

}  // namespace
}  // namespace moth::limits
