#include "codec/packets.hpp"

#include <algorithm>

namespace moth::codec {

namespace {

template <class A, class B>
bool span_equal(std::span<A> a, std::span<B> b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
}

template <class T>
bool optional_span_equal(const std::optional<std::span<T>>& a, const std::optional<std::span<T>>& b) {
    if (a.has_value() != b.has_value()) return false;
    return !a || span_equal(*a, *b);
}

}  // namespace

PacketType packet_type(const Packet& p) noexcept {
    // The variant's alternatives are declared in PacketType order, CONNECT first.
    return static_cast<PacketType>(p.index() + 1);
}

bool operator==(const Will& a, const Will& b) noexcept {
    return a.topic == b.topic && span_equal(a.payload, b.payload) && a.qos == b.qos && a.retain == b.retain &&
           a.properties == b.properties;
}

bool operator==(const Connect& a, const Connect& b) noexcept {
    return a.version == b.version && a.clean_start == b.clean_start && a.bridge == b.bridge &&
           a.keep_alive_s == b.keep_alive_s &&
           a.client_id == b.client_id && a.will == b.will && a.username == b.username &&
           optional_span_equal(a.password, b.password) && a.properties == b.properties;
}

bool operator==(const Connack& a, const Connack& b) noexcept {
    return a.session_present == b.session_present && a.reason == b.reason && a.properties == b.properties;
}

bool operator==(const Publish& a, const Publish& b) noexcept {
    return a.topic == b.topic && a.qos == b.qos && a.dup == b.dup && a.retain == b.retain &&
           a.packet_id == b.packet_id && a.properties == b.properties && span_equal(a.payload, b.payload);
}

bool operator==(const Subscribe& a, const Subscribe& b) noexcept {
    return a.packet_id == b.packet_id && a.properties == b.properties && span_equal(a.subscriptions, b.subscriptions);
}

bool operator==(const Suback& a, const Suback& b) noexcept {
    return a.packet_id == b.packet_id && a.properties == b.properties && span_equal(a.reason_codes, b.reason_codes);
}

bool operator==(const Unsubscribe& a, const Unsubscribe& b) noexcept {
    return a.packet_id == b.packet_id && a.properties == b.properties && span_equal(a.filters, b.filters);
}

bool operator==(const Unsuback& a, const Unsuback& b) noexcept {
    return a.packet_id == b.packet_id && a.properties == b.properties && span_equal(a.reason_codes, b.reason_codes);
}

bool operator==(const Disconnect& a, const Disconnect& b) noexcept {
    return a.reason == b.reason && a.properties == b.properties;
}

bool operator==(const Auth& a, const Auth& b) noexcept { return a.reason == b.reason && a.properties == b.properties; }

}  // namespace moth::codec
