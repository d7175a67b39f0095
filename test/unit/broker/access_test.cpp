// Access control in the broker core, without sockets: an authenticator that answers later (as the password pool
// does), and an authorizer with a fixed table, checked at PUBLISH, SUBSCRIBE, every delivery, retained messages on
// subscribe, the will, and again after the rules change. Denials as each protocol version's clients expect them
// (docs/security.md).
#include "access_fixture.hpp"

namespace moth::broker {
namespace {

using codec::ProtocolVersion;
using codec::QoS;
using codec::ReasonCode;
using test::AccessTest;
using test::FakeHost;
using test::LaterAuthenticator;
using test::Peer;

TEST_F(AccessTest, ConnectWaitsForTheAuthenticatorAndPacketsAfterItWaitToo) {
    Peer p = open(ProtocolVersion::V5);
    // CONNECT and SUBSCRIBE in one read: the SUBSCRIBE must not be taken before the CONNECT is accepted.
    send(p, {connect_packet(ProtocolVersion::V5, "c1", "alice"), subscribe_packet("a/#", QoS::AtLeastOnce)});
    EXPECT_TRUE(received(p).empty()) << "no CONNACK before the password is checked";
    EXPECT_EQ(host_.paused.count(p.id), 1U);
    auth_.answer(0, AuthDecision::allow());
    run_posts();
    auto got = received(p);
    ASSERT_EQ(got.size(), 2U);
    EXPECT_EQ(std::get<codec::Connack>(got[0]).reason, ReasonCode::Success);
    EXPECT_EQ(std::get<codec::Suback>(got[1]).reason_codes[0], ReasonCode::GrantedQoS1);
}

TEST_F(AccessTest, RefusedPasswordGetsBadUserNameOrPasswordPerVersion) {
    for (const auto v : {ProtocolVersion::V5, ProtocolVersion::V3_1_1}) {
        Peer p = open(v);
        send(p, {connect_packet(v, "c-" + std::to_string(static_cast<int>(v)), "mallory")});
        auth_.answer(auth_.waiting.size() - 1, AuthDecision::deny(ReasonCode::BadUserNameOrPassword));
        run_posts();
        auto got = received(p);
        ASSERT_EQ(got.size(), 1U);
        // 5.0 0x86; 3.1.1 return code 4 (decoded back as the same reason).
        EXPECT_EQ(std::get<codec::Connack>(got[0]).reason, ReasonCode::BadUserNameOrPassword);
        EXPECT_TRUE(host_.closed(p.id));
    }
    EXPECT_EQ(shared_.stats[0]->auth_failures.load(), 2U);
}

TEST_F(AccessTest, AnAnswerForAConnectionThatWentAwayIsIgnored) {
    Peer p = open(ProtocolVersion::V5);
    send(p, {connect_packet(ProtocolVersion::V5, "gone", "alice")});
    core_->on_closed(p.id, now_);
    core_->flush();
    auth_.answer(0, AuthDecision::allow());
    run_posts();
    EXPECT_TRUE(received(p).empty());
    EXPECT_EQ(shared_.stats[0]->connections.load(), 0U);
}

TEST_F(AccessTest, DeniedPublishIsAcknowledgedWith0x87On5AndDroppedOn311) {
    Peer reader = connect(ProtocolVersion::V5, "reader", "alice");
    send(reader, {subscribe_packet("#", QoS::AtLeastOnce)});
    (void)received(reader);
    Peer v5 = connect(ProtocolVersion::V5, "anon5", std::nullopt);
    send(v5, {publish_packet("a/x", QoS::AtLeastOnce, 7)});
    auto got = received(v5);
    ASSERT_EQ(got.size(), 1U);
    EXPECT_EQ(std::get<codec::Puback>(got[0]).reason, ReasonCode::NotAuthorized);  // [MQTT-3.4.2.1]
    Peer v3 = connect(ProtocolVersion::V3_1_1, "anon3", std::nullopt);
    send(v3, {publish_packet("a/x", QoS::AtLeastOnce, 8)});
    got = received(v3);
    ASSERT_EQ(got.size(), 1U);
    EXPECT_EQ(std::get<codec::Puback>(got[0]).packet_id, 8);  // acknowledged, as Mosquitto does
    EXPECT_FALSE(host_.closed(v3.id));
    EXPECT_TRUE(received(reader).empty()) << "a denied message reaches nobody";
    EXPECT_EQ(shared_.stats[0]->denied.load(), 2U);
}

TEST_F(AccessTest, DenyActionDisconnectClosesA311Publisher) {
    auto cfg = config::default_config();
    cfg.auth.deny_action = config::DenyAction::Disconnect;
    core_->reconfigure(cfg);
    Peer v3 = connect(ProtocolVersion::V3_1_1, "anon3", std::nullopt);
    send(v3, {publish_packet("a/x", QoS::AtLeastOnce, 8)});
    EXPECT_TRUE(received(v3).empty());
    EXPECT_TRUE(host_.closed(v3.id));
}

TEST_F(AccessTest, SubscribeToWhatCannotBeReadIsRefusedPerVersion) {
    Peer v5 = connect(ProtocolVersion::V5, "anon5", std::nullopt);
    send(v5, {subscribe_packet("a/#", QoS::AtMostOnce)});
    auto got = received(v5);
    ASSERT_EQ(got.size(), 1U);
    EXPECT_EQ(std::get<codec::Suback>(got[0]).reason_codes[0], ReasonCode::NotAuthorized);
    Peer v3 = connect(ProtocolVersion::V3_1_1, "anon3", std::nullopt);
    send(v3, {subscribe_packet("a/#", QoS::AtMostOnce), subscribe_packet("$share/g/public/x", QoS::AtMostOnce, 2)});
    got = received(v3);
    ASSERT_EQ(got.size(), 2U);
    // 3.1.1 [MQTT-3.9.3-2]: 0x80 Failure (decoded back as UnspecifiedError); a shared one is checked on its filter.
    EXPECT_TRUE(codec::is_error(std::get<codec::Suback>(got[0]).reason_codes[0]));
    EXPECT_EQ(std::get<codec::Suback>(got[1]).reason_codes[0], ReasonCode::GrantedQoS0);
}

TEST_F(AccessTest, AWildcardSubscriberReceivesOnlyWhatItMayRead) {
    Peer alice = connect(ProtocolVersion::V5, "alice-1", "alice");
    Peer anon = connect(ProtocolVersion::V5, "anon", std::nullopt);
    send(anon, {subscribe_packet("public/#", QoS::AtMostOnce)});
    send(alice, {subscribe_packet("#", QoS::AtMostOnce)});
    (void)received(anon);
    (void)received(alice);
    send(alice, {publish_packet("a/secret", QoS::AtMostOnce), publish_packet("a/other", QoS::AtMostOnce)});
    EXPECT_TRUE(received(anon).empty());
    EXPECT_EQ(received(alice).size(), 2U);
    const int calls = acl_.calls;
    send(alice, {publish_packet("a/secret", QoS::AtMostOnce)});
    (void)received(alice);
    EXPECT_EQ(acl_.calls, calls) << "read and write decisions are cached per identity and topic";
}

TEST_F(AccessTest, RetainedMessagesOnSubscribeAreFilteredByRead) {
    Peer alice = connect(ProtocolVersion::V5, "alice-1", "alice");
    send(alice, {publish_packet("public/r", QoS::AtMostOnce, 0, true)});
    Peer anon = connect(ProtocolVersion::V5, "anon", std::nullopt);
    send(anon, {subscribe_packet("public/#", QoS::AtMostOnce)});
    EXPECT_EQ(received(anon).size(), 2U) << "SUBACK and the retained message, while it may be read";
    acl_.hide_public = true;
    ++acl_.gen;
    Peer other = connect(ProtocolVersion::V5, "anon-2", std::nullopt);
    send(other, {subscribe_packet("public/#", QoS::AtMostOnce)});
    EXPECT_EQ(received(other).size(), 1U) << "the SUBACK only: public/r may not be read now";
}

TEST_F(AccessTest, AWillOnATopicTheClientMayNotWriteIsRefusedAtConnect) {
    Peer p = open(ProtocolVersion::V5);
    auto c = connect_packet(ProtocolVersion::V5, "w", std::nullopt);
    codec::Will w;
    w.topic = "a/last-words";
    c.will = w;
    send(p, {c});
    auto got = received(p);
    ASSERT_EQ(got.size(), 1U);
    EXPECT_EQ(std::get<codec::Connack>(got[0]).reason, ReasonCode::NotAuthorized);
}

TEST_F(AccessTest, ChangedRulesRevokeASubscriptionAndStopItsDeliveries) {
    Peer alice = connect(ProtocolVersion::V5, "alice-1", "alice");
    send(alice, {subscribe_packet("a/#", QoS::AtMostOnce)});
    (void)received(alice);
    Peer writer = connect(ProtocolVersion::V5, "alice-2", "alice");
    acl_.revoked = true;
    ++acl_.gen;
    core_->on_rules_changed(now_);
    core_->flush();
    CoreSnapshot snap = core_->snapshot(SnapshotQuery{false, false, true, false, std::string("alice-1")}, now_);
    EXPECT_TRUE(snap.subscriptions.empty()) << "revoked: the API no longer lists it";
    acl_.revoked = false;  // writing is allowed again, the subscription stays gone
    ++acl_.gen;
    send(writer, {publish_packet("a/x", QoS::AtMostOnce)});
    EXPECT_TRUE(received(alice).empty());
}


TEST_F(AccessTest, TheAuthenticatorsUserNameAndExpiryApply) {
    // The provider names the user (a token's claim): the ACL sees "alice", not the CONNECT's "mallory".
    Peer p = open(ProtocolVersion::V5);
    send(p, {connect_packet(ProtocolVersion::V5, "tok", "mallory")});
    auto d = AuthDecision::allow();
    d.username = "alice";
    d.valid_for = std::chrono::seconds(30);
    auth_.answer(0, std::move(d));
    run_posts();
    (void)received(p);
    send(p, {publish_packet("a/x", QoS::AtLeastOnce, 3)});
    auto got = received(p);
    ASSERT_EQ(got.size(), 1U);
    EXPECT_EQ(std::get<codec::Puback>(got[0]).reason, ReasonCode::NoMatchingSubscribers) << "allowed for alice";
    Peer v3 = open(ProtocolVersion::V3_1_1);
    send(v3, {connect_packet(ProtocolVersion::V3_1_1, "tok3", "alice")});
    d = AuthDecision::allow();
    d.valid_for = std::chrono::seconds(30);
    auth_.answer(1, std::move(d));
    run_posts();
    (void)received(v3);
    now_ += std::chrono::seconds(29);
    core_->on_tick(now_);
    core_->flush();
    EXPECT_FALSE(host_.closed(p.id));
    now_ += std::chrono::seconds(2);
    core_->on_tick(now_);
    core_->flush();
    // The identity ended (a token's exp): 5.0 hears DISCONNECT 0x87, 3.1.1 is closed (it has no server DISCONNECT).
    got = received(p);
    ASSERT_EQ(got.size(), 1U);
    EXPECT_EQ(std::get<codec::Disconnect>(got[0]).reason, ReasonCode::NotAuthorized);
    EXPECT_TRUE(host_.closed(p.id));
    EXPECT_TRUE(received(v3).empty());
    EXPECT_TRUE(host_.closed(v3.id));
}

// Allows everything, then asks the hook: at once for the topics in `known`, later (the test answers) for the rest.
class LaterHook final : public Authorizer {
public:
    bool allows(const Identity&, std::string_view, Access) const override { return true; }
    std::uint64_t generation() const override { return 1; }
    bool has_hook() const override { return true; }
    std::optional<bool> check_hook(const Identity&, const HookCheck& c,
                                   std::function<void(bool)> later) const override {
        asked.emplace_back(c.topic);
        if (const auto it = known.find(std::string(c.topic)); it != known.end()) return it->second;
        waiting.push_back(std::move(later));
        return std::nullopt;
    }
    mutable std::vector<std::string> asked;
    mutable std::vector<std::function<void(bool)>> waiting;
    std::map<std::string, bool> known{{"#", true}};
};

class HookTest : public AccessTest {
protected:
    HookTest() {
        core_.reset();  // its router holds the authorizer it was made with
        shared_.authorizer = &hook_;
        core_ = std::make_unique<Core>(0, shared_, host_);
    }
    void answer(std::size_t i, bool ok) {
        hook_.waiting.at(i)(ok);
        run_posts();
    }
    LaterHook hook_;
};

TEST_F(HookTest, APublishWaitsForTheHookAndWhatFollowsKeepsItsOrder) {
    Peer reader = connect(ProtocolVersion::V5, "reader", std::nullopt);
    send(reader, {subscribe_packet("#", QoS::AtLeastOnce)});
    (void)received(reader);
    hook_.known["b"] = true;
    Peer w = connect(ProtocolVersion::V5, "writer", std::nullopt);
    send(w, {publish_packet("a", QoS::AtLeastOnce, 1), publish_packet("b", QoS::AtLeastOnce, 2)});
    EXPECT_TRUE(received(w).empty()) << "no PUBACK before the hook answered";
    EXPECT_TRUE(received(reader).empty()) << "nothing routed before the hook answered";
    EXPECT_EQ(host_.paused.count(w.id), 1U);
    ASSERT_EQ(hook_.waiting.size(), 1U) << "the second PUBLISH is not read while the first waits";
    answer(0, true);
    auto got = received(w);
    ASSERT_EQ(got.size(), 2U);
    EXPECT_EQ(std::get<codec::Puback>(got[0]).packet_id, 1);
    EXPECT_EQ(std::get<codec::Puback>(got[1]).packet_id, 2);
    got = received(reader);
    ASSERT_EQ(got.size(), 2U);
    EXPECT_EQ(std::get<codec::Publish>(got[0]).topic, "a");
    EXPECT_EQ(std::get<codec::Publish>(got[1]).topic, "b");
    EXPECT_EQ(shared_.stats[0]->publish_received.load(), 2U) << "a packet handled again is counted once";
}

TEST_F(HookTest, APublishTheHookDeniesIsRefusedAsTheAclWouldPerVersion) {
    Peer reader = connect(ProtocolVersion::V5, "reader", std::nullopt);
    send(reader, {subscribe_packet("#", QoS::AtLeastOnce)});
    (void)received(reader);
    Peer v5 = connect(ProtocolVersion::V5, "w5", std::nullopt);
    send(v5, {publish_packet("x", QoS::AtLeastOnce, 7)});
    answer(0, false);
    auto got = received(v5);
    ASSERT_EQ(got.size(), 1U);
    EXPECT_EQ(std::get<codec::Puback>(got[0]).reason, ReasonCode::NotAuthorized);  // [MQTT-3.4.2.1]
    Peer v3 = connect(ProtocolVersion::V3_1_1, "w3", std::nullopt);
    send(v3, {publish_packet("x", QoS::ExactlyOnce, 8)});
    answer(1, false);
    got = received(v3);
    ASSERT_EQ(got.size(), 1U);
    EXPECT_EQ(std::get<codec::Pubrec>(got[0]).packet_id, 8) << "3.x: acknowledged and dropped";
    EXPECT_TRUE(received(reader).empty());
    EXPECT_EQ(shared_.stats[0]->denied.load(), 2U);
}

TEST_F(HookTest, ASubscribeAsksForEveryFilterAtOnceAndAnswersWhenAllAreIn) {
    Peer p = connect(ProtocolVersion::V5, "s", std::nullopt);
    filters_.emplace_back("yes/#");
    filters_.emplace_back("no/#");
    filters_.emplace_back("$share/g/cached");
    hook_.known["cached"] = true;
    subs_.push_back({{filters_[0], {QoS::AtLeastOnce}}, {filters_[1], {QoS::AtLeastOnce}},
                     {filters_[2], {QoS::AtMostOnce}}});
    codec::Subscribe sub;
    sub.packet_id = 4;
    sub.subscriptions = subs_.back();
    send(p, {sub});
    ASSERT_EQ(hook_.waiting.size(), 2U) << "both unknown filters asked before any answer";
    EXPECT_EQ(hook_.asked, (std::vector<std::string>{"yes/#", "no/#", "cached"})) << "$share/<g>/ stripped";
    answer(1, false);
    EXPECT_TRUE(received(p).empty());
    answer(0, true);
    auto got = received(p);
    ASSERT_EQ(got.size(), 1U);
    const auto& codes = std::get<codec::Suback>(got[0]).reason_codes;
    ASSERT_EQ(codes.size(), 3U);
    EXPECT_EQ(codes[0], ReasonCode::GrantedQoS1);
    EXPECT_EQ(codes[1], ReasonCode::NotAuthorized);
    EXPECT_EQ(codes[2], ReasonCode::GrantedQoS0);
    EXPECT_EQ(hook_.asked.size(), 3U) << "the answers are used, not asked again";
    CoreSnapshot snap = core_->snapshot(SnapshotQuery{false, false, true, false, std::string("s")}, now_);
    EXPECT_EQ(snap.subscriptions.size(), 2U);
}

TEST_F(HookTest, AnAnswerForAConnectionThatWentAwayIsIgnored) {
    Peer p = connect(ProtocolVersion::V5, "gone", std::nullopt);
    send(p, {publish_packet("x", QoS::AtLeastOnce, 1)});
    core_->on_closed(p.id, now_);
    core_->flush();
    answer(0, true);
    EXPECT_TRUE(received(p).empty());
}

}  // namespace
}  // namespace moth::broker
