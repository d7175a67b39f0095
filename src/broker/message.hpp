#pragma once
// An application message as the broker routes it: decoded once from the publisher's PUBLISH, owned,
// immutable, and shared (by shared_ptr) by every queue and every worker that delivers it.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "codec/packets.hpp"

namespace moth::broker {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;

struct Message {
    std::string topic;
    std::vector<std::byte> payload;
    codec::QoS qos = codec::QoS::AtMostOnce;
    bool retain = false;
    // MQTT 5.0 properties passed through to subscribers [MQTT-3.3.2-15..20 area].
    std::optional<std::uint8_t> payload_format_indicator;
    std::optional<std::string> content_type;
    std::optional<std::string> response_topic;
    std::optional<std::vector<std::byte>> correlation_data;
    std::vector<std::pair<std::string, std::string>> user_properties;
    // Absolute deadline from the Message Expiry Interval; forwarded with the time left [MQTT-3.3.2-6].
    std::optional<TimePoint> expires_at;
    std::uint64_t origin_session = 0;  // for No Local

    [[nodiscard]] bool expired(TimePoint now) const { return expires_at && now >= *expires_at; }
};

using MessagePtr = std::shared_ptr<const Message>;

// Copies what a decoded PUBLISH (views into a read buffer) carries into an owned Message.
[[nodiscard]] inline std::shared_ptr<Message> make_message(const codec::Publish& p, std::string_view topic,
                                                           TimePoint now) {
    auto m = std::make_shared<Message>();
    m->topic.assign(topic);
    m->payload.assign(p.payload.begin(), p.payload.end());
    m->qos = p.qos;
    m->retain = p.retain;
    const auto& pr = p.properties;
    m->payload_format_indicator = pr.payload_format_indicator;
    if (pr.content_type) m->content_type.emplace(*pr.content_type);
    if (pr.response_topic) m->response_topic.emplace(*pr.response_topic);
    if (pr.correlation_data) m->correlation_data.emplace(pr.correlation_data->begin(), pr.correlation_data->end());
    m->user_properties.reserve(pr.user_properties.size());
    for (const auto& up : pr.user_properties) m->user_properties.emplace_back(up.key, up.value);
    if (pr.message_expiry_interval) m->expires_at = now + std::chrono::seconds(*pr.message_expiry_interval);
    return m;
}

}  // namespace moth::broker
