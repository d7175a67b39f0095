#include "bridge_wiring.hpp"

namespace moth::mothd {

std::shared_ptr<const broker::ListenerTag> bridge_tag(const config::Bridge& b) {
    auto queue = std::make_shared<broker::QueueOverride>();
    queue->max_queued_messages = b.max_queued_messages;
    queue->max_queued_bytes = b.max_queued_bytes;
    queue->drop_oldest = b.queue_full_policy == config::QueueFullPolicy::DropOldest;
    queue->queue_qos0 = b.queue_qos0;
    auto tag = std::make_shared<broker::ListenerTag>();
    tag->name = "bridge:" + b.name;
    tag->transport = "bridge";
    tag->queue = std::move(queue);
    return tag;
}

broker::BrokerPublish bridge_state(const std::string& name, bool up) {
    broker::BrokerPublish m;
    m.topic = "$SYS/broker/connection/" + name + "/state";
    m.payload = {std::byte{up ? std::uint8_t{'1'} : std::uint8_t{'0'}}};
    m.qos = codec::QoS::AtLeastOnce;
    m.retain = true;
    return m;
}

std::vector<http::BridgeInfo> bridge_infos(const std::vector<bridge::BridgeStatus>& statuses) {
    std::vector<http::BridgeInfo> out;
    out.reserve(statuses.size());
    for (const auto& s : statuses) {
        out.push_back(http::BridgeInfo{s.name, s.connected, s.address, s.last_error, s.sent, s.received, s.refused,
                                       s.reconnects, s.connected_since_unix_ms});
    }
    return out;
}

}  // namespace moth::mothd
