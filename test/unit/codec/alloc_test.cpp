// The decoder's allocation promise (decoder.hpp): decoding a PUBLISH does not allocate. A PUBLISH
// without list-valued properties never does, not even on a fresh decoder; one with User Properties or
// Subscription Identifiers may grow the decoder's scratch vectors once, and never again for packets
// that fit. This executable replaces the global operator new to count allocations on this thread.
//
// The replacement also works under ASan: ASan intercepts malloc and free, which ours forward to, and
// an executable's own operator new takes precedence over the one in the ASan runtime.
#include <gtest/gtest.h>

#include "support/alloc_counter.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "codec/decoder.hpp"
#include "codec/encoder.hpp"
#include "codec/packets.hpp"

// The counting operator new comes from test/support/alloc_counter.cpp, linked into this executable only.

namespace moth::codec {
namespace {

std::uint64_t allocations() { return moth::test::allocation_count(); }

constexpr std::string_view kTopic = "sensors/device-0042/temperature";

std::array<std::byte, 64> payload64() {
    std::array<std::byte, 64> p{};
    for (std::size_t i = 0; i < p.size(); ++i) p[i] = static_cast<std::byte>('a' + i % 26);
    return p;
}
const std::array<std::byte, 64> kPayload = payload64();

constexpr std::array<UserProperty, 2> kTwoUserProperties{{{"unit", "celsius"}, {"site", "lab-3"}}};
constexpr std::array<UserProperty, 1> kOneUserProperty{{{"unit", "kelvin"}}};
constexpr std::array<std::uint32_t, 2> kSubscriptionIds{7, 268'435'455};
constexpr std::string_view kCorrelation = "req-0001";

enum class Extras : std::uint8_t {
    None,            // no properties at all
    Scalars,         // 5.0 properties that are not lists: nothing for the decoder to collect
    UserProperties,  // 5.0: two User Properties, collected into the decoder's scratch vector
    ServerToClient,  // 5.0, decoded by a client: User Properties and two Subscription Identifiers
};

struct Case {
    ProtocolVersion version;
    QoS qos;
    Extras extras;
};

std::string case_name(const testing::TestParamInfo<Case>& info) {
    std::string name;
    switch (info.param.version) {
        case ProtocolVersion::V3_1: name = "v31"; break;
        case ProtocolVersion::V3_1_1: name = "v311"; break;
        case ProtocolVersion::V5: name = "v5"; break;
    }
    name += "_qos" + std::to_string(static_cast<int>(info.param.qos));
    switch (info.param.extras) {
        case Extras::None: break;
        case Extras::Scalars: name += "_scalar_props"; break;
        case Extras::UserProperties: name += "_user_props"; break;
        case Extras::ServerToClient: name += "_to_client"; break;
    }
    return name;
}

Publish make_publish(const Case& c) {
    Publish p;
    p.topic = kTopic;
    p.qos = c.qos;
    p.packet_id = c.qos == QoS::AtMostOnce ? 0 : 4242;
    p.retain = c.qos == QoS::ExactlyOnce;
    p.payload = kPayload;
    if (c.extras == Extras::Scalars) {
        p.properties.payload_format_indicator = 1;
        p.properties.message_expiry_interval = 3600;
        p.properties.content_type = "application/json";
        p.properties.response_topic = "replies/device-0042";
        p.properties.correlation_data = std::as_bytes(std::span<const char>(kCorrelation.data(), kCorrelation.size()));
        p.properties.topic_alias = 3;
    }
    if (c.extras == Extras::UserProperties || c.extras == Extras::ServerToClient) {
        p.properties.user_properties = kTwoUserProperties;
    }
    if (c.extras == Extras::ServerToClient) p.properties.subscription_identifiers = kSubscriptionIds;
    return p;
}

Decoder make_decoder(const Case& c) {
    Decoder d(DecoderOptions{.role = c.extras == Extras::ServerToClient ? Role::Client : Role::Server});
    d.set_version(c.version);
    return d;
}

std::vector<std::byte> encode_publish(const Publish& p, ProtocolVersion v) {
    std::vector<std::byte> out;
    const auto r = encode_append(p, v, out);
    EXPECT_TRUE(r.has_value());
    return out;
}

class PublishDecodeAllocations : public testing::TestWithParam<Case> {};

// Decode `wire` once as the warm-up the decoder is allowed, then `kRounds` more times, counting.
TEST_P(PublishDecodeAllocations, SteadyStateDecodeDoesNotAllocate) {
    const auto& c = GetParam();
    const auto publish = make_publish(c);
    const auto wire = encode_publish(publish, c.version);
    ASSERT_FALSE(wire.empty());
    auto decoder = make_decoder(c);

    const auto warm = decoder.decode(wire);
    ASSERT_EQ(warm.status, DecodeStatus::Ok) << warm.message;

    constexpr int kRounds = 100;
    int ok = 0;
    const auto before = allocations();
    for (int i = 0; i < kRounds; ++i) {
        const auto r = decoder.decode(wire);
        if (r.status == DecodeStatus::Ok && r.consumed == wire.size()) ++ok;
    }
    const auto made = allocations() - before;
    EXPECT_EQ(made, 0U) << "allocations in " << kRounds << " decodes after warm-up";
    EXPECT_EQ(ok, kRounds);

    // What was decoded is the packet that was encoded (so the loop above measured real work).
    const auto r = decoder.decode(wire);
    ASSERT_EQ(r.status, DecodeStatus::Ok);
    ASSERT_TRUE(std::holds_alternative<Publish>(r.packet));
    EXPECT_TRUE(std::get<Publish>(r.packet) == publish);
}

// A packet arriving in pieces: every prefix answers NeedMore, and none of those calls allocates.
TEST_P(PublishDecodeAllocations, PartialInputDoesNotAllocate) {
    const auto& c = GetParam();
    const auto wire = encode_publish(make_publish(c), c.version);
    auto decoder = make_decoder(c);
    ASSERT_EQ(decoder.decode(wire).status, DecodeStatus::Ok);  // warm-up
    const auto before = allocations();
    int need_more = 0;
    for (std::size_t n = 0; n < wire.size(); ++n) {
        if (decoder.decode(std::span(wire).first(n)).status == DecodeStatus::NeedMore) ++need_more;
    }
    const auto made = allocations() - before;
    EXPECT_EQ(made, 0U);
    EXPECT_EQ(need_more, static_cast<int>(wire.size()));
}

std::vector<Case> all_cases() {
    std::vector<Case> cases;
    for (const auto v : {ProtocolVersion::V3_1, ProtocolVersion::V3_1_1, ProtocolVersion::V5}) {
        for (const auto q : {QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce}) {
            cases.push_back({v, q, Extras::None});
            if (v == ProtocolVersion::V5) {
                cases.push_back({v, q, Extras::Scalars});
                cases.push_back({v, q, Extras::UserProperties});
                cases.push_back({v, q, Extras::ServerToClient});
            }
        }
    }
    return cases;
}

INSTANTIATE_TEST_SUITE_P(Codec, PublishDecodeAllocations, testing::ValuesIn(all_cases()), case_name);

// Without list-valued properties there is nothing to collect: even the first decode on a fresh
// decoder is free.
TEST(PublishDecodeAllocationsFirst, FirstDecodeWithoutListsDoesNotAllocate) {
    for (const auto& c : all_cases()) {
        if (c.extras == Extras::UserProperties || c.extras == Extras::ServerToClient) continue;
        SCOPED_TRACE(case_name(testing::TestParamInfo<Case>(c, 0)));
        const auto wire = encode_publish(make_publish(c), c.version);
        auto decoder = make_decoder(c);
        const auto before = allocations();
        const auto r = decoder.decode(wire);
        const auto made = allocations() - before;
        ASSERT_EQ(r.status, DecodeStatus::Ok) << r.message;
        EXPECT_EQ(made, 0U);
    }
}

// After a warm-up with two User Properties, a stream mixing PUBLISHes with none, one or two of them
// (what a real connection sees) decodes without allocating.
TEST(PublishDecodeAllocationsMixed, FewerUserPropertiesAfterWarmUpDoNotAllocate) {
    auto two = make_publish({ProtocolVersion::V5, QoS::AtLeastOnce, Extras::UserProperties});
    auto one = two;
    one.properties.user_properties = kOneUserProperty;
    auto none = two;
    none.properties.user_properties = {};
    const auto wire_two = encode_publish(two, ProtocolVersion::V5);
    const auto wire_one = encode_publish(one, ProtocolVersion::V5);
    const auto wire_none = encode_publish(none, ProtocolVersion::V5);

    Decoder decoder;
    decoder.set_version(ProtocolVersion::V5);
    ASSERT_EQ(decoder.decode(wire_two).status, DecodeStatus::Ok);  // warm-up

    int ok = 0;
    const auto before = allocations();
    for (int i = 0; i < 50; ++i) {
        for (const auto* wire : {&wire_none, &wire_one, &wire_two}) {
            if (decoder.decode(*wire).status == DecodeStatus::Ok) ++ok;
        }
    }
    const auto made = allocations() - before;
    EXPECT_EQ(made, 0U);
    EXPECT_EQ(ok, 150);
}

// The counter itself works: without this, a broken replacement would make every test above pass.
TEST(AllocationCounter, CountsOperatorNewOnThisThread) {
    const auto before = allocations();
    void* p = ::operator new(32);
    ::operator delete(p);
    std::vector<int> v;
    v.reserve(16);
    EXPECT_EQ(allocations() - before, 2U);
}

// ...and it sees the decoder's own allocations: the first decode of a PUBLISH with User Properties
// on a fresh decoder grows its scratch vector. (If the decoder ever stops allocating here, e.g. with
// inline storage, this expectation can go; it is here to show the counter is not blind to it.)
TEST(AllocationCounter, SeesTheDecodersScratchGrowth) {
    const Case c{ProtocolVersion::V5, QoS::AtMostOnce, Extras::UserProperties};
    const auto wire = encode_publish(make_publish(c), c.version);
    auto decoder = make_decoder(c);
    const auto before = allocations();
    ASSERT_EQ(decoder.decode(wire).status, DecodeStatus::Ok);
    EXPECT_GT(allocations() - before, 0U);
}

}  // namespace
}  // namespace moth::codec
