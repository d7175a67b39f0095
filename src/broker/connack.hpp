#pragma once
// Building the CONNACK of an accepted CONNECT, and shrinking it to the client's Maximum Packet Size: pure functions
// of the configuration and what the CONNECT negotiated.
#include <cstdint>
#include <optional>
#include <string_view>

#include "codec/packets.hpp"
#include "config/config.hpp"

namespace moth::broker {

// What the CONNECT's handling decided, for its CONNACK. The views must outlive the CONNACK.
struct ConnackTerms {
    bool session_present = false;
    std::string_view assigned_client_id;              // empty unless the server assigned it [MQTT-3.2.2-16]
    std::optional<std::uint16_t> server_keep_alive;   // set when the server overrides the client's keepalive
    std::optional<std::uint32_t> session_expiry_s;    // set when it differs from what the client asked for
    std::string_view auth_method;                     // enhanced authentication in use, or empty
    std::optional<codec::Bytes> auth_data;            // its last data for the client
};

// Success, with (5.0) the server's limits and features as properties; 3.x carries only session present.
[[nodiscard]] codec::Connack accepted_connack(const config::Config& cfg, codec::ProtocolVersion v,
                                              const ConnackTerms& terms);

// [MQTT-3.1.2-24]: sheds properties until the CONNACK fits `max_packet_size` (0: no limit): first those whose
// absence means the same (an "available" flag of 1), then the optional ones in order of how little the client
// loses without them. A CONNACK without properties (5 bytes) fits any maximum a client can usefully set.
void fit_connack(codec::Connack& ack, codec::ProtocolVersion v, std::uint32_t max_packet_size);

}  // namespace moth::broker
