// Delivery: routing a message (router.cpp) into this core's DeliverySink, which hands each delivery to the local
// session or to the outbox of the worker that owns it; then, for a local session, the inflight window, the queue,
// the PUBLISH encoding (once per fan-out, patched per receiver) and resending on reconnect.
#include <algorithm>
#include <limits>

#include "broker/core.hpp"
#include "broker/outbound.hpp"
#include "broker/util.hpp"
#include "codec/encoder.hpp"

namespace moth::broker {

using codec::QoS;

namespace {

// [MQTT-3.1.2-24/25]: never send a packet above the client's Maximum Packet Size; the message is discarded for this
// receiver as if it had been delivered (counted as dropped).
bool exceeds_maximum(const Connection& c, std::size_t size, Stats& stats) {
    if (c.max_packet_size == 0 || size <= c.max_packet_size) return false;
    Stats::add(stats.messages_dropped);
    return true;
}

}  // namespace

std::size_t Core::route(const MessagePtr& m) {
    const bool fan_out = fan_out_;
    const auto delivered = router_.route(tree_, m, *this, scope_);
    fan_out_ = fan_out;
    return delivered;
}

void Core::on_matched(std::size_t subscriptions) { fan_out_ = subscriptions > 1; }

void Core::deliver(Delivery&& d) {
    const unsigned w = worker_of(d.session);
    if (w != index_) {
        outbox_[w].push_back(
            {*d.message, d.session, d.qos, d.retain, std::move(d.subscription_ids), std::move(d.share), d.seq});
        return;
    }
    if (Session* s = find_session(d.session)) {
        deliver_local(*s, *d.message, d.qos, d.retain, std::move(d.subscription_ids), now_, std::move(d.share), d.seq);
    }
}

void Core::deliver_batch(std::vector<RemoteDelivery>& batch, TimePoint now) {
    now_ = now;
    const bool fan_out = std::exchange(fan_out_, batch.size() > 1);
    for (auto& d : batch) {
        if (Session* s = find_session(d.session)) {
            deliver_local(*s, d.message, d.qos, d.retain, std::move(d.subscription_ids), now, std::move(d.share),
                          d.seq);
        }
    }
    fan_out_ = fan_out;
}

void Core::post_outbox(unsigned worker) {
    if (outbox_[worker].empty()) return;
    host_.post(worker,
               [batch = std::move(outbox_[worker])](Core& core, TimePoint t) mutable { core.deliver_batch(batch, t); });
    outbox_[worker] = {};
}

void Core::redistribute_shared(Session& s, TimePoint now) {
    // 5.0 section 4.8.2: a QoS 1 message sent to a shared-subscription member whose session ends unacknowledged
    // SHOULD go to another member of the same group. The member's subscriptions are already out of the tree, so
    // matching the topic again picks one of the others, by the group's policy.
    auto move_on = [&](Outgoing& o) {
        // [MQTT-4.8.2-5]: a QoS 2 message of a member whose session ended MUST NOT go to another member.
        if (!o.share || o.qos != QoS::AtLeastOnce || o.message->expired(now)) return;
        const std::string& group = *o.share;
        std::optional<std::pair<SessionId, SubscriptionEntry>> chosen;
        tree_.match(o.message->topic, [&](SessionId key, const SubscriptionEntry& e) {
            if (!chosen && e.share && *e.share == group && key != s.id) chosen.emplace(key, e);
        });
        if (!chosen) return;
        Delivery d;
        d.message = &o.message;
        d.session = chosen->first;
        d.qos = min_qos(o.message->qos, chosen->second.options.qos);
        d.retain = o.retain;
        if (chosen->second.subscription_id != 0) d.subscription_ids.push_back(chosen->second.subscription_id);
        d.share = o.share;
        deliver(std::move(d));
    };
    for (auto& o : s.inflight) move_on(o);
    for (auto& o : s.queue) move_on(o);
}

void Core::deliver_local(Session& s, const MessagePtr& m, QoS qos, bool retain, std::vector<std::uint32_t> sub_ids,
                         TimePoint now, std::shared_ptr<const std::string> share, std::uint64_t seq) {
    Outgoing o{m, qos, retain, std::move(sub_ids), std::move(share)};
    o.seq = seq;
    if (m->expired(now)) {
        forget(s, o);
        return;
    }
    Connection* c = session_connection(s);
    bool congested = false;  // a slow consumer: more than max_outgoing_buffer_bytes wait for its connection
    if (qos == QoS::AtMostOnce) {
        // QoS 0 is not queued: it is dropped for offline sessions and for a slow consumer's full buffer.
        if (c == nullptr || (!send_publish(*c, o, false, now, &congested) && congested)) {
            Stats::add(stats_.messages_dropped);
        }
        return;
    }
    if (c != nullptr && s.queue.empty() && s.spilled == 0 && s.inflight.size() < c->send_window) {
        o.packet_id = next_packet_id(s);
        if (must_hold(s, o)) {
            hold(s, std::move(o));
            return;
        }
        if (send_publish(*c, o, false, now, &congested)) {
            o.sent = true;
            note_sent(s, o);
            s.inflight.push_back(std::move(o));
            return;
        }
        if (!congested) {
            forget(s, o);
            return;
        }
        o.packet_id = 0;  // queued: pump() gives it an identifier when it is sent
    }
    enqueue(s, std::move(o));
}

const config::Limits& Core::queue_limits(const Session& s, std::size_t size, config::Limits& scratch) const {
    // A bridge's own limits, looked at only when the usual ones are reached (the identity is behind a lock).
    if (!queue_full(s, size, cfg_.limits)) return cfg_.limits;
    const auto q = s.tag->identity()->queue;
    if (!q) return cfg_.limits;
    scratch = cfg_.limits;
    scratch.max_queued_messages = q->max_queued_messages;
    scratch.max_queued_bytes = q->max_queued_bytes;
    scratch.queue_full_policy = q->drop_oldest ? config::QueueFullPolicy::DropOldest : config::QueueFullPolicy::DropNew;
    return scratch;
}

bool Core::trim_oldest(Session& s) {
    config::Limits scratch;
    const auto& limits = queue_limits(s, 0, scratch);
    if (limits.queue_full_policy != config::QueueFullPolicy::DropOldest) return false;
    const auto over = [&] {
        return s.queue.size() + s.spilled > limits.max_queued_messages ||
               s.queued_bytes + s.spilled_bytes > limits.max_queued_bytes;
    };
    std::uint64_t dropped = 0;
    while (!s.queue.empty() && over()) {
        const Outgoing oldest = pop_queued(s);
        forget(s, oldest);
        ++dropped;
    }
    if (dropped != 0) note_dropped(s, dropped, "queue full, oldest dropped (max_queued_messages / max_queued_bytes)");
    return over();
}

void Core::enqueue(Session& s, Outgoing o) {
    const auto size = message_size(*o.message);
    config::Limits scratch;
    const auto& limits = queue_limits(s, size, scratch);
    const bool stored = o.seq != 0 && store_ != nullptr;
    if (queue_full(s, size, limits)) {
        const bool drop_oldest = limits.queue_full_policy == config::QueueFullPolicy::DropOldest;
        if (drop_oldest && s.queue.empty() && s.spilled != 0 && stored) {
            // The oldest are all in the store, unread: the new one is kept (it is stored too), the oldest are read
            // back and dropped then (trim_oldest in on_spilled_read). The queue is over its limit for that moment.
            if (!s.reading) read_spilled(s);
            count_spilled(s, o);
            return;
        }
        if (!drop_oldest || s.queue.empty()) {
            note_dropped(s, 1, "queue full, new message dropped (max_queued_messages / max_queued_bytes)");
            forget(s, o);
            return;
        }
        std::uint64_t dropped = 0;
        while (!s.queue.empty() && queue_full(s, size, limits)) {
            const Outgoing oldest = pop_queued(s);
            forget(s, oldest);
            ++dropped;
        }
        note_dropped(s, dropped, "queue full, oldest dropped (max_queued_messages / max_queued_bytes)");
    }
    if (stored && (s.spilled != 0 || s.queue.size() >= cfg_.storage.queue_cache_messages)) {
        count_spilled(s, o);  // already in the store: only counted here, and read back when the queue drains
        return;
    }
    push_queued(s, std::move(o));
}

void Core::pump(Session& s, TimePoint now) {
    Connection* c = session_connection(s);
    if (c == nullptr) return;
    while (!s.queue.empty() && s.inflight.size() < c->send_window &&
           host_.pending_bytes(c->id) <= cfg_.limits.max_outgoing_buffer_bytes) {
        Outgoing o = pop_queued(s);
        if (o.message->expired(now)) {  // 5.0 section 3.3.2.3.3: expired messages are not sent
            forget(s, o);
            continue;
        }
        o.packet_id = next_packet_id(s);
        if (must_hold(s, o)) {
            hold(s, std::move(o));
            continue;
        }
        // A message restored from the store may have been sent before the restart: DUP [MQTT-3.3.1-1].
        if (send_publish(*c, o, o.restored, now)) {
            o.sent = true;
            note_sent(s, o);
            s.inflight.push_back(std::move(o));
        } else {
            forget(s, o);
        }
    }
    if (s.spilled != 0 && !s.reading && s.queue.size() <= cfg_.storage.queue_cache_messages / 2) read_spilled(s);
    // Retained messages on SUBSCRIBE come after what is queued (spilled messages included).
    if (s.queue.empty() && s.spilled == 0 && !s.retained.empty()) pump_retained(s, *c, now);
}

bool Core::send_publish(Connection& c, const Outgoing& o, bool dup, TimePoint now, bool* congested) {
    const Message& m = *o.message;
    const auto v = c.version;
    // A message fanned out to many receivers of one version, QoS and retain flag is encoded once; only the packet
    // identifier differs. Properties that differ per receiver (remaining expiry, subscription identifiers, topic
    // aliases) and DUP resends get an encoding of their own.
    const bool per_receiver = is_v5(v) && (m.expires_at || !o.subscription_ids.empty() || c.alias_max_out != 0);
    const bool shareable = fan_out_ && !per_receiver && !dup;
    const auto slot = (static_cast<std::size_t>(v) - 3) * 6 + static_cast<std::size_t>(o.qos) * 2 + (o.retain ? 1 : 0);
    const auto limit =
        congested != nullptr ? cfg_.limits.max_outgoing_buffer_bytes : std::numeric_limits<std::size_t>::max();
    bool refused = false;
    std::size_t sent = 0;
    if (shareable && cache_message_.get() == &m && cache_valid_[slot]) {
        auto& cached = cache_[slot];
        if (exceeds_maximum(c, cached.size(), stats_)) return false;
        if (o.qos != QoS::AtMostOnce) codec::patch_publish_packet_id(cached, o.packet_id);
        refused = !host_.send(c.id, cached, limit);
        sent = refused ? 0 : cached.size();
    } else {
        sent = encode_publish(c, o, dup, now, limit, shareable, slot, refused);
    }
    if (refused) {
        // Whether a packet the host refused counts as sent: not for a slow consumer (with `congested`, which is
        // set), yes for a connection the host has already let go, like a write that fails later.
        if (congested != nullptr && host_.pending_bytes(c.id) > limit) {
            *congested = true;
            return false;
        }
        return true;
    }
    if (sent == 0) return false;  // too large for the client
    Stats::add(stats_.bytes_sent, sent);
    Stats::add(stats_.messages_sent);
    Stats::add(stats_.publish_sent);
    return true;
}

std::size_t Core::encode_publish(Connection& c, const Outgoing& o, bool dup, TimePoint now, std::size_t limit,
                                 bool shareable, std::size_t slot, bool& refused) {
    const Message& m = *o.message;
    const auto v = c.version;
    codec::Publish p;
    p.topic = m.topic;
    p.qos = o.qos;
    p.retain = o.retain;
    p.dup = dup && o.qos != QoS::AtMostOnce;
    p.packet_id = o.qos == QoS::AtMostOnce ? 0 : o.packet_id;
    p.payload = m.payload;
    std::uint16_t alias = 0;
    bool new_alias = false;
    if (is_v5(v)) {
        auto& pr = p.properties;
        pr.payload_format_indicator = m.payload_format_indicator;
        if (m.content_type) pr.content_type = *m.content_type;
        if (m.response_topic) pr.response_topic = *m.response_topic;
        if (m.correlation_data) pr.correlation_data = codec::Bytes(*m.correlation_data);
        pr.encoded_user_properties = m.user_properties.encoded();  // [MQTT-3.3.2-17/18]: in order, unchanged
        pr.subscription_identifiers = o.subscription_ids;
        if (m.expires_at) {
            // [MQTT-3.3.2-6]: the interval is reduced by the time the message waited here.
            const auto left = std::chrono::ceil<std::chrono::seconds>(*m.expires_at - now).count();
            pr.message_expiry_interval = static_cast<std::uint32_t>(std::max<std::int64_t>(left, 1));
        }
        // Topic alias: reuse the one this connection already knows, or assign a new one while there is room.
        if (c.alias_max_out != 0) {
            if (auto it = c.aliases_out.find(m.topic); it != c.aliases_out.end()) {
                alias = it->second;
                p.topic = {};
            } else if (c.aliases_out.size() < c.alias_max_out) {
                alias = static_cast<std::uint16_t>(c.aliases_out.size() + 1);
                new_alias = true;
            }
            if (alias != 0) pr.topic_alias = alias;
        }
    }
    auto size = codec::encoded_size(p, v);
    if (!size || exceeds_maximum(c, *size, stats_)) return 0;
    const auto out = host_.append(c.id, *size, limit);  // encoded straight into the connection's output
    if (out.empty()) {
        refused = true;
        return 0;
    }
    codec::encode_measured(p, v, out);
    if (shareable) {
        if (cache_message_.get() != &m) {
            cache_message_ = o.message;
            cache_valid_.fill(false);
        }
        cache_[slot].assign(out.begin(), out.end());
        cache_valid_[slot] = true;
    }
    if (new_alias) c.aliases_out.emplace(m.topic, alias);
    return out.size();
}

void Core::resend_inflight(Connection& c, Session& s, TimePoint now) {
    shrink_window(s, c.send_window);  // [MQTT-3.3.4-9]
    bool waiting = false;  // a held message waits for its mark: those after it wait too (release() sends them)
    for (auto it = s.inflight.begin(); it != s.inflight.end();) {
        if (it->pubrec) {
            // Past PUBREC: the PUBREL, unless the store does not know about the PUBREC yet (its completion sends
            // the PUBREL then, on this connection).
            if (!it->releasing) {
                codec::Pubrel rel;
                rel.packet_id = it->packet_id;
                send_packet(c, rel);
            }
            ++it;
        } else if (it->held) {
            waiting = waiting || it->marking;
            if (waiting) {
                ++it;
            } else if (send_publish(c, *it, it->restored, now)) {  // never sent on any connection yet
                it->held = false;
                it->sent = true;
                ++it;
            } else {
                forget(s, *it);  // too large for this client: dropped
                it = s.inflight.erase(it);
            }
        } else {
            // Already sent once: resent even if it expired meanwhile ([MQTT-4.3.3-7], [MQTT-4.4.0-1]).
            send_publish(c, *it, it->sent, now);
            it->sent = true;
            ++it;
        }
    }
}

}  // namespace moth::broker
