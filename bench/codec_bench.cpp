// Micro benchmarks for the MQTT codec: PUBLISH decode/encode (the per-message hot path), CONNECT
// decode/encode (the per-connection path), and the fan-out pattern (encode once, patch the packet
// identifier per receiver).
//
// Every benchmark also reports `allocs_per_op`: the heap allocations per iteration, counted by the
// global operator new replacement in alloc_counter.cpp. The codec promises that decoding a PUBLISH
// and encoding into a caller's buffer never allocate; a non-zero value here is a regression. (The
// unit test test/unit/codec/alloc_test.cpp enforces the same for the decoder.)
#include <benchmark/benchmark.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <variant>
#include <vector>

#include "support/alloc_counter.hpp"
#include "codec/decoder.hpp"
#include "codec/encoder.hpp"
#include "codec/packets.hpp"

namespace {

using namespace moth::codec;

// Counts the allocations made between construction and report(), which sets `allocs_per_op`. Start
// it right before the timed loop, after any warm-up, and report right after the loop.
class AllocScope {
public:
    AllocScope() : start_(moth::test::allocation_count()) {}
    void report(benchmark::State& state) const {
        const auto n = moth::test::allocation_count() - start_;
        const auto iterations = state.iterations() == 0 ? 1 : state.iterations();
        state.counters["allocs_per_op"] = static_cast<double>(n) / static_cast<double>(iterations);
    }

private:
    std::uint64_t start_;
};

// Per-iteration accounting: `bytes` and `items` processed by one iteration.
void set_throughput(benchmark::State& state, std::size_t bytes, std::int64_t items = 1) {
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(bytes));
    state.SetItemsProcessed(state.iterations() * items);
}

// ---- Sample packets -------------------------------------------------------------------------------
constexpr std::string_view kTopic = "sensors/device-0042/temperature";

const std::array<std::byte, 64>& payload64() {
    static const auto payload = [] {
        std::array<std::byte, 64> p{};
        for (std::size_t i = 0; i < p.size(); ++i) p[i] = static_cast<std::byte>('a' + i % 26);
        return p;
    }();
    return payload;
}

constexpr std::array<UserProperty, 2> kPublishUserProperties{{{"unit", "celsius"}, {"site", "lab-3"}}};

// A PUBLISH with a 64-byte payload. `with_properties` (5.0 only) adds Message Expiry Interval,
// Content Type and two User Properties, which the decoder collects into its scratch vector.
Publish sample_publish(QoS qos, bool with_properties = false) {
    Publish p;
    p.topic = kTopic;
    p.qos = qos;
    p.packet_id = qos == QoS::AtMostOnce ? 0 : 42;
    p.payload = payload64();
    if (with_properties) {
        p.properties.message_expiry_interval = 3600;
        p.properties.content_type = "application/json";
        p.properties.user_properties = kPublishUserProperties;
    }
    return p;
}

constexpr std::array<UserProperty, 2> kConnectUserProperties{{{"fw", "1.4.2"}, {"board", "esp32-devkitc"}}};
constexpr std::array<UserProperty, 1> kWillUserProperties{{{"reason", "offline"}}};
constexpr std::string_view kWillPayload = "{\"online\":false}";
constexpr std::string_view kPassword = "correct horse battery staple";

Bytes as_bytes(std::string_view s) { return std::as_bytes(std::span<const char>(s.data(), s.size())); }

// MQTT 5.0 CONNECT as a typical device sends it: session expiry, receive maximum, topic alias
// maximum, two user properties, a will with properties, username and password.
Connect sample_connect() {
    Connect c;
    c.version = ProtocolVersion::V5;
    c.clean_start = false;
    c.keep_alive_s = 60;
    c.client_id = "device-0042";
    c.properties.session_expiry_interval = 86400;
    c.properties.receive_maximum = 32;
    c.properties.topic_alias_maximum = 16;
    c.properties.user_properties = kConnectUserProperties;
    Will w;
    w.topic = "sensors/device-0042/status";
    w.payload = as_bytes(kWillPayload);
    w.qos = QoS::AtLeastOnce;
    w.retain = true;
    w.properties.will_delay_interval = 30;
    w.properties.payload_format_indicator = 1;
    w.properties.message_expiry_interval = 600;
    w.properties.content_type = "application/json";
    w.properties.user_properties = kWillUserProperties;
    c.will = w;
    c.username = "device-0042";
    c.password = as_bytes(kPassword);
    return c;
}

std::vector<std::byte> encode_to_vector(const Packet& p, ProtocolVersion v) {
    std::vector<std::byte> out;
    if (!encode_append(p, v, out)) out.clear();
    return out;
}

// Decodes `wire` once and checks it gives back `expected`: the warm-up call the decoder is allowed
// (its first decode may grow its scratch vectors) and proof the benchmark measures real work.
template <class T>
bool warm_up_and_check(Decoder& decoder, const std::vector<std::byte>& wire, const T& expected) {
    if (wire.empty()) return false;
    const auto r = decoder.decode(wire);
    return r.status == DecodeStatus::Ok && r.consumed == wire.size() && std::holds_alternative<T>(r.packet) &&
           std::get<T>(r.packet) == expected;
}

// Calibration for allocs_per_op: one allocation per iteration must read 1, or the counter is broken.
void BM_AllocCounterSelfCheck(benchmark::State& state) {
    AllocScope allocs;
    for (auto _ : state) {
        void* p = ::operator new(64);
        benchmark::DoNotOptimize(p);
        ::operator delete(p);
    }
    allocs.report(state);
    set_throughput(state, 64);
}
BENCHMARK(BM_AllocCounterSelfCheck);

// ---- PUBLISH ----------------------------------------------------------------------------------------
void BM_DecodePublish(benchmark::State& state, ProtocolVersion v, QoS qos, bool with_properties) {
    const auto publish = sample_publish(qos, with_properties);
    const auto wire = encode_to_vector(publish, v);
    Decoder decoder;
    decoder.set_version(v);
    if (!warm_up_and_check(decoder, wire, publish)) {
        state.SkipWithError("sample PUBLISH does not round-trip");
        return;
    }
    AllocScope allocs;
    for (auto _ : state) {
        auto r = decoder.decode(wire);
        benchmark::DoNotOptimize(r);
    }
    allocs.report(state);
    set_throughput(state, wire.size());
}
BENCHMARK_CAPTURE(BM_DecodePublish, v311_qos0, ProtocolVersion::V3_1_1, QoS::AtMostOnce, false);
BENCHMARK_CAPTURE(BM_DecodePublish, v311_qos1, ProtocolVersion::V3_1_1, QoS::AtLeastOnce, false);
BENCHMARK_CAPTURE(BM_DecodePublish, v5_qos0, ProtocolVersion::V5, QoS::AtMostOnce, false);
BENCHMARK_CAPTURE(BM_DecodePublish, v5_qos1, ProtocolVersion::V5, QoS::AtLeastOnce, false);
BENCHMARK_CAPTURE(BM_DecodePublish, v5_qos1_props, ProtocolVersion::V5, QoS::AtLeastOnce, true);

void BM_EncodePublish(benchmark::State& state, ProtocolVersion v, QoS qos, bool with_properties) {
    const auto p = sample_publish(qos, with_properties);
    std::array<std::byte, 512> buffer{};
    const auto size = encoded_size(p, v);
    if (!size || *size > buffer.size()) {
        state.SkipWithError("sample PUBLISH cannot be encoded");
        return;
    }
    AllocScope allocs;
    for (auto _ : state) {
        auto n = encode(p, v, buffer);
        benchmark::DoNotOptimize(n);
        benchmark::ClobberMemory();
    }
    allocs.report(state);
    set_throughput(state, *size);
}
BENCHMARK_CAPTURE(BM_EncodePublish, v311_qos0, ProtocolVersion::V3_1_1, QoS::AtMostOnce, false);
BENCHMARK_CAPTURE(BM_EncodePublish, v311_qos1, ProtocolVersion::V3_1_1, QoS::AtLeastOnce, false);
BENCHMARK_CAPTURE(BM_EncodePublish, v5_qos0, ProtocolVersion::V5, QoS::AtMostOnce, false);
BENCHMARK_CAPTURE(BM_EncodePublish, v5_qos1, ProtocolVersion::V5, QoS::AtLeastOnce, false);
BENCHMARK_CAPTURE(BM_EncodePublish, v5_qos1_props, ProtocolVersion::V5, QoS::AtLeastOnce, true);

void BM_EncodedSizePublish(benchmark::State& state, ProtocolVersion v, QoS qos, bool with_properties) {
    const auto p = sample_publish(qos, with_properties);
    const auto size = encoded_size(p, v);
    if (!size) {
        state.SkipWithError("sample PUBLISH cannot be encoded");
        return;
    }
    AllocScope allocs;
    for (auto _ : state) {
        auto n = encoded_size(p, v);
        benchmark::DoNotOptimize(n);
    }
    allocs.report(state);
    // Bytes of the packet sized, so the rate compares with encode's.
    set_throughput(state, *size);
}
BENCHMARK_CAPTURE(BM_EncodedSizePublish, v311_qos1, ProtocolVersion::V3_1_1, QoS::AtLeastOnce, false);
BENCHMARK_CAPTURE(BM_EncodedSizePublish, v5_qos1, ProtocolVersion::V5, QoS::AtLeastOnce, false);
BENCHMARK_CAPTURE(BM_EncodedSizePublish, v5_qos1_props, ProtocolVersion::V5, QoS::AtLeastOnce, true);

// ---- CONNECT ----------------------------------------------------------------------------------------
void BM_DecodeConnectV5(benchmark::State& state) {
    const auto connect = sample_connect();
    const auto wire = encode_to_vector(connect, ProtocolVersion::V5);
    Decoder decoder;  // server role: the version comes from the CONNECT itself
    if (!warm_up_and_check(decoder, wire, connect)) {
        state.SkipWithError("sample CONNECT does not round-trip");
        return;
    }
    AllocScope allocs;
    for (auto _ : state) {
        auto r = decoder.decode(wire);
        benchmark::DoNotOptimize(r);
    }
    allocs.report(state);
    set_throughput(state, wire.size());
}
BENCHMARK(BM_DecodeConnectV5);

void BM_EncodeConnectV5(benchmark::State& state) {
    const Packet p = sample_connect();
    std::array<std::byte, 512> buffer{};
    const auto size = encoded_size(p, ProtocolVersion::V5);
    if (!size || *size > buffer.size()) {
        state.SkipWithError("sample CONNECT cannot be encoded");
        return;
    }
    AllocScope allocs;
    for (auto _ : state) {
        auto n = encode(p, ProtocolVersion::V5, buffer);
        benchmark::DoNotOptimize(n);
        benchmark::ClobberMemory();
    }
    allocs.report(state);
    set_throughput(state, *size);
}
BENCHMARK(BM_EncodeConnectV5);

// ---- Fan-out ----------------------------------------------------------------------------------------
// One QoS 1 PUBLISH delivered to state.range(0) receivers of the same version: encoded once, then for
// each receiver only its packet identifier is patched in place (the design's cached-encoding path).
// Bytes and items count what the receivers get.
void BM_FanOutPublish(benchmark::State& state, ProtocolVersion v) {
    const auto receivers = state.range(0);
    const auto p = sample_publish(QoS::AtLeastOnce);
    std::array<std::byte, 512> buffer{};
    const auto size = encoded_size(p, v);
    if (!size || *size > buffer.size()) {
        state.SkipWithError("sample PUBLISH cannot be encoded");
        return;
    }
    const std::span<std::byte> packet(buffer.data(), *size);
    std::uint16_t next_id = 1;
    AllocScope allocs;
    for (auto _ : state) {
        auto n = encode(p, v, buffer);
        benchmark::DoNotOptimize(n);
        for (std::int64_t i = 0; i < receivers; ++i) {
            patch_publish_packet_id(packet, next_id);
            next_id = static_cast<std::uint16_t>(next_id == 0xFFFF ? 1 : next_id + 1);
            benchmark::DoNotOptimize(packet.data());  // stands in for handing the bytes to a writer
            benchmark::ClobberMemory();
        }
    }
    allocs.report(state);
    set_throughput(state, *size * static_cast<std::size_t>(receivers), receivers);
}
BENCHMARK_CAPTURE(BM_FanOutPublish, v311, ProtocolVersion::V3_1_1)->Arg(1)->Arg(16)->Arg(256);
BENCHMARK_CAPTURE(BM_FanOutPublish, v5, ProtocolVersion::V5)->Arg(1)->Arg(16)->Arg(256);

}  // namespace

BENCHMARK_MAIN();
