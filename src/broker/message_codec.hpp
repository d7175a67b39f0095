#pragma once
// The byte encoding of a Message: what the store keeps in its delivery, will and retained records, and what the
// cluster bus will put on NATS. Self-contained (no store or transport header) so both can use it.
//
// Format: integers big-endian and fixed width; strings and byte strings as a u32 length and the bytes. A message is
// topic, payload, QoS (u8), retain (u8), a flags byte saying which 5.0 properties follow (1 payload format,
// 2 content type, 4 response topic, 8 correlation data, 16 expiry), those properties in that order, the expiry as
// absolute Unix milliseconds (so time spent on disk or on the wire counts), then the user properties (u32 count,
// key and value each). docs/architecture.md ("Durable state") has the records around it.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "broker/message.hpp"

namespace moth::broker {

// Input a decoder cannot read: truncated, trailing bytes, a value out of range. Whoever decodes names what it was
// reading (the store turns it into StoreCorrupt naming the key).
class CodecError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Appends to `out` (never clears it).
class ByteWriter {
public:
    explicit ByteWriter(std::string& out) : out_(out) {}
    void u8(std::uint8_t v) { out_.push_back(static_cast<char>(v)); }
    void u16(std::uint16_t v) { fixed(v, 2); }
    void u32(std::uint32_t v) { fixed(v, 4); }
    void u64(std::uint64_t v) { fixed(v, 8); }
    void str(std::string_view s);
    void bytes(const std::vector<std::byte>& b);

private:
    void fixed(std::uint64_t v, int n) {
        for (int i = n - 1; i >= 0; --i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
    }
    std::string& out_;
};

// Reads from the front of `in`; every read throws CodecError when the input is too short.
class ByteReader {
public:
    explicit ByteReader(std::string_view in) : in_(in) {}
    std::uint8_t u8() { return static_cast<std::uint8_t>(fixed(1)); }
    std::uint16_t u16() { return static_cast<std::uint16_t>(fixed(2)); }
    std::uint32_t u32() { return static_cast<std::uint32_t>(fixed(4)); }
    std::uint64_t u64() { return fixed(8); }
    std::string str();
    std::vector<std::byte> bytes();
    [[nodiscard]] bool at_end() const { return in_.empty(); }
    // What is left unread.
    [[nodiscard]] std::string_view rest() const { return in_; }
    // Throws CodecError unless everything was read.
    void finish() const {
        if (!in_.empty()) throw CodecError("trailing bytes");
    }

private:
    void need(std::size_t n) const {
        if (in_.size() < n) throw CodecError("truncated value");
    }
    std::uint64_t fixed(std::size_t n);
    std::string_view in_;
};

// Appends the encoding of `m` to `out`. `now` is the time of the event that encodes it: `expires_at` is written as
// Unix milliseconds relative to it.
void encode_message(ByteWriter& w, const Message& m, TimePoint now);
void encode_message(std::string& out, const Message& m, TimePoint now);

// Decodes one message from the front of `in` and removes it from `in` (what follows is left: the caller may hold
// more after it, or check that nothing is). The result is sealed. Throws CodecError on bad input.
[[nodiscard]] MessagePtr decode_message(ByteReader& r, TimePoint now);
[[nodiscard]] MessagePtr decode_message(std::string_view& in, TimePoint now);

// Steady-clock time points are kept on disk and on the wire as Unix milliseconds: `t` as seen at `now`.
[[nodiscard]] std::int64_t to_unix_ms(TimePoint t, TimePoint now);
[[nodiscard]] TimePoint from_unix_ms(std::int64_t ms, TimePoint now);

}  // namespace moth::broker
