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
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "broker/auth.hpp"

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

// Which subscriptions a routing serves. On one node: all. In a cluster (docs/cluster.md) the bus delivers shared
// subscriptions, so that a group gets each message once cluster-wide: a local publish serves the plain ones only, and
// a message that came through a group's queue serves that group only.
struct RouteScope {
    bool plain = true;                  // non-shared subscriptions
    bool shares = true;                 // shared subscriptions (every group, or only `share`)
    const std::string* share = nullptr;  // "$share/<group>/<filter>": only that group
    // Non-zero: the plain subscriptions of that session only (a delivery of its own consumer, ClusterBus::attach).
    // Zero: subscriptions with their own consumer (SubscriptionEntry::cluster_own) take no QoS 1/2 message here.
    SessionId session = 0;
};

class Router {
public:
    // With an authorizer, a delivery reaches the sink only when its session may read the topic (Access::Read, decided
    // once per session and topic and cached until the rules' generation changes); null: everything is readable.
    explicit Router(const Authorizer* authorizer = nullptr) : authorizer_(authorizer) {}

    // Routes `m` through `tree` into `sink`; returns the number of deliveries.
    std::size_t route(SubscriptionTree& tree, const MessagePtr& m, DeliverySink& sink, const RouteScope& scope = {});
    // Whether the session of `owner` may read `topic` (true without an authorizer or an owner).
    [[nodiscard]] bool may_read(const std::shared_ptr<SessionTag>* owner, std::string_view topic) {
        return owner == nullptr || *owner == nullptr || may(**owner, topic, Access::Read);
    }
    // Read or Write for the session of `tag`, cached like the reads (the core asks it for every PUBLISH).
    [[nodiscard]] bool may(const SessionTag& tag, std::string_view topic, Access access);

private:
    struct Match {
        SessionId session;
        const SubscriptionEntry* entry;
    };
    struct TopicHash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
    };
    using TopicDecisions = std::unordered_map<std::string, bool, TopicHash, std::equal_to<>>;
    static constexpr std::size_t kMaxCached = 100'000;  // decisions kept per worker before the cache starts over

    std::vector<Match> matches_;
    const Authorizer* authorizer_;
    std::uint64_t generation_ = 0;
    std::size_t cached_ = 0;
    std::unordered_map<std::uint64_t, TopicDecisions> decisions_[2];  // Read, Write; by Identity::serial
};

}  // namespace moth::broker
