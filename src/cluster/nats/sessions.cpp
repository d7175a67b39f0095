// Persistent sessions that follow their client (docs/cluster.md, "Sessions and take-over"): write() copies the
// store's client records into the bucket "<prefix>_sessions", take() moves a session to this node (the old owner
// lets go first), not_owned() finds the sessions that moved while this node was down, and old delete markers are
// cleared in the background. A session's own consumers: session_consumers.cpp. Key layout:
// src/cluster/session_keys.hpp.
#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <thread>

#include "broker/store.hpp"
#include "cluster/nats/nats_bus_impl.hpp"
#include "cluster/session_keys.hpp"
#include "cluster/subject.hpp"

namespace moth::cluster {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr const char* kKvOperation = "KV-Operation";  // JetStream KV's own header: "DEL" marks a deleted key
constexpr std::string_view kBridgePrefix = "$bridge/";
// Every erased delivery leaves a delete marker; markers older than kMarkerAge are purged this often.
constexpr auto kMaintenanceEvery = std::chrono::minutes(5);
constexpr auto kMarkerAge = std::chrono::minutes(5);


std::int64_t remaining_ms(steady_clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - steady_clock::now()).count();
    return std::max<std::int64_t>(left, 1);
}

std::string entry_value(kvEntry* e) {
    const auto* data = static_cast<const char*>(kvEntry_Value(e));
    const int n = kvEntry_ValueLen(e);
    return data != nullptr && n > 0 ? std::string(data, static_cast<std::size_t>(n)) : std::string();
}

// The records of one session as a StoreBackend, so that the store's own reader (load_state) decodes its "s" record.
class RecordsBackend final : public broker::StoreBackend {
public:
    bool write(const std::vector<const std::vector<broker::StoreOp>*>& batches, bool) override {
        for (const auto* b : batches) {
            for (const auto& op : *b) {
                if (op.kind == broker::StoreOp::Kind::Put) {
                    records[op.key] = op.value;
                } else if (op.kind == broker::StoreOp::Kind::Erase || op.kind == broker::StoreOp::Kind::Forget) {
                    records.erase(op.key);
                } else {
                    std::erase_if(records, [&](const auto& kv) { return kv.first.starts_with(op.key); });
                }
            }
        }
        return true;
    }
    void scan(const std::function<void(std::string_view, std::string_view)>& fn) override {
        for (const auto& [k, v] : records) fn(k, v);
    }
    std::map<std::string, std::string> records;
};

// The subscriptions kept in a session record (the value of its "s" key); empty when it cannot be read.
std::vector<broker::StoredSubscription> subscriptions_of(const std::string& client_id, const std::string& value) {
    RecordsBackend b;
    broker::StoreBatch format(broker::Clock::now());
    format.put_format_version(broker::kStoreFormatVersion);
    for (auto& op : format.take()) b.records[op.key] = op.value;
    b.records[broker::make_client_key({'s', client_id, {}, false})] = value;
    try {
        auto state = broker::load_state(b, broker::Clock::now());
        for (auto& rs : state.sessions) {
            if (rs.session.client_id == client_id) return std::move(rs.session.subscriptions);
        }
    } catch (const std::exception&) {
        // StoreCorrupt or StoreFormatTooNew (a newer node wrote it): nothing known
    }
    return {};
}

}  // namespace

// ---- SessionReplica ------------------------------------------------------------------------------------------

bool NatsBus::write(const std::vector<const std::vector<broker::StoreOp>*>& batches) {
    using Kind = broker::StoreOp::Kind;
    // What the cluster keeps, in op order. Most groups have none (retained, totals, plain paths' ids): no NATS.
    std::vector<std::pair<const broker::StoreOp*, SessionKey>> todo;
    for (const auto* batch : batches) {
        if (batch == nullptr) continue;
        for (const auto& op : *batch) {
            if (op.kind == Kind::Forget || op.kind == Kind::ForgetPrefix) continue;  // this node's own
            if (auto k = session_key(op.key)) todo.emplace_back(&op, std::move(*k));
        }
    }
    if (todo.empty()) return true;
    // Shared: stop() waits for a write in progress before the NATS objects go.
    std::shared_lock life(life_mu_);
    if (!running_ || stopping_) return false;
    if (natsConnection_Status(plain_) != NATS_CONN_STATUS_CONNECTED) {
        set_error("sessions: not replicated, the link to NATS is down");
        return false;
    }
    const auto deadline = steady_clock::now() + milliseconds(cfg_.ack_timeout_ms);
    const std::uint64_t failures = session_failures_;
    std::set<std::string> purged;  // clients erased whole by this write and not written since
    bool ok = true;
    for (const auto& [op, k] : todo) {
        if (!ok) break;
        if (op->kind == Kind::Put) {
            if (k.kind == SessionKey::Kind::Prefix) continue;  // no record has that key
            if (!k.client_id.empty()) purged.erase(k.client_id);
            ok = publish_session(k.key, op->value, false);
            if (ok && k.tag == 's') ok = publish_session(owner_key(k.client_id), cfg_.node, false);
            continue;
        }
        // Erase and ErasePrefix.
        if (!k.client_id.empty() && purged.contains(k.client_id)) continue;  // erase_session's w, q, p, i: gone
        const std::string* filter = nullptr;
        std::string whole;
        if (k.kind == SessionKey::Kind::Record && k.tag == 's') {
            whole = client_keys(k.client_id);  // the whole client, its owner mark included
            filter = &whole;
        } else if (k.kind == SessionKey::Kind::Prefix) {
            filter = &k.key;
        }
        if (filter == nullptr) {
            ok = publish_session(k.key, {}, true);
            continue;
        }
        // What was published before must be in the bucket before the purge, or it would outlive it.
        ok = wait_session_acks(deadline, failures) && purge_sessions(*filter, deadline);
        if (ok && filter == &whole) purged.insert(k.client_id);
    }
    return wait_session_acks(deadline, failures) && ok;
}

// One async publish to the bucket's stream: a put, or a delete marker (`del`). Acknowledged on cnats's thread
// (on_session_ack); wait_session_acks() waits for them.
bool NatsBus::publish_session(const std::string& key, const std::string& value, bool del) {
    const std::string subject = "$KV." + sessions_bucket_ + "." + key;
    natsMsg* msg = nullptr;
    natsStatus s = natsMsg_Create(&msg, subject.c_str(), nullptr, value.data(), static_cast<int>(value.size()));
    if (s == NATS_OK && del) s = natsMsgHeader_Set(msg, kKvOperation, "DEL");
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = cfg_.ack_timeout_ms;
    if (s == NATS_OK) s = js_PublishMsgAsync(js_sessions_, &msg, &po);
    natsMsg_Destroy(msg);  // null when the library took it
    if (s != NATS_OK) {
        set_error("sessions: cannot publish " + key + ": " + status_text(s));
        return false;
    }
    return true;
}

void NatsBus::on_session_ack(bool ok, const char* error) {
    if (ok) return;
    ++session_failures_;  // before cnats counts the publish as done: wait_session_acks() sees it
    set_error(std::string("sessions: JetStream refused a write: ") + (error != nullptr ? error : "failed"));
}

// True once every publish of write() so far is confirmed, none refused since `failures_before`.
bool NatsBus::wait_session_acks(steady_clock::time_point deadline, std::uint64_t failures_before) {
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = remaining_ms(deadline);
    const natsStatus s = js_PublishAsyncComplete(js_sessions_, &po);
    if (s != NATS_OK) {
        // Taken back, so that no late answer counts for (or against) the next write.
        natsMsgList left;
        if (js_PublishAsyncGetPendingList(&left, js_sessions_) == NATS_OK) natsMsgList_Destroy(&left);
        set_error("sessions: JetStream did not confirm within " + std::to_string(cfg_.ack_timeout_ms) +
                  " ms: " + status_text(s));
        return false;
    }
    return session_failures_ == failures_before;
}

// Removes every key under `filter` ("c.<ctok>.>" or "c.<ctok>.<tag>.>") from the bucket: no markers left behind.
bool NatsBus::purge_sessions(const std::string& filter, steady_clock::time_point deadline) {
    const std::string subject = "$KV." + sessions_bucket_ + "." + filter;
    jsOptions o;
    jsOptions_Init(&o);
    o.Wait = remaining_ms(deadline);
    o.Stream.Purge.Subject = subject.c_str();
    jsErrCode e = static_cast<jsErrCode>(0);
    const natsStatus s = js_PurgeStream(js_plain_, sessions_stream_.c_str(), &o, &e);
    if (s != NATS_OK) {
        set_error("sessions: cannot purge " + filter + ": " + status_text(s) + " (" + std::to_string(e) + ")");
        return false;
    }
    return true;
}

// ---- take ----------------------------------------------------------------------------------------------------

void NatsBus::take(const std::string& client_id, std::int64_t at_unix_ms, bool want_records, Taken done) {
    // Its own queue: waiting for another node must not hold up interest changes on work_.
    takes_.post([this, client_id, at_unix_ms, want_records, done = std::move(done)](bool live) {
        broker::SessionRecords records;
        const bool ok = live && !stopping_ && take_now(client_id, at_unix_ms, want_records, records);
        if (!ok) records.clear();
        if (done) done(ok, std::move(records));
    });
}

// On takes_ (close_link runs only after it stopped).
bool NatsBus::take_now(const std::string& client_id, std::int64_t at_unix_ms, bool want_records,
                       broker::SessionRecords& records) {
    if (natsConnection_Status(plain_) != NATS_CONN_STATUS_CONNECTED) {
        set_error("take " + client_id + ": the link to NATS is down");
        return false;
    }
    if (!send_claim(client_id, at_unix_ms)) {
        set_error("take " + client_id + ": the claim did not leave");
        return false;
    }
    kvEntry* e = nullptr;
    std::string owner;
    const natsStatus s = kvStore_Get(&e, sessions_kv_, owner_key(client_id).c_str());
    if (s == NATS_OK) {
        owner = entry_value(e);
        kvEntry_Destroy(e);
    } else if (s != NATS_NOT_FOUND) {
        set_error("take " + client_id + ": cannot read its owner: " + status_text(s));
        return false;
    }
    // No owner mark: no persistent session of this client anywhere (a session record is written with its mark, and
    // a session's end purges both), so a clean session's CONNECT costs one read.
    if (owner.empty()) return true;
    if (owner != cfg_.node) ask_release(owner, client_id, at_unix_ms);
    if (stopping_) return false;
    if (want_records) return read_client(client_id, records);
    // A new session (Clean Start): the old one's consumers would bring what they kept; then its records go.
    delete_session_consumers(client_id);
    return purge_sessions(client_keys(client_id), steady_clock::now() + milliseconds(cfg_.ack_timeout_ms));
}

// Asks `owner` to let go of the client's session and waits for its answer, for "no responders" (it is gone), or
// for ack_timeout_ms; whichever comes, the take goes on (the owner's answer is only logged).
void NatsBus::ask_release(const std::string& owner, const std::string& client_id, std::int64_t at_unix_ms) {
    const std::string subject = cfg_.prefix + ".ctl.release." + topic_token(owner);
    natsInbox* inbox = nullptr;
    natsSubscription* sub = nullptr;
    natsMsg* request = nullptr;
    natsMsg* reply = nullptr;
    natsStatus s = natsInbox_Create(&inbox);
    // Our own inbox, not natsConnection_RequestMsg: the wait below gives way to stop() within 100 ms.
    if (s == NATS_OK) s = natsConnection_SubscribeSync(&sub, plain_, inbox);
    if (s == NATS_OK) {
        s = natsMsg_Create(&request, subject.c_str(), inbox, client_id.data(), static_cast<int>(client_id.size()));
    }
    if (s == NATS_OK) s = natsMsgHeader_Set(request, kNodeHeader, cfg_.node.c_str());
    if (s == NATS_OK) s = natsMsgHeader_Set(request, kAtHeader, std::to_string(at_unix_ms).c_str());
    if (s == NATS_OK) s = natsConnection_PublishMsg(plain_, request);
    const auto deadline = steady_clock::now() + milliseconds(cfg_.ack_timeout_ms);
    while (s == NATS_OK) {
        s = natsSubscription_NextMsg(&reply, sub, std::min<std::int64_t>(100, remaining_ms(deadline)));
        if (s != NATS_TIMEOUT || steady_clock::now() >= deadline || stopping_) break;
        s = NATS_OK;
    }
    if (s == NATS_OK && reply != nullptr) {
        const std::string answer(natsMsg_GetData(reply), static_cast<std::size_t>(natsMsg_GetDataLength(reply)));
        if (answer != "1")
            log_(kInfo, "cluster: node " + owner + " keeps the session of " + client_id + " (its connection is later)");
    } else if (s == NATS_NO_RESPONDERS) {
        // The owner is gone (stopped or dead): its copy in the bucket is the session.
    } else if (!stopping_) {
        log_(kWarn, "cluster: node " + owner + " did not let go of the session of " + client_id + " within " +
                        std::to_string(cfg_.ack_timeout_ms) + " ms (" + status_text(s) + "); taken anyway");
    }
    natsMsg_Destroy(reply);
    natsMsg_Destroy(request);
    natsSubscription_Destroy(sub);
    natsInbox_Destroy(inbox);
}

// Every record of the client in the bucket, as store keys and values in key order. The owner mark is not one.
bool NatsBus::read_client(const std::string& client_id, broker::SessionRecords& records) {
    kvWatchOptions wo;
    kvWatchOptions_Init(&wo);
    wo.IgnoreDeletes = true;
    kvWatcher* w = nullptr;
    natsStatus s = kvStore_Watch(&w, sessions_kv_, client_keys(client_id).c_str(), &wo);
    const std::string owner = owner_key(client_id);
    while (s == NATS_OK) {
        kvEntry* e = nullptr;
        // A long queue takes a while: the limit is between two entries, not for them all.
        s = kvWatcher_Next(&e, w, cfg_.ack_timeout_ms);
        if (s != NATS_OK || e == nullptr) break;  // nullptr: the initial values are all there
        const std::string key = kvEntry_Key(e);
        if (auto store_key = store_key_of(key, client_id)) {
            records.emplace_back(std::move(*store_key), entry_value(e));
        } else if (key != owner) {
            log_limited("cluster: sessions bucket: unexpected key " + key);
        }
        kvEntry_Destroy(e);
    }
    kvWatcher_Destroy(w);
    if (s != NATS_OK) {
        set_error("take " + client_id + ": cannot read its records: " + status_text(s));
        records.clear();
        return false;
    }
    std::sort(records.begin(), records.end());
    return true;
}

// The durable consumers of the session the bucket has for the client (attach names them after its filters).
void NatsBus::delete_session_consumers(const std::string& client_id) {
    const auto key = session_key(broker::make_client_key({'s', client_id, {}, false}));
    kvEntry* e = nullptr;
    if (!key || kvStore_Get(&e, sessions_kv_, key->key.c_str()) != NATS_OK) return;
    const std::string value = entry_value(e);
    kvEntry_Destroy(e);
    for (const auto& sub : subscriptions_of(client_id, value)) {
        if (sub.filter.starts_with("$share/")) continue;
        for (const auto& subject : carried_subjects(cfg_.prefix, "q1", sub.filter)) {
            const std::string name = session_consumer(client_id, sub.filter, subject);
            jsErrCode je = static_cast<jsErrCode>(0);
            (void)js_DeleteConsumer(js_plain_, stream_.c_str(), name.c_str(), nullptr, &je);  // none: fine
        }
    }
}

// ---- start-up, release requests, maintenance -----------------------------------------------------------------

std::vector<std::string> NatsBus::not_owned(const std::vector<std::string>& client_ids) {
    std::vector<std::string> out;
    if (client_ids.empty()) return out;
    std::shared_lock life(life_mu_);
    if (!running_ || stopping_) return out;
    // One pass over every owner mark of the bucket rather than one request per session.
    std::unordered_map<std::string, std::string> owners;  // client token -> node
    kvWatchOptions wo;
    kvWatchOptions_Init(&wo);
    wo.IgnoreDeletes = true;
    kvWatcher* w = nullptr;
    natsStatus s = kvStore_Watch(&w, sessions_kv_, "c.*.o", &wo);
    while (s == NATS_OK) {
        kvEntry* e = nullptr;
        s = kvWatcher_Next(&e, w, cfg_.ack_timeout_ms);
        if (s != NATS_OK || e == nullptr) break;
        std::string_view key = kvEntry_Key(e);  // c.<ctok>.o
        if (key.size() > 4) owners[std::string(key.substr(2, key.size() - 4))] = entry_value(e);
        kvEntry_Destroy(e);
    }
    kvWatcher_Destroy(w);
    if (s != NATS_OK) {
        log_(kError, "cluster: cannot read the owners of persistent sessions (" + status_text(s) +
                         "): this node keeps all of its own");
        return out;
    }
    for (const auto& id : client_ids) {
        if (id.starts_with(kBridgePrefix)) continue;
        const auto it = owners.find(client_token(id));
        if (it != owners.end() && !it->second.empty() && it->second != cfg_.node) out.push_back(id);
    }
    return out;
}

// Another node's take(): this node is the owner the bucket names. The answer goes to the request's reply subject
// when the core calls `release`, from any thread, once; after stop() it goes nowhere (the asking node then sees no
// responders, or its timeout).
void NatsBus::on_release_request(natsMsg* msg) {
    const char* reply_to = natsMsg_GetReply(msg);
    const std::string reply = reply_to != nullptr ? reply_to : "";
    const std::string client(natsMsg_GetData(msg), static_cast<std::size_t>(natsMsg_GetDataLength(msg)));
    const std::string by = header(msg, kNodeHeader);
    const std::string at = header(msg, kAtHeader);
    natsMsg_Destroy(msg);
    if (stopping_ || events_ == nullptr) return;
    char* end = nullptr;
    const std::int64_t at_unix_ms = std::strtoll(at.c_str(), &end, 10);
    if (reply.empty() || by.empty() || client.empty() || at.empty() || end == nullptr || *end != '\0') {
        log_limited("cluster: unreadable release request from node '" + by + "'");
        return;
    }
    auto answered = std::make_shared<std::atomic<bool>>(false);
    std::function<void(bool)> release = [gate = gate_, nc = plain_, reply, answered](bool released) {
        if (answered->exchange(true)) return;
        std::lock_guard lock(gate->mu);
        if (!gate->open) return;  // the link is closed: nothing to answer with
        natsConnection_Publish(nc, reply.c_str(), released ? "1" : "0", 1);
    };
    events_->on_takeover(client, by, at_unix_ms, std::move(release));
}

void NatsBus::run_maintenance() {
    std::unique_lock lock(maint_mu_);
    while (!maint_cv_.wait_for(lock, kMaintenanceEvery, [this] { return stopping_.load(); })) {
        lock.unlock();
        purge_delete_markers(kMarkerAge);
        lock.lock();
    }
}

// Every erased delivery leaves a delete marker in the bucket. Those older than `older_than` go, each purged up to
// its own revision only: a key written again since keeps its new value (kvStore_PurgeDeletes would purge it).
void NatsBus::purge_delete_markers(std::chrono::nanoseconds older_than) {
    kvWatchOptions wo;
    kvWatchOptions_Init(&wo);
    wo.MetaOnly = true;
    kvWatcher* w = nullptr;
    natsStatus s = kvStore_WatchAll(&w, sessions_kv_, &wo);
    const std::int64_t limit = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::system_clock::now().time_since_epoch() - older_than)
                                   .count();
    std::vector<std::pair<std::string, std::uint64_t>> markers;
    while (s == NATS_OK && !stopping_) {
        kvEntry* e = nullptr;
        s = kvWatcher_Next(&e, w, cfg_.ack_timeout_ms);
        if (s != NATS_OK || e == nullptr) break;
        const auto op = kvEntry_Operation(e);
        if ((op == kvOp_Delete || op == kvOp_Purge) && kvEntry_Created(e) < limit)
            markers.emplace_back(kvEntry_Key(e), kvEntry_Revision(e));
        kvEntry_Destroy(e);
    }
    kvWatcher_Destroy(w);
    if (s != NATS_OK) {
        log_limited("cluster: cannot read the sessions bucket's delete markers: " + status_text(s));
        return;
    }
    for (const auto& [key, revision] : markers) {
        if (stopping_) return;
        const std::string subject = "$KV." + sessions_bucket_ + "." + key;
        jsOptions o;
        jsOptions_Init(&o);
        o.Wait = cfg_.ack_timeout_ms;
        o.Stream.Purge.Subject = subject.c_str();
        o.Stream.Purge.Sequence = revision + 1;  // up to the marker, not past it
        jsErrCode je = static_cast<jsErrCode>(0);
        s = js_PurgeStream(js_plain_, sessions_stream_.c_str(), &o, &je);
        if (s != NATS_OK) {
            log_limited("cluster: cannot purge the delete marker of " + key + ": " + status_text(s));
            return;
        }
    }
}

}  // namespace moth::cluster
