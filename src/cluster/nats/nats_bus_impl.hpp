#pragma once
// NatsBus: broker::ClusterBus on NATS JetStream. Internal to src/cluster/nats (includes nats.h).
//
// Threads: callers (any thread) publish and post work; cnats's threads run message, ack and connection callbacks;
// `work_` runs the blocking calls (KV puts, consumers, flushes) in order; `watcher_` reads the retained bucket;
// `takes_` runs take() (which may wait ack_timeout_ms for another node); `maint_` clears old delete markers from
// the sessions bucket; the store's committer thread calls write() (SessionReplica), one call at a time.
// Interest state (units_, filters_, attached_) is touched on `work_` only.
#include <nats/nats.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "broker/cluster.hpp"
#include "cluster/dedup.hpp"
#include "cluster/work_queue.hpp"
#include "config/config.hpp"

namespace moth::cluster {

using Log = std::function<void(int level, const std::string& line)>;
inline constexpr int kInfo = 1, kWarn = 2, kError = 3;  // mothd's log levels: 0 debug .. 3 error

// A cnats status with the library's last error text, for the log.
inline std::string status_text(natsStatus s) {
    std::string t = natsStatus_GetText(s);
    const char* last = nats_GetLastError(nullptr);
    if (last != nullptr && *last != '\0' && t != last) t += std::string(" (") + last + ")";
    return t;
}

inline constexpr const char* kNodeHeader = "Moth-Node";  // who sent it
inline constexpr const char* kAtHeader = "Moth-At";      // a claim or a release request: when its connection was
                                                         // accepted (Unix ms)

// A header's value, "" when absent.
inline std::string header(natsMsg* msg, const char* key) {
    const char* v = nullptr;
    if (natsMsgHeader_Get(msg, key, &v) == NATS_OK && v != nullptr) return v;
    return {};
}

// Completes a `Done` after `parts` outcomes (a retained message: the stream publish and the KV put).
struct Joint {
    Joint(int parts, broker::ClusterBus::Done d) : left(parts), done(std::move(d)) {}
    void part(bool ok_part) {
        if (!ok_part) ok = false;
        if (--left == 0 && done) done(ok.load());
    }
    std::atomic<int> left;
    std::atomic<bool> ok{true};
    broker::ClusterBus::Done done;
};

// What a subscription's message callback needs: which path it is (plain, a share, or a persistent session's own
// consumer) and whether it acks.
struct SubCtx {
    class NatsBus* bus = nullptr;
    std::shared_ptr<const std::string> share;  // null: plain
    bool consumer = false;
    std::string client;            // a session consumer's: its client (ClusterDelivery::client); else empty
    std::string session_consumer;  // and that consumer's name (the delivery ids' "@<consumer>\n")
};

// Acks may come from the broker after stop(): they must not touch destroyed NATS objects.
struct AckGate {
    std::mutex mu;
    bool open = true;
};

class NatsBus final : public broker::ClusterBus, public broker::SessionReplica {
public:
    NatsBus(const config::Cluster& cfg, std::string version, Log log);
    ~NatsBus() override;

    [[nodiscard]] const std::string& node() const override { return cfg_.node; }
    void start(broker::ClusterEvents& events) override;
    void stop() override;
    void publish(const broker::MessagePtr& m, Done done) override;
    void subscribe(const std::string& filter, codec::QoS qos, Done done) override;
    void unsubscribe(const std::string& filter, codec::QoS qos) override;
    void claim(const std::string& client_id, std::int64_t at_unix_ms, Done done) override;
    void take(const std::string& client_id, std::int64_t at_unix_ms, bool want_records, Taken done) override;
    void attach(const std::string& client_id, const std::string& filter, std::uint32_t expiry_s, Done done) override;
    void detach(const std::string& client_id, const std::string& filter, bool remove) override;
    [[nodiscard]] std::vector<std::string> not_owned(const std::vector<std::string>& client_ids) override;
    [[nodiscard]] broker::SessionReplica* replica() override { return this; }
    // SessionReplica (the store's committer thread).
    [[nodiscard]] bool write(const std::vector<const std::vector<broker::StoreOp>*>& batches) override;
    void seen(const std::vector<std::string>& ids) override;
    void report(const broker::NodeReport& r) override;
    [[nodiscard]] broker::ClusterStatus status() const override;

    // cnats callbacks (static trampolines forward here).
    void on_msg(SubCtx& ctx, natsMsg* msg);
    void on_pub_ack(natsMsg* msg, bool ok, const char* error);
    void on_control(natsMsg* msg);
    void on_release_request(natsMsg* msg);
    void on_session_ack(bool ok, const char* error);
    void on_link_event(const char* what, bool up, natsConnection* nc);
    void on_closed();

private:
    // One subject on one path (plain, or one shared subscription): how many filters of each class want it, and
    // what carries it now.
    struct Unit {
        bool q1 = false;  // a "<prefix>.q1." subject
        int n0 = 0, n1 = 0;
        natsSubscription* core = nullptr;
        natsSubscription* js = nullptr;
        std::string consumer;  // the durable's name while `js`
    };
    // A persistent session's own interest in one filter (attach): one durable consumer per subject.
    struct SessionUnit {
        std::string subject, consumer;
        natsSubscription* js = nullptr;
    };
    struct Attached {
        int refs = 0;
        std::uint32_t expiry_s = 0;
        std::vector<SessionUnit> units;
    };
    struct Path {  // where a filter's subjects are subscribed
        std::string filter;                        // without "$share/<group>/"
        std::string group;                         // "" for plain
        std::shared_ptr<const std::string> share;  // "$share/<group>/<filter>", null for plain
    };

    // link.cpp
    natsOptions* make_options(bool echo);
    natsConnection* connect_one(bool echo);
    void ensure_jetstream(std::chrono::steady_clock::time_point deadline);
    bool ensure_stream_once(std::string& why);
    bool ensure_bucket_once(kvStore*& kv, const std::string& name, std::int64_t max_bytes, std::string& why);
    void subscribe_control();
    void watch_retained();
    void close_link();
    // interest.cpp
    Path path_of(const std::string& filter) const;
    bool change_interest(const std::string& filter, bool qos1, int delta);
    bool reconcile(const Path& p, const std::string& subject, Unit& u);
    bool bind_consumer(const Path& p, const std::string& subject, Unit& u);
    void drop_consumer(Unit& u, bool delete_it);
    void drop_all_interest();
    // sessions.cpp
    bool send_claim(const std::string& client_id, std::int64_t at_unix_ms);
    bool take_now(const std::string& client_id, std::int64_t at_unix_ms, bool want_records,
                  broker::SessionRecords& records);
    void ask_release(const std::string& owner, const std::string& client_id, std::int64_t at_unix_ms);
    bool read_client(const std::string& client_id, broker::SessionRecords& records);
    void delete_session_consumers(const std::string& client_id);
    bool bind_session_unit(const std::string& client_id, SessionUnit& u, std::uint32_t expiry_s);
    bool mark_applied(const std::string& consumer);
    void drop_sessions();
    bool wait_session_acks(std::chrono::steady_clock::time_point deadline, std::uint64_t failures_before);
    bool purge_sessions(const std::string& filter, std::chrono::steady_clock::time_point deadline);
    bool publish_session(const std::string& key, const std::string& value, bool del);
    void purge_delete_markers(std::chrono::nanoseconds older_than);
    void run_maintenance();
    // nats_bus.cpp
    std::string next_msg_id();
    natsMsg* make_msg(const std::string& subject, const std::string& id, const std::string& payload,
                      std::uint64_t origin_session);
    void put_retained(const broker::MessagePtr& m, std::string value, std::shared_ptr<Joint> j);
    void deliver(SubCtx& ctx, natsMsg* msg, const std::string& id);
    void deliver_session(SubCtx& ctx, natsMsg* msg, const std::string& msg_id, bool own);
    void set_error(const std::string& e);
    void log_limited(const std::string& line);
    SubCtx& ctx_for(const std::shared_ptr<const std::string>& share, bool consumer);

    config::Cluster cfg_;
    std::string version_;
    Log log_;
    broker::ClusterEvents* events_ = nullptr;
    std::string stream_, bucket_, id_prefix_;
    std::string sessions_bucket_, sessions_stream_;  // "<prefix>_sessions", "KV_<prefix>_sessions"
    std::int64_t started_unix_ms_ = 0;

    mutable std::shared_mutex life_mu_;  // shared: publishing; unique: start/stop flipping running_
    bool running_ = false;
    bool stopped_ = false;
    std::atomic<bool> stopping_{false};

    natsConnection* plain_ = nullptr;   // NoEcho: publishes, plain subscriptions, control
    natsConnection* shared_ = nullptr;  // echo: queue groups of shared subscriptions
    jsCtx* js_plain_ = nullptr;
    jsCtx* js_shared_ = nullptr;
    kvStore* kv_ = nullptr;
    kvStore* sessions_kv_ = nullptr;
    jsCtx* js_sessions_ = nullptr;  // write()'s async publishes alone: js_PublishAsyncComplete waits for them only
    kvWatcher* kv_watch_ = nullptr;
    std::vector<natsSubscription*> control_subs_;
    std::vector<natsSubscription*> graveyard_;  // unsubscribed, destroyed at stop (late acks may use them)

    WorkQueue work_;
    WorkQueue takes_;
    std::thread watcher_;
    std::thread maint_;
    std::mutex maint_mu_;
    std::condition_variable maint_cv_;
    std::shared_ptr<Dedup> dedup_ = std::make_shared<Dedup>();
    std::shared_ptr<AckGate> gate_ = std::make_shared<AckGate>();
    std::atomic<std::uint64_t> counter_{0};

    std::mutex pending_mu_;
    std::unordered_map<std::string, std::shared_ptr<Joint>> pending_;  // msg id -> QoS 1/2 publish awaiting its ack

    std::map<std::pair<std::string, std::string>, Unit> units_;  // (share or "", subject) -> unit  [work_]
    std::map<std::pair<std::string, bool>, int> filters_;         // (filter, qos1) -> subscribes  [work_]
    std::map<std::pair<std::string, bool>, std::unique_ptr<SubCtx>> ctxs_;  // [work_]; kept until destruction
    std::map<std::pair<std::string, std::string>, Attached> attached_;    // (client, filter) -> consumers [work_]
    std::map<std::string, std::unique_ptr<SubCtx>> session_ctxs_;         // consumer -> ctx [work_]; kept too
    SubCtx control_ctx_;

    std::mutex closed_mu_;
    std::condition_variable closed_cv_;
    int closed_ = 0;  // connections whose close callback ran

    mutable std::mutex status_mu_;
    std::string server_, last_error_;
    bool connected_ = false;
    std::map<std::string, broker::ClusterNodeInfo> nodes_;
    std::unordered_map<std::string, std::string> hashed_topics_;  // "h." key -> topic  [watcher_]
    std::chrono::steady_clock::time_point last_bad_log_{};
    std::atomic<std::uint64_t> session_failures_{0};  // write()'s publishes JetStream refused or did not confirm
    std::atomic<std::uint64_t> published_{0}, received_{0}, duplicates_{0}, publish_failures_{0}, reconnects_{0},
        interests_{0};
};

}  // namespace moth::cluster
