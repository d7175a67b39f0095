#pragma once
// The identifiers the broker's rooms and the server share, and the one rule that places a client on a worker.
#include <cstdint>
#include <functional>
#include <string_view>

namespace moth::broker {

using ConnectionId = std::uint64_t;
using SessionId = std::uint64_t;  // the owning worker's index in the top 16 bits

// The worker that owns the session of `client_id` (its connection is handed there at CONNECT, its session is
// restored there at start-up). `workers` > 0.
[[nodiscard]] inline unsigned owner_worker(std::string_view client_id, unsigned workers) {
    return static_cast<unsigned>(std::hash<std::string_view>{}(client_id) % workers);
}

// The worker whose core holds session `id`.
[[nodiscard]] inline unsigned worker_of(SessionId id) { return static_cast<unsigned>(id >> 48); }

// A new session's id on worker `worker`: unique among the sessions of the broker's life.
[[nodiscard]] inline SessionId make_session_id(unsigned worker, std::uint64_t serial) {
    return (static_cast<SessionId>(worker) << 48) | serial;
}

}  // namespace moth::broker
