#include "net/ws_frames.hpp"

#include <algorithm>
#include <cstring>

namespace moth::net::ws {

namespace {

std::uint8_t byte_at(std::span<const std::byte> in, std::size_t i) { return std::to_integer<std::uint8_t>(in[i]); }

bool is_control(Opcode op) { return (static_cast<std::uint8_t>(op) & 0x8U) != 0; }

}  // namespace

FrameReader::Event FrameReader::fail(std::uint16_t code, std::string_view why) {
    state_ = State::Done;
    code_ = code;
    error_ = why;
    return Event::Error;
}

std::size_t FrameReader::read_header(std::span<const std::byte> in) {
    if (in.size() < 2) return 0;
    const std::uint8_t b0 = byte_at(in, 0);
    const std::uint8_t b1 = byte_at(in, 1);
    const std::uint8_t len7 = b1 & 0x7FU;
    const bool masked = (b1 & 0x80U) != 0;
    const std::size_t size = 2U + (len7 == 126 ? 2U : len7 == 127 ? 8U : 0U) + (masked ? 4U : 0U);
    if (in.size() < size) return 0;
    std::uint64_t len = len7;
    if (len7 >= 126) {
        len = 0;
        for (std::size_t i = 2; i < (len7 == 126 ? 4U : 10U); ++i) len = (len << 8) | byte_at(in, i);
    }
    const auto op = static_cast<Opcode>(b0 & 0x0FU);
    fin_ = (b0 & 0x80U) != 0;
    // A broken header is consumed whole: the caller closes the connection anyway.
    const auto bad = [&](std::uint16_t code, std::string_view why) {
        fail(code, why);
        return size;
    };
    if ((b0 & 0x70U) != 0) return bad(kCloseProtocolError, "reserved bits set (no extension negotiated)");
    if (!masked) return bad(kCloseProtocolError, "client frame not masked (RFC 6455 section 5.1)");
    if (len7 == 127 && (len >> 63) != 0) return bad(kCloseProtocolError, "frame length over 2^63");
    switch (op) {
        case Opcode::Continuation:
            if (!in_message_) return bad(kCloseProtocolError, "continuation frame outside a message");
            break;
        case Opcode::Binary:
            if (in_message_) return bad(kCloseProtocolError, "new message inside a fragmented one");
            in_message_ = true;
            break;
        case Opcode::Text:
            if (in_message_) return bad(kCloseProtocolError, "new message inside a fragmented one");
            return bad(kCloseUnsupportedData, "text frame: MQTT needs binary frames");
        case Opcode::Close:
        case Opcode::Ping:
        case Opcode::Pong:
            if (!fin_) return bad(kCloseProtocolError, "fragmented control frame");
            if (len > kMaxControlPayload) return bad(kCloseProtocolError, "control frame over 125 bytes");
            break;
        default: return bad(kCloseProtocolError, "reserved opcode");
    }
    if (!is_control(op)) {
        message_size_ += len;
        if (max_message_ != 0 && message_size_ > max_message_)
            return bad(kCloseTooBig, "message larger than the maximum packet size");
    }
    opcode_ = op;
    remaining_ = len;
    std::memcpy(mask_, in.data() + size - 4, 4);
    mask_pos_ = 0;
    if (is_control(op)) {
        control_.clear();
        state_ = State::Control;
    } else {
        state_ = State::Data;
    }
    return size;
}

void FrameReader::unmask(std::span<const std::byte> from, std::span<std::byte> to) {
    for (std::size_t i = 0; i < from.size(); ++i)
        to[i] = from[i] ^ std::byte{mask_[(mask_pos_ + i) & 3U]};
    mask_pos_ = static_cast<std::uint8_t>((mask_pos_ + from.size()) & 3U);
}

FrameReader::Event FrameReader::finish_control() {
    state_ = State::Header;
    switch (opcode_) {
        case Opcode::Ping: return Event::Ping;
        case Opcode::Close:
            if (control_.size() == 1) return fail(kCloseProtocolError, "close frame with a 1-byte payload");
            code_ = control_.empty() ? kCloseNoStatus
                                     : static_cast<std::uint16_t>((std::to_integer<unsigned>(control_[0]) << 8) |
                                                                  std::to_integer<unsigned>(control_[1]));
            state_ = State::Done;
            return Event::Close;
        default: return Event::Pong;
    }
}

FrameReader::Step FrameReader::read(std::span<const std::byte> in, std::span<std::byte> out) {
    Step s;
    while (state_ != State::Done) {
        const auto rest = in.subspan(s.consumed);
        if (state_ == State::Header) {
            const std::size_t n = read_header(rest);
            s.consumed += n;
            if (state_ == State::Done) {
                s.event = Event::Error;
                return s;
            }
            if (n == 0) break;
            continue;
        }
        const std::size_t room = state_ == State::Data ? out.size() - s.produced : rest.size();
        const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, std::min(rest.size(), room)));
        if (remaining_ > 0 && n == 0) break;
        if (state_ == State::Data) {
            unmask(rest.first(n), out.subspan(s.produced, n));
            s.produced += n;
        } else {
            const auto old = control_.size();
            control_.resize(old + n);
            unmask(rest.first(n), std::span<std::byte>(control_).subspan(old));
        }
        s.consumed += n;
        remaining_ -= n;
        if (remaining_ > 0) continue;
        if (state_ == State::Control) {
            s.event = finish_control();
            return s;
        }
        state_ = State::Header;
        if (fin_) {
            in_message_ = false;
            message_size_ = 0;
        }
    }
    return s;
}

std::size_t write_header(Opcode op, std::uint64_t size, std::byte* out) noexcept {
    out[0] = std::byte{static_cast<std::uint8_t>(0x80U | static_cast<std::uint8_t>(op))};
    const std::size_t n = header_size(size);
    if (n == 2) {
        out[1] = std::byte{static_cast<std::uint8_t>(size)};
    } else {
        out[1] = std::byte{static_cast<std::uint8_t>(n == 4 ? 126 : 127)};
        for (std::size_t i = 2; i < n; ++i) out[i] = std::byte{static_cast<std::uint8_t>(size >> (8 * (n - 1 - i)))};
    }
    return n;
}

void append_frame(std::vector<std::byte>& out, Opcode op, std::span<const std::byte> payload) {
    const auto old = out.size();
    out.resize(old + header_size(payload.size()) + payload.size());
    const std::size_t h = write_header(op, payload.size(), out.data() + old);
    if (!payload.empty()) std::memcpy(out.data() + old + h, payload.data(), payload.size());
}

void append_close(std::vector<std::byte>& out, std::uint16_t code) {
    const std::byte payload[2] = {std::byte{static_cast<std::uint8_t>(code >> 8)},
                                  std::byte{static_cast<std::uint8_t>(code & 0xFFU)}};
    append_frame(out, Opcode::Close, payload);
}

void append_messages(std::vector<std::byte>& out, std::span<const std::byte> bytes,
                     std::span<const std::uint32_t> lengths) {
    std::size_t total = out.size();
    for (const auto len : lengths) total += header_size(len) + len;
    const auto old = out.size();
    out.resize(total);
    std::byte* p = out.data() + old;
    std::size_t from = 0;
    for (const auto len : lengths) {
        p += write_header(Opcode::Binary, len, p);
        if (len != 0) std::memcpy(p, bytes.data() + from, len);
        p += len;
        from += len;
    }
}

}  // namespace moth::net::ws
