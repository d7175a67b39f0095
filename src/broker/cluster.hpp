#pragma once
// The cluster bus (docs/cluster.md): what the broker core needs from the other nodes of a Moth cluster, beside the
// store's interface. Interfaces only: the implementation on NATS JetStream is src/cluster/nats (the only place that
// includes libnats); apps/mothd picks it when [cluster] is enabled. Without a cluster there is no bus at all.
//
// Thread affinity: every member function of ClusterBus may be called from any thread (the workers call it); it never
// blocks (work that waits on NATS runs on the bus's own threads). `Done` callbacks and ClusterEvents run on the bus's
// threads: whoever receives them posts the work to a worker (Host::post), never touching a core directly.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "broker/message.hpp"
#include "broker/store.hpp"

namespace moth::broker {

// A message from another node (or, for a shared subscription, possibly from this node: a NATS queue group picks
// one member node per message, this one included).
struct ClusterDelivery {
    MessagePtr message;  // decoded; qos and retain as the publisher sent them
    // "$share/<group>/<filter>" when it came through that shared subscription's queue group: deliver it to one
    // local member of that group only. Null: deliver it to the plain (non-shared) subscriptions only.
    std::shared_ptr<const std::string> share;
    // Called once, with true when the message is routed locally (and stored for persistent sessions), with false
    // when it could not be (it is then redelivered later). Null for messages that need no acknowledgement (QoS 0).
    std::function<void(bool routed)> ack;
    // Its identity on this node (message id and path), kept in the store with the deliveries it made until the
    // acknowledgement left, and given back to ClusterBus::seen() after a restart; "" when it has none.
    std::string id;
    // Through a persistent session's own consumer (ClusterBus::attach): for that client's session only, this node's
    // own messages included. Empty for every other path.
    std::string client;
};

// One client's records in the store's key layout (StoreBackend keys and values: its s, q, p, i and w records), in
// key order.
using SessionRecords = std::vector<std::pair<std::string, std::string>>;

// The cluster's copy of persistent sessions (docs/cluster.md, "Sessions and take-over"). The store's committer thread
// hands it every group of batches before writing them locally, so that acknowledged means stored cluster-wide.
class SessionReplica {
public:
    virtual ~SessionReplica() = default;
    // Blocks until JetStream confirmed what it replicated (true), or not within ack_timeout_ms (false: the group
    // fails as a whole, nothing of it is written locally either). Replicates, in order: Put, Erase and ErasePrefix
    // of the client records (keys tagged s, q, p, i, w; bridges' "$bridge/..." clients excepted; erasing an "s" key
    // erases everything of that client, its owner mark included; putting one marks this node as its owner) and of
    // the "x" keys whose id starts with '@' (deliveries of a session's own consumer). Everything else, and every
    // Forget/ForgetPrefix, is this node's own: skipped. True at once when there is nothing to replicate.
    [[nodiscard]] virtual bool write(const std::vector<const std::vector<StoreOp>*>& batches) = 0;
};

// What the bus reports; called from the bus's threads.
class ClusterEvents {
public:
    virtual ~ClusterEvents() = default;
    virtual void on_message(ClusterDelivery d) = 0;
    // The cluster-wide retained message of `topic` changed: `m` is the new one, null when it was cleared. Updates
    // come in the order the cluster stored them, this node's own included (the last one stored wins everywhere).
    virtual void on_retained(std::string topic, MessagePtr m) = 0;
    // Node `by_node` accepted a connection of `client_id` at `at_unix_ms`: end this node's connection of that client
    // (5.0: DISCONNECT 0x8E Session taken over), with the will rules of a take-over on one node, unless this node's
    // connection is the later one (ClusterBus::claim).
    // `release` is non-null when `by_node` waits for this node to let go of the client's persistent session (the
    // cluster's copy names this node as its owner, ClusterBus::take): call it once, with true after this node ended
    // its copy (Forget, not erased) and every record it wrote of it is durable, or with false when it keeps it (its
    // connection is the later one). It may be called from any thread.
    virtual void on_takeover(std::string client_id, std::string by_node, std::int64_t at_unix_ms,
                             std::function<void(bool released)> release) = 0;
    // The link to NATS went down or came back (logged, shown by the API and $SYS).
    virtual void on_link(bool up, std::string detail) = 0;
};

// What a node tells the others about itself, periodically (the API's node list, $SYS cluster totals).
struct NodeReport {
    std::string node;
    std::string version;
    std::int64_t started_unix_ms = 0;
    std::uint64_t connections = 0, sessions = 0, subscriptions = 0;
    std::uint64_t messages_received = 0, messages_sent = 0;
    std::uint64_t retained = 0;
};

struct ClusterNodeInfo {
    NodeReport report;
    bool self = false;
    bool alive = false;                  // heard from within three report intervals
    std::int64_t last_seen_unix_ms = 0;  // when its last report arrived
};

struct ClusterStatus {
    std::string node;
    bool connected = false;
    std::string server;  // the NATS server URL connected to (or tried last)
    std::string last_error;
    std::uint64_t published = 0;       // messages this node sent to the bus
    std::uint64_t received = 0;        // messages the bus delivered to this node (duplicates not counted)
    std::uint64_t duplicates = 0;      // deliveries dropped as already seen (overlapping filters, redeliveries)
    std::uint64_t publish_failures = 0;  // QoS 1/2 messages JetStream did not confirm (the publisher got an error)
    std::uint64_t reconnects = 0;
    std::uint64_t interests = 0;       // distinct filters this node holds on NATS
    std::vector<ClusterNodeInfo> nodes;  // every node heard of, this one included, by name
};

class ClusterBus {
public:
    using Done = std::function<void(bool ok)>;  // runs on a bus thread
    virtual ~ClusterBus() = default;

    [[nodiscard]] virtual const std::string& node() const = 0;
    // Starts the link (connects, creates or binds the streams, starts delivering events). Before the workers
    // start accepting connections. Throws std::runtime_error when the cluster cannot be joined at all (bad URL,
    // JetStream unavailable after the connect timeout): mothd then exits with that message.
    virtual void start(ClusterEvents& events) = 0;
    // Stops delivering events and closes the link; pending `Done` callbacks run with false. Idempotent.
    virtual void stop() = 0;

    // A message published on this node (a client, a will, the API) for the other nodes. QoS 0: sent at most once,
    // `done` (may be null) runs once it is handed to NATS. QoS 1 and 2: `done(true)` once JetStream stored it
    // (replicated as configured, deduplicated by its message id); `done(false)` when it did not within the ack
    // timeout. A retained message (m->retain) also updates the cluster-wide retained value of its topic (an empty
    // payload clears it) before `done`. Messages are stored in the order published from one thread.
    virtual void publish(const MessagePtr& m, Done done) = 0;
    // This node's interest, reference-counted per filter and QoS: `filter` as subscribed ("a/+/b", or
    // "$share/<group>/a/+/b" for a shared subscription), `qos` the granted QoS (QoS 0 interest takes QoS 1/2
    // messages at most once; QoS 1/2 interest takes them through a durable JetStream consumer). `done(true)` once
    // messages for it reach this node. Every subscribe is matched by one unsubscribe with the same filter and QoS.
    virtual void subscribe(const std::string& filter, codec::QoS qos, Done done) = 0;
    virtual void unsubscribe(const std::string& filter, codec::QoS qos) = 0;
    // A client connected to this node at `at_unix_ms`: the others end their connection of it
    // (ClusterEvents::on_takeover). Claims cross on the wire, so of two connections of one client the later one
    // stays (then the greater node name): a claim older than a node's own connection is ignored there, and both
    // nodes decide alike. `done(true)` once the request left (NATS flushed it).
    virtual void claim(const std::string& client_id, std::int64_t at_unix_ms, Done done) = 0;
    // A CONNECT of `client_id` (not a bridge) whose session this node does not hold, before its CONNACK. Claims the
    // client as claim() does; when the cluster's copy names another node as the owner of its persistent session,
    // asks that node to let go (ClusterEvents::on_takeover with `release`) and waits for its answer, for NATS' "no
    // responders" (that node is gone), or for ack_timeout_ms (logged). Then, with `want_records` (no Clean Start),
    // reads the session's records from the cluster's copy (and the ids its consumers' deliveries applied, for
    // attach); without, erases the client's records there. `done(ok, records)`: records empty when the cluster had
    // none; ok false when the cluster could not be asked (link down): the CONNECT is refused (server unavailable).
    using Taken = std::function<void(bool ok, SessionRecords records)>;
    virtual void take(const std::string& client_id, std::int64_t at_unix_ms, bool want_records, Taken done) = 0;
    // A persistent session's own interest in a plain `filter` granted QoS 1 or 2: durable consumers named after the
    // client, filter and subject, created if new (deliver new messages) or bound if they exist (they kept what
    // arrived meanwhile, also while no node held the session). Deleted by JetStream after `expiry_s` without a node
    // bound (0xFFFFFFFF: never). Its deliveries carry ClusterDelivery::client; a redelivery of one applied before a
    // take-over (its "x" record in the cluster's copy) is a duplicate. `done(true)` once bound.
    virtual void attach(const std::string& client_id, const std::string& filter, std::uint32_t expiry_s,
                        Done done) = 0;
    // Unbinds them; `remove`: deletes the consumers (the subscription or the session ended), else keeps them for
    // the session's next owner (a take-over, a stop). Deliveries not yet acknowledged come again to the next binder.
    virtual void detach(const std::string& client_id, const std::string& filter, bool remove) = 0;
    // Start-up, blocking, after start(): of `client_ids` (the persistent sessions restored from this node's store),
    // those that the cluster's copy names another node as the owner of (they moved while this node was down).
    [[nodiscard]] virtual std::vector<std::string> not_owned(const std::vector<std::string>& client_ids) = 0;
    // The cluster's copy of persistent sessions, for the store's committer (null: none, as in unit tests' fakes).
    [[nodiscard]] virtual SessionReplica* replica() { return nullptr; }
    // Start-up, before any interest: messages this node stored and may not have acknowledged before it stopped
    // (RestoredState::cluster_applied). Their redeliveries are duplicates: acknowledged, not delivered.
    virtual void seen(const std::vector<std::string>& ids) = 0;
    // This node's figures, sent to the others (and kept as this node's entry) at once.
    virtual void report(const NodeReport& r) = 0;
    [[nodiscard]] virtual ClusterStatus status() const = 0;
};

}  // namespace moth::broker
