#pragma once
// A session as its owning worker keeps it: subscriptions, the messages in flight and queued, QoS 2 receive state,
// a pending will. Sessions outlive connections. SessionTag and SubscriptionEntry are what other workers see of it
// (in their subscription trees).
//
// Thread affinity: Session on its owning worker only; SessionTag as its members say.
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "broker/identity.hpp"
#include "broker/ids.hpp"
#include "broker/lazy_container.hpp"
#include "broker/lazy_deque.hpp"
#include "broker/message.hpp"
#include "broker/retained_stream.hpp"
#include "broker/store.hpp"
#include "codec/types.hpp"

namespace moth::broker {

inline constexpr std::uint32_t kNeverExpires = 0xFFFFFFFF;

// Identifies a session to the workers that route to it: its client id (the store's key) and whether its
// messages must be persisted (session expiry above zero). Shared by the session's entries in every tree.
// It also carries the session's Identity, so that a check on any worker (a read ACL while routing) knows who the
// subscriber is, connected or not.
struct SessionTag {
    explicit SessionTag(std::string id)
        : client_id(std::move(id)), identity_(initial_identity(client_id)), serial_(identity_.load()->serial) {}
    const std::string client_id;
    std::atomic<bool> durable{false};  // written by the owning worker, read by any publisher's worker

    // Any worker's thread.
    [[nodiscard]] IdentityPtr identity() const { return identity_.load(std::memory_order_acquire); }
    // identity()->serial without loading the shared pointer (which takes a lock): the key of cached decisions. Right
    // after a new CONNECT it may still name the previous identity for a moment.
    [[nodiscard]] std::uint64_t identity_serial() const { return serial_.load(std::memory_order_acquire); }
    // The owning worker, at CONNECT.
    void set_identity(IdentityPtr i) {
        const auto serial = i->serial;
        identity_.store(std::move(i), std::memory_order_release);
        serial_.store(serial, std::memory_order_release);
    }

private:
    static IdentityPtr initial_identity(const std::string& client_id) {
        auto i = std::make_shared<Identity>();
        i->client_id = client_id;
        return i;
    }
    std::atomic<IdentityPtr> identity_;
    std::atomic<std::uint64_t> serial_;
};

struct SubscriptionEntry {
    codec::SubscribeOptions options;
    std::shared_ptr<SessionTag> owner;  // null only in unit tests of the tree
    std::uint32_t subscription_id = 0;  // 0: none
    bool upgrade_qos0 = false;  // a bridge's queue_qos0: QoS 0 messages come at the subscription's QoS (stored)
    // For a shared membership, its "$share/<group>/<filter>": messages left unacknowledged when the member's
    // session ends go to another member of the group.
    std::shared_ptr<const std::string> share;
    // In a cluster: a persistent session's plain QoS 1/2 subscription, whose QoS 1/2 messages come through the
    // session's own consumer (ClusterBus::attach), this node's own included: routing skips it for them otherwise.
    bool cluster_own = false;
};


// One message on its way to one session: queued, or in the inflight window once it has a packet identifier.
struct Outgoing {
    MessagePtr message;
    codec::QoS qos;
    bool retain;
    std::vector<std::uint32_t> subscription_ids;
    std::shared_ptr<const std::string> share;  // delivered through this shared subscription
    std::uint16_t packet_id = 0;
    bool sent = false;         // sent at least once on some connection: redeliver with DUP
    bool pubrec = false;       // QoS 2: PUBREC received, PUBREL sent, awaiting PUBCOMP
    std::uint64_t seq = 0;     // its record in the store, 0: not persisted
    bool restored = false;     // loaded from the store: it may have been sent before the restart (DUP)
    // Sync mode: the PUBLISH is not sent before its QoS 2 packet identifier is stored (`marking` while that
    // write is under way), so that a restart resends it under the identifier the client may hold. `held`: in
    // the window with its identifier, not sent yet; it waits for its own mark or for one before it (held
    // messages are the window's tail, sent in order by release()).
    bool held = false;
    bool marking = false;
    // Sync mode: PUBREC received, the PUBREL waits for the store to know it (the mark is being written).
    bool releasing = false;
};
struct StoredWill {
    MessagePtr message;
    std::uint32_t delay_s = 0;
    std::optional<std::uint32_t> expiry_s;  // Message Expiry Interval, counted from publication
};
// A run of spilled messages: the session's records in the store with seqs in [from, to] written by one
// worker (seq_worker(seq) == worker), or by any worker for the run restored at start-up. A worker's
// deliveries reach the session in seq order and every one counted into a run is in the store, so the
// records in a run's range are exactly the messages counted into it: none can still be on its way.
struct SpillRun {
    std::uint64_t from = 0;  // first seq not read back yet
    std::uint64_t to = 0;    // last seq counted into the run
    std::uint32_t worker = kAnySeqWorker;
    std::uint64_t count = 0;
    std::uint64_t bytes = 0;
};
struct Session {
    SessionId id = 0;
    std::string client_id;
    codec::ProtocolVersion version = codec::ProtocolVersion::V5;
    ConnectionId connection = 0;  // 0 while offline
    std::uint32_t expiry_s = 0;   // 0: ends with the connection; 0xFFFFFFFF: never
    TimePoint offline_since{};
    std::int64_t claimed_at = 0;  // in a cluster: when its connection here was claimed (Unix ms; cluster.cpp)
    LazyContainer<std::map<std::string, SubscriptionEntry, std::less<>>> subscriptions;
    LazyDeque<Outgoing> inflight;  // sent, awaiting acknowledgement, in send order
    LazyDeque<Outgoing> queue;     // waiting for a slot in the inflight window or for a connection
    std::uint64_t queued_bytes = 0;
    // Bounded queues (sync/batched): past storage.queue_cache_messages a queued message stays in the store only;
    // the session keeps `spilled` messages of `spilled_bytes` as runs of seqs (SpillRun), all of them after
    // those in `queue`, read back run by run (Store::read_deliveries, `reading` while one is under way).
    std::vector<SpillRun> spill;
    std::uint64_t spilled = 0;
    std::uint64_t spilled_bytes = 0;
    bool reading = false;
    // Retained messages still to send for SUBSCRIBEs (oldest first), after the queue (pump_retained). In memory
    // only: a restart does not resume them (docs/architecture.md).
    std::vector<RetainedStream> retained;
    // Seqs restore() put in flight (QoS 2 marks) although the restored run's range covers them: never queued
    // again by its read-back, even once acknowledged (the read may have been taken before the erase).
    LazyContainer<std::unordered_set<std::uint64_t>> restored_in_flight;
    LazyContainer<std::unordered_set<std::uint16_t>> incoming_qos2;  // QoS 2 packet ids awaiting PUBREL
    std::uint16_t next_packet_id = 1;
    std::uint16_t free_packet_ids = 0;  // ids from next_packet_id on known to be unused; 0: scan inflight
    BoxedOptional<StoredWill> pending_will;  // will delayed after the connection was lost
    TimePoint will_due{};
    std::shared_ptr<SessionTag> tag;  // tag->durable: the session is in the store
};

}  // namespace moth::broker
