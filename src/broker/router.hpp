#pragma once
// Routing one message: match its topic in the subscription tree, merge what matched per session (overlapping
// subscriptions, No Local, Retain As Published, subscription identifiers; shared subscriptions on their own), then
// hand each destination to a DeliverySink. The sink decides where a delivery goes: the local session, another
// worker's outbox, the durability capture (and later a bridge or the cluster). A new destination is a new sink,
// never a new branch in here.
//
// Thread affinity: a Router belongs to one worker (its scratch space is reused across calls).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "broker/ids.hpp"
#include "broker/message.hpp"
#include "broker/session.hpp"
#include "codec/types.hpp"
#include "topic/subscription_tree.hpp"

namespace moth::broker {

using SubscriptionTree = topic::SubscriptionTree<SubscriptionEntry>;

// One message for one session. The pointers are valid during DeliverySink::deliver only.
struct Delivery {
    const MessagePtr* message = nullptr;
    SessionId session = 0;
    codec::QoS qos = codec::QoS::AtMostOnce;  // granted: min(publish, subscription)
    bool retain = false;
    std::vector<std::uint32_t> subscription_ids;
    std::shared_ptr<const std::string> share;        // delivered through this shared subscription, else null
    const std::shared_ptr<SessionTag>* owner = nullptr;  // the session's tag (null in tree-only unit tests)
    std::uint64_t seq = 0;                           // its record in the store, 0: not persisted
};

class DeliverySink {
public:
    virtual ~DeliverySink() = default;
    // Before the first deliver() of a message: how many subscriptions matched (more than one: a fan-out, worth
    // encoding once for many receivers).
    virtual void on_matched(std::size_t subscriptions) { (void)subscriptions; }
    virtual void deliver(Delivery&& d) = 0;
};

class Router {
public:
    // Routes `m` through `tree` into `sink`; returns the number of deliveries.
    std::size_t route(SubscriptionTree& tree, const MessagePtr& m, DeliverySink& sink);

private:
    struct Match {
        SessionId session;
        const SubscriptionEntry* entry;
    };
    std::vector<Match> matches_;
};

}  // namespace moth::broker
