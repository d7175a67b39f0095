// Persistent sessions that follow their client (docs/cluster.md, "Sessions and take-over"): write() copies the
// store's client records into the bucket "<prefix>_sessions", take() moves a session to this node (the old owner
// lets go first), attach()/detach() bind a session's own durable consumers, not_owned() finds the sessions that
// moved while this node was down, and old delete markers are cleared in the background. Key layout:
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
constexpr std::uint32_t kNeverExpires = 0xFFFFFFFF;

std::string status_text(natsStatus s) {
    std::string t = natsStatus_GetText(s);
    const char* last = nats_GetLastError(nullptr);
    if (last != nullptr && *last != '\0' && t != last) t += std::string(" (") + last + ")";
    return t;
}

std::int64_t remaining_ms(steady_clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - steady_clock::now()).count();
    return std::max<std::int64_t>(left, 1);
}

std::string entry_value(kvEntry* e) {
    const auto* data = static_cast<const char*>(kvEntry_Value(e));
    const int n = kvEntry_ValueLen(e);
    return data != nullptr && n > 0 ? std::string(data, static_cast<std::size_t>(n)) : std::string();
}

void on_session_msg_cb(natsConnection*, natsSubscription*, natsMsg* msg, void* c) {
    auto* ctx = static_cast<SubCtx*>(c);
    ctx->bus->on_msg(*ctx, msg);
}

// The q1 subjects of a filter, as change_interest() takes them: over-long topics travel on one subject of their own.
std::vector<std::string> q1_subjects(const std::string& prefix, const std::string& filter) {
    auto subjects = filter_subjects(prefix, "q1", filter);
    const auto long_subj = long_subject(prefix, "q1");
    if (subjects.size() != 1 || subjects[0] != long_subj) subjects.push_back(long_subj);
    return subjects;
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
    if (!owner.empty() && owner != cfg_.node) ask_release(owner, client_id, at_unix_ms);
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
        for (const auto& subject : q1_subjects(cfg_.prefix, sub.filter)) {
            const std::string name = session_consumer(client_id, sub.filter, subject);
            jsErrCode je = static_cast<jsErrCode>(0);
            (void)js_DeleteConsumer(js_plain_, stream_.c_str(), name.c_str(), nullptr, &je);  // none: fine
        }
    }
}

// ---- a session's own consumers -------------------------------------------------------------------------------

void NatsBus::attach(const std::string& client_id, const std::string& filter, std::uint32_t expiry_s, Done done) {
    work_.post([this, client_id, filter, expiry_s, done = std::move(done)](bool live) {
        if (!live) {
            if (done) done(false);
            return;
        }
        auto& a = attached_[{client_id, filter}];
        if (a.refs++ == 0) {
            a.expiry_s = expiry_s;
            for (auto& subject : q1_subjects(cfg_.prefix, filter)) {
                std::string name = session_consumer(client_id, filter, subject);
                a.units.push_back({std::move(subject), std::move(name), nullptr});
            }
        }
        bool ok = true;
        for (auto& u : a.units) {
            if (u.js == nullptr) ok = bind_session_unit(client_id, u, a.expiry_s) && ok;  // again if it failed before
        }
        if (done) done(ok);
    });
}

void NatsBus::detach(const std::string& client_id, const std::string& filter, bool remove) {
    work_.post([this, client_id, filter, remove](bool live) {
        if (!live) return;
        std::vector<std::string> names;
        if (auto it = attached_.find({client_id, filter}); it != attached_.end()) {
            if (--it->second.refs > 0) return;
            for (auto& u : it->second.units) {
                if (u.js != nullptr) {
                    natsSubscription_Unsubscribe(u.js);  // bound, not created by it: the consumer stays
                    graveyard_.push_back(u.js);
                    u.js = nullptr;
                }
                names.push_back(u.consumer);
            }
            attached_.erase(it);
        } else {
            // Not bound here (a restored session not attached yet): its consumers are still named after it.
            for (const auto& subject : q1_subjects(cfg_.prefix, filter))
                names.push_back(session_consumer(client_id, filter, subject));
        }
        if (!remove) return;
        for (const auto& name : names) {
            jsErrCode je = static_cast<jsErrCode>(0);
            (void)js_DeleteConsumer(js_plain_, stream_.c_str(), name.c_str(), nullptr, &je);
        }
    });
}

// stop(): unbinds every session consumer, deleting none (the session's next owner binds them).
void NatsBus::drop_sessions() {
    for (auto& [key, a] : attached_) {
        for (auto& u : a.units) {
            if (u.js == nullptr) continue;
            natsSubscription_Unsubscribe(u.js);
            graveyard_.push_back(u.js);
            u.js = nullptr;
        }
    }
    attached_.clear();
}

// Creates the consumer if it is new (deliver new messages), else binds it as it is (it kept what arrived while
// nobody was bound). First the ids its deliveries applied before (x records): their redeliveries are duplicates.
bool NatsBus::bind_session_unit(const std::string& client_id, SessionUnit& u, std::uint32_t expiry_s) {
    auto& ctx = session_ctxs_[u.consumer];
    if (!ctx) ctx = std::make_unique<SubCtx>(SubCtx{this, nullptr, true, client_id, u.consumer});
    const std::string deliver = cfg_.prefix + ".dlv." + u.consumer;
    jsConsumerConfig cc;
    jsConsumerConfig_Init(&cc);
    cc.Durable = u.consumer.c_str();
    cc.DeliverSubject = deliver.c_str();
    cc.FilterSubject = u.subject.c_str();
    cc.AckPolicy = js_AckExplicit;
    cc.AckWait = std::max<std::int64_t>(5000, 2LL * cfg_.ack_timeout_ms) * 1'000'000;
    cc.DeliverPolicy = js_DeliverNew;
    cc.MaxAckPending = 1000;
    cc.InactiveThreshold = expiry_s == kNeverExpires ? 0 : std::max<std::int64_t>(expiry_s, 1) * 1'000'000'000;
    // As reconcile(): a consumer on a replicated stream may not answer at once (its leader is being elected), and
    // the session's last owner may still be unbinding.
    const auto deadline = steady_clock::now() + milliseconds(cfg_.ack_timeout_ms);
    auto pause = milliseconds(50);
    std::string why;
    while (true) {
        jsErrCode e = static_cast<jsErrCode>(0);
        natsStatus s = NATS_OK;
        if (!mark_applied(u.consumer)) {
            s = NATS_ERR;
            why = "cannot read its applied ids";
        } else {
            jsConsumerInfo* ci = nullptr;
            s = js_AddConsumer(&ci, js_plain_, stream_.c_str(), &cc, nullptr, &e);
            jsConsumerInfo_Destroy(ci);
            if (s != NATS_OK && (e == JSConsumerNameExistErr || e == JSConsumerExistingActiveErr)) s = NATS_OK;
            if (s == NATS_OK) {
                jsSubOptions so;
                jsSubOptions_Init(&so);
                so.Stream = stream_.c_str();
                so.Consumer = u.consumer.c_str();
                so.ManualAck = true;
                s = js_Subscribe(&u.js, js_plain_, u.subject.c_str(), on_session_msg_cb, ctx.get(), nullptr, &so, &e);
                if (s == NATS_OK) s = natsSubscription_SetPendingLimits(u.js, -1, -1);
                if (s == NATS_OK) s = natsConnection_FlushTimeout(plain_, cfg_.ack_timeout_ms);
                if (s != NATS_OK && u.js != nullptr) {
                    natsSubscription_Unsubscribe(u.js);
                    graveyard_.push_back(u.js);
                    u.js = nullptr;
                }
            }
            if (s != NATS_OK) why = status_text(s) + " (" + std::to_string(e) + ")";
        }
        if (s == NATS_OK) return true;
        if (stopping_ || steady_clock::now() + pause >= deadline) break;
        std::this_thread::sleep_for(pause);
        pause = std::min(pause * 2, milliseconds(1000));
    }
    set_error("session consumer " + u.consumer + " of " + client_id + " on " + u.subject + ": " + why);
    return false;
}

// The ids a session consumer's deliveries applied on the session's earlier owners, as seen() takes them.
bool NatsBus::mark_applied(const std::string& consumer) {
    kvWatchOptions wo;
    kvWatchOptions_Init(&wo);
    wo.IgnoreDeletes = true;
    wo.MetaOnly = true;  // the keys are the ids
    kvWatcher* w = nullptr;
    natsStatus s = kvStore_Watch(&w, sessions_kv_, applied_keys(consumer).c_str(), &wo);
    while (s == NATS_OK) {
        kvEntry* e = nullptr;
        s = kvWatcher_Next(&e, w, cfg_.ack_timeout_ms);
        if (s != NATS_OK || e == nullptr) break;
        if (auto id = applied_id_of(kvEntry_Key(e))) {
            if (dedup_->first(*id, nullptr)) dedup_->acked(*id, true);
        }
        kvEntry_Destroy(e);
    }
    kvWatcher_Destroy(w);
    return s == NATS_OK;
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
