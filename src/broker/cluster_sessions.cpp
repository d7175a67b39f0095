// Sessions that follow their client across the cluster (docs/cluster.md, "Sessions and take-over"): a CONNECT for a
// session this node does not hold waits, before its CONNACK, until the node that owned it let go; then the session
// comes from the cluster's copy of its records, as a restart restores it from the store.
#include <algorithm>

#include "broker/core.hpp"
#include "broker/util.hpp"

namespace moth::broker {

using codec::ReasonCode;

namespace {

// One client's records as a store, for load_state: the cluster's copy is in the store's own layout.
class RecordsBackend final : public StoreBackend {
public:
    explicit RecordsBackend(const SessionRecords& records) : records_(records) {
        StoreBatch b{TimePoint{}};
        b.put_format_version(kStoreFormatVersion);
        auto ops = b.take();
        format_key_ = std::move(ops.front().key);
        format_value_ = std::move(ops.front().value);
    }
    bool write(const std::vector<const std::vector<StoreOp>*>&, bool) override { return true; }
    void scan(const std::function<void(std::string_view, std::string_view)>& fn) override {
        bool format_done = false;
        for (const auto& [k, v] : records_) {
            if (!format_done && format_key_ < k) {
                fn(format_key_, format_value_);
                format_done = true;
            }
            fn(k, v);
        }
        if (!format_done) fn(format_key_, format_value_);
    }

private:
    const SessionRecords& records_;
    std::string format_key_, format_value_;
};

}  // namespace

void Core::take_from_cluster(Connection& c, const codec::Connect& p, const std::string& client_id, TimePoint now,
                             AuthDecision decision) {
    auto& rare = c.rare_state();
    rare.pending_connect.emplace(current_raw_.begin(), current_raw_.end());
    rare.cluster_decision = std::move(decision);
    c.state = Connection::State::Authenticating;
    c.auth_pending = true;  // input paused until cluster_taken()
    if (in_input_ != c.id) host_.pause_input(c.id);  // on_data pauses it otherwise
    const std::uint32_t ticket = ++c.auth_ticket;
    const std::int64_t at = to_unix_ms(now, now);
    shared_.cluster->take(client_id, at, !p.clean_start,
                          [host = &host_, w = index_, id = c.id, ticket, at](bool ok, SessionRecords records) {
                              host->post(w, [id, ticket, at, ok, records = std::move(records)](
                                                Core& core, TimePoint t) mutable {
                                  core.cluster_taken(id, ticket, at, ok, std::move(records), t);
                              });
                          });
}

void Core::cluster_taken(ConnectionId id, std::uint32_t ticket, std::int64_t at, bool ok, SessionRecords records,
                         TimePoint now) {
    now_ = now;
    Connection* c = find_connection(id);
    if (c == nullptr || !c->auth_pending || c->auth_ticket != ticket || !c->rare || !c->rare->pending_connect ||
        !c->rare->cluster_decision) {
        return;
    }
    c->auth_pending = false;
    auto raw = std::move(*c->rare->pending_connect);
    c->rare->pending_connect.reset();
    auto decision = std::move(*c->rare->cluster_decision);
    c->rare->cluster_decision.reset();
    codec::Decoder decoder;
    auto r = decoder.decode(raw);
    const auto& connect = std::get<codec::Connect>(r.packet);
    c->state = Connection::State::AwaitConnect;
    const std::string client_id(connect.client_id);
    if (!ok) {
        // The session may be elsewhere and could not be asked for: better refused than started empty.
        if (shared_.log) shared_.log(2, "refusing client " + client_id + ": the cluster could not be asked for its session");
        connack_error(*c, connect.version, ReasonCode::ServerUnavailable);
        return;
    }
    if (!records.empty() && sessions_.find(client_id) == sessions_.end()) adopt_session(client_id, records, now);
    c->rare->cluster_at = at;
    current_raw_ = raw;
    complete_connect(*c, connect, now, std::move(decision));
    current_raw_ = {};
    if (c->state != Connection::State::Closed && in_input_ != id) host_.resume_input(id);
}

void Core::adopt_session(const std::string& client_id, const SessionRecords& records, TimePoint now) {
    RecordsBackend backend(records);
    RestoredState st;
    try {
        st = load_state(backend, now, cfg_.storage.queue_cache_messages);
    } catch (const std::exception& e) {
        if (shared_.log) shared_.log(3, "session of " + client_id + " from the cluster is unreadable: " + e.what());
        return;
    }
    if (st.sessions.empty()) return;  // records without their session record: nothing to go on
    auto& rs = st.sessions.front();
    // This node's next deliveries for it come after the ones it inherits (seq order is queue order), and never
    // reuse their keys.
    std::uint64_t max_seq = 0;
    for (const auto& [k, v] : records) {
        const auto key = parse_client_key(k);
        if (key && key->tag == 'q' && key->suffix.size() == 8) {
            std::uint64_t seq = 0;
            for (const char ch : key->suffix) seq = (seq << 8) | static_cast<unsigned char>(ch);
            max_seq = std::max(max_seq, seq);
        }
    }
    const auto next = next_seq_counter(max_seq);
    auto cur = shared_.next_seq.load();
    while (cur < next && !shared_.next_seq.compare_exchange_weak(cur, next)) {
    }
    if (store_ != nullptr) {
        // Kept here as well (its spilled part is read back from here); the session record marks this node owner.
        std::vector<StoreOp> ops;
        ops.reserve(records.size());
        for (const auto& [k, v] : records) ops.push_back({StoreOp::Kind::Put, k, v});
        store_->commit(std::move(ops), nullptr);
    }
    auto subs = restore(rs, now);
    ++sessions_known_;
    const SessionId sid = session_id(client_id);
    auto shared_subs = std::make_shared<const Subscriptions>(std::move(subs));
    for (unsigned w = 0; w < shared_.worker_count; ++w) {
        if (w == index_) continue;
        host_.post(w, [shared_subs, sid](Core& core, TimePoint) {
            for (const auto& [filter, e] : *shared_subs) core.apply_subscribe(filter, sid, e);
        });
    }
    if (shared_.log) {
        shared_.log(1, "session of " + client_id + " taken from the cluster: " +
                           std::to_string(rs.session.subscriptions.size()) + " subscriptions, " +
                           std::to_string(rs.deliveries.size() + rs.spilled) + " messages");
    }
}

}  // namespace moth::broker
