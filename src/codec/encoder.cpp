// The MQTT encoder. Each packet body is produced by one function run twice: once counting (to learn the
// Remaining Length), once writing. Nothing is allocated.
#include "codec/encoder.hpp"

#include <cstring>
#include <stdexcept>

#include "common/varint.hpp"

namespace moth::codec {

void throw_exception_from_error(EncodeError e, boost::source_location const& /*loc*/) {
    throw std::runtime_error(std::string(encode_error_text(e)));
}

namespace {

bool is_v5(ProtocolVersion v) noexcept { return v == ProtocolVersion::V5; }

// Writes to `out`, or only counts when `out` is null. The first problem found is kept in `error`.
class Writer {
public:
    explicit Writer(std::byte* out = nullptr) noexcept : out_(out) {}

    void u8(std::uint8_t b) noexcept {
        if (out_ != nullptr) out_[n_] = std::byte{b};
        ++n_;
    }
    void u16(std::uint16_t v) noexcept {
        u8(static_cast<std::uint8_t>(v >> 8));
        u8(static_cast<std::uint8_t>(v & 0xFFU));
    }
    void u32(std::uint32_t v) noexcept {
        for (int shift = 24; shift >= 0; shift -= 8) u8(static_cast<std::uint8_t>((v >> shift) & 0xFFU));
    }
    void varint(std::uint32_t v) noexcept {
        if (v > common::kVarIntMax) {
            fail(EncodeError::PacketTooLarge);
            return;
        }
        if (out_ != nullptr) common::encode_varint(v, out_ + n_);
        n_ += common::varint_size(v);
    }
    void raw(Bytes b) noexcept {
        if (out_ != nullptr && !b.empty()) std::memcpy(out_ + n_, b.data(), b.size());
        n_ += b.size();
    }
    void binary(Bytes b) noexcept {
        if (b.size() > kMaxStringLength) {
            fail(EncodeError::StringTooLong);
            return;
        }
        u16(static_cast<std::uint16_t>(b.size()));
        raw(b);
    }
    void str(std::string_view s) noexcept { binary(std::as_bytes(std::span(s.data(), s.size()))); }
    void fail(EncodeError e) noexcept {
        if (!error) error = e;
    }
    [[nodiscard]] std::size_t size() const noexcept { return n_; }

    std::optional<EncodeError> error;

private:
    std::byte* out_;
    std::size_t n_ = 0;
};

// The properties themselves, in ascending identifier order, refusing any not allowed in `scope`.
void property_list(Writer& w, const Properties& p, PropertyScope scope) {
    auto id = [&](PropertyId pid) {
        if ((property_info(static_cast<std::uint8_t>(pid))->scope & scope) == 0) w.fail(EncodeError::InvalidPacket);
        w.u8(static_cast<std::uint8_t>(pid));
    };
    auto byte = [&](PropertyId pid, const std::optional<std::uint8_t>& v) {
        if (v) id(pid), w.u8(*v);
    };
    auto two = [&](PropertyId pid, const std::optional<std::uint16_t>& v) {
        if (v) id(pid), w.u16(*v);
    };
    auto four = [&](PropertyId pid, const std::optional<std::uint32_t>& v) {
        if (v) id(pid), w.u32(*v);
    };
    auto str = [&](PropertyId pid, const std::optional<std::string_view>& v) {
        if (v) id(pid), w.str(*v);
    };
    auto bin = [&](PropertyId pid, const std::optional<Bytes>& v) {
        if (v) id(pid), w.binary(*v);
    };
    byte(PropertyId::PayloadFormatIndicator, p.payload_format_indicator);
    four(PropertyId::MessageExpiryInterval, p.message_expiry_interval);
    str(PropertyId::ContentType, p.content_type);
    str(PropertyId::ResponseTopic, p.response_topic);
    bin(PropertyId::CorrelationData, p.correlation_data);
    for (auto sid : p.subscription_identifiers) {
        if (sid == 0) w.fail(EncodeError::InvalidPacket);
        id(PropertyId::SubscriptionIdentifier), w.varint(sid);
    }
    four(PropertyId::SessionExpiryInterval, p.session_expiry_interval);
    str(PropertyId::AssignedClientIdentifier, p.assigned_client_identifier);
    two(PropertyId::ServerKeepAlive, p.server_keep_alive);
    str(PropertyId::AuthenticationMethod, p.authentication_method);
    bin(PropertyId::AuthenticationData, p.authentication_data);
    byte(PropertyId::RequestProblemInformation, p.request_problem_information);
    four(PropertyId::WillDelayInterval, p.will_delay_interval);
    byte(PropertyId::RequestResponseInformation, p.request_response_information);
    str(PropertyId::ResponseInformation, p.response_information);
    str(PropertyId::ServerReference, p.server_reference);
    str(PropertyId::ReasonString, p.reason_string);
    two(PropertyId::ReceiveMaximum, p.receive_maximum);
    two(PropertyId::TopicAliasMaximum, p.topic_alias_maximum);
    two(PropertyId::TopicAlias, p.topic_alias);
    byte(PropertyId::MaximumQoS, p.maximum_qos);
    byte(PropertyId::RetainAvailable, p.retain_available);
    for (const auto& up : p.user_properties) id(PropertyId::UserProperty), w.str(up.key), w.str(up.value);
    w.raw(p.encoded_user_properties);  // User Property is allowed in every scope
    four(PropertyId::MaximumPacketSize, p.maximum_packet_size);
    byte(PropertyId::WildcardSubscriptionAvailable, p.wildcard_subscription_available);
    byte(PropertyId::SubscriptionIdentifierAvailable, p.subscription_identifier_available);
    byte(PropertyId::SharedSubscriptionAvailable, p.shared_subscription_available);
}

// Property Length followed by the properties (5.0 section 2.2.2.1).
void properties(Writer& w, const Properties& p, PropertyScope scope) {
    Writer counter;
    property_list(counter, p, scope);
    if (counter.error) w.fail(*counter.error);
    w.varint(static_cast<std::uint32_t>(counter.size()));
    property_list(w, p, scope);
}

bool valid_qos(QoS q) noexcept { return static_cast<std::uint8_t>(q) <= 2; }

void packet_id(Writer& w, std::uint16_t id) {
    if (id == 0) w.fail(EncodeError::InvalidPacket);  // [MQTT-2.2.1-3]
    w.u16(id);
}

// Each body() writes the variable header and payload and returns the fixed header's flag nibble.
std::uint8_t body(Writer& w, const Connect& c, ProtocolVersion v) {
    // The CONNECT carries its own version; the `v` argument is not consulted.
    (void)v;
    const auto cv = c.version;
    w.str(cv == ProtocolVersion::V3_1 ? "MQIsdp" : "MQTT");
    // The bridge bit (see Connect::bridge) exists only for 3.1 and 3.1.1: 0x85 would be refused.
    const bool bridge_bit = c.bridge && !is_v5(cv);
    w.u8(static_cast<std::uint8_t>(static_cast<unsigned>(cv) | (bridge_bit ? 0x80U : 0U)));
    std::uint8_t flags = c.clean_start ? 0x02 : 0x00;
    if (c.will) {
        if (!valid_qos(c.will->qos)) w.fail(EncodeError::InvalidPacket);
        flags = static_cast<std::uint8_t>(flags | 0x04U | (static_cast<unsigned>(c.will->qos) << 3) |
                                          (c.will->retain ? 0x20U : 0U));
    }
    if (c.password) flags |= 0x40;
    if (c.username) flags |= 0x80;
    if (!is_v5(cv) && c.password && !c.username) w.fail(EncodeError::InvalidPacket);  // 3.1.1 [MQTT-3.1.2-22]
    w.u8(flags);
    w.u16(c.keep_alive_s);
    if (is_v5(cv)) properties(w, c.properties, scope_of(PacketType::Connect));
    w.str(c.client_id);
    if (c.will) {
        if (is_v5(cv)) properties(w, c.will->properties, kWillScope);
        w.str(c.will->topic);
        w.binary(c.will->payload);
    }
    if (c.username) w.str(*c.username);
    if (c.password) w.binary(*c.password);
    return 0;
}

std::uint8_t body(Writer& w, const Connack& c, ProtocolVersion v) {
    // 3.1 has no Session Present flag: the first byte is reserved.
    w.u8(c.session_present && v != ProtocolVersion::V3_1 ? 1 : 0);
    if (is_v5(v)) {
        if (!reason_code_allowed(c.reason, PacketType::Connack)) w.fail(EncodeError::InvalidPacket);
        w.u8(static_cast<std::uint8_t>(c.reason));
        properties(w, c.properties, scope_of(PacketType::Connack));
    } else {
        w.u8(connack_return_code(c.reason));
    }
    return 0;
}

std::uint8_t body(Writer& w, const Publish& p, ProtocolVersion v) {
    if (!valid_qos(p.qos)) w.fail(EncodeError::InvalidPacket);
    if (p.dup && p.qos == QoS::AtMostOnce) w.fail(EncodeError::InvalidPacket);  // [MQTT-3.3.1-2]
    if (p.topic.empty() && !(is_v5(v) && p.properties.topic_alias)) w.fail(EncodeError::InvalidPacket);
    w.str(p.topic);
    if (p.qos != QoS::AtMostOnce) packet_id(w, p.packet_id);
    if (is_v5(v)) properties(w, p.properties, scope_of(PacketType::Publish));
    w.raw(p.payload);
    return static_cast<std::uint8_t>((p.dup ? 0x08U : 0U) | (static_cast<unsigned>(p.qos) << 1) |
                                     (p.retain ? 0x01U : 0U));
}

template <PacketType T>
std::uint8_t body(Writer& w, const AckPacket<T>& a, ProtocolVersion v) {
    packet_id(w, a.packet_id);
    if (is_v5(v)) {
        const bool props = !a.properties.empty();
        if (!reason_code_allowed(a.reason, T)) w.fail(EncodeError::InvalidPacket);
        // 5.0 section 3.4.2.1: reason code and properties may be omitted when Success with no properties.
        if (a.reason != ReasonCode::Success || props) w.u8(static_cast<std::uint8_t>(a.reason));
        if (props) properties(w, a.properties, scope_of(T));
    }
    return T == PacketType::Pubrel ? 0x02 : 0x00;
}

std::uint8_t body(Writer& w, const Subscribe& s, ProtocolVersion v) {
    packet_id(w, s.packet_id);
    if (is_v5(v)) {
        if (s.properties.subscription_identifiers.size() > 1) w.fail(EncodeError::InvalidPacket);
        properties(w, s.properties, scope_of(PacketType::Subscribe));
    }
    if (s.subscriptions.empty()) w.fail(EncodeError::InvalidPacket);  // [MQTT-3.8.3-3]
    for (const auto& sub : s.subscriptions) {
        const auto& o = sub.options;
        if (!valid_qos(o.qos) || o.retain_handling > 2) w.fail(EncodeError::InvalidPacket);
        auto opts = static_cast<unsigned>(o.qos);
        if (is_v5(v)) {
            opts |= (o.no_local ? 0x04U : 0U) | (o.retain_as_published ? 0x08U : 0U) |
                    (static_cast<unsigned>(o.retain_handling & 3U) << 4);
        }
        w.str(sub.filter);
        w.u8(static_cast<std::uint8_t>(opts));
    }
    return 0x02;
}

std::uint8_t body(Writer& w, const Suback& s, ProtocolVersion v) {
    packet_id(w, s.packet_id);
    if (is_v5(v)) properties(w, s.properties, scope_of(PacketType::Suback));
    if (s.reason_codes.empty()) w.fail(EncodeError::InvalidPacket);
    for (auto rc : s.reason_codes) {
        if (is_v5(v)) {
            if (!reason_code_allowed(rc, PacketType::Suback)) w.fail(EncodeError::InvalidPacket);
            w.u8(static_cast<std::uint8_t>(rc));
        } else {
            // 3.1.1 [MQTT-3.9.3-2]: 0x00..0x02, or 0x80 for every failure.
            const auto b = static_cast<std::uint8_t>(rc);
            w.u8(b <= 2 ? b : 0x80);
        }
    }
    return 0;
}

std::uint8_t body(Writer& w, const Unsubscribe& u, ProtocolVersion v) {
    packet_id(w, u.packet_id);
    if (is_v5(v)) properties(w, u.properties, scope_of(PacketType::Unsubscribe));
    if (u.filters.empty()) w.fail(EncodeError::InvalidPacket);  // [MQTT-3.10.3-2]
    for (auto f : u.filters) w.str(f);
    return 0x02;
}

std::uint8_t body(Writer& w, const Unsuback& u, ProtocolVersion v) {
    packet_id(w, u.packet_id);
    if (is_v5(v)) {
        properties(w, u.properties, scope_of(PacketType::Unsuback));
        if (u.reason_codes.empty()) w.fail(EncodeError::InvalidPacket);
        for (auto rc : u.reason_codes) {
            if (!reason_code_allowed(rc, PacketType::Unsuback)) w.fail(EncodeError::InvalidPacket);
            w.u8(static_cast<std::uint8_t>(rc));
        }
    }
    return 0;
}

std::uint8_t body(Writer&, const Pingreq&, ProtocolVersion) { return 0; }
std::uint8_t body(Writer&, const Pingresp&, ProtocolVersion) { return 0; }

std::uint8_t body(Writer& w, const Disconnect& d, ProtocolVersion v) {
    if (!is_v5(v)) return 0;
    if (!reason_code_allowed(d.reason, PacketType::Disconnect)) w.fail(EncodeError::InvalidPacket);
    const bool props = !d.properties.empty();
    // 5.0 section 3.14.2.1: Remaining Length 0 means Normal disconnection; below 2, no properties.
    if (d.reason != ReasonCode::NormalDisconnection || props) w.u8(static_cast<std::uint8_t>(d.reason));
    if (props) properties(w, d.properties, scope_of(PacketType::Disconnect));
    return 0;
}

std::uint8_t body(Writer& w, const Auth& a, ProtocolVersion v) {
    if (!is_v5(v)) {
        w.fail(EncodeError::InvalidPacket);  // AUTH exists only in 5.0
        return 0;
    }
    if (!reason_code_allowed(a.reason, PacketType::Auth)) w.fail(EncodeError::InvalidPacket);
    // 5.0 section 3.15.2.1: both may be omitted when Success with no properties.
    if (a.reason == ReasonCode::Success && a.properties.empty()) return 0;
    w.u8(static_cast<std::uint8_t>(a.reason));
    properties(w, a.properties, scope_of(PacketType::Auth));
    return 0;
}

template <class P>
PacketType type_of() {
    if constexpr (std::is_same_v<P, Connect>) return PacketType::Connect;
    else if constexpr (std::is_same_v<P, Connack>) return PacketType::Connack;
    else if constexpr (std::is_same_v<P, Publish>) return PacketType::Publish;
    else if constexpr (std::is_same_v<P, Subscribe>) return PacketType::Subscribe;
    else if constexpr (std::is_same_v<P, Suback>) return PacketType::Suback;
    else if constexpr (std::is_same_v<P, Unsubscribe>) return PacketType::Unsubscribe;
    else if constexpr (std::is_same_v<P, Unsuback>) return PacketType::Unsuback;
    else if constexpr (std::is_same_v<P, Pingreq>) return PacketType::Pingreq;
    else if constexpr (std::is_same_v<P, Pingresp>) return PacketType::Pingresp;
    else if constexpr (std::is_same_v<P, Disconnect>) return PacketType::Disconnect;
    else if constexpr (std::is_same_v<P, Auth>) return PacketType::Auth;
    else return P::kType;
}

struct Sizes {
    std::size_t remaining;
    std::size_t total;
};

template <class P>
EncodeResult<Sizes> measure(const P& p, ProtocolVersion v) {
    Writer counter;
    body(counter, p, v);
    if (counter.error) return *counter.error;
    if (counter.size() > kMaxRemainingLength) return EncodeError::PacketTooLarge;
    const auto rl = static_cast<std::uint32_t>(counter.size());
    return Sizes{rl, 1 + common::varint_size(rl) + rl};
}

template <class P>
EncodeResult<std::size_t> encode_one(const P& p, ProtocolVersion v, std::span<std::byte> out) {
    auto sizes = measure(p, v);
    if (!sizes) return sizes.error();
    if (out.size() < sizes->total) return EncodeError::BufferTooSmall;
    Writer w(out.data());
    w.u8(0);  // patched below, once body() has returned the flags
    w.varint(static_cast<std::uint32_t>(sizes->remaining));
    const auto flags = body(w, p, v);
    out[0] = std::byte{static_cast<std::uint8_t>((static_cast<unsigned>(type_of<P>()) << 4) | flags)};
    return sizes->total;
}

}  // namespace

EncodeResult<std::size_t> encoded_size(const Packet& p, ProtocolVersion v) {
    return std::visit(
        [v](const auto& pk) -> EncodeResult<std::size_t> {
            auto s = measure(pk, v);
            if (!s) return s.error();
            return s->total;
        },
        p);
}

EncodeResult<std::size_t> encode(const Packet& p, ProtocolVersion v, std::span<std::byte> out) {
    return std::visit([&](const auto& pk) { return encode_one(pk, v, out); }, p);
}

EncodeResult<std::size_t> encode_append(const Packet& p, ProtocolVersion v, std::vector<std::byte>& out) {
    auto size = encoded_size(p, v);
    if (!size) return size;
    const auto old = out.size();
    out.resize(old + *size);
    auto r = encode(p, v, std::span(out).subspan(old));
    if (!r) out.resize(old);
    return r;
}

EncodeResult<std::size_t> encoded_size(const Publish& p, ProtocolVersion v) {
    auto s = measure(p, v);
    if (!s) return s.error();
    return s->total;
}

EncodeResult<std::size_t> encode(const Publish& p, ProtocolVersion v, std::span<std::byte> out) {
    return encode_one(p, v, out);
}

void encode_measured(const Publish& p, ProtocolVersion v, std::span<std::byte> out) {
    // out.size() = 1 + varint_size(remaining) + remaining: one of the four varint sizes fits.
    std::uint32_t remaining = 0;
    for (std::size_t k = 1; k <= 4; ++k) {
        const auto rl = static_cast<std::uint32_t>(out.size() - 1 - k);
        if (common::varint_size(rl) == k) {
            remaining = rl;
            break;
        }
    }
    Writer w(out.data());
    w.u8(0);  // patched below, once body() has returned the flags
    w.varint(remaining);
    const auto flags = body(w, p, v);
    out[0] = std::byte{static_cast<std::uint8_t>((static_cast<unsigned>(PacketType::Publish) << 4) | flags)};
}

std::size_t publish_packet_id_offset(std::span<const std::byte> encoded) noexcept {
    const auto rl = common::decode_varint(encoded.subspan(1));
    const std::size_t topic_len_at = 1 + rl.size;
    const auto topic_len = (std::to_integer<std::size_t>(encoded[topic_len_at]) << 8) |
                           std::to_integer<std::size_t>(encoded[topic_len_at + 1]);
    return topic_len_at + 2 + topic_len;
}

void patch_publish_packet_id(std::span<std::byte> encoded, std::uint16_t packet_id) noexcept {
    const auto at = publish_packet_id_offset(encoded);
    encoded[at] = std::byte{static_cast<std::uint8_t>(packet_id >> 8)};
    encoded[at + 1] = std::byte{static_cast<std::uint8_t>(packet_id & 0xFFU)};
}

void patch_publish_dup(std::span<std::byte> encoded, bool dup) noexcept {
    encoded[0] = dup ? (encoded[0] | std::byte{0x08}) : (encoded[0] & ~std::byte{0x08});
}

}  // namespace moth::codec
