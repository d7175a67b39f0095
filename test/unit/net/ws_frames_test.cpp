// The server side of WebSocket framing (src/net/ws_frames.hpp): RFC 6455 section 5 frames as a client sends them
// (masked), read whole and one byte at a time, the errors and their close codes, and the server's frames.
#include "net/ws_frames.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace moth::net::ws {
namespace {

using Bytes = std::vector<std::byte>;
using Event = FrameReader::Event;

Bytes bytes(std::initializer_list<int> v) {
    Bytes out;
    for (int b : v) out.push_back(static_cast<std::byte>(b));
    return out;
}

Bytes text(const std::string& s) {
    Bytes out;
    for (char c : s) out.push_back(static_cast<std::byte>(c));
    return out;
}

// A client frame: FIN as given, masked with a fixed key (RFC 6455 section 5.3).
Bytes client_frame(int opcode, const Bytes& payload, bool fin = true, bool masked = true, int rsv = 0) {
    Bytes out;
    out.push_back(static_cast<std::byte>((fin ? 0x80 : 0) | rsv | opcode));
    const std::uint8_t mask_bit = masked ? 0x80 : 0;
    const auto n = payload.size();
    if (n < 126) {
        out.push_back(static_cast<std::byte>(mask_bit | n));
    } else if (n <= 0xFFFF) {
        out.push_back(static_cast<std::byte>(mask_bit | 126));
        out.push_back(static_cast<std::byte>(n >> 8));
        out.push_back(static_cast<std::byte>(n & 0xFF));
    } else {
        out.push_back(static_cast<std::byte>(mask_bit | 127));
        for (int i = 7; i >= 0; --i) out.push_back(static_cast<std::byte>((n >> (8 * i)) & 0xFF));
    }
    const std::uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
    if (masked) {
        for (auto k : key) out.push_back(static_cast<std::byte>(k));
    }
    for (std::size_t i = 0; i < n; ++i)
        out.push_back(masked ? payload[i] ^ static_cast<std::byte>(key[i % 4]) : payload[i]);
    return out;
}

Bytes cat(std::initializer_list<Bytes> parts) {
    Bytes out;
    for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}

struct Outcome {
    Bytes data;                 // payload bytes handed out
    std::vector<Event> events;  // control events and errors, in order
    std::uint16_t code = 0;
};

// Feeds `in` in chunks of `chunk` bytes (0: all at once), as a stream reader would after each read.
Outcome feed(FrameReader& r, const Bytes& in, std::size_t chunk = 0) {
    Outcome o;
    Bytes pending;
    std::size_t fed = 0;
    while (fed < in.size() || !pending.empty()) {
        const std::size_t take = chunk == 0 ? in.size() - fed : std::min(chunk, in.size() - fed);
        pending.insert(pending.end(), in.begin() + static_cast<std::ptrdiff_t>(fed),
                       in.begin() + static_cast<std::ptrdiff_t>(fed + take));
        fed += take;
        bool progressed = true;
        while (progressed) {
            Bytes out(pending.size() + 1);
            const auto s = r.read(pending, out);
            o.data.insert(o.data.end(), out.begin(), out.begin() + static_cast<std::ptrdiff_t>(s.produced));
            pending.erase(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(s.consumed));
            if (s.event != Event::None) {
                o.events.push_back(s.event);
                o.code = r.code();
                if (s.event == Event::Close || s.event == Event::Error) return o;
            }
            progressed = s.event != Event::None;
        }
        if (take == 0) break;
    }
    return o;
}

TEST(WsFrameReader, BinaryFramePayloadIsUnmasked) {
    FrameReader r;
    const auto o = feed(r, client_frame(0x2, text("hello")));
    EXPECT_EQ(o.data, text("hello"));
    EXPECT_TRUE(o.events.empty());
}

TEST(WsFrameReader, FragmentsAndFramesJoinIntoOneByteStream) {  // [MQTT-6.0.0-2]
    const auto in = cat({client_frame(0x2, text("ab"), false), client_frame(0x0, text("cd"), false),
                         client_frame(0x0, text("e"), true), client_frame(0x2, text("fgh"))});
    for (std::size_t chunk : {0U, 1U, 3U}) {
        FrameReader r;
        const auto o = feed(r, in, chunk);
        EXPECT_EQ(o.data, text("abcdefgh")) << "chunk " << chunk;
        EXPECT_TRUE(o.events.empty()) << "chunk " << chunk;
    }
}

TEST(WsFrameReader, ExtendedLengthsOneByteAtATime) {
    Bytes mid(300, std::byte{0x5a});
    Bytes big(70'000, std::byte{0x11});
    const auto in = cat({client_frame(0x2, mid), client_frame(0x2, big)});
    FrameReader r;
    const auto o = feed(r, in, 1);
    EXPECT_EQ(o.data, cat({mid, big}));
}

TEST(WsFrameReader, PingBetweenFragmentsIsReportedWithItsPayload) {
    const auto in = cat({client_frame(0x2, text("ab"), false), client_frame(0x9, text("hi")),
                         client_frame(0x0, text("cd"))});
    FrameReader r;
    Bytes out(in.size());
    auto s = r.read(in, out);
    EXPECT_EQ(s.event, Event::Ping);
    EXPECT_EQ(Bytes(r.control_payload().begin(), r.control_payload().end()), text("hi"));
    const auto first = s.produced;
    const auto rest = std::span<const std::byte>(in).subspan(s.consumed);
    s = r.read(rest, std::span<std::byte>(out).subspan(first));
    EXPECT_EQ(s.event, Event::None);
    EXPECT_EQ(Bytes(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(first + s.produced)), text("abcd"));
}

TEST(WsFrameReader, PongIsReportedAndIgnored) {
    FrameReader r;
    const auto o = feed(r, cat({client_frame(0xA, {}), client_frame(0x2, text("x"))}));
    EXPECT_EQ(o.events, std::vector<Event>{Event::Pong});
    EXPECT_EQ(o.data, text("x"));
}

TEST(WsFrameReader, CloseCarriesTheClientsCode) {
    FrameReader r;
    const auto o = feed(r, cat({client_frame(0x2, text("x")), client_frame(0x8, bytes({0x03, 0xE9}))}));
    EXPECT_EQ(o.data, text("x"));
    EXPECT_EQ(o.events, std::vector<Event>{Event::Close});
    EXPECT_EQ(o.code, 1001);
}

TEST(WsFrameReader, CloseWithoutCodeIsNoStatus) {
    FrameReader r;
    const auto o = feed(r, client_frame(0x8, {}));
    EXPECT_EQ(o.events, std::vector<Event>{Event::Close});
    EXPECT_EQ(o.code, kCloseNoStatus);
}

struct BadInput {
    const char* name;
    Bytes frames;
    std::uint16_t code;
};

TEST(WsFrameReader, ProtocolViolationsEndWithTheirCloseCode) {
    const std::vector<BadInput> cases = {
        {"text frame [MQTT-6.0.0-1]", client_frame(0x1, text("{}")), kCloseUnsupportedData},
        {"unmasked client frame", client_frame(0x2, text("x"), true, false), kCloseProtocolError},
        {"reserved bit", client_frame(0x2, text("x"), true, true, 0x40), kCloseProtocolError},
        {"reserved opcode", client_frame(0x3, text("x")), kCloseProtocolError},
        {"continuation first", client_frame(0x0, text("x")), kCloseProtocolError},
        {"binary inside a message", cat({client_frame(0x2, text("a"), false), client_frame(0x2, text("b"))}),
         kCloseProtocolError},
        {"fragmented ping", client_frame(0x9, text("a"), false), kCloseProtocolError},
        {"control over 125 bytes", client_frame(0x9, Bytes(126, std::byte{1})), kCloseProtocolError},
        {"close with one byte", client_frame(0x8, bytes({0x03})), kCloseProtocolError},
    };
    for (const auto& c : cases) {
        for (std::size_t chunk : {0U, 1U}) {
            FrameReader r;
            const auto o = feed(r, c.frames, chunk);
            ASSERT_FALSE(o.events.empty()) << c.name;
            EXPECT_EQ(o.events.back(), Event::Error) << c.name;
            EXPECT_EQ(o.code, c.code) << c.name;
            EXPECT_FALSE(r.error().empty()) << c.name;
        }
    }
}

TEST(WsFrameReader, MessageOverTheLimitIs1009EvenWhenFragmented) {
    FrameReader whole(10);
    EXPECT_EQ(feed(whole, client_frame(0x2, Bytes(11, std::byte{1}))).code, kCloseTooBig);
    FrameReader parts(10);
    const auto o = feed(parts, cat({client_frame(0x2, Bytes(6, std::byte{1}), false),
                                    client_frame(0x0, Bytes(5, std::byte{1}))}));
    EXPECT_EQ(o.code, kCloseTooBig);
    FrameReader exact(10);  // the limit itself is fine, and each message counts from zero
    const auto ok = feed(exact, cat({client_frame(0x2, Bytes(10, std::byte{1})), client_frame(0x2, Bytes(10, std::byte{2}))}));
    EXPECT_TRUE(ok.events.empty());
    EXPECT_EQ(ok.data.size(), 20U);
}

TEST(WsFrameReader, NothingIsReadAfterAnError) {
    FrameReader r;
    const auto bad = client_frame(0x1, text("x"));
    Bytes out(64);
    EXPECT_EQ(r.read(bad, out).event, Event::Error);
    const auto again = r.read(client_frame(0x2, text("y")), out);
    EXPECT_EQ(again.consumed, 0U);
    EXPECT_EQ(again.produced, 0U);
}

TEST(WsFrameReader, DecodesInPlace) {
    // The server decodes in the read buffer itself: payload written at or before the bytes still to be read.
    auto buf = cat({client_frame(0x2, text("abc")), client_frame(0x9, {}), client_frame(0x2, text("defg"))});
    FrameReader r;
    std::size_t consumed = 0;
    std::size_t produced = 0;
    for (;;) {
        const auto s = r.read(std::span<const std::byte>(buf).subspan(consumed), std::span<std::byte>(buf).subspan(produced));
        consumed += s.consumed;
        produced += s.produced;
        if (s.event == Event::None) break;
    }
    EXPECT_EQ(consumed, buf.size());
    EXPECT_EQ(Bytes(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(produced)), text("abcdefg"));
}

TEST(WsFrameWriter, ServerFramesAreUnmaskedWithMinimalLengths) {
    Bytes out;
    append_frame(out, Opcode::Binary, text("hi"));
    EXPECT_EQ(out, bytes({0x82, 0x02, 'h', 'i'}));
    out.clear();
    append_frame(out, Opcode::Binary, Bytes(126, std::byte{0}));
    EXPECT_EQ(Bytes(out.begin(), out.begin() + 4), bytes({0x82, 126, 0x00, 126}));
    EXPECT_EQ(out.size(), 4U + 126U);
    out.clear();
    append_frame(out, Opcode::Binary, Bytes(65'536, std::byte{0}));
    EXPECT_EQ(Bytes(out.begin(), out.begin() + 10), bytes({0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0}));
    out.clear();
    append_close(out, kCloseTooBig);
    EXPECT_EQ(out, bytes({0x88, 0x02, 0x03, 0xF1}));
}

TEST(WsFrameWriter, OneFramePerMessageInOneBuffer) {
    // Three MQTT packets as the core writes them back to back: SUBACK, PUBLISH, PINGRESP.
    const auto run = bytes({0x90, 0x03, 0x00, 0x01, 0x00, 0x30, 0x03, 0x00, 0x01, 't', 0xD0, 0x00});
    const std::uint32_t lengths[] = {5, 5, 2};
    Bytes out;
    append_messages(out, run, lengths);
    EXPECT_EQ(out, bytes({0x82, 5, 0x90, 0x03, 0x00, 0x01, 0x00,  //
                          0x82, 5, 0x30, 0x03, 0x00, 0x01, 't',    //
                          0x82, 2, 0xD0, 0x00}));
}

}  // namespace
}  // namespace moth::net::ws
