// Inputs the decoder must reject, one table row each: the set-up (role, version), the bytes, the reason code the
// specification names (or, where it names none, the one 4.13.1 implies: Malformed Packet for an encoding that
// cannot be parsed, Protocol Error for a well-formed packet breaking a rule), and the normative statement checked.
// Every row is decoded all at once and one byte at a time.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "codec/decoder.hpp"
#include "codec/properties.hpp"
#include "support/codec_helpers.hpp"

namespace moth::codec {
namespace {

using test::ByteVec;
using test::bytes;
using test::cat;
using test::DecoderSetup;
using test::mqtt_string;
using test::packet;

constexpr auto V31 = ProtocolVersion::V3_1;
constexpr auto V311 = ProtocolVersion::V3_1_1;
constexpr auto V5 = ProtocolVersion::V5;
constexpr auto Malformed = ReasonCode::MalformedPacket;
constexpr auto ProtocolErr = ReasonCode::ProtocolError;
constexpr auto Unsupported = ReasonCode::UnsupportedProtocolVersion;

const DecoderSetup S31 = test::server(V31);
const DecoderSetup S311 = test::server(V311);
const DecoderSetup S5 = test::server(V5);
const DecoderSetup C311 = test::client(V311);
const DecoderSetup C5 = test::client(V5);
const DecoderSetup Fresh = test::fresh_server();

struct MalformedCase {
    std::string name;  // test name suffix: letters, digits and '_'
    DecoderSetup setup;
    ByteVec input;
    ReasonCode reason;
    std::string spec;  // the normative statement or section checked
};

std::ostream& operator<<(std::ostream& os, const MalformedCase& c) { return os << c.name << " " << c.spec; }

// Bodies of otherwise valid packets, to which each case applies one defect.
ByteVec connect_body(int level_byte, int flags, const ByteVec& after_keep_alive) {
    const std::string_view name = level_byte == 3 ? "MQIsdp" : "MQTT";
    return cat(mqtt_string(name), bytes({level_byte, flags, 0x00, 0x3C}), after_keep_alive);
}
ByteVec connect5(int flags, const ByteVec& property_block, const ByteVec& payload) {
    return packet(0x10, connect_body(5, flags, cat(test::varint(static_cast<std::uint32_t>(property_block.size())), property_block,
                                                   payload)));
}
ByteVec connect311(int flags, const ByteVec& payload) { return packet(0x10, connect_body(4, flags, payload)); }
ByteVec with_first_byte(ByteVec p, int first) {
    p[0] = static_cast<std::byte>(first);
    return p;
}
ByteVec props(const ByteVec& p) { return cat(test::varint(static_cast<std::uint32_t>(p.size())), p); }
// A 5.0 PUBLISH QoS 1, topic "a/b", packet id 1, with the given property bytes and payload "x".
ByteVec publish5_props(const ByteVec& p) {
    return packet(0x32, cat(mqtt_string("a/b"), bytes({0x00, 0x01}), props(p), bytes({'x'})));
}
ByteVec subscribe5(int options, std::string_view filter = "a/b") {
    return packet(0x82, cat(bytes({0x00, 0x01, 0x00}), mqtt_string(filter), bytes({options})));
}

std::vector<MalformedCase> cases() {
    const ByteVec cid = mqtt_string("c");
    return {
        // ---- Fixed header: reserved flags [MQTT-2.1.3-1] (5.0), [MQTT-2.2.2-1] (3.1.1) -------------------------
        {"reserved_type_0", S5, bytes({0x00, 0x00}), Malformed, "[MQTT-2.1.3-1] packet type 0 is reserved"},
        {"reserved_flags_connect", Fresh, with_first_byte(connect311(0x02, cid), 0x11), Malformed, "[MQTT-2.2.2-1]"},
        {"reserved_flags_connect_v5", Fresh, with_first_byte(connect5(0x02, {}, cid), 0x18), Malformed,
         "[MQTT-2.1.3-1]"},
        {"reserved_flags_connack_v311", C311, bytes({0x21, 0x02, 0x00, 0x00}), Malformed, "[MQTT-2.2.2-1]"},
        {"reserved_flags_connack_v5", C5, bytes({0x28, 0x03, 0x00, 0x00, 0x00}), Malformed, "[MQTT-2.1.3-1]"},
        {"reserved_flags_puback", S5, bytes({0x41, 0x02, 0x00, 0x01}), Malformed, "[MQTT-2.1.3-1]"},
        {"reserved_flags_pubrec", S311, bytes({0x52, 0x02, 0x00, 0x01}), Malformed, "[MQTT-2.2.2-1]"},
        {"reserved_flags_pubrel_0000", S311, bytes({0x60, 0x02, 0x00, 0x01}), Malformed, "[MQTT-3.6.1-1]"},
        {"reserved_flags_pubrel_0011", S5, bytes({0x63, 0x02, 0x00, 0x01}), Malformed, "[MQTT-3.6.1-1]"},
        {"reserved_flags_pubcomp", C5, bytes({0x78, 0x02, 0x00, 0x01}), Malformed, "[MQTT-2.1.3-1]"},
        {"reserved_flags_subscribe_0000", S311, bytes({0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x00}), Malformed,
         "[MQTT-3.8.1-1]"},
        {"reserved_flags_subscribe_0011_v5", S5, bytes({0x83, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 'a', 0x00}),
         Malformed, "[MQTT-3.8.1-1]"},
        {"reserved_flags_suback", C311, bytes({0x91, 0x03, 0x00, 0x01, 0x00}), Malformed, "[MQTT-2.2.2-1]"},
        {"reserved_flags_unsubscribe", S311, bytes({0xA0, 0x05, 0x00, 0x01, 0x00, 0x01, 'a'}), Malformed,
         "[MQTT-3.10.1-1]"},
        {"reserved_flags_unsuback", C5, bytes({0xB2, 0x04, 0x00, 0x01, 0x00, 0x00}), Malformed, "[MQTT-2.1.3-1]"},
        {"reserved_flags_pingreq", S311, bytes({0xC1, 0x00}), Malformed, "[MQTT-2.2.2-1]"},
        {"reserved_flags_pingresp", C5, bytes({0xD8, 0x00}), Malformed, "[MQTT-2.1.3-1]"},
        {"reserved_flags_disconnect", S5, bytes({0xE4, 0x00}), Malformed, "[MQTT-2.1.3-1]"},
        {"reserved_flags_auth", S5, bytes({0xF1, 0x00}), Malformed, "[MQTT-2.1.3-1]"},
        {"publish_qos_3", S311, bytes({0x36, 0x05, 0x00, 0x01, 'a', 0x00, 0x01}), Malformed, "[MQTT-3.3.1-4]"},
        {"publish_qos_3_v5", S5, bytes({0x36, 0x06, 0x00, 0x01, 'a', 0x00, 0x01, 0x00}), Malformed,
         "[MQTT-3.3.1-4]"},
        {"publish_dup_with_qos_0", S311, bytes({0x38, 0x03, 0x00, 0x01, 'a'}), Malformed, "[MQTT-3.3.1-2]"},

        // ---- Remaining Length [MQTT-1.5.5] / 3.1.1 2.2.3 -----------------------------------------------------
        {"remaining_length_5_bytes", S311, bytes({0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F}), Malformed,
         "1.5.5 at most 4 bytes"},
        {"remaining_length_5_bytes_v5", S5, bytes({0xC0, 0x80, 0x80, 0x80, 0x80, 0x00}), Malformed,
         "1.5.5 at most 4 bytes"},
        {"fields_past_remaining_length_topic", S311, bytes({0x30, 0x03, 0x00, 0x0A, 'a'}), Malformed,
         "2.2.3 Topic Name longer than the packet"},
        {"fields_past_remaining_length_packet_id", S311, bytes({0x32, 0x04, 0x00, 0x01, 'a', 0x00}), Malformed,
         "2.2.3 Packet Identifier past the packet"},
        {"ack_body_too_short", S311, bytes({0x40, 0x01, 0x00}), Malformed, "3.4 PUBACK Remaining Length 2"},
        {"connack_body_too_short", C311, bytes({0x20, 0x01, 0x00}), Malformed, "3.2 CONNACK Remaining Length 2"},
        {"trailing_bytes_puback_v311", S311, bytes({0x40, 0x03, 0x00, 0x01, 0x00}), Malformed,
         "3.4.1 Remaining Length 2 (3.1.1)"},
        {"trailing_bytes_connack_v311", C311, bytes({0x20, 0x03, 0x00, 0x00, 0x00}), Malformed,
         "3.2.1 Remaining Length 2 (3.1.1)"},
        {"trailing_bytes_unsuback_v311", C311, bytes({0xB0, 0x03, 0x00, 0x01, 0x00}), Malformed,
         "3.11.1 Remaining Length 2 (3.1.1)"},
        {"trailing_bytes_pingreq_v311", S311, bytes({0xC0, 0x01, 0x00}), Malformed, "3.12.1 Remaining Length 0"},
        {"trailing_bytes_pingresp_v5", C5, bytes({0xD0, 0x01, 0x00}), Malformed, "3.13.1 Remaining Length 0"},
        {"trailing_bytes_disconnect_v311", S311, bytes({0xE0, 0x01, 0x00}), Malformed,
         "3.14.1 Remaining Length 0 (3.1.1)"},
        {"trailing_bytes_connect", Fresh, connect311(0x02, cat(cid, bytes({0x00}))), Malformed,
         "[MQTT-3.1.3-1] no field after Password"},
        {"trailing_bytes_puback_v5_after_properties", S5, bytes({0x40, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00}),
         Malformed, "3.4.2 PUBACK ends after its properties"},
        {"property_length_past_packet", S5, bytes({0x40, 0x05, 0x00, 0x01, 0x00, 0x05, 0x1F}), Malformed,
         "2.2.2.1 Property Length"},
        {"property_value_past_property_length", S5,
         publish5_props(bytes({0x02, 0x00, 0x00}) /* Message Expiry needs 4 bytes */), Malformed,
         "2.2.2.2 value of the specified data type"},
        {"property_id_varint_too_long", S5, publish5_props(bytes({0x80, 0x80, 0x80, 0x80, 0x01})), Malformed,
         "2.2.2.2 identifier is a Variable Byte Integer"},
        {"subscription_identifier_varint_too_long", S5,
         packet(0x82, cat(bytes({0x00, 0x01}), props(bytes({0x0B, 0xFF, 0xFF, 0xFF, 0xFF, 0x01})),
                          mqtt_string("a"), bytes({0x00}))),
         Malformed, "[MQTT-1.5.5] and 3.8.2.1.2"},

        // ---- Strings [MQTT-1.5.4-1] [MQTT-1.5.4-2] ------------------------------------------------------------
        {"string_past_packet_end_client_id", Fresh, connect311(0x02, bytes({0x00, 0x10, 'c'})), Malformed,
         "1.5.4 string length past the packet end"},
        {"string_past_packet_end_user_name", Fresh, connect311(0x82, cid), Malformed,
         "[MQTT-3.1.2-19] User Name Flag 1, User Name missing"},
        {"string_past_packet_end_password", Fresh, connect311(0xC2, cat(cid, mqtt_string("u"))), Malformed,
         "[MQTT-3.1.2-21] Password Flag 1, Password missing"},
        {"string_past_packet_end_will_topic", Fresh, connect311(0x06, cid), Malformed,
         "[MQTT-3.1.2-9] Will Flag 1, Will Topic missing"},
        {"topic_overlong_utf8", S311, packet(0x30, cat(bytes({0x00, 0x03, 'a', 0xC0, 0xAF}), bytes({'x'}))),
         Malformed, "[MQTT-1.5.4-1] overlong form"},
        {"topic_null_character", S311, packet(0x30, cat(bytes({0x00, 0x03, 'a', 0x00, 'b'}))), Malformed,
         "[MQTT-1.5.4-2]"},
        {"topic_surrogate_v5", S5, packet(0x30, cat(bytes({0x00, 0x03, 0xED, 0xA0, 0x80, 0x00}))), Malformed,
         "[MQTT-1.5.4-1] U+D800"},
        {"topic_truncated_utf8", S5, packet(0x30, cat(bytes({0x00, 0x02, 'a', 0xE2, 0x00}))), Malformed,
         "[MQTT-1.5.4-1] truncated sequence"},
        {"client_id_surrogate", Fresh, connect311(0x02, bytes({0x00, 0x03, 0xED, 0xBF, 0xBF})), Malformed,
         "[MQTT-1.5.4-1] [MQTT-3.1.3-4]"},
        {"client_id_null_character_v5", Fresh, connect5(0x02, {}, bytes({0x00, 0x02, 'c', 0x00})), Malformed,
         "[MQTT-1.5.4-2] [MQTT-3.1.3-4]"},
        {"user_name_invalid_utf8", Fresh, connect311(0x82, cat(cid, bytes({0x00, 0x01, 0xFF}))), Malformed,
         "[MQTT-1.5.4-1] [MQTT-3.1.3-10]"},
        {"user_property_key_null_character", S5,
         publish5_props(bytes({0x26, 0x00, 0x01, 0x00, 0x00, 0x01, 'v'})), Malformed, "[MQTT-1.5.7-1] [MQTT-1.5.4-2]"},
        {"user_property_value_surrogate", S5,
         publish5_props(bytes({0x26, 0x00, 0x01, 'k', 0x00, 0x03, 0xED, 0xA0, 0x80})), Malformed,
         "[MQTT-1.5.7-1] [MQTT-1.5.4-1]"},
        {"subscribe_filter_invalid_utf8", S311, packet(0x82, bytes({0x00, 0x01, 0x00, 0x01, 0xC3, 0x00})), Malformed,
         "[MQTT-3.8.3-1] [MQTT-1.5.4-1]"},
        {"unsubscribe_filter_null_character", S5, packet(0xA2, bytes({0x00, 0x01, 0x00, 0x00, 0x01, 0x00})), Malformed,
         "[MQTT-3.10.3-1] [MQTT-1.5.4-2]"},

        // ---- PUBLISH ------------------------------------------------------------------------------------------
        {"publish_topic_plus_wildcard", S311, packet(0x30, cat(mqtt_string("a/+"), bytes({'x'}))), Malformed,
         "[MQTT-3.3.2-2]"},
        {"publish_topic_hash_wildcard_v5", S5, packet(0x30, cat(mqtt_string("a/#"), bytes({0x00, 'x'}))), Malformed,
         "[MQTT-3.3.2-2]"},
        {"publish_topic_wildcard_to_client", C5, packet(0x30, cat(mqtt_string("+"), bytes({0x00}))), Malformed,
         "[MQTT-3.3.2-2]"},
        {"publish_empty_topic_v311", S311, packet(0x30, cat(mqtt_string(""), bytes({'x'}))), Malformed,
         "[MQTT-4.7.3-1] (3.1.1)"},
        {"publish_empty_topic_without_alias_v5", S5, packet(0x30, cat(mqtt_string(""), bytes({0x00, 'x'}))),
         ProtocolErr, "3.3.2.1 zero length Topic Name and no Topic Alias"},
        {"publish_subscription_identifier_from_client", S5, publish5_props(bytes({0x0B, 0x01})), ProtocolErr,
         "[MQTT-3.3.4-6]"},
        {"publish_topic_alias_0", S5, publish5_props(bytes({0x23, 0x00, 0x00})), ReasonCode::TopicAliasInvalid,
         "[MQTT-3.3.2-8], 3.3.2.3.4: Protocol Error, DISCONNECT with 0x94 (Topic Alias invalid)"},
        {"publish_payload_format_indicator_2", S5, publish5_props(bytes({0x01, 0x02})), ProtocolErr,
         "3.3.2.3.2 value 0 or 1 (no reason named; as Request Problem Information)"},
        {"publish_subscription_identifier_0", C5, publish5_props(bytes({0x0B, 0x00})), ProtocolErr,
         "3.3.2.3.8 value 1 to 268,435,455"},
        {"publish_response_topic_wildcard", S5, publish5_props(bytes({0x08, 0x00, 0x01, '#'})), ProtocolErr,
         "[MQTT-3.3.2-14]"},

        // ---- Packet Identifier 0 [MQTT-2.2.1-3] (5.0), [MQTT-2.3.1-1] (3.1.1) --------------------------------
        {"packet_id_0_publish_qos1", S5, bytes({0x32, 0x06, 0x00, 0x01, 'a', 0x00, 0x00, 0x00}), ProtocolErr,
         "[MQTT-2.2.1-3]"},
        {"packet_id_0_publish_qos2_v311", S311, bytes({0x34, 0x05, 0x00, 0x01, 'a', 0x00, 0x00}), ProtocolErr,
         "[MQTT-2.3.1-1]"},
        {"packet_id_0_subscribe", S5, bytes({0x82, 0x07, 0x00, 0x00, 0x00, 0x00, 0x01, 'a', 0x00}), ProtocolErr,
         "[MQTT-2.2.1-3]"},
        {"packet_id_0_subscribe_v311", S311, bytes({0x82, 0x06, 0x00, 0x00, 0x00, 0x01, 'a', 0x00}), ProtocolErr,
         "[MQTT-2.3.1-1]"},
        {"packet_id_0_unsubscribe", S5, bytes({0xA2, 0x06, 0x00, 0x00, 0x00, 0x00, 0x01, 'a'}), ProtocolErr,
         "[MQTT-2.2.1-3]"},
        {"packet_id_0_puback", C5, bytes({0x40, 0x02, 0x00, 0x00}), ProtocolErr, "[MQTT-2.2.1-5]"},
        {"packet_id_0_pubrec_v311", S311, bytes({0x50, 0x02, 0x00, 0x00}), ProtocolErr, "[MQTT-2.3.1-1]"},
        {"packet_id_0_pubrel", S5, bytes({0x62, 0x02, 0x00, 0x00}), ProtocolErr, "[MQTT-2.2.1-5]"},
        {"packet_id_0_pubcomp", C5, bytes({0x70, 0x02, 0x00, 0x00}), ProtocolErr, "[MQTT-2.2.1-5]"},
        {"packet_id_0_suback", C5, bytes({0x90, 0x04, 0x00, 0x00, 0x00, 0x00}), ProtocolErr, "[MQTT-2.2.1-6]"},
        {"packet_id_0_unsuback", C5, bytes({0xB0, 0x04, 0x00, 0x00, 0x00, 0x00}), ProtocolErr, "[MQTT-2.2.1-6]"},

        // ---- Properties (5.0 section 2.2.2) ---------------------------------------------------------------------
        {"duplicate_property_payload_format", S5, publish5_props(bytes({0x01, 0x01, 0x01, 0x01})), ProtocolErr,
         "3.3.2.3.2 Protocol Error to include the Payload Format Indicator more than once"},
        {"duplicate_property_session_expiry", Fresh,
         connect5(0x02, bytes({0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 2}), cid), ProtocolErr,
         "3.1.2.11.2 Protocol Error to include the Session Expiry Interval more than once"},
        {"duplicate_property_reason_string", C5,
         bytes({0x40, 0x0C, 0x00, 0x01, 0x80, 0x08, 0x1F, 0x00, 0x01, 'a', 0x1F, 0x00, 0x01, 'b'}), ProtocolErr,
         "3.4.2.2.2 Protocol Error to include the Reason String more than once"},
        {"duplicate_property_subscription_identifier_in_subscribe", S5,
         packet(0x82, cat(bytes({0x00, 0x01}), props(bytes({0x0B, 0x01, 0x0B, 0x02})), mqtt_string("a"),
                          bytes({0x00}))),
         ProtocolErr, "3.8.2.1.2 Protocol Error to include the Subscription Identifier more than once"},
        {"duplicate_will_property_will_delay", Fresh,
         connect5(0x06, {}, cat(cid, props(bytes({0x18, 0, 0, 0, 1, 0x18, 0, 0, 0, 1})), mqtt_string("w"),
                                mqtt_string("m"))),
         ProtocolErr, "3.1.3.2.2 Protocol Error to include the Will Delay Interval more than once"},
        {"property_not_allowed_topic_alias_in_connect", Fresh, connect5(0x02, bytes({0x23, 0x00, 0x01}), cid),
         Malformed, "2.2.2.2 Identifier not valid for its packet type is a Malformed Packet"},
        {"property_not_allowed_session_expiry_in_publish", S5, publish5_props(bytes({0x11, 0, 0, 0, 1})), Malformed,
         "2.2.2.2 Identifier not valid for its packet type is a Malformed Packet"},
        {"property_not_allowed_will_delay_in_connect_properties", Fresh,
         connect5(0x02, bytes({0x18, 0, 0, 0, 1}), cid), Malformed, "2.2.2.2 (Will Delay is a Will Property)"},
        {"property_not_allowed_session_expiry_in_will_properties", Fresh,
         connect5(0x06, {}, cat(cid, props(bytes({0x11, 0, 0, 0, 1})), mqtt_string("w"), mqtt_string("m"))),
         Malformed, "2.2.2.2 (Session Expiry is not a Will Property)"},
        {"property_not_allowed_reason_string_in_subscribe", S5,
         packet(0x82, cat(bytes({0x00, 0x01}), props(bytes({0x1F, 0x00, 0x01, 'r'})), mqtt_string("a"),
                          bytes({0x00}))),
         Malformed, "2.2.2.2 Identifier not valid for its packet type"},
        {"property_unknown_id_0x00", S5, publish5_props(bytes({0x00, 0x00})), Malformed, "2.2.2.2 Table 2-4"},
        {"property_unknown_id_0x04", S5, publish5_props(bytes({0x04, 0x00})), Malformed, "2.2.2.2 Table 2-4"},
        {"property_unknown_id_0x7f", C5, bytes({0x20, 0x05, 0x00, 0x00, 0x02, 0x7F, 0x00}), Malformed,
         "2.2.2.2 Table 2-4"},
        {"receive_maximum_0_connect", Fresh, connect5(0x02, bytes({0x21, 0x00, 0x00}), cid), ProtocolErr,
         "3.1.2.11.3 Protocol Error ... for it to have the value 0"},
        {"receive_maximum_0_connack", C5, bytes({0x20, 0x06, 0x00, 0x00, 0x03, 0x21, 0x00, 0x00}), ProtocolErr,
         "3.2.2.3.3 Protocol Error ... for it to have the value 0"},
        {"maximum_packet_size_0", Fresh, connect5(0x02, bytes({0x27, 0, 0, 0, 0}), cid), ProtocolErr,
         "3.1.2.11.4 Protocol Error ... for the value to be set to zero"},
        {"maximum_packet_size_0_connack", C5, bytes({0x20, 0x08, 0x00, 0x00, 0x05, 0x27, 0, 0, 0, 0}), ProtocolErr,
         "3.2.2.3.6 Protocol Error ... for the value to be set to zero"},
        {"maximum_qos_2", C5, bytes({0x20, 0x05, 0x00, 0x00, 0x02, 0x24, 0x02}), ProtocolErr,
         "3.2.2.3.4 Protocol Error ... to have a value other than 0 or 1"},
        {"retain_available_2", C5, bytes({0x20, 0x05, 0x00, 0x00, 0x02, 0x25, 0x02}), ProtocolErr,
         "3.2.2.3.5 Protocol Error ... value other than 0 or 1"},
        {"request_problem_information_2", Fresh, connect5(0x02, bytes({0x17, 0x02}), cid), ProtocolErr,
         "3.1.2.11.7 Protocol Error ... value other than 0 or 1"},
        {"request_response_information_2", Fresh, connect5(0x02, bytes({0x19, 0x02}), cid), ProtocolErr,
         "3.1.2.11.6 Protocol Error ... value other than 0 or 1"},
        {"authentication_data_without_method", Fresh, connect5(0x02, bytes({0x16, 0x00, 0x01, 0x01}), cid),
         ProtocolErr, "3.1.2.11.10 Protocol Error to include Authentication Data if there is no Method"},
        {"subscription_identifier_0_in_subscribe", S5,
         packet(0x82, cat(bytes({0x00, 0x01}), props(bytes({0x0B, 0x00})), mqtt_string("a"), bytes({0x00}))),
         ProtocolErr, "3.8.2.1.2 Protocol Error if the Subscription Identifier has a value of 0"},
        {"session_expiry_in_disconnect_from_server", C5, bytes({0xE0, 0x07, 0x00, 0x05, 0x11, 0, 0, 0, 1}),
         ProtocolErr, "[MQTT-3.14.2-2]"},

        // ---- SUBSCRIBE, UNSUBSCRIBE -----------------------------------------------------------------------------
        {"subscribe_no_filters_v311", S311, bytes({0x82, 0x02, 0x00, 0x01}), Malformed,
         "[MQTT-3.8.3-3] (3.1.1) no payload is a protocol violation"},
        {"subscribe_no_filters_v5", S5, bytes({0x82, 0x03, 0x00, 0x01, 0x00}), ProtocolErr,
         "[MQTT-3.8.3-2] SUBSCRIBE with no Payload is a Protocol Error"},
        {"unsubscribe_no_filters_v311", S311, bytes({0xA2, 0x02, 0x00, 0x01}), Malformed, "[MQTT-3.10.3-2] (3.1.1)"},
        {"unsubscribe_no_filters_v5", S5, bytes({0xA2, 0x03, 0x00, 0x01, 0x00}), ProtocolErr,
         "[MQTT-3.10.3-2] UNSUBSCRIBE with no Payload is a Protocol Error"},
        {"subscribe_filter_without_options", S311, bytes({0x82, 0x05, 0x00, 0x01, 0x00, 0x01, 'a'}), Malformed,
         "3.8.3 each Topic Filter is followed by a Requested QoS byte"},
        {"subscription_options_reserved_bit_6", S5, subscribe5(0x41), Malformed, "[MQTT-3.8.3-5]"},
        {"subscription_options_reserved_bit_7", S5, subscribe5(0x80), Malformed, "[MQTT-3.8.3-5]"},
        {"requested_qos_reserved_bits_v311", S311, packet(0x82, cat(bytes({0x00, 0x01}), mqtt_string("a"), bytes({0x04}))),
         Malformed, "[MQTT-3-8.3-4] (3.1.1) upper 6 bits reserved"},
        {"requested_qos_3_v311", S311, packet(0x82, cat(bytes({0x00, 0x01}), mqtt_string("a"), bytes({0x03}))),
         Malformed, "[MQTT-3-8.3-4] (3.1.1) QoS not 0, 1 or 2"},
        {"requested_qos_reserved_bits_v31", S31, packet(0x82, cat(bytes({0x00, 0x01}), mqtt_string("a"), bytes({0x10}))),
         Malformed, "3.1 SUBSCRIBE: upper 6 bits of Requested QoS reserved"},
        {"maximum_qos_3_v5", S5, subscribe5(0x03), ProtocolErr,
         "3.8.3.1 Protocol Error if the Maximum QoS field has the value 3"},
        {"retain_handling_3", S5, subscribe5(0x30), ProtocolErr,
         "3.8.3.1 Protocol Error to send a Retain Handling value of 3"},
        {"no_local_on_shared_subscription", S5, subscribe5(0x04, "$share/g/a"), ProtocolErr, "[MQTT-3.8.3-4]"},

        // ---- CONNECT --------------------------------------------------------------------------------------------
        {"first_packet_not_connect", Fresh, bytes({0xC0, 0x00}), ProtocolErr, "[MQTT-3.1.0-1]"},
        {"first_packet_publish", Fresh, packet(0x30, cat(mqtt_string("a"), bytes({'x'}))), ProtocolErr,
         "[MQTT-3.1.0-1]"},
        {"bad_protocol_name", Fresh,
         packet(0x10, cat(mqtt_string("MQTX"), bytes({0x04, 0x02, 0x00, 0x3C}), cid)), Unsupported,
         "[MQTT-3.1.2-1] MAY send CONNACK 0x84 (Unsupported Protocol Version)"},
        {"bad_protocol_name_lowercase", Fresh,
         packet(0x10, cat(mqtt_string("mqtt"), bytes({0x05, 0x02, 0x00, 0x3C, 0x00}), cid)), Unsupported,
         "[MQTT-3.1.2-1]"},
        {"bad_protocol_level_6", Fresh, packet(0x10, connect_body(6, 0x02, cat(bytes({0x00}), cid))), Unsupported,
         "[MQTT-3.1.2-2]"},
        {"bad_protocol_level_0", Fresh, packet(0x10, connect_body(0, 0x02, cid)), Unsupported, "[MQTT-3.1.2-2]"},
        {"protocol_name_mqtt_with_level_3", Fresh,
         packet(0x10, cat(mqtt_string("MQTT"), bytes({0x03, 0x02, 0x00, 0x3C}), cid)), Unsupported,
         "[MQTT-3.1.2-2] name/level mismatch"},
        {"protocol_name_mqisdp_with_level_4", Fresh,
         packet(0x10, cat(mqtt_string("MQIsdp"), bytes({0x04, 0x02, 0x00, 0x3C}), cid)), Unsupported,
         "[MQTT-3.1.2-2] name/level mismatch"},
        {"connect_reserved_flag", Fresh, connect311(0x03, cid), Malformed, "[MQTT-3.1.2-3]"},
        {"connect_reserved_flag_v5", Fresh, connect5(0x03, {}, cid), Malformed, "[MQTT-3.1.2-3]"},
        {"will_qos_without_will_flag", Fresh, connect311(0x0A, cid), Malformed, "[MQTT-3.1.2-13] (3.1.1)"},
        {"will_retain_without_will_flag", Fresh, connect311(0x22, cid), Malformed, "[MQTT-3.1.2-15] (3.1.1)"},
        {"will_qos_without_will_flag_v5", Fresh, connect5(0x12, {}, cid), Malformed, "[MQTT-3.1.2-11]"},
        {"will_qos_3", Fresh, connect311(0x1E, cat(cid, mqtt_string("w"), mqtt_string("m"))), Malformed,
         "[MQTT-3.1.2-14] (3.1.1)"},
        {"will_qos_3_v5", Fresh, connect5(0x1E, {}, cat(cid, bytes({0x00}), mqtt_string("w"), mqtt_string("m"))),
         Malformed, "3.1.2.6 A value of 3 (0x03) is a Malformed Packet"},
        {"password_without_user_name_v311", Fresh, connect311(0x42, cat(cid, mqtt_string("pw"))), Malformed,
         "[MQTT-3.1.2-22] (3.1.1)"},
        {"connect_at_a_client", C5, connect5(0x02, {}, cid), ProtocolErr, "2.1.2 direction: Client to Server"},

        // ---- Packets the receiving end never gets (5.0 2.1.2 direction of flow) --------------------------------
        {"connack_at_a_server", S5, bytes({0x20, 0x03, 0x00, 0x00, 0x00}), ProtocolErr, "2.1.2 Server to Client"},
        {"suback_at_a_server", S311, bytes({0x90, 0x03, 0x00, 0x01, 0x00}), ProtocolErr, "2.1.2 Server to Client"},
        {"pingresp_at_a_server", S5, bytes({0xD0, 0x00}), ProtocolErr, "2.1.2 Server to Client"},
        {"subscribe_at_a_client", C5, subscribe5(0x00), ProtocolErr, "2.1.2 Client to Server"},
        {"pingreq_at_a_client", C311, bytes({0xC0, 0x00}), ProtocolErr, "2.1.2 Client to Server"},
        {"auth_in_v311", S311, bytes({0xF0, 0x00}), ProtocolErr, "3.1.1 2.2.1: type 15 is reserved"},
        {"auth_in_v31_at_a_client", test::client(V31), bytes({0xF0, 0x00}), ProtocolErr, "3.1: type 15 reserved"},

        // ---- CONNACK ------------------------------------------------------------------------------------------
        {"connack_reserved_ack_flags_v5", C5, bytes({0x20, 0x03, 0x02, 0x00, 0x00}), Malformed, "[MQTT-3.2.2-1]"},
        {"connack_reserved_ack_flags_v311", C311, bytes({0x20, 0x02, 0x80, 0x00}), Malformed,
         "3.1.1 3.2.2.1 bits 7-1 reserved"},
    };
}

class MalformedTest : public ::testing::TestWithParam<MalformedCase> {};

TEST_P(MalformedTest, IsRejectedWithTheReasonTheSpecNames) {
    const MalformedCase& c = GetParam();
    SCOPED_TRACE(c.spec);
    EXPECT_TRUE(test::rejected_with(c.setup, c.input, c.reason));
}

INSTANTIATE_TEST_SUITE_P(Table, MalformedTest, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<MalformedCase>& p) { return p.param.name; });

// ---- Cases that need more than one row's worth of checking -------------------------------------------------

TEST(Malformed, PacketTooLargeBeforeTheBodyArrives) {  // 5.0 3.1.2.11.4; DecoderOptions::max_packet_size
    DecoderSetup setup = test::server(V5);
    setup.max_packet_size = 16;
    Decoder d = test::make_decoder(setup);
    // Remaining Length 128: 131 bytes in all, more than 16. Only the fixed header is there.
    const ByteVec header = bytes({0x30, 0x80, 0x01});
    auto r = d.decode(std::span<const std::byte>(header).first(2));
    EXPECT_EQ(r.status, DecodeStatus::NeedMore) << test::describe(r);
    r = d.decode(header);
    EXPECT_EQ(r.status, DecodeStatus::Error) << test::describe(r);
    EXPECT_EQ(r.reason, ReasonCode::PacketTooLarge);
    // The whole packet is rejected just the same, also byte at a time.
    const ByteVec whole = packet(0x30, cat(mqtt_string("a"), ByteVec(125, std::byte{'x'})));
    ASSERT_EQ(whole.size(), 131U);
    EXPECT_TRUE(test::rejected_with(setup, whole, ReasonCode::PacketTooLarge));
}

TEST(Malformed, PacketOfExactlyTheMaximumSizeIsAccepted) {
    DecoderSetup setup = test::server(V311);
    // 65 bytes: larger than the set-up CONNECT, which must fit too.
    const ByteVec whole = packet(0x30, cat(mqtt_string("a"), ByteVec(60, std::byte{'x'})));
    ASSERT_EQ(whole.size(), 65U);
    setup.max_packet_size = whole.size();
    Decoder d = test::make_decoder(setup);
    EXPECT_EQ(d.decode(whole).status, DecodeStatus::Ok);
    setup.max_packet_size = whole.size() - 1;
    EXPECT_TRUE(test::rejected_with(setup, whole, ReasonCode::PacketTooLarge));
}

TEST(Malformed, SetMaxPacketSizeAppliesToTheNextPacket) {
    Decoder d = test::make_decoder(test::server(V311));
    const ByteVec p = packet(0x30, cat(mqtt_string("a"), ByteVec(10, std::byte{'x'})));
    EXPECT_EQ(d.decode(p).status, DecodeStatus::Ok);
    d.set_max_packet_size(8);
    EXPECT_EQ(d.options().max_packet_size, 8U);
    const auto r = d.decode(p);
    EXPECT_EQ(r.status, DecodeStatus::Error);
    EXPECT_EQ(r.reason, ReasonCode::PacketTooLarge);
}

TEST(Malformed, ConnectErrorAfterTheVersionReportsTheVersion) {  // DecodeResult::connect_version
    for (const auto& [input, version] : std::vector<std::pair<ByteVec, ProtocolVersion>>{
             {connect311(0x03, mqtt_string("c")), V311},                                    // reserved flag
             {connect5(0x02, bytes({0x21, 0x00, 0x00}), mqtt_string("c")), V5},             // Receive Maximum 0
             {packet(0x10, cat(mqtt_string("MQIsdp"), bytes({0x03, 0x01, 0x00, 0x00}))), V31},  // reserved flag
         }) {
        Decoder d = test::make_decoder(Fresh);
        const auto r = d.decode(input);
        ASSERT_EQ(r.status, DecodeStatus::Error) << test::hex(input);
        EXPECT_EQ(r.connect_version, version) << test::hex(input);
        EXPECT_EQ(d.version(), std::nullopt) << "a rejected CONNECT must not set the version";
    }
}

TEST(Malformed, UnsupportedVersionLeavesTheConnectVersionUnset) {
    for (const auto& input : {packet(0x10, connect_body(6, 0x02, cat(bytes({0x00}), mqtt_string("c")))),
                              packet(0x10, cat(mqtt_string("MQIsdp"), bytes({0x04, 0x02, 0x00, 0x3C}),
                                               mqtt_string("c")))}) {
        Decoder d = test::make_decoder(Fresh);
        const auto r = d.decode(input);
        ASSERT_EQ(r.status, DecodeStatus::Error);
        EXPECT_EQ(r.reason, Unsupported);
        EXPECT_EQ(r.connect_version, std::nullopt);
    }
}

TEST(Malformed, ErrorMessagesAreSentences) {
    Decoder d = test::make_decoder(Fresh);
    const auto r = d.decode(bytes({0xC0, 0x00}));
    ASSERT_EQ(r.status, DecodeStatus::Error);
    EXPECT_FALSE(r.message.empty());
}

// Every property outside its scope (Table 2-4), in every packet that carries properties, is rejected as a
// Malformed Packet (2.2.2.2: "A Control Packet which contains an Identifier which is not valid for its packet type
// ... is a Malformed Packet").
ByteVec sample_property(const PropertyInfo& info) {
    const ByteVec id = test::varint(static_cast<std::uint8_t>(info.id));
    switch (info.type) {
        case PropertyType::Byte: return cat(id, bytes({0x01}));
        case PropertyType::TwoByteInteger: return cat(id, bytes({0x00, 0x01}));
        case PropertyType::FourByteInteger: return cat(id, bytes({0x00, 0x00, 0x00, 0x01}));
        case PropertyType::VariableByteInteger: return cat(id, bytes({0x01}));
        case PropertyType::Utf8String: return cat(id, mqtt_string("a"));
        case PropertyType::BinaryData: return cat(id, mqtt_string("a"));
        case PropertyType::Utf8StringPair: return cat(id, mqtt_string("a"), mqtt_string("b"));
    }
    return id;
}

struct Carrier {
    PropertyScope scope;
    DecoderSetup setup;
    ByteVec (*make)(const ByteVec& property_block);  // the whole packet around a properties block
};

std::vector<Carrier> carriers() {
    return {
        {scope_of(PacketType::Connect), Fresh, [](const ByteVec& p) { return connect5(0x02, p, mqtt_string("c")); }},
        {kWillScope, Fresh,
         [](const ByteVec& p) {
             return connect5(0x06, {}, cat(mqtt_string("c"), props(p), mqtt_string("w"), mqtt_string("m")));
         }},
        {scope_of(PacketType::Connack), C5, [](const ByteVec& p) { return packet(0x20, cat(bytes({0, 0}), props(p))); }},
        {scope_of(PacketType::Publish), C5, [](const ByteVec& p) { return publish5_props(p); }},
        {scope_of(PacketType::Puback), C5,
         [](const ByteVec& p) { return packet(0x40, cat(bytes({0, 1, 0}), props(p))); }},
        {scope_of(PacketType::Pubrec), C5,
         [](const ByteVec& p) { return packet(0x50, cat(bytes({0, 1, 0}), props(p))); }},
        {scope_of(PacketType::Pubrel), S5,
         [](const ByteVec& p) { return packet(0x62, cat(bytes({0, 1, 0}), props(p))); }},
        {scope_of(PacketType::Pubcomp), S5,
         [](const ByteVec& p) { return packet(0x70, cat(bytes({0, 1, 0}), props(p))); }},
        {scope_of(PacketType::Subscribe), S5,
         [](const ByteVec& p) { return packet(0x82, cat(bytes({0, 1}), props(p), mqtt_string("a"), bytes({0}))); }},
        {scope_of(PacketType::Suback), C5,
         [](const ByteVec& p) { return packet(0x90, cat(bytes({0, 1}), props(p), bytes({0}))); }},
        {scope_of(PacketType::Unsubscribe), S5,
         [](const ByteVec& p) { return packet(0xA2, cat(bytes({0, 1}), props(p), mqtt_string("a"))); }},
        {scope_of(PacketType::Unsuback), C5,
         [](const ByteVec& p) { return packet(0xB0, cat(bytes({0, 1}), props(p), bytes({0}))); }},
        {scope_of(PacketType::Disconnect), S5, [](const ByteVec& p) { return packet(0xE0, cat(bytes({0}), props(p))); }},
        {scope_of(PacketType::Auth), S5, [](const ByteVec& p) { return packet(0xF0, cat(bytes({0x18}), props(p))); }},
    };
}

TEST(Malformed, EveryPropertyOutsideItsScopeIsMalformed) {
    int checked = 0;
    for (const auto& info : all_properties()) {
        for (const auto& carrier : carriers()) {
            if ((info.scope & carrier.scope) != 0) continue;
            const ByteVec input = carrier.make(sample_property(info));
            SCOPED_TRACE(std::string(info.name) + " in scope bit " + std::to_string(carrier.scope));
            EXPECT_TRUE(test::rejected_with(carrier.setup, input, ReasonCode::MalformedPacket));
            ++checked;
        }
    }
    EXPECT_GT(checked, 200);  // 27 properties x 14 carriers, most combinations are not allowed
}

}  // namespace
}  // namespace moth::codec
