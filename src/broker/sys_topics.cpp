#include "broker/sys_topics.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>

namespace moth::broker {

namespace {

std::string two_decimals(double d) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f", d);
    return std::string(buf);
}

}  // namespace

StoredTotals SysTopics::persisted(const SysInputs& in) {
    const auto& t = in.totals;
    const auto& b = in.base;
    return {t.messages_received + b.messages_received, t.messages_sent + b.messages_sent,
            t.publish_received + b.publish_received,   t.publish_sent + b.publish_sent,
            t.messages_dropped + b.messages_dropped,   t.bytes_received + b.bytes_received,
            t.bytes_sent + b.bytes_sent};
}

std::vector<std::pair<std::string, std::string>> SysTopics::update(const SysInputs& in, TimePoint now) {
    const StoredTotals all = persisted(in);
    if (!first_) {
        const double dt = std::chrono::duration<double>(now - last_).count();
        if (dt > 0) {
            const double windows[3] = {60.0, 300.0, 900.0};
            const double rate_r = static_cast<double>(all.publish_received - last_received_) * 60.0 / dt;
            const double rate_s = static_cast<double>(all.publish_sent - last_sent_) * 60.0 / dt;
            for (std::size_t i = 0; i < 3; ++i) {
                const double k = std::exp(-dt / windows[i]);
                load_received_[i] = load_received_[i] * k + rate_r * (1 - k);
                load_sent_[i] = load_sent_[i] * k + rate_s * (1 - k);
            }
        }
    }
    first_ = false;
    last_ = now;
    last_received_ = all.publish_received;
    last_sent_ = all.publish_sent;

    const auto connected = in.totals.connections;
    const auto sessions = in.totals.sessions;
    std::vector<std::pair<std::string, std::string>> out = {
        {"$SYS/broker/version", "mothd " + in.version},
        {"$SYS/broker/uptime", std::to_string(in.uptime_s) + " seconds"},
        {"$SYS/broker/clients/connected", std::to_string(connected)},
        {"$SYS/broker/clients/active", std::to_string(connected)},
        {"$SYS/broker/clients/total", std::to_string(sessions)},
        {"$SYS/broker/clients/disconnected", std::to_string(sessions >= connected ? sessions - connected : 0)},
        {"$SYS/broker/messages/received", std::to_string(all.messages_received)},
        {"$SYS/broker/messages/sent", std::to_string(all.messages_sent)},
        {"$SYS/broker/publish/messages/received", std::to_string(all.publish_received)},
        {"$SYS/broker/publish/messages/sent", std::to_string(all.publish_sent)},
        {"$SYS/broker/publish/messages/dropped", std::to_string(all.messages_dropped)},
        {"$SYS/broker/bytes/received", std::to_string(all.bytes_received)},
        {"$SYS/broker/bytes/sent", std::to_string(all.bytes_sent)},
        {"$SYS/broker/subscriptions/count", std::to_string(in.totals.subscriptions)},
        {"$SYS/broker/connections/failed", std::to_string(in.totals.connection_failures)},
        {"$SYS/broker/clients/auth_failed", std::to_string(in.totals.auth_failures)},
        {"$SYS/broker/clients/denied", std::to_string(in.totals.denied)},
        {"$SYS/broker/clients/throttled", std::to_string(in.totals.throttled)},
        {"$SYS/broker/clients/rate_disconnected", std::to_string(in.totals.rate_disconnects)},
        {"$SYS/broker/clients/connection_rate_refused", std::to_string(in.totals.connect_rate_refused)},
        {"$SYS/broker/clients/banned", std::to_string(in.totals.banned_refused)},
        {"$SYS/broker/clients/flapping_bans", std::to_string(in.flapping_bans)},
        {"$SYS/broker/retained messages/count", std::to_string(in.retained_count)},
    };
    const char* names[3] = {"1min", "5min", "15min"};
    for (std::size_t i = 0; i < 3; ++i) {
        out.emplace_back(std::string("$SYS/broker/load/publish/received/") + names[i], two_decimals(load_received_[i]));
        out.emplace_back(std::string("$SYS/broker/load/publish/sent/") + names[i], two_decimals(load_sent_[i]));
    }
    if (in.cluster) cluster_topics(*in.cluster, out);
    return out;
}

void SysTopics::cluster_topics(const ClusterStatus& c, std::vector<std::pair<std::string, std::string>>& out) {
    // $SYS/broker/... is this node's; $SYS/broker/cluster/... adds up the reports of the nodes alive.
    out.emplace_back("$SYS/broker/node", c.node);
    out.emplace_back("$SYS/broker/cluster/link", c.connected ? "connected" : "disconnected");
    std::uint64_t alive = 0, connections = 0, sessions = 0, subscriptions = 0, received = 0, sent = 0;
    for (const auto& n : c.nodes) {
        out.emplace_back("$SYS/broker/cluster/nodes/" + n.report.node + "/state", n.alive ? "up" : "down");
        if (!n.alive) continue;
        ++alive;
        connections += n.report.connections;
        sessions += n.report.sessions;
        subscriptions += n.report.subscriptions;
        received += n.report.messages_received;
        sent += n.report.messages_sent;
    }
    out.emplace_back("$SYS/broker/cluster/nodes", std::to_string(alive));
    out.emplace_back("$SYS/broker/cluster/clients/connected", std::to_string(connections));
    out.emplace_back("$SYS/broker/cluster/clients/total", std::to_string(sessions));
    out.emplace_back("$SYS/broker/cluster/subscriptions/count", std::to_string(subscriptions));
    out.emplace_back("$SYS/broker/cluster/messages/received", std::to_string(received));
    out.emplace_back("$SYS/broker/cluster/messages/sent", std::to_string(sent));
    out.emplace_back("$SYS/broker/cluster/bus/published", std::to_string(c.published));
    out.emplace_back("$SYS/broker/cluster/bus/received", std::to_string(c.received));
}

}  // namespace moth::broker
