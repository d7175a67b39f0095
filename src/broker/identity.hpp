#pragma once
// Who a session's client is, as its last CONNECT established it: what authorization checks and the logs need, on
// any worker. Immutable: a new CONNECT makes a new one (SessionTag::set_identity).
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "auth/grants.hpp"

namespace moth::broker {

// A bridge's queue (ListenerTag::queue, docs/bridges.md): its store-and-forward limits replace
// limits.max_queued_* for the session, and QoS 0 messages may be queued as QoS 1 (queue_qos0).
struct QueueOverride {
    std::uint32_t max_queued_messages = 0;
    std::uint64_t max_queued_bytes = 0;
    bool drop_oldest = true;
    bool queue_qos0 = false;
};

struct Identity {
    std::string client_id;
    std::string username;   // the CONNECT's User Name, or the certificate's CN (use_cn_as_username)
    bool anonymous = true;  // no User Name and no certificate identity: the ACL's anonymous rules apply
    std::string cert_cn;    // subject CN of a verified client certificate, empty without one
    std::string listener;   // the listener's name ("mqtt-0"); empty in unit tests
    // Rules the identity provider gave this client (an HTTP hook's answer, a JWT claim): they replace the ACL for it.
    std::shared_ptr<const auth::Grants> grants;
    std::shared_ptr<const QueueOverride> queue;  // its listener's (a bridge's); null for every other client
    // Unique for the broker's life (never reused like an address): keys cached decisions.
    std::uint64_t serial = next_serial();

    static std::uint64_t next_serial() {
        static std::atomic<std::uint64_t> n{1};
        return n.fetch_add(1, std::memory_order_relaxed);
    }
};

using IdentityPtr = std::shared_ptr<const Identity>;

}  // namespace moth::broker
