#pragma once
// The timing wheel for connection deadlines (the connect timeout and the keepalive): a connection is looked at
// again at the tick its deadline falls in, so a tick costs what is due rather than a pass over every connection.
// Pure: no clock of its own (the time comes with each call), no I/O.
//
// A slot holds the entries of every round whose tick falls on it. Each connection keeps the tick of its one live
// entry (`due_tick`); an entry whose tick is not its connection's due_tick any more was superseded by an earlier
// one and is dropped when its slot is run. The caller checks that (see Core::run_wheel).
#include <algorithm>
#include <array>
#include <chrono>
#include <climits>
#include <cstdint>
#include <vector>

#include "broker/ids.hpp"
#include "broker/message.hpp"

namespace moth::broker {

inline constexpr std::int64_t kNoTick = INT64_MAX;
inline constexpr auto kWheelTick = std::chrono::milliseconds(250);  // the server's tick interval

// The tick `t` falls in (floor).
[[nodiscard]] std::int64_t tick_of(TimePoint t);

class TimingWheel {
public:
    static constexpr std::size_t kSlots = 256;

    // Looks at `id` again at `due`: never before the tick being run, and only when earlier than its live entry
    // (`due_tick`, updated), which, when it comes due, looks at the connection again and schedules what is due then.
    void schedule(ConnectionId id, std::int64_t& due_tick, TimePoint due);

    // Runs the entries due by `now`: visit(id, tick) for each, in tick order; the visitor may schedule again. The
    // last tick run is run again, so what was not yet due within it is looked at until it is. A clock that went
    // back runs nothing.
    template <class Visit>
    void run(TimePoint now, Visit&& visit) {
        const std::int64_t current = tick_of(now);
        if (current < last_) return;
        const std::int64_t first = std::max(last_, current - static_cast<std::int64_t>(kSlots) + 1);
        last_ = current;
        for (std::int64_t t = first; t <= current; ++t) {
            auto& slot = slots_[static_cast<std::size_t>(t) % kSlots];
            if (slot.empty()) continue;
            batch_.swap(slot);
            for (const Entry& e : batch_) {
                if (e.tick > current) {
                    slot.push_back(e);  // a later round
                } else {
                    visit(e.id, e.tick);
                }
            }
            batch_.clear();
        }
    }

    [[nodiscard]] std::size_t entries() const;  // live and superseded, for tests

private:
    struct Entry {
        ConnectionId id;
        std::int64_t tick;
    };
    std::array<std::vector<Entry>, kSlots> slots_;
    std::vector<Entry> batch_;           // the slot being run (its capacity is kept)
    std::int64_t last_ = INT64_MIN / 2;  // the last tick run
};

}  // namespace moth::broker
