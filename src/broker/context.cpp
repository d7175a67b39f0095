#include "broker/context.hpp"

namespace moth::broker {

Shared::Shared(config::Config c, unsigned workers, TimePoint started_at)
    : config(std::move(c)), worker_count(workers), started(started_at) {
    for (unsigned i = 0; i < workers; ++i) stats.push_back(std::make_unique<Stats>());
}

StatsTotals sum(const std::vector<std::unique_ptr<Stats>>& stats) {
    StatsTotals t;
    auto get = [](const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); };
    for (const auto& st : stats) {
        t.connections += get(st->connections);
        t.sessions += get(st->sessions);
        t.messages_received += get(st->messages_received);
        t.messages_sent += get(st->messages_sent);
        t.messages_dropped += get(st->messages_dropped);
        t.publish_received += get(st->publish_received);
        t.publish_sent += get(st->publish_sent);
        t.bytes_received += get(st->bytes_received);
        t.bytes_sent += get(st->bytes_sent);
        t.subscriptions += get(st->subscriptions);
        t.protocol_errors += get(st->protocol_errors);
        t.connection_failures += get(st->connection_failures);
        t.auth_failures += get(st->auth_failures);
        t.denied += get(st->denied);
        t.throttled += get(st->throttled);
        t.rate_disconnects += get(st->rate_disconnects);
        t.connect_rate_refused += get(st->connect_rate_refused);
        t.banned_refused += get(st->banned_refused);
    }
    return t;
}

}  // namespace moth::broker
