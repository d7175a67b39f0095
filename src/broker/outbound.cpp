#include "broker/outbound.hpp"

#include <algorithm>
#include <iterator>
#include <vector>

namespace moth::broker {

bool queue_full(const Session& s, std::size_t size, const config::Limits& limits) {
    return s.queue.size() + s.spilled >= limits.max_queued_messages ||
           s.queued_bytes + s.spilled_bytes + size > limits.max_queued_bytes;
}

void push_queued(Session& s, Outgoing o) {
    s.queued_bytes += message_size(*o.message);
    s.queue.push_back(std::move(o));
}

void push_queued_front(Session& s, Outgoing o) {
    s.queued_bytes += message_size(*o.message);
    s.queue.push_front(std::move(o));
}

Outgoing pop_queued(Session& s) {
    Outgoing o = std::move(s.queue.front());
    s.queue.pop_front();
    s.queued_bytes -= message_size(*o.message);
    return o;
}

void count_spilled(Session& s, const Outgoing& o) {
    const auto size = message_size(*o.message);
    const auto w = seq_worker(o.seq);
    auto run = std::find_if(s.spill.rbegin(), s.spill.rend(), [w](const SpillRun& r) { return r.worker == w; });
    if (run == s.spill.rend() || run->to >= o.seq) {
        s.spill.push_back(SpillRun{o.seq, o.seq, w, 0, 0});
        run = s.spill.rbegin();
    }
    run->to = o.seq;
    ++run->count;
    run->bytes += size;
    ++s.spilled;
    s.spilled_bytes += size;
}

std::uint16_t next_packet_id(Session& s) {
    // Identifiers are acknowledged mostly in order, so the unacknowledged ones are a window behind the cursor. One
    // scan of the inflight window finds the run of unused identifiers from the cursor on; they are handed out
    // without looking again, and the next scan is needed once the run is used up (about once per wrap-around).
    // Identifiers freed meanwhile only make the run conservative; the only ones entering the window without this
    // function are a restored session's, and a restored session starts with no run.
    if (s.free_packet_ids == 0) {
        constexpr std::uint32_t kIds = 65535;
        const std::uint32_t cursor = s.next_packet_id - 1U;  // 0-based position of the cursor on the ring
        std::vector<std::uint32_t> used;                       // distances of the ids in use from the cursor
        used.reserve(s.inflight.size());
        for (const auto& o : s.inflight) {
            if (o.packet_id != 0) used.push_back((o.packet_id - 1U + kIds - cursor) % kIds);
        }
        std::sort(used.begin(), used.end());
        std::uint32_t start = 0;  // the first unused distance, then the length of the run from it
        std::uint32_t end = kIds;
        for (const auto d : used) {
            if (d == start) {
                ++start;
            } else if (d > start) {
                end = d;
                break;
            }
        }
        s.next_packet_id = static_cast<std::uint16_t>((cursor + start) % kIds + 1);
        s.free_packet_ids = static_cast<std::uint16_t>(end - start);
    }
    const std::uint16_t id = s.next_packet_id;
    s.next_packet_id = id == 65535 ? 1 : static_cast<std::uint16_t>(id + 1);
    --s.free_packet_ids;
    return id;
}

void shrink_window(Session& s, std::uint16_t window) {
    while (s.inflight.size() > window) {
        auto it = std::find_if(s.inflight.rbegin(), s.inflight.rend(), [](const Outgoing& o) { return !o.pubrec; });
        if (it == s.inflight.rend()) break;
        Outgoing o = std::move(*it);
        s.inflight.erase(std::next(it).base());
        o.packet_id = 0;
        o.held = false;
        o.marking = false;
        push_queued_front(s, std::move(o));
    }
}

}  // namespace moth::broker
