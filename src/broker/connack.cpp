#include "broker/connack.hpp"

#include <functional>

#include "codec/encoder.hpp"

namespace moth::broker {

codec::Connack accepted_connack(const config::Config& cfg, codec::ProtocolVersion v, const ConnackTerms& terms) {
    codec::Connack ack;
    ack.session_present = terms.session_present;
    ack.reason = codec::ReasonCode::Success;
    if (v != codec::ProtocolVersion::V5) return ack;
    const auto& limits = cfg.limits;
    const auto& features = cfg.features;
    auto& ap = ack.properties;
    ap.receive_maximum = limits.receive_maximum;
    ap.maximum_packet_size = limits.max_packet_size;
    ap.topic_alias_maximum = limits.topic_alias_maximum;
    ap.retain_available = features.retain_available ? 1 : 0;
    if (features.maximum_qos < 2) ap.maximum_qos = features.maximum_qos;  // absent means 2
    ap.wildcard_subscription_available = features.wildcard_subscriptions ? 1 : 0;
    ap.subscription_identifier_available = features.subscription_identifiers ? 1 : 0;
    ap.shared_subscription_available = features.shared_subscriptions ? 1 : 0;
    if (!terms.assigned_client_id.empty()) ap.assigned_client_identifier = terms.assigned_client_id;
    if (terms.server_keep_alive) ap.server_keep_alive = terms.server_keep_alive;
    if (terms.session_expiry_s) ap.session_expiry_interval = terms.session_expiry_s;
    if (!terms.auth_method.empty()) {
        ap.authentication_method = terms.auth_method;
        if (terms.auth_data) ap.authentication_data = terms.auth_data;
    }
    return ack;
}

void fit_connack(codec::Connack& ack, codec::ProtocolVersion v, std::uint32_t max_packet_size) {
    if (max_packet_size == 0) return;
    auto& ap = ack.properties;
    auto fits = [&] {
        auto n = codec::encoded_size(codec::Packet(ack), v);
        return n && *n <= max_packet_size;
    };
    const std::function<void()> shed[] = {
        [&] { if (ap.shared_subscription_available == 1) ap.shared_subscription_available.reset(); },
        [&] { if (ap.subscription_identifier_available == 1) ap.subscription_identifier_available.reset(); },
        [&] { if (ap.wildcard_subscription_available == 1) ap.wildcard_subscription_available.reset(); },
        [&] { if (ap.retain_available == 1) ap.retain_available.reset(); },
        [&] { ap.reason_string.reset(); },
        [&] { ap.user_properties = {}; },
        [&] { ap.topic_alias_maximum.reset(); },
        [&] { ap.session_expiry_interval.reset(); },
        [&] { ap.receive_maximum.reset(); },
        [&] { ap.maximum_packet_size.reset(); },
        [&] { ap.authentication_data.reset(); },
        [&] { ap = codec::Properties{}; },
    };
    for (const auto& step : shed) {
        if (fits()) break;
        step();
    }
}

}  // namespace moth::broker
