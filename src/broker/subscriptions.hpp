#pragma once
// SUBACK and UNSUBACK after every worker (subscriptions.cpp, docs/architecture.md): a client that has its SUBACK may
// at once make a client on another worker publish, so the acknowledgement waits until every other worker has
// applied the packet's changes to its tree (one post per worker and packet, one ack posted back by each) and, for a
// durable session in sync mode, until the store has them. Acknowledgements of a connection go out in the order of
// its packets. Only the owning worker's thread touches them.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "broker/ids.hpp"
#include "broker/session.hpp"
#include "codec/reason_code.hpp"
#include "codec/types.hpp"

namespace moth::broker {

struct RetainedToSend {
    std::string filter;
    codec::QoS granted;
};

struct PendingAck {
    SessionId session = 0;
    std::uint16_t packet_id = 0;
    bool unsubscribe = false;  // UNSUBACK, else SUBACK
    bool ok = true;            // false: the store commit failed (SUBACK: Unspecified error, no retained)
    unsigned waiting = 0;      // acks still due: one per other worker, one for a waited-for store commit
    std::uint32_t sub_id = 0;
    std::vector<codec::ReasonCode> codes;
    std::vector<RetainedToSend> retained;  // sent after the SUBACK
};

using AckKey = std::pair<ConnectionId, std::uint64_t>;  // the connection, then the packet's sequence number
using Subscriptions = std::vector<std::pair<std::string, SubscriptionEntry>>;

}  // namespace moth::broker
