// The decoder's readers for subscription packets: SUBSCRIBE, SUBACK, UNSUBSCRIBE and UNSUBACK (see decoder.cpp for
// the fixed header and the dispatch). Their lists go into the decoder's scratch vectors, which only grow.
#include "codec/decode_context.hpp"
#include "codec/topic.hpp"

namespace moth::codec {

bool DecodeContext::subscribe(Subscribe& s) {
    if (!packet_id(s.packet_id)) return false;
    if (is_v5(v_) && !properties(s.properties, scope_of(PacketType::Subscribe), d_.user_properties_)) return false;
    auto& subs = d_.subscriptions_;
    subs.clear();
    while (!at_end()) {
        Subscription sub;
        std::uint8_t opts = 0;
        if (!utf8(sub.filter) || !u8(opts)) return false;
        const auto qos = static_cast<std::uint8_t>(opts & 3U);
        // 3.1.1 [MQTT-3-8.3-4]: malformed. 5.0 section 3.8.3.1: "It is a Protocol Error if the Maximum QoS field
        // has the value 3".
        if (qos == 3) return is_v5(v_) ? protocol_error("maximum QoS is 3") : malformed("requested QoS is 3");
        sub.options.qos = static_cast<QoS>(qos);
        if (is_v5(v_)) {
            // [MQTT-3.8.3-5]: bits 6 and 7 of the Subscription Options are reserved and MUST be 0.
            if ((opts & 0xC0U) != 0) return malformed("subscription options reserved bits are set");
            sub.options.no_local = (opts & bit(2)) != 0;
            sub.options.retain_as_published = (opts & bit(3)) != 0;
            sub.options.retain_handling = static_cast<std::uint8_t>((opts >> 4) & 3U);
            // Section 3.8.3.1: "It is a Protocol Error to send a Retain Handling value of 3".
            if (sub.options.retain_handling == 3) return protocol_error("retain handling is 3");
            // [MQTT-3.8.3-4]: No Local on a Shared Subscription is a Protocol Error.
            if (sub.options.no_local && parse_shared_filter(sub.filter)) {
                return protocol_error("no local set on a shared subscription");
            }
        } else if ((opts & 0xFCU) != 0) {
            // 3.1.1 [MQTT-3-8.3-4]: the upper 6 bits of the Requested QoS byte are reserved.
            return malformed("requested QoS byte has reserved bits set");
        }
        subs.push_back(sub);
    }
    // [MQTT-3.8.3-3] (3.1.1 [MQTT-3.8.3-3]): at least one Topic Filter.
    if (subs.empty()) {
        return is_v5(v_) ? protocol_error("SUBSCRIBE without topic filters")
                         : malformed("SUBSCRIBE without topic filters");
    }
    s.subscriptions = subs;
    return true;
}

bool DecodeContext::suback(Suback& s) {
    if (!packet_id(s.packet_id)) return false;
    if (is_v5(v_) && !properties(s.properties, scope_of(PacketType::Suback), d_.user_properties_)) return false;
    auto& codes = d_.reason_codes_;
    codes.clear();
    while (!at_end()) {
        ReasonCode rc{};
        if (is_v5(v_)) {
            if (!reason_code(rc, PacketType::Suback)) return false;
        } else {
            std::uint8_t b = 0;
            if (!u8(b)) return false;
            // 3.1.1 [MQTT-3.9.3-2]: 0x00, 0x01, 0x02 or 0x80.
            if (b > 2 && b != 0x80) return protocol_error("SUBACK return code not allowed");
            rc = static_cast<ReasonCode>(b);
        }
        codes.push_back(rc);
    }
    if (codes.empty()) return malformed("SUBACK without return codes");
    s.reason_codes = codes;
    return true;
}

bool DecodeContext::unsubscribe(Unsubscribe& u) {
    if (!packet_id(u.packet_id)) return false;
    if (is_v5(v_) && !properties(u.properties, scope_of(PacketType::Unsubscribe), d_.user_properties_)) return false;
    auto& filters = d_.filters_;
    filters.clear();
    while (!at_end()) {
        std::string_view f;
        if (!utf8(f)) return false;
        filters.push_back(f);
    }
    // [MQTT-3.10.3-2]: at least one Topic Filter.
    if (filters.empty()) {
        return is_v5(v_) ? protocol_error("UNSUBSCRIBE without topic filters")
                         : malformed("UNSUBSCRIBE without topic filters");
    }
    u.filters = filters;
    return true;
}

bool DecodeContext::unsuback(Unsuback& u) {
    if (!packet_id(u.packet_id)) return false;
    if (!is_v5(v_)) return expect_end("UNSUBACK longer than 2 bytes");
    if (!properties(u.properties, scope_of(PacketType::Unsuback), d_.user_properties_)) return false;
    auto& codes = d_.reason_codes_;
    codes.clear();
    while (!at_end()) {
        ReasonCode rc{};
        if (!reason_code(rc, PacketType::Unsuback)) return false;
        codes.push_back(rc);
    }
    if (codes.empty()) return malformed("UNSUBACK without reason codes");
    u.reason_codes = codes;
    return true;
}

}  // namespace moth::codec
