// NatsBus: publishing, deliveries, control messages, status and stopping (docs/cluster.md).
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>

#include "broker/message_codec.hpp"
#include "cluster/nats/nats_bus_impl.hpp"
#include "cluster/nats_bus.hpp"
#include "cluster/subject.hpp"

namespace moth::cluster {
namespace {

constexpr const char* kMsgId = "Nats-Msg-Id";
// A QoS 1/2 message: the publishing session on its node (Message::origin_session, decimal), for No Local when a
// session consumer brings the node's own message back.
constexpr const char* kSessionHeader = "Moth-Session";

std::int64_t unix_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

NatsBus::NatsBus(const config::Cluster& cfg, std::string version, Log log)
    : cfg_(cfg), version_(std::move(version)), log_(std::move(log)) {
    if (!log_) log_ = [](int, const std::string&) {};
    std::string upper = cfg_.prefix;
    std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
    stream_ = upper + "_MSG";
    bucket_ = cfg_.prefix + "_retained";
    sessions_bucket_ = cfg_.prefix + "_sessions";
    sessions_stream_ = "KV_" + sessions_bucket_;
    started_unix_ms_ = unix_ms();
    id_prefix_ = cfg_.node + "." + std::to_string(started_unix_ms_) + ".";
    control_ctx_.bus = this;
}

NatsBus::~NatsBus() { stop(); }

void NatsBus::stop() {
    {
        std::unique_lock life(life_mu_);
        if (stopped_) return;
        stopped_ = true;
        stopping_ = true;
    }
    {
        std::lock_guard lock(maint_mu_);  // no lost wake-up: the maintenance thread checks stopping_ under it
    }
    maint_cv_.notify_all();
    const bool was_running = running_;
    if (was_running) {
        // The interest goes first, on the work queue (which owns it), before the queue stops.
        std::mutex mu;
        std::condition_variable cv;
        bool dropped = false;
        work_.post([&](bool live) {
            if (live) drop_all_interest();
            std::lock_guard lock(mu);
            dropped = true;
            cv.notify_one();
        });
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return dropped; });
    }
    work_.stop();  // fails whatever is still queued (their `done` run with false)
    takes_.stop();  // a take waiting for another node sees stopping_ within 100 ms
    if (maint_.joinable()) maint_.join();
    {
        std::unique_lock life(life_mu_);
        running_ = false;
    }
    if (plain_ != nullptr && js_plain_ != nullptr) {
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MaxWait = 500;  // let acks already on their way arrive; the rest fail below
        js_PublishAsyncComplete(js_plain_, &po);
    }
    close_link();
    std::unordered_map<std::string, std::shared_ptr<Joint>> left;
    {
        std::lock_guard lock(pending_mu_);
        left.swap(pending_);
    }
    for (auto& [id, j] : left) j->part(false);
    if (was_running && events_ != nullptr) events_->on_link(false, "stopped");
}

std::string NatsBus::next_msg_id() { return id_prefix_ + std::to_string(++counter_); }

natsMsg* NatsBus::make_msg(const std::string& subject, const std::string& id, const std::string& payload,
                           std::uint64_t origin_session) {
    natsMsg* msg = nullptr;
    if (natsMsg_Create(&msg, subject.c_str(), nullptr, payload.data(), static_cast<int>(payload.size())) != NATS_OK)
        return nullptr;
    natsMsgHeader_Set(msg, kMsgId, id.c_str());
    natsMsgHeader_Set(msg, kNodeHeader, cfg_.node.c_str());
    if (origin_session != 0) natsMsgHeader_Set(msg, kSessionHeader, std::to_string(origin_session).c_str());
    return msg;
}

void NatsBus::publish(const broker::MessagePtr& m, Done done) {
    std::shared_lock life(life_mu_);
    if (!running_ || stopping_) {
        life.unlock();
        if (done) done(false);
        return;
    }
    std::string payload;
    broker::encode_message(payload, *m, broker::Clock::now());
    const std::string id = next_msg_id();
    const bool q1 = m->qos != codec::QoS::AtMostOnce;
    auto joint = std::make_shared<Joint>(m->retain ? 2 : 1, std::move(done));
    // Only session consumers (QoS 1/2 subjects) bring a node's own messages back: only they need the session.
    natsMsg* msg = make_msg(topic_subject(cfg_.prefix, q1 ? "q1" : "q0", m->topic), id, payload,
                            q1 ? m->origin_session : 0);
    ++published_;
    if (!q1) {
        const bool ok = msg != nullptr && natsConnection_PublishMsg(plain_, msg) == NATS_OK;
        natsMsg_Destroy(msg);
        if (m->retain) put_retained(m, payload, joint);  // before done: the KV put is the second part
        joint->part(ok);
        return;
    }
    {
        std::lock_guard lock(pending_mu_);
        pending_[id] = joint;
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = cfg_.ack_timeout_ms;  // the ack handler reports a timeout past it
    const natsStatus s = msg != nullptr ? js_PublishMsgAsync(js_plain_, &msg, &po) : NATS_NO_MEMORY;
    natsMsg_Destroy(msg);  // null when the library took it
    if (m->retain) put_retained(m, std::move(payload), joint);
    if (s != NATS_OK) {
        std::shared_ptr<Joint> j;
        {
            std::lock_guard lock(pending_mu_);
            if (auto it = pending_.find(id); it != pending_.end()) {
                j = std::move(it->second);
                pending_.erase(it);
            }
        }
        if (j) {
            ++publish_failures_;
            j->part(false);
        }
    }
}

// The cluster-wide retained value of the topic: KV calls block, so they run on the work queue, in publish order.
void NatsBus::put_retained(const broker::MessagePtr& m, std::string value, std::shared_ptr<Joint> j) {
    work_.post([this, m, value = std::move(value), j = std::move(j)](bool live) {
        if (!live) {
            j->part(false);
            return;
        }
        const std::string key = retained_key(m->topic);
        std::uint64_t rev = 0;
        const natsStatus s = m->payload.empty()
                                 ? kvStore_Delete(kv_, key.c_str())
                                 : kvStore_Put(&rev, kv_, key.c_str(), value.data(), static_cast<int>(value.size()));
        if (s != NATS_OK) set_error("retained " + m->topic + ": " + natsStatus_GetText(s));
        j->part(s == NATS_OK);
    });
}

void NatsBus::on_pub_ack(natsMsg* msg, bool ok, const char* error) {
    const std::string id = header(msg, kMsgId);
    std::shared_ptr<Joint> j;
    {
        std::lock_guard lock(pending_mu_);
        if (auto it = pending_.find(id); it != pending_.end()) {
            j = std::move(it->second);
            pending_.erase(it);
        }
    }
    if (!j) return;
    if (!ok) {
        ++publish_failures_;
        set_error(std::string("JetStream publish: ") + (error != nullptr ? error : "failed"));
    }
    j->part(ok);
}

void NatsBus::on_msg(SubCtx& ctx, natsMsg* msg) {
    if (stopping_) {
        natsMsg_Destroy(msg);  // not acked: JetStream redelivers it after the restart
        return;
    }
    const std::string from = header(msg, kNodeHeader);
    if (!ctx.client.empty()) {  // a persistent session's own consumer: its own node's messages included
        deliver_session(ctx, msg, header(msg, kMsgId), from == cfg_.node);
        return;
    }
    if (!ctx.share && from == cfg_.node) {  // a node never routes its own message back (plain paths)
        if (ctx.consumer) natsMsg_Ack(msg, nullptr);
        natsMsg_Destroy(msg);
        return;
    }
    deliver(ctx, msg, header(msg, kMsgId));
}

void NatsBus::deliver(SubCtx& ctx, natsMsg* msg, const std::string& id) {
    broker::MessagePtr m;
    try {
        std::string_view in(natsMsg_GetData(msg), static_cast<std::size_t>(natsMsg_GetDataLength(msg)));
        m = broker::decode_message(in, broker::Clock::now());
    } catch (const broker::CodecError& e) {
        log_limited("cluster: dropped an unreadable message on " + std::string(natsMsg_GetSubject(msg)) + ": " +
                    e.what());
        if (ctx.consumer) natsMsg_Term(msg, nullptr);
        natsMsg_Destroy(msg);
        return;
    }
    const std::string key = (ctx.share ? *ctx.share : std::string{}) + '\n' + id;
    broker::ClusterDelivery d{std::move(m), ctx.share, nullptr, id.empty() ? std::string() : key, {}};
    if (!ctx.consumer) {
        natsMsg_Destroy(msg);
        if (!id.empty() && !dedup_->first(key, nullptr)) {
            ++duplicates_;
            return;
        }
        if (!id.empty() && d.message->qos == codec::QoS::AtMostOnce) {
            dedup_->acked(key, true);
        } else if (!id.empty()) {
            // A QoS 1/2 message by a core path (a QoS 0 filter overlapping a QoS>0 one): its consumer copy, if one
            // comes, is acknowledged to JetStream only once this copy is routed and stored here.
            d.ack = [dedup = dedup_, key](bool ok) { dedup->acked(key, ok); };
        }
    } else {
        std::shared_ptr<natsMsg> held(msg, natsMsg_Destroy);
        auto gate = gate_;
        auto settle = [gate, held](bool ok) {
            std::lock_guard lock(gate->mu);
            if (gate->open) ok ? natsMsg_Ack(held.get(), nullptr) : natsMsg_Nak(held.get(), nullptr);
        };
        if (!id.empty() && !dedup_->first(key, settle)) {
            ++duplicates_;
            return;
        }
        // Holds the dedup memory itself: the broker may ack after the bus is gone. The gate's lock is not held
        // while duplicates are settled (each settle takes it).
        d.ack = [dedup = dedup_, settle, key, has_id = !id.empty()](bool ok) {
            settle(ok);
            if (has_id) dedup->acked(key, ok);
        };
    }
    ++received_;
    events_->on_message(std::move(d));
}

// A delivery of a persistent session's own consumer (attach): for that client's session only. Its id names the
// consumer ("@<consumer>\n<msgid>"): the core stores it ("x" record, replicated by write()), and the next owner's
// attach marks it seen, so a redelivery after a take-over is a duplicate there too.
void NatsBus::deliver_session(SubCtx& ctx, natsMsg* msg, const std::string& msg_id, bool own) {
    broker::MessagePtr m;
    try {
        std::string_view in(natsMsg_GetData(msg), static_cast<std::size_t>(natsMsg_GetDataLength(msg)));
        auto decoded = broker::decode_message(in, broker::Clock::now());
        if (own) {
            // No Local: this node's session that published it. decode_message made a fresh, unshared (non-const)
            // Message and nothing else holds it yet: set before it is handed over.
            const std::string origin = header(msg, kSessionHeader);
            if (!origin.empty()) {
                std::const_pointer_cast<broker::Message>(decoded)->origin_session =
                    std::strtoull(origin.c_str(), nullptr, 10);
            }
        }
        m = std::move(decoded);
    } catch (const broker::CodecError& e) {
        log_limited("cluster: dropped an unreadable message on " + std::string(natsMsg_GetSubject(msg)) + ": " +
                    e.what());
        natsMsg_Term(msg, nullptr);
        natsMsg_Destroy(msg);
        return;
    }
    const std::string id = msg_id.empty() ? std::string() : "@" + ctx.session_consumer + "\n" + msg_id;
    std::shared_ptr<natsMsg> held(msg, natsMsg_Destroy);
    auto gate = gate_;
    auto settle = [gate, held](bool ok) {
        std::lock_guard lock(gate->mu);
        if (gate->open) ok ? natsMsg_Ack(held.get(), nullptr) : natsMsg_Nak(held.get(), nullptr);
    };
    if (!id.empty() && !dedup_->first(id, settle)) {
        ++duplicates_;
        return;
    }
    broker::ClusterDelivery d{std::move(m), nullptr,
                              [dedup = dedup_, settle, id](bool ok) {
                                  settle(ok);
                                  if (!id.empty()) dedup->acked(id, ok);
                              },
                              id, ctx.client};
    ++received_;
    events_->on_message(std::move(d));
}

void NatsBus::seen(const std::vector<std::string>& ids) {
    for (const auto& key : ids) {
        if (dedup_->first(key, nullptr)) dedup_->acked(key, true);
    }
}

void NatsBus::claim(const std::string& client_id, std::int64_t at_unix_ms, Done done) {
    work_.post([this, client_id, at_unix_ms, done = std::move(done)](bool live) {
        const bool ok = live && send_claim(client_id, at_unix_ms);
        if (done) done(ok);
    });
}

// The claim's message (payload: the client id; who and when in headers); true once NATS took it (flushed).
bool NatsBus::send_claim(const std::string& client_id, std::int64_t at_unix_ms) {
    natsMsg* msg = nullptr;
    bool ok = false;
    const std::string subject = cfg_.prefix + ".ctl.claim";
    if (natsMsg_Create(&msg, subject.c_str(), nullptr, client_id.data(), static_cast<int>(client_id.size())) ==
        NATS_OK) {
        natsMsgHeader_Set(msg, kNodeHeader, cfg_.node.c_str());
        natsMsgHeader_Set(msg, kAtHeader, std::to_string(at_unix_ms).c_str());
        ok = natsConnection_PublishMsg(plain_, msg) == NATS_OK &&
             natsConnection_FlushTimeout(plain_, cfg_.ack_timeout_ms) == NATS_OK;
    }
    natsMsg_Destroy(msg);
    return ok;
}

void NatsBus::report(const broker::NodeReport& r) {
    nlohmann::json j{{"node", cfg_.node},
                     {"version", r.version},
                     {"started_unix_ms", r.started_unix_ms},
                     {"connections", r.connections},
                     {"sessions", r.sessions},
                     {"subscriptions", r.subscriptions},
                     {"messages_received", r.messages_received},
                     {"messages_sent", r.messages_sent},
                     {"retained", r.retained}};
    const std::string text = j.dump();
    {
        std::lock_guard lock(status_mu_);
        auto& self = nodes_[cfg_.node];
        self.report = r;
        self.report.node = cfg_.node;
        self.self = true;
        self.last_seen_unix_ms = unix_ms();
    }
    std::shared_lock life(life_mu_);
    if (!running_ || stopping_) return;
    const std::string subject = cfg_.prefix + ".ctl.node." + cfg_.node;
    natsConnection_Publish(plain_, subject.c_str(), text.data(), static_cast<int>(text.size()));
}

void NatsBus::on_control(natsMsg* msg) {
    const std::string subject = natsMsg_GetSubject(msg);
    const std::string data(natsMsg_GetData(msg), static_cast<std::size_t>(natsMsg_GetDataLength(msg)));
    const std::string from = header(msg, kNodeHeader);
    const std::string at = header(msg, kAtHeader);
    natsMsg_Destroy(msg);
    if (stopping_) return;
    if (subject == cfg_.prefix + ".ctl.claim") {
        if (from != cfg_.node) events_->on_takeover(data, from, std::strtoll(at.c_str(), nullptr, 10), nullptr);
        return;
    }
    const auto j = nlohmann::json::parse(data, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
        log_limited("cluster: unreadable node report on " + subject);
        return;
    }
    broker::NodeReport r;
    r.node = j.value("node", std::string{});
    if (r.node.empty() || r.node == cfg_.node) return;
    r.version = j.value("version", std::string{});
    r.started_unix_ms = j.value("started_unix_ms", std::int64_t{0});
    r.connections = j.value("connections", std::uint64_t{0});
    r.sessions = j.value("sessions", std::uint64_t{0});
    r.subscriptions = j.value("subscriptions", std::uint64_t{0});
    r.messages_received = j.value("messages_received", std::uint64_t{0});
    r.messages_sent = j.value("messages_sent", std::uint64_t{0});
    r.retained = j.value("retained", std::uint64_t{0});
    std::lock_guard lock(status_mu_);
    auto& info = nodes_[r.node];
    info.report = std::move(r);
    info.last_seen_unix_ms = unix_ms();
}

broker::ClusterStatus NatsBus::status() const {
    broker::ClusterStatus s;
    s.node = cfg_.node;
    s.published = published_;
    s.received = received_;
    s.duplicates = duplicates_;
    s.publish_failures = publish_failures_;
    s.reconnects = reconnects_;
    s.interests = interests_;
    const std::int64_t now = unix_ms();
    const std::int64_t window = 3LL * cfg_.report_interval_s * 1000;
    std::lock_guard lock(status_mu_);
    s.connected = connected_;
    s.server = server_;
    s.last_error = last_error_;
    for (const auto& [name, info] : nodes_) {
        auto n = info;
        n.self = name == cfg_.node;
        n.alive = n.self ? connected_ : (window > 0 && now - n.last_seen_unix_ms <= window);
        s.nodes.push_back(std::move(n));
    }
    return s;
}

void NatsBus::on_link_event(const char* what, bool up, natsConnection* nc) {
    std::string detail = std::string(nc == shared_ ? "shared" : "plain") + " connection " + what;
    char url[512] = {};
    if (up && natsConnection_GetConnectedUrl(nc, url, sizeof url) == NATS_OK && *url != '\0') {
        detail += std::string(" (") + url + ")";
    }
    const bool is_event = std::string_view(what) == "disconnected" || std::string_view(what) == "reconnected";
    {
        std::lock_guard lock(status_mu_);
        if (is_event) connected_ = up;
        if (is_event && up && *url != '\0') server_ = url;
        if (!is_event) last_error_ = what;
    }
    if (std::string_view(what) == "reconnected") ++reconnects_;
    log_(up && is_event ? kInfo : kWarn, "cluster: " + detail);
    if (is_event && events_ != nullptr && !stopping_) events_->on_link(up, detail);
}

void NatsBus::on_closed() {
    std::lock_guard lock(closed_mu_);
    ++closed_;
    closed_cv_.notify_all();
}

void NatsBus::set_error(const std::string& e) {
    {
        std::lock_guard lock(status_mu_);
        last_error_ = e;
    }
    log_limited("cluster: " + e);
}

// Once a minute per kind at most: a peer sending garbage must not flood the log.
void NatsBus::log_limited(const std::string& line) {
    const auto now = std::chrono::steady_clock::now();
    {
        std::lock_guard lock(status_mu_);
        if (last_bad_log_ != std::chrono::steady_clock::time_point{} && now - last_bad_log_ < std::chrono::minutes(1))
            return;
        last_bad_log_ = now;
    }
    log_(kWarn, line);
}

std::unique_ptr<broker::ClusterBus> make_nats_bus(const config::Cluster& cfg, std::string version,
                                                  std::function<void(int level, const std::string& line)> log) {
    return std::make_unique<NatsBus>(cfg, std::move(version), std::move(log));
}

}  // namespace moth::cluster
