#include "broker/router.hpp"

#include <algorithm>

namespace moth::broker {

namespace {

using codec::QoS;

QoS lower(QoS a, QoS b) { return static_cast<std::uint8_t>(a) < static_cast<std::uint8_t>(b) ? a : b; }
QoS higher(QoS a, QoS b) { return static_cast<std::uint8_t>(a) > static_cast<std::uint8_t>(b) ? a : b; }

}  // namespace

std::size_t Router::route(SubscriptionTree& tree, const MessagePtr& m, DeliverySink& sink, const RouteScope& scope) {
    matches_.clear();
    tree.match(m->topic, [&](SessionId key, const SubscriptionEntry& e) {
        bool wanted = e.share ? scope.shares && (scope.share == nullptr || *e.share == *scope.share) : scope.plain;
        if (scope.session != 0) {
            wanted = key == scope.session && !e.share;
        } else if (e.cluster_own && m->qos != QoS::AtMostOnce) {
            wanted = false;  // it comes through the session's own consumer
        }
        if (wanted) matches_.push_back({key, &e});
    });
    if (matches_.empty()) return 0;
    std::sort(matches_.begin(), matches_.end(),  // order between sessions is free; std::sort does not allocate
              [](const Match& a, const Match& b) { return a.session < b.session; });
    sink.on_matched(matches_.size());
    std::size_t delivered = 0;
    for (std::size_t i = 0; i < matches_.size();) {
        const SessionId sid = matches_[i].session;
        // [MQTT-3.3.4-2..5]: overlapping subscriptions of one session give one message with the highest QoS
        // and every matching Subscription Identifier; shared subscriptions are delivered on their own.
        Delivery merged;
        merged.message = &m;
        merged.session = sid;
        merged.owner = &matches_[i].entry->owner;
        bool any = false;
        for (; i < matches_.size() && matches_[i].session == sid; ++i) {
            const SubscriptionEntry& e = *matches_[i].entry;
            // granted QoS = min(publish, subscription); a bridge's queue_qos0 stores QoS 0 messages too
            const QoS q = e.upgrade_qos0 && m->qos == QoS::AtMostOnce ? e.options.qos : lower(m->qos, e.options.qos);
            // [MQTT-3.3.1-12/13]: the retain flag is kept only with Retain As Published.
            const bool r = m->retain && e.options.retain_as_published;
            if (e.share) {
                if (!may_read(&e.owner, m->topic)) continue;
                Delivery one;
                one.message = &m;
                one.session = sid;
                one.qos = q;
                one.retain = r;
                if (e.subscription_id != 0) one.subscription_ids.push_back(e.subscription_id);
                one.share = e.share;
                one.owner = &e.owner;
                sink.deliver(std::move(one));
                ++delivered;
                continue;
            }
            if (e.options.no_local && sid == m->origin_session) continue;  // [MQTT-3.8.3-3]
            any = true;
            merged.qos = higher(merged.qos, q);
            merged.retain = merged.retain || r;
            if (e.subscription_id != 0) merged.subscription_ids.push_back(e.subscription_id);
        }
        if (any && may_read(merged.owner, m->topic)) {
            sink.deliver(std::move(merged));
            ++delivered;
        }
    }
    return delivered;
}

bool Router::may(const SessionTag& tag, std::string_view topic, Access access) {
    if (authorizer_ == nullptr) return true;
    const auto generation = authorizer_->generation();
    if (generation == 0) return true;  // no rules: everything is allowed
    if (generation != generation_ || cached_ >= kMaxCached) {
        for (auto& d : decisions_) d.clear();  // the rules changed (or the cache is full): decide again
        cached_ = 0;
        generation_ = generation;
    }
    auto& cache = decisions_[access == Access::Write ? 1 : 0];
    if (auto by = cache.find(tag.identity_serial()); by != cache.end()) {
        if (auto it = by->second.find(topic); it != by->second.end()) return it->second;
    }
    const IdentityPtr who = tag.identity();
    const bool ok = authorizer_->allows(*who, topic, access);
    cache[who->serial].emplace(std::string(topic), ok);
    ++cached_;
    return ok;
}

}  // namespace moth::broker
