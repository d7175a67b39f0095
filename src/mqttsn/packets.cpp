// MQTT-SN 1.2: what the encoder and the decoder share (names, the Flags octet, short topic names). The two directions
// live in packets_decode.cpp and packets_encode.cpp.
#include "mqttsn/packets.hpp"

#include <iterator>

namespace moth::mqttsn {

std::string_view msg_type_name(MsgType t) noexcept {
    switch (t) {
        case MsgType::Advertise: return "ADVERTISE";
        case MsgType::SearchGw: return "SEARCHGW";
        case MsgType::GwInfo: return "GWINFO";
        case MsgType::Connect: return "CONNECT";
        case MsgType::Connack: return "CONNACK";
        case MsgType::WillTopicReq: return "WILLTOPICREQ";
        case MsgType::WillTopic: return "WILLTOPIC";
        case MsgType::WillMsgReq: return "WILLMSGREQ";
        case MsgType::WillMsg: return "WILLMSG";
        case MsgType::Register: return "REGISTER";
        case MsgType::Regack: return "REGACK";
        case MsgType::Publish: return "PUBLISH";
        case MsgType::Puback: return "PUBACK";
        case MsgType::Pubcomp: return "PUBCOMP";
        case MsgType::Pubrec: return "PUBREC";
        case MsgType::Pubrel: return "PUBREL";
        case MsgType::Subscribe: return "SUBSCRIBE";
        case MsgType::Suback: return "SUBACK";
        case MsgType::Unsubscribe: return "UNSUBSCRIBE";
        case MsgType::Unsuback: return "UNSUBACK";
        case MsgType::PingReq: return "PINGREQ";
        case MsgType::PingResp: return "PINGRESP";
        case MsgType::Disconnect: return "DISCONNECT";
        case MsgType::WillTopicUpd: return "WILLTOPICUPD";
        case MsgType::WillTopicResp: return "WILLTOPICRESP";
        case MsgType::WillMsgUpd: return "WILLMSGUPD";
        case MsgType::WillMsgResp: return "WILLMSGRESP";
        case MsgType::Encapsulated: return "ENCAPSULATED";
    }
    return "UNKNOWN";
}

std::uint8_t encode_flags(const Flags& f) noexcept {
    // QoS -1 is 0b11 on the wire, which is also what masking its two's complement gives.
    const auto qos = static_cast<unsigned>(static_cast<std::uint8_t>(f.qos)) & 0x03U;
    unsigned out = qos << 5;
    if (f.dup) out |= 0x80U;
    if (f.retain) out |= 0x10U;
    if (f.will) out |= 0x08U;
    if (f.clean_session) out |= 0x04U;
    out |= static_cast<unsigned>(f.topic_id_type) & 0x03U;
    return static_cast<std::uint8_t>(out);
}

std::uint16_t short_topic_id(std::string_view two_chars) noexcept {
    // The precondition is size() == 2; a shorter name is padded with 0x00 rather than read past its end.
    const auto at = [&](std::size_t i) {
        return i < two_chars.size() ? static_cast<unsigned>(static_cast<unsigned char>(two_chars[i])) : 0U;
    };
    return static_cast<std::uint16_t>((at(0) << 8) | at(1));
}

std::string short_topic_name(std::uint16_t id) {
    return std::string{static_cast<char>(id >> 8), static_cast<char>(id & 0xFF)};
}

namespace {

// MsgType by the Packet alternative's index: the order of the variant's alternatives.
constexpr MsgType kTypeByIndex[] = {
    MsgType::Advertise,     MsgType::SearchGw,     MsgType::GwInfo,       MsgType::Connect,    MsgType::Connack,
    MsgType::WillTopicReq,  MsgType::WillTopic,    MsgType::WillMsgReq,   MsgType::WillMsg,    MsgType::Register,
    MsgType::Regack,        MsgType::Publish,      MsgType::Puback,       MsgType::Pubrec,     MsgType::Pubrel,
    MsgType::Pubcomp,       MsgType::Subscribe,    MsgType::Suback,       MsgType::Unsubscribe, MsgType::Unsuback,
    MsgType::PingReq,       MsgType::PingResp,     MsgType::Disconnect,   MsgType::WillTopicUpd,
    MsgType::WillTopicResp, MsgType::WillMsgUpd,   MsgType::WillMsgResp,
};
static_assert(std::size(kTypeByIndex) == std::variant_size_v<Packet>);

}  // namespace

MsgType msg_type(const Packet& p) noexcept {
    // A valueless variant (only after an exception during assignment) has no type; index() is then npos.
    return p.index() < std::size(kTypeByIndex) ? kTypeByIndex[p.index()] : MsgType::Encapsulated;
}

}  // namespace moth::mqttsn
