// What the broker core does for bridges (docs/bridges.md): a 3.x client with the bridge bit (Mosquitto's
// try_private) never hears its own messages back and keeps retain flags; "$bridge/" client ids belong to mothd's
// own bridge connections (ListenerTag::internal()), which are trusted and may have their own queue limits.
#include "access_fixture.hpp"

namespace moth::broker {
namespace {

using codec::ProtocolVersion;
using codec::QoS;
using codec::ReasonCode;
using test::AccessTest;
using test::Peer;

class BridgeCoreTest : public AccessTest {
protected:
    // mothd's own bridge connection, its queue allowed `messages` (drop-oldest).
    static std::shared_ptr<const ListenerTag> internal_tag(std::uint32_t messages) {
        auto q = std::make_shared<QueueOverride>();
        q->max_queued_messages = messages;
        q->max_queued_bytes = 1ULL << 30;
        q->drop_oldest = true;
        return std::make_shared<const ListenerTag>(ListenerTag{"bridge:cloud", "bridge", std::move(q)});
    }
    Peer connect_internal(std::shared_ptr<const ListenerTag> tag, bool clean_start = true) {
        Peer p = open(ProtocolVersion::V5, std::move(tag));
        auto c = connect_packet(ProtocolVersion::V5, "$bridge/cloud", std::nullopt);
        c.clean_start = clean_start;
        c.properties.session_expiry_interval = 0xFFFFFFFF;
        send(p, {c});
        return p;
    }
};

TEST_F(BridgeCoreTest, TheBridgeBitGivesNoLocalAndRetainAsPublished) {
    // alice may read and write a/#: one connection with the bridge bit, one without.
    Peer plain = connect(ProtocolVersion::V3_1_1, "plain", "alice");
    Peer bridge = open(ProtocolVersion::V3_1_1);
    auto c = connect_packet(ProtocolVersion::V3_1_1, "edge", "alice");
    c.bridge = true;  // protocol level 0x84
    send(bridge, {c});
    auth_.answer(auth_.waiting.size() - 1, AuthDecision::allow());
    run_posts();
    ASSERT_EQ(received(bridge).size(), 1U);
    send(plain, {subscribe_packet("a/#", QoS::AtLeastOnce)});
    send(bridge, {subscribe_packet("a/#", QoS::AtLeastOnce, 2)});
    (void)received(plain);
    (void)received(bridge);
    send(bridge, {publish_packet("a/from-bridge", QoS::AtLeastOnce, 5)});
    auto got = received(bridge);
    ASSERT_EQ(got.size(), 1U) << "its PUBACK only: its own message does not come back";
    EXPECT_TRUE(std::holds_alternative<codec::Puback>(got[0]));
    ASSERT_EQ(received(plain).size(), 1U);
    send(plain, {publish_packet("a/r", QoS::AtMostOnce, 0, true)});
    got = received(bridge);
    ASSERT_EQ(got.size(), 1U);
    EXPECT_TRUE(std::get<codec::Publish>(got[0]).retain) << "the retain flag as published";
    got = received(plain);
    ASSERT_EQ(got.size(), 1U);
    EXPECT_FALSE(std::get<codec::Publish>(got[0]).retain) << "3.1.1 [MQTT-3.3.1-9]: cleared for a live delivery";
}

TEST_F(BridgeCoreTest, BridgeClientIdsAreMothdsOwn) {
    for (const auto v : {ProtocolVersion::V5, ProtocolVersion::V3_1_1}) {
        Peer p = open(v);
        send(p, {connect_packet(v, "$bridge/cloud", std::nullopt)});
        auto got = received(p);
        ASSERT_EQ(got.size(), 1U);
        EXPECT_EQ(std::get<codec::Connack>(got[0]).reason, ReasonCode::ClientIdentifierNotValid);  // 3.1.1: 2
    }
    // mothd's own connection: no credentials, no authenticator asked, and the ACL does not apply (it would
    // refuse an anonymous client a/#).
    Peer own = connect_internal(internal_tag(100));
    auto got = received(own);
    ASSERT_EQ(got.size(), 1U);
    EXPECT_EQ(std::get<codec::Connack>(got[0]).reason, ReasonCode::Success);
    EXPECT_TRUE(auth_.waiting.empty());
    send(own, {subscribe_packet("a/#", QoS::AtLeastOnce)});
    got = received(own);
    ASSERT_EQ(got.size(), 1U);
    EXPECT_EQ(std::get<codec::Suback>(got[0]).reason_codes[0], ReasonCode::GrantedQoS1);
}

TEST_F(BridgeCoreTest, ABridgesQueueHasItsOwnLimitAndDropsTheOldest) {
    auto cfg = config::default_config();
    cfg.limits.max_queued_messages = 2;  // what every other session may queue
    core_->reconfigure(cfg);
    Peer own = connect_internal(internal_tag(5), false);
    send(own, {subscribe_packet("a/#", QoS::AtLeastOnce)});
    (void)received(own);
    core_->on_closed(own.id, now_);  // the link is down: messages wait in the session
    core_->flush();
    Peer alice = connect(ProtocolVersion::V5, "alice-1", "alice");
    for (std::uint16_t i = 1; i <= 7; ++i) send(alice, {publish_packet("a/" + std::to_string(i), QoS::AtLeastOnce, i)});
    const auto snap = core_->snapshot(SnapshotQuery{false, true, false, false, std::string("$bridge/cloud")}, now_);
    ASSERT_EQ(snap.sessions.size(), 1U);
    EXPECT_EQ(snap.sessions[0].queued, 5U) << "the bridge's limit, not limits.max_queued_messages";
    EXPECT_EQ(snap.sessions[0].dropped, 2U);
    // Back: the newest five, in order.
    Peer again = connect_internal(internal_tag(5), false);
    auto got = received(again);
    ASSERT_EQ(got.size(), 6U);
    EXPECT_TRUE(std::get<codec::Connack>(got[0]).session_present);
    EXPECT_EQ(std::get<codec::Publish>(got[1]).topic, "a/3");
    EXPECT_EQ(std::get<codec::Publish>(got[5]).topic, "a/7");
}

}  // namespace
}  // namespace moth::broker
