#include "bridge/topic_map.hpp"

#include <algorithm>

#include "topic/levels.hpp"

namespace moth::bridge {

namespace {

using config::BridgeDirection;

bool goes_out(const config::BridgeTopic& r) { return r.direction != BridgeDirection::In; }
bool comes_in(const config::BridgeTopic& r) { return r.direction != BridgeDirection::Out; }

void add(std::vector<Subscription>& subs, std::string filter, std::uint8_t qos) {
    const auto it = std::find_if(subs.begin(), subs.end(), [&](const Subscription& s) { return s.filter == filter; });
    if (it == subs.end()) {
        subs.push_back({std::move(filter), qos});
    } else {
        it->qos = std::max(it->qos, qos);
    }
}

// The topic on the other side: `to` prefix + what follows `from` prefix, for a topic under rule filter
// from + pattern.
std::optional<Mapped> map(std::string_view topic, std::uint8_t qos, const config::BridgeTopic& r,
                          const std::string& from, const std::string& to) {
    // "pre/#" also matches "pre" itself, which has no place under the other prefix: not mapped.
    if (!topic.starts_with(from) || !topic::topic_matches(from + r.pattern, topic)) return std::nullopt;
    Mapped m;
    m.topic = to;
    m.topic.append(topic.substr(from.size()));  // topic starts with `from`: the filter matched
    m.qos = std::min(qos, r.qos);
    return m;
}

}  // namespace

TopicMap::TopicMap(std::vector<config::BridgeTopic> rules) : rules_(std::move(rules)) {}

std::vector<Subscription> TopicMap::local_filters() const {
    std::vector<Subscription> out;
    for (const auto& r : rules_) {
        if (goes_out(r)) add(out, r.local_prefix + r.pattern, r.qos);
    }
    return out;
}

std::vector<Subscription> TopicMap::remote_filters() const {
    std::vector<Subscription> out;
    for (const auto& r : rules_) {
        if (comes_in(r)) add(out, r.remote_prefix + r.pattern, r.qos);
    }
    return out;
}

std::optional<Mapped> TopicMap::outbound(std::string_view local_topic, std::uint8_t qos) const {
    for (const auto& r : rules_) {
        if (!goes_out(r)) continue;
        if (auto m = map(local_topic, qos, r, r.local_prefix, r.remote_prefix)) return m;
    }
    return std::nullopt;
}

std::optional<Mapped> TopicMap::inbound(std::string_view remote_topic, std::uint8_t qos) const {
    for (const auto& r : rules_) {
        if (!comes_in(r)) continue;
        if (auto m = map(remote_topic, qos, r, r.remote_prefix, r.local_prefix)) return m;
    }
    return std::nullopt;
}

}  // namespace moth::bridge
