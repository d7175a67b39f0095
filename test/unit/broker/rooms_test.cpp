// The pure rooms of the broker core, alone: the Router into fake DeliverySinks, the outbound queue books and
// packet identifiers, the TimingWheel, the CONNACK builder and shrinker, and the $SYS values. No Core, no host.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "broker/connack.hpp"
#include "broker/outbound.hpp"
#include "broker/router.hpp"
#include "broker/sys_topics.hpp"
#include "broker/timers.hpp"
#include "codec/encoder.hpp"
#include "config/config.hpp"

namespace moth::broker {
namespace {

using codec::ProtocolVersion;
using codec::QoS;
using namespace std::chrono_literals;

MessagePtr message(std::string topic, QoS qos, bool retain = false, SessionId origin = 0) {
    auto m = std::make_shared<Message>();
    m->topic = std::move(topic);
    m->qos = qos;
    m->retain = retain;
    m->origin_session = origin;
    m->seal();
    return m;
}

// ---- Router ----

struct Seen {
    SessionId session;
    QoS qos;
    bool retain;
    std::vector<std::uint32_t> ids;
    bool shared;
};

class RecordingSink final : public DeliverySink {
public:
    void on_matched(std::size_t n) override { matched = n; }
    void deliver(Delivery&& d) override {
        ASSERT_NE(d.message, nullptr);
        deliveries.push_back({d.session, d.qos, d.retain, d.subscription_ids, d.share != nullptr});
    }
    std::size_t matched = 0;
    std::vector<Seen> deliveries;
};

SubscriptionEntry entry(QoS qos, std::uint32_t id = 0, bool no_local = false, bool rap = false) {
    SubscriptionEntry e;
    e.options.qos = qos;
    e.options.no_local = no_local;
    e.options.retain_as_published = rap;
    e.subscription_id = id;
    return e;
}

TEST(Router, OverlappingSubscriptionsOfOneSessionGiveOneDeliveryWithTheHighestQosAndEveryIdentifier) {
    // [MQTT-3.3.4-2..5]
    SubscriptionTree tree;
    tree.insert("a/+", 7, entry(QoS::AtMostOnce, 1));
    tree.insert("a/#", 7, entry(QoS::AtLeastOnce, 2));
    tree.insert("a/b", 9, entry(QoS::ExactlyOnce));
    Router router;
    RecordingSink sink;
    EXPECT_EQ(router.route(tree, message("a/b", QoS::ExactlyOnce), sink), 2U);
    EXPECT_EQ(sink.matched, 3U);
    ASSERT_EQ(sink.deliveries.size(), 2U);
    EXPECT_EQ(sink.deliveries[0].session, 7U);
    EXPECT_EQ(sink.deliveries[0].qos, QoS::AtLeastOnce);  // min(publish 2, subscription 1), the higher of the two
    auto ids = sink.deliveries[0].ids;  // in match order, which the tree does not promise
    std::sort(ids.begin(), ids.end());
    EXPECT_EQ(ids, (std::vector<std::uint32_t>{1, 2}));
    EXPECT_EQ(sink.deliveries[1].session, 9U);
    EXPECT_EQ(sink.deliveries[1].qos, QoS::ExactlyOnce);
}

TEST(Router, GrantedQosIsTheLowerOfPublishAndSubscription) {
    SubscriptionTree tree;
    tree.insert("t", 1, entry(QoS::ExactlyOnce));
    Router router;
    RecordingSink sink;
    router.route(tree, message("t", QoS::AtLeastOnce), sink);
    ASSERT_EQ(sink.deliveries.size(), 1U);
    EXPECT_EQ(sink.deliveries[0].qos, QoS::AtLeastOnce);
}

TEST(Router, NoLocalSkipsThePublishersOwnSession) {
    // [MQTT-3.8.3-3]
    SubscriptionTree tree;
    tree.insert("t", 5, entry(QoS::AtMostOnce, 0, true));
    tree.insert("t", 6, entry(QoS::AtMostOnce, 0, true));
    Router router;
    RecordingSink sink;
    EXPECT_EQ(router.route(tree, message("t", QoS::AtMostOnce, false, 5), sink), 1U);
    ASSERT_EQ(sink.deliveries.size(), 1U);
    EXPECT_EQ(sink.deliveries[0].session, 6U);
}

TEST(Router, RetainFlagIsKeptOnlyWithRetainAsPublished) {
    // [MQTT-3.3.1-12/13]
    SubscriptionTree tree;
    tree.insert("t", 1, entry(QoS::AtMostOnce, 0, false, false));
    tree.insert("t", 2, entry(QoS::AtMostOnce, 0, false, true));
    Router router;
    RecordingSink sink;
    router.route(tree, message("t", QoS::AtMostOnce, true), sink);
    ASSERT_EQ(sink.deliveries.size(), 2U);
    EXPECT_FALSE(sink.deliveries[0].retain);
    EXPECT_TRUE(sink.deliveries[1].retain);
}

TEST(Router, SharedSubscriptionIsDeliveredOnItsOwnBesideTheSessionsOrdinaryOne) {
    SubscriptionTree tree;
    auto shared = entry(QoS::AtLeastOnce, 4);
    shared.share = std::make_shared<const std::string>("$share/g/t");
    tree.insert("$share/g/t", 3, shared);
    tree.insert("t", 3, entry(QoS::AtMostOnce, 5));
    Router router;
    RecordingSink sink;
    EXPECT_EQ(router.route(tree, message("t", QoS::AtLeastOnce), sink), 2U);
    ASSERT_EQ(sink.deliveries.size(), 2U);
    int shared_seen = 0;
    for (const auto& d : sink.deliveries) {
        EXPECT_EQ(d.session, 3U);
        if (d.shared) {
            ++shared_seen;
            EXPECT_EQ(d.ids, (std::vector<std::uint32_t>{4}));
            EXPECT_EQ(d.qos, QoS::AtLeastOnce);
        } else {
            EXPECT_EQ(d.ids, (std::vector<std::uint32_t>{5}));
        }
    }
    EXPECT_EQ(shared_seen, 1);
}

TEST(Router, NothingMatchedTouchesNoSink) {
    SubscriptionTree tree;
    tree.insert("x", 1, entry(QoS::AtMostOnce));
    Router router;
    RecordingSink sink;
    EXPECT_EQ(router.route(tree, message("y", QoS::AtMostOnce), sink), 0U);
    EXPECT_EQ(sink.matched, 0U);
    EXPECT_TRUE(sink.deliveries.empty());
}

// ---- Outbound books ----

Outgoing outgoing(QoS qos, std::uint64_t seq = 0, std::size_t payload = 10) {
    auto m = std::make_shared<Message>();
    m->topic = "t";
    m->payload.resize(payload);
    m->qos = qos;
    m->seal();
    Outgoing o{m, qos, false, {}, {}};
    o.seq = seq;
    return o;
}

TEST(Outbound, PacketIdsAreHandedOutInSequenceAndSkipThoseInFlight) {
    // [MQTT-2.2.1-3]: never an identifier an unacknowledged message still holds.
    Session s;
    EXPECT_EQ(next_packet_id(s), 1);
    EXPECT_EQ(next_packet_id(s), 2);
    Session t;
    t.next_packet_id = 65534;
    auto held = outgoing(QoS::AtLeastOnce);
    held.packet_id = 1;
    t.inflight.push_back(held);
    EXPECT_EQ(next_packet_id(t), 65534);
    EXPECT_EQ(next_packet_id(t), 65535);
    EXPECT_EQ(next_packet_id(t), 2);  // wraps to 1, which is in flight
}

TEST(Outbound, QueueKeepsItsByteCount) {
    Session s;
    push_queued(s, outgoing(QoS::AtLeastOnce));
    push_queued_front(s, outgoing(QoS::AtLeastOnce, 0, 100));
    const auto both = s.queued_bytes;
    EXPECT_GT(both, 110U);
    const Outgoing first = pop_queued(s);
    EXPECT_EQ(first.message->payload.size(), 100U);
    EXPECT_EQ(s.queued_bytes, both - message_size(*first.message));
    (void)pop_queued(s);
    EXPECT_EQ(s.queued_bytes, 0U);
}

TEST(Outbound, QueueIsFullByCountOrBytesIncludingWhatIsSpilled) {
    config::Limits limits;
    limits.max_queued_messages = 2;
    limits.max_queued_bytes = 1'000'000;
    Session s;
    push_queued(s, outgoing(QoS::AtLeastOnce));
    EXPECT_FALSE(queue_full(s, 10, limits));
    s.spilled = 1;
    EXPECT_TRUE(queue_full(s, 10, limits));
    s.spilled = 0;
    limits.max_queued_bytes = s.queued_bytes + 5;
    EXPECT_TRUE(queue_full(s, 10, limits));
    EXPECT_FALSE(queue_full(s, 5, limits));
}

TEST(Outbound, SpilledMessagesAreCountedIntoOneRunPerWriterWorker) {
    Session s;
    count_spilled(s, outgoing(QoS::AtLeastOnce, make_seq(10, 1)));
    count_spilled(s, outgoing(QoS::AtLeastOnce, make_seq(11, 1)));
    count_spilled(s, outgoing(QoS::AtLeastOnce, make_seq(12, 2)));
    ASSERT_EQ(s.spill.size(), 2U);
    EXPECT_EQ(s.spill[0].worker, 1U);
    EXPECT_EQ(s.spill[0].count, 2U);
    EXPECT_EQ(s.spill[0].from, make_seq(10, 1));
    EXPECT_EQ(s.spill[0].to, make_seq(11, 1));
    EXPECT_EQ(s.spill[1].count, 1U);
    EXPECT_EQ(s.spilled, 3U);
    EXPECT_EQ(s.spilled_bytes, s.spill[0].bytes + s.spill[1].bytes);
}

TEST(Outbound, ShrinkingTheWindowQueuesTheNewestFirstButKeepsWhatIsPastPubrec) {
    // [MQTT-3.3.4-9]
    Session s;
    for (std::uint16_t id = 1; id <= 3; ++id) {
        auto o = outgoing(QoS::ExactlyOnce);
        o.packet_id = id;
        o.pubrec = id == 3;  // the newest is past PUBREC: only its PUBREL is resent, it stays
        s.inflight.push_back(o);
    }
    shrink_window(s, 1);
    ASSERT_EQ(s.inflight.size(), 1U);
    EXPECT_EQ(s.inflight.begin()->packet_id, 3);
    ASSERT_EQ(s.queue.size(), 2U);
    for (const auto& o : s.queue) EXPECT_EQ(o.packet_id, 0);  // identifiers are given again when sent
    EXPECT_GT(s.queued_bytes, 0U);
}

// ---- TimingWheel ----

TimePoint at(std::chrono::milliseconds ms) { return TimePoint{} + 1h + ms; }

TEST(TimingWheel, RunsWhatIsDueOnlyOnceItIsDue) {
    TimingWheel wheel;
    std::int64_t due_a = kNoTick;
    std::int64_t due_b = kNoTick;
    wheel.schedule(1, due_a, at(1000ms));
    wheel.schedule(2, due_b, at(5000ms));
    std::vector<ConnectionId> seen;
    auto visit = [&](ConnectionId id, std::int64_t) { seen.push_back(id); };
    wheel.run(at(750ms), visit);
    EXPECT_TRUE(seen.empty());
    wheel.run(at(1000ms), visit);
    EXPECT_EQ(seen, (std::vector<ConnectionId>{1}));
    wheel.run(at(6000ms), visit);
    EXPECT_EQ(seen, (std::vector<ConnectionId>{1, 2}));
}

TEST(TimingWheel, OnlyAnEarlierDeadlineAddsAnEntry) {
    TimingWheel wheel;
    std::int64_t due = kNoTick;
    wheel.schedule(1, due, at(5000ms));
    const auto first = due;
    wheel.schedule(1, due, at(9000ms));  // later: the live entry looks again when it comes due
    EXPECT_EQ(due, first);
    EXPECT_EQ(wheel.entries(), 1U);
    wheel.schedule(1, due, at(1000ms));
    EXPECT_LT(due, first);
    EXPECT_EQ(wheel.entries(), 2U);  // the superseded one is dropped by the caller when it comes due
}

TEST(TimingWheel, DeadlinesMoreThanOneRoundAwayWaitForTheirRound) {
    TimingWheel wheel;
    std::int64_t due = kNoTick;
    const auto round = kWheelTick * static_cast<int>(TimingWheel::kSlots);
    wheel.schedule(1, due, at(round + 500ms));
    std::vector<ConnectionId> seen;
    wheel.run(at(500ms), [&](ConnectionId id, std::int64_t) { seen.push_back(id); });
    EXPECT_TRUE(seen.empty());
    wheel.run(at(round + 500ms), [&](ConnectionId id, std::int64_t tick) {
        seen.push_back(id);
        EXPECT_EQ(tick, due);
    });
    EXPECT_EQ(seen, (std::vector<ConnectionId>{1}));
}

// ---- CONNACK ----

TEST(Connack, ThreeXCarriesOnlySessionPresent) {
    const auto cfg = config::default_config();
    ConnackTerms terms;
    terms.session_present = true;
    const auto ack = accepted_connack(cfg, ProtocolVersion::V3_1_1, terms);
    EXPECT_TRUE(ack.session_present);
    EXPECT_FALSE(ack.properties.receive_maximum.has_value());
}

TEST(Connack, FiveAnnouncesLimitsAndAssignedIdentifier) {
    auto cfg = config::default_config();
    cfg.features.maximum_qos = 1;
    ConnackTerms terms;
    terms.assigned_client_id = "moth-1";
    terms.server_keep_alive = 30;
    const auto ack = accepted_connack(cfg, ProtocolVersion::V5, terms);
    const auto& p = ack.properties;
    EXPECT_EQ(p.receive_maximum, cfg.limits.receive_maximum);
    EXPECT_EQ(p.maximum_qos, 1);
    EXPECT_EQ(p.assigned_client_identifier, std::optional<std::string_view>("moth-1"));  // [MQTT-3.2.2-16]
    EXPECT_EQ(p.server_keep_alive, 30);
    EXPECT_FALSE(p.session_expiry_interval.has_value());
}

TEST(Connack, ShrinksToTheClientsMaximumPacketSize) {
    // [MQTT-3.1.2-24]
    const auto cfg = config::default_config();
    ConnackTerms terms;
    terms.assigned_client_id = "a-rather-long-assigned-client-identifier";
    auto ack = accepted_connack(cfg, ProtocolVersion::V5, terms);
    const auto full = *codec::encoded_size(codec::Packet(ack), ProtocolVersion::V5);
    const std::uint32_t max = static_cast<std::uint32_t>(full - 4);
    fit_connack(ack, ProtocolVersion::V5, max);
    EXPECT_LE(*codec::encoded_size(codec::Packet(ack), ProtocolVersion::V5), max);
    EXPECT_TRUE(ack.properties.assigned_client_identifier.has_value()) << "shed what means the same first";
    fit_connack(ack, ProtocolVersion::V5, 5);
    EXPECT_EQ(*codec::encoded_size(codec::Packet(ack), ProtocolVersion::V5), 5U);
}

// ---- $SYS ----

std::map<std::string, std::string> as_map(const std::vector<std::pair<std::string, std::string>>& v) {
    return {v.begin(), v.end()};
}

TEST(SysTopics, TotalsAddTheStoredBaseAndLoadFollowsTheRate) {
    SysTopics sys;
    SysInputs in;
    in.totals.connections = 2;
    in.totals.sessions = 5;
    in.totals.publish_received = 0;
    in.base.publish_received = 100;
    in.version = "1.2.3";
    auto first = as_map(sys.update(in, at(0ms)));
    EXPECT_EQ(first["$SYS/broker/version"], "mothd 1.2.3");
    EXPECT_EQ(first["$SYS/broker/clients/disconnected"], "3");
    EXPECT_EQ(first["$SYS/broker/publish/messages/received"], "100");
    EXPECT_EQ(first["$SYS/broker/load/publish/received/1min"], "0.00");
    in.totals.publish_received = 600;  // 600 in 60 s: 600 a minute
    auto second = as_map(sys.update(in, at(60'000ms)));
    EXPECT_EQ(second["$SYS/broker/publish/messages/received"], "700");
    EXPECT_EQ(second["$SYS/broker/load/publish/received/1min"], "379.27");  // 600 * (1 - e^-1)
    EXPECT_EQ(SysTopics::persisted(in).publish_received, 700U);
}

}  // namespace
}  // namespace moth::broker
