#pragma once
// A session's outbound side without I/O: the queue and its limits, the spilled runs counted in the store, the
// inflight window and packet identifiers. The core decides when to send; these functions keep the books.
//
// Thread affinity: the session's owning worker.
#include <cstddef>
#include <cstdint>

#include "broker/session.hpp"
#include "config/config.hpp"

namespace moth::broker {

// What a queued message counts toward limits.max_queued_bytes: all it holds in memory (Message::memory_size()),
// topic, properties and payload, not the payload alone (issue 16: 140,000 user properties and 1 byte of payload).
[[nodiscard]] inline std::size_t message_size(const Message& m) { return m.memory_size(); }

// Whether one more message of `size` bytes would exceed max_queued_messages or max_queued_bytes (what is in the
// store only counts too).
[[nodiscard]] bool queue_full(const Session& s, std::size_t size, const config::Limits& limits);

// Appends to / takes from the part of the queue in memory, keeping queued_bytes.
void push_queued(Session& s, Outgoing o);
void push_queued_front(Session& s, Outgoing o);
[[nodiscard]] Outgoing pop_queued(Session& s);

// Counts a message that stays in the store only (its record already written) into the run of the worker that
// wrote it: that worker's deliveries arrive in seq order, so a run's seq range holds exactly the messages counted
// into it. A new run starts when the last one of that worker cannot take it.
void count_spilled(Session& s, const Outgoing& o);

// The next free packet identifier: handed out in sequence (1 to 65535, then 1 again), never one an unacknowledged
// message still holds [MQTT-2.2.1-3]. The window must be below 65535 entries.
[[nodiscard]] std::uint16_t next_packet_id(Session& s);

// [MQTT-3.3.4-9]: a new connection may have a smaller Receive Maximum; what does not fit in `window` goes back to
// the front of the queue, newest first, without its identifier (a QoS 2 message past PUBREC stays: only its PUBREL
// is resent).
void shrink_window(Session& s, std::uint16_t window);

}  // namespace moth::broker
