// AbuseGate (src/server/abuse_gate.hpp, issue 19): connection rates per listener and per address, bans from the
// config, the API and flapping detection, and what it writes to the store. A fake wall clock (bans are in Unix
// seconds) and a steady time passed in; the store is a fake that records the batches committed.
#include "server/abuse_gate.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "store/memory/memory_store.hpp"

namespace moth::server {
namespace {

using namespace std::chrono_literals;
using broker::GateVerdict;
using limits::Ban;
using Verdict = GateVerdict::Kind;

const broker::TimePoint t0 = broker::TimePoint{} + 1000s;

// Records what the gate commits; everything is "durable" at once.
class RecordingStore final : public broker::Store {
public:
    void commit(std::vector<broker::StoreOp> batch, Done done) override {
        for (auto& op : batch) ops.push_back(std::move(op));
        ++batches;
        if (done) done(true);
    }
    [[nodiscard]] bool acks_wait() const override { return false; }
    void read_deliveries(std::string, broker::DeliveryRange, Loaded done) override { done(false, {}); }

    // The kinds and keys of the ops since the last call ("put bcflappy", "erase ba10.0.0.0/8").
    std::vector<std::string> take_ops() {
        std::vector<std::string> out;
        for (const auto& op : ops) out.push_back((op.kind == broker::StoreOp::Kind::Put ? "put " : "erase ") + op.key);
        ops.clear();
        return out;
    }

    std::vector<broker::StoreOp> ops;
    int batches = 0;
};

struct GateTest : ::testing::Test {
    GateTest() {
        cfg.flapping.enabled = false;
        config::Listener l;
        l.name = "mqtt-0";
        cfg.listeners.push_back(l);
    }

    AbuseGate& gate() {
        if (!gate_) {
            gate_ = std::make_unique<AbuseGate>(cfg, nullptr, [this] { return wall; });
            gate_->on_ban_added([this] { ++ban_added; });
        }
        return *gate_;
    }
    Verdict connect(std::string_view id, std::string_view remote = "192.0.2.1:4000",
                    std::optional<std::string_view> user = std::nullopt, std::string_view listener = "mqtt-0") {
        last = gate().on_connect({listener, id, user, remote}, now);
        return last.kind;
    }

    config::Config cfg;
    std::int64_t wall = 1'700'000'000;
    broker::TimePoint now = t0;
    int ban_added = 0;
    GateVerdict last;
    std::unique_ptr<AbuseGate> gate_;
};

std::optional<Ban> find(const std::vector<Ban>& bans, Ban::Kind kind, std::string_view value) {
    for (const auto& b : bans) {
        if (b.kind == kind && b.value == value) return b;
    }
    return std::nullopt;
}

TEST_F(GateTest, ListenerConnectionRate) {
    cfg.listeners[0].connection_rate = 5;
    cfg.listeners[0].connection_burst = 5;
    config::Listener other;
    other.name = "other";  // no override, and [limits] has no connection rate: unlimited
    cfg.listeners.push_back(other);
    // Different ids and addresses: only the listener's rate applies.
    for (int i = 0; i < 5; ++i) {
        EXPECT_EQ(connect("c" + std::to_string(i), "192.0.2." + std::to_string(i) + ":1"), Verdict::Admit) << i;
    }
    EXPECT_EQ(connect("c5", "192.0.2.5:1"), Verdict::RateExceeded);
    EXPECT_NE(last.why.find("mqtt-0"), std::string::npos) << last.why;
    EXPECT_EQ(connect("c5", "192.0.2.5:1"), Verdict::RateExceeded);
    for (int i = 0; i < 20; ++i) EXPECT_EQ(connect("o", "192.0.2.9:1", std::nullopt, "other"), Verdict::Admit);
    // 5/s: one more every 200 ms.
    now += 100ms;
    EXPECT_EQ(connect("c6"), Verdict::RateExceeded);
    now += 100ms;
    EXPECT_EQ(connect("c6"), Verdict::Admit);
    EXPECT_EQ(connect("c7"), Verdict::RateExceeded);
}

TEST_F(GateTest, ListenerOverrideAndLimitsRate) {
    cfg.limits.connection_rate = 2;  // burst 0: max(1, rate) = 2
    config::Listener other;
    other.name = "other";
    other.connection_rate = 1;
    other.connection_burst = 1;
    cfg.listeners.push_back(other);
    EXPECT_EQ(connect("a"), Verdict::Admit);
    EXPECT_EQ(connect("b"), Verdict::Admit);
    EXPECT_EQ(connect("c"), Verdict::RateExceeded);
    EXPECT_EQ(connect("d", "192.0.2.1:1", std::nullopt, "other"), Verdict::Admit);
    EXPECT_EQ(connect("e", "192.0.2.1:1", std::nullopt, "other"), Verdict::RateExceeded);
}

TEST_F(GateTest, PerAddressRate) {
    cfg.limits.connection_rate_per_address = 1;
    cfg.limits.connection_burst_per_address = 2;
    EXPECT_EQ(connect("a", "10.0.0.1:1000"), Verdict::Admit);
    EXPECT_EQ(connect("b", "10.0.0.1:1001"), Verdict::Admit);  // another port, the same address
    EXPECT_EQ(connect("c", "10.0.0.1:1002"), Verdict::RateExceeded);
    EXPECT_NE(last.why.find("per address"), std::string::npos) << last.why;
    EXPECT_EQ(connect("d", "10.0.0.2:1000"), Verdict::Admit);
    EXPECT_EQ(connect("e", "[::1]:5"), Verdict::Admit);
    EXPECT_EQ(connect("f", "[::1]:6"), Verdict::Admit);
    EXPECT_EQ(connect("g", "[::1]:7"), Verdict::RateExceeded);
    now += 1s;
    EXPECT_EQ(connect("h", "10.0.0.1:1003"), Verdict::Admit);
    EXPECT_EQ(connect("i", "10.0.0.1:1004"), Verdict::RateExceeded);
}

config::Ban config_ban(config::Ban::Kind kind, std::string value, std::optional<std::int64_t> until = {}) {
    config::Ban b;
    b.kind = kind;
    b.value = std::move(value);
    if (kind == config::Ban::Kind::Address) b.range = parse_cidr(b.value);
    b.until = until;
    b.reason = "from the file";
    return b;
}

TEST_F(GateTest, ConfigBansAndReconfigure) {
    cfg.bans = {config_ban(config::Ban::Kind::ClientId, "evil"), config_ban(config::Ban::Kind::Username, "mallory"),
                config_ban(config::Ban::Kind::Address, "10.0.0.0/8"),
                config_ban(config::Ban::Kind::ClientId, "expired", wall - 1)};
    EXPECT_EQ(connect("evil"), Verdict::Banned);
    EXPECT_NE(last.why.find("client_id evil: from the file"), std::string::npos) << last.why;
    EXPECT_EQ(connect("ok", "192.0.2.1:1", "mallory"), Verdict::Banned);
    EXPECT_EQ(connect("ok", "10.9.8.7:1"), Verdict::Banned);
    EXPECT_EQ(connect("expired"), Verdict::Admit);
    EXPECT_EQ(connect("ok"), Verdict::Admit);
    EXPECT_TRUE(gate().banned("evil", std::nullopt, "192.0.2.1:1"));
    EXPECT_FALSE(gate().banned("ok", std::nullopt, "192.0.2.1:1"));
    const auto listed = gate().bans();
    ASSERT_EQ(listed.size(), 3U);
    for (const auto& b : listed) EXPECT_EQ(b.source, Ban::Source::Config) << b.value;

    // A reload replaces them.
    auto next = cfg;
    next.bans = {config_ban(config::Ban::Kind::ClientId, "other")};
    gate().reconfigure(next);
    EXPECT_EQ(connect("evil"), Verdict::Admit);
    EXPECT_EQ(connect("ok", "10.9.8.7:1"), Verdict::Admit);
    EXPECT_EQ(connect("other"), Verdict::Banned);
    EXPECT_EQ(gate().bans().size(), 1U);
    EXPECT_EQ(ban_added, 1);  // the reload's bans disconnect those connected
}

// [flapping]: the (max_connects + 1)th CONNECT of a client id within window_s is refused and bans the id for
// ban_s; it stays refused until then, and other ids are not affected.
TEST_F(GateTest, FlappingClientIdIsBanned) {
    cfg.flapping = {.enabled = true, .max_connects = 3, .window_s = 10, .ban_s = 60, .address_max_connects = 0};
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(connect("flappy"), Verdict::Admit) << i;
        now += 1s;
    }
    EXPECT_EQ(gate().flapping_bans(), 0U);
    EXPECT_EQ(connect("flappy"), Verdict::Banned);
    EXPECT_NE(last.why.find("flapping"), std::string::npos) << last.why;
    EXPECT_EQ(gate().flapping_bans(), 1U);
    const auto b = find(gate().bans(), Ban::Kind::ClientId, "flappy");
    ASSERT_TRUE(b);
    EXPECT_EQ(b->source, Ban::Source::Flapping);
    EXPECT_EQ(b->created, wall);
    EXPECT_EQ(b->until, wall + 1 + 60) << "whole seconds: the ban ends once 60 s have passed, never before";
    EXPECT_EQ(connect("other"), Verdict::Admit);

    // Refused while banned, well past the detection window, without counting more flapping bans.
    for (int i = 0; i < 5; ++i) {
        wall += 10;
        now += 10s;
        EXPECT_EQ(connect("flappy"), Verdict::Banned) << i;
    }
    EXPECT_TRUE(gate().banned("flappy", std::nullopt, "192.0.2.1:1"));
    wall += 10;  // created + 60: still banned (the second it was created in may have been almost over)
    now += 10s;
    EXPECT_EQ(connect("flappy"), Verdict::Banned);
    wall += 1;  // created + 61
    now += 1s;
    EXPECT_EQ(connect("flappy"), Verdict::Admit);
    EXPECT_EQ(gate().flapping_bans(), 1U);
    EXPECT_FALSE(find(gate().bans(), Ban::Kind::ClientId, "flappy"));
}

TEST_F(GateTest, FlappingAddress) {
    cfg.flapping = {.enabled = true, .max_connects = 100, .window_s = 10, .ban_s = 60, .address_max_connects = 2};
    EXPECT_EQ(connect("a", "192.0.2.1:1"), Verdict::Admit);
    EXPECT_EQ(connect("b", "192.0.2.1:2"), Verdict::Admit);
    EXPECT_EQ(ban_added, 0);
    EXPECT_EQ(connect("c", "192.0.2.1:3"), Verdict::Banned);
    EXPECT_NE(last.why.find("flapping address"), std::string::npos) << last.why;
    EXPECT_EQ(ban_added, 1);  // the address's connected clients go too
    EXPECT_EQ(gate().flapping_bans(), 1U);
    const auto b = find(gate().bans(), Ban::Kind::Address, "192.0.2.1");
    ASSERT_TRUE(b);
    EXPECT_EQ(b->source, Ban::Source::Flapping);
    EXPECT_EQ(connect("d", "192.0.2.1:4"), Verdict::Banned);
    EXPECT_TRUE(gate().banned("a", std::nullopt, "192.0.2.1:1"));
    EXPECT_EQ(connect("e", "192.0.2.2:1"), Verdict::Admit);
    // IPv6 peers are tracked by their address too.
    EXPECT_EQ(connect("f", "[2001:db8::1]:1"), Verdict::Admit);
    EXPECT_EQ(connect("g", "[2001:db8::1]:2"), Verdict::Admit);
    EXPECT_EQ(connect("h", "[2001:db8::1]:3"), Verdict::Banned);
    EXPECT_TRUE(find(gate().bans(), Ban::Kind::Address, "2001:db8::1"));
}

TEST_F(GateTest, AddressFlappingOffWhenZero) {
    cfg.flapping = {.enabled = true, .max_connects = 100, .window_s = 10, .ban_s = 60, .address_max_connects = 0};
    for (int i = 0; i < 50; ++i) EXPECT_EQ(connect("c" + std::to_string(i), "192.0.2.1:1"), Verdict::Admit) << i;
    EXPECT_EQ(gate().flapping_bans(), 0U);
}

TEST_F(GateTest, FlappingDisabled) {
    cfg.flapping = {.enabled = false, .max_connects = 2, .window_s = 10, .ban_s = 60, .address_max_connects = 2};
    for (int i = 0; i < 20; ++i) EXPECT_EQ(connect("same", "192.0.2.1:1"), Verdict::Admit) << i;
    EXPECT_EQ(gate().flapping_bans(), 0U);
}

TEST_F(GateTest, AddBanViaApi) {
    auto b = limits::make_ban(Ban::Kind::ClientId, "x");
    ASSERT_TRUE(b);
    b->source = Ban::Source::Flapping;  // the API's, whatever the caller says
    b->created = 42;
    b->reason = "by hand";
    gate().add_ban(*b);
    EXPECT_EQ(ban_added, 1);
    const auto listed = find(gate().bans(), Ban::Kind::ClientId, "x");
    ASSERT_TRUE(listed);
    EXPECT_EQ(listed->source, Ban::Source::Api);
    EXPECT_EQ(listed->created, wall);
    EXPECT_EQ(listed->reason, "by hand");
    EXPECT_EQ(connect("x"), Verdict::Banned);
    const auto why = gate().banned("x", std::nullopt, "192.0.2.1:1");
    ASSERT_TRUE(why);
    EXPECT_NE(why->find("by hand"), std::string::npos) << *why;
    EXPECT_EQ(gate().wall_now(), wall);
}

// An id banned for flapping and unbanned by hand connects again, and counts from zero: it takes another
// max_connects + 1 connects within a window to be banned again.
TEST_F(GateTest, RemoveBanLetsAFlappingIdBackAndResetsItsCount) {
    cfg.flapping = {.enabled = true, .max_connects = 3, .window_s = 10, .ban_s = 60, .address_max_connects = 0};
    for (int i = 0; i < 3; ++i) ASSERT_EQ(connect("flappy"), Verdict::Admit);
    ASSERT_EQ(connect("flappy"), Verdict::Banned);
    EXPECT_FALSE(gate().remove_ban(Ban::Kind::ClientId, "nobody"));
    EXPECT_TRUE(gate().remove_ban(Ban::Kind::ClientId, "flappy"));
    EXPECT_FALSE(gate().remove_ban(Ban::Kind::ClientId, "flappy"));
    for (int i = 0; i < 3; ++i) EXPECT_EQ(connect("flappy"), Verdict::Admit) << i;
    EXPECT_EQ(connect("flappy"), Verdict::Banned);
    EXPECT_EQ(gate().flapping_bans(), 2U);
}

TEST_F(GateTest, RemoveAddressBanByAnyFormOfItsRange) {
    cfg.flapping = {.enabled = true, .max_connects = 100, .window_s = 10, .ban_s = 60, .address_max_connects = 1};
    ASSERT_EQ(connect("a", "192.0.2.1:1"), Verdict::Admit);
    ASSERT_EQ(connect("b", "192.0.2.1:2"), Verdict::Banned);
    EXPECT_TRUE(gate().remove_ban(Ban::Kind::Address, "192.0.2.1/32"));
    EXPECT_EQ(connect("c", "192.0.2.1:3"), Verdict::Admit);  // counted from zero again: the 1st
    EXPECT_EQ(connect("d", "192.0.2.1:4"), Verdict::Banned);
}

// The API's and flapping's bans are written to the store (put when added, erase when removed or found expired);
// the config's never are: the file brings them back at each start.
TEST_F(GateTest, PersistsApiAndFlappingBansButNotConfigOnes) {
    cfg.bans = {config_ban(config::Ban::Kind::ClientId, "cfg")};
    cfg.flapping = {.enabled = true, .max_connects = 2, .window_s = 10, .ban_s = 60, .address_max_connects = 0};
    RecordingStore store;
    gate().attach_store(&store, {});
    auto next = cfg;
    next.bans.push_back(config_ban(config::Ban::Kind::Address, "10.0.0.0/8"));
    gate().reconfigure(next);
    EXPECT_TRUE(store.take_ops().empty());

    auto id = limits::make_ban(Ban::Kind::ClientId, "x");
    auto range = limits::make_ban(Ban::Kind::Address, "2001:0db8::/32");
    ASSERT_TRUE(id && range);
    gate().add_ban(*id);
    gate().add_ban(*range);
    EXPECT_EQ(store.take_ops(), (std::vector<std::string>{"put bcx", "put ba2001:db8::/32"}));
    for (int i = 0; i < 2; ++i) ASSERT_EQ(connect("f"), Verdict::Admit);
    ASSERT_EQ(connect("f"), Verdict::Banned);
    EXPECT_EQ(store.take_ops(), (std::vector<std::string>{"put bcf"}));

    EXPECT_TRUE(gate().remove_ban(Ban::Kind::ClientId, "x"));
    EXPECT_TRUE(gate().remove_ban(Ban::Kind::Address, "2001:db8::/32"));
    EXPECT_TRUE(gate().remove_ban(Ban::Kind::ClientId, "f"));
    EXPECT_EQ(store.take_ops(), (std::vector<std::string>{"erase bcx", "erase ba2001:db8::/32", "erase bcf"}));
    EXPECT_FALSE(gate().remove_ban(Ban::Kind::ClientId, "x"));
    EXPECT_TRUE(store.take_ops().empty());
    // Removing a config ban by hand writes no record of it (at most an erase of the same key, in case an API ban
    // it replaced was stored).
    EXPECT_TRUE(gate().remove_ban(Ban::Kind::ClientId, "cfg"));
    for (const auto& op : store.ops) EXPECT_EQ(op.kind, broker::StoreOp::Kind::Erase) << op.key;
}

// add_ban also forgets (and erases from the store) the bans that expired meanwhile.
TEST_F(GateTest, AddBanErasesExpiredOnes) {
    RecordingStore store;
    gate().attach_store(&store, {});
    auto b = limits::make_ban(Ban::Kind::Username, "short");
    ASSERT_TRUE(b);
    b->until = wall + 5;
    gate().add_ban(*b);
    EXPECT_EQ(store.take_ops(), (std::vector<std::string>{"put bushort"}));
    wall += 5;
    gate().add_ban(*limits::make_ban(Ban::Kind::ClientId, "y"));
    EXPECT_EQ(store.take_ops(), (std::vector<std::string>{"put bcy", "erase bushort"}));
}

// At start-up the store's bans are in force again, except those that expired while mothd was down: erased.
TEST_F(GateTest, AttachStoreRestoresBansAndErasesExpiredOnes) {
    auto keep = *limits::make_ban(Ban::Kind::ClientId, "keep");
    keep.until = wall + 100;
    keep.created = wall - 100;
    auto old = *limits::make_ban(Ban::Kind::ClientId, "old");
    old.source = Ban::Source::Flapping;
    old.until = wall - 1;
    auto range = *limits::make_ban(Ban::Kind::Address, "10.0.0.0/8");
    RecordingStore store;
    gate().attach_store(&store, {keep, old, range});
    EXPECT_EQ(store.take_ops(), (std::vector<std::string>{"erase bcold"}));
    EXPECT_EQ(gate().bans(), (std::vector<Ban>{keep, range}));
    EXPECT_EQ(connect("old"), Verdict::Admit);
    EXPECT_EQ(connect("keep"), Verdict::Banned);
    EXPECT_EQ(connect("z", "10.1.1.1:1"), Verdict::Banned);
}

// What the gate writes is what the next start reads back (load_state on the same records) and puts in force.
TEST_F(GateTest, WrittenBansSurviveARestart) {
    cfg.flapping = {.enabled = true, .max_connects = 2, .window_s = 10, .ban_s = 60, .address_max_connects = 0};
    cfg.bans = {config_ban(config::Ban::Kind::ClientId, "cfg")};
    RecordingStore store;
    gate().attach_store(&store, {});
    auto b = *limits::make_ban(Ban::Kind::Address, "192.0.2.0/24");
    b.reason = "scanner";
    b.until = wall + 3600;
    gate().add_ban(b);
    for (int i = 0; i < 3; ++i) (void)connect("f", "203.0.113.1:1");
    ASSERT_EQ(last.kind, Verdict::Banned);
    ASSERT_EQ(gate().flapping_bans(), 1U);

    store::MemoryBackend backend;
    ASSERT_TRUE(backend.write({&store.ops}, true));
    const auto restored = broker::load_state(backend, t0).bans;
    ASSERT_EQ(restored.size(), 2U);

    auto expected = gate().bans();  // config's are not in the store: the file brings them
    std::erase_if(expected, [](const Ban& x) { return x.source == Ban::Source::Config; });
    config::Config fresh = cfg;
    AbuseGate after(fresh, nullptr, [this] { return wall; });
    RecordingStore store2;
    after.attach_store(&store2, restored);
    auto got = after.bans();
    std::erase_if(got, [](const Ban& x) { return x.source == Ban::Source::Config; });
    EXPECT_EQ(got, expected);
    EXPECT_TRUE(store2.ops.empty());
    EXPECT_TRUE(after.banned("f", std::nullopt, "203.0.113.1:1"));
    EXPECT_TRUE(after.banned("ok", std::nullopt, "192.0.2.77:1"));
}

}  // namespace
}  // namespace moth::server
