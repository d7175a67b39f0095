// The core with a store: acknowledgements wait for the store's completion in sync mode, what needs no disk
// does not touch it, a failed write acknowledges nothing, and restored sessions resend as the spec requires.
// The store is a fake that keeps each batch and its completion until the test completes it.
#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "broker/core.hpp"
#include "codec/decoder.hpp"
#include "codec/encoder.hpp"
#include "durable_fixture.hpp"

namespace moth::broker {
namespace {

using namespace std::chrono_literals;
using codec::ProtocolVersion;
using codec::QoS;
using codec::ReasonCode;

using test::FakeHost;
using test::FakeStore;
using test::Peer;

using test::DurableCoreTest;

// Sync: the SUBACK of a persistent session and the PUBACK of a message queued for it are sent only after the
// store has completed the write that holds them; the subscriber gets the message only then too.
TEST_F(DurableCoreTest, PubackWaitsForTheStoreCommit) {
    Peer sub = connect("sub", false, 3600);
    received(sub);  // CONNACK
    complete();
    subscribe(sub, "t/#", QoS::AtLeastOnce);
    EXPECT_TRUE(received(sub).empty()) << "SUBACK before the subscription is stored";
    complete();
    ASSERT_EQ(only<codec::Suback>(received(sub)).size(), 1U);

    Peer pub = connect("pub", true, 0);
    received(pub);
    publish(pub, "t/a", QoS::AtLeastOnce, 7);
    EXPECT_TRUE(received(pub).empty()) << "PUBACK before the message is stored";
    EXPECT_TRUE(received(sub).empty()) << "delivered before it is stored";
    EXPECT_TRUE(store_.pending_key_starts_with('q'));  // queued for the persistent session
    complete();
    auto acks = only<codec::Puback>(received(pub));
    ASSERT_EQ(acks.size(), 1U);
    EXPECT_EQ(acks[0].packet_id, 7);
    EXPECT_EQ(acks[0].reason, ReasonCode::Success);
    auto msgs = only<codec::Publish>(received(sub));
    ASSERT_EQ(msgs.size(), 1U);
    EXPECT_EQ(msgs[0].topic, "t/a");

    // The subscriber's PUBACK removes the record (no one waits for that write).
    codec::Puback back;
    back.packet_id = msgs[0].packet_id;
    send(sub, back);
    ASSERT_FALSE(store_.pending.empty());
    EXPECT_EQ(store_.pending.back().ops.front().kind, StoreOp::Kind::Erase);
}

// Messages to clean sessions only, and QoS 0, need no disk: acknowledged at once, nothing written.
TEST_F(DurableCoreTest, CleanSessionsAndQos0DoNotTouchTheStore) {
    Peer sub = connect("clean-sub", true, 0);
    subscribe(sub, "t/#", QoS::AtLeastOnce);
    ASSERT_EQ(only<codec::Suback>(received(sub)).size(), 1U);
    Peer pub = connect("pub", true, 0);
    received(pub);
    publish(pub, "t/a", QoS::AtLeastOnce, 1);
    publish(pub, "t/b", QoS::AtMostOnce, 0);
    EXPECT_EQ(only<codec::Puback>(received(pub)).size(), 1U);
    EXPECT_EQ(only<codec::Publish>(received(sub)).size(), 2U);
    EXPECT_TRUE(store_.pending.empty());
    EXPECT_TRUE(store_.keys.empty());
}

// A failed write: nothing delivered, and a 5.0 publisher hears 0x80 instead of success.
TEST_F(DurableCoreTest, FailedWriteAcknowledgesNothing) {
    Peer pub = connect("pub", true, 0);
    received(pub);
    publish(pub, "r/x", QoS::AtLeastOnce, 3, true);  // retained: must be stored
    complete(false);
    auto acks = only<codec::Puback>(received(pub));
    ASSERT_EQ(acks.size(), 1U);
    EXPECT_EQ(acks[0].reason, ReasonCode::UnspecifiedError);
    Peer late = connect("late", true, 0);
    subscribe(late, "r/#", QoS::AtLeastOnce);
    EXPECT_TRUE(only<codec::Publish>(received(late)).empty()) << "retained although its write failed";
    // The same message stored: retained.
    publish(pub, "r/x", QoS::AtLeastOnce, 4, true);
    complete();
    Peer later = connect("later", true, 0);
    subscribe(later, "r/#", QoS::AtLeastOnce);
    EXPECT_EQ(only<codec::Publish>(received(later)).size(), 1U);
}

// QoS 2 from a persistent session: PUBREC after the receive state is stored, PUBCOMP after it is removed, so a
// crash at any point neither delivers twice nor takes a new message for a duplicate.
TEST_F(DurableCoreTest, Qos2ReceiveStateIsStoredBeforePubrecAndRemovedBeforePubcomp) {
    Peer pub = connect("pub2", false, 3600);
    received(pub);
    complete();
    publish(pub, "t/q2", QoS::ExactlyOnce, 9);
    EXPECT_TRUE(received(pub).empty());
    EXPECT_TRUE(store_.pending_key_starts_with('i'));
    complete();
    ASSERT_EQ(only<codec::Pubrec>(received(pub)).size(), 1U);
    codec::Pubrel rel;
    rel.packet_id = 9;
    send(pub, rel);
    EXPECT_TRUE(received(pub).empty()) << "PUBCOMP before the receive state is gone from the store";
    complete();
    auto comps = only<codec::Pubcomp>(received(pub));
    ASSERT_EQ(comps.size(), 1U);
    EXPECT_EQ(comps[0].reason, ReasonCode::Success);
}

// A persistent 5.0 session as the store restores it, subscribed to `filter` at QoS 2.
RestoredSession restored_session(const std::string& client_id, const std::string& filter) {
    RestoredSession rs;
    rs.session.client_id = client_id;
    rs.session.version = 5;
    rs.session.expiry_s = 3600;
    rs.session.subscriptions.push_back({filter, 2, false, false, 0, 0});
    return rs;
}

std::shared_ptr<Message> qos2_message(const std::string& topic) {
    auto m = std::make_shared<Message>();
    m->topic = topic;
    m->qos = QoS::ExactlyOnce;
    return m;
}

// A restored session [MQTT-4.4.0-1]: a QoS 2 message past PUBREC gets its PUBREL again (same packet id), a
// queued message is sent with DUP set because it may have been sent before the restart [MQTT-3.3.1-1].
TEST_F(DurableCoreTest, RestoredSessionResendsPubrelAndDupPublish) {
    RestoredSession rs = restored_session("back", "x/#");
    auto m = qos2_message("x/1");
    StoredDelivery done;
    done.seq = 1;
    done.message = m;
    done.qos = 2;
    done.packet_id = 77;
    done.pubrec = true;
    StoredDelivery queued;
    queued.seq = 2;
    queued.message = m;
    queued.qos = 1;
    rs.deliveries = {done, queued};
    rs.incoming_qos2 = {5};
    auto subs = core_->restore(rs, now_);
    ASSERT_EQ(subs.size(), 1U);
    EXPECT_EQ(subs[0].second.owner->client_id, "back");

    Peer p = connect("back", false, 3600);
    auto got = received(p);
    ASSERT_FALSE(got.empty());
    EXPECT_TRUE(std::get<codec::Connack>(got[0]).session_present);
    auto rels = only<codec::Pubrel>(got);
    ASSERT_EQ(rels.size(), 1U);
    EXPECT_EQ(rels[0].packet_id, 77);
    auto pubs = only<codec::Publish>(got);
    ASSERT_EQ(pubs.size(), 1U);
    EXPECT_TRUE(pubs[0].dup);
    EXPECT_EQ(pubs[0].qos, QoS::AtLeastOnce);
    // The restored receive state: a resent QoS 2 PUBLISH with packet id 5 is a duplicate, not routed again.
    Peer watcher = connect("watcher", true, 0);
    subscribe(watcher, "x/#", QoS::AtLeastOnce);
    received(watcher);
    publish(p, "x/dup", QoS::ExactlyOnce, 5);
    complete();
    EXPECT_EQ(only<codec::Pubrec>(received(p)).size(), 1U);
    EXPECT_TRUE(only<codec::Publish>(received(watcher)).empty());
    // And the restored subscription routes new messages to the session.
    Peer pub = connect("pub", true, 0);
    publish(pub, "x/new", QoS::AtLeastOnce, 1);
    complete();
    EXPECT_EQ(only<codec::Publish>(received(p)).size(), 1U);
}

// [MQTT-4.4.0-1]: a QoS 2 PUBLISH sent but not acknowledged before a crash is resent after the restart with its
// original packet identifier (and DUP), so a client holding it for PUBREL does not take it for a new message.
TEST_F(DurableCoreTest, Qos2PublishKeepsItsPacketIdentifierAcrossARestart) {
    Peer sub = connect("sub", false, 3600);
    subscribe(sub, "x/#", QoS::ExactlyOnce);
    complete();
    received(sub);
    Peer pub = connect("pub", true, 0);
    publish(pub, "x/1", QoS::AtLeastOnce, 1);  // QoS 1 for contrast: its identifier is not stored
    publish(pub, "x/2", QoS::ExactlyOnce, 2);
    complete();
    complete();  // the marks written after sending
    const auto pubs = only<codec::Publish>(received(sub));
    ASSERT_EQ(pubs.size(), 2U);
    ASSERT_EQ(pubs[1].qos, QoS::ExactlyOnce);
    const auto pid = pubs[1].packet_id;
    // No PUBACK or PUBREC: the broker "crashes". What the store holds is what a restart restores.
    auto state = load_state(store_.backend, now_);
    ASSERT_EQ(state.sessions.size(), 1U);
    auto& rs = state.sessions[0];
    ASSERT_EQ(rs.deliveries.size(), 2U);
    EXPECT_EQ(rs.deliveries[0].packet_id, 0);
    EXPECT_EQ(rs.deliveries[1].packet_id, pid);
    EXPECT_FALSE(rs.deliveries[1].pubrec);

    core_ = std::make_unique<Core>(0, shared_, host_);
    (void)core_->restore(rs, now_);
    Peer again = connect("sub", false, 3600);
    const auto resent = only<codec::Publish>(received(again));
    ASSERT_EQ(resent.size(), 2U);
    EXPECT_EQ(resent[0].topic, "x/2");  // resent in flight first, then the queued one
    EXPECT_EQ(resent[0].packet_id, pid);
    EXPECT_TRUE(resent[0].dup);
    EXPECT_EQ(resent[1].topic, "x/1");
    EXPECT_NE(resent[1].packet_id, pid);  // a fresh identifier may not collide with the one in flight
    EXPECT_TRUE(resent[1].dup);
    // The flow goes on with that identifier: PUBREC -> PUBREL -> PUBCOMP.
    codec::Pubrec rec;
    rec.packet_id = pid;
    send(again, rec);
    complete();
    const auto rels = only<codec::Pubrel>(received(again));
    ASSERT_EQ(rels.size(), 1U);
    EXPECT_EQ(rels[0].packet_id, pid);
}

// Issue 15: a QoS 2 PUBLISH goes out only once its packet identifier is stored (sync). Before, the identifier was
// written after the send, not waited for: a crash within that write resent the message after the restart under
// a new identifier, which a client that delivers on PUBLISH (holding the identifier until PUBREL) delivers twice.
TEST_F(DurableCoreTest, Qos2PublishIsSentOnlyOnceItsPacketIdentifierIsStored) {
    Peer sub = connect("sub", false, 3600);
    subscribe(sub, "x/#", QoS::ExactlyOnce);
    complete();
    received(sub);
    Peer pub = connect("pub", true, 0);
    // Two messages acknowledged first, so that the next identifier is not the one a fresh session starts with.
    for (std::uint16_t i = 1; i <= 2; ++i) {
        publish(pub, "x/old", QoS::AtLeastOnce, i);
        complete();
        complete();
        for (const auto& m : only<codec::Publish>(received(sub))) {
            codec::Puback a;
            a.packet_id = m.packet_id;
            send(sub, a);
        }
    }
    publish(pub, "x/2", QoS::ExactlyOnce, 3);
    complete();  // the message and its delivery record are stored: PUBREC; the identifier's write is queued
    EXPECT_EQ(only<codec::Pubrec>(received(pub)).size(), 1U);
    const auto early = only<codec::Publish>(received(sub));
    EXPECT_TRUE(early.empty()) << "QoS 2 PUBLISH sent before its packet identifier is stored";
    // The broker crashes before that write: the restored message goes out under whatever identifier it gets, and
    // must not be one the client was already given for it.
    crash_and_restore();
    Peer again = connect("sub", false, 3600);
    const auto resent = only<codec::Publish>(received(again));
    ASSERT_EQ(resent.size(), 0U) << "sent before its identifier is stored";  // it waits for the write now
    complete();
    const auto now_sent = only<codec::Publish>(received(again));
    ASSERT_EQ(now_sent.size(), 1U);
    EXPECT_EQ(now_sent[0].topic, "x/2");
    EXPECT_TRUE(now_sent[0].dup);  // it may have been sent before the restart (it was not, here)
    for (const auto& m : early) EXPECT_EQ(m.packet_id, now_sent[0].packet_id) << "resent under a new identifier";
    const auto pid = now_sent[0].packet_id;
    // Sent now, so stored: another crash resends it with this identifier.
    crash_and_restore();
    Peer third = connect("sub", false, 3600);
    const auto third_got = only<codec::Publish>(received(third));
    ASSERT_EQ(third_got.size(), 1U);
    EXPECT_EQ(third_got[0].packet_id, pid);
    EXPECT_TRUE(third_got[0].dup);
}

// Messages after a QoS 2 PUBLISH waiting for its identifier's write wait behind it (order), and go out in order
// once it is stored; a QoS 1 message alone is not held.
TEST_F(DurableCoreTest, MessagesAfterAHeldQos2PublishKeepTheirOrder) {
    Peer sub = connect("sub", false, 3600);
    subscribe(sub, "x/#", QoS::ExactlyOnce);
    complete();
    received(sub);
    Peer pub = connect("pub", true, 0);
    publish(pub, "x/a", QoS::AtLeastOnce, 1);
    complete();
    EXPECT_EQ(only<codec::Publish>(received(sub)).size(), 1U) << "QoS 1 needs no stored identifier";
    publish(pub, "x/b", QoS::ExactlyOnce, 2);
    publish(pub, "x/c", QoS::AtLeastOnce, 3);
    publish(pub, "x/d", QoS::ExactlyOnce, 4);
    complete();  // b, c, d stored and delivered into the window; b's and d's identifiers queued
    EXPECT_TRUE(only<codec::Publish>(received(sub)).empty());
    complete();
    std::vector<std::string> topics;
    for (const auto& m : only<codec::Publish>(received(sub))) topics.emplace_back(m.topic);
    EXPECT_EQ(topics, (std::vector<std::string>{"x/b", "x/c", "x/d"}));
}

// Issue 15: after PUBREC the PUBREL waits for the store to know the PUBREC (a crash then resends the PUBREL,
// never the PUBLISH). A reconnect within that write resent the PUBREL at once: the client delivered the message
// on it, and a crash before the write made the restarted broker send the PUBLISH again, delivered again.
TEST_F(DurableCoreTest, ReconnectDoesNotResendPubrelBeforeThePubrecIsStored) {
    Peer sub = connect("sub", false, 3600, ProtocolVersion::V3_1_1);
    subscribe(sub, "x/#", QoS::ExactlyOnce);
    complete();
    received(sub);
    Peer pub = connect("pub", true, 0);
    publish(pub, "x/1", QoS::ExactlyOnce, 1);
    complete();
    complete();
    const auto got = only<codec::Publish>(received(sub));
    ASSERT_EQ(got.size(), 1U);
    codec::Pubrec rec;
    rec.packet_id = got[0].packet_id;
    send(sub, rec);
    EXPECT_TRUE(only<codec::Pubrel>(received(sub)).empty());
    core_->on_closed(sub.id, now_);  // the connection drops; the client comes back at once
    Peer again = connect("sub", false, 3600, ProtocolVersion::V3_1_1);
    auto on_reconnect = received(again);
    EXPECT_TRUE(only<codec::Pubrel>(on_reconnect).empty()) << "PUBREL before the PUBREC is stored";
    EXPECT_TRUE(only<codec::Publish>(on_reconnect).empty());
    complete();  // stored: the PUBREL goes to the connection the session has now
    const auto rels = only<codec::Pubrel>(received(again));
    ASSERT_EQ(rels.size(), 1U);
    EXPECT_EQ(rels[0].packet_id, got[0].packet_id);
}

// Issue 15: a QoS 2 PUBLISH resent on a new connection while the first copy's write is under way is a duplicate
// (the receive state counts from the PUBLISH, not from the write's completion): routed once, and its PUBREC too
// waits for the store.
TEST_F(DurableCoreTest, Qos2PublishResentWhileItsWriteIsUnderWayIsRoutedOnce) {
    Peer sub = connect("sub", false, 3600);
    subscribe(sub, "x/#", QoS::AtLeastOnce);
    complete();
    received(sub);
    Peer pub = connect("pub", false, 3600);
    complete();
    received(pub);
    publish(pub, "x/1", QoS::ExactlyOnce, 5);
    core_->on_closed(pub.id, now_);  // gone before its PUBREC
    Peer pub2 = connect("pub", false, 3600);
    received(pub2);
    publish(pub2, "x/1", QoS::ExactlyOnce, 5);  // the client's resend (DUP in real life)
    EXPECT_TRUE(only<codec::Pubrec>(received(pub2)).empty()) << "PUBREC before the receive state is stored";
    complete();
    complete();
    EXPECT_EQ(only<codec::Pubrec>(received(pub2)).size(), 1U);
    EXPECT_EQ(only<codec::Publish>(received(sub)).size(), 1U) << "a resent QoS 2 PUBLISH routed twice";
}

// Issue 15 (found by the crash test with churning subscribers): a message restored in flight (its QoS 2 identifier
// stored) inside the range of the queue left in the store was queued again by that range's read-back when its
// acknowledgement came between the read and its result: the client got it a second time, under a new identifier.
TEST_F(DurableCoreTest, RestoredInFlightMessageIsNotReadBackAgainOnceAcknowledged) {
    StoreBatch b{Clock::now()};
    StoredSession st;
    st.client_id = "sub";
    st.expiry_s = 3600;
    st.subscriptions.push_back({"x/#", 2, false, false, 0, 0});
    b.put_session(st);
    for (std::uint64_t seq = 1; seq <= 3; ++seq) {
        StoredDelivery d;
        d.seq = seq;
        d.message = qos2_message("x/" + std::to_string(seq));
        d.qos = seq == 2 ? 2 : 1;
        b.put_delivery("sub", d);
    }
    b.mark_delivery("sub", 2, 7, true);  // x/2: past PUBREC under identifier 7, between two queued messages
    auto ops = b.take();
    ASSERT_TRUE(store_.backend.write({&ops}, true));
    auto state = load_state(store_.backend, now_, 0);  // nothing queued in memory: x/1 and x/3 are read back
    ASSERT_EQ(state.sessions.size(), 1U);
    ASSERT_EQ(state.sessions[0].spilled, 2U);
    (void)core_->restore(state.sessions[0], now_);

    Peer p = connect("sub", false, 3600);
    const auto rels = only<codec::Pubrel>(received(p));
    ASSERT_EQ(rels.size(), 1U);
    EXPECT_EQ(rels[0].packet_id, 7);
    // The read-back is queued; the PUBCOMP comes before its result (its erase is queued after the read).
    codec::Pubcomp comp;
    comp.packet_id = 7;
    send(p, comp);
    complete();
    std::vector<std::string> topics;
    for (const auto& m : only<codec::Publish>(received(p))) topics.emplace_back(m.topic);
    EXPECT_EQ(topics, (std::vector<std::string>{"x/1", "x/3"})) << "x/2 sent again after its PUBCOMP";
}

// Bounded offline queues: with storage.queue_cache_messages = 10, 500 messages queued for an offline session keep
// at most 10 of them in memory (the rest only in the store); on reconnect all 500 arrive, in order, without DUP
// (none was sent before), read back through the store as the inflight window drains.
class BoundedQueueTest : public DurableCoreTest {
protected:
    explicit BoundedQueueTest(bool wait = true) : DurableCoreTest(wait) {
        auto cfg = config::default_config();
        cfg.storage.queue_cache_messages = kCache;
        cfg.limits.max_inflight = 7;
        core_->reconfigure(cfg);
    }
    static constexpr std::size_t kCache = 10;
    static constexpr std::size_t kMessages = 500;

    SessionInfo info(const std::string& client_id) {
        SnapshotQuery q;
        q.sessions = true;
        q.client_id = client_id;
        auto snap = core_->snapshot(q, now_);
        EXPECT_EQ(snap.sessions.size(), 1U);
        return snap.sessions.empty() ? SessionInfo{} : snap.sessions[0];
    }

    void run() {
        Peer sub = connect("sub", false, 3600);
        subscribe(sub, "q/#", QoS::AtLeastOnce);
        complete();
        received(sub);
        core_->on_closed(sub.id, now_);
        Peer pub = connect("pub", true, 0);
        for (std::size_t i = 0; i < kMessages; ++i) {
            publish(pub, "q/" + std::to_string(i), QoS::AtLeastOnce, static_cast<std::uint16_t>(i % 60000 + 1));
            if (i % 7 == 0) complete();  // several messages per write too
            const auto in = info("sub");
            ASSERT_LE(in.queued_in_memory, kCache);
        }
        complete();
        auto before = info("sub");
        EXPECT_EQ(before.queued, kMessages);
        EXPECT_EQ(before.queued_in_memory, kCache);
        EXPECT_EQ(store_.reads, 0U);  // nothing read back while offline

        Peer again = connect("sub", false, 3600);
        std::vector<std::string> topics;
        for (int round = 0; round < 10000 && topics.size() < kMessages; ++round) {
            auto pubs = only<codec::Publish>(received(again));
            for (const auto& p : pubs) {
                EXPECT_FALSE(p.dup) << p.topic;  // never sent before: no DUP [MQTT-3.3.1-1]
                topics.emplace_back(p.topic);
                codec::Puback ack;
                ack.packet_id = p.packet_id;
                send(again, ack);
            }
            const auto in = info("sub");
            EXPECT_LE(in.queued_in_memory, kCache);
            complete();  // the store's thread: writes, then reads; their results come back to the core
        }
        ASSERT_EQ(topics.size(), kMessages);
        for (std::size_t i = 0; i < kMessages; ++i) ASSERT_EQ(topics[i], "q/" + std::to_string(i));
        EXPECT_GT(store_.reads, kMessages / kCache - 1);
        const auto after = info("sub");
        EXPECT_EQ(after.queued, 0U);
        EXPECT_EQ(after.inflight, 0U);
    }
};

TEST_F(BoundedQueueTest, OfflineQueueKeepsOnlyTheCacheInMemoryAndDeliversAllInOrder) {
    run();
}

// Another worker's messages for a spilled session are in the store before they reach the session's core (the
// writer queues the record, then posts the delivery). A read-back must not take them early: when they arrive
// they would be queued twice, or overtake messages of their own publisher still on the way. Here "worker 1"
// writes 40 records interleaved in seq order with worker 0's own 40, and delivers them only while the
// subscriber is draining its queue; every message must arrive once, each publisher's in order.
TEST_F(BoundedQueueTest, RecordsOfAnotherWorkerAreReadBackOnlyAfterTheyArrive) {
    Peer sub = connect("sub", false, 3600);
    subscribe(sub, "q/#", QoS::AtLeastOnce);
    complete();
    received(sub);
    core_->on_closed(sub.id, now_);
    const SessionId sid = core_->session_id("sub");
    Peer pub = connect("pub", true, 0);
    std::vector<Core::RemoteDelivery> remote;
    constexpr int kEach = 40;
    for (int i = 0; i < kEach; ++i) {
        publish(pub, "q/a/" + std::to_string(i), QoS::AtLeastOnce, static_cast<std::uint16_t>(i + 1));
        // Worker 1's message i: stored now (after worker 0's message i), delivered later.
        auto m = std::make_shared<Message>();
        m->topic = "q/b/" + std::to_string(i);
        m->qos = QoS::AtLeastOnce;
        StoredDelivery d;
        d.seq = make_seq(shared_.next_seq.fetch_add(1), 1);
        d.message = m;
        d.qos = 1;
        StoreBatch b{Clock::now()};
        b.put_delivery("sub", d);
        store_.commit(b.take(), {});
        remote.push_back({m, sid, QoS::AtLeastOnce, false, {}, nullptr, d.seq});
    }
    complete();
    EXPECT_EQ(info("sub").queued, static_cast<std::size_t>(kEach));  // worker 1's have not arrived

    Peer again = connect("sub", false, 3600);
    std::vector<std::string> topics;
    std::size_t arrived = 0;
    for (int round = 0; round < 10000 && topics.size() < 2 * kEach; ++round) {
        // Worker 1's deliveries trickle in, five per round, while the queue is read back.
        std::vector<Core::RemoteDelivery> batch;
        for (int k = 0; k < 5 && arrived < remote.size(); ++k) batch.push_back(remote[arrived++]);
        if (!batch.empty()) core_->deliver_batch(batch, now_);
        for (const auto& p : only<codec::Publish>(received(again))) {
            topics.emplace_back(p.topic);
            codec::Puback ack;
            ack.packet_id = p.packet_id;
            send(again, ack);
        }
        EXPECT_LE(info("sub").queued_in_memory, kCache);
        complete();
    }
    ASSERT_EQ(topics.size(), 2U * kEach);
    int next_a = 0, next_b = 0;
    for (const auto& topic : topics) {
        if (topic.starts_with("q/a/")) {
            EXPECT_EQ(topic, "q/a/" + std::to_string(next_a++));
        } else {
            EXPECT_EQ(topic, "q/b/" + std::to_string(next_b++));
        }
    }
    EXPECT_EQ(next_a, kEach);
    EXPECT_EQ(next_b, kEach);
    EXPECT_EQ(info("sub").queued, 0U);
}

class BoundedQueueBatchedTest : public BoundedQueueTest {
protected:
    BoundedQueueBatchedTest() : BoundedQueueTest(false) {}
};

TEST_F(BoundedQueueBatchedTest, OfflineQueueKeepsOnlyTheCacheInMemoryAndDeliversAllInOrder) {
    run();
}

// A restored session keeps the packet identifiers of its QoS 2 messages past PUBREC: messages sent after the
// restart get others, never one the client still holds [MQTT-2.2.1-3].
TEST_F(DurableCoreTest, RestoredPacketIdentifiersAreNotReused) {
    RestoredSession rs = restored_session("ids", "y/#");
    auto m = qos2_message("y/1");
    std::uint64_t seq = 0;
    for (const std::uint16_t id : std::vector<std::uint16_t>{1, 2, 4, 65535}) {
        StoredDelivery d;
        d.seq = ++seq;
        d.message = m;
        d.qos = 2;
        d.packet_id = id;
        d.pubrec = true;
        rs.deliveries.push_back(d);
    }
    for (int i = 0; i < 3; ++i) {
        StoredDelivery d;
        d.seq = ++seq;
        d.message = m;
        d.qos = 1;
        rs.deliveries.push_back(d);
    }
    core_->restore(rs, now_);

    Peer p = connect("ids", false, 3600);
    auto got = received(p);
    std::vector<std::uint16_t> rels;
    for (const auto& r : only<codec::Pubrel>(got)) rels.push_back(r.packet_id);
    EXPECT_EQ(rels, (std::vector<std::uint16_t>{1, 2, 4, 65535}));
    std::vector<std::uint16_t> pubs;
    for (const auto& pub : only<codec::Publish>(got)) pubs.push_back(pub.packet_id);
    EXPECT_EQ(pubs, (std::vector<std::uint16_t>{3, 5, 6}));
}

class BatchedCoreTest : public DurableCoreTest {
protected:
    BatchedCoreTest() : DurableCoreTest(false) {}
};

// Batched: written in the background, acknowledged at once.
TEST_F(BatchedCoreTest, AcknowledgesWithoutWaitingButStillWrites) {
    Peer sub = connect("sub", false, 3600);
    subscribe(sub, "t/#", QoS::AtLeastOnce);
    EXPECT_EQ(only<codec::Suback>(received(sub)).size(), 1U);
    Peer pub = connect("pub", true, 0);
    received(pub);
    publish(pub, "t/a", QoS::AtLeastOnce, 7);
    EXPECT_EQ(only<codec::Puback>(received(pub)).size(), 1U);
    EXPECT_EQ(only<codec::Publish>(received(sub)).size(), 1U);
    EXPECT_TRUE(store_.pending_key_starts_with('q'));
}

}  // namespace
}  // namespace moth::broker
