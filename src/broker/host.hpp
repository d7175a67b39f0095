#pragma once
// What the broker core needs from the I/O layer (src/server implements it; tests use a fake). Called on the core's
// own thread only, except post().
#include <cstddef>
#include <functional>
#include <limits>
#include <span>

#include "broker/ids.hpp"
#include "broker/message.hpp"

namespace moth::broker {

class Core;

class Host {
public:
    virtual ~Host() = default;
    // Queues bytes for the connection; they are written, gathered, at the end of the loop turn. Returns false,
    // queueing nothing, when more than `limit` bytes are already waiting (a slow consumer) or there is no such
    // connection.
    virtual bool send(ConnectionId id, std::span<const std::byte> bytes,
                      std::size_t limit = std::numeric_limits<std::size_t>::max()) = 0;
    // The same for `size` bytes that the caller fills in, returned (a packet encoded in place, not copied), or
    // an empty span. The span is valid until the next call to the host.
    virtual std::span<std::byte> append(ConnectionId id, std::size_t size,
                                        std::size_t limit = std::numeric_limits<std::size_t>::max()) = 0;
    // Bytes queued for the connection and not yet written: the measure of a slow consumer.
    virtual std::size_t pending_bytes(ConnectionId id) const = 0;
    // Writes what is queued, then closes. No on_closed() follows for a connection the core closed.
    virtual void close(ConnectionId id) = 0;
    // The core will not take more of this connection's input for now (on_data returns what it consumed so far):
    // keep the rest and stop reading from the transport, so a client that keeps sending meets back-pressure.
    virtual void pause_input(ConnectionId id) = 0;
    // The core takes input again: feed it what was kept (on a later loop turn, not from inside this call), then
    // read on.
    virtual void resume_input(ConnectionId id) = 0;
    // Moves the connection to `worker`, which continues with `unread` as its first input. The core forgets it.
    virtual void hand_off(ConnectionId id, unsigned worker, std::span<const std::byte> unread) = 0;
    // Runs `fn` on `worker`'s thread with that worker's Core and the time it runs at (the core reads no clock).
    // The one call that may also come from another thread: the store's committer posts its completions
    // (Shared::store) back with it.
    virtual void post(unsigned worker, std::function<void(Core&, TimePoint now)> fn) = 0;
};

}  // namespace moth::broker
