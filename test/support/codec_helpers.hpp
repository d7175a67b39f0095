#pragma once
// Helpers for the codec unit tests: byte literals, hex dumps for failure messages, and the two ways every
// decoder test feeds its input (all at once, and one byte more at a time).
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "codec/decoder.hpp"
#include "codec/encoder.hpp"
#include "codec/packets.hpp"
#include "common/varint.hpp"

namespace moth::test {

using ByteVec = std::vector<std::byte>;

// bytes({0x10, 0x0C, ...}): a byte vector from a list of ints (each 0..255).
inline ByteVec bytes(std::initializer_list<int> values) {
    ByteVec out;
    out.reserve(values.size());
    for (const int v : values) out.push_back(static_cast<std::byte>(static_cast<unsigned char>(v)));
    return out;
}

// The characters of `s` as bytes (no terminating NUL).
inline ByteVec bytes(std::string_view s) {
    ByteVec out;
    out.reserve(s.size());
    for (const char c : s) out.push_back(static_cast<std::byte>(static_cast<unsigned char>(c)));
    return out;
}

// A view of the characters of `s` as Bytes, for payload and binary fields.
inline codec::Bytes as_bytes(std::string_view s) {
    return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

// Concatenation: cat(a, b, c).
template <class... Parts>
ByteVec cat(const Parts&... parts) {
    ByteVec out;
    (out.insert(out.end(), parts.begin(), parts.end()), ...);
    return out;
}

// "10 0c 00 04 4d 51 ..." for failure messages.
inline std::string hex(std::span<const std::byte> data) {
    std::string out;
    out.reserve(data.size() * 3);
    char buf[4];
    for (std::size_t i = 0; i < data.size(); ++i) {
        std::snprintf(buf, sizeof buf, "%02x", std::to_integer<unsigned>(data[i]));
        if (i != 0) out.push_back(' ');
        out += buf;
    }
    return out;
}

// An MQTT UTF-8 string or binary field: two length bytes, then the content.
inline ByteVec mqtt_string(std::string_view s) {
    ByteVec out{static_cast<std::byte>(s.size() >> 8), static_cast<std::byte>(s.size() & 0xFF)};
    const ByteVec content = bytes(s);
    out.insert(out.end(), content.begin(), content.end());
    return out;
}

inline ByteVec varint(std::uint32_t value) {
    ByteVec out(common::varint_size(value));
    common::encode_varint(value, out.data());
    return out;
}

// A whole packet: first byte, Remaining Length computed from `body`, then the body.
inline ByteVec packet(int first_byte, const ByteVec& body) {
    return cat(bytes({first_byte}), varint(static_cast<std::uint32_t>(body.size())), body);
}

// Bytes of the fixed header of `in` (type byte + Remaining Length), or 0 while it is incomplete.
inline std::size_t fixed_header_size(std::span<const std::byte> in) {
    if (in.empty()) return 0;
    const auto rl = common::decode_varint(in.subspan(1));
    return rl.status == common::VarIntStatus::Ok ? 1 + rl.size : 0;
}

// Total packet size announced by the fixed header of `in`, or 0 while it is incomplete.
inline std::size_t announced_packet_size(std::span<const std::byte> in) {
    if (in.empty()) return 0;
    const auto rl = common::decode_varint(in.subspan(1));
    return rl.status == common::VarIntStatus::Ok ? 1 + rl.size + rl.value : 0;
}

inline const char* status_name(codec::DecodeStatus s) {
    switch (s) {
        case codec::DecodeStatus::Ok: return "Ok";
        case codec::DecodeStatus::NeedMore: return "NeedMore";
        case codec::DecodeStatus::Error: return "Error";
    }
    return "?";
}

inline std::string reason_hex(codec::ReasonCode r) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "0x%02x", static_cast<unsigned>(r));
    return buf;
}

// One line describing a decode result, for failure messages.
inline std::string describe(const codec::DecodeResult& r) {
    std::string out = status_name(r.status);
    switch (r.status) {
        case codec::DecodeStatus::Ok:
            out += " consumed=" + std::to_string(r.consumed) + " packet=" +
                   std::string(codec::packet_type_name(codec::packet_type(r.packet)));
            break;
        case codec::DecodeStatus::NeedMore: out += " needed=" + std::to_string(r.needed); break;
        case codec::DecodeStatus::Error:
            out += " reason=" + reason_hex(r.reason) + " message=\"" + std::string(r.message) + "\"";
            break;
    }
    return out;
}

// A packet as its encoding in version `v` (or the encoder's error), for failure messages.
inline std::string describe(const codec::Packet& p, codec::ProtocolVersion v) {
    std::string out(codec::packet_type_name(codec::packet_type(p)));
    ByteVec wire;
    const auto r = codec::encode_append(p, v, wire);
    if (r.has_value()) {
        out += " [" + hex(wire) + "]";
    } else {
        out += " (not encodable: " + std::string(codec::encode_error_text(r.error())) + ")";
    }
    return out;
}

// How a test's decoder is set up. A Server-role decoder with a version first decodes a minimal CONNECT of that
// version (so the packet under test is not the first packet); without a version it is fresh, so the packet under
// test is the first one. A Client-role decoder is given the version with set_version().
struct DecoderSetup {
    codec::Role role = codec::Role::Server;
    std::optional<codec::ProtocolVersion> version;
    std::size_t max_packet_size = codec::kMaxPacketSize;
};

inline DecoderSetup server(codec::ProtocolVersion v) { return {codec::Role::Server, v}; }
inline DecoderSetup fresh_server() { return {codec::Role::Server, std::nullopt}; }
inline DecoderSetup client(codec::ProtocolVersion v) { return {codec::Role::Client, v}; }

// The bytes of a minimal CONNECT (client id "c", clean start, keep alive 0) of version `v`.
inline ByteVec minimal_connect(codec::ProtocolVersion v) {
    switch (v) {
        case codec::ProtocolVersion::V3_1:
            return packet(0x10, cat(mqtt_string("MQIsdp"), bytes({0x03, 0x02, 0x00, 0x00}), mqtt_string("c")));
        case codec::ProtocolVersion::V3_1_1:
            return packet(0x10, cat(mqtt_string("MQTT"), bytes({0x04, 0x02, 0x00, 0x00}), mqtt_string("c")));
        case codec::ProtocolVersion::V5:
            return packet(0x10, cat(mqtt_string("MQTT"), bytes({0x05, 0x02, 0x00, 0x00, 0x00}), mqtt_string("c")));
    }
    return {};
}

inline codec::Decoder make_decoder(const DecoderSetup& setup) {
    codec::Decoder d(codec::DecoderOptions{setup.role, setup.max_packet_size});
    if (setup.version) {
        if (setup.role == codec::Role::Client) {
            d.set_version(*setup.version);
        } else {
            const ByteVec connect = minimal_connect(*setup.version);
            const auto r = d.decode(connect);
            EXPECT_EQ(r.status, codec::DecodeStatus::Ok) << "set-up CONNECT: " << describe(r);
            EXPECT_EQ(d.version(), setup.version) << "set-up CONNECT did not set the version";
        }
    }
    return d;
}

// Decodes `in` in one call with a decoder set up as `setup`. The result's views point into `in` and into the
// decoder, so the caller keeps both alive: pass a decoder made with make_decoder().
inline codec::DecodeResult decode_all_at_once(codec::Decoder& d, std::span<const std::byte> in) {
    return d.decode(in);
}

// Feeds `in` to a fresh decoder made from `setup` one byte more at a time: decode(first 1 byte),
// decode(first 2 bytes), ..., decode(all of it).
// - When `expected` (the all-at-once result) is Ok: every shorter prefix gives NeedMore, with `needed` 0 while the
//   fixed header is incomplete and the packet size once it is; the full input gives Ok with the same consumed
//   size and an equal packet.
// - When `expected` is Error: each prefix gives NeedMore until an Error with the same reason, reported no later than
//   at the full input.
inline ::testing::AssertionResult decode_byte_at_a_time(const DecoderSetup& setup, std::span<const std::byte> in,
                                                        const codec::DecodeResult& expected) {
    codec::Decoder d = make_decoder(setup);
    const std::size_t packet_size =
        expected.status == codec::DecodeStatus::Ok ? expected.consumed : announced_packet_size(in);
    for (std::size_t n = 1; n <= in.size(); ++n) {
        const auto prefix = in.first(n);
        const auto r = d.decode(prefix);
        if (expected.status == codec::DecodeStatus::Ok && n < expected.consumed) {
            if (r.status != codec::DecodeStatus::NeedMore) {
                return ::testing::AssertionFailure() << "prefix of " << n << " of " << expected.consumed
                                                     << " bytes: expected NeedMore, got " << describe(r)
                                                     << "\n  input: " << hex(in);
            }
            const std::size_t want_needed = fixed_header_size(prefix) == 0 ? 0 : packet_size;
            if (r.needed != want_needed) {
                return ::testing::AssertionFailure() << "prefix of " << n << " bytes: needed " << r.needed
                                                     << ", expected " << want_needed << "\n  input: " << hex(in);
            }
            continue;
        }
        if (expected.status == codec::DecodeStatus::Ok) {  // n == consumed
            if (r.status != codec::DecodeStatus::Ok || r.consumed != expected.consumed) {
                return ::testing::AssertionFailure() << "full packet of " << n << " bytes: expected Ok consumed "
                                                     << expected.consumed << ", got " << describe(r)
                                                     << "\n  input: " << hex(in);
            }
            if (!(r.packet == expected.packet)) {
                return ::testing::AssertionFailure()
                       << "packet decoded byte at a time differs from the one decoded all at once\n  input: "
                       << hex(in);
            }
            return ::testing::AssertionSuccess();
        }
        // Expected Error.
        if (r.status == codec::DecodeStatus::NeedMore) continue;
        if (r.status != codec::DecodeStatus::Error || r.reason != expected.reason) {
            return ::testing::AssertionFailure() << "prefix of " << n << " bytes: expected Error "
                                                 << reason_hex(expected.reason) << ", got " << describe(r)
                                                 << "\n  input: " << hex(in);
        }
        return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure() << "input of " << in.size() << " bytes ended without "
                                         << status_name(expected.status) << "\n  input: " << hex(in);
}

// Expects `in` to decode to exactly one packet equal to `expected_packet`, all at once and byte at a time.
inline ::testing::AssertionResult decodes_to(const DecoderSetup& setup, std::span<const std::byte> in,
                                             const codec::Packet& expected_packet, codec::ProtocolVersion v) {
    codec::Decoder d = make_decoder(setup);
    const auto r = decode_all_at_once(d, in);
    if (r.status != codec::DecodeStatus::Ok || r.consumed != in.size()) {
        return ::testing::AssertionFailure() << "expected Ok consuming " << in.size() << " bytes, got "
                                             << describe(r) << "\n  input: " << hex(in);
    }
    if (!(r.packet == expected_packet)) {
        return ::testing::AssertionFailure() << "decoded packet differs\n  input:    " << hex(in)
                                             << "\n  decoded:  " << describe(r.packet, v)
                                             << "\n  expected: " << describe(expected_packet, v);
    }
    return decode_byte_at_a_time(setup, in, r);
}

// Expects `in` to be rejected with `reason`, all at once and byte at a time.
inline ::testing::AssertionResult rejected_with(const DecoderSetup& setup, std::span<const std::byte> in,
                                                codec::ReasonCode reason) {
    codec::Decoder d = make_decoder(setup);
    const auto r = decode_all_at_once(d, in);
    if (r.status != codec::DecodeStatus::Error || r.reason != reason) {
        return ::testing::AssertionFailure() << "expected Error " << reason_hex(reason) << ", got " << describe(r)
                                             << "\n  input: " << hex(in);
    }
    if (r.message.empty()) return ::testing::AssertionFailure() << "Error without a message";
    return decode_byte_at_a_time(setup, in, r);
}

// Encodes `p` for version `v` with encode_append, failing the test when the encoder refuses.
inline ByteVec encode_or_fail(const codec::Packet& p, codec::ProtocolVersion v) {
    ByteVec out;
    const auto r = codec::encode_append(p, v, out);
    EXPECT_TRUE(r.has_value()) << "encode failed: "
                               << (r.has_value() ? "" : std::string(codec::encode_error_text(r.error())));
    return out;
}

}  // namespace moth::test
