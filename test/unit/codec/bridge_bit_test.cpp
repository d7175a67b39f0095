// The bridge bit in CONNECT: not in any MQTT specification, but Mosquitto (bridge try_private) and FlashMQ send
// 0x80 | protocol level for 3.1 and 3.1.1 so that the broker they bridge into treats them as a bridge (no own
// messages back, retain flag kept). Golden bytes both ways, decoded all at once and one byte at a time.
#include <gtest/gtest.h>

#include "codec/decoder.hpp"
#include "codec/encoder.hpp"
#include "codec/packets.hpp"
#include "support/codec_helpers.hpp"

namespace moth::codec {
namespace {

using test::bytes;
using test::ByteVec;
using test::hex;

Connect bridge_connect(ProtocolVersion v, std::string_view client_id) {
    Connect c;
    c.version = v;
    c.bridge = true;
    c.clean_start = false;
    c.keep_alive_s = 60;
    c.client_id = client_id;
    return c;
}

// Encodes `c` to exactly `wire`, and a fresh server decoder turns `wire` back into `c` (and learns the version).
void check_both_ways(const Connect& c, const ByteVec& wire) {
    ASSERT_EQ(test::announced_packet_size(wire), wire.size()) << "golden Remaining Length is wrong: " << hex(wire);
    const ByteVec out = test::encode_or_fail(c, c.version);
    EXPECT_EQ(out, wire) << "\n  encoded:  " << hex(out) << "\n  expected: " << hex(wire);
    EXPECT_TRUE(test::decodes_to(test::fresh_server(), wire, c, c.version));
    Decoder d = test::make_decoder(test::fresh_server());
    const auto r = d.decode(wire);
    ASSERT_EQ(r.status, DecodeStatus::Ok) << test::describe(r);
    EXPECT_TRUE(std::get<Connect>(r.packet).bridge);
    EXPECT_EQ(d.version(), c.version);  // the level without the bit: later packets decode as that version
}

TEST(BridgeBit, V311IsLevel0x84BothWays) {
    check_both_ways(bridge_connect(ProtocolVersion::V3_1_1, "br"),
                    bytes({
                        0x10,                            // CONNECT, flags 0
                        0x0E,                            // Remaining Length 14
                        0x00, 0x04, 'M', 'Q', 'T', 'T',  // Protocol Name "MQTT"
                        0x84,                            // Protocol Level 4 | 0x80: bridge
                        0x00,                            // Connect Flags: none (persistent session)
                        0x00, 0x3C,                      // Keep Alive 60 s
                        0x00, 0x02, 'b', 'r',            // Client Identifier "br"
                    }));
}

TEST(BridgeBit, V31IsLevel0x83BothWays) {
    check_both_ways(bridge_connect(ProtocolVersion::V3_1, "br"),
                    bytes({
                        0x10,                                      // CONNECT, flags 0
                        0x10,                                      // Remaining Length 16
                        0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p',  // Protocol Name "MQIsdp"
                        0x83,                                      // Protocol Version 3 | 0x80: bridge
                        0x00,                                      // Connect Flags: none
                        0x00, 0x3C,                                // Keep Alive 60 s
                        0x00, 0x02, 'b', 'r',                      // Client Identifier "br"
                    }));
}

TEST(BridgeBit, V5EncoderIgnoresIt) {  // 5.0 has no-local instead; level 0x85 would be refused
    const Connect c = bridge_connect(ProtocolVersion::V5, "br");
    const ByteVec wire = bytes({
        0x10,                            // CONNECT, flags 0
        0x0F,                            // Remaining Length 15
        0x00, 0x04, 'M', 'Q', 'T', 'T',  // Protocol Name "MQTT"
        0x05,                            // Protocol Version 5, no bridge bit
        0x00,                            // Connect Flags: none
        0x00, 0x3C,                      // Keep Alive 60 s
        0x00,                            // Properties: none
        0x00, 0x02, 'b', 'r',            // Client Identifier "br"
    });
    EXPECT_EQ(test::encode_or_fail(c, ProtocolVersion::V5), wire);
    Connect plain = c;
    plain.bridge = false;
    EXPECT_TRUE(test::decodes_to(test::fresh_server(), wire, plain, ProtocolVersion::V5));
}

TEST(BridgeBit, WithoutItTheLevelIsPlain) {
    Connect c = bridge_connect(ProtocolVersion::V3_1_1, "br");
    c.bridge = false;
    const ByteVec out = test::encode_or_fail(c, ProtocolVersion::V3_1_1);
    ASSERT_GT(out.size(), 8U);
    EXPECT_EQ(out[8], std::byte{0x04});  // Protocol Level 4
}

// [MQTT-3.1.2-2]: a level the server does not support is answered with 0x84 (Unsupported Protocol Version).
TEST(BridgeBit, Level0x85IsRefused) {
    const ByteVec wire = test::packet(
        0x10, test::cat(test::mqtt_string("MQTT"), bytes({0x85, 0x02, 0x00, 0x3C, 0x00}), test::mqtt_string("br")));
    EXPECT_TRUE(test::rejected_with(test::fresh_server(), wire, ReasonCode::UnsupportedProtocolVersion));
}

TEST(BridgeBit, NameAndLevelMustStillMatch) {  // [MQTT-3.1.2-2]: the bit does not relax the name/level pairing
    const ByteVec cid = test::mqtt_string("br");
    const ByteVec mqtt_83 =
        test::packet(0x10, test::cat(test::mqtt_string("MQTT"), bytes({0x83, 0x02, 0x00, 0x3C}), cid));
    const ByteVec mqisdp_84 =
        test::packet(0x10, test::cat(test::mqtt_string("MQIsdp"), bytes({0x84, 0x02, 0x00, 0x3C}), cid));
    const ByteVec mqtt_80 =
        test::packet(0x10, test::cat(test::mqtt_string("MQTT"), bytes({0x80, 0x02, 0x00, 0x3C}), cid));
    EXPECT_TRUE(test::rejected_with(test::fresh_server(), mqtt_83, ReasonCode::UnsupportedProtocolVersion));
    EXPECT_TRUE(test::rejected_with(test::fresh_server(), mqisdp_84, ReasonCode::UnsupportedProtocolVersion));
    EXPECT_TRUE(test::rejected_with(test::fresh_server(), mqtt_80, ReasonCode::UnsupportedProtocolVersion));
}

}  // namespace
}  // namespace moth::codec
