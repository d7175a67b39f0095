// A persistent session's own durable consumers (docs/cluster.md, "Sessions and take-over"): attach()/detach() bind
// and unbind them on the work queue; they outlive the node that bound them, so the session's next owner gets what
// arrived meanwhile. Consumer names: src/cluster/session_keys.hpp.
#include <chrono>
#include <thread>

#include "cluster/nats/nats_bus_impl.hpp"
#include "cluster/session_keys.hpp"
#include "cluster/subject.hpp"

namespace moth::cluster {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr std::uint32_t kNeverExpires = 0xFFFFFFFF;

void on_session_msg_cb(natsConnection*, natsSubscription*, natsMsg* msg, void* c) {
    auto* ctx = static_cast<SubCtx*>(c);
    ctx->bus->on_msg(*ctx, msg);
}

}  // namespace

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
            for (auto& subject : carried_subjects(cfg_.prefix, "q1", filter)) {
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
            for (const auto& subject : carried_subjects(cfg_.prefix, "q1", filter))
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

}  // namespace moth::cluster
