// What the broker does for itself rather than for a client: the HTTP API's snapshot, disconnect and publish, and the
// $SYS topics (worker 0, from sys_topics.cpp's values).
#include "broker/core.hpp"
#include "broker/util.hpp"
#include "codec/topic.hpp"
#include "common/utf8.hpp"

namespace moth::broker {

using codec::ReasonCode;

CoreSnapshot Core::snapshot(const SnapshotQuery& query, TimePoint now) const {
    CoreSnapshot out;
    const auto wanted = [&](std::string_view client_id) { return !query.client_id || *query.client_id == client_id; };
    if (query.clients) {
        for (const auto& [id, cp] : connections_) {
            const Connection& c = *cp;
            if (c.state != Connection::State::Connected || c.session == nullptr || !wanted(c.session->client_id))
                continue;
            const Session& s = *c.session;
            ClientInfo info;
            info.client_id = s.client_id;
            info.username = c.username;
            info.address = c.remote;
            if (c.tag) {
                info.listener = c.tag->name;
                info.transport = c.tag->transport;
            }
            info.protocol_version = static_cast<unsigned>(c.version);
            info.connected_for = now - c.connected_at;
            info.keepalive_s = c.keep_alive_s;
            info.clean_start = c.clean_start;
            info.subscriptions = s.subscriptions.size();
            info.inflight = s.inflight.size();
            info.queued = s.queue.size() + s.spilled;
            info.denied = c.denied;
            if (c.throttle) {
                info.throttled = c.throttle->times;
                // The last whole second's rate; a client quiet since then is at 0.
                info.publish_rate = now - c.throttle->window_start < std::chrono::seconds(2) ? c.throttle->rate : 0.0;
            }
            out.clients.push_back(std::move(info));
        }
    }
    if (query.sessions) {
        for (const auto& [client_id, sp] : sessions_) {
            if (!wanted(client_id)) continue;
            const Session& s = *sp;
            SessionInfo info{s.client_id, s.connection != 0, s.expiry_s, s.subscriptions.size(),
                             s.inflight.size(), s.queue.size() + s.spilled, s.queue.size()};
            info.queued_bytes = s.queued_bytes + s.spilled_bytes;
            if (const auto it = bridge_drops_.find(s.client_id); it != bridge_drops_.end()) info.dropped = it->second;
            out.sessions.push_back(std::move(info));
        }
    }
    if (query.subscriptions) {
        for (const auto& [client_id, sp] : sessions_) {
            if (!wanted(client_id)) continue;
            for (const auto& [filter, e] : sp->subscriptions) {
                SubscriptionInfo info;
                info.client_id = client_id;
                if (const auto shared = codec::parse_shared_filter(filter)) {
                    info.filter = std::string(shared->filter);
                    info.shared_group = std::string(shared->group);
                } else {
                    info.filter = filter;
                }
                info.qos = static_cast<std::uint8_t>(e.options.qos);
                info.no_local = e.options.no_local;
                info.retain_as_published = e.options.retain_as_published;
                info.retain_handling = e.options.retain_handling;
                info.identifier = e.subscription_id;
                out.subscriptions.push_back(std::move(info));
            }
        }
    }
    if (query.listeners) {
        // Every connection this core serves, CONNECT or not; a relayed one is counted by the core that owns it.
        for (const auto& [id, cp] : connections_) {
            if (cp->state != Connection::State::Closed && cp->tag) ++out.connections_by_listener[cp->tag->name];
        }
    }
    return out;
}

bool Core::disconnect_client(std::string_view client_id, TimePoint now) {
    const auto it = sessions_.find(std::string(client_id));
    if (it == sessions_.end() || it->second->connection == 0) return false;
    Connection* c = find_connection(it->second->connection);
    if (c == nullptr || c->state != Connection::State::Connected) return false;
    if (shared_.log) shared_.log(1, "closing " + c->remote + " (" + it->second->client_id + "): administrative action");
    now_ = now;
    if (is_v5(c->version)) {
        codec::Disconnect d;
        d.reason = ReasonCode::AdministrativeAction;
        send_packet(*c, d);
    }
    // A server-side close without the client's DISCONNECT: the will is published [MQTT-3.1.2-8].
    drop_connection(*c, true, now);
    return true;
}

std::optional<std::string> Core::refuse_publish(const BrokerPublish& p) const {
    const auto& limits = cfg_.limits;
    const auto& features = cfg_.features;
    if (const auto levels = codec::topic_level_count(p.topic); levels > limits.max_topic_levels)
        return "the topic has " + std::to_string(levels) + " levels, above limits.max_topic_levels (" +
               std::to_string(limits.max_topic_levels) + ")";
    if (static_cast<std::uint8_t>(p.qos) > features.maximum_qos)
        return "QoS " + std::to_string(static_cast<unsigned>(p.qos)) + " is above features.maximum_qos (" +
               std::to_string(features.maximum_qos) + ")";  // [MQTT-3.2.2-11]
    if (p.retain && !features.retain_available) return std::string("retained messages are not available");
    if (p.content_type && !common::is_valid_mqtt_utf8(*p.content_type))
        return std::string("content_type is not valid UTF-8");
    std::size_t size = 2 + p.topic.size() + 2 + p.payload.size() + 5 + 3 + (p.content_type ? p.content_type->size() : 0);
    for (const auto& [k, val] : p.user_properties) {
        if (!common::is_valid_mqtt_utf8(k) || !common::is_valid_mqtt_utf8(val))
            return "user property \"" + k + "\" is not valid UTF-8";
        size += 5 + k.size() + val.size();
    }
    if (size > limits.max_packet_size)  // what a client's PUBLISH of this message would take, at least
        return "the message takes " + std::to_string(size) + " bytes as a PUBLISH, above limits.max_packet_size (" +
               std::to_string(limits.max_packet_size) + ")";
    return std::nullopt;
}

std::size_t Core::publish(const BrokerPublish& p, TimePoint now) {
    now_ = now;
    auto m = std::make_shared<Message>();
    m->topic = p.topic;
    m->payload = p.payload;
    m->qos = p.qos;
    m->retain = p.retain;
    m->content_type = p.content_type;
    for (const auto& [k, v] : p.user_properties) m->user_properties.add(k, v);
    m->seal();
    MessagePtr msg = std::move(m);
    if (p.retain) {
        StoreBatch b{now_};
        set_retained(msg, &b);  // [MQTT-3.3.1-6/7], as for a client's retained PUBLISH
        commit(b);
    }
    Stats::add(stats_.messages_received);
    Stats::add(stats_.publish_received);
    to_cluster(msg);
    return route_persisted(msg, now);
}

void Core::publish_sys(TimePoint now) {
    const auto interval = cfg_.sys_interval_s;
    if (interval == 0 || now < next_sys_) return;
    next_sys_ = now + std::chrono::seconds(interval);
    SysInputs in;
    in.totals = sum(shared_.stats);
    in.base = shared_.totals_base;
    in.uptime_s = std::chrono::duration_cast<std::chrono::seconds>(now - shared_.started).count();
    in.version = shared_.version;
    if (clustered()) in.cluster = shared_.cluster->status();
    {
        std::lock_guard lock(shared_.retained_mutex);
        in.retained_count = shared_.retained.size();
        in.flapping_bans = shared_.gate != nullptr ? shared_.gate->flapping_bans() : 0;
    }
    // Totals count from the broker's first start: what the store kept, plus this run's counters.
    if (store_ != nullptr) {
        StoreBatch b{now};
        b.put_totals(SysTopics::persisted(in));
        commit(b);
    }
    for (const auto& [topic, value] : sys_.update(in, now)) publish_sys_value(topic, value);
}

void Core::publish_sys_value(const std::string& topic, const std::string& value) {
    auto m = std::make_shared<Message>();
    m->topic = topic;
    const auto* b = reinterpret_cast<const std::byte*>(value.data());
    m->payload.assign(b, b + value.size());
    m->retain = true;
    m->seal();
    MessagePtr msg = std::move(m);
    {
        std::lock_guard lock(shared_.retained_mutex);
        shared_.retained.set(msg->topic, msg);
    }
    route(msg);
}

}  // namespace moth::broker
