// Durability (only with a store): what a PUBLISH writes before it is delivered and acknowledged (capture, then
// finish_publish), QoS 2 packet identifiers stored before the PUBLISH goes out (hold/release, sync mode), records
// forgotten once acknowledged, spilled queues read back, and sessions restored at start-up. Store completions come
// back to this core through Host::post with the time they run at.
#include <algorithm>

#include "broker/core.hpp"
#include "broker/outbound.hpp"
#include "broker/util.hpp"
#include "codec/topic.hpp"

namespace moth::broker {

using codec::ProtocolVersion;
using codec::QoS;
using codec::ReasonCode;

namespace {

// Collects a message's deliveries instead of dispatching them: they go out after the store write (finish_publish).
class CaptureSink final : public DeliverySink {
public:
    explicit CaptureSink(std::vector<Captured>& out) : out_(out) {}
    void deliver(Delivery&& d) override {
        out_.push_back({d.session, d.qos, d.retain, std::move(d.subscription_ids), std::move(d.share),
                        d.owner != nullptr ? *d.owner : nullptr, 0});
    }

private:
    std::vector<Captured>& out_;
};

}  // namespace

void Core::commit(StoreBatch& b) {
    if (store_ == nullptr || b.empty()) return;
    store_->commit(b.take(), {});
}

void Core::commit_then(StoreBatch& b, std::function<void(Core&, bool, TimePoint)> then) {
    // The completion runs on the store's thread; the rest happens back on this core's own thread.
    store_->commit(b.take(), [host = &host_, w = index_, then = std::move(then)](bool ok) mutable {
        host->post(w, [then = std::move(then), ok](Core& core, TimePoint now) {
            core.now_ = now;
            then(core, ok, now);
        });
    });
}

void Core::persist_session(Session& s, StoreBatch& b) {
    StoredSession st;
    st.client_id = s.client_id;
    st.version = static_cast<std::uint8_t>(s.version);
    st.expiry_s = s.expiry_s;
    for (const auto& [filter, e] : s.subscriptions) {
        st.subscriptions.push_back({filter, static_cast<std::uint8_t>(e.options.qos), e.options.no_local,
                                    e.options.retain_as_published, e.options.retain_handling, e.subscription_id});
    }
    if (const auto who = s.tag->identity(); !who->anonymous) st.username = who->username;
    b.put_session(st);
    s.tag->durable = true;
}

void Core::note_sent(Session& s, const Outgoing& o) {
    // [MQTT-4.4.0-1]: after a restart an unacknowledged QoS 2 PUBLISH is resent with its original packet
    // identifier, so a client that holds it (awaiting PUBREL) sees a duplicate, not a second message. Sync mode
    // wrote it before sending (hold()); batched mode writes it now, not waited for (like every write there).
    // QoS 1 identifiers are not stored: a QoS 1 message may be delivered twice anyway.
    if (o.seq == 0 || store_ == nullptr || o.qos != QoS::ExactlyOnce || store_->acks_wait()) return;
    StoreBatch b{now_};
    b.mark_delivery(s.client_id, o.seq, o.packet_id, false);
    commit(b);
}

bool Core::must_hold(const Session& s, const Outgoing& o) const {
    if (store_ == nullptr || !store_->acks_wait()) return false;
    if (!s.inflight.empty() && s.inflight.rbegin()->held) return true;  // one before it waits: keep the order
    return o.seq != 0 && o.qos == QoS::ExactlyOnce;
}

void Core::hold(Session& s, Outgoing o) {
    // [MQTT-4.4.0-1], [MQTT-4.3.3-?]: a QoS 2 PUBLISH resent after a restart must carry the identifier it was sent
    // with, or a client that delivers on PUBLISH (and holds the identifier until PUBREL) takes it for a second
    // message. So the identifier is stored first and the PUBLISH goes out after that write (one group commit);
    // the messages after it wait in the window behind it, so that none overtakes it.
    o.held = true;
    if (o.seq != 0 && o.qos == QoS::ExactlyOnce) {
        o.marking = true;
        StoreBatch b{now_};
        b.mark_delivery(s.client_id, o.seq, o.packet_id, false);
        commit_then(b, [sid = s.id, seq = o.seq, pid = o.packet_id](Core& core, bool, TimePoint t) {
            // A failed write sends it anyway (as an unmarked message: a restart would give it a new identifier).
            core.on_marked(sid, seq, pid, t);
        });
    }
    s.inflight.push_back(std::move(o));
}

void Core::on_marked(SessionId id, std::uint64_t seq, std::uint16_t packet_id, TimePoint now) {
    now_ = now;
    Session* s = find_session(id);
    if (s == nullptr) return;
    auto it = std::find_if(s->inflight.begin(), s->inflight.end(), [&](const Outgoing& o) {
        return o.seq == seq && o.packet_id == packet_id && o.marking;
    });
    if (it == s->inflight.end()) return;  // moved back to the queue meanwhile (a smaller Receive Maximum)
    it->marking = false;
    release(*s, now);
}

void Core::release(Session& s, TimePoint now) {
    Connection* c = session_connection(s);
    if (c == nullptr) return;  // offline: resend_inflight sends them on the next connection
    bool dropped = false;
    for (auto it = s.inflight.begin(); it != s.inflight.end();) {
        if (!it->held) {
            ++it;
            continue;
        }
        if (it->marking) break;
        // A message restored from the store may have been sent before the restart: DUP [MQTT-3.3.1-1].
        if (!send_publish(*c, *it, it->restored, now)) {
            forget(s, *it);  // too large for this client: dropped
            it = s.inflight.erase(it);
            dropped = true;
            continue;
        }
        it->held = false;
        it->sent = true;
        ++it;
    }
    if (dropped) pump(s, now);
}

void Core::forget(Session& s, const Outgoing& o) {
    if (o.seq == 0 || store_ == nullptr) return;
    StoreBatch b{now_};
    b.erase_delivery(s.client_id, o.seq);
    commit(b);
}

void Core::set_retained(const MessagePtr& m, StoreBatch* b) {
    {
        std::lock_guard lock(shared_.retained_mutex);
        if (m->payload.empty()) {
            shared_.retained.erase(m->topic);
        } else {
            shared_.retained.set(m->topic, m);
        }
    }
    if (b == nullptr || store_ == nullptr || m->topic.starts_with("$SYS")) return;
    if (m->payload.empty()) {
        b->erase_retained(m->topic);
    } else {
        b->put_retained(*m);
    }
}

bool Core::mark_pubrec(Session& s, Outgoing& o, std::uint16_t packet_id) {
    if (o.seq == 0 || store_ == nullptr) return true;
    // The PUBREL goes out once the store knows the message reached PUBREC: after a crash the PUBREL is resent, never
    // the PUBLISH (which the client would deliver again).
    StoreBatch b{now_};
    b.mark_delivery(s.client_id, o.seq, o.packet_id, true);
    if (!store_->acks_wait()) {
        commit(b);
        return true;
    }
    // Until then a reconnect does not resend the PUBREL either (resend_inflight): after a crash the client would get
    // the PUBLISH again, and deliver it again.
    o.releasing = true;
    commit_then(b, [sid = s.id, seq = o.seq, pid = packet_id](Core& core, bool ok, TimePoint) {
        Session* ss = core.find_session(sid);
        if (ss == nullptr) return;
        auto e = std::find_if(ss->inflight.begin(), ss->inflight.end(),
                              [&](const Outgoing& x) { return x.seq == seq && x.packet_id == pid && x.releasing; });
        if (e == ss->inflight.end()) return;
        e->releasing = false;
        // On the session's connection now, which may be a newer one than the PUBREC's.
        Connection* cc = core.session_connection(*ss);
        if (!ok || cc == nullptr || cc->session != ss) return;
        codec::Pubrel r;
        r.packet_id = pid;
        core.send_packet(*cc, r);
    });
    return false;
}

void Core::capture(PendingPublish& p, StoreBatch& b) {
    CaptureSink sink(p.deliveries);
    p.matched = router_.route(tree_, p.message, sink, scope_);
    for (auto& d : p.deliveries) {
        if (d.qos == QoS::AtMostOnce || !d.owner || !d.owner->durable.load(std::memory_order_relaxed)) continue;
        d.seq = make_seq(shared_.next_seq.fetch_add(1, std::memory_order_relaxed), index_);
        StoredDelivery sd;
        sd.seq = d.seq;
        sd.message = p.message;
        sd.qos = static_cast<std::uint8_t>(d.qos);
        sd.retain = d.retain;
        sd.subscription_ids = d.subscription_ids;
        if (d.share) sd.share = *d.share;
        b.put_delivery(d.owner->client_id, sd);
    }
}

void Core::refuse_unstored(Connection* c, Session* s, QoS qos, std::uint16_t packet_id, const char* why) {
    // Nothing of it is kept, so it is neither delivered nor acknowledged: the client may send it again (a QoS 2 copy
    // then is a new message, not a duplicate). 3.1.1 has no negative acknowledgement: the connection closes.
    if (qos == QoS::ExactlyOnce && s != nullptr) s->incoming_qos2.erase(packet_id);
    if (c == nullptr) return;
    if (!is_v5(c->version)) {
        protocol_close(*c, ReasonCode::UnspecifiedError, why);
        return;
    }
    send_publish_ack(*c, qos, packet_id, ReasonCode::UnspecifiedError);
}

void Core::finish_publish(PendingPublish& p, bool ok, TimePoint now) {
    now_ = now;
    Session* s = p.session != 0 ? find_session(p.session) : nullptr;
    Connection* c = p.connection != 0 ? find_connection(p.connection) : nullptr;
    if (c != nullptr && (c->state != Connection::State::Connected || c->session != s)) c = nullptr;
    const QoS qos = p.message->qos;
    if (!ok) {
        if (shared_.log) shared_.log(3, "store write failed: message on " + p.message->topic + " not accepted");
        refuse_unstored(c, p.connection != 0 ? s : nullptr, qos, p.packet_id, "store write failed");
        return;
    }
    if (p.retain_update) set_retained(p.message, nullptr);  // already in the batch
    const bool fan_out = std::exchange(fan_out_, p.deliveries.size() > 1);
    for (auto& d : p.deliveries) {
        Delivery out{&p.message, d.session, d.qos, d.retain, std::move(d.subscription_ids), d.share, nullptr, d.seq};
        deliver(std::move(out));
    }
    fan_out_ = fan_out;
    if (p.connection == 0) return;
    if (qos == QoS::ExactlyOnce && s != nullptr) s->incoming_qos2.insert(p.packet_id);
    if (c == nullptr) return;
    // In a cluster, no subscriber here says nothing of the other nodes.
    const bool none = p.matched == 0 && !clustered();
    send_publish_ack(*c, qos, p.packet_id, none ? ReasonCode::NoMatchingSubscribers : ReasonCode::Success);
}

std::size_t Core::route_persisted(const MessagePtr& m, TimePoint now) {
    if (store_ == nullptr || m->qos == QoS::AtMostOnce) return route(m);
    PendingPublish p;
    p.message = m;
    StoreBatch b{now};
    capture(p, b);
    commit(b);
    finish_publish(p, true, now);
    return p.matched;
}

// ---------------------------------------------------------------------------------------------------------
// Spilled queues and restore

void Core::read_spilled(Session& s) {
    if (store_ == nullptr || s.spill.empty()) return;
    // Runs are independent (one worker's messages each, or those restored at start-up, which are older than
    // any other): the one with the oldest messages goes first, and within it seq order is publication order.
    const auto run = std::min_element(s.spill.begin(), s.spill.end(),
                                      [](const SpillRun& a, const SpillRun& b) { return a.from < b.from; });
    const std::size_t want =
        cfg_.storage.queue_cache_messages - std::min<std::size_t>(s.queue.size(), cfg_.storage.queue_cache_messages);
    // Only up to the last seq counted: a later record of the same worker may be stored but not arrived yet.
    const DeliveryRange range{run->from, run->to, run->worker, std::max<std::size_t>(want, 1)};
    s.reading = true;
    // Runs on the store's thread (never a worker's); the result comes back to this core with Host::post.
    store_->read_deliveries(
        s.client_id, range,
        [host = &host_, w = index_, id = s.id, range](bool ok, std::vector<StoredDelivery> ds) mutable {
            host->post(w, [id, ok, range, ds = std::move(ds)](Core& core, TimePoint t) mutable {
                core.on_spilled_read(id, ok, range, std::move(ds), t);
            });
        });
}

void Core::on_spilled_read(SessionId id, bool ok, const DeliveryRange& range, std::vector<StoredDelivery> ds,
                           TimePoint now) {
    now_ = now;
    Session* sp = find_session(id);
    if (sp == nullptr) return;  // ended meanwhile (its records went with it)
    Session& s = *sp;
    s.reading = false;
    if (!ok) {
        if (shared_.log)
            shared_.log(3, "store: cannot read the queue of " + s.client_id + " back; retried on reconnect");
        return;
    }
    auto run = std::find_if(s.spill.begin(), s.spill.end(),
                            [&](const SpillRun& r) { return r.worker == range.worker && r.from == range.from; });
    if (run == s.spill.end()) return;  // the session's queue was discarded meanwhile
    // Records restored in flight at start-up (their QoS 2 identifier was stored) are not spilled ones, whether
    // still in flight or acknowledged since: the read may have been taken before that acknowledgement's erase,
    // and queuing it again sent it twice under two identifiers (issue 15, seen in the crash test).
    const bool restored_run = run->worker == kAnySeqWorker;
    for (auto& d : ds) {
        if (restored_run && s.restored_in_flight.count(d.seq) != 0) continue;
        Outgoing o{d.message, static_cast<QoS>(d.qos), d.retain, std::move(d.subscription_ids),
                   d.share.empty() ? nullptr : std::make_shared<const std::string>(d.share)};
        o.seq = d.seq;
        o.restored = d.seq < shared_.first_seq;  // queued before a restart: perhaps sent then (DUP)
        const auto size = message_size(*o.message);
        run->count -= std::min<std::uint64_t>(1, run->count);
        run->bytes -= std::min<std::uint64_t>(size, run->bytes);
        s.spilled -= std::min<std::uint64_t>(1, s.spilled);
        s.spilled_bytes -= std::min<std::uint64_t>(size, s.spilled_bytes);
        push_queued(s, std::move(o));
    }
    // Fewer than asked for: nothing else of the run is stored up to range.to.
    run->from = ds.size() < range.max ? range.to + 1 : ds.back().seq + 1;
    if (run->from > run->to) {
        if (restored_run) s.restored_in_flight.clear();
        // Read to its end. What is still counted was erased meanwhile (an expired or dropped record).
        s.spilled -= std::min(run->count, s.spilled);
        s.spilled_bytes -= std::min(run->bytes, s.spilled_bytes);
        s.spill.erase(run);
    }
    if (s.spill.empty()) {
        s.spilled = 0;
        s.spilled_bytes = 0;
    }
    // A drop-oldest queue over its limit (enqueue): what was just read back is the oldest; still over, read on.
    if (trim_oldest(s) && s.spilled != 0 && !s.reading) read_spilled(s);
    pump(s, now);
}

std::vector<std::pair<std::string, SubscriptionEntry>> Core::restore(RestoredSession& rs, TimePoint now) {
    now_ = now;
    std::vector<std::pair<std::string, SubscriptionEntry>> subs;
    auto ns = std::make_unique<Session>();
    Session& s = *ns;
    s.id = make_session_id(index_, next_session_++);
    s.client_id = rs.session.client_id;
    s.tag = std::make_shared<SessionTag>(s.client_id);
    s.tag->durable = true;
    if (rs.session.username) {
        // The identity of its last CONNECT, so that the authorizer checks its deliveries as that user's until it
        // connects again (listener and certificate are not stored: the ACL does not look at them).
        auto who = std::make_shared<Identity>(*s.tag->identity());
        who->username = *rs.session.username;
        who->anonymous = false;
        s.tag->set_identity(std::move(who));
    }
    s.version = static_cast<ProtocolVersion>(rs.session.version);
    s.expiry_s = rs.session.expiry_s;
    s.offline_since = now;  // the expiry interval counts again from the restart
    for (const auto& sub : rs.session.subscriptions) {
        SubscriptionEntry e;
        e.options.qos = static_cast<QoS>(sub.qos);
        e.options.no_local = sub.no_local;
        e.options.retain_as_published = sub.retain_as_published;
        e.options.retain_handling = sub.retain_handling;
        e.subscription_id = sub.identifier;
        e.owner = s.tag;
        if (codec::parse_shared_filter(sub.filter)) e.share = std::make_shared<const std::string>(sub.filter);
        e.cluster_own = own_consumer(s, e);
        s.subscriptions.insert_or_assign(sub.filter, e);
        tree_.insert(sub.filter, s.id, e);
        cluster_interest(s, sub.filter, e, Interest::Add);
        subs.emplace_back(sub.filter, e);
        Stats::add(stats_.subscriptions);
    }
    restore_deliveries(s, rs);
    for (auto id : rs.incoming_qos2) s.incoming_qos2.insert(id);
    if (rs.will) {
        s.pending_will = StoredWill{rs.will->message, rs.will->delay_s, rs.will->expiry_s};
        s.will_due = from_unix_ms(rs.will->due_unix_ms, now);
    }
    Stats::add(stats_.sessions);
    sessions_by_id_.emplace(s.id, &s);
    sessions_.emplace(s.client_id, std::move(ns));
    return subs;
}

void Core::restore_deliveries(Session& s, RestoredSession& rs) {
    for (auto& d : rs.deliveries) {
        Outgoing o{d.message, static_cast<QoS>(d.qos), d.retain, std::move(d.subscription_ids),
                   d.share.empty() ? nullptr : std::make_shared<const std::string>(d.share)};
        o.seq = d.seq;
        o.restored = true;
        if (d.pubrec) {
            // [MQTT-4.4.0-1]: past PUBREC only the PUBREL is resent, with the packet identifier the client knows.
            o.packet_id = d.packet_id;
            o.sent = true;
            o.pubrec = true;
            s.inflight.push_back(std::move(o));
        } else if (d.packet_id != 0) {
            // A QoS 2 PUBLISH sent before the restart, not acknowledged: resent on reconnect with its identifier.
            o.packet_id = d.packet_id;
            o.sent = true;
            s.inflight.push_back(std::move(o));
        } else {
            push_queued(s, std::move(o));
        }
    }
    if (rs.spilled != 0) {
        for (const auto& o : s.inflight) {
            if (o.seq >= rs.spill_from && o.seq <= rs.spill_to) s.restored_in_flight.insert(o.seq);
        }
        s.spill.push_back(SpillRun{rs.spill_from, rs.spill_to, kAnySeqWorker, rs.spilled, rs.spilled_bytes});
        s.spilled = rs.spilled;
        s.spilled_bytes = rs.spilled_bytes;
    }
}

}  // namespace moth::broker
