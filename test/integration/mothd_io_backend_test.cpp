// Both I/O backends (io_backend = "io_uring" | "epoll"; docs/architecture.md, "I/O backends") through the real mothd
// with two workers: the paths where the io_uring connection differs from the epoll one. A connection handed over to
// its session's worker with bytes pipelined behind its CONNECT; packets larger than one receive buffer (4 KiB) and
// than the socket buffers (short sends); input paused by a publish rate while far more than the paused-input bound
// (64 KiB) arrives; a subscriber that reads late; a malformed packet answered with a DISCONNECT the client can read
// before the close. The whole suite also runs once per backend in CI (scripts/test.sh: MOTH_IO_BACKEND).

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "broker_test_util.hpp"
#include "server/uring/ring.hpp"

namespace moth::test {
namespace {

// A client id that mothd puts on `worker` of `workers` (Core::owner_of: std::hash of the id modulo the count).
std::string id_on(unsigned worker, unsigned workers, std::string_view prefix) {
    for (unsigned i = 0;; ++i) {
        std::string id = std::string(prefix) + "-" + std::to_string(i);
        if (std::hash<std::string_view>{}(id) % workers == worker) return id;
    }
}

// `size` bytes that say where they belong: the index, then a pattern (a shifted or cut payload cannot pass).
std::string payload(int index, std::size_t size) {
    std::string p = std::to_string(index) + ":";
    for (std::size_t i = p.size(); i < size; ++i) p.push_back(static_cast<char>('a' + (i * 7 + static_cast<std::size_t>(index)) % 26));
    p.resize(size);
    return p;
}

class IoBackendTest : public BrokerFixture, public ::testing::WithParamInterface<std::string> {
protected:
    void SetUp() override {
        if (GetParam() == "io_uring") {
            const std::string why = server::detail::Uring::unavailable_reason();
            if (!why.empty()) GTEST_SKIP() << "io_uring is not available here: " << why;
        }
    }
    void start_with(std::string_view extra = {}) {
        start("io_backend = \"" + GetParam() + "\"\n" + std::string(extra));
        ASSERT_TRUE(mothd().wait_for_log("io backend: " + GetParam(), std::chrono::seconds(10)))
            << mothd().stderr_text();
    }
};

TEST_P(IoBackendTest, HandedOverConnectionsKeepEveryByteAndLargePacketsArriveWhole) {
    log_level_ = "debug";  // the hand-over's log line
    start_with();
    // Connections are dealt to the workers in turn; ids owned by 0, 0, 1, 1 make at least two of four connect on
    // the other worker and move, whatever the first connection's worker.
    std::vector<std::unique_ptr<MqttTestClient>> clients;
    std::vector<std::string> ids;
    for (unsigned owner : {0U, 0U, 1U, 1U}) {
        const std::string id = id_on(owner, 2, "io-" + std::to_string(clients.size()));
        auto c = tcp_client(kV5, id);
        // CONNECT, SUBSCRIBE and a PUBLISH in one write: what follows the CONNECT moves with the connection.
        std::vector<std::byte> burst;
        codec::Connect connect;
        connect.version = kV5;
        connect.client_id = id;
        ASSERT_TRUE(codec::encode_append(connect, kV5, burst));
        const std::string topic = "own/" + id;
        const codec::Subscription filter{topic, codec::SubscribeOptions{.qos = QoS::AtLeastOnce}};
        codec::Subscribe s;
        s.packet_id = 1;
        s.subscriptions = std::span(&filter, 1);
        ASSERT_TRUE(codec::encode_append(s, kV5, burst));
        const std::string first = payload(0, 100);
        codec::Publish p;
        p.topic = topic;
        p.payload = as_bytes(first);
        ASSERT_TRUE(codec::encode_append(p, kV5, burst));
        ASSERT_TRUE(c->send_raw(burst));
        (void)c->expect<codec::Connack>();
        (void)c->expect<codec::Suback>();
        auto m = c->expect<codec::Publish>();
        EXPECT_EQ(payload_of(*m), first) << id;
        clients.push_back(std::move(c));
        ids.push_back(id);
    }
    EXPECT_TRUE(mothd().wait_for_log("handed over", std::chrono::seconds(5))) << mothd().stderr_text();
    // One receive buffer is 4 KiB, and 600 KB is more than a socket buffer: many completions, short sends.
    for (std::size_t k = 0; k < clients.size(); ++k) {
        MqttTestClient& c = *clients[k];
        int index = 1;
        for (std::size_t size : {10U, 4095U, 4096U, 4097U, 70'000U, 600'000U}) {
            const std::string body = payload(index++, size);
            ASSERT_EQ(c.publish("own/" + ids[k], body, QoS::AtLeastOnce), codec::ReasonCode::Success);
            auto m = c.receive_message();
            ASSERT_EQ(payload_of(*m).size(), size);
            EXPECT_EQ(payload_of(*m), body) << ids[k] << " size " << size;
        }
    }
}

TEST_P(IoBackendTest, PausedInputLosesNothingPastThePausedBound) {
    // 400 PUBLISH packets of 1 KiB at once, at most 1,000 a second read: input pauses many times while far more
    // than 64 KiB waits.
    start_with("[limits]\npublish_rate = 1000\npublish_burst = 50\n");
    auto sub = connected_client(kV5, "paused-sub");
    ASSERT_EQ(sub->subscribe("paused/#", QoS::AtMostOnce), granted(QoS::AtMostOnce));
    auto pub = connected_client(kV5, "paused-pub");
    constexpr int kCount = 400;
    std::vector<std::string> bodies;
    std::vector<std::byte> burst;
    for (int i = 0; i < kCount; ++i) {
        bodies.push_back(payload(i, 1024));
        codec::Publish p;
        p.topic = "paused/t";
        p.payload = as_bytes(bodies.back());
        ASSERT_TRUE(codec::encode_append(p, kV5, burst));
    }
    ASSERT_TRUE(pub->send_raw(burst));
    for (int i = 0; i < kCount; ++i) {
        auto m = sub->expect<codec::Publish>();
        ASSERT_EQ(payload_of(*m), bodies[static_cast<std::size_t>(i)]) << "message " << i;
    }
    pub->ping();  // and the publisher's connection still works
}

TEST_P(IoBackendTest, SubscriberThatReadsLateGetsEverythingInOrder) {
    start_with();
    auto sub = connected_client(kV5, "late-sub");
    ASSERT_EQ(sub->subscribe("late/#", QoS::AtLeastOnce), granted(QoS::AtLeastOnce));
    auto pub = connected_client(kV5, "late-pub");
    constexpr int kCount = 200;
    for (int i = 0; i < kCount; ++i) {
        ASSERT_EQ(pub->publish("late/t", payload(i, 8000), QoS::AtLeastOnce), codec::ReasonCode::Success);
    }
    for (int i = 0; i < kCount; ++i) {
        auto m = sub->receive_message();
        ASSERT_EQ(payload_of(*m), payload(i, 8000)) << "message " << i;
    }
}

TEST_P(IoBackendTest, MalformedPacketGetsAReadableDisconnectThenTheClose) {
    start_with();
    auto c = connected_client(kV5, "malformed");
    const std::byte reserved_type[] = {std::byte{0x00}, std::byte{0x00}};  // packet type 0 is reserved
    ASSERT_TRUE(c->send_raw(reserved_type));
    auto d = c->expect<codec::Disconnect>();
    EXPECT_EQ(d->reason, codec::ReasonCode::MalformedPacket);  // [MQTT-4.13.1-1]
    EXPECT_TRUE(c->wait_closed());
}

TEST_P(IoBackendTest, AClientThatStopsSendingRightAfterABadPacketStillReadsWhy) {
    // The bad packet and the end of the client's stream arrive together: the DISCONNECT must go out before the close
    // (on io_uring both completions can come in one batch, before the loop turn's write).
    start_with();
    for (int round = 0; round < 20; ++round) {
        auto c = connected_client(kV5, "half-closed-" + std::to_string(round));
        const std::byte reserved_type[] = {std::byte{0x00}, std::byte{0x00}};
        ASSERT_TRUE(c->send_raw(reserved_type));
        c->finish_sending();
        auto d = c->expect<codec::Disconnect>();
        EXPECT_EQ(d->reason, codec::ReasonCode::MalformedPacket) << "round " << round;
        EXPECT_TRUE(c->wait_closed());
    }
}

INSTANTIATE_TEST_SUITE_P(Backends, IoBackendTest, ::testing::Values(std::string("io_uring"), std::string("epoll")),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

}  // namespace
}  // namespace moth::test
