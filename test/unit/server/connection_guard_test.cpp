// The policy for a call into the core that throws (ConnectionGuard, issue 17), driven with throwing callables and
// fake hooks: no sockets, no core.
#include "server/connection_guard.hpp"

#include <gtest/gtest.h>

#include <map>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

namespace moth::server {
namespace {

using broker::ConnectionId;

// The worker's side as the guard sees it: what the core knows of each connection, and what was done to them.
struct FakeWorker {
    std::map<ConnectionId, std::string> client_ids;  // connections whose CONNECT was accepted
    std::map<ConnectionId, std::string> remotes;     // connections the core knows
    std::vector<ConnectionId> closes;                // transports closed
    std::vector<ConnectionId> told;                  // on_closed calls
    std::vector<std::pair<int, std::string>> lines;
    std::atomic<std::uint64_t> failures{0};
    bool closed_throws = false;

    ConnectionGuard guard() {
        ConnectionGuard::Hooks h;
        h.client_id = [this](ConnectionId id) -> std::optional<std::string> {
            const auto it = client_ids.find(id);
            if (it == client_ids.end()) return std::nullopt;
            return it->second;
        };
        h.remote = [this](ConnectionId id) -> std::optional<std::string> {
            const auto it = remotes.find(id);
            if (it == remotes.end()) return std::nullopt;
            return it->second;
        };
        h.close = [this](ConnectionId id) { closes.push_back(id); };
        h.closed = [this](ConnectionId id) {
            told.push_back(id);
            // The core forgets the connection, as Core::on_closed does: asked after this, it would not know it.
            client_ids.erase(id);
            remotes.erase(id);
            if (closed_throws) throw std::logic_error("session list corrupt");
        };
        h.log = [this](int level, const std::string& line) { lines.emplace_back(level, line); };
        return {std::move(h), failures};
    }
};

constexpr ConnectionId kFirst = 1;
constexpr ConnectionId kSecond = 2;

TEST(ConnectionGuard, ACallThatReturnsRunsOnceAndTouchesNothing) {
    FakeWorker w;
    auto guard = w.guard();
    int runs = 0;
    EXPECT_TRUE(guard.run(kFirst, CoreCall::Data, [&] { ++runs; }));
    EXPECT_EQ(runs, 1);
    EXPECT_TRUE(w.closes.empty());
    EXPECT_TRUE(w.told.empty());
    EXPECT_TRUE(w.lines.empty());
    EXPECT_EQ(w.failures.load(), 0U);
}

TEST(ConnectionGuard, AThrowClosesTellsTheCoreCountsAndLogsOnce) {
    FakeWorker w;
    w.client_ids[kFirst] = "sensor-7";
    w.remotes[kFirst] = "192.0.2.10:51000";
    auto guard = w.guard();
    EXPECT_FALSE(guard.run(kFirst, CoreCall::Data, [] { throw std::runtime_error("route: bad session handle"); }));
    EXPECT_EQ(w.closes, std::vector<ConnectionId>{kFirst});
    // [MQTT-3.1.2-8]: told as a network failure, so the core publishes the will.
    EXPECT_EQ(w.told, std::vector<ConnectionId>{kFirst});
    EXPECT_EQ(w.failures.load(), 1U);
    ASSERT_EQ(w.lines.size(), 1U);
    const auto& [level, line] = w.lines.front();
    EXPECT_EQ(level, 3);
    // Who, where and what, learnt before on_closed made the core forget the connection.
    EXPECT_NE(line.find("(sensor-7)"), std::string::npos) << line;
    EXPECT_NE(line.find("192.0.2.10:51000"), std::string::npos) << line;
    EXPECT_NE(line.find("route: bad session handle"), std::string::npos) << line;
    EXPECT_NE(line.find("Core::on_data"), std::string::npos) << line;
}

TEST(ConnectionGuard, AnotherConnectionIsServedAfterAFailure) {
    FakeWorker w;
    w.remotes[kFirst] = "192.0.2.10:51000";
    w.remotes[kSecond] = "192.0.2.11:51001";
    auto guard = w.guard();
    EXPECT_FALSE(guard.run(kFirst, CoreCall::Data, [] { throw std::runtime_error("boom"); }));
    int second_runs = 0;
    EXPECT_TRUE(guard.run(kSecond, CoreCall::Data, [&] { ++second_runs; }));
    EXPECT_TRUE(guard.run(kSecond, CoreCall::Drained, [&] { ++second_runs; }));
    EXPECT_EQ(second_runs, 2);
    EXPECT_EQ(w.closes, std::vector<ConnectionId>{kFirst});
    EXPECT_EQ(w.told, std::vector<ConnectionId>{kFirst});
    EXPECT_EQ(w.failures.load(), 1U);
    EXPECT_EQ(w.lines.size(), 1U);
}

TEST(ConnectionGuard, EachFailureCountsAndLogsOnce) {
    FakeWorker w;
    auto guard = w.guard();
    EXPECT_FALSE(guard.run(kFirst, CoreCall::Data, [] { throw std::runtime_error("one"); }));
    EXPECT_FALSE(guard.run(kSecond, CoreCall::Drained, [] { throw std::out_of_range("two"); }));
    EXPECT_EQ(w.failures.load(), 2U);
    ASSERT_EQ(w.lines.size(), 2U);
    EXPECT_NE(w.lines[1].second.find("Core::on_drained: two"), std::string::npos) << w.lines[1].second;
    EXPECT_EQ(w.closes, (std::vector<ConnectionId>{kFirst, kSecond}));
}

TEST(ConnectionGuard, AFailingOnClosedIsNotCalledAgain) {
    FakeWorker w;
    w.remotes[kFirst] = "192.0.2.10:51000";
    auto guard = w.guard();
    EXPECT_FALSE(guard.run(kFirst, CoreCall::Closed, [] { throw std::runtime_error("will: bad topic"); }));
    EXPECT_EQ(w.closes, std::vector<ConnectionId>{kFirst});
    EXPECT_TRUE(w.told.empty());
    EXPECT_EQ(w.failures.load(), 1U);
    ASSERT_EQ(w.lines.size(), 1U);
    EXPECT_NE(w.lines.front().second.find("Core::on_closed: will: bad topic"), std::string::npos);
}

TEST(ConnectionGuard, OnClosedThrowingDuringTheCleanUpIsOneFailureOnOneLine) {
    FakeWorker w;
    w.client_ids[kFirst] = "sensor-7";
    w.remotes[kFirst] = "192.0.2.10:51000";
    w.closed_throws = true;
    auto guard = w.guard();
    EXPECT_FALSE(guard.run(kFirst, CoreCall::Data, [] { throw std::runtime_error("first"); }));
    EXPECT_EQ(w.told, std::vector<ConnectionId>{kFirst});
    EXPECT_EQ(w.failures.load(), 1U);
    ASSERT_EQ(w.lines.size(), 1U);
    EXPECT_NE(w.lines.front().second.find("first"), std::string::npos);
    EXPECT_NE(w.lines.front().second.find("session list corrupt"), std::string::npos);
}

TEST(ConnectionGuard, OnOpenUsesTheCallersAddressAndNoClientIdYet) {
    FakeWorker w;  // the core does not know the connection: on_open threw before registering it
    auto guard = w.guard();
    EXPECT_FALSE(guard.run(
        kFirst, CoreCall::Open, [] { throw std::bad_alloc(); }, "[2001:db8::1]:4242"));
    EXPECT_EQ(w.closes, std::vector<ConnectionId>{kFirst});
    EXPECT_EQ(w.told, std::vector<ConnectionId>{kFirst});  // whatever on_open left is dropped
    ASSERT_EQ(w.lines.size(), 1U);
    const std::string& line = w.lines.front().second;
    EXPECT_NE(line.find("closing [2001:db8::1]:4242: internal error in Core::on_open: std::bad_alloc"),
              std::string::npos)
        << line;
}

TEST(ConnectionGuard, ANonStandardExceptionAndThrowingHooksAreHandled) {
    ConnectionGuard::Hooks h;
    h.client_id = [](ConnectionId) -> std::optional<std::string> { throw std::runtime_error("core in doubt"); };
    h.remote = [](ConnectionId) -> std::optional<std::string> { throw std::runtime_error("core in doubt"); };
    int closes = 0;
    h.close = [&](ConnectionId) {
        ++closes;
        throw std::runtime_error("close failed");
    };
    std::vector<std::string> lines;
    h.log = [&](int, const std::string& line) { lines.push_back(line); };
    std::atomic<std::uint64_t> failures{0};
    ConnectionGuard bare(std::move(h), failures);  // no `closed` hook: nothing to tell
    EXPECT_FALSE(bare.run(kFirst, CoreCall::Data, [] { throw 42; }));
    EXPECT_EQ(closes, 1);
    EXPECT_EQ(failures.load(), 1U);
    ASSERT_EQ(lines.size(), 1U);
    EXPECT_NE(lines.front().find("closing an unknown address: internal error in Core::on_data: an exception not"),
              std::string::npos)
        << lines.front();
}

}  // namespace
}  // namespace moth::server
