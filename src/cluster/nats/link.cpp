// The link to NATS: connection options, joining JetStream (stream and retained bucket), the control subjects, the
// retained watcher, and closing.
#include <chrono>
#include <stdexcept>
#include <thread>

#include "broker/message_codec.hpp"
#include "cluster/nats/nats_bus_impl.hpp"
#include "cluster/subject.hpp"

namespace moth::cluster {
namespace {

using std::chrono::steady_clock;

void on_disconnected(natsConnection* nc, void* c) { static_cast<NatsBus*>(c)->on_link_event("disconnected", false, nc); }
void on_reconnected(natsConnection* nc, void* c) { static_cast<NatsBus*>(c)->on_link_event("reconnected", true, nc); }
void on_closed_cb(natsConnection*, void* c) { static_cast<NatsBus*>(c)->on_closed(); }
void on_error(natsConnection* nc, natsSubscription*, natsStatus s, void* c) {
    static_cast<NatsBus*>(c)->on_link_event(natsStatus_GetText(s), true, nc);
}
void on_control_cb(natsConnection*, natsSubscription*, natsMsg* msg, void* c) {
    static_cast<NatsBus*>(c)->on_control(msg);
}
void on_release_cb(natsConnection*, natsSubscription*, natsMsg* msg, void* c) {
    static_cast<NatsBus*>(c)->on_release_request(msg);
}
void on_session_ack_cb(jsCtx*, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* c) {
    const char* why =
        pae != nullptr ? (pae->ErrText != nullptr ? pae->ErrText : natsStatus_GetText(pae->Err)) : nullptr;
    static_cast<NatsBus*>(c)->on_session_ack(pa != nullptr && pae == nullptr, why);
    natsMsg_Destroy(msg);
}
void on_ack_cb(jsCtx*, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* c) {
    const char* why = pae != nullptr ? (pae->ErrText != nullptr ? pae->ErrText : natsStatus_GetText(pae->Err)) : nullptr;
    static_cast<NatsBus*>(c)->on_pub_ack(msg, pa != nullptr && pae == nullptr, why);
    natsMsg_Destroy(msg);
}

// JetStream not (yet) there: a fresh cluster electing its meta leader, or a server still starting.
bool retryable(natsStatus s, jsErrCode e) {
    return s == NATS_NO_RESPONDERS || s == NATS_TIMEOUT || e == JSNotEnabledErr || e == JSNotEnabledForAccountErr ||
           e == JSClusterNotAvailErr || e == JSClusterNoPeersErr || e == JSStreamReplicasNotSupportedErr;
}

}  // namespace

natsOptions* NatsBus::make_options(bool echo) {
    natsOptions* o = nullptr;
    if (natsOptions_Create(&o) != NATS_OK) throw std::runtime_error("cluster: out of memory creating NATS options");
    std::vector<const char*> urls;
    for (const auto& s : cfg_.servers) urls.push_back(s.c_str());
    natsStatus s = natsOptions_SetServers(o, urls.data(), static_cast<int>(urls.size()));
    const std::string name = "moth-" + cfg_.node;
    if (s == NATS_OK) s = natsOptions_SetName(o, name.c_str());
    if (s == NATS_OK) s = natsOptions_SetNoEcho(o, !echo);
    if (s == NATS_OK) s = natsOptions_SetMaxReconnect(o, -1);  // forever: a node outlives a NATS restart
    if (s == NATS_OK) s = natsOptions_SetReconnectWait(o, 250);
    if (s == NATS_OK) s = natsOptions_SetTimeout(o, cfg_.connect_timeout_ms);
    if (s == NATS_OK) s = natsOptions_SetRetryOnFailedConnect(o, false, nullptr, nullptr);
    // Many subscriptions must not mean many threads: one pool delivers them all.
    if (s == NATS_OK) s = natsOptions_UseGlobalMessageDelivery(o, true);
    if (s == NATS_OK && !cfg_.user.empty()) s = natsOptions_SetUserInfo(o, cfg_.user.c_str(), cfg_.password.c_str());
    if (s == NATS_OK && !cfg_.token.empty()) s = natsOptions_SetToken(o, cfg_.token.c_str());
    if (s == NATS_OK && !cfg_.credentials.empty())
        s = natsOptions_SetUserCredentialsFromFiles(o, cfg_.credentials.c_str(), nullptr);
    const bool tls = !cfg_.tls_ca.empty() || !cfg_.tls_cert.empty();
    if (s == NATS_OK && tls) s = natsOptions_SetSecure(o, true);
    if (s == NATS_OK && !cfg_.tls_ca.empty()) s = natsOptions_LoadCATrustedCertificates(o, cfg_.tls_ca.c_str());
    if (s == NATS_OK && !cfg_.tls_cert.empty())
        s = natsOptions_LoadCertificatesChain(o, cfg_.tls_cert.c_str(), cfg_.tls_key.c_str());
    if (s == NATS_OK) s = natsOptions_SetDisconnectedCB(o, on_disconnected, this);
    if (s == NATS_OK) s = natsOptions_SetReconnectedCB(o, on_reconnected, this);
    if (s == NATS_OK) s = natsOptions_SetClosedCB(o, on_closed_cb, this);
    if (s == NATS_OK) s = natsOptions_SetErrorHandler(o, on_error, this);
    if (s != NATS_OK) {
        natsOptions_Destroy(o);
        throw std::runtime_error("cluster: NATS options refused: " + status_text(s));
    }
    return o;
}

natsConnection* NatsBus::connect_one(bool echo) {
    natsOptions* o = make_options(echo);
    natsConnection* nc = nullptr;
    const natsStatus s = natsConnection_Connect(&nc, o);
    natsOptions_Destroy(o);
    std::string urls;
    for (const auto& u : cfg_.servers) urls += (urls.empty() ? "" : ", ") + u;
    if (s != NATS_OK) {
        set_error(status_text(s));
        throw std::runtime_error("cluster: cannot connect to NATS at " + urls + ": " + status_text(s));
    }
    char url[512] = {};
    if (natsConnection_GetConnectedUrl(nc, url, sizeof url) == NATS_OK) {
        std::lock_guard lock(status_mu_);
        server_ = url;
    }
    return nc;
}

bool NatsBus::ensure_stream_once(std::string& why) {
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    const std::string subjects = cfg_.prefix + ".q1.>";
    const char* subj[] = {subjects.c_str()};
    sc.Name = stream_.c_str();
    sc.Subjects = subj;
    sc.SubjectsLen = 1;
    sc.Storage = js_FileStorage;
    sc.Retention = js_LimitsPolicy;
    sc.MaxAge = static_cast<int64_t>(cfg_.message_retention_s) * 1'000'000'000;
    sc.MaxBytes = static_cast<int64_t>(cfg_.max_stream_bytes);
    sc.Duplicates = 120LL * 1'000'000'000;  // the dedup window of Nats-Msg-Id: 2 min
    sc.Replicas = static_cast<int64_t>(cfg_.replicas);
    jsStreamInfo* si = nullptr;
    jsErrCode e = static_cast<jsErrCode>(0);
    natsStatus s = js_AddStream(&si, js_plain_, &sc, nullptr, &e);
    if (s != NATS_OK && e == JSStreamNameExistErr) {
        // Another config (an older node, other settings): take ours, or carry on with what is there.
        s = js_UpdateStream(&si, js_plain_, &sc, nullptr, &e);
        if (s != NATS_OK && !retryable(s, e)) {
            log_(kWarn, "cluster: stream " + stream_ + " exists with other settings, kept as it is: " + status_text(s));
            s = NATS_OK;
        }
    }
    jsStreamInfo_Destroy(si);
    if (s == NATS_OK) return true;
    why = status_text(s) + (e != 0 ? " (JetStream error " + std::to_string(e) + ")" : "");
    if (!retryable(s, e)) throw std::runtime_error("cluster: cannot create stream " + stream_ + ": " + why);
    return false;
}

// `max_bytes` 0: no limit.
bool NatsBus::ensure_bucket_once(kvStore*& kv, const std::string& name, std::int64_t max_bytes, std::string& why) {
    kvConfig kc;
    kvConfig_Init(&kc);
    kc.Bucket = name.c_str();
    kc.History = 1;
    kc.Replicas = static_cast<int>(cfg_.replicas);
    kc.StorageType = js_FileStorage;
    kc.MaxBytes = max_bytes;
    natsStatus s = js_CreateKeyValue(&kv, js_plain_, &kc);
    if (s != NATS_OK) s = js_KeyValue(&kv, js_plain_, name.c_str());  // exists with other settings: use it
    if (s == NATS_OK) return true;
    why = status_text(s);
    if (s != NATS_NO_RESPONDERS && s != NATS_TIMEOUT && s != NATS_NOT_FOUND && s != NATS_ERR)
        throw std::runtime_error("cluster: cannot create bucket " + name + ": " + why);
    return false;
}

void NatsBus::ensure_jetstream(steady_clock::time_point deadline) {
    std::string why;
    bool stream = false, bucket = false, sessions = false;
    while (true) {
        if (!stream) stream = ensure_stream_once(why);
        if (stream && !bucket) bucket = ensure_bucket_once(kv_, bucket_, 0, why);
        // The cluster's copy of persistent sessions: no TTL (a session lives as long as its expiry says, and its
        // owner erases it), capped like the message stream (a full bucket refuses writes: the store group fails).
        if (bucket && !sessions)
            sessions = ensure_bucket_once(sessions_kv_, sessions_bucket_,
                                          static_cast<std::int64_t>(cfg_.max_stream_bytes), why);
        if (stream && bucket && sessions) return;
        if (steady_clock::now() >= deadline)
            throw std::runtime_error("cluster: JetStream not available within " +
                                     std::to_string(cfg_.connect_timeout_ms) + " ms: " + why);
        std::this_thread::sleep_for(std::chrono::milliseconds(100));  // a meta leader election takes a moment
    }
}

void NatsBus::subscribe_control() {
    // Requests to let go of a persistent session come to this node alone (take()).
    const std::string release = cfg_.prefix + ".ctl.release." + topic_token(cfg_.node);
    for (const auto& subj : {cfg_.prefix + ".ctl.claim", cfg_.prefix + ".ctl.node.*", release}) {
        natsSubscription* sub = nullptr;
        const natsStatus s = natsConnection_Subscribe(&sub, plain_, subj.c_str(),
                                                      subj == release ? on_release_cb : on_control_cb, this);
        if (s != NATS_OK) throw std::runtime_error("cluster: cannot subscribe to " + subj + ": " + status_text(s));
        control_subs_.push_back(sub);
    }
    if (natsConnection_FlushTimeout(plain_, cfg_.connect_timeout_ms) != NATS_OK)
        throw std::runtime_error("cluster: NATS did not confirm the control subscriptions");
}

void NatsBus::watch_retained() {
    kvWatchOptions wo;
    kvWatchOptions_Init(&wo);
    const natsStatus s = kvStore_WatchAll(&kv_watch_, kv_, &wo);
    if (s != NATS_OK) throw std::runtime_error("cluster: cannot watch bucket " + bucket_ + ": " + status_text(s));
    watcher_ = std::thread([this] {
        while (!stopping_) {
            kvEntry* e = nullptr;
            const natsStatus st = kvWatcher_Next(&e, kv_watch_, 250);
            if (st == NATS_TIMEOUT) continue;
            if (st != NATS_OK) break;  // stopped
            if (e == nullptr) continue;  // the end of the initial values
            const std::string key = kvEntry_Key(e);
            const auto op = kvEntry_Operation(e);
            if (op == kvOp_Put) {
                try {
                    std::string_view in(static_cast<const char*>(kvEntry_Value(e)),
                                        static_cast<std::size_t>(kvEntry_ValueLen(e)));
                    auto m = broker::decode_message(in, broker::Clock::now());
                    std::string topic = m->topic;  // before m moves: argument order is unspecified
                    if (key.starts_with("h.")) hashed_topics_[key] = topic;
                    events_->on_retained(std::move(topic), std::move(m));
                } catch (const broker::CodecError& ce) {
                    log_limited("cluster: retained value " + key + " cannot be read: " + ce.what());
                }
            } else if (op == kvOp_Delete || op == kvOp_Purge) {
                auto topic = topic_from_retained_key(key);
                if (!topic) {
                    const auto it = hashed_topics_.find(key);
                    if (it != hashed_topics_.end()) topic = it->second;
                }
                if (topic) events_->on_retained(*topic, nullptr);
            }
            kvEntry_Destroy(e);
        }
    });
}

void NatsBus::close_link() {
    // Late acks from the broker must find the gate closed before any NATS object goes.
    {
        std::lock_guard lock(gate_->mu);
        gate_->open = false;
    }
    if (kv_watch_ != nullptr) kvWatcher_Stop(kv_watch_);
    if (watcher_.joinable()) watcher_.join();
    for (auto* sub : control_subs_) natsSubscription_Unsubscribe(sub);
    int expect = 0;
    for (auto* nc : {plain_, shared_}) {
        if (nc == nullptr) continue;
        natsConnection_Close(nc);
        ++expect;
    }
    {
        // The close callbacks run on cnats's threads: wait for them so none runs into a destroyed bus.
        std::unique_lock lock(closed_mu_);
        closed_cv_.wait_for(lock, std::chrono::seconds(5), [&] { return closed_ >= expect; });
    }
    for (auto* sub : control_subs_) natsSubscription_Destroy(sub);
    control_subs_.clear();
    for (auto* sub : graveyard_) natsSubscription_Destroy(sub);
    graveyard_.clear();
    kvWatcher_Destroy(kv_watch_);
    kv_watch_ = nullptr;
    kvStore_Destroy(kv_);
    kv_ = nullptr;
    kvStore_Destroy(sessions_kv_);
    sessions_kv_ = nullptr;
    jsCtx_Destroy(js_plain_);
    jsCtx_Destroy(js_shared_);
    jsCtx_Destroy(js_sessions_);
    js_plain_ = js_shared_ = js_sessions_ = nullptr;
    natsConnection_Destroy(plain_);
    natsConnection_Destroy(shared_);
    plain_ = shared_ = nullptr;
    {
        std::lock_guard lock(status_mu_);
        connected_ = false;
    }
}

void NatsBus::start(broker::ClusterEvents& events) {
    std::unique_lock life(life_mu_);
    if (running_ || stopped_) return;
    events_ = &events;
    const auto deadline = steady_clock::now() + std::chrono::milliseconds(cfg_.connect_timeout_ms);
    try {
        plain_ = connect_one(false);
        shared_ = connect_one(true);
        jsOptions jo;
        jsOptions_Init(&jo);
        jo.Wait = cfg_.ack_timeout_ms;
        jo.PublishAsync.AckHandler = on_ack_cb;
        jo.PublishAsync.AckHandlerClosure = this;
        jo.PublishAsync.MaxPending = 1 << 16;  // publish() must not stall its caller
        jo.PublishAsync.StallWait = 10;
        jsOptions so = jo;  // write()'s own: its acks count its failures, and it waits for its publishes alone
        so.PublishAsync.AckHandler = on_session_ack_cb;
        if (natsConnection_JetStream(&js_plain_, plain_, &jo) != NATS_OK ||
            natsConnection_JetStream(&js_shared_, shared_, &jo) != NATS_OK ||
            natsConnection_JetStream(&js_sessions_, plain_, &so) != NATS_OK)
            throw std::runtime_error("cluster: cannot create a JetStream context");
        ensure_jetstream(deadline);
        subscribe_control();
        watch_retained();
    } catch (...) {
        close_link();
        throw;
    }
    {
        std::lock_guard lock(status_mu_);
        connected_ = true;
    }
    work_.start();
    takes_.start();
    maint_ = std::thread([this] { run_maintenance(); });
    running_ = true;
    log_(kInfo, "cluster: node " + cfg_.node + " joined through " + server_ + " (stream " + stream_ + ", buckets " +
                    bucket_ + " and " + sessions_bucket_ + ")");
    events_->on_link(true, "connected to " + server_);
}

}  // namespace moth::cluster
