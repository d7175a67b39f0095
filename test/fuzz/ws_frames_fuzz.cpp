// libFuzzer target for the server's WebSocket frame reader (src/net/ws_frames.hpp). The first byte picks the size
// limit and the read size; the rest is what a client sends. Oracles beyond "does not crash": decoding in place (as
// the server does, in its read buffer) and decoding into a separate buffer give the same payload, events and close
// code, and nothing is consumed or produced past the input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "net/ws_frames.hpp"

using moth::net::ws::FrameReader;

namespace {

struct Seen {
    std::vector<std::byte> payload;
    std::vector<FrameReader::Event> events;
    std::uint16_t code = 0;
};

// Decodes `in` read by read (`chunk` bytes each), in place when `in_place`.
Seen decode(std::span<const std::byte> in, std::size_t chunk, std::uint64_t limit, bool in_place) {
    FrameReader r(limit);
    Seen seen;
    std::vector<std::byte> pending;
    for (std::size_t at = 0; at < in.size();) {
        const std::size_t n = std::min(chunk, in.size() - at);
        pending.insert(pending.end(), in.begin() + static_cast<std::ptrdiff_t>(at),
                       in.begin() + static_cast<std::ptrdiff_t>(at + n));
        at += n;
        std::vector<std::byte> separate(pending.size());
        std::size_t consumed = 0;
        std::size_t produced = 0;
        for (;;) {
            const std::span<const std::byte> from(pending.data() + consumed, pending.size() - consumed);
            const std::span<std::byte> to = in_place ? std::span<std::byte>(pending).subspan(produced)
                                                     : std::span<std::byte>(separate).subspan(produced);
            const auto s = r.read(from, to);
            if (s.consumed > from.size() || s.produced > s.consumed) std::abort();
            consumed += s.consumed;
            produced += s.produced;
            if (s.event == FrameReader::Event::None) break;
            seen.events.push_back(s.event);
            if (s.event == FrameReader::Event::Close || s.event == FrameReader::Event::Error) {
                seen.code = r.code();
                break;
            }
        }
        const auto& out = in_place ? pending : separate;
        seen.payload.insert(seen.payload.end(), out.begin(), out.begin() + static_cast<std::ptrdiff_t>(produced));
        if (!seen.events.empty() && (seen.events.back() == FrameReader::Event::Close ||
                                     seen.events.back() == FrameReader::Event::Error))
            break;
        pending.erase(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(consumed));
        if (pending.size() > 14) std::abort();  // only part of a header may be left over
    }
    return seen;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const std::size_t chunk = 1 + (data[0] & 0x1FU);
    const std::uint64_t limit = (data[0] & 0x20U) != 0 ? 64 : 0;
    const std::span<const std::byte> in(reinterpret_cast<const std::byte*>(data + 1), size - 1);
    const Seen a = decode(in, chunk, limit, true);
    const Seen b = decode(in, chunk, limit, false);
    if (a.payload != b.payload || a.events != b.events || a.code != b.code) std::abort();
    return 0;
}
