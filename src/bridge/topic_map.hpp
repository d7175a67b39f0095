#pragma once
// A bridge's topic rules (Mosquitto's `topic pattern dir qos local-prefix remote-prefix`, docs/bridges.md): which
// filters each side subscribes to, and how a message's topic and QoS change on the way. Pure: no I/O, any thread.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/bridge.hpp"

namespace moth::bridge {

struct Subscription {
    std::string filter;
    std::uint8_t qos = 0;
};

struct Mapped {
    std::string topic;
    std::uint8_t qos = 0;  // min(message, rule)
};

class TopicMap {
public:
    explicit TopicMap(std::vector<config::BridgeTopic> rules);

    // What the bridge subscribes to locally (out, both) and on the remote (in, both): prefix + pattern, one per
    // distinct filter at the highest QoS its rules name.
    [[nodiscard]] std::vector<Subscription> local_filters() const;
    [[nodiscard]] std::vector<Subscription> remote_filters() const;

    // The first rule (in file order) whose filter matches: the topic on the other side and the QoS to send at;
    // nullopt when no rule covers the topic (it came through a subscription an old config left behind).
    [[nodiscard]] std::optional<Mapped> outbound(std::string_view local_topic, std::uint8_t qos) const;
    [[nodiscard]] std::optional<Mapped> inbound(std::string_view remote_topic, std::uint8_t qos) const;

private:
    std::vector<config::BridgeTopic> rules_;
};

}  // namespace moth::bridge
