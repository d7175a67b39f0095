// What crosses between the cores of one broker (one Core per worker), driven by MultiCoreHarness: subscriptions
// replicated to every core, connections handed to the core that owns their client id at CONNECT, shared-group
// messages moved to a member on another core, and the outbox that batches deliveries per target core.
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <string>
#include <variant>
#include <vector>

#include "broker/ids.hpp"
#include "codec/packets.hpp"
#include "multi_core_harness.hpp"

namespace moth::broker {
namespace {

using codec::ProtocolVersion;
using codec::QoS;
using codec::ReasonCode;
using test::MultiCoreHarness;
using Client = MultiCoreHarness::Client;
using Flush = MultiCoreHarness::Flush;
using Kinds = std::vector<std::string>;

constexpr unsigned kCores = 3;
constexpr auto kV5 = ProtocolVersion::V5;

// A client whose connection is accepted on the core that owns its id, so that it stays there.
Client on_core(MultiCoreHarness& h, unsigned core, std::string_view prefix, ProtocolVersion v = kV5) {
    const Client c = h.connect_ok(h.id_on(core, prefix), v, MultiCoreHarness::ConnectOptions::at(core));
    EXPECT_EQ(h.core_of(c), core);
    return c;
}

// The PUBLISH packets among `packets`.
std::vector<codec::Publish> publishes(const std::vector<codec::Packet>& packets) {
    std::vector<codec::Publish> out;
    for (const auto& p : packets) {
        if (const auto* m = std::get_if<codec::Publish>(&p)) out.push_back(*m);
    }
    return out;
}

std::string payload_of(const codec::Publish& p) {
    return {reinterpret_cast<const char*>(p.payload.data()), p.payload.size()};
}

// ---- Subscription replication ----

// A subscription made on one core is in every core's tree once SUBACKed ([MQTT-3.8.4-1]): publishers on every
// core reach it. After the UNSUBACK none does ([MQTT-3.10.4-2]).
TEST(CrossCoreTest, SubscriptionMadeOnOneCoreIsMatchedOnEveryCoreUntilUnsubscribed) {
    MultiCoreHarness h(kCores);
    const Client sub = on_core(h, 0, "sub");
    const std::array pubs{on_core(h, 0, "pub"), on_core(h, 1, "pub"), on_core(h, 2, "pub")};

    h.subscribe(sub, 1, "r/#");
    h.run_until_idle();
    ASSERT_EQ(h.kinds(sub), Kinds{"SUBACK"});
    for (unsigned w = 0; w < kCores; ++w) {
        h.publish(pubs[w], "r/" + std::to_string(w));
        h.run_until_idle();
    }
    EXPECT_EQ(h.kinds(sub), (Kinds{"PUBLISH r/0", "PUBLISH r/1", "PUBLISH r/2"}));

    h.unsubscribe(sub, 2, "r/#");
    h.run_until_idle();
    ASSERT_EQ(h.kinds(sub), Kinds{"UNSUBACK"});
    for (const Client& p : pubs) h.publish(p, "r/after");
    h.run_until_idle();
    EXPECT_TRUE(h.kinds(sub).empty());
}

// ---- Hand-off at CONNECT ----

// A client whose id another core owns, accepted on the wrong core, is moved to the owner before its CONNECT is
// handled: the CONNACK comes from the owner, the session lives there only, the connection keeps its origin (the
// peer's address and listener), and messages from any core reach it.
TEST(CrossCoreTest, ConnectionAcceptedOnTheWrongCoreIsServedByTheOwner) {
    MultiCoreHarness h(kCores);
    const std::string id = h.id_on(2, "mover");
    const auto listener = std::make_shared<const ListenerTag>(ListenerTag{"mqtt-7", "mqtt", nullptr});
    auto options = MultiCoreHarness::ConnectOptions::at(0);
    options.listener = listener;
    const Client c = h.connect_ok(id, kV5, options);
    EXPECT_EQ(h.hand_offs(c), 1U);
    EXPECT_EQ(h.core_of(c), 2U);
    EXPECT_EQ(h.session_core(id), 2U);
    EXPECT_EQ(h.core(0).connection_count(), 0U) << "the first core still holds the handed-off connection";

    SnapshotQuery query;
    query.clients = true;
    const auto snap = h.core(2).snapshot(query, h.now());
    ASSERT_EQ(snap.clients.size(), 1U);
    EXPECT_EQ(snap.clients[0].client_id, id);
    EXPECT_EQ(snap.clients[0].address, "test-peer");
    EXPECT_EQ(snap.clients[0].listener, "mqtt-7");

    h.subscribe(c, 1, "h/#");
    h.run_until_idle();
    ASSERT_EQ(h.kinds(c), Kinds{"SUBACK"});
    const Client pub = on_core(h, 0, "pub");
    h.publish(pub, "h/1");
    h.run_until_idle();
    EXPECT_EQ(h.kinds(c), Kinds{"PUBLISH h/1"});
}

// What the client sent right behind its CONNECT, in the same read, goes along to the owner and is handled there,
// after the CONNECT: the CONNACK ([MQTT-3.1.4-5]) comes before anything else ([MQTT-3.2.0-1]), then the SUBACK.
TEST(CrossCoreTest, BytesAfterTheConnectMoveWithTheConnection) {
    MultiCoreHarness h(kCores);
    const std::string id = h.id_on(1, "eager");
    const Client c = h.open(0, kV5);
    codec::Connect connect;
    connect.client_id = id;
    const codec::Subscription sub{"e/#", {QoS::AtMostOnce}};
    codec::Subscribe subscribe;
    subscribe.packet_id = 7;
    subscribe.subscriptions = std::span(&sub, 1);
    const std::array<codec::Packet, 2> both{connect, subscribe};
    h.send(c, both);
    h.run_until_idle();

    EXPECT_EQ(h.core_of(c), 1U);
    EXPECT_EQ(h.kinds(c), (Kinds{"CONNACK", "SUBACK"}));
    const Client pub = on_core(h, 2, "pub");
    h.publish(pub, "e/1");
    h.run_until_idle();
    EXPECT_EQ(h.kinds(c), Kinds{"PUBLISH e/1"});
}

// [MQTT-3.1.4-3]: a second connection with the same client id, accepted on yet another core, is moved to the owner
// too and takes the session over there: the first connection gets DISCONNECT Session taken over (5.0, 0x8E) and is
// closed, the new one finds its session present ([MQTT-3.2.2-2]) with its subscription, and messages reach only it.
TEST(CrossCoreTest, SecondConnectionOnAnotherCoreTakesTheSessionOverAtTheOwner) {
    MultiCoreHarness h(kCores);
    const std::string id = h.id_on(2, "twice");
    auto options = MultiCoreHarness::ConnectOptions::at(0);
    options.clean_start = false;
    options.session_expiry_s = 600;
    const Client first = h.connect_ok(id, kV5, options);
    h.subscribe(first, 1, "k/#", QoS::AtLeastOnce);
    h.run_until_idle();
    ASSERT_EQ(h.kinds(first), Kinds{"SUBACK"});

    options.core = 1;
    bool present = false;
    const Client second = h.connect_ok(id, kV5, options, &present);
    EXPECT_EQ(h.core_of(second), 2U);
    EXPECT_EQ(h.hand_offs(second), 1U);
    EXPECT_TRUE(present);
    EXPECT_EQ(h.session_core(id), 2U);

    const auto old = h.received(first);
    ASSERT_EQ(old.size(), 1U);
    ASSERT_TRUE(std::holds_alternative<codec::Disconnect>(old[0]));
    EXPECT_EQ(std::get<codec::Disconnect>(old[0]).reason, ReasonCode::SessionTakenOver);
    EXPECT_TRUE(h.closed(first));

    const Client pub = on_core(h, 0, "pub");
    h.publish(pub, "k/1");
    h.run_until_idle();
    EXPECT_EQ(h.kinds(second), Kinds{"PUBLISH k/1"});
    EXPECT_TRUE(h.kinds(first).empty());
}

// ---- Shared subscriptions across cores (5.0 section 4.8.2) ----

struct SharedGroupOnTwoCores {
    MultiCoreHarness h{kCores};
    Client members[2];
    Client publisher{};
    // Members of $share/g/s/# on cores 0 and 1, granted `qos`; the publisher on core 2.
    explicit SharedGroupOnTwoCores(QoS qos) {
        for (unsigned w = 0; w < 2; ++w) {
            members[w] = on_core(h, w, "member");
            h.subscribe(members[w], 1, "$share/g/s/#", qos);
            h.run_until_idle();
            EXPECT_EQ(h.kinds(members[w]), Kinds{"SUBACK"});
        }
        publisher = on_core(h, 2, "pub");
    }
    // Publishes one message at `qos` and returns the index of the one member it went to.
    unsigned publish_to_one(QoS qos) {
        h.publish(publisher, "s/1", "x", qos, 1);
        h.run_until_idle();
        unsigned chosen = 2;
        for (unsigned i = 0; i < 2; ++i) {
            const auto got = publishes(h.received(members[i]));
            if (got.empty()) continue;
            EXPECT_EQ(chosen, 2U) << "both members received the message";
            EXPECT_EQ(got.size(), 1U);
            EXPECT_EQ(got[0].qos, qos);
            chosen = i;
        }
        EXPECT_NE(chosen, 2U) << "no member received the message";
        return chosen;
    }
};

// A QoS 1 message in flight to a member whose session ends unacknowledged goes to the member on the other core
// (5.0 section 4.8.2: it SHOULD be sent to another member of the group).
TEST(CrossCoreTest, UnacknowledgedQos1SharedMessageMovesToAMemberOnAnotherCore) {
    SharedGroupOnTwoCores g(QoS::AtLeastOnce);
    const unsigned chosen = g.publish_to_one(QoS::AtLeastOnce);
    ASSERT_LT(chosen, 2U);
    const Client other = g.members[1 - chosen];
    ASSERT_NE(g.h.core_of(other), g.h.core_of(g.members[chosen]));

    g.h.drop(g.members[chosen]);  // session expiry 0: the session ends with the connection
    g.h.run_until_idle();
    const auto got = publishes(g.h.received(other));
    ASSERT_EQ(got.size(), 1U);
    EXPECT_EQ(got[0].topic, "s/1");
    EXPECT_EQ(got[0].qos, QoS::AtLeastOnce);
}

// [MQTT-4.8.2-5]: a QoS 2 message of a member whose session ended is not sent to any other member.
TEST(CrossCoreTest, UnacknowledgedQos2SharedMessageIsNotMovedToAnotherMember) {
    SharedGroupOnTwoCores g(QoS::ExactlyOnce);
    const unsigned chosen = g.publish_to_one(QoS::ExactlyOnce);
    ASSERT_LT(chosen, 2U);
    const Client other = g.members[1 - chosen];

    g.h.drop(g.members[chosen]);
    g.h.run_until_idle();
    EXPECT_TRUE(publishes(g.h.received(other)).empty());
}

// ---- The outbox ----

// Deliveries for another core are batched per target core and posted at the end of the loop turn: one post for
// all subscribers there, however many messages the turn produced.
TEST(CrossCoreTest, DeliveriesToAnotherCoreArriveInOnePostPerLoopTurn) {
    MultiCoreHarness h(kCores);
    std::vector<Client> subs;
    for (int i = 0; i < 3; ++i) {
        subs.push_back(on_core(h, 1, "sub" + std::to_string(i)));
        h.subscribe(subs.back(), 1, "o/#");
        h.run_until_idle();
        ASSERT_EQ(h.kinds(subs.back()), Kinds{"SUBACK"});
    }
    const Client pub = on_core(h, 0, "pub");

    h.publish(pub, "o/1", "1", QoS::AtMostOnce, 0, Flush::No);
    h.publish(pub, "o/2", "2", QoS::AtMostOnce, 0, Flush::No);
    EXPECT_EQ(h.queued(0, 1), 0U) << "posted before the end of the loop turn";
    h.core(0).flush();
    EXPECT_EQ(h.queued(0, 1), 1U) << "three subscribers and two messages on core 1: one post";
    EXPECT_EQ(h.queued(0, 2), 0U) << "nothing for a core without subscribers";

    EXPECT_EQ(h.run_posts_to(1), 1U);
    for (const Client& s : subs) EXPECT_EQ(h.kinds(s), (Kinds{"PUBLISH o/1", "PUBLISH o/2"}));
}

// 5.0 [MQTT-4.6.0-5]: a publisher's messages reach a subscriber on another core in the order they were received,
// whether they shared a loop turn (one batch) or not (one post each, run in order).
TEST(CrossCoreTest, PublisherOrderIsKeptAcrossCores) {
    MultiCoreHarness h(kCores);
    const Client sub = on_core(h, 2, "sub");
    h.subscribe(sub, 1, "q/t", QoS::AtLeastOnce);
    h.run_until_idle();
    ASSERT_EQ(h.kinds(sub), Kinds{"SUBACK"});
    const Client pub = on_core(h, 0, "pub");

    std::uint16_t packet_id = 1;
    for (const char* p : {"1", "2"}) h.publish(pub, "q/t", p, QoS::AtLeastOnce, packet_id++, Flush::No);
    h.core(0).flush();
    for (const char* p : {"3", "4", "5"}) h.publish(pub, "q/t", p, QoS::AtLeastOnce, packet_id++);
    EXPECT_EQ(h.queued(0, 2), 4U);
    h.run_until_idle();

    std::vector<std::string> order;
    for (const auto& m : publishes(h.received(sub))) order.push_back(payload_of(m));
    EXPECT_EQ(order, (std::vector<std::string>{"1", "2", "3", "4", "5"}));
}

// ---- Time ----

// One clock for every core: a client on core 1 silent for more than 1.5 times its keep alive is closed there
// ([MQTT-3.1.2-22]) and its will reaches a subscriber on core 0 ([MQTT-3.1.2-8]).
TEST(CrossCoreTest, KeepaliveExpiryOnOneCorePublishesTheWillToAnother) {
    MultiCoreHarness h(kCores);
    const Client sub = on_core(h, 0, "sub");
    h.subscribe(sub, 1, "will/#");
    h.run_until_idle();
    ASSERT_EQ(h.kinds(sub), Kinds{"SUBACK"});
    auto options = MultiCoreHarness::ConnectOptions::at(1);
    options.keep_alive_s = 10;
    options.will_topic = "will/q";
    const Client quiet = h.connect_ok(h.id_on(1, "quiet"), kV5, options);

    using std::chrono::milliseconds;
    while (h.now() < TimePoint{} + milliseconds(14'750)) h.advance(milliseconds(250));
    h.run_until_idle();
    EXPECT_FALSE(h.closed(quiet)) << "closed before 1.5 times the keep alive";
    EXPECT_TRUE(h.kinds(sub).empty());

    while (h.now() < TimePoint{} + milliseconds(16'000)) h.advance(milliseconds(250));
    h.run_until_idle();
    EXPECT_TRUE(h.closed(quiet));
    EXPECT_EQ(h.kinds(sub), Kinds{"PUBLISH will/q"});
}

}  // namespace
}  // namespace moth::broker
