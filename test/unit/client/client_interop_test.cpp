// The blocking Client (and so the AsyncClient under it) against real brokers: Debian's mosquitto and mothd,
// each started by the test in a temp directory.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <set>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <moth/client.hpp>

#include "unit/client/broker_process.hpp"

namespace moth::test {
namespace {

using namespace std::chrono_literals;

enum class Kind { Mosquitto, Mothd };

class ClientInterop : public ::testing::TestWithParam<std::tuple<Kind, ProtocolVersion>> {
protected:
    void SetUp() override {
        if (kind() == Kind::Mosquitto) {
            broker_ = std::make_unique<Mosquitto>();
        } else {
            broker_ = std::make_unique<Mothd>();
        }
        broker_->start();
    }
    void TearDown() override {
        if (HasFailure()) std::cerr << "---- " << broker_->name() << " log ----\n" << broker_->log() << '\n';
    }
    [[nodiscard]] Kind kind() const { return std::get<0>(GetParam()); }
    [[nodiscard]] ProtocolVersion version() const { return std::get<1>(GetParam()); }
    [[nodiscard]] bool v5() const { return version() == ProtocolVersion::V5; }

    ConnectOptions options(std::string id) const {
        ConnectOptions o;
        o.url = broker_->url();
        o.version = version();
        o.client_id = std::move(id);
        o.connect_timeout = 5s;
        o.keep_alive_s = 30;
        return o;
    }
    std::unique_ptr<Client> connected(ConnectOptions o, bool expect_session = false) {
        auto c = std::make_unique<Client>(std::move(o));
        auto r = c->connect();
        EXPECT_TRUE(r) << r.error().message;
        if (r) {
            EXPECT_EQ(r->session_present, expect_session);
        }
        return c;
    }
    // Test topics are unique per parameter, so a slow broker's leftovers never cross tests.
    std::string topic(std::string_view leaf) const {
        return "it/" + std::to_string(static_cast<int>(version())) + "/" + std::string(leaf);
    }

    std::unique_ptr<BrokerProcess> broker_;
};

TEST_P(ClientInterop, ConnectAndDisconnect) {
    auto c = connected(options("conn"));
    EXPECT_TRUE(c->connected());
    c->disconnect();
    EXPECT_FALSE(c->connected());
}

TEST_P(ClientInterop, PublishAndSubscribeEachQoS) {
    auto sub = connected(options("sub"));
    auto granted = sub->subscribe(topic("q/#"), QoS::ExactlyOnce);
    ASSERT_TRUE(granted) << granted.error().message;
    EXPECT_EQ(granted->reason_codes, (std::vector<std::uint8_t>{2}));
    auto pub = connected(options("pub"));
    for (const QoS q : {QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce}) {
        const auto n = std::to_string(static_cast<int>(q));
        auto r = pub->publish(topic("q/" + n), "payload " + n, q);
        ASSERT_TRUE(r) << r.error().message;
        auto m = sub->receive(5s);
        ASSERT_TRUE(m) << "QoS " << n;
        EXPECT_EQ(m->topic, topic("q/" + n));
        EXPECT_EQ(m->payload_text(), "payload " + n);
        EXPECT_EQ(m->qos, q);
    }
    EXPECT_FALSE(sub->receive(100ms)) << "one copy per message";
}

TEST_P(ClientInterop, PersistentSessionResumesWithQueuedQoS1Messages) {
    auto o = options("persist");
    o.clean_start = false;
    o.session_expiry_interval = 3600;
    {
        auto first = std::make_unique<Client>(o);
        ASSERT_TRUE(first->connect());
        ASSERT_TRUE(first->subscribe(topic("persist"), QoS::AtLeastOnce));
        first->disconnect();
    }
    auto pub = connected(options("persist-pub"));
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(pub->publish(topic("persist"), std::to_string(i), QoS::AtLeastOnce));
    auto again = connected(o, /*expect_session=*/true);
    for (int i = 0; i < 3; ++i) {
        auto m = again->receive(5s);
        ASSERT_TRUE(m) << "queued message " << i;
        EXPECT_EQ(m->payload_text(), std::to_string(i));
        EXPECT_EQ(m->qos, QoS::AtLeastOnce);
    }
}

// 5.0-only behaviour: instantiated for 5.0 alone, so no 3.1.1 variant exists to be skipped.
class ClientInteropV5 : public ClientInterop {};

// 3.1.1 has no DISCONNECT reason to ask for the will.
TEST_P(ClientInteropV5, WillIsPublishedWhenTheClientAsksForIt) {
    auto watcher = connected(options("will-watch"));
    ASSERT_TRUE(watcher->subscribe(topic("will"), QoS::AtLeastOnce));
    auto o = options("will-client");
    Will w;
    w.topic = topic("will");
    const std::string_view gone = "gone";
    w.payload.assign(reinterpret_cast<const std::byte*>(gone.data()), reinterpret_cast<const std::byte*>(gone.data()) + gone.size());
    w.qos = QoS::AtLeastOnce;
    w.properties.content_type = "text/plain";
    w.properties.user_properties = {{"why", "test"}};
    o.will = w;
    auto c = connected(o);
    c->disconnect(0x04);
    auto m = watcher->receive(5s);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->payload_text(), "gone");
    EXPECT_EQ(m->properties.content_type, "text/plain");
    EXPECT_EQ(m->properties.user_properties, (std::vector<UserProperty>{{"why", "test"}}));
}

TEST_P(ClientInterop, WillIsPublishedWhenTheConnectionDrops) {
    auto watcher = connected(options("will-watch2"));
    ASSERT_TRUE(watcher->subscribe(topic("will2"), QoS::AtLeastOnce));
    auto o = options("will-client2");
    o.will = Will{topic("will2"), {std::byte{'x'}}, QoS::AtLeastOnce, false, {}, {}};
    {
        // An AsyncClient destroyed without DISCONNECT: the broker sees the connection drop.
        boost::asio::io_context ioc;
        AsyncClient c(ioc.get_executor(), o);
        std::optional<Result<ConnectResult>> r;
        boost::asio::co_spawn(ioc, c.connect(), [&](std::exception_ptr, Result<ConnectResult> v) { r = std::move(v); });
        while (!r && ioc.run_one_for(10s) > 0) {
        }
        ASSERT_TRUE(r);
        ASSERT_TRUE(*r) << r->error().message;
    }
    auto m = watcher->receive(10s);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->topic, topic("will2"));
}

TEST_P(ClientInteropV5, TopicAliasesArriveAsFullTopics) {
    auto sub = connected(options("alias-sub"));
    ASSERT_TRUE(sub->subscribe(topic("alias/#"), QoS::AtLeastOnce));
    auto o = options("alias-pub");
    o.use_topic_aliases = true;
    auto pub = std::make_unique<Client>(o);
    auto r = pub->connect();
    ASSERT_TRUE(r);
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(pub->publish(topic("alias/a/long/topic/name"), std::to_string(i), QoS::AtLeastOnce));
    for (int i = 0; i < 3; ++i) {
        auto m = sub->receive(5s);
        ASSERT_TRUE(m);
        EXPECT_EQ(m->topic, topic("alias/a/long/topic/name"));
        EXPECT_EQ(m->payload_text(), std::to_string(i));
    }
}

TEST_P(ClientInteropV5, UserPropertiesAndRequestResponse) {
    auto responder = connected(options("responder"));
    ASSERT_TRUE(responder->subscribe(topic("req"), QoS::AtLeastOnce));
    auto requester = connected(options("requester"));
    ASSERT_TRUE(requester->subscribe(topic("resp/requester"), QoS::AtLeastOnce));

    Message req = Message::text(topic("req"), "ping", QoS::AtLeastOnce);
    req.properties.response_topic = topic("resp/requester");
    req.properties.correlation_data = std::vector<std::byte>{std::byte{7}, std::byte{42}};
    req.properties.user_properties = {{"trace", "1"}, {"trace", "2"}};
    req.properties.content_type = "text/plain";
    ASSERT_TRUE(requester->publish(req));

    auto got = responder->receive(5s);
    ASSERT_TRUE(got);
    EXPECT_EQ(got->properties.user_properties, req.properties.user_properties) << "order and duplicates kept";
    EXPECT_EQ(got->properties.content_type, "text/plain");
    ASSERT_TRUE(got->properties.response_topic);
    Message resp = Message::text(*got->properties.response_topic, "pong", QoS::AtLeastOnce);
    resp.properties.correlation_data = got->properties.correlation_data;
    ASSERT_TRUE(responder->publish(resp));

    auto answer = requester->receive(5s);
    ASSERT_TRUE(answer);
    EXPECT_EQ(answer->payload_text(), "pong");
    EXPECT_EQ(answer->properties.correlation_data, req.properties.correlation_data);
}

// The blocking Client is thread safe: several threads publish, receive and query it at once. Every call runs
// on the client's own io_context thread, so the AsyncClient and its waiters are never touched from the
// callers' threads (run under ASan, a stray cross-thread call shows up here as a heap error).
TEST_P(ClientInterop, ConcurrentCallersFromManyThreads) {
    auto c = connected(options("threads"));
    ASSERT_TRUE(c->subscribe(topic("mt/#"), QoS::AtLeastOnce));
    constexpr int kThreads = 4;
    constexpr int kEach = 50;
    std::atomic<int> received{0};
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < kEach; ++i) {
                if (!c->publish(topic("mt/" + std::to_string(t)), std::to_string(i), QoS::AtLeastOnce)) ++failures;
                (void)c->connected();
                (void)c->last_connect();
                (void)c->reconnecting();
                if (c->receive(0ms)) ++received;
            }
        });
    }
    for (auto& t : threads) t.join();
    const auto deadline = std::chrono::steady_clock::now() + 15s;
    while (received < kThreads * kEach && std::chrono::steady_clock::now() < deadline) {
        if (c->receive(500ms)) ++received;
    }
    EXPECT_EQ(failures, 0);
    EXPECT_EQ(received, kThreads * kEach);
}

// The broker dies (SIGKILL) and comes back on the same port. The subscriber reconnects on its own.
// mosquitto (with persistence) keeps the session: the reconnect's CONNACK says so, and the QoS 1 messages another
// client published while the subscriber was still away arrive from the stored session exactly once each, in
// order. mothd loses sessions on restart until it has a durable store: the client subscribes again, and QoS 1
// messages published once it is back arrive.
TEST_P(ClientInterop, ReconnectAfterBrokerRestart) {
    const bool kept = broker_->keeps_sessions_across_restart();
    auto o = options("reconnect");
    o.clean_start = false;
    o.session_expiry_interval = 3600;
    o.auto_reconnect = true;
    o.reconnect_min = 50ms;
    o.reconnect_max = 500ms;
    if (kept) {
        // Long enough for the publisher below to act while the subscriber is away; checked, not assumed.
        o.reconnect_min = 3s;
        o.reconnect_max = 4s;
    }
    o.keep_alive_s = 5;
    auto sub = connected(o);
    ASSERT_TRUE(sub->subscribe(topic("rc"), QoS::AtLeastOnce));
    ASSERT_TRUE(sub->last_connect());
    EXPECT_FALSE(sub->last_connect()->session_present);
    if (kept) {
        // Make sure the subscription reached mosquitto's persistence file (saved on every change).
        auto probe = connected(options("rc-probe0"));
        ASSERT_TRUE(probe->publish(topic("rc"), "before", QoS::AtLeastOnce));
        auto m = sub->receive(5s);
        ASSERT_TRUE(m);
    }
    broker_->kill();
    ASSERT_TRUE(poll_until([&] { return !sub->connected(); }, 10s)) << "the client noticed the broker is gone";
    EXPECT_TRUE(sub->reconnecting());
    broker_->restart();

    auto pub = connected(options("rc-pub"));
    std::vector<std::string> got;
    if (!kept) {
        // Session lost: wait until the client is back and has subscribed again, probing with QoS 1 messages.
        ASSERT_TRUE(poll_until(
            [&] {
                (void)pub->publish(topic("rc"), "probe", QoS::AtLeastOnce);
                return sub->receive(100ms).has_value();
            },
            15s))
            << "the client reconnected and subscribed again";
    }
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(pub->publish(topic("rc"), "m" + std::to_string(i), QoS::AtLeastOnce));
    if (kept) {
        ASSERT_FALSE(sub->connected()) << "the messages were to be published while the subscriber was away";
    }
    const auto deadline = std::chrono::steady_clock::now() + 15s;
    while (got.size() < 5 && std::chrono::steady_clock::now() < deadline) {
        // "before" may come again (QoS 1 redelivery if mosquitto saved it before its PUBACK); "probe" is mothd's.
        if (auto m = sub->receive(500ms); m && m->payload_text() != "probe" && m->payload_text() != "before") {
            EXPECT_EQ(m->qos, QoS::AtLeastOnce);
            got.emplace_back(m->payload_text());
        }
    }
    const std::vector<std::string> all = {"m0", "m1", "m2", "m3", "m4"};
    if (kept) {
        EXPECT_EQ(got, all) << "exactly once each, in order";
        for (auto m = sub->receive(300ms); m; m = sub->receive(300ms)) {
            if (m->payload_text() != "before") ADD_FAILURE() << "extra copy: " << m->payload_text();
        }
        ASSERT_TRUE(sub->last_connect());
        EXPECT_TRUE(sub->last_connect()->session_present) << "mosquitto kept the session across its restart";
    } else {
        EXPECT_EQ(std::set<std::string>(got.begin(), got.end()), std::set<std::string>(all.begin(), all.end()));
        ASSERT_TRUE(sub->last_connect());
        EXPECT_FALSE(sub->last_connect()->session_present);
    }
    EXPECT_TRUE(sub->connected());
    EXPECT_FALSE(sub->reconnecting());
}

// MQTT 3.1 (protocol name "MQIsdp", level 3): connect, then publish and subscribe at QoS 1 on both brokers.
class ClientInterop31 : public ::testing::TestWithParam<Kind> {
protected:
    void SetUp() override {
        if (GetParam() == Kind::Mosquitto) {
            broker_ = std::make_unique<Mosquitto>();
        } else {
            broker_ = std::make_unique<Mothd>();
        }
        broker_->start();
    }
    void TearDown() override {
        if (HasFailure()) std::cerr << "---- " << broker_->name() << " log ----\n" << broker_->log() << '\n';
    }
    ConnectOptions options(std::string id) const {
        ConnectOptions o;
        o.url = broker_->url();
        o.version = ProtocolVersion::V3_1;
        o.client_id = std::move(id);
        o.connect_timeout = 5s;
        return o;
    }
    std::unique_ptr<BrokerProcess> broker_;
};

TEST_P(ClientInterop31, ConnectPublishSubscribeQoS1) {
    Client sub(options("sub31"));
    auto r = sub.connect();
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_FALSE(r->session_present);
    auto granted = sub.subscribe("it/31/#", QoS::AtLeastOnce);
    ASSERT_TRUE(granted) << granted.error().message;
    EXPECT_EQ(granted->reason_codes, (std::vector<std::uint8_t>{1}));
    Client pub(options("pub31"));
    ASSERT_TRUE(pub.connect());
    for (int i = 0; i < 3; ++i) {
        auto p = pub.publish("it/31/t", "m" + std::to_string(i), QoS::AtLeastOnce);
        ASSERT_TRUE(p) << p.error().message;
    }
    for (int i = 0; i < 3; ++i) {
        auto m = sub.receive(5s);
        ASSERT_TRUE(m) << "message " << i;
        EXPECT_EQ(m->topic, "it/31/t");
        EXPECT_EQ(m->payload_text(), "m" + std::to_string(i));
        EXPECT_EQ(m->qos, QoS::AtLeastOnce);
    }
    EXPECT_FALSE(sub.receive(100ms)) << "one copy per message";
    pub.disconnect();
    sub.disconnect();
}

INSTANTIATE_TEST_SUITE_P(Brokers, ClientInterop31, ::testing::Values(Kind::Mosquitto, Kind::Mothd),
                         [](const auto& param_info) {
                             return std::string(param_info.param == Kind::Mosquitto ? "mosquitto" : "mothd");
                         });

INSTANTIATE_TEST_SUITE_P(Brokers, ClientInterop,
                         ::testing::Combine(::testing::Values(Kind::Mosquitto, Kind::Mothd),
                                            ::testing::Values(ProtocolVersion::V3_1_1, ProtocolVersion::V5)),
                         [](const auto& param_info) {
                             const auto& p = param_info.param;
                             return std::string(std::get<0>(p) == Kind::Mosquitto ? "mosquitto" : "mothd") +
                                    (std::get<1>(p) == ProtocolVersion::V5 ? "_v5" : "_v311");
                         });

INSTANTIATE_TEST_SUITE_P(Brokers, ClientInteropV5,
                         ::testing::Combine(::testing::Values(Kind::Mosquitto, Kind::Mothd),
                                            ::testing::Values(ProtocolVersion::V5)),
                         [](const auto& param_info) {
                             return std::string(std::get<0>(param_info.param) == Kind::Mosquitto ? "mosquitto"
                                                                                                 : "mothd") +
                                    "_v5";
                         });

}  // namespace
}  // namespace moth::test
