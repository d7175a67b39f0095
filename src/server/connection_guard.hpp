#pragma once
// What a worker does when a call into its broker core, made for one connection, throws (issue 17): the core
// cannot be made to throw by a peer (that is a bug), but if it ever does, one connection must not take the
// process and every other client with it. The policy, in one place:
//   - the connection's transport is closed at once (what the core queued for it is not written: the core's
//     state for it is in doubt);
//   - the core is told with on_closed, itself guarded, so the session and the will behave as for a network
//     failure (not when on_closed was the call that threw);
//   - the failure is counted (broker::Stats::connection_failures: $SYS/broker/connections/failed and
//     moth_connection_failures_total) and logged once, with the client id when the core knows it, the remote
//     address and the exception's text;
//   - the worker goes on serving its other connections.
// See docs/architecture.md, "A worker never dies of one connection".
//
// Thread affinity: one guard per worker, used on that worker's thread only.
#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "broker/ids.hpp"

namespace moth::server {

// Which call into the core was made: named in the log line, and a failing on_closed is not followed by another.
enum class CoreCall : std::uint8_t { Open, Data, Drained, Closed };

[[nodiscard]] std::string_view core_call_name(CoreCall call);

class ConnectionGuard {
public:
    // What the guard does to the connection whose call failed. The worker supplies them (Worker::init); a unit
    // test fakes them. Each may throw: the guard carries on without what it would have given.
    struct Hooks {
        // The client id of the connection's accepted CONNECT; nullopt before one (or when the core does not know
        // the connection). Asked before the core is told, which forgets it.
        std::function<std::optional<std::string>(broker::ConnectionId)> client_id;
        // The peer's address as the core was told at on_open; nullopt when the core does not know the connection.
        std::function<std::optional<std::string>(broker::ConnectionId)> remote;
        // Closes the connection's transport now, without writing what is queued, and forgets it. The core is not
        // told (see `closed`). Nothing to do for an id the worker no longer holds (handed off, already closed).
        std::function<void(broker::ConnectionId)> close;
        // Tells the core the connection is gone: Core::on_closed.
        std::function<void(broker::ConnectionId)> closed;
        // Level 0 debug .. 3 error, as broker::Shared::log.
        std::function<void(int level, const std::string& line)> log;
    };

    // `failures`: the worker's counter (single writer: this guard's thread).
    ConnectionGuard(Hooks hooks, std::atomic<std::uint64_t>& failures)
        : hooks_(std::move(hooks)), failures_(failures) {}

    // Runs `call`, the core's `what` for connection `id`. True: it returned. False: it threw, and the connection
    // has been closed, counted and logged as above; the caller must not call the core for it again (its
    // connection object sees itself closed). `remote`: the peer's address where the caller holds it (on_open:
    // the core may not know the connection yet); otherwise the core is asked.
    //
    // Never from inside a call into the core (a Host callback): the outer call is guarded already, and telling
    // the core on_closed while it is still working on that connection would pull its state from under it.
    template <class Call>
    bool run(broker::ConnectionId id, CoreCall what, Call&& call, std::string_view remote = {}) noexcept {
        try {
            std::forward<Call>(call)();
            return true;
        } catch (const std::exception& e) {
            failed(id, what, e.what(), remote);
        } catch (...) {
            failed(id, what, "an exception not derived from std::exception", remote);
        }
        return false;
    }

private:
    void failed(broker::ConnectionId id, CoreCall what, std::string_view error, std::string_view remote) noexcept;

    Hooks hooks_;
    std::atomic<std::uint64_t>& failures_;
};

}  // namespace moth::server
