// libFuzzer target for the MQTT-SN gateway session (src/mqttsn/gateway_session.hpp): arbitrary sequences of client
// datagrams, core output, closes and time, driven into one GatewaySession.
//
// The input is a series of records: one control byte, then (for the two data channels) one length byte and that
// many bytes. Control & 3: 0 = a datagram from the client (decoded first; malformed ones are what the server drops),
// 1 = MQTT bytes from the core, 2 = time passes (the control's upper bits, in steps of 100 ms) and the timers run,
// 3 = the core closed the internal connection. Oracles beyond "does not crash" (ASan/UBSan):
//   - every message for the client encodes and decodes back to itself;
//   - the MQTT bytes for the core decode (server role) without error: the gateway never sends the core a malformed
//     packet, whatever the client and the core said;
//   - a forgotten session is not called again (a new one takes its place, as the server does).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <span>
#include <vector>

#include "codec/decoder.hpp"
#include "mqttsn/gateway_session.hpp"
#include "mqttsn/packets.hpp"

using namespace moth;

namespace {

[[noreturn]] void fail() { std::abort(); }

struct Harness {
    mqttsn::TimePoint now{std::chrono::seconds(1000)};
    std::unique_ptr<mqttsn::GatewaySession> session;
    codec::Decoder core_side{codec::DecoderOptions{codec::Role::Server}};
    std::vector<std::byte> to_core;  // what the gateway sent the core so far, not yet decoded
    bool open = false;               // an internal connection is open (the owner's view)

    Harness() { fresh(); }

    void fresh() {
        mqttsn::SessionSettings s;
        auto predefined = std::make_shared<mqttsn::PredefinedTopics>();
        predefined->by_id.emplace(1, "pre/one");
        predefined->by_name.emplace("pre/one", 1);
        s.predefined = std::move(predefined);
        s.retry_interval = std::chrono::milliseconds(300);
        s.max_retries = 2;
        s.sleep_buffer = 4;
        s.max_datagram = 200;
        session = std::make_unique<mqttsn::GatewaySession>(s, now);
        core_side = codec::Decoder(codec::DecoderOptions{codec::Role::Server});
        to_core.clear();
        open = false;
    }

    void check(mqttsn::Actions& a) {
        for (const auto& p : a.to_client) {
            const auto bytes = mqttsn::encode(p);
            const auto back = mqttsn::decode(bytes);
            if (back.status != mqttsn::DecodeStatus::Ok || !(back.packet == p)) fail();
        }
        if (a.end_lost) {
            core_side = codec::Decoder(codec::DecoderOptions{codec::Role::Server});  // a new connection follows
            to_core.clear();
            open = false;
        }
        // Bytes for the core with no connection open begin a new one: they must start with a CONNECT.
        if (!a.to_broker.empty() && !open) {
            if (a.to_broker[0] != std::byte{0x10}) fail();
            open = true;
        }
        to_core.insert(to_core.end(), a.to_broker.begin(), a.to_broker.end());
        for (;;) {
            const auto r = core_side.decode(to_core);
            if (r.status == codec::DecodeStatus::NeedMore) break;
            if (r.status != codec::DecodeStatus::Ok) fail();
            to_core.erase(to_core.begin(), to_core.begin() + static_cast<std::ptrdiff_t>(r.consumed));
        }
        if (a.forget) fresh();
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    Harness h;
    std::size_t i = 0;
    while (i < size) {
        const std::uint8_t control = data[i++];
        mqttsn::Actions a;
        switch (control & 3U) {
            case 0:
            case 1: {
                if (i >= size) return 0;
                const std::size_t want = data[i++];
                const std::size_t n = std::min(want, size - i);
                const auto bytes = std::as_bytes(std::span(data + i, n));
                i += n;
                if ((control & 3U) == 0) {
                    const auto r = mqttsn::decode(bytes);
                    if (r.status != mqttsn::DecodeStatus::Ok) continue;
                    h.session->on_packet(r.packet, h.now, a);
                } else {
                    h.session->on_broker(bytes, h.now, a);
                }
                break;
            }
            case 2:
                h.now += std::chrono::milliseconds(100) * (control >> 2U);
                if (const auto t = h.session->next_timer(); t && *t <= h.now) h.session->on_tick(h.now, a);
                break;
            default:
                h.session->on_broker_closed(h.now, a);
                h.open = false;
                break;
        }
        h.check(a);
    }
    return 0;
}
