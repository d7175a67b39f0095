// The cluster room (docs/cluster.md): what a node sends to the others (messages, its interest, take-overs, its
// report) and what it does with what they send. Everything else about a cluster is the bus's (src/cluster/nats).
#include <atomic>
#include <memory>

#include "broker/core.hpp"
#include "broker/util.hpp"

namespace moth::broker {

using codec::QoS;
using codec::ReasonCode;

void Core::cluster_publish(Connection& c, Session& s, const codec::Publish& p, MessagePtr msg) {
    // Known from now on: a copy resent while JetStream is asked is a duplicate, not a second message.
    if (p.qos == QoS::ExactlyOnce) s.incoming_qos2.insert(p.packet_id);
    shared_.cluster->publish(msg, [host = &host_, w = index_, cid = c.id, sid = s.id, pid = p.packet_id,
                                   msg](bool ok) {
        host->post(w, [=](Core& core, TimePoint t) { core.cluster_published(cid, sid, pid, msg, ok, t); });
    });
}

void Core::cluster_published(ConnectionId cid, SessionId sid, std::uint16_t packet_id, const MessagePtr& msg,
                             bool ok, TimePoint now) {
    now_ = now;
    Session* s = find_session(sid);
    Connection* c = find_connection(cid);
    if (c != nullptr && (c->state != Connection::State::Connected || c->session != s)) c = nullptr;
    const QoS qos = msg->qos;
    if (!ok) {
        if (shared_.log) shared_.log(2, "cluster did not store the message on " + msg->topic + ": not accepted");
        refuse_unstored(c, s, qos, packet_id, "cluster did not store the message");
        return;
    }
    // Safe for the other nodes: from here on it is this node's own publish, as on one node.
    if (s == nullptr) {  // the session ended meanwhile: its subscribers here still get it
        if (msg->retain) {
            StoreBatch b{now};
            set_retained(msg, &b);
            commit(b);
        }
        route_persisted(msg, now);
        return;
    }
    if (store_ != nullptr) {
        publish_durably(c, *s, packet_id, msg, now);
        return;
    }
    if (msg->retain) {
        StoreBatch b{now};
        set_retained(msg, &b);
        commit(b);
    }
    route(msg);
    if (c != nullptr) send_publish_ack(*c, qos, packet_id, ReasonCode::Success);
}

void Core::to_cluster(const MessagePtr& m) {
    if (clustered() && !m->topic.starts_with("$SYS")) shared_.cluster->publish(m, nullptr);
}

void Core::deliver_cluster(ClusterDelivery d, TimePoint now) {
    now_ = now;
    const RouteScope saved = scope_;
    // Through a group's queue: one member of that group here. Otherwise: the plain subscriptions only (the groups
    // get their copy through their queues).
    if (!d.client.empty()) {
        // From the session's own consumer: for that session only, on the worker that holds it.
        auto it = sessions_.find(d.client);
        if (it == sessions_.end()) {
            if (d.ack) d.ack(false);  // it moved on (or ended): the consumer's next binder gets the message again
            return;
        }
        scope_ = RouteScope{true, false, nullptr, it->second->id};
    } else {
        scope_ = d.share ? RouteScope{false, true, d.share.get(), 0} : RouteScope{true, false, nullptr, 0};
    }
    if (store_ == nullptr || d.message->qos == QoS::AtMostOnce) {
        route(d.message);
        scope_ = saved;
        if (d.ack) d.ack(true);
        return;
    }
    // Acknowledged to the bus once stored, as a publisher's PUBACK is on one node: a node killed before that gets
    // it again from its durable consumer.
    auto pending = std::make_shared<PendingPublish>();
    pending->message = d.message;
    StoreBatch b{now};
    capture(*pending, b);
    scope_ = saved;
    // Stored deliveries keep the message's id until its ack has left: after a kill in between, the redelivery is
    // known for what it is (ClusterBus::seen), not queued a second time (QoS 2 exactly once).
    const bool keep_id = !b.empty() && !d.id.empty();
    if (keep_id) b.put_applied(d.id);
    if (b.empty() || !store_->acks_wait()) {
        commit(b);
        finish_publish(*pending, true, now);
        if (d.ack) d.ack(true);
        if (keep_id) forget_applied(d.id, now);
        return;
    }
    commit_then(b, [pending, ack = std::move(d.ack), id = keep_id ? std::move(d.id) : std::string()](
                       Core& core, bool ok, TimePoint t) {
        if (ok) core.finish_publish(*pending, true, t);
        if (ack) ack(ok);
        if (!id.empty()) core.forget_applied(id, t);
    });
}

void Core::forget_applied(const std::string& id, TimePoint now) {
    StoreBatch b{now};
    b.erase_applied(id);
    commit(b);
}

void Core::cluster_takeover(const std::string& client_id, const std::string& by_node, std::int64_t at_unix_ms,
                             TimePoint now, std::function<void(bool released)> release) {
    now_ = now;
    auto it = sessions_.find(client_id);
    if (it == sessions_.end()) {
        if (release) release(true);  // nothing of it here (any more)
        return;
    }
    Session& s = *it->second;
    Connection* oc = session_connection(s);
    if (oc != nullptr && std::pair(s.claimed_at, std::string_view(shared_.cluster->node())) >
                             std::pair(at_unix_ms, std::string_view(by_node))) {
        // The claims crossed: this connection is the later one, and stays (by_node ends its own on our claim).
        if (release) release(false);
        return;
    }
    if (oc != nullptr) {
        // [MQTT-3.1.4-3]: the existing connection is closed; 5.0 tells it why.
        if (is_v5(oc->version)) {
            codec::Disconnect d;
            d.reason = ReasonCode::SessionTakenOver;
            send_packet(*oc, d);
        }
        drop_connection(*oc, true, now);
    }
    auto again = sessions_.find(client_id);  // drop_connection may have ended it
    if (again == sessions_.end()) {
        if (release) release(true);
        return;
    }
    if (shared_.log) shared_.log(1, "session of " + client_id + " taken over by node " + by_node);
    // The session goes on there: a delayed will is not due (as when the client reconnects on one node), and its
    // records stay in the cluster's copy for that node.
    again->second->pending_will.reset();
    end_session(*again->second, true, std::move(release));
}

bool Core::own_consumer(const Session& s, const SubscriptionEntry& e) const {
    // Only where the session's records reach the cluster's copy (a store), and never a bridge's: it is this node's.
    return clustered() && durable(s) && !e.share && e.options.qos != QoS::AtMostOnce &&
           !s.client_id.starts_with("$bridge/");
}

void Core::cluster_interest(const Session& s, const std::string& filter, const SubscriptionEntry& e, Interest change,
                            std::function<void(Core&, TimePoint)> done) {
    if (!clustered()) return;
    // A subscription with its own consumer takes QoS 1/2 messages from it: this node's interest is for QoS 0 ones.
    const QoS node_qos = e.cluster_own ? QoS::AtMostOnce : e.options.qos;
    if (change != Interest::Add) {
        shared_.cluster->unsubscribe(filter, node_qos);
        if (e.cluster_own) shared_.cluster->detach(s.client_id, filter, change == Interest::Remove);
        return;
    }
    if (!done) {
        shared_.cluster->subscribe(filter, node_qos, nullptr);
        if (e.cluster_own) shared_.cluster->attach(s.client_id, filter, s.expiry_s, nullptr);
        return;
    }
    // Both the node's interest and the session's consumer, when it has one, before `done`.
    auto left = std::make_shared<std::atomic<int>>(e.cluster_own ? 2 : 1);
    auto joined = [host = &host_, w = index_, filter, left, done = std::move(done)](bool ok) {
        if (!ok) {
            // Local subscribers are served anyway; the bus restores the interest when the link returns.
            host->post(w, [filter](Core& core, TimePoint) {
                if (core.shared_.log) core.shared_.log(2, "cluster interest in " + filter + " not confirmed");
            });
        }
        if (left->fetch_sub(1) == 1) host->post(w, done);
    };
    shared_.cluster->subscribe(filter, node_qos, joined);
    if (e.cluster_own) shared_.cluster->attach(s.client_id, filter, s.expiry_s, joined);
}

void Core::cluster_report(TimePoint now) {
    const auto interval = cfg_.cluster.report_interval_s;
    if (!clustered() || interval == 0 || now < next_report_) return;
    next_report_ = now + std::chrono::seconds(interval);
    const StatsTotals t = sum(shared_.stats);
    NodeReport r;
    r.node = shared_.cluster->node();
    r.version = shared_.version;
    r.started_unix_ms = to_unix_ms(shared_.started, now);
    r.connections = t.connections;
    r.sessions = t.sessions;
    r.subscriptions = t.subscriptions;
    r.messages_received = t.messages_received;
    r.messages_sent = t.messages_sent;
    {
        std::lock_guard lock(shared_.retained_mutex);
        r.retained = shared_.retained.size();
    }
    shared_.cluster->report(r);
}

}  // namespace moth::broker
