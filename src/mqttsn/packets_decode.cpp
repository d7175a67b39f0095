// MQTT-SN 1.2 datagram decoding (specification sections 5.2 to 5.5). A datagram comes from any host on the network,
// so every field is bounds-checked before it is read and every failure is a value with a reason, never an exception.
// Strict about the shape of each message (the Length must be the datagram's size, no field missing, no octet left
// over), liberal where the specification allows two readings (the 3-octet Length form for a short message).
#include <cstdint>
#include <string>
#include <utility>

#include "common/utf8.hpp"
#include "mqttsn/packets.hpp"

namespace moth::mqttsn {

namespace {

constexpr std::uint8_t kThreeOctetLength = 0x01;
constexpr std::uint8_t kEncapsulated = static_cast<std::uint8_t>(MsgType::Encapsulated);

// The Length and MsgType that open every message (section 5.2.1).
struct Header {
    std::size_t length = 0;  // the Length field's value: the whole message, the Length field included
    std::size_t size = 0;    // octets of Length + MsgType: 2, or 4 in the 3-octet form
    std::uint8_t type = 0;
};

// Why a header cannot be read, or nullptr when `h` holds it.
const char* read_header(Bytes in, Header& h) {
    if (in.empty()) return "empty datagram";
    const auto first = std::to_integer<std::uint8_t>(in[0]);
    std::size_t length_size = 1;
    if (first == kThreeOctetLength) {
        if (in.size() < 3) return "datagram ends inside the 3-octet Length field";
        h.length = (std::to_integer<std::size_t>(in[1]) << 8) | std::to_integer<std::size_t>(in[2]);
        length_size = 3;
    } else {
        h.length = first;
    }
    h.size = length_size + 1;
    if (in.size() < h.size) return "datagram ends before the MsgType field";
    if (h.length < h.size) return "Length is smaller than the Length and MsgType fields";
    h.type = std::to_integer<std::uint8_t>(in[length_size]);
    return nullptr;
}

// Reads the variable part of one message. Each reader returns false after recording why it failed.
class Reader {
public:
    explicit Reader(Bytes body) : in_(body) {}

    [[nodiscard]] std::string_view message() const { return message_; }
    [[nodiscard]] std::size_t left() const { return in_.size() - pos_; }
    [[nodiscard]] bool at_end() const { return pos_ == in_.size(); }

    bool fail(std::string_view message) {
        message_ = message;
        return false;
    }
    bool end() { return at_end() || fail("extra octets after the last field of the message"); }

    bool u8(std::uint8_t& out) {
        if (left() < 1) return fail("message too short: a field is missing");
        out = std::to_integer<std::uint8_t>(in_[pos_++]);
        return true;
    }
    bool u16(std::uint16_t& out) {
        if (left() < 2) return fail("message too short: a field is missing");
        out = static_cast<std::uint16_t>((std::to_integer<unsigned>(in_[pos_]) << 8) |
                                         std::to_integer<unsigned>(in_[pos_ + 1]));
        pos_ += 2;
        return true;
    }
    Buffer rest_bytes() {
        Buffer out(in_.begin() + static_cast<std::ptrdiff_t>(pos_), in_.end());
        pos_ = in_.size();
        return out;
    }
    // The rest of the message as text: topic names and client ids must be UTF-8 without U+0000 or surrogates, as
    // the MQTT names they become inside the broker.
    bool text(std::string& out, std::size_t n = SIZE_MAX) {
        if (n == SIZE_MAX) n = left();
        if (left() < n) return fail("message too short: a field is missing");
        out.assign(reinterpret_cast<const char*>(in_.data() + pos_), n);
        pos_ += n;
        return common::is_valid_mqtt_utf8(out) || fail("text is not valid UTF-8, or contains U+0000 or a surrogate");
    }
    bool nonempty_text(std::string& out) {
        if (at_end()) return fail("message too short: the topic name is missing");
        return text(out);
    }
    // Section 5.3.4. QoS 0b11 (-1) exists only for PUBLISH; TopicIdType 0b11 is reserved everywhere.
    bool flags(Flags& f, bool qos_minus_one_allowed = false) {
        std::uint8_t b = 0;
        if (!u8(b)) return false;
        if ((b & 0x03U) == 0x03U) return fail("reserved TopicIdType 0b11 in Flags");
        const auto qos = static_cast<std::uint8_t>((b >> 5) & 0x03U);
        if (qos == 0x03U && !qos_minus_one_allowed) return fail("QoS -1 in Flags of a message other than PUBLISH");
        f.dup = (b & 0x80U) != 0;
        f.qos = qos == 0x03U ? std::int8_t{-1} : static_cast<std::int8_t>(qos);
        f.retain = (b & 0x10U) != 0;
        f.will = (b & 0x08U) != 0;
        f.clean_session = (b & 0x04U) != 0;
        f.topic_id_type = static_cast<TopicIdType>(b & 0x03U);
        return true;
    }
    // Section 5.3.10: 0x04..0xFF are reserved; refusing them keeps ReturnCode to its named values for every switch.
    bool return_code(ReturnCode& out) {
        std::uint8_t b = 0;
        if (!u8(b)) return false;
        if (b > static_cast<std::uint8_t>(ReturnCode::NotSupported)) return fail("reserved ReturnCode");
        out = static_cast<ReturnCode>(b);
        return true;
    }

private:
    Bytes in_;
    std::size_t pos_ = 0;
    std::string_view message_ = "malformed message";
};

// The readers, one per message (section 5.4). Each reads the variable part after MsgType.
bool read(Reader& r, Advertise& m) { return r.u8(m.gw_id) && r.u16(m.duration_s) && r.end(); }
bool read(Reader& r, SearchGw& m) { return r.u8(m.radius) && r.end(); }
bool read(Reader& r, GwInfo& m) {
    if (!r.u8(m.gw_id)) return false;
    m.gw_address = r.rest_bytes();  // optional: only when a client answers for a gateway
    return true;
}
bool read(Reader& r, Connect& m) {
    if (!r.flags(m.flags) || !r.u8(m.protocol_id)) return false;
    if (m.protocol_id != 0x01) return r.fail("CONNECT ProtocolId is not 0x01");
    return r.u16(m.duration_s) && r.text(m.client_id);
}
bool read(Reader& r, Connack& m) { return r.return_code(m.rc) && r.end(); }
template <class Empty>
bool read_empty(Reader& r, Empty& /*m*/) {
    return r.end();
}
// WILLTOPIC and WILLTOPICUPD. Length 2 (no Flags, no topic) deletes the will. Flags followed by no topic is read
// the same way, not refused: some clients serialise an empty topic after the Flags they always write.
template <class Will>
bool read_will_topic(Reader& r, Will& m) {
    if (r.at_end()) {
        m.empty = true;
        return true;
    }
    Flags flags;
    if (!r.flags(flags) || !r.text(m.topic)) return false;
    m.empty = m.topic.empty();
    if (!m.empty) m.flags = flags;
    return true;
}
bool read(Reader& r, Register& m) { return r.u16(m.topic_id) && r.u16(m.msg_id) && r.nonempty_text(m.topic_name); }
bool read(Reader& r, Regack& m) { return r.u16(m.topic_id) && r.u16(m.msg_id) && r.return_code(m.rc) && r.end(); }
bool read(Reader& r, Publish& m) {
    if (!r.flags(m.flags, true) || !r.u16(m.topic_id) || !r.u16(m.msg_id)) return false;
    m.data = r.rest_bytes();
    return true;
}
bool read(Reader& r, Puback& m) { return r.u16(m.topic_id) && r.u16(m.msg_id) && r.return_code(m.rc) && r.end(); }
template <class Ack>
bool read_msg_id(Reader& r, Ack& m) {
    return r.u16(m.msg_id) && r.end();
}
// SUBSCRIBE and UNSUBSCRIBE: the topic by name, by short name (two characters in the 2-octet field) or by id.
template <class Sub>
bool read_sub(Reader& r, Sub& m) {
    if (!r.flags(m.flags) || !r.u16(m.msg_id)) return false;
    switch (m.flags.topic_id_type) {
        case TopicIdType::Normal: return r.nonempty_text(m.topic_name);
        case TopicIdType::Predefined: return r.u16(m.topic_id) && r.end();
        case TopicIdType::Short:
            if (r.left() != 2) return r.fail("short topic name is not exactly 2 octets");
            return r.text(m.topic_name, 2);
    }
    return r.fail("reserved TopicIdType 0b11 in Flags");
}
bool read(Reader& r, Suback& m) {
    return r.flags(m.flags) && r.u16(m.topic_id) && r.u16(m.msg_id) && r.return_code(m.rc) && r.end();
}
bool read(Reader& r, PingReq& m) { return r.text(m.client_id); }
bool read(Reader& r, Disconnect& m) {
    if (r.at_end()) return true;  // Length 2: an ordinary DISCONNECT
    if (r.left() == 1) return r.fail("DISCONNECT of Length 3: Duration must be 2 octets");
    std::uint16_t duration = 0;
    if (!r.u16(duration) || !r.end()) return false;
    m.duration_s = duration;
    return true;
}
bool read(Reader& r, WillTopicResp& m) { return r.return_code(m.rc) && r.end(); }
bool read(Reader& r, WillMsgResp& m) { return r.return_code(m.rc) && r.end(); }

template <class T, class Fn>
bool read_into(Reader& r, Packet& out, Fn fn) {
    T m;
    if (!fn(r, m)) return false;
    out = std::move(m);
    return true;
}
template <class T>
bool read_into(Reader& r, Packet& out) {
    return read_into<T>(r, out, [](Reader& rr, T& m) { return read(rr, m); });
}
template <class T>
bool read_bytes_into(Reader& r, Packet& out) {  // WILLMSG, WILLMSGUPD: the whole rest, possibly empty
    T m;
    m.message = r.rest_bytes();
    out = std::move(m);
    return true;
}

// The message's variable part by its MsgType; false (with r.message()) for a malformed or unknown one.
bool read_body(Reader& r, std::uint8_t type, Packet& out) {
    switch (static_cast<MsgType>(type)) {
        case MsgType::Advertise: return read_into<Advertise>(r, out);
        case MsgType::SearchGw: return read_into<SearchGw>(r, out);
        case MsgType::GwInfo: return read_into<GwInfo>(r, out);
        case MsgType::Connect: return read_into<Connect>(r, out);
        case MsgType::Connack: return read_into<Connack>(r, out);
        case MsgType::WillTopicReq: return read_into<WillTopicReq>(r, out, read_empty<WillTopicReq>);
        case MsgType::WillTopic: return read_into<WillTopic>(r, out, read_will_topic<WillTopic>);
        case MsgType::WillMsgReq: return read_into<WillMsgReq>(r, out, read_empty<WillMsgReq>);
        case MsgType::WillMsg: return read_bytes_into<WillMsg>(r, out);
        case MsgType::Register: return read_into<Register>(r, out);
        case MsgType::Regack: return read_into<Regack>(r, out);
        case MsgType::Publish: return read_into<Publish>(r, out);
        case MsgType::Puback: return read_into<Puback>(r, out);
        case MsgType::Pubcomp: return read_into<Pubcomp>(r, out, read_msg_id<Pubcomp>);
        case MsgType::Pubrec: return read_into<Pubrec>(r, out, read_msg_id<Pubrec>);
        case MsgType::Pubrel: return read_into<Pubrel>(r, out, read_msg_id<Pubrel>);
        case MsgType::Subscribe: return read_into<Subscribe>(r, out, read_sub<Subscribe>);
        case MsgType::Suback: return read_into<Suback>(r, out);
        case MsgType::Unsubscribe: return read_into<Unsubscribe>(r, out, read_sub<Unsubscribe>);
        case MsgType::Unsuback: return read_into<Unsuback>(r, out, read_msg_id<Unsuback>);
        case MsgType::PingReq: return read_into<PingReq>(r, out);
        case MsgType::PingResp: return read_into<PingResp>(r, out, read_empty<PingResp>);
        case MsgType::Disconnect: return read_into<Disconnect>(r, out);
        case MsgType::WillTopicUpd: return read_into<WillTopicUpd>(r, out, read_will_topic<WillTopicUpd>);
        case MsgType::WillTopicResp: return read_into<WillTopicResp>(r, out);
        case MsgType::WillMsgUpd: return read_bytes_into<WillMsgUpd>(r, out);
        case MsgType::WillMsgResp: return read_into<WillMsgResp>(r, out);
        case MsgType::Encapsulated: return r.fail("encapsulated message inside an encapsulated message");
    }
    return r.fail("unknown MsgType");
}

DecodeResult malformed(std::string_view message) {
    DecodeResult r;
    r.status = DecodeStatus::Malformed;
    r.message = message;
    return r;
}

// One complete message (not an encapsulation header) that must fill `in` exactly.
DecodeResult decode_message(Bytes in, const Header& h) {
    if (h.length != in.size()) return malformed("Length does not match the datagram size");
    Reader reader(in.subspan(h.size));
    DecodeResult r;
    if (!read_body(reader, h.type, r.packet)) return malformed(reader.message());
    r.status = DecodeStatus::Ok;
    return r;
}

// Section 5.5: Length (up to the end of the Wireless Node Id), 0xFE, Ctrl, Wireless Node Id, then the inner message.
DecodeResult decode_encapsulated(Bytes in, const Header& h) {
    if (h.length < h.size + 2) return malformed("encapsulation without Ctrl or Wireless Node Id");
    if (h.length >= in.size()) return malformed("encapsulation without an inner message");
    Forwarder fwd;
    fwd.ctrl = std::to_integer<std::uint8_t>(in[h.size]);
    const auto node = in.subspan(h.size + 1, h.length - h.size - 1);
    fwd.node_id.assign(node.begin(), node.end());
    const auto inner = in.subspan(h.length);
    Header ih;
    if (const char* why = read_header(inner, ih)) return malformed(why);
    if (ih.type == kEncapsulated) return malformed("encapsulated message inside an encapsulated message");
    auto r = decode_message(inner, ih);
    if (r.status == DecodeStatus::Ok) r.forwarder = std::move(fwd);
    return r;
}

}  // namespace

DecodeResult decode(Bytes datagram) {
    Header h;
    if (const char* why = read_header(datagram, h)) return malformed(why);
    if (h.type == kEncapsulated) return decode_encapsulated(datagram, h);
    return decode_message(datagram, h);
}

}  // namespace moth::mqttsn
