// Retained messages on SUBSCRIBE, streamed as the subscriber takes them (issue 16; docs/architecture.md, "Retained
// messages on subscribe"). Before, every match went through deliver() at once: 100 into the inflight window, 1,000
// into the queue (max_queued_messages), and the rest of 10,000 were dropped without a word.
#include <algorithm>
#include <chrono>
#include <string>

#include "broker/core.hpp"
#include "broker/outbound.hpp"

namespace moth::broker {

using codec::QoS;

namespace {

QoS lower_qos(QoS a, QoS b) { return static_cast<std::uint8_t>(a) < static_cast<std::uint8_t>(b) ? a : b; }

}  // namespace

void Core::start_retained(Session& s, const std::string& filter, QoS granted, std::uint32_t sub_id) {
    // A SUBSCRIBE again to the same filter sends what is retained now: the rest of an earlier stream for it would
    // only repeat part of that.
    stop_retained(s, filter);
    // Unsubscribed while its SUBACK waited for the other workers: nothing to send.
    if (s.subscriptions.find(filter) == s.subscriptions.end()) return;
    std::size_t budget = cfg_.limits.max_queued_bytes;  // for the cursors' names, all of the session's together
    for (const auto& r : s.retained) budget -= std::min(budget, r.memory_size());
    RetainedStream stream(filter, granted, sub_id);
    std::uint64_t left_out = 0;
    {
        std::lock_guard lock(shared_.retained_mutex);
        shared_.retained.match(filter, [&](std::string_view topic, const MessagePtr&) {
            if (stream.memory_size() + topic.size() + sizeof(std::uint32_t) > budget) {
                ++left_out;
                return;
            }
            stream.add(topic);
        });
    }
    stream.shrink_to_fit();
    if (left_out != 0) note_dropped(s, left_out, "retained messages on subscribe (the cursor is past max_queued_bytes)");
    if (!stream.done()) s.retained.push_back(std::move(stream));
}

void Core::stop_retained(Session& s, std::string_view filter) {
    std::erase_if(s.retained, [&](const RetainedStream& r) { return r.filter() == filter; });
}

bool Core::pump_retained(Session& s, Connection& c, TimePoint now) {
    const auto limit = cfg_.limits.max_outgoing_buffer_bytes;
    while (!s.retained.empty()) {
        RetainedStream& r = s.retained.front();
        if (r.done()) {
            s.retained.erase(s.retained.begin());
            continue;
        }
        // Paced by the output buffer for every QoS (QoS 0 included: sent as the subscriber reads, never dropped
        // for a full buffer), and by the inflight window for QoS 1 and 2.
        if (host_.pending_bytes(c.id) > limit) return false;
        MessagePtr m;
        {
            std::lock_guard lock(shared_.retained_mutex);
            if (const MessagePtr* found = shared_.retained.find(r.current())) m = *found;
        }
        if (!m || m->expired(now) || !may(s, m->topic, Access::Read)) {
            r.advance();  // deleted or expired since the SUBSCRIBE, or not for this client to read (acl_file)
            continue;
        }
        Outgoing o{m, lower_qos(m->qos, r.granted()), true, {}, {}};  // [MQTT-3.3.1-9]: the retain flag set
        if (r.subscription_id() != 0) o.subscription_ids.push_back(r.subscription_id());
        bool congested = false;
        if (o.qos == QoS::AtMostOnce) {
            if (!send_publish(c, o, false, now, &congested) && congested) return false;
            r.advance();  // sent, or too large for this client (dropped and counted by send_publish)
            continue;
        }
        if (s.inflight.size() >= c.send_window) return false;
        o.packet_id = next_packet_id(s);
        if (must_hold(s, o)) {
            r.advance();
            hold(s, std::move(o));
            continue;
        }
        if (send_publish(c, o, false, now, &congested)) {
            r.advance();
            o.sent = true;
            note_sent(s, o);
            s.inflight.push_back(std::move(o));
        } else if (congested) {
            return false;  // its turn comes again once the buffer drains (the identifier taken stays unused)
        } else {
            r.advance();  // too large for this client: dropped and counted by send_publish
        }
    }
    return true;
}

void Core::note_dropped(const Session& s, std::uint64_t n, std::string_view why) {
    Stats::add(stats_.messages_dropped, n);
    if (s.client_id.starts_with(kBridgeClientPrefix)) bridge_drops_[s.client_id] += n;  // /api/v1/bridges
    drops_unlogged_ += n;
    if (!shared_.log || now_ < next_drop_log_) return;
    next_drop_log_ = now_ + std::chrono::seconds(1);
    shared_.log(2, "dropped " + std::to_string(drops_unlogged_) + " message(s) for " + s.client_id + ": " +
                       std::string(why) + " (this worker, since the last such line)");
    drops_unlogged_ = 0;
}

}  // namespace moth::broker
