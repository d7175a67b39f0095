// A subscriber that stops reading never stalls the publisher or the other subscribers: its output buffer is
// bounded (limits.max_outgoing_buffer_bytes), QoS 0 messages beyond it are dropped for it alone and counted in
// $SYS/broker/publish/messages/dropped, and its QoS 1 messages wait in its session queue.
#include <chrono>
#include <string>

#include <gtest/gtest.h>

#include "broker_test_util.hpp"

namespace moth::test {
namespace {

using namespace std::chrono_literals;

class BrokerSlowConsumerTest : public BrokerFixture {};

TEST_F(BrokerSlowConsumerTest, StalledSubscriberDoesNotStallOthers) {
    // The cap is above one batch (32 x 32 KiB, below): the fast subscriber, which takes each batch before the next
    // is published, can never have more than that waiting, however late its reader thread runs. A 64 KiB cap made
    // its QoS 0 messages droppable too whenever the machine was loaded (correctly: QoS 0 is dropped for a reader
    // that far behind), so the test failed now and then.
    start("[limits]\nmax_outgoing_buffer_bytes = 2097152\n");
    auto stalled = connected_client(kV311, "stalled");
    stalled->subscribe("load/#", QoS::AtMostOnce);  // then never reads again
    auto fast = connected_client(kV311, "fast");
    fast->subscribe("load/#", QoS::AtMostOnce);
    auto sys = connected_client(kV311, "sys");
    sys->subscribe("$SYS/broker/publish/messages/dropped", QoS::AtMostOnce);
    auto pub = connected_client(kV311, "pub");

    // 48 MiB in 32 KiB messages: far more than the loopback socket buffers (4 MiB of send buffer at most here) and
    // the 2 MiB output cap can hold for the stalled subscriber. The fast one reads as it goes and must get every message, in order.
    const std::string payload(32 * 1024, 'x');
    constexpr int kMessages = 1536;
    constexpr int kBatch = 32;
    for (int i = 0; i < kMessages; i += kBatch) {
        for (int j = i; j < i + kBatch; ++j) pub->publish("load/" + std::to_string(j), payload, QoS::AtMostOnce);
        for (int j = i; j < i + kBatch; ++j) {
            auto m = fast->expect<codec::Publish>(10s);
            ASSERT_EQ(m->topic, "load/" + std::to_string(j)) << "the fast subscriber lost or reordered a message";
        }
    }

    // The drops are counted: $SYS (published every second) reports a non-zero count within a few intervals.
    bool counted = false;
    for (int attempt = 0; attempt < 10 && !counted; ++attempt) {
        auto m = sys->expect<codec::Publish>(5s);
        const std::string value(reinterpret_cast<const char*>(m->payload.data()), m->payload.size());
        counted = value != "0";
    }
    EXPECT_TRUE(counted) << "$SYS/broker/publish/messages/dropped stayed 0";

    // The publisher's own connection is still served at once.
    pub->ping();
}

}  // namespace
}  // namespace moth::test
