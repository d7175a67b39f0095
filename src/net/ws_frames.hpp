#pragma once
// The server's side of WebSocket framing (RFC 6455 section 5), without I/O: reading the frames a client sends
// and writing the frames a server sends. Knows no MQTT.
//
// Why not Beast's websocket::stream after the handshake: it writes one message per write operation, and the broker
// must send one MQTT packet per WebSocket message (early Paho JavaScript decodes only the first packet of each
// message) while still writing a whole loop turn's output in one system call (docs/architecture.md, "WebSocket
// framing"). Beast also answers pings from inside its read operation, which would race with writes made around it.
// The handshake itself stays Beast's.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace moth::net::ws {

enum class Opcode : std::uint8_t { Continuation = 0x0, Text = 0x1, Binary = 0x2, Close = 0x8, Ping = 0x9, Pong = 0xA };

// Close codes (RFC 6455 section 7.4.1) the server uses.
inline constexpr std::uint16_t kCloseNormal = 1000;
inline constexpr std::uint16_t kCloseProtocolError = 1002;
inline constexpr std::uint16_t kCloseUnsupportedData = 1003;  // a text frame: MQTT needs binary [MQTT-6.0.0-1]
inline constexpr std::uint16_t kCloseNoStatus = 1005;         // a close frame without a code (never sent)
inline constexpr std::uint16_t kCloseTooBig = 1009;
inline constexpr std::size_t kMaxControlPayload = 125;

// Reads what a client sends: data frames' payloads become a byte stream (frames and MQTT packets need not line
// up [MQTT-6.0.0-2]); control frames and errors stop the read so the caller can answer them.
class FrameReader {
public:
    // `max_message_size`: the largest message (sum of its frames' payloads) accepted; 0: no limit.
    explicit FrameReader(std::uint64_t max_message_size = 0) : max_message_(max_message_size) {}

    enum class Event : std::uint8_t {
        None,   // `in` is used up or `out` is full: call again with more input or more room
        Ping,   // a ping arrived: answer with a pong carrying control_payload()
        Pong,   // an unsolicited or answering pong: nothing to do
        Close,  // the client closes: answer with a close frame, then end (code(): the client's, or kCloseNoStatus)
        Error,  // the client broke the protocol: close with code(), then end; error() says why
    };
    struct Step {
        std::size_t consumed = 0;  // bytes of `in` taken
        std::size_t produced = 0;  // payload bytes written to `out`
        Event event = Event::None;
    };

    // Takes bytes from `in` and writes data payload (unmasked) to `out` until `in` is used up, `out` is full, or
    // a control frame or an error stops it. After Close or Error, further calls consume nothing.
    [[nodiscard]] Step read(std::span<const std::byte> in, std::span<std::byte> out);

    [[nodiscard]] std::span<const std::byte> control_payload() const { return control_; }
    [[nodiscard]] std::uint16_t code() const { return code_; }
    [[nodiscard]] std::string_view error() const { return error_; }

private:
    enum class State : std::uint8_t { Header, Data, Control, Done };

    // Parses a frame header at the start of `in`: 0 when `in` holds only part of it, else its size. Sets
    // state_ (Data, Control, or Done with an error).
    std::size_t read_header(std::span<const std::byte> in);
    Event fail(std::uint16_t code, std::string_view why);
    Event finish_control();
    void unmask(std::span<const std::byte> from, std::span<std::byte> to);

    std::uint64_t max_message_;
    State state_ = State::Header;
    Opcode opcode_ = Opcode::Binary;  // of the frame being read
    bool fin_ = false;
    bool in_message_ = false;          // a fragmented data message is open (its next frame is a continuation)
    std::uint64_t message_size_ = 0;   // payload bytes of the open message so far
    std::uint64_t remaining_ = 0;      // payload bytes of the current frame still to read
    std::uint8_t mask_[4] = {};
    std::uint8_t mask_pos_ = 0;
    std::vector<std::byte> control_;  // a control frame's payload (at most 125 bytes)
    std::uint16_t code_ = 0;
    std::string_view error_;
};

// Bytes of a server frame header for a payload of `size` bytes (servers never mask: RFC 6455 section 5.1).
[[nodiscard]] constexpr std::size_t header_size(std::uint64_t size) noexcept {
    return size < 126 ? 2 : size <= 0xFFFF ? 4 : 10;
}

// Writes the header of a final, unmasked server frame to `out` (header_size(size) bytes); returns its size.
std::size_t write_header(Opcode op, std::uint64_t size, std::byte* out) noexcept;

// Appends a whole server frame (FIN set, unmasked).
void append_frame(std::vector<std::byte>& out, Opcode op, std::span<const std::byte> payload);

// Appends a close frame with `code` (and no reason text).
void append_close(std::vector<std::byte>& out, std::uint16_t code);

// Appends `bytes` as consecutive binary messages, one frame each, of the given lengths (which must add up to
// bytes.size()): one contiguous buffer, written with one system call.
void append_messages(std::vector<std::byte>& out, std::span<const std::byte> bytes,
                     std::span<const std::uint32_t> lengths);

}  // namespace moth::net::ws
