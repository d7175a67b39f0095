// SUBACK and UNSUBACK after every worker, through the real mothd with 2 and 4 workers: a subscriber on worker 0
// that has its SUBACK makes a publisher on another worker publish at once, and the message must arrive
// ([MQTT-3.8.4-1]: once acknowledged, the subscription is in force on every worker); after its UNSUBACK, a
// publication from another worker must not ([MQTT-3.10.4-2]). docs/architecture.md, "SUBACK and UNSUBACK after
// every worker".
//
// The workers are chosen by client id, as mothd does (Core::owner_of: std::hash of the id modulo the worker count;
// this binary uses the same libstdc++). Where a message must NOT arrive, the same publisher sends a later marker
// that the subscriber must receive first: a publisher's messages reach a subscriber in order ([MQTT-4.6.0-5] (5.0)),
// so an unwanted message would come before the marker. No sleeps: every wait ends at the packet it waits for.

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "broker_test_util.hpp"

namespace moth::test {
namespace {

// Subscribe, publish, unsubscribe, publish: this many rounds per worker count (a miss is a race, so many rounds).
constexpr int kRounds = 10'000;
constexpr int kNoise = 64;  // publications in each burst of noise

// A client id that mothd puts on `worker` of `workers`.
std::string id_on(unsigned worker, unsigned workers, std::string_view prefix) {
    for (unsigned i = 0;; ++i) {
        std::string id = std::string(prefix) + "-" + std::to_string(i);
        if (std::hash<std::string_view>{}(id) % workers == worker) return id;
    }
}

// QoS 0 PUBLISH packets to a topic nobody subscribes to, back to back: sent just before a SUBSCRIBE, they keep the
// publisher's worker reading and routing while the subscription change is posted to it, which is when a
// publication read in the same pass could overtake the change (the race this test is about).
std::vector<std::byte> noise(ProtocolVersion v, int count) {
    codec::Publish p;
    p.topic = "noise";
    static const std::string payload(64, 'n');
    p.payload = as_bytes(payload);
    std::vector<std::byte> out;
    for (int i = 0; i < count; ++i) EXPECT_TRUE(codec::encode_append(p, v, out));
    return out;
}

// The topic of the next packet, which must be a PUBLISH.
std::string next_topic(MqttTestClient& c) {
    auto m = c.expect<codec::Publish>();
    return topic_of(*m);
}

class BrokerWorkersTest : public BrokerFixture, public ::testing::WithParamInterface<unsigned> {};

TEST_P(BrokerWorkersTest, PublishRightAfterSubackArrivesAndAfterUnsubackDoesNot) {
    workers_ = GetParam();
    start();
    auto sub = connected_client(kV5, id_on(0, workers_, "sub"));
    ASSERT_EQ(sub->subscribe("marker", QoS::AtMostOnce), granted(QoS::AtMostOnce));
    std::vector<std::unique_ptr<MqttTestClient>> pubs;
    for (unsigned w = 1; w < workers_; ++w) pubs.push_back(connected_client(kV5, id_on(w, workers_, "pub")));

    const auto burst = noise(kV5, kNoise);
    for (int i = 0; i < kRounds; ++i) {
        MqttTestClient& pub = *pubs[static_cast<std::size_t>(i) % pubs.size()];
        const std::string topic = "round/" + std::to_string(i);
        ASSERT_TRUE(pub.send_raw(burst));
        ASSERT_EQ(sub->subscribe(topic, QoS::AtMostOnce), granted(QoS::AtMostOnce));
        pub.publish(topic, "after SUBACK");
        pub.publish("marker", "1");
        ASSERT_EQ(next_topic(*sub), topic) << "round " << i << ": the publication right after the SUBACK was missed";
        ASSERT_EQ(next_topic(*sub), "marker");

        ASSERT_TRUE(pub.send_raw(burst));
        sub->unsubscribe(topic);
        pub.publish(topic, "after UNSUBACK");
        pub.publish("marker", "2");
        ASSERT_EQ(next_topic(*sub), "marker") << "round " << i << ": delivered after the UNSUBACK";
    }
    stop();
}

std::string workers_suffix(const ::testing::TestParamInfo<unsigned>& p) {
    return std::to_string(p.param) + "Workers";
}

INSTANTIATE_TEST_SUITE_P(Workers, BrokerWorkersTest, ::testing::Values(2U, 4U), workers_suffix);

}  // namespace
}  // namespace moth::test
