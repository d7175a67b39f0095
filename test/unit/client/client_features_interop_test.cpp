// Client features against real brokers started by the test (Debian's mosquitto and this tree's mothd): QoS 2
// exactly once across a dropped connection, the offline buffer while the broker is down, inbound topic aliases,
// and keepalive. Waits poll a condition with a deadline; nothing sleeps as synchronisation.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <moth/client.hpp>

#include "unit/client/broker_process.hpp"

namespace moth::test {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;
using asio::ip::tcp;

enum class Kind { Mosquitto, Mothd };

std::unique_ptr<BrokerProcess> make_broker(Kind kind) {
    if (kind == Kind::Mosquitto) return std::make_unique<Mosquitto>();
    return std::make_unique<Mothd>();
}

std::string kind_name(Kind kind) { return kind == Kind::Mosquitto ? "mosquitto" : "mothd"; }

// A loopback TCP relay in front of a broker whose connections the test can cut: the client's stream drops while
// the broker (and the session it holds) stays up. New connections are relayed again after a cut.
class CuttableProxy {
public:
    explicit CuttableProxy(std::uint16_t upstream)
        : upstream_(upstream), acceptor_(ioc_, tcp::endpoint(asio::ip::address_v4::loopback(), 0)) {
        port_ = acceptor_.local_endpoint().port();
        asio::co_spawn(ioc_, accept_loop(), asio::detached);
        thread_ = std::thread([this] { ioc_.run(); });
    }
    ~CuttableProxy() {
        asio::post(ioc_, [this] {
            boost::system::error_code ignored;
            acceptor_.close(ignored);
            close_all();
        });
        ioc_.stop();
        thread_.join();
    }
    CuttableProxy(const CuttableProxy&) = delete;
    CuttableProxy& operator=(const CuttableProxy&) = delete;

    [[nodiscard]] std::string url() const { return "mqtt://127.0.0.1:" + std::to_string(port_); }
    [[nodiscard]] int accepted() const { return accepted_.load(); }
    // Closes every relayed connection (both sides).
    void cut() {
        asio::post(ioc_, [this] { close_all(); });
    }

private:
    using Socket = std::shared_ptr<tcp::socket>;
    asio::awaitable<void> accept_loop() {
        for (;;) {
            auto client = std::make_shared<tcp::socket>(co_await acceptor_.async_accept(asio::use_awaitable));
            auto server = std::make_shared<tcp::socket>(ioc_);
            boost::system::error_code ec;
            co_await server->async_connect(tcp::endpoint(asio::ip::address_v4::loopback(), upstream_),
                                           asio::redirect_error(asio::use_awaitable, ec));
            if (ec) continue;
            sockets_.push_back(client);
            sockets_.push_back(server);
            ++accepted_;
            asio::co_spawn(ioc_, pump(client, server), asio::detached);
            asio::co_spawn(ioc_, pump(server, client), asio::detached);
        }
    }
    static asio::awaitable<void> pump(Socket from, Socket to) {
        std::array<char, 16384> buf{};
        boost::system::error_code ec;
        for (;;) {
            const std::size_t n = co_await from->async_read_some(asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
            if (ec) break;
            co_await asio::async_write(*to, asio::buffer(buf.data(), n), asio::redirect_error(asio::use_awaitable, ec));
            if (ec) break;
        }
        boost::system::error_code ignored;
        from->close(ignored);
        to->close(ignored);
    }
    void close_all() {
        for (auto& s : sockets_) {
            boost::system::error_code ignored;
            s->close(ignored);
        }
        sockets_.clear();
    }

    std::uint16_t upstream_;
    asio::io_context ioc_;
    tcp::acceptor acceptor_;
    std::uint16_t port_ = 0;
    std::vector<Socket> sockets_;  // used on the proxy's thread only
    std::atomic<int> accepted_{0};
    std::thread thread_;
};

class ClientFeatures : public ::testing::TestWithParam<Kind> {
protected:
    void SetUp() override {
        broker_ = make_broker(GetParam());
        broker_->start();
    }
    void TearDown() override {
        if (HasFailure()) std::cerr << "---- " << broker_->name() << " log ----\n" << broker_->log() << '\n';
    }
    ConnectOptions options(std::string id, std::string url = {}) const {
        ConnectOptions o;
        o.url = url.empty() ? broker_->url() : std::move(url);
        o.version = ProtocolVersion::V5;
        o.client_id = std::move(id);
        o.connect_timeout = 5s;
        o.keep_alive_s = 30;
        return o;
    }
    static std::unique_ptr<Client> connected(ConnectOptions o) {
        auto c = std::make_unique<Client>(std::move(o));
        auto r = c->connect();
        EXPECT_TRUE(r) << r.error().message;
        return c;
    }
    std::unique_ptr<BrokerProcess> broker_;
};

// A persistent-session subscriber at QoS 2 loses its connection twice in the middle of a stream of QoS 2 messages
// (the relay in front of the broker cuts it; the broker keeps the session). The client reconnects on its own, the
// broker resends unfinished exchanges (PUBLISH with DUP or PUBREL), and the application sees every message exactly
// once, in order.
TEST_P(ClientFeatures, QoS2ExactlyOnceAcrossReconnect) {
    CuttableProxy proxy(broker_->port());
    auto o = options("qos2-sub", proxy.url());
    o.clean_start = false;
    o.session_expiry_interval = 3600;
    o.auto_reconnect = true;
    o.reconnect_min = 20ms;
    o.reconnect_max = 100ms;
    auto sub = connected(o);
    auto granted = sub->subscribe("feat/qos2", QoS::ExactlyOnce);
    ASSERT_TRUE(granted) << granted.error().message;
    ASSERT_EQ(granted->reason_codes, (std::vector<std::uint8_t>{2}));

    constexpr int kCount = 300;
    std::atomic<int> publish_failures{0};
    std::atomic<bool> stop{false};
    std::thread publisher([&] {
        Client pub(options("qos2-pub"));
        if (!pub.connect()) {
            ++publish_failures;
            return;
        }
        for (int i = 0; i < kCount && !stop; ++i) {
            if (!pub.publish("feat/qos2", std::to_string(i), QoS::ExactlyOnce)) ++publish_failures;
        }
        pub.disconnect();
    });

    std::vector<int> got;
    const std::array<std::size_t, 2> cut_at = {kCount / 3, 2 * kCount / 3};
    std::size_t cuts = 0;
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (got.size() < static_cast<std::size_t>(kCount) && std::chrono::steady_clock::now() < deadline) {
        auto m = sub->receive(200ms);
        if (!m) continue;
        EXPECT_EQ(m->qos, QoS::ExactlyOnce);
        got.push_back(std::stoi(std::string(m->payload_text())));
        if (cuts < cut_at.size() && got.size() >= cut_at[cuts]) {
            proxy.cut();
            ++cuts;
        }
    }
    // Nothing more may arrive: a second copy would show up now.
    for (auto m = sub->receive(500ms); m; m = sub->receive(300ms)) got.push_back(std::stoi(std::string(m->payload_text())));
    stop = true;
    publisher.join();

    EXPECT_EQ(publish_failures, 0);
    EXPECT_EQ(cuts, cut_at.size());
    EXPECT_GE(proxy.accepted(), 3) << "the client reconnected after each cut";
    std::vector<int> want(kCount);
    for (int i = 0; i < kCount; ++i) want[static_cast<std::size_t>(i)] = i;
    EXPECT_EQ(got, want) << "every message exactly once, in order";
    ASSERT_TRUE(sub->last_connect());
    EXPECT_TRUE(sub->last_connect()->session_present) << "the broker kept the session";
    EXPECT_TRUE(poll_until([&] { return sub->connected(); }, 5s));
}

// keep_alive_s = 1: an idle client sends PINGREQ, so the broker (which drops a client silent for 1.5 keep alives)
// keeps it connected over several periods, and the connection still works afterwards.
TEST_P(ClientFeatures, KeepAliveKeepsAnIdleClientConnected) {
    auto o = options("keepalive");
    o.keep_alive_s = 1;
    o.auto_reconnect = false;
    auto c = connected(o);
    ASSERT_TRUE(c->connected());
    ASSERT_TRUE(c->subscribe("feat/ka", QoS::AtLeastOnce));
    // Five keep alive periods idle: the connection must not drop at any point (waiting for a drop that must not come).
    EXPECT_FALSE(poll_until([&] { return !c->connected(); }, 5s)) << "the idle client was disconnected";
    ASSERT_TRUE(c->connected());
    auto p = c->publish("feat/ka", "still here", QoS::AtLeastOnce);
    ASSERT_TRUE(p) << p.error().message;
    auto m = c->receive(5s);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->payload_text(), "still here");
    ASSERT_TRUE(c->last_connect());
    if (c->last_connect()->server_keep_alive) {
        EXPECT_GE(*c->last_connect()->server_keep_alive, 1);
    }
}

INSTANTIATE_TEST_SUITE_P(Brokers, ClientFeatures, ::testing::Values(Kind::Mosquitto, Kind::Mothd),
                         [](const auto& param_info) { return kind_name(param_info.param); });

// Runs an io_context on the test thread until `pred` holds or the deadline passes.
template <class Pred>
bool run_until(asio::io_context& ioc, Pred pred, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!pred()) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        if (ioc.stopped()) ioc.restart();
        ioc.run_one_for(20ms);
    }
    return true;
}

// With auto_reconnect, QoS 1 publishes made while the broker is down are buffered up to offline_buffer_limit;
// beyond it (only QoS 1/2 queued) publish fails with NotConnected at once. When the broker is back, the buffered
// calls complete (acknowledged) and a persistent-session subscriber receives every buffered message, in order.
TEST(ClientOfflineBuffer, BuffersWhileTheBrokerIsDownUpToTheLimit) {
    Mosquitto broker;
    broker.start();
    auto base = [&](std::string id) {
        ConnectOptions o;
        o.url = broker.url();
        o.client_id = std::move(id);
        o.connect_timeout = 5s;
        o.keep_alive_s = 30;
        return o;
    };
    auto so = base("offline-sub");
    so.clean_start = false;
    so.session_expiry_interval = 3600;
    so.auto_reconnect = true;
    so.reconnect_min = 50ms;
    so.reconnect_max = 200ms;
    Client sub(so);
    ASSERT_TRUE(sub.connect());
    ASSERT_TRUE(sub.subscribe("feat/offline", QoS::AtLeastOnce));
    {
        // The subscription reached mosquitto's persistence file (saved on every change) before the kill.
        Client probe(base("offline-probe"));
        ASSERT_TRUE(probe.connect());
        ASSERT_TRUE(probe.publish("feat/offline", "before", QoS::AtLeastOnce));
        auto m = sub.receive(5s);
        ASSERT_TRUE(m);
        probe.disconnect();
    }

    asio::io_context ioc;
    auto po = base("offline-pub");
    po.auto_reconnect = true;
    po.reconnect_min = 50ms;
    po.reconnect_max = 200ms;
    constexpr std::size_t kLimit = 3;
    po.offline_buffer_limit = kLimit;
    AsyncClient pub(ioc.get_executor(), po);
    std::optional<Result<ConnectResult>> connect_result;
    asio::co_spawn(ioc, pub.connect(), [&](std::exception_ptr, Result<ConnectResult> r) { connect_result = std::move(r); });
    ASSERT_TRUE(run_until(ioc, [&] { return connect_result.has_value(); }, 10s));
    ASSERT_TRUE(*connect_result) << connect_result->error().message;

    broker.kill();
    ASSERT_TRUE(run_until(ioc, [&] { return !pub.connected(); }, 10s)) << "the publisher noticed the broker is gone";
    EXPECT_TRUE(pub.reconnecting());

    std::vector<std::optional<Result<PublishResult>>> results(kLimit + 1);
    for (std::size_t i = 0; i < kLimit; ++i) {
        asio::co_spawn(ioc, pub.publish(Message::text("feat/offline", "b" + std::to_string(i), QoS::AtLeastOnce)),
                       [&results, i](std::exception_ptr, Result<PublishResult> r) { results[i] = std::move(r); });
        ioc.poll();  // runs the call up to the point where it waits for its acknowledgement
    }
    for (std::size_t i = 0; i < kLimit; ++i) EXPECT_FALSE(results[i].has_value()) << "buffered call " << i << " waits";
    asio::co_spawn(ioc, pub.publish(Message::text("feat/offline", "over", QoS::AtLeastOnce)),
                   [&results](std::exception_ptr, Result<PublishResult> r) { results[kLimit] = std::move(r); });
    ASSERT_TRUE(run_until(ioc, [&] { return results[kLimit].has_value(); }, 5s)) << "the call beyond the limit fails at once";
    ASSERT_FALSE(*results[kLimit]);
    EXPECT_EQ(results[kLimit]->error().kind, Error::Kind::NotConnected) << results[kLimit]->error().message;
    EXPECT_FALSE(pub.connected()) << "the broker was still down";

    broker.restart();
    ASSERT_TRUE(run_until(
        ioc,
        [&] {
            for (std::size_t i = 0; i < kLimit; ++i)
                if (!results[i]) return false;
            return true;
        },
        15s))
        << "the buffered calls complete after the reconnect";
    for (std::size_t i = 0; i < kLimit; ++i) EXPECT_TRUE(*results[i]) << results[i]->error().message;
    EXPECT_TRUE(pub.connected());

    std::vector<std::string> got;
    const auto deadline = std::chrono::steady_clock::now() + 15s;
    while (got.size() < kLimit && std::chrono::steady_clock::now() < deadline) {
        // "before" may come again (QoS 1 redelivery if mosquitto saved it before its PUBACK).
        if (auto m = sub.receive(200ms); m && m->payload_text() != "before") got.emplace_back(m->payload_text());
    }
    EXPECT_EQ(got, (std::vector<std::string>{"b0", "b1", "b2"})) << "every buffered message, in order, not the refused one";
    for (auto m = sub.receive(300ms); m; m = sub.receive(300ms)) {
        if (m->payload_text() != "before") ADD_FAILURE() << "unexpected: " << m->payload_text();
    }

    std::optional<bool> disconnected;
    asio::co_spawn(ioc, pub.disconnect(), [&](std::exception_ptr) { disconnected = true; });
    EXPECT_TRUE(run_until(ioc, [&] { return disconnected.has_value(); }, 5s));
}

// Inbound topic aliases: mothd gives outbound aliases to a client that announces a Topic Alias Maximum (mosquitto
// 2.0.11 never sends them). Several messages on the same topics, alternating, each arrive with the full topic.
TEST(ClientInboundTopicAliases, MothdAliasedMessagesArriveWithTheFullTopic) {
    Mothd broker;
    broker.start();
    auto base = [&](std::string id) {
        ConnectOptions o;
        o.url = broker.url();
        o.client_id = std::move(id);
        o.connect_timeout = 5s;
        return o;
    };
    auto so = base("alias-in-sub");
    so.topic_alias_maximum = 8;
    Client sub(so);
    ASSERT_TRUE(sub.connect());
    ASSERT_TRUE(sub.subscribe("feat/alias/#", QoS::AtLeastOnce));
    auto po = base("alias-in-pub");
    po.use_topic_aliases = false;  // only the broker's aliases are in play
    Client pub(po);
    ASSERT_TRUE(pub.connect());
    const std::array<std::string, 2> topics = {"feat/alias/a/rather/long/topic/name/one",
                                               "feat/alias/a/rather/long/topic/name/two"};
    constexpr int kCount = 10;
    for (int i = 0; i < kCount; ++i) {
        auto r = pub.publish(topics[static_cast<std::size_t>(i % 2)], std::to_string(i), QoS::AtLeastOnce);
        ASSERT_TRUE(r) << r.error().message;
    }
    for (int i = 0; i < kCount; ++i) {
        auto m = sub.receive(5s);
        ASSERT_TRUE(m) << "message " << i;
        EXPECT_EQ(m->topic, topics[static_cast<std::size_t>(i % 2)]) << "message " << i;
        EXPECT_EQ(m->payload_text(), std::to_string(i));
    }
    EXPECT_FALSE(sub.receive(100ms)) << "one copy per message";
    EXPECT_TRUE(sub.connected()) << "no protocol error on an alias";
}

}  // namespace
}  // namespace moth::test
