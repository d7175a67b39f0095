#include "broker/timers.hpp"

namespace moth::broker {

std::int64_t tick_of(TimePoint t) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
    const auto per = static_cast<std::int64_t>(kWheelTick.count());
    return ms >= 0 ? ms / per : -((-ms + per - 1) / per);  // floor
}

void TimingWheel::schedule(ConnectionId id, std::int64_t& due_tick, TimePoint due) {
    const std::int64_t tick = std::max(tick_of(due), last_);
    if (tick >= due_tick) return;
    due_tick = tick;
    slots_[static_cast<std::size_t>(tick) % kSlots].push_back({id, tick});
}

std::size_t TimingWheel::entries() const {
    std::size_t n = 0;
    for (const auto& s : slots_) n += s.size();
    return n;
}

}  // namespace moth::broker
