#pragma once
// The broker core of one worker: the façade the server drives (connections' bytes in, ticks, cross-worker posts)
// over the rooms that do the work, without any I/O. Each worker thread owns one Core; a client's session and its
// connection live on the worker chosen by a hash of the client identifier (ids.hpp), so nothing here takes a lock
// except the shared retained-message index (written only by retained publishes and read on subscribe).
//
// The member functions are defined by room (docs/architecture.md, "The broker core in rooms"):
//   core.cpp           this façade: connection life, the per-packet dispatch, ticks, flush, shutdown
//   connect.cpp        CONNECT (session take-over, negotiation), with connack.cpp building the CONNACK
//   enhanced_auth.cpp  AUTH exchanges
//   inbound.cpp        PUBLISH in, the four acknowledgements, DISCONNECT
//   subscriptions.cpp  SUBSCRIBE/UNSUBSCRIBE, replication to the other workers, the SUBACK barrier
//   router.cpp         match and merge per session, into one DeliverySink (this core: local or outbox)
//   delivery.cpp       a delivery to a local session: window, queue, encoding (cached per fan-out), resend
//   durability.cpp     the store: capture, commit, QoS 2 marks, spilled queues read back, restore
//   admin.cpp          snapshot, disconnect and publish for the HTTP API; sys_topics.cpp: $SYS
//   retained_stream.cpp  retained messages on SUBSCRIBE; timers.cpp: the timing wheel; outbound.cpp: queue books
//
// Thread affinity: every member function runs on the owning worker's thread. Other workers reach a Core only
// through Host::post().
#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "broker/admin.hpp"
#include "broker/connection.hpp"
#include "broker/context.hpp"
#include "broker/durability.hpp"
#include "broker/host.hpp"
#include "broker/ids.hpp"
#include "broker/router.hpp"
#include "broker/session.hpp"
#include "broker/subscriptions.hpp"
#include "broker/sys_topics.hpp"
#include "broker/timers.hpp"
#include "codec/decoder.hpp"
#include "config/config.hpp"

namespace moth::broker {

class Core final : private DeliverySink {
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
    // This worker's configuration: the start-up one, or the last reload's.
    [[nodiscard]] const config::Config& config() const { return cfg_; }
    // The authorizer's rules changed (a reload): subscriptions they no longer allow are removed (logged), and every
    // delivery from now on is checked against the new rules (the router's cache starts over by itself).
    void on_rules_changed(TimePoint now);
    // A ban was added (API, flapping, reload): connected clients it matches are disconnected (5.0: DISCONNECT
    // 0x98 Administrative action).
    void on_bans_changed(TimePoint now);
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
    // Replaces the will of connected client connection `id` (MQTT-SN's WILLTOPICUPD/WILLMSGUPD through the gateway,
    // docs/mqtt-sn.md); `will` null removes it. False, changing nothing, for an unknown or unconnected connection, a
    // QoS or retain flag the features do not offer, or a topic the client may not write (the ACL, as at CONNECT).
    bool replace_will(ConnectionId id, const codec::Publish* will, TimePoint now);
    // Publishes a message from the broker itself (retained when asked), routed like a client's PUBLISH.
    // Returns the number of subscriptions matched. Call refuse_publish() first.
    std::size_t publish(const BrokerPublish& p, TimePoint now);

    // ---- cluster.cpp: the other nodes of a cluster (docs/cluster.md), through Shared::cluster ----
    // A message from another node (ClusterEvents::on_message): routed here like a local publish, its deliveries to
    // durable sessions stored first, then acknowledged to the bus (d.ack).
    void deliver_cluster(ClusterDelivery d, TimePoint now);
    // Node `by_node` accepted a connection of `client_id`: this node's connection of it ends (5.0: DISCONNECT 0x8E
    // Session taken over) and so does its session here, which continues there.
    // Not when this node's connection is the later one (ClusterBus::claim: `at_unix_ms` is the other's).
    // `release` (may be null): the claimant waits for this node to let go of the persistent session
    // (ClusterEvents::on_takeover); called once the session is forgotten here and its records are durable.
    void cluster_takeover(const std::string& client_id, const std::string& by_node, std::int64_t at_unix_ms,
                          TimePoint now, std::function<void(bool released)> release = nullptr);

private:
    // ---- core.cpp: connection life and dispatch ----
    void handle_packet(Connection& c, codec::Packet& p, TimePoint now);
    // Decoding failed: the CONNACK or DISCONNECT the error calls for, then close.
    void decode_error(Connection& c, const codec::DecodeResult& r, TimePoint now);
    // A CONNECT whose client id belongs to another worker: the connection moves there. True when it did.
    bool hand_off_connect(Connection& c, const codec::Packet& p, std::span<const std::byte> from);
    void send_packet(Connection& c, const codec::Packet& p);
    void protocol_close(Connection& c, codec::ReasonCode reason, std::string_view why);
    // The refusal is logged (at `level`), with `why` when given.
    void connack_error(Connection& c, codec::ProtocolVersion v, codec::ReasonCode reason, std::string_view why = {},
                       int level = 1);
    void drop_connection(Connection& c, bool with_will, TimePoint now);  // network gone or closed by us
    void leave_will(Connection& c, Session& s, TimePoint now);            // at a close that publishes it
    // `moved`: the session goes on on another node of the cluster: no will, forgotten here but not erased from the
    // cluster's copy, its own consumers kept; `released` (may be null) runs once that is durable.
    void end_session(Session& s, bool moved = false, std::function<void(bool)> released = nullptr);
    // Publishes `w` of the session `tag` (null: not checked) if it may still write its topic.
    void publish_will(const StoredWill& w, TimePoint now, const SessionTag* tag);
    Connection* find_connection(ConnectionId id);
    Session* find_session(SessionId id);
    // A connection of the session, connected now (not the one being closed), or null.
    Connection* session_connection(const Session& s);
    unsigned owner_of(std::string_view client_id) const;
    void run_wheel(TimePoint now);
    void check_connection(Connection& c, TimePoint now);  // its wheel entry came due
    void check_offline_sessions(TimePoint now);

    // ---- connect.cpp, enhanced_auth.cpp ----
    void handle_connect(Connection& c, const codec::Connect& p, TimePoint now);
    // Why a CONNECT is refused before anything else (connection limit, client id, keepalive), or Success.
    codec::ReasonCode connect_refusal(Connection& c, const codec::Connect& p);
    // Why its Will or authentication method is refused, or Success.
    [[nodiscard]] codec::ReasonCode will_refusal(const codec::Connect& p, std::string_view listener) const;
    void authenticate(Connection& c, const codec::Connect& p, TimePoint now);
    void complete_connect(Connection& c, const codec::Connect& p, TimePoint now, AuthDecision decision);
    // The session for the CONNECT: the existing one (its connection taken over) or a new one. `present` says which.
    Session& take_session(const std::string& client_id, bool clean_start, bool& present, TimePoint now);
    Session& new_session(const std::string& client_id);
    void negotiate(Connection& c, Session& s, const codec::Connect& p, std::optional<std::uint16_t>& server_keep_alive);
    void keep_will(Connection& c, const Session& s, const codec::Connect& p, TimePoint now);
    std::string assign_client_id();
    [[nodiscard]] bool refuses_keepalive_v3(std::uint16_t keep_alive_s) const;
    void handle_auth(Connection& c, const codec::Auth& p, TimePoint now);
    void send_auth(Connection& c, codec::ReasonCode reason, const std::optional<std::vector<std::byte>>& data);

    // ---- inbound.cpp ----
    void handle_publish(Connection& c, const codec::Publish& p, TimePoint now);
    // The topic of an inbound PUBLISH after its alias; false: the connection was closed.
    bool resolve_alias(Connection& c, const codec::Publish& p, std::string_view& topic);
    // Why an inbound PUBLISH is refused with an acknowledgement (topic levels, $SYS, payload format), or Success.
    codec::ReasonCode publish_refusal(const Connection& c, const codec::Publish& p, std::string_view topic) const;
    void duplicate_qos2(Connection& c, Session& s, const codec::Publish& p);
    void publish_durably(Connection* c, Session& s, std::uint16_t packet_id, MessagePtr msg, TimePoint now);
    // A client's QoS 1/2 PUBLISH that could not be kept (the store's write or the cluster failed): 5.0 gets
    // PUBACK/PUBREC 0x80, 3.1.1 a closed connection (`why`); a QoS 2 receive state goes. `c`, `s` may be null.
    void refuse_unstored(Connection* c, Session* s, codec::QoS qos, std::uint16_t packet_id, const char* why);
    // PUBACK (QoS 1) or PUBREC (QoS 2) for packet `id`; nothing for QoS 0. 3.x carries no reason code.
    void send_publish_ack(Connection& c, codec::QoS qos, std::uint16_t id, codec::ReasonCode reason);
    void handle_puback(Session& s, const codec::Puback& p, TimePoint now);
    void handle_pubrec(Connection& c, Session& s, const codec::Pubrec& p, TimePoint now);
    void handle_pubcomp(Session& s, const codec::Pubcomp& p, TimePoint now);
    void handle_pubrel(Connection& c, Session& s, const codec::Pubrel& p);
    void handle_disconnect(Connection& c, const codec::Disconnect& p, TimePoint now);

    // ---- subscriptions.cpp ----
    void handle_subscribe(Connection& c, const codec::Subscribe& p, TimePoint now);
    // One filter of a SUBSCRIBE: its reason code (the granted QoS), adding to `added` and `retained`.
    codec::ReasonCode subscribe_one(Connection& c, const codec::Subscription& sub, std::uint32_t sub_id,
                                    Subscriptions& added, std::vector<RetainedToSend>& retained);
    void handle_unsubscribe(Connection& c, const codec::Unsubscribe& p, TimePoint now);
    void broadcast_unsubscribe(const std::string& filter, SessionId s);  // no one waits (a session's end)
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
    // Retained messages on SUBSCRIBE (retained_stream.cpp): start_retained() takes the cursor of the topics `filter`
    // matches now; pump() sends from it, once the queue is empty, as the window and the output buffer allow.
    void start_retained(Session& s, const std::string& filter, codec::QoS granted, std::uint32_t sub_id);
    void stop_retained(Session& s, std::string_view filter);  // unsubscribed: what is left is not sent
    // Returns false when it stopped for room (the window, or the output buffer: on_drained() resumes it).
    bool pump_retained(Session& s, Connection& c, TimePoint now);

    // ---- routing (router.cpp) and delivery.cpp ----
    std::size_t route(const MessagePtr& m);
    // DeliverySink: the local session, or the outbox of the worker that owns it.
    void on_matched(std::size_t subscriptions) override;
    void deliver(Delivery&& d) override;
    void deliver_local(Session& s, const MessagePtr& m, codec::QoS qos, bool retain,
                       std::vector<std::uint32_t> sub_ids, TimePoint now, std::shared_ptr<const std::string> share = {},
                       std::uint64_t seq = 0);
    void redistribute_shared(Session& s, TimePoint now);
    void enqueue(Session& s, Outgoing o);
    void pump(Session& s, TimePoint now);  // moves queued messages into the inflight window
    // Sends `o` now unless it must wait for its mark; false when it was not sent and is gone (too large: dropped).
    bool send_or_hold(Session& s, Connection& c, Outgoing& o, TimePoint now, bool* congested);
    // False when not sent: too large for the client (dropped), or, where `congested` is given, more than
    // max_outgoing_buffer_bytes already wait for the connection (*congested set; nothing was sent).
    bool send_publish(Connection& c, const Outgoing& o, bool dup, TimePoint now, bool* congested = nullptr);
    // Encodes `o` for `c` into the connection's output (and the fan-out cache); the bytes sent, 0 when not sent.
    std::size_t encode_publish(Connection& c, const Outgoing& o, bool dup, TimePoint now, std::size_t limit,
                               bool shareable, std::size_t slot, bool& refused);
    void resend_inflight(Connection& c, Session& s, TimePoint now);
    void post_outbox(unsigned worker);  // the batched deliveries for `worker`
    // Counts `n` dropped messages of session `s` and logs it, at most once a second per worker with the count since
    // the last line (mothd's broker-wide limiter applies on top).
    void note_dropped(const Session& s, std::uint64_t n, std::string_view why);

    // ---- durability.cpp (only with a store) ----
    [[nodiscard]] bool durable(const Session& s) const { return store_ != nullptr && s.expiry_s != 0; }
    // Routes `p.message` in capture mode and adds a record per delivery to a durable session to `b`.
    void capture(PendingPublish& p, StoreBatch& b);
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
    // PUBREC received for a stored QoS 2 message: the PUBREL once the store knows (sync) or at once.
    bool mark_pubrec(Session& s, Outgoing& o, std::uint16_t packet_id);
    void read_spilled(Session& s);  // asks the store for the next part of a spilled queue
    void on_spilled_read(SessionId id, bool ok, const DeliveryRange& range, std::vector<StoredDelivery> ds,
                         TimePoint now);
    void restore_deliveries(Session& s, RestoredSession& rs);

    // ---- access.cpp: authentication answers and authorization checks ----
    // The answer to a CONNECT's pending authentication (posted back from the authenticator's thread).
    void auth_decided(ConnectionId id, std::uint32_t ticket, AuthDecision d, TimePoint now);
    // CONNACK with the authenticator's refusal, counted and logged.
    void refuse_auth(Connection& c, codec::ProtocolVersion v, codec::ReasonCode reason, std::string_view client_id);
    [[nodiscard]] IdentityPtr make_identity(const Connection& c, const std::string& client_id,
                                            const codec::Connect& p, const AuthDecision& d) const;
    [[nodiscard]] bool checks_access() const;  // an authorizer with rules is in place
    [[nodiscard]] bool may(const Identity& who, std::string_view topic, Access access) const;
    [[nodiscard]] bool may(const Session& s, std::string_view topic, Access access);
    // A PUBLISH the ACL refuses: 5.0 PUBACK/PUBREC 0x87 (QoS 0: dropped); 3.x acknowledged and dropped, or
    // disconnected with auth.deny_action = "disconnect".
    // `by`: who said no, for the log ("the ACL": the acl_file or the client's own rules; "the hook").
    void deny_publish(Connection& c, const codec::Publish& p, std::string_view topic, std::string_view by = "the ACL");
    void note_denied(Connection& c, std::string_view what, std::string_view topic, std::string_view by = "the ACL");

    // The queue limits of a session about to take `size` more bytes: limits.max_queued_*, or a bridge's own once
    // those are reached (`scratch` holds them then).
    [[nodiscard]] const config::Limits& queue_limits(const Session& s, std::size_t size, config::Limits& scratch) const;
    // drop-oldest: drops from the front of the part in memory while the queue is over its limits; true when it is
    // still over (the rest is in the store, to be read back).
    bool trim_oldest(Session& s);

    // ---- hook.cpp: the authorization hook (Authorizer::check_hook) at PUBLISH and SUBSCRIBE ----
    enum class HookVerdict : std::uint8_t { Allowed, Denied, Waiting };
    using HookAnswers = std::vector<std::tuple<Access, std::string, bool>>;
    [[nodiscard]] bool hooked() const { return shared_.authorizer != nullptr && shared_.authorizer->has_hook(); }
    // The hook's answer for this packet: known (cached, or in hook_answers_ when the packet is replayed), or asked:
    // Waiting keeps the packet (its bytes) and pauses the connection's input until every answer is in.
    HookVerdict ask_hook(Connection& c, Access access, std::string_view topic, codec::QoS qos, bool retain);
    // SUBSCRIBE: asks for every filter first (in parallel), so that nothing changes before all answers are in.
    // False: waiting.
    bool hook_clears(Connection& c, const codec::Subscribe& p);
    // After a packet: answers given at once to a packet that now waits for others are kept with it.
    void settle_hook(Connection& c);
    void hook_answered(ConnectionId id, std::uint32_t round, Access access, std::string topic, bool ok,
                       TimePoint now);

    // ---- abuse.cpp: connection rates, bans, flapping (the gate), publish rates, a listener's auth choice ----
    [[nodiscard]] const config::Listener* listener_config(const Connection& c) const;  // by the tag's name
    // The gate's refusal of a CONNECT (CONNACK 0x9F / 0x8A; 3.x 3 / 5), counted and logged. True: refused.
    bool gate_refuses(Connection& c, const codec::Connect& p, TimePoint now);
    // What the listener's `auth` requires and the CONNECT lacks (NotAuthorized), or Success.
    [[nodiscard]] codec::ReasonCode listener_auth_refusal(const Connection& c, const codec::Connect& p) const;
    void start_throttle(Connection& c, TimePoint now);  // at CONNACK: the publish rates that apply, if any
    // A PUBLISH against the connection's rates: pauses its input while in debt, or (over_rate = "disconnect")
    // closes it (false).
    bool charge_publish(Connection& c, TimePoint now);

    // ---- cluster_sessions.cpp: a session taken from another node at CONNECT ----
    // The CONNECT waits (input paused) while the bus takes the session (ClusterBus::take).
    void take_from_cluster(Connection& c, const codec::Connect& p, const std::string& client_id, TimePoint now,
                           AuthDecision decision);
    void cluster_taken(ConnectionId id, std::uint32_t ticket, std::int64_t at, bool ok, SessionRecords records,
                       TimePoint now);
    // The session of `records` restored here (its subscriptions in every worker's tree, its records in the store).
    void adopt_session(const std::string& client_id, const SessionRecords& records, TimePoint now);

    // ---- cluster.cpp ----
    [[nodiscard]] bool clustered() const { return shared_.cluster != nullptr; }
    // A client's QoS 1/2 PUBLISH goes to the cluster first; its acknowledgement waits for JetStream, then the message
    // takes the path it takes on one node (cluster_published).
    void cluster_publish(Connection& c, Session& s, const codec::Publish& p, MessagePtr msg);
    void cluster_published(ConnectionId cid, SessionId sid, std::uint16_t packet_id, const MessagePtr& msg, bool ok,
                           TimePoint now);
    // A message of this node (a will, the API) for the other nodes, not waited for.
    void to_cluster(const MessagePtr& m);
    // What a subscription does to this node's interest on the bus. Forget: its session moved to another node, which
    // binds the session's own consumers next (they are kept).
    enum class Interest : std::uint8_t { Add, Remove, Forget };
    // A session's subscription joins or leaves this node's interest on the bus (and its own consumer, if
    // e.cluster_own); `done` (Add) runs on this core once messages for it come here.
    void cluster_interest(const Session& s, const std::string& filter, const SubscriptionEntry& e, Interest change,
                          std::function<void(Core&, TimePoint)> done = {});
    // Whether a new subscription of `s` gets the session's own consumer (SubscriptionEntry::cluster_own).
    [[nodiscard]] bool own_consumer(const Session& s, const SubscriptionEntry& e) const;
    // The acknowledgement of cluster message `id` has left: its "x" record goes (not waited for).
    void forget_applied(const std::string& id, TimePoint now);
    // Worker 0, each tick: this node's report to the others every report_interval_s.
    void cluster_report(TimePoint now);

    // ---- admin.cpp, sys_topics ----
    void publish_sys(TimePoint now);
    void publish_sys_value(const std::string& topic, const std::string& value);

    unsigned index_;
    Shared& shared_;
    Host& host_;
    Store* store_;
    Stats& stats_;
    config::Config cfg_;  // this worker's copy: SIGHUP replaces it between events
    std::unordered_map<ConnectionId, std::unique_ptr<Connection>> connections_;
    TimingWheel wheel_;  // connect timeouts and keepalives
    // Sessions that went offline (will delay, expiry), looked at each tick instead of every session; an entry
    // whose session is gone or connected again is dropped then. sessions_known_ counts the sessions this core made
    // or ended, so that sessions restored from the store (offline) are found and listed by a pass at the next tick.
    std::vector<SessionId> offline_;
    std::size_t sessions_known_ = 0;
    // By client id; the key views the Session's own client_id (one copy of the id, and a smaller node).
    std::unordered_map<std::string_view, std::unique_ptr<Session>> sessions_;
    std::unordered_map<SessionId, Session*> sessions_by_id_;
    std::uint64_t next_session_ = 1;
    SubscriptionTree tree_;
    Router router_;
    std::vector<std::vector<RemoteDelivery>> outbox_;  // per target worker, flushed once per loop turn
    // SUBACKs and UNSUBACKs waiting for acks, by connection in order (subscriptions.hpp).
    std::map<AckKey, PendingAck> pending_acks_;
    std::uint64_t next_ack_ = 1;
    ConnectionId in_input_ = 0;  // the connection on_data is decoding now (0: none)

    // One decoder for all connections (its scratch lists are per packet): each connection keeps only its version.
    codec::Decoder decoder_{codec::DecoderOptions{codec::Role::Server, codec::kMaxPacketSize}};
    std::span<const std::byte> current_raw_;  // the packet being handled, as received (kept for enhanced auth)
    // The authorization hook's answers for the packet being handled (hook.cpp); empty without a hook.
    HookAnswers hook_answers_;
    bool replaying_ = false;  // the packet being handled waited for the hook: it was counted and charged already
    // The time of the event being handled: every entry point (on_*, deliver_batch, posted completions) sets it, so
    // that what runs deep inside (a store batch's expiry, a will published at a session's end) has it.
    TimePoint now_{};
    TimePoint next_drop_log_{};         // note_dropped(): the next time a line may be logged
    std::uint64_t drops_unlogged_ = 0;  // dropped since the last line
    std::unordered_map<std::string, std::uint64_t> bridge_drops_;  // by "$bridge/<name>" session, since start
    std::vector<ConnectionId> closed_;  // closed connections, erased at the end of the loop turn
    // Encodings of the message being fanned out, per (version, QoS, retain): one encode for many receivers.
    // Only while route(), deliver_batch() or finish_publish() has more than one receiver for a message
    // (fan_out_): a message for one receiver is encoded straight into its connection's output.
    bool fan_out_ = false;
    MessagePtr cache_message_;
    std::array<std::vector<std::byte>, 18> cache_;
    std::array<bool, 18> cache_valid_{};

    // Which subscriptions route() serves (router.hpp): all alone; in a cluster the bus delivers shared ones.
    RouteScope scope_;
    // subscribe_one(): filters whose cluster interest the SUBACK waits for (handle_subscribe empties it).
    Subscriptions cluster_added_;
    TimePoint next_report_{};

    // $SYS (worker 0 only).
    TimePoint next_sys_{};
    SysTopics sys_;
};

}  // namespace moth::broker
