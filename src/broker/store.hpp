#pragma once
// Durable broker state: what the core persists and how it is laid out as keys and values. Interfaces only: the
// committer thread is store::GroupCommitStore (src/store/group_commit.hpp), the backends are in src/store.
//
// Layers:
//   StoreBackend   a synchronous key/value store, called on the committer thread only (memory map, RocksDB).
//   Store          what the core sees: commit(batch, done) never blocks; `done` runs on the committer thread
//                  once the batch is durable (or failed), and the core posts itself back with Host::post.
//
// The key layout (docs/architecture.md, "Durable state") is built by the StoreBatch helpers and read back by
// load_state(); messages inside records use broker/message_codec.hpp. No RocksDB header is needed here or in the
// core.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "broker/message.hpp"
#include "broker/message_codec.hpp"
#include "config/durability.hpp"
#include "limits/ban_list.hpp"

namespace moth::broker {

// The modes of [storage] durability; GroupCommitStore runs sync and batched (memory needs no store).
using Durability = config::Durability;

struct StoreOp {
    // Forget and ForgetPrefix erase like Erase and ErasePrefix, here only: a cluster's copy of the session
    // (SessionReplica) keeps what they erase (a session that moved to another node).
    enum class Kind : std::uint8_t { Put, Erase, ErasePrefix, Forget, ForgetPrefix };
    Kind kind = Kind::Put;
    std::string key;
    std::string value;  // Put only
};

// A synchronous key/value backend. write() applies all batches atomically (all or nothing) and, with `sync`,
// returns only once they are on stable storage. Called from one thread at a time.
class StoreBackend {
public:
    virtual ~StoreBackend() = default;
    [[nodiscard]] virtual bool write(const std::vector<const std::vector<StoreOp>*>& batches, bool sync) = 0;
    // Every key/value in key order (start-up only). Throws StoreCorrupt when the data cannot be read.
    virtual void scan(const std::function<void(std::string_view key, std::string_view value)>& fn) = 0;
    // The keys in [start, end), in key order, until `fn` returns false. The bound matters: RocksDB then stops
    // at it instead of stepping over the deletion markers past it. The default walks scan() from the start.
    virtual void scan_from(std::string_view start, std::string_view end,
                           const std::function<bool(std::string_view key, std::string_view value)>& fn) {
        bool more = true;
        scan([&](std::string_view k, std::string_view v) {
            if (more && k >= start && k < end) more = fn(k, v);
        });
    }
    // Why the last write failed (for the log).
    [[nodiscard]] virtual std::string last_error() const { return {}; }
    // Where the store is (its directory), for messages; empty when it has no such name (memory).
    [[nodiscard]] virtual std::string where() const { return {}; }
};

class StoreCorrupt : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// The layout version this build reads and writes, kept in the store's "v" record. 1: the layout of the first
// releases (which wrote no record). A change to any record's key or value that an older build would misread
// raises it (and load_state learns to read the older one, or says it cannot).
// 1: the first layout. 2: a session record ends with its client's identity (anonymous, or a user name) for the
// authorizer after a restart; a format 1 record without it is read as anonymous. 3: ban records ("b"), which a
// format 2 build would take for damage. 4: cluster message ids applied ("x"), for the bus to know them again after a
// restart (docs/cluster.md).
inline constexpr std::uint32_t kStoreFormatVersion = 4;

// A store written by a newer build (its format version above kStoreFormatVersion). Not StoreCorrupt: nothing is
// damaged, so it must never be moved aside; the operator runs a newer mothd instead.
class StoreFormatTooNew : public std::runtime_error {
public:
    // `where`: the store's path, or empty.
    StoreFormatTooNew(std::string_view where, std::uint32_t found, std::uint32_t supported);
    [[nodiscard]] std::uint32_t found() const { return found_; }
    [[nodiscard]] std::uint32_t supported() const { return supported_; }

private:
    std::uint32_t found_;
    std::uint32_t supported_;
};

// A persisted delivery's key: a counter shared by all workers in the high bits, the worker that wrote it in
// the low kSeqWorkerBits (workers are at most 1024).
inline constexpr unsigned kSeqWorkerBits = 16;
[[nodiscard]] constexpr std::uint64_t make_seq(std::uint64_t counter, unsigned worker) {
    return (counter << kSeqWorkerBits) | worker;
}
[[nodiscard]] constexpr std::uint32_t seq_worker(std::uint64_t seq) {
    return static_cast<std::uint32_t>(seq & ((std::uint64_t{1} << kSeqWorkerBits) - 1));
}
inline constexpr std::uint32_t kAnySeqWorker = 0xFFFFFFFF;  // a read_deliveries filter that takes every worker
// The counter to start from when the largest seq in the store is `max_seq` (0: none).
[[nodiscard]] constexpr std::uint64_t next_seq_counter(std::uint64_t max_seq) {
    return (max_seq >> kSeqWorkerBits) + 1;
}

// Which deliveries of a client read_deliveries returns: seqs in [from, to] written by `worker` (seq_worker),
// or by any worker (kAnySeqWorker); at most `max` of them, in seq order.
struct DeliveryRange {
    std::uint64_t from = 0;
    std::uint64_t to = 0;
    std::uint32_t worker = kAnySeqWorker;
    std::size_t max = 0;
};

struct StoredDelivery;

// The asynchronous store the core uses. Thread-safe.
class Store {
public:
    using Done = std::function<void(bool ok)>;
    // ok and up to `max` deliveries in seq order (QoS 2 marks applied); not ok when the store cannot be read.
    using Loaded = std::function<void(bool ok, std::vector<StoredDelivery> deliveries)>;
    virtual ~Store() = default;
    // Queues the batch. `done` (may be empty) runs on the store's thread once the batch is durable (ok) or its
    // write failed (not ok: nothing of it is stored). Batches are applied in the order they were queued.
    virtual void commit(std::vector<StoreOp> batch, Done done) = 0;
    // True when acknowledgements must wait for `done` (sync); false when writes trail behind (batched).
    [[nodiscard]] virtual bool acks_wait() const = 0;
    // Reads the deliveries of `client_id` in `range`, after every batch queued before this call is written (so
    // what a worker has queued is there). `done` runs on the store's thread, never on the caller's; not ok when
    // the read fails or the store is closed.
    virtual void read_deliveries(std::string client_id, DeliveryRange range, Loaded done) = 0;
};

// ---- Records -------------------------------------------------------------------------------------------------

struct StoredSubscription {
    std::string filter;  // as subscribed, "$share/<group>/..." included
    std::uint8_t qos = 0;
    bool no_local = false;
    bool retain_as_published = false;
    std::uint8_t retain_handling = 0;
    std::uint32_t identifier = 0;
};

struct StoredSession {
    std::string client_id;
    std::uint8_t version = 5;  // protocol level
    std::uint32_t expiry_s = 0;
    std::vector<StoredSubscription> subscriptions;
    // Its client's identity as the last CONNECT gave it (format 2): nullopt for anonymous (or a format 1 record).
    std::optional<std::string> username;
};

// One message queued (or in flight) for a session.
struct StoredDelivery {
    std::uint64_t seq = 0;
    MessagePtr message;
    std::uint8_t qos = 1;
    bool retain = false;
    std::vector<std::uint32_t> subscription_ids;
    std::string share;  // "$share/<group>/<filter>" or empty
    // From the "p" mark: QoS 2 after PUBREC (the PUBREL is resent with this packet id).
    std::uint16_t packet_id = 0;
    bool pubrec = false;
};

struct StoredWillRecord {
    MessagePtr message;
    std::uint32_t delay_s = 0;
    std::optional<std::uint32_t> expiry_s;
    std::int64_t due_unix_ms = 0;
};

struct RestoredSession {
    StoredSession session;
    std::vector<StoredDelivery> deliveries;  // in seq order: those past PUBREC, and the queue's first `cache`
    // The rest of the queue, left in the store (load_state's `cache`): how many, their size, the first and
    // the last seq (records past PUBREC in that range are in `deliveries` too).
    std::uint64_t spilled = 0;
    std::uint64_t spilled_bytes = 0;
    std::uint64_t spill_from = 0;
    std::uint64_t spill_to = 0;
    std::vector<std::uint16_t> incoming_qos2;
    std::optional<StoredWillRecord> will;
};

// Counters that $SYS reports as totals since the broker was first started.
struct StoredTotals {
    std::uint64_t messages_received = 0, messages_sent = 0, publish_received = 0, publish_sent = 0,
                  messages_dropped = 0, bytes_received = 0, bytes_sent = 0;
};

// What load_state found of the format version record.
enum class FormatRecord : std::uint8_t {
    Present,       // written at an earlier start
    AddedToEmpty,  // a new store: load_state wrote the record
    AddedToOld,    // records but no version: written by a Moth before the record (format 1); load_state wrote it
    Upgraded,      // an older format version: readable, and from now on written as kStoreFormatVersion
};

struct RestoredState {
    FormatRecord format = FormatRecord::Present;
    std::vector<RestoredSession> sessions;
    std::vector<MessagePtr> retained;
    StoredTotals totals;
    std::uint64_t next_seq = 1;
    std::vector<limits::Ban> bans;  // those of the API and of flapping detection (format 3), expired ones included
    std::size_t orphans = 0;  // records of sessions that no longer exist (removed while loading)
    // Cluster deliveries stored here whose acknowledgement to JetStream may not have left before the stop: their ids
    // (ClusterDelivery::id), so that a redelivery is a duplicate (ClusterBus::seen). Those older than
    // kAppliedKeep are dropped (and erased) by load_state.
    std::vector<std::string> cluster_applied;
};

// How long an "x" record (a cluster message id applied) is worth keeping: JetStream redelivers within its ack wait.
inline constexpr std::chrono::minutes kAppliedKeep{10};

// Reads the deliveries of one client in `range`, with their QoS 2 marks. Throws StoreCorrupt as load_state.
[[nodiscard]] std::vector<StoredDelivery> read_deliveries(StoreBackend& backend, std::string_view client_id,
                                                          const DeliveryRange& range, TimePoint now);

// Reads the whole store. Throws StoreCorrupt naming the key when a value cannot be decoded, and
// StoreFormatTooNew (before reading anything else) when a newer build wrote it. A store without a format version
// record gets one (RestoredState::format). Records of a session that no longer exists are erased from the backend
// and counted; that and the version record are one write.
// Of each session's queue only the first `cache` messages (and all those past PUBREC) are kept in memory; the
// others are counted (RestoredSession::spilled) and read back later.
[[nodiscard]] RestoredState load_state(StoreBackend& backend, TimePoint now,
                                       std::size_t cache = static_cast<std::size_t>(-1));

// A client record's key taken apart (for the cluster's copy of sessions): its tag ('s' session, 'w' will, 'q'
// delivery, 'p' QoS 2 mark, 'i' inbound QoS 2 state), its client id and what follows the U+0000 after the id (q
// and p: the seq, i: the packet id, big-endian). `prefix`: a key without a suffix for a tag that has one (the key
// ErasePrefix gives for all of that tag); s and w never have one.
struct ClientKey {
    char tag = 0;
    std::string_view client_id;
    std::string_view suffix;
    bool prefix = false;
};
// nullopt for every other key (retained, totals, bans, format, "x").
[[nodiscard]] std::optional<ClientKey> parse_client_key(std::string_view key);
// The key parse_client_key took apart (a suffix or `prefix` only for q, p and i).
[[nodiscard]] std::string make_client_key(const ClientKey& k);
// The "x" record of a cluster message id applied (StoreBatch::put_applied) and back: nullopt for other keys.
[[nodiscard]] std::string applied_key(std::string_view id);
[[nodiscard]] std::optional<std::string_view> parse_applied_key(std::string_view key);

// Builds batches in the key layout.
class StoreBatch {
public:
    // `now`: the time of the event that writes the batch (message expiry is stored as Unix milliseconds).
    explicit StoreBatch(TimePoint now) : now_(now) {}

    void put_session(const StoredSession& s);
    void erase_session(std::string_view client_id);  // and everything else kept for it
    // As erase_session, on this node only (Forget ops): the session goes on on another node of the cluster.
    void forget_session(std::string_view client_id);
    void put_delivery(std::string_view client_id, const StoredDelivery& d);
    void mark_delivery(std::string_view client_id, std::uint64_t seq, std::uint16_t packet_id, bool pubrec);
    void erase_delivery(std::string_view client_id, std::uint64_t seq);
    void put_incoming(std::string_view client_id, std::uint16_t packet_id);
    void erase_incoming(std::string_view client_id, std::uint16_t packet_id);
    void put_will(std::string_view client_id, const StoredWillRecord& w);
    void erase_will(std::string_view client_id);
    void put_retained(const Message& m);
    void erase_retained(std::string_view topic);
    void put_totals(const StoredTotals& t);
    // A ban of the API or of flapping detection (config bans come from the config file each start).
    void put_ban(const limits::Ban& ban);
    void erase_ban(limits::Ban::Kind kind, std::string_view value);
    // The "v" record. load_state writes it; tests write other versions.
    void put_format_version(std::uint32_t version);
    // A message from the cluster whose deliveries this batch stores: its id, with the time (Unix ms), until its
    // acknowledgement to JetStream has left (then erase_applied).
    void put_applied(std::string_view id);
    void erase_applied(std::string_view id);

    [[nodiscard]] bool empty() const { return ops_.empty(); }
    [[nodiscard]] std::vector<StoreOp> take() { return std::exchange(ops_, {}); }

private:
    TimePoint now_;
    std::vector<StoreOp> ops_;
};

}  // namespace moth::broker
