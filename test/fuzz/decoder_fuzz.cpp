// libFuzzer target for the MQTT decoder, all three versions, both roles.
//
// The first input byte picks the decoder set-up; the rest is a byte stream decoded packet by packet.
// Oracles beyond "does not crash" (ASan/UBSan):
//   - a decoded packet re-encodes without error, and decoding that encoding gives an equal packet;
//   - every strict prefix of a decoded packet is NeedMore, never Ok or a different verdict.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "codec/decoder.hpp"
#include "codec/encoder.hpp"

using namespace moth::codec;

namespace {

[[noreturn]] void fail() { std::abort(); }

void check_round_trip(const Decoder& d, const Packet& p) {
    const auto version = d.version().value_or(ProtocolVersion::V5);
    std::vector<std::byte> encoded;
    if (!encode_append(p, version, encoded)) fail();
    Decoder again(d.options());
    if (!std::holds_alternative<Connect>(p) || d.options().role == Role::Client) again.set_version(version);
    auto r = again.decode(encoded);
    if (r.status != DecodeStatus::Ok || r.consumed != encoded.size()) fail();
    if (!(r.packet == p)) fail();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const std::uint8_t setup = data[0];
    DecoderOptions options;
    options.role = (setup & 1U) != 0 ? Role::Client : Role::Server;
    options.max_packet_size = (setup & 2U) != 0 ? 64 : kMaxPacketSize;
    Decoder d(options);
    switch ((setup >> 2) & 3U) {
        case 1: d.set_version(ProtocolVersion::V3_1); break;
        case 2: d.set_version(ProtocolVersion::V3_1_1); break;
        case 3: d.set_version(ProtocolVersion::V5); break;
        default: break;  // server: learn it from CONNECT; client: 5.0
    }
    const auto* begin = reinterpret_cast<const std::byte*>(data + 1);
    Bytes in(begin, size - 1);
    while (!in.empty()) {
        // The prefix check needs a decoder in the same state, so it runs on a copy first.
        Decoder probe = d;
        auto r = d.decode(in);
        if (r.status != DecodeStatus::Ok) break;
        if (r.consumed == 0 || r.consumed > in.size()) fail();
        if (r.consumed > 1) {
            auto prefix = probe.decode(in.first(r.consumed - 1));
            if (prefix.status != DecodeStatus::NeedMore) fail();
        }
        check_round_trip(d, r.packet);
        in = in.subspan(r.consumed);
    }
    return 0;
}
