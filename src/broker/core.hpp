#pragma once
// The broker core of one worker: sessions, routing, QoS state, retained messages, wills, keepalive and
// $SYS, without any I/O. Each worker thread owns one Core; a client's session and its connection live on
// the worker chosen by a hash of the client identifier, so nothing here takes a lock except the shared
// retained-message index (written only by retained publishes and read on subscribe).
//
// Thread affinity: every member function runs on the owning worker's thread. Other workers reach a Core
// only through Host::post().
#include <array>
#include <atomic>
#include <climits>
#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "broker/auth.hpp"
#include "broker/ids.hpp"
#include "broker/lazy_deque.hpp"
#include "broker/lazy_container.hpp"
#include "broker/message.hpp"
#include "broker/retained_stream.hpp"
#include "broker/store.hpp"
#include "codec/decoder.hpp"
#include "codec/encoder.hpp"
#include "config/config.hpp"
#include "topic/retained_index.hpp"
#include "topic/subscription_tree.hpp"

namespace moth::broker {

class Core;

// What the core needs from the I/O layer. Called on the core's own thread only.
class Host {
public:
    virtual ~Host() = default;
    // Queues bytes for the connection; they are written, gathered, at the end of the loop turn. Returns false,
    // queueing nothing, when more than `limit` bytes are already waiting (a slow consumer) or there is no such
    // connection.
    virtual bool send(ConnectionId id, std::span<const std::byte> bytes,
                      std::size_t limit = std::numeric_limits<std::size_t>::max()) = 0;
    // The same for `size` bytes that the caller fills in, returned (a packet encoded in place, not copied), or
    // an empty span. The span is valid until the next call to the host.
    virtual std::span<std::byte> append(ConnectionId id, std::size_t size,
                                        std::size_t limit = std::numeric_limits<std::size_t>::max()) = 0;
    // Bytes queued for the connection and not yet written: the measure of a slow consumer.
    virtual std::size_t pending_bytes(ConnectionId id) const = 0;
    // Writes what is queued, then closes. No on_closed() follows for a connection the core closed.
    virtual void close(ConnectionId id) = 0;
    // The core will not take more of this connection's input for now (on_data returns what it consumed so far):
    // keep the rest and stop reading from the transport, so a client that keeps sending meets back-pressure.
    virtual void pause_input(ConnectionId id) = 0;
    // The core takes input again: feed it what was kept (on a later loop turn, not from inside this call), then
    // read on.
    virtual void resume_input(ConnectionId id) = 0;
    // Moves the connection to `worker`, which continues with `unread` as its first input. The core forgets it.
    virtual void hand_off(ConnectionId id, unsigned worker, std::span<const std::byte> unread) = 0;
    // Runs `fn` on `worker`'s thread with that worker's Core and the time it runs at (the core reads no clock).
    // The one call that may also come from another thread: the store's committer posts its completions
    // (Shared::store) back with it.
    virtual void post(unsigned worker, std::function<void(Core&, TimePoint now)> fn) = 0;
};

// Per-worker counters, written by their worker only and read by the $SYS publisher.
struct alignas(64) Stats {
    std::atomic<std::uint64_t> connections{0};  // open network connections with a session
    std::atomic<std::uint64_t> sessions{0};     // sessions owned, connected or not
    std::atomic<std::uint64_t> messages_received{0};
    std::atomic<std::uint64_t> messages_sent{0};
    std::atomic<std::uint64_t> messages_dropped{0};
    std::atomic<std::uint64_t> publish_received{0};
    std::atomic<std::uint64_t> publish_sent{0};
    std::atomic<std::uint64_t> bytes_received{0};
    std::atomic<std::uint64_t> bytes_sent{0};
    std::atomic<std::uint64_t> subscriptions{0};
    std::atomic<std::uint64_t> protocol_errors{0};
    std::atomic<std::uint64_t> connection_failures{0};  // a core call for a connection threw (server's guard)

    static void add(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) {
        c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
};

// State all workers share. Created by main before the workers start.
struct Shared {
    Shared(config::Config c, unsigned workers, TimePoint started_at);

    config::Config config;
    unsigned worker_count;
    TimePoint started;
    std::string version = "unknown";
    std::vector<std::unique_ptr<Stats>> stats;  // one per worker
    std::atomic<std::uint64_t> connection_count{0};

    std::mutex retained_mutex;
    topic::RetainedIndex<MessagePtr> retained;  // guarded by retained_mutex

    Authenticator* authenticator = nullptr;  // must be set; AllowAll by default in mothd
    // Durable state (null: durability "memory", nothing persisted). Set before the workers start.
    Store* store = nullptr;
    // Keys of persisted deliveries: make_seq(next_seq++, worker), increasing across all workers, with the
    // worker that wrote the record in the low bits (a session reads its spilled messages back per worker).
    std::atomic<std::uint64_t> next_seq{1};
    std::uint64_t first_seq = 1;  // make_seq(next_seq at start-up, 0): smaller seqs may have been sent before (DUP)
    StoredTotals totals_base;                // $SYS totals restored from the store
    // Log sink: level 0 debug, 1 info, 2 warning, 3 error. Called from worker threads.
    std::function<void(int level, const std::string& line)> log;
};

// Which listener a connection came in on, for the HTTP API: set by the I/O layer at on_open and carried along
// when the connection moves to another worker. Immutable and shared by every connection of the listener.
struct ListenerTag {
    std::string name;       // the listener's name ("mqtt-0")
    std::string transport;  // "mqtt", "mqtts", "ws", "wss", or "http" (MQTT over the http listener's WebSocket)
};

// ---- Introspection and administration (the HTTP API). Plain copies, safe to hand to another thread. ----

struct ClientInfo {
    std::string client_id;
    std::string username;  // empty when the CONNECT had none
    std::string address;   // "ip:port"
    std::string listener;
    std::string transport;
    unsigned protocol_version = 4;             // the CONNECT's protocol level: 3, 4 or 5
    std::chrono::nanoseconds connected_for{};  // since the CONNECT was accepted, as of the call's `now`
    std::uint16_t keepalive_s = 0;
    bool clean_start = false;
    std::size_t subscriptions = 0;
    std::size_t inflight = 0;
    std::size_t queued = 0;
};

struct SessionInfo {
    std::string client_id;
    bool connected = false;
    std::uint32_t expiry_interval_s = 0;  // 0xFFFFFFFF: never
    std::size_t subscriptions = 0;
    std::size_t inflight = 0;
    std::size_t queued = 0;
    std::size_t queued_in_memory = 0;  // of `queued`: the rest is in the store only (storage.queue_cache_messages)
};

struct SubscriptionInfo {
    std::string client_id;
    std::string filter;        // without "$share/<group>/"
    std::string shared_group;  // empty when not shared
    std::uint8_t qos = 0;      // granted
    bool no_local = false;
    bool retain_as_published = false;
    std::uint8_t retain_handling = 0;
    std::uint32_t identifier = 0;  // 0: none
};

// What one worker's core holds, for the API to merge across workers.
struct CoreSnapshot {
    std::vector<ClientInfo> clients;
    std::vector<SessionInfo> sessions;
    std::vector<SubscriptionInfo> subscriptions;
    std::unordered_map<std::string, std::size_t> connections_by_listener;  // open connections (MQTT) per listener
};

// What the snapshot should include (subscriptions can be many; the others are one entry per client).
struct SnapshotQuery {
    bool clients = false;
    bool sessions = false;
    bool subscriptions = false;
    bool listeners = false;
    std::optional<std::string> client_id;  // only this client's entries
};

// A message the broker publishes itself (the HTTP API's publish): no session, no No Local origin.
struct BrokerPublish {
    std::string topic;  // a valid topic name, not starting with '$'; checked by the caller
    std::vector<std::byte> payload;
    codec::QoS qos = codec::QoS::AtMostOnce;
    bool retain = false;
    std::optional<std::string> content_type;
    std::vector<std::pair<std::string, std::string>> user_properties;
};

// Identifies a session to the workers that route to it: its client id (the store's key) and whether its
// messages must be persisted (session expiry above zero). Shared by the session's entries in every tree.
struct SessionTag {
    explicit SessionTag(std::string id) : client_id(std::move(id)) {}
    const std::string client_id;
    std::atomic<bool> durable{false};  // written by the owning worker, read by any publisher's worker
};

struct SubscriptionEntry {
    codec::SubscribeOptions options;
    std::shared_ptr<SessionTag> owner;  // null only in unit tests of the tree
    std::uint32_t subscription_id = 0;  // 0: none
    // For a shared membership, its "$share/<group>/<filter>": messages left unacknowledged when the member's
    // session ends go to another member of the group.
    std::shared_ptr<const std::string> share;
};

class Core {
public:
    Core(unsigned index, Shared& shared, Host& host);
    ~Core();
    Core(const Core&) = delete;
    Core& operator=(const Core&) = delete;

    [[nodiscard]] unsigned index() const { return index_; }

    // A new network connection (or one handed over by another worker). `remote` is the peer's address as the
    // transport knows it (behind a proxy: the address the PROXY header or X-Forwarded-For named). `tag` names its
    // listener (may be null). `transport_username`, when set, is the identity the transport established (the
    // subject CN of a verified client certificate, listener option use_cn_as_username): it replaces the User Name of
    // the CONNECT for the authenticator and the logs, as mosquitto's use_identity_as_username does.
    void on_open(ConnectionId id, std::string remote, TimePoint now, std::shared_ptr<const ListenerTag> tag = nullptr,
                 std::optional<std::string> transport_username = std::nullopt);
    // Input bytes; returns how many were consumed (the rest is kept by the caller until more arrive).
    std::size_t on_data(ConnectionId id, std::span<const std::byte> data, TimePoint now);
    // The connection's queued output has drained below the limit: resume sending queued messages.
    void on_drained(ConnectionId id, TimePoint now);
    // The peer closed the connection or it failed.
    void on_closed(ConnectionId id, TimePoint now);
    // Periodic work: keepalive, will delays, session and message expiry, $SYS (worker 0).
    void on_tick(TimePoint now);
    // End of a loop turn: posts the batched deliveries for other workers.
    void flush();
    // Graceful shutdown: closes every connection (v5: DISCONNECT 0x8B Server shutting down).
    void shutdown();

    // Cross-worker entry points (run via Host::post on this core's thread).
    struct RemoteDelivery {
        MessagePtr message;
        SessionId session;
        codec::QoS qos;
        bool retain;
        std::vector<std::uint32_t> subscription_ids;
        std::shared_ptr<const std::string> share;
        std::uint64_t seq = 0;  // its record in the store, 0: not persisted
    };
    void deliver_batch(std::vector<RemoteDelivery>& batch, TimePoint now);
    void apply_subscribe(const std::string& filter, SessionId session, SubscriptionEntry entry);
    void apply_unsubscribe(const std::string& filter, SessionId session);
    // SIGHUP: new limits and features apply to new connections and new packets from now on.
    void reconfigure(const config::Config& c) { cfg_ = c; }
    // Start-up, before the workers run: recreates a session from the store (offline, its queue and inflight
    // messages, QoS 2 receive state, pending will) and returns its subscriptions for the other workers' trees.
    std::vector<std::pair<std::string, SubscriptionEntry>> restore(RestoredSession& rs, TimePoint now);
    [[nodiscard]] SessionId session_id(std::string_view client_id) const;

    [[nodiscard]] std::size_t connection_count() const { return connections_.size(); }
    // What connection `id` was opened with (on_open's `remote` and `tag`), for the I/O layer to carry along when
    // it hands the connection to another worker (Host::hand_off, before the core forgets it). False: unknown id.
    bool origin(ConnectionId id, std::string& remote, std::shared_ptr<const ListenerTag>& tag) const;
    // The client id of connection `id`'s session; nullopt before its CONNECT is accepted, or for an unknown id.
    [[nodiscard]] std::optional<std::string> client_id_of(ConnectionId id) const;

    // ---- Introspection and administration for the HTTP API (on this core's thread, like everything else) ----
    // Copies of what this core holds (sessions live on their client id's worker, so no two cores report the
    // same client). `now` gives ClientInfo::connected_for.
    [[nodiscard]] CoreSnapshot snapshot(const SnapshotQuery& query, TimePoint now) const;
    // Disconnects the connected client `client_id` as an administrative action: a 5.0 client first gets
    // DISCONNECT 0x98 Administrative action; the will is published as for any server-side close; the session
    // stays as its expiry says. Returns false when no such client is connected to this core.
    bool disconnect_client(std::string_view client_id, TimePoint now);
    // Why a message from the broker itself (the HTTP API) is refused by the checks a client's PUBLISH gets (topic
    // levels, maximum QoS, retain available, UTF-8, maximum packet size); nullopt when it may go.
    [[nodiscard]] std::optional<std::string> refuse_publish(const BrokerPublish& p) const;
    // Publishes a message from the broker itself (retained when asked), routed like a client's PUBLISH.
    // Returns the number of subscriptions matched. Call refuse_publish() first.
    std::size_t publish(const BrokerPublish& p, TimePoint now);

private:
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
    struct Connection {
        // Pointer-sized and larger members first, then the small ones packed together at the end.
        ConnectionId id = 0;
        std::string remote;
        Session* session = nullptr;
        std::shared_ptr<const ListenerTag> tag;  // may be null (unit tests)
        std::string username;                    // from the CONNECT, for the API
        TimePoint connected_at{};                // when the CONNECT was accepted
        TimePoint opened{};
        TimePoint last_rx{};
        std::int64_t due_tick = kNoTick;  // the wheel entry that is live for this connection (see wheel_)
        LazyContainer<std::unordered_map<std::uint16_t, std::string>> aliases_in;
        LazyContainer<std::unordered_map<std::string, std::uint16_t>> aliases_out;
        BoxedOptional<StoredWill> will;
        // What the core's shared decoder (decoder_) needs of this connection: the version its CONNECT gave, and the
        // maximum packet size in force when it opened.
        std::uint32_t max_packet_in = 0;
        std::optional<codec::ProtocolVersion> decoder_version;
        enum class State : std::uint8_t { AwaitConnect, Authenticating, Connected, Closed } state = State::AwaitConnect;
        codec::ProtocolVersion version = codec::ProtocolVersion::V3_1_1;
        std::uint16_t keep_alive_s = 0;
        std::uint16_t send_window = 65535;  // client's Receive Maximum
        std::uint32_t max_packet_size = 0;  // client's Maximum Packet Size, 0: unlimited
        std::uint16_t alias_max_out = 0;    // client's Topic Alias Maximum
        // SUBACKs/UNSUBACKs still waiting for the other workers (or the store): while any is, no later packet of the
        // connection is processed, so it sees what a single-threaded broker would show (its SUBACK before the
        // echo of a PUBLISH it sent right after the SUBSCRIBE).
        std::uint16_t acks_awaited = 0;
        bool clean_start = false;
        bool request_problem_info = true;
        // What few connections have (a transport identity, enhanced authentication) is kept out of line: one
        // pointer, null for the others.
        struct Rare {
            std::optional<std::string> transport_username;  // replaces the CONNECT's User Name
            std::string auth_method;
            unsigned auth_step = 0;
            std::optional<std::vector<std::byte>> pending_connect;  // CONNECT kept while enhanced auth runs
        };
        std::unique_ptr<Rare> rare;
        Rare& rare_state() {
            if (!rare) rare = std::make_unique<Rare>();
            return *rare;
        }
        [[nodiscard]] std::string_view auth_method() const {
            return rare ? std::string_view(rare->auth_method) : std::string_view();
        }
    };

    // Packet handlers.
    void handle_packet(Connection& c, codec::Packet& p, TimePoint now);
    void handle_connect(Connection& c, const codec::Connect& p, TimePoint now);
    void complete_connect(Connection& c, const codec::Connect& p, TimePoint now, std::optional<std::vector<std::byte>> auth_data);
    void handle_publish(Connection& c, const codec::Publish& p, TimePoint now);
    void handle_subscribe(Connection& c, const codec::Subscribe& p, TimePoint now);
    void handle_unsubscribe(Connection& c, const codec::Unsubscribe& p, TimePoint now);
    void handle_disconnect(Connection& c, const codec::Disconnect& p, TimePoint now);
    void handle_auth(Connection& c, const codec::Auth& p, TimePoint now);
    void send_auth(Connection& c, codec::ReasonCode reason, const std::optional<std::vector<std::byte>>& data);

    // Routing and delivery.
    std::size_t route(const MessagePtr& m, TimePoint now);
    void deliver(Session& s, const MessagePtr& m, codec::QoS qos, bool retain, std::vector<std::uint32_t> sub_ids,
                 TimePoint now, std::shared_ptr<const std::string> share = {}, std::uint64_t seq = 0);

    // Persistence (only with a store).
    struct Captured {  // one delivery of a message routed in capture mode, dispatched after the store write
        SessionId session;
        codec::QoS qos;
        bool retain;
        std::vector<std::uint32_t> subscription_ids;
        std::shared_ptr<const std::string> share;
        std::shared_ptr<SessionTag> owner;
        std::uint64_t seq = 0;
    };
    struct PendingPublish {
        ConnectionId connection = 0;  // 0: not from a client (will, API)
        SessionId session = 0;
        MessagePtr message;
        std::uint16_t packet_id = 0;
        bool retain_update = false;
        std::size_t matched = 0;
        std::vector<Captured> deliveries;
    };
    [[nodiscard]] bool durable(const Session& s) const { return store_ != nullptr && s.expiry_s != 0; }
    // A 3.x CONNECT whose keepalive (0: none) is beyond limits.max_keepalive, refused unless max_keepalive_v3 says
    // "apply".
    [[nodiscard]] bool refuses_keepalive_v3(std::uint16_t keep_alive_s) const {
        const auto& l = cfg_.limits;
        return l.max_keepalive_v3 == config::KeepaliveV3::Refuse && l.max_keepalive < 65535 &&
               (keep_alive_s == 0 || keep_alive_s > l.max_keepalive);
    }
    // Routes `p.message` in capture mode and adds a record per delivery to a durable session to `b`.
    void capture(PendingPublish& p, StoreBatch& b, TimePoint now);
    void finish_publish(PendingPublish& p, bool ok, TimePoint now);
    // A message that nobody acknowledges (will, API): persisted for durable sessions, delivered at once.
    std::size_t route_persisted(const MessagePtr& m, TimePoint now);
    // Commits `b`; `then` runs on this core once it is durable (sync) or at once (batched).
    void commit_then(StoreBatch& b, std::function<void(Core&, bool, TimePoint)> then);
    void commit(StoreBatch& b);  // no one waits
    void persist_session(Session& s, StoreBatch& b);
    void note_sent(Session& s, const Outgoing& o);  // stores a QoS 2 PUBLISH's packet identifier (batched mode)
    // Sync mode: whether `o` (given its packet identifier) must wait in the window before it is sent: a persisted
    // QoS 2 message until its identifier is stored, any message while one before it waits.
    [[nodiscard]] bool must_hold(const Session& s, const Outgoing& o) const;
    void hold(Session& s, Outgoing o);  // puts it into the window unsent, writing its identifier where needed
    void on_marked(SessionId id, std::uint64_t seq, std::uint16_t packet_id, TimePoint now);
    void release(Session& s, TimePoint now);  // sends the held messages whose turn has come
    void forget(Session& s, const Outgoing& o);  // its store record is no longer needed
    void set_retained(const MessagePtr& m, StoreBatch* b);
    void redistribute_shared(Session& s, TimePoint now);
    void enqueue(Session& s, Outgoing o);
    void pump(Session& s, TimePoint now);  // moves queued messages into the inflight window
    void read_spilled(Session& s);         // asks the store for the next part of a spilled queue
    void on_spilled_read(SessionId id, bool ok, const DeliveryRange& range, std::vector<StoredDelivery> ds,
                         TimePoint now);
    // False when not sent: too large for the client (dropped), or, where `congested` is given, more than
    // max_outgoing_buffer_bytes already wait for the connection (*congested set; nothing was sent).
    bool send_publish(Connection& c, const Outgoing& o, bool dup, TimePoint now, bool* congested = nullptr);
    void resend_inflight(Connection& c, Session& s, TimePoint now);
    std::uint16_t next_packet_id(Session& s);
    // Retained messages on SUBSCRIBE (retained_stream.cpp): start_retained() takes the cursor of the topics `filter`
    // matches now; pump() sends from it, once the queue is empty, as the window and the output buffer allow.
    void start_retained(Session& s, const std::string& filter, codec::QoS granted, std::uint32_t sub_id);
    void stop_retained(Session& s, std::string_view filter);  // unsubscribed: what is left is not sent
    // Returns false when it stopped for room (the window, or the output buffer: on_drained() resumes it).
    bool pump_retained(Session& s, Connection& c, TimePoint now);
    // Counts `n` dropped messages of session `s` and logs it, at most once a second per worker with the count since
    // the last line (mothd's broker-wide limiter applies on top).
    void note_dropped(const Session& s, std::uint64_t n, std::string_view why);

    // Connection and session life.
    void send_packet(Connection& c, const codec::Packet& p);
    void protocol_close(Connection& c, codec::ReasonCode reason, std::string_view why);
    void connack_error(Connection& c, codec::ProtocolVersion v, codec::ReasonCode reason);
    void drop_connection(Connection& c, bool with_will, TimePoint now);  // network gone or closed by us
    void end_session(Session& s);
    void publish_will(const StoredWill& w, TimePoint now);
    Connection* find_connection(ConnectionId id);
    // Timing wheel for the connect timeout and the keepalive: the connection is looked at again at `due`.
    void schedule(Connection& c, TimePoint due);
    void run_wheel(TimePoint now);
    void check_offline_sessions(TimePoint now);
    Session* find_session(SessionId id);
    unsigned owner_of(std::string_view client_id) const;
    std::string assign_client_id();
    void broadcast_unsubscribe(const std::string& filter, SessionId s);  // no one waits (a session's end)

    // SUBACK and UNSUBACK after every worker (docs/architecture.md): a client that has its SUBACK may at once make
    // a client on another worker publish, so the acknowledgement waits until every other worker has applied the
    // packet's changes to its tree (one post per worker and packet, one ack posted back by each) and, for a
    // durable session in sync mode, until the store has them. Acknowledgements of a connection go out in the order
    // of its packets. Only the owning worker's thread touches pending_acks_.
    struct RetainedToSend {
        std::string filter;
        codec::QoS granted;
    };
    struct PendingAck {
        SessionId session = 0;
        std::uint16_t packet_id = 0;
        bool unsubscribe = false;  // UNSUBACK, else SUBACK
        bool ok = true;            // false: the store commit failed (SUBACK: Unspecified error, no retained)
        unsigned waiting = 0;      // acks still due: one per other worker, one for a waited-for store commit
        std::uint32_t sub_id = 0;
        std::vector<codec::ReasonCode> codes;
        std::vector<RetainedToSend> retained;  // sent after the SUBACK
    };
    using AckKey = std::pair<ConnectionId, std::uint64_t>;  // the connection, then the packet's sequence number
    using Subscriptions = std::vector<std::pair<std::string, SubscriptionEntry>>;
    // Registers `a` for connection `c`; the caller adds what it waits for, then calls release_acks().
    std::pair<AckKey, PendingAck*> await_ack(ConnectionId c, PendingAck a);
    // Posts the added subscriptions (or removed filters) to every other worker, each of which acknowledges `key`
    // once applied. Returns the number of acks to wait for (0: one worker, or nothing changed).
    unsigned replicate_subscribe(Subscriptions added, SessionId s, AckKey key);
    unsigned replicate_unsubscribe(std::vector<std::string> removed, SessionId s, AckKey key);
    // On the other workers: tells the owner that its change is applied, after the deliveries matched before it.
    void acknowledge(unsigned owner, AckKey key);
    // On the owner: one awaited ack arrived (ok false: the store commit failed).
    void ack_arrived(AckKey key, bool ok, TimePoint now);
    // Sends the connection's complete acknowledgements, in order, up to the first one still waiting.
    void release_acks(ConnectionId c, TimePoint now);
    void send_ack(ConnectionId c, PendingAck& a, TimePoint now);  // nothing when the connection or session is gone
    void post_outbox(unsigned worker);                            // the batched deliveries for `worker`
    void publish_sys(TimePoint now);

    unsigned index_;
    Shared& shared_;
    Host& host_;
    Store* store_;
    std::vector<Captured>* capture_ = nullptr;  // route() collects instead of dispatching
    Stats& stats_;
    config::Config cfg_;  // this worker's copy: SIGHUP replaces it between events
    std::unordered_map<ConnectionId, std::unique_ptr<Connection>> connections_;
    // Connections by the tick (kWheelTick) when their connect timeout or keepalive must be checked again, so that
    // a tick costs what is due rather than a pass over every connection. A slot holds the entries of every round
    // whose tick falls on it; an entry is live while its connection's due_tick is its tick (else it is dropped).
    static constexpr std::int64_t kNoTick = INT64_MAX;
    static constexpr std::size_t kWheelSlots = 256;
    struct WheelEntry {
        ConnectionId id;
        std::int64_t tick;
    };
    std::array<std::vector<WheelEntry>, kWheelSlots> wheel_;
    std::vector<WheelEntry> wheel_batch_;      // the slot being run (its capacity is kept)
    std::int64_t wheel_last_ = INT64_MIN / 2;  // the last tick run
    // Sessions that went offline (will delay, expiry), looked at each tick instead of every session; an entry
    // whose session is gone or connected again is dropped then. sessions_known_ counts the sessions this core made
    // or ended, so that sessions restored from the store (offline) are found and listed by a pass at the next tick.
    std::vector<SessionId> offline_;
    std::size_t sessions_known_ = 0;
    // By client id; the key views the Session's own client_id (one copy of the id, and a smaller node).
    std::unordered_map<std::string_view, std::unique_ptr<Session>> sessions_;
    std::unordered_map<SessionId, Session*> sessions_by_id_;
    std::uint64_t next_session_ = 1;
    topic::SubscriptionTree<SubscriptionEntry> tree_;
    std::vector<std::vector<RemoteDelivery>> outbox_;  // per target worker, flushed once per loop turn
    bool outbox_dirty_ = false;
    std::map<AckKey, PendingAck> pending_acks_;
    ConnectionId in_input_ = 0;  // the connection on_data is decoding now (0: none)  // SUBACKs and UNSUBACKs waiting for acks, by connection in order
    std::uint64_t next_ack_ = 1;

    // Scratch space reused across calls so the hot path does not allocate.
    // One decoder for all connections (its scratch lists are per packet): each connection keeps only its version.
    codec::Decoder decoder_{codec::DecoderOptions{codec::Role::Server, codec::kMaxPacketSize}};
    struct Match {
        SessionId session;
        const SubscriptionEntry* entry;
    };
    std::vector<Match> matches_;
    std::span<const std::byte> current_raw_;  // the packet being handled, as received
    TimePoint now_{};                         // time of the event being handled
    TimePoint next_drop_log_{};               // note_dropped(): the next time a line may be logged
    std::uint64_t drops_unlogged_ = 0;        // dropped since the last line
    std::vector<ConnectionId> closed_;        // closed connections, erased at the end of the loop turn
    // Encodings of the message being fanned out, per (version, QoS, retain): one encode for many receivers.
    // Only while route(), deliver_batch() or finish_publish() has more than one receiver for a message
    // (fan_out_): a message for one receiver is encoded straight into its connection's output.
    bool fan_out_ = false;
    MessagePtr cache_message_;
    std::array<std::vector<std::byte>, 18> cache_;
    std::array<bool, 18> cache_valid_{};

    // $SYS (worker 0 only).
    TimePoint next_sys_{};
    TimePoint last_sys_{};
    std::uint64_t last_received_ = 0, last_sent_ = 0;
    std::array<double, 3> load_received_{}, load_sent_{};
    TimePoint next_housekeeping_{};
};

}  // namespace moth::broker
