#pragma once
// What a PUBLISH waits with while its store write is under way (durability.cpp): the message, who sent it, and the
// deliveries its routing captured, dispatched once the write is done.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "broker/ids.hpp"
#include "broker/message.hpp"
#include "broker/session.hpp"
#include "codec/types.hpp"

namespace moth::broker {

// One delivery of a message routed in capture mode, dispatched after the store write.
struct Captured {
    SessionId session;
    codec::QoS qos;
    bool retain;
    std::vector<std::uint32_t> subscription_ids;
    std::shared_ptr<const std::string> share;
    std::shared_ptr<SessionTag> owner;
    std::uint64_t seq = 0;
};

struct PendingPublish {
    ConnectionId connection = 0;  // 0: not from a client (will, API)
    SessionId session = 0;
    MessagePtr message;
    std::uint16_t packet_id = 0;
    bool retain_update = false;
    std::size_t matched = 0;
    std::vector<Captured> deliveries;
};

}  // namespace moth::broker
