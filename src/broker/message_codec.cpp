#include "broker/message_codec.hpp"

#include <chrono>
#include <memory>

namespace moth::broker {

void ByteWriter::str(std::string_view s) {
    u32(static_cast<std::uint32_t>(s.size()));
    out_.append(s);
}

void ByteWriter::bytes(const std::vector<std::byte>& b) {
    u32(static_cast<std::uint32_t>(b.size()));
    out_.append(reinterpret_cast<const char*>(b.data()), b.size());
}

std::string ByteReader::str() {
    const auto n = u32();
    need(n);
    std::string s(in_.substr(0, n));
    in_.remove_prefix(n);
    return s;
}

std::vector<std::byte> ByteReader::bytes() {
    const auto n = u32();
    need(n);
    const auto* p = reinterpret_cast<const std::byte*>(in_.data());
    std::vector<std::byte> b(p, p + n);
    in_.remove_prefix(n);
    return b;
}

std::uint64_t ByteReader::fixed(std::size_t n) {
    need(n);
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i) v = (v << 8) | static_cast<std::uint8_t>(in_[i]);
    in_.remove_prefix(n);
    return v;
}

namespace {

enum Flag : std::uint8_t {
    kPayloadFormat = 1,
    kContentType = 2,
    kResponseTopic = 4,
    kCorrelationData = 8,
    kExpiry = 16,
};

}  // namespace

void encode_message(ByteWriter& w, const Message& m, TimePoint now) {
    w.str(m.topic);
    w.bytes(m.payload);
    w.u8(static_cast<std::uint8_t>(m.qos));
    w.u8(m.retain ? 1 : 0);
    const std::uint8_t flags = static_cast<std::uint8_t>(
        (m.payload_format_indicator ? kPayloadFormat : 0) | (m.content_type ? kContentType : 0) |
        (m.response_topic ? kResponseTopic : 0) | (m.correlation_data ? kCorrelationData : 0) |
        (m.expires_at ? kExpiry : 0));
    w.u8(flags);
    if (m.payload_format_indicator) w.u8(*m.payload_format_indicator);
    if (m.content_type) w.str(*m.content_type);
    if (m.response_topic) w.str(*m.response_topic);
    if (m.correlation_data) w.bytes(*m.correlation_data);
    if (m.expires_at) w.u64(static_cast<std::uint64_t>(to_unix_ms(*m.expires_at, now)));
    w.u32(static_cast<std::uint32_t>(m.user_properties.size()));
    for (const auto up : m.user_properties) {
        w.str(up.key);
        w.str(up.value);
    }
}

void encode_message(std::string& out, const Message& m, TimePoint now) {
    ByteWriter w(out);
    encode_message(w, m, now);
}

MessagePtr decode_message(ByteReader& r, TimePoint now) {
    auto m = std::make_shared<Message>();
    m->topic = r.str();
    m->payload = r.bytes();
    const auto qos = r.u8();
    if (qos > 2) throw CodecError("bad QoS");
    m->qos = static_cast<codec::QoS>(qos);
    m->retain = r.u8() != 0;
    const auto flags = r.u8();
    if ((flags & kPayloadFormat) != 0) m->payload_format_indicator = r.u8();
    if ((flags & kContentType) != 0) m->content_type = r.str();
    if ((flags & kResponseTopic) != 0) m->response_topic = r.str();
    if ((flags & kCorrelationData) != 0) m->correlation_data = r.bytes();
    if ((flags & kExpiry) != 0) m->expires_at = from_unix_ms(static_cast<std::int64_t>(r.u64()), now);
    const auto n = r.u32();
    for (std::uint32_t i = 0; i < n; ++i) {
        auto k = r.str();
        auto v = r.str();
        // UserProperties keeps them in wire form, with 16-bit lengths.
        if (k.size() > 65535 || v.size() > 65535) throw CodecError("user property too long");
        m->user_properties.add(k, v);
    }
    m->seal();
    return m;
}

MessagePtr decode_message(std::string_view& in, TimePoint now) {
    ByteReader r(in);
    auto m = decode_message(r, now);
    in = r.rest();
    return m;
}

std::int64_t to_unix_ms(TimePoint t, TimePoint now) {
    const auto sys =
        std::chrono::system_clock::now() + std::chrono::duration_cast<std::chrono::system_clock::duration>(t - now);
    return std::chrono::duration_cast<std::chrono::milliseconds>(sys.time_since_epoch()).count();
}

TimePoint from_unix_ms(std::int64_t ms, TimePoint now) {
    const auto sys_now =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch());
    return now + std::chrono::milliseconds(ms - sys_now.count());
}

}  // namespace moth::broker
