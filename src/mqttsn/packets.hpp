#pragma once
// MQTT-SN 1.2 messages (OASIS / IBM "MQTT For Sensor Networks, Protocol Specification Version 1.2"): the typed
// messages, and their encoding to and decoding from one UDP datagram. No I/O, no clock.
//
// A datagram carries exactly one message (section 5.2): Length (1 octet, or 0x01 followed by 2 octets for 256 and
// more), MsgType (1 octet), then the message's variable part. A forwarder in front of the gateway wraps the message
// in an Encapsulated header (type 0xFE, section 5.5): Length, 0xFE, Ctrl, Wireless Node Id, then the inner message.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace moth::mqttsn {

using Bytes = std::span<const std::byte>;
using Buffer = std::vector<std::byte>;

enum class MsgType : std::uint8_t {
    Advertise = 0x00,
    SearchGw = 0x01,
    GwInfo = 0x02,
    Connect = 0x04,
    Connack = 0x05,
    WillTopicReq = 0x06,
    WillTopic = 0x07,
    WillMsgReq = 0x08,
    WillMsg = 0x09,
    Register = 0x0A,
    Regack = 0x0B,
    Publish = 0x0C,
    Puback = 0x0D,
    Pubcomp = 0x0E,
    Pubrec = 0x0F,
    Pubrel = 0x10,
    Subscribe = 0x12,
    Suback = 0x13,
    Unsubscribe = 0x14,
    Unsuback = 0x15,
    PingReq = 0x16,
    PingResp = 0x17,
    Disconnect = 0x18,
    WillTopicUpd = 0x1A,
    WillTopicResp = 0x1B,
    WillMsgUpd = 0x1C,
    WillMsgResp = 0x1D,
    Encapsulated = 0xFE,
};

// "ADVERTISE", "PUBLISH", ... ; "UNKNOWN" for a value that names no message.
[[nodiscard]] std::string_view msg_type_name(MsgType t) noexcept;

enum class ReturnCode : std::uint8_t {
    Accepted = 0x00,
    Congestion = 0x01,      // "Rejected: congestion"
    InvalidTopicId = 0x02,  // "Rejected: invalid topic ID"
    NotSupported = 0x03,    // "Rejected: not supported"
};

enum class TopicIdType : std::uint8_t {
    Normal = 0,      // PUBLISH: a registered topic id; SUBSCRIBE/UNSUBSCRIBE: a topic name (may hold wildcards)
    Predefined = 1,  // a topic id both sides know in advance (the gateway's config)
    Short = 2,       // a two-character topic name carried in the 2-octet TopicId field
};

// The Flags octet (section 5.3.4). qos is -1 (only PUBLISH, "QoS level 3" on the wire: 0b11), 0, 1 or 2.
// Decoding rejects TopicIdType 0b11 (reserved) as malformed.
struct Flags {
    bool dup = false;
    std::int8_t qos = 0;
    bool retain = false;
    bool will = false;
    bool clean_session = false;
    TopicIdType topic_id_type = TopicIdType::Normal;
    friend bool operator==(const Flags&, const Flags&) = default;
};
[[nodiscard]] std::uint8_t encode_flags(const Flags& f) noexcept;

// A short topic name as the 2-octet TopicId field carries it ("ab" -> 0x6162) and back.
[[nodiscard]] std::uint16_t short_topic_id(std::string_view two_chars) noexcept;  // precondition: size() == 2
[[nodiscard]] std::string short_topic_name(std::uint16_t id);

struct Advertise {
    std::uint8_t gw_id = 0;
    std::uint16_t duration_s = 0;  // until the next ADVERTISE
    friend bool operator==(const Advertise&, const Advertise&) = default;
};
struct SearchGw {
    std::uint8_t radius = 0;
    friend bool operator==(const SearchGw&, const SearchGw&) = default;
};
struct GwInfo {
    std::uint8_t gw_id = 0;
    Buffer gw_address;  // present only when a client answers for a gateway; empty from the gateway itself
    friend bool operator==(const GwInfo&, const GwInfo&) = default;
};
struct Connect {
    Flags flags;                   // will and clean_session only
    std::uint8_t protocol_id = 1;  // 0x01 (decoding rejects any other value as malformed)
    std::uint16_t duration_s = 0;  // keep alive
    std::string client_id;         // 1..23 characters in the spec; decoding accepts 0..max (the gateway decides)
    friend bool operator==(const Connect&, const Connect&) = default;
};
struct Connack {
    ReturnCode rc = ReturnCode::Accepted;
    friend bool operator==(const Connack&, const Connack&) = default;
};
struct WillTopicReq {
    friend bool operator==(const WillTopicReq&, const WillTopicReq&) = default;
};
// An empty WILLTOPIC (no Flags, no topic: Length 2) deletes the will: `empty` is true and the rest is ignored.
struct WillTopic {
    Flags flags;  // qos, retain
    std::string topic;
    bool empty = false;
    friend bool operator==(const WillTopic&, const WillTopic&) = default;
};
struct WillMsgReq {
    friend bool operator==(const WillMsgReq&, const WillMsgReq&) = default;
};
struct WillMsg {
    Buffer message;
    friend bool operator==(const WillMsg&, const WillMsg&) = default;
};
struct Register {
    std::uint16_t topic_id = 0;  // 0x0000 when sent by a client
    std::uint16_t msg_id = 0;
    std::string topic_name;
    friend bool operator==(const Register&, const Register&) = default;
};
struct Regack {
    std::uint16_t topic_id = 0;
    std::uint16_t msg_id = 0;
    ReturnCode rc = ReturnCode::Accepted;
    friend bool operator==(const Regack&, const Regack&) = default;
};
struct Publish {
    Flags flags;                 // dup, qos (-1..2), retain, topic_id_type
    std::uint16_t topic_id = 0;  // registered or predefined id, or a short name (short_topic_id)
    std::uint16_t msg_id = 0;    // 0x0000 for QoS 0 and -1
    Buffer data;
    friend bool operator==(const Publish&, const Publish&) = default;
};
struct Puback {
    std::uint16_t topic_id = 0;
    std::uint16_t msg_id = 0;
    ReturnCode rc = ReturnCode::Accepted;
    friend bool operator==(const Puback&, const Puback&) = default;
};
struct Pubrec {
    std::uint16_t msg_id = 0;
    friend bool operator==(const Pubrec&, const Pubrec&) = default;
};
struct Pubrel {
    std::uint16_t msg_id = 0;
    friend bool operator==(const Pubrel&, const Pubrel&) = default;
};
struct Pubcomp {
    std::uint16_t msg_id = 0;
    friend bool operator==(const Pubcomp&, const Pubcomp&) = default;
};
// SUBSCRIBE and UNSUBSCRIBE name their topic by name (Normal: `topic_name`, any length, wildcards allowed), by a
// two-character short name (Short: `topic_name` holds the two characters; on the wire they are the 2-octet field)
// or by a predefined id (Predefined: `topic_id`).
struct Subscribe {
    Flags flags;  // dup, qos (0..2; -1 is malformed here), topic_id_type
    std::uint16_t msg_id = 0;
    std::string topic_name;
    std::uint16_t topic_id = 0;
    friend bool operator==(const Subscribe&, const Subscribe&) = default;
};
struct Suback {
    Flags flags;                 // qos: the granted QoS
    std::uint16_t topic_id = 0;  // the id the gateway assigned for a topic name without wildcards, else 0x0000
    std::uint16_t msg_id = 0;
    ReturnCode rc = ReturnCode::Accepted;
    friend bool operator==(const Suback&, const Suback&) = default;
};
struct Unsubscribe {
    Flags flags;  // topic_id_type only
    std::uint16_t msg_id = 0;
    std::string topic_name;
    std::uint16_t topic_id = 0;
    friend bool operator==(const Unsubscribe&, const Unsubscribe&) = default;
};
struct Unsuback {
    std::uint16_t msg_id = 0;
    friend bool operator==(const Unsuback&, const Unsuback&) = default;
};
struct PingReq {
    std::string client_id;  // empty: none (an awake client); set: a sleeping client asking for its messages
    friend bool operator==(const PingReq&, const PingReq&) = default;
};
struct PingResp {
    friend bool operator==(const PingResp&, const PingResp&) = default;
};
struct Disconnect {
    std::optional<std::uint16_t> duration_s;  // set: the client goes to sleep for that long
    friend bool operator==(const Disconnect&, const Disconnect&) = default;
};
// An empty WILLTOPICUPD (Length 2) deletes the will, as WillTopic.
struct WillTopicUpd {
    Flags flags;
    std::string topic;
    bool empty = false;
    friend bool operator==(const WillTopicUpd&, const WillTopicUpd&) = default;
};
struct WillTopicResp {
    ReturnCode rc = ReturnCode::Accepted;
    friend bool operator==(const WillTopicResp&, const WillTopicResp&) = default;
};
struct WillMsgUpd {
    Buffer message;
    friend bool operator==(const WillMsgUpd&, const WillMsgUpd&) = default;
};
struct WillMsgResp {
    ReturnCode rc = ReturnCode::Accepted;
    friend bool operator==(const WillMsgResp&, const WillMsgResp&) = default;
};

using Packet = std::variant<Advertise, SearchGw, GwInfo, Connect, Connack, WillTopicReq, WillTopic, WillMsgReq,
                            WillMsg, Register, Regack, Publish, Puback, Pubrec, Pubrel, Pubcomp, Subscribe, Suback,
                            Unsubscribe, Unsuback, PingReq, PingResp, Disconnect, WillTopicUpd, WillTopicResp,
                            WillMsgUpd, WillMsgResp>;

[[nodiscard]] MsgType msg_type(const Packet& p) noexcept;

// The forwarder's wrapping (section 5.5): Ctrl carries the broadcast radius in its two low bits; the Wireless Node
// Id (1 or more octets) names the radio node behind the forwarder. A reply goes back wrapped the same way.
struct Forwarder {
    std::uint8_t ctrl = 0;
    Buffer node_id;
    friend bool operator==(const Forwarder&, const Forwarder&) = default;
};

enum class DecodeStatus : std::uint8_t {
    Ok,         // `packet` (and `forwarder` when wrapped) hold the message
    Malformed,  // `message` says why; the datagram is to be dropped (and counted), never answered
};

struct DecodeResult {
    DecodeStatus status = DecodeStatus::Malformed;
    Packet packet;
    std::optional<Forwarder> forwarder;
    std::string_view message;  // Malformed only: a static English sentence, for logs
};

// One whole datagram. The Length field must equal the datagram's size (of the inner message too, when
// encapsulated); a message with fields missing, extra octets, an unknown MsgType, a reserved TopicIdType, QoS -1
// where only PUBLISH allows it, a Connect protocol id other than 0x01, or text that is not UTF-8 (topic names, client
// ids) is Malformed. Nested encapsulation is Malformed. Never throws.
[[nodiscard]] DecodeResult decode(Bytes datagram);

// The datagram for `p` (wrapped for `fwd` when given): 1-octet Length up to 255 octets, else 0x01 + 2 octets.
// Precondition: the message fits in 65,535 octets (the caller limits topic and payload sizes).
[[nodiscard]] Buffer encode(const Packet& p, const std::optional<Forwarder>& fwd = std::nullopt);

// The largest payload a PUBLISH can carry in one datagram of `max_datagram` octets (3-octet Length, header 7).
[[nodiscard]] constexpr std::size_t max_publish_data(std::size_t max_datagram) noexcept {
    return max_datagram > 10 ? max_datagram - 10 : 0;
}

}  // namespace moth::mqttsn
