// libFuzzer target for the MQTT-SN 1.2 datagram codec (src/mqttsn/packets.hpp). The input is one datagram.
//
// Oracles beyond "does not crash" (ASan/UBSan):
//   - a Malformed datagram comes with a reason;
//   - a decoded message re-encodes (for the same forwarder), and decoding that gives an equal message and forwarder;
//   - the re-encoding is canonical: encoding what it decodes to gives the same bytes again;
//   - a strict prefix of a valid datagram is Malformed, never a shorter valid message (a cut datagram is dropped).
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "mqttsn/packets.hpp"

using namespace moth::mqttsn;

namespace {

[[noreturn]] void fail() { std::abort(); }

void check_prefixes(Bytes in) {
    // All of them for a short datagram; for a long one the cuts a length bug would show at (the Length fields).
    for (std::size_t n = 0; n < in.size(); ++n) {
        if (in.size() > 64 && n > 8 && n + 1 != in.size()) continue;
        if (decode(in.first(n)).status != DecodeStatus::Malformed) fail();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const Bytes in(reinterpret_cast<const std::byte*>(data), size);
    const auto r = decode(in);
    if (r.status != DecodeStatus::Ok) {
        if (r.message.empty()) fail();
        return 0;
    }
    check_prefixes(in);
    const Buffer encoded = encode(r.packet, r.forwarder);
    const auto again = decode(encoded);
    if (again.status != DecodeStatus::Ok) fail();
    if (!(again.packet == r.packet) || again.forwarder != r.forwarder) fail();
    if (encode(again.packet, again.forwarder) != encoded) fail();
    return 0;
}
