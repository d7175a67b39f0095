#pragma once
// Small helpers shared by the broker integration tests (test/integration/broker_*_test.cpp).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "support/broker_fixture.hpp"
#include "support/mqtt_test_client.hpp"

namespace moth::test {

using codec::ProtocolVersion;
using codec::QoS;
using codec::ReasonCode;

inline constexpr ProtocolVersion kV31 = ProtocolVersion::V3_1;
inline constexpr ProtocolVersion kV311 = ProtocolVersion::V3_1_1;
inline constexpr ProtocolVersion kV5 = ProtocolVersion::V5;

// Test name suffixes for tests parameterised by protocol version: "Mqtt31", "Mqtt311", "Mqtt5".
inline std::string version_suffix(const ::testing::TestParamInfo<ProtocolVersion>& info) {
    switch (info.param) {
        case ProtocolVersion::V3_1:
            return "Mqtt31";
        case ProtocolVersion::V3_1_1:
            return "Mqtt311";
        case ProtocolVersion::V5:
            return "Mqtt5";
    }
    return "Unknown";
}

// A broker fixture parameterised by the protocol version of the clients under test.
class VersionedBrokerTest : public BrokerFixture, public ::testing::WithParamInterface<ProtocolVersion> {
protected:
    [[nodiscard]] ProtocolVersion version() const { return GetParam(); }
    [[nodiscard]] bool v5() const { return GetParam() == ProtocolVersion::V5; }
};

inline codec::SubscribeOptions sub_options(QoS qos, bool no_local = false, bool retain_as_published = false,
                                           std::uint8_t retain_handling = 0) {
    codec::SubscribeOptions o;
    o.qos = qos;
    o.no_local = no_local;
    o.retain_as_published = retain_as_published;
    o.retain_handling = retain_handling;
    return o;
}

// CONNECT options for a session that outlives the connection: Clean Session 0 (3.x), or Clean Start 0 with a
// Session Expiry Interval of 300 s (5.0, where an absent interval ends the session with the connection).
inline ConnectOptions persistent_session(std::string client_id, ProtocolVersion v) {
    ConnectOptions o;
    o.client_id = std::move(client_id);
    o.clean_start = false;
    if (v == ProtocolVersion::V5) o.session_expiry_interval = 300;
    return o;
}

inline ConnectOptions clean_session(std::string client_id) {
    ConnectOptions o;
    o.client_id = std::move(client_id);
    return o;
}

inline std::string payload_of(const codec::Publish& p) {
    return as_string(p.payload);
}
inline std::string topic_of(const codec::Publish& p) {
    return std::string(p.topic);
}
inline std::vector<std::uint32_t> subscription_ids_of(const codec::Publish& p) {
    return {p.properties.subscription_identifiers.begin(), p.properties.subscription_identifiers.end()};
}

inline ReasonCode granted(QoS qos) {
    return static_cast<ReasonCode>(static_cast<std::uint8_t>(qos));
}

// A whole packet from its first byte and body: the Remaining Length is computed.
inline std::vector<std::byte> raw_packet(int first_byte, const std::vector<std::byte>& body) {
    std::vector<std::byte> out{static_cast<std::byte>(first_byte)};
    std::uint32_t n = static_cast<std::uint32_t>(body.size());
    do {
        auto b = static_cast<std::uint8_t>(n & 0x7FU);
        n >>= 7;
        if (n != 0) b = static_cast<std::uint8_t>(b | 0x80U);
        out.push_back(std::byte{b});
    } while (n != 0);
    out.insert(out.end(), body.begin(), body.end());
    return out;
}

// An MQTT string: two length bytes, then the bytes of `s` as given (not checked: tests send invalid UTF-8).
inline std::vector<std::byte> raw_string(std::string_view s) {
    std::vector<std::byte> out{static_cast<std::byte>(s.size() >> 8), static_cast<std::byte>(s.size() & 0xFF)};
    for (const char c : s) out.push_back(static_cast<std::byte>(static_cast<unsigned char>(c)));
    return out;
}

template <class... Parts>
std::vector<std::byte> concat(const Parts&... parts) {
    std::vector<std::byte> out;
    (out.insert(out.end(), parts.begin(), parts.end()), ...);
    return out;
}

}  // namespace moth::test
