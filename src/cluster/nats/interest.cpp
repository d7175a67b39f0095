// This node's interest on NATS: per subject and path, a core subscription, a durable JetStream consumer, or
// nothing, from reference counts of the filters that want it (docs/cluster.md). Runs on the work queue only.
#include <algorithm>
#include <chrono>
#include <thread>

#include "cluster/nats/nats_bus_impl.hpp"
#include "cluster/subject.hpp"

namespace moth::cluster {
namespace {

void on_msg_cb(natsConnection*, natsSubscription*, natsMsg* msg, void* c) {
    auto* ctx = static_cast<SubCtx*>(c);
    ctx->bus->on_msg(*ctx, msg);
}

}  // namespace

NatsBus::Path NatsBus::path_of(const std::string& filter) const {
    Path p;
    p.filter = filter;
    if (filter.starts_with("$share/")) {
        const auto slash = filter.find('/', 7);
        if (slash != std::string::npos) {
            p.group = filter.substr(7, slash - 7);
            p.filter = filter.substr(slash + 1);
            p.share = std::make_shared<const std::string>(filter);
        }
    }
    return p;
}

SubCtx& NatsBus::ctx_for(const std::shared_ptr<const std::string>& share, bool consumer) {
    auto& slot = ctxs_[{share ? *share : std::string{}, consumer}];
    if (!slot) slot = std::make_unique<SubCtx>(SubCtx{this, share, consumer, {}, {}});
    return *slot;
}

// Adds `delta` subscribes of one class to `filter`; true when every subject it needs is carried.
bool NatsBus::change_interest(const std::string& filter, bool qos1, int delta) {
    const Path p = path_of(filter);
    auto& count = filters_[{filter, qos1}];
    count += delta;
    if (count <= 0) filters_.erase({filter, qos1});
    interests_ = filters_.size();
    bool ok = true;
    for (const char* kind : {"q0", "q1"}) {
        for (const auto& subject : carried_subjects(cfg_.prefix, kind, p.filter)) {
            const std::pair key{p.share ? *p.share : std::string{}, subject};
            auto& u = units_[key];
            u.q1 = kind[1] == '1';
            (qos1 ? u.n1 : u.n0) += delta;
            ok = reconcile(p, subject, u) && ok;
            if (u.n0 <= 0 && u.n1 <= 0 && u.core == nullptr && u.js == nullptr) units_.erase(key);
        }
    }
    return ok;
}

// Brings one unit's subscriptions to what its counts ask for. QoS 0 subjects: a core subscription while anyone
// wants them. QoS 1 subjects: the durable consumer while QoS>0 interest exists (it alone carries them then, so a
// message is not taken twice), else a core subscription (at most once) while QoS 0 interest exists.
bool NatsBus::reconcile(const Path& p, const std::string& subject, Unit& u) {
    const bool want_js = u.q1 && u.n1 > 0;
    const bool want_core = u.q1 ? (u.n1 <= 0 && u.n0 > 0) : (u.n0 + u.n1 > 0);
    bool ok = true;
    if (want_js && u.js == nullptr) {
        // A consumer just created on a replicated stream may not answer at once (its leader is being elected):
        // tried again, a little later each time, for up to ack_timeout_ms (this is the bus's own work thread).
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(cfg_.ack_timeout_ms);
        auto pause = std::chrono::milliseconds(50);
        while (!(ok = bind_consumer(p, subject, u)) && std::chrono::steady_clock::now() + pause < deadline &&
               !stopping_) {
            std::this_thread::sleep_for(pause);
            pause = std::min(pause * 2, std::chrono::milliseconds(1000));
        }
    }
    if (!want_js && u.js != nullptr) drop_consumer(u, true);
    if (want_core && u.core == nullptr) {
        natsConnection* nc = p.share ? shared_ : plain_;
        SubCtx& ctx = ctx_for(p.share, false);
        natsStatus s = NATS_OK;
        if (p.share) {
            const std::string queue = topic_token(p.group);
            s = natsConnection_QueueSubscribe(&u.core, nc, subject.c_str(), queue.c_str(), on_msg_cb, &ctx);
        } else {
            s = natsConnection_Subscribe(&u.core, nc, subject.c_str(), on_msg_cb, &ctx);
        }
        if (s == NATS_OK) s = natsSubscription_SetPendingLimits(u.core, -1, -1);  // the broker applies limits
        if (s == NATS_OK) s = natsConnection_FlushTimeout(nc, cfg_.ack_timeout_ms);
        if (s != NATS_OK) {
            set_error("subscribe " + subject + ": " + natsStatus_GetText(s));
            ok = false;
        }
    }
    if (!want_core && u.core != nullptr) {
        natsSubscription_Unsubscribe(u.core);
        graveyard_.push_back(u.core);
        u.core = nullptr;
    }
    return ok;
}

// Creates (or finds) the durable consumer of one q1 subject and binds to it. A plain path's consumer is this
// node's own ("<node>_<hash>"); a shared subscription's is one for the whole cluster, bound by every member node
// as a queue so JetStream hands each message to one of them.
bool NatsBus::bind_consumer(const Path& p, const std::string& subject, Unit& u) {
    const std::string name = p.share ? "sh_" + hex16(fnv1a64(p.group + '\0' + p.filter + '\0' + subject))
                                     : cfg_.node + "_" + hex16(fnv1a64(subject));
    const std::string deliver = cfg_.prefix + ".dlv." + name;
    const std::string queue = p.share ? topic_token(p.group) + "_" + name.substr(3) : std::string{};
    jsConsumerConfig cc;
    jsConsumerConfig_Init(&cc);
    cc.Durable = name.c_str();
    cc.DeliverSubject = deliver.c_str();
    if (p.share) cc.DeliverGroup = queue.c_str();
    cc.FilterSubject = subject.c_str();
    cc.AckPolicy = js_AckExplicit;
    cc.AckWait = 30LL * 1'000'000'000;
    cc.DeliverPolicy = js_DeliverNew;
    cc.MaxAckPending = 10'000;
    cc.InactiveThreshold = 3600LL * 1'000'000'000;  // a dead node's consumers go away after an hour
    jsConsumerInfo* ci = nullptr;
    jsErrCode e = static_cast<jsErrCode>(0);
    jsCtx* js = p.share ? js_shared_ : js_plain_;
    natsStatus s = js_AddConsumer(&ci, js, stream_.c_str(), &cc, nullptr, &e);
    jsConsumerInfo_Destroy(ci);
    if (s != NATS_OK && e != JSConsumerNameExistErr && e != JSConsumerExistingActiveErr) {
        set_error("consumer " + name + " on " + subject + ": " + natsStatus_GetText(s) + " (" + std::to_string(e) + ")");
        return false;
    }
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = stream_.c_str();
    so.Consumer = name.c_str();
    so.ManualAck = true;
    SubCtx& ctx = ctx_for(p.share, true);
    natsConnection* nc = p.share ? shared_ : plain_;
    if (p.share) so.Queue = queue.c_str();  // must equal the consumer's DeliverGroup
    s = js_Subscribe(&u.js, js, subject.c_str(), on_msg_cb, &ctx, nullptr, &so, &e);
    if (s == NATS_OK) s = natsSubscription_SetPendingLimits(u.js, -1, -1);
    if (s == NATS_OK) s = natsConnection_FlushTimeout(nc, cfg_.ack_timeout_ms);
    if (s != NATS_OK) {
        const char* detail = nats_GetLastError(nullptr);
        set_error("bind " + name + ": " + natsStatus_GetText(s) + " (" + std::to_string(e) + ")" +
                  (detail != nullptr && *detail != '\0' ? std::string(": ") + detail : std::string()));
        if (u.js != nullptr) graveyard_.push_back(u.js);
        u.js = nullptr;
        return false;
    }
    u.consumer = name;
    return true;
}

void NatsBus::drop_consumer(Unit& u, bool delete_it) {
    natsSubscription_Unsubscribe(u.js);
    graveyard_.push_back(u.js);
    u.js = nullptr;
    // A shared subscription's consumer belongs to every member node: it goes with its inactivity threshold once
    // the last member left, never at one member's unsubscribe.
    if (delete_it && u.consumer.starts_with(cfg_.node + "_")) {
        jsErrCode e = static_cast<jsErrCode>(0);
        js_DeleteConsumer(js_plain_, stream_.c_str(), u.consumer.c_str(), nullptr, &e);
    }
    u.consumer.clear();
}

// stop(): unsubscribes everything, keeping durable consumers so a restart resumes where this node was.
void NatsBus::drop_all_interest() {
    for (auto& [key, u] : units_) {
        if (u.js != nullptr) drop_consumer(u, false);
        if (u.core != nullptr) {
            natsSubscription_Unsubscribe(u.core);
            graveyard_.push_back(u.core);
            u.core = nullptr;
        }
    }
    units_.clear();
    filters_.clear();
    interests_ = 0;
    drop_sessions();
}

void NatsBus::subscribe(const std::string& filter, codec::QoS qos, Done done) {
    const bool q1 = qos != codec::QoS::AtMostOnce;
    work_.post([this, filter, q1, done = std::move(done)](bool live) {
        if (!live) {
            if (done) done(false);
            return;
        }
        const bool ok = change_interest(filter, q1, +1);
        if (done) done(ok);
    });
}

void NatsBus::unsubscribe(const std::string& filter, codec::QoS qos) {
    const bool q1 = qos != codec::QoS::AtMostOnce;
    work_.post([this, filter, q1](bool live) {
        if (live) (void)change_interest(filter, q1, -1);
    });
}

}  // namespace moth::cluster
