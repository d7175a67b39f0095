// SUBSCRIBE and UNSUBSCRIBE: the session's subscriptions, the tree of this worker and (replicated) of every other,
// retained messages on subscribe, and the acknowledgement barrier (subscriptions.hpp): the SUBACK or UNSUBACK goes
// out once every worker and, where it waits, the store have the change.
#include <algorithm>
#include <iterator>

#include "broker/core.hpp"
#include "broker/util.hpp"
#include "codec/topic.hpp"

namespace moth::broker {

using codec::QoS;
using codec::ReasonCode;

void Core::handle_subscribe(Connection& c, const codec::Subscribe& p, TimePoint now) {
    Session& s = *c.session;
    const std::uint32_t sub_id =
        p.properties.subscription_identifiers.empty() ? 0 : p.properties.subscription_identifiers.front();
    if (sub_id != 0 && !cfg_.features.subscription_identifiers) {
        protocol_close(c, ReasonCode::SubscriptionIdentifiersNotSupported, "subscription identifiers disabled");
        return;
    }
    if (hooked() && !hook_clears(c, p)) return;  // handled again once the hook answered (hook.cpp)
    // [MQTT-3.8.4-1]: the SUBACK, with the retained messages after it, once every worker routes to the new
    // subscriptions and a durable session's subscriptions are stored (sync).
    PendingAck a;
    a.session = s.id;
    a.packet_id = p.packet_id;
    a.sub_id = sub_id;
    a.codes.reserve(p.subscriptions.size());
    Subscriptions added;
    for (const auto& sub : p.subscriptions) a.codes.push_back(subscribe_one(c, sub, sub_id, added, a.retained));
    // Not a structured binding: clang 14 (the fuzz preset) cannot capture one in a lambda.
    const auto awaited = await_ack(c.id, std::move(a));
    const AckKey key = awaited.first;
    PendingAck* pending = awaited.second;
    pending->waiting += replicate_subscribe(std::move(added), s.id, key);
    for (auto& [filter, e] : std::exchange(cluster_added_, {})) {
        ++pending->waiting;  // [MQTT-3.8.4-1] across nodes too: the SUBACK once other nodes' messages come here
        cluster_interest(s, filter, e, Interest::Add, [key](Core& core, TimePoint t) { core.ack_arrived(key, true, t); });
    }
    if (durable(s)) {
        StoreBatch b{now};
        persist_session(s, b);
        if (store_->acks_wait()) {
            ++pending->waiting;
            commit_then(b, [key](Core& core, bool ok, TimePoint t) { core.ack_arrived(key, ok, t); });
        } else {
            commit(b);
        }
    }
    release_acks(c.id, now);
}

ReasonCode Core::subscribe_one(Connection& c, const codec::Subscription& sub, std::uint32_t sub_id,
                               Subscriptions& added, std::vector<RetainedToSend>& retained) {
    Session& s = *c.session;
    const auto& features = cfg_.features;
    const auto f = sub.filter;
    const auto share = codec::parse_shared_filter(f);
    const bool shared = share.has_value();
    if (codec::validate_topic_filter(f) != codec::TopicError::None ||
        codec::topic_level_count(f) > cfg_.limits.max_topic_levels) {
        return ReasonCode::TopicFilterInvalid;
    }
    if (shared && !features.shared_subscriptions) return ReasonCode::SharedSubscriptionsNotSupported;
    if (codec::has_wildcard(f) && !features.wildcard_subscriptions) return ReasonCode::WildcardSubscriptionsNotSupported;
    // Unlike Mosquitto, SUBSCRIBE is checked: a filter matching nothing the client may read is refused (5.0 0x87,
    // 3.1.1 0x80) rather than granted and silently empty. "$share/<group>/<filter>" is checked on <filter>.
    if (!may(s, shared ? share->filter : f, Access::Subscribe)) {
        note_denied(c, "SUBSCRIBE to", f);
        return ReasonCode::NotAuthorized;
    }
    if (hooked() && ask_hook(c, Access::Subscribe, shared ? share->filter : f, sub.options.qos, false) !=
                        HookVerdict::Allowed) {  // known: hook_clears() asked
        note_denied(c, "SUBSCRIBE to", f, "the hook");
        return ReasonCode::NotAuthorized;
    }
    if (cfg_.limits.max_subscriptions_per_client != 0 &&
        s.subscriptions.size() >= cfg_.limits.max_subscriptions_per_client &&
        s.subscriptions.find(f) == s.subscriptions.end()) {
        return ReasonCode::QuotaExceeded;
    }
    const QoS granted = min_qos(sub.options.qos, static_cast<QoS>(std::min<std::uint8_t>(features.maximum_qos, 2)));
    SubscriptionEntry e;
    e.options = sub.options;
    e.options.qos = granted;
    if (c.bridge) {
        e.options.no_local = true;
        e.options.retain_as_published = true;
    }
    if (const auto q = s.tag->identity()->queue; q && q->queue_qos0) e.upgrade_qos0 = true;
    e.subscription_id = sub_id;
    if (shared) e.share = std::make_shared<const std::string>(f);
    e.owner = s.tag;
    std::string filter(f);
    if (clustered()) {
        // This node's interest follows the granted QoS: a changed one leaves, the new one joins (SUBACK waits).
        e.cluster_own = own_consumer(s, e);
        const auto old = s.subscriptions.find(filter);
        const bool changed = old == s.subscriptions.end() || old->second.options.qos != granted ||
                             old->second.cluster_own != e.cluster_own;
        if (old != s.subscriptions.end() && changed) cluster_interest(s, filter, old->second, Interest::Remove);
        if (changed) cluster_added_.emplace_back(filter, e);
    }
    auto [it, is_new] = s.subscriptions.insert_or_assign(filter, e);
    if (is_new) Stats::add(stats_.subscriptions);
    tree_.insert(filter, s.id, e);
    // [MQTT-3.3.1-9..11]: Retain Handling 0 sends retained messages, 1 only for a new subscription, 2 never; shared
    // subscriptions never get them on subscribe (5.0 section 4.8.2).
    const auto rh = sub.options.retain_handling;
    if (!shared && (rh == 0 || (rh == 1 && is_new))) retained.push_back({filter, granted});
    added.emplace_back(std::move(filter), std::move(e));
    return static_cast<ReasonCode>(granted);
}

void Core::handle_unsubscribe(Connection& c, const codec::Unsubscribe& p, TimePoint now) {
    Session& s = *c.session;
    std::vector<ReasonCode> codes;
    codes.reserve(p.filters.size());
    std::vector<std::string> removed;
    for (auto f : p.filters) {
        auto it = s.subscriptions.find(f);
        if (it == s.subscriptions.end()) {
            codes.push_back(ReasonCode::NoSubscriptionExisted);
            continue;
        }
        tree_.erase(it->first, s.id);
        stop_retained(s, it->first);
        cluster_interest(s, it->first, it->second, Interest::Remove);
        removed.push_back(it->first);
        s.subscriptions.erase(it);
        Stats::subtract(stats_.subscriptions);
        codes.push_back(ReasonCode::Success);
    }
    if (durable(s)) {
        StoreBatch b{now};
        persist_session(s, b);
        commit(b);
    }
    // [MQTT-3.10.4-4] even when nothing was removed; [MQTT-3.10.4-2]: once no worker adds messages from the
    // removed filters any more.
    PendingAck a;
    a.session = s.id;
    a.packet_id = p.packet_id;
    a.unsubscribe = true;
    a.codes = std::move(codes);
    // Not a structured binding: clang 14 (the fuzz preset) cannot capture one in a lambda.
    const auto awaited = await_ack(c.id, std::move(a));
    const AckKey key = awaited.first;
    PendingAck* pending = awaited.second;
    pending->waiting += replicate_unsubscribe(std::move(removed), s.id, key);
    release_acks(c.id, now);
}

// ---------------------------------------------------------------------------------------------------------
// Replication to the other workers and the acknowledgement barrier

void Core::broadcast_unsubscribe(const std::string& filter, SessionId s) {
    for (unsigned w = 0; w < shared_.worker_count; ++w) {
        if (w == index_) continue;
        host_.post(w, [filter, s](Core& core, TimePoint) { core.apply_unsubscribe(filter, s); });
    }
}

void Core::apply_subscribe(const std::string& filter, SessionId session, SubscriptionEntry entry) {
    tree_.insert(filter, session, entry);
}

void Core::apply_unsubscribe(const std::string& filter, SessionId session) { tree_.erase(filter, session); }

unsigned Core::replicate_subscribe(Subscriptions added, SessionId s, AckKey key) {
    if (shared_.worker_count == 1 || added.empty()) return 0;
    auto subs = std::make_shared<const Subscriptions>(std::move(added));
    for (unsigned w = 0; w < shared_.worker_count; ++w) {
        if (w == index_) continue;
        host_.post(w, [subs, s, key, owner = index_](Core& core, TimePoint) {
            for (const auto& [filter, e] : *subs) core.tree_.insert(filter, s, e);
            core.acknowledge(owner, key);
        });
    }
    return shared_.worker_count - 1;
}

unsigned Core::replicate_unsubscribe(std::vector<std::string> removed, SessionId s, AckKey key) {
    if (shared_.worker_count == 1 || removed.empty()) return 0;
    auto filters = std::make_shared<const std::vector<std::string>>(std::move(removed));
    for (unsigned w = 0; w < shared_.worker_count; ++w) {
        if (w == index_) continue;
        host_.post(w, [filters, s, key, owner = index_](Core& core, TimePoint) {
            for (const auto& filter : *filters) core.tree_.erase(filter, s);
            core.acknowledge(owner, key);
        });
    }
    return shared_.worker_count - 1;
}

void Core::acknowledge(unsigned owner, AckKey key) {
    // Deliveries this worker matched before the change go first (posts between two workers arrive in order), so
    // none from a removed filter reaches the client after its UNSUBACK.
    post_outbox(owner);
    host_.post(owner, [key](Core& core, TimePoint t) { core.ack_arrived(key, true, t); });
}

std::pair<AckKey, PendingAck*> Core::await_ack(ConnectionId c, PendingAck a) {
    if (Connection* cc = find_connection(c)) ++cc->acks_awaited;
    const AckKey key{c, next_ack_++};
    auto it = pending_acks_.emplace(key, std::move(a)).first;
    return {key, &it->second};
}

void Core::ack_arrived(AckKey key, bool ok, TimePoint now) {
    now_ = now;
    auto it = pending_acks_.find(key);
    if (it == pending_acks_.end()) return;
    if (!ok) it->second.ok = false;
    if (--it->second.waiting == 0) release_acks(key.first, now);
}

void Core::release_acks(ConnectionId c, TimePoint now) {
    auto it = pending_acks_.lower_bound({c, 0});
    bool released = false;
    while (it != pending_acks_.end() && it->first.first == c && it->second.waiting == 0) {
        PendingAck a = std::move(it->second);
        it = pending_acks_.erase(it);
        send_ack(c, a, now);
        released = true;
    }
    Connection* cc = released ? find_connection(c) : nullptr;
    if (cc == nullptr) return;
    cc->acks_awaited = static_cast<std::uint16_t>(
        std::distance(pending_acks_.lower_bound({c, 0}), pending_acks_.lower_bound({c + 1, 0})));
    // Released from within on_data (one worker, nothing to wait for): its loop simply goes on.
    if (cc->acks_awaited == 0 && in_input_ != c) host_.resume_input(c);
}

void Core::send_ack(ConnectionId c, PendingAck& a, TimePoint now) {
    // Closed or taken over meanwhile, or the session ended: nobody to acknowledge.
    Connection* cc = find_connection(c);
    Session* ss = find_session(a.session);
    if (cc == nullptr || ss == nullptr || cc->session != ss || cc->state != Connection::State::Connected) return;
    if (a.unsubscribe) {
        codec::Unsuback u;
        u.packet_id = a.packet_id;
        u.reason_codes = a.codes;
        send_packet(*cc, u);
        return;
    }
    if (!a.ok) std::fill(a.codes.begin(), a.codes.end(), ReasonCode::UnspecifiedError);
    codec::Suback ack;
    ack.packet_id = a.packet_id;
    ack.reason_codes = a.codes;
    send_packet(*cc, ack);
    if (!a.ok) return;
    // [MQTT-3.3.1-9..11]: the retained messages after the SUBACK, as the subscriber takes them (retained_stream.cpp).
    for (const auto& r : a.retained) start_retained(*ss, r.filter, r.granted, a.sub_id);
    if (!a.retained.empty()) pump(*ss, now);
}

}  // namespace moth::broker
