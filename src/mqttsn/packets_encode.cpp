// MQTT-SN 1.2 datagram encoding (specification sections 5.2 to 5.5). The message is written after room for the
// longest Length form, then the Length is filled in and the unused octets dropped, so each message is written once.
#include <string_view>

#include "mqttsn/packets.hpp"

namespace moth::mqttsn {

namespace {

constexpr std::size_t kMaxShortLength = 255;  // the largest Length the 1-octet form can carry
constexpr std::size_t kLongLengthSize = 3;    // 0x01, then the Length in 2 octets

class Writer {
public:
    explicit Writer(Buffer& out) : out_(out) {}
    void u8(std::uint8_t v) { out_.push_back(static_cast<std::byte>(v)); }
    void u16(std::uint16_t v) {
        u8(static_cast<std::uint8_t>(v >> 8));
        u8(static_cast<std::uint8_t>(v & 0xFF));
    }
    void bytes(Bytes b) { out_.insert(out_.end(), b.begin(), b.end()); }
    void text(std::string_view s) { bytes({reinterpret_cast<const std::byte*>(s.data()), s.size()}); }
    void flags(const Flags& f) { u8(encode_flags(f)); }
    void rc(ReturnCode c) { u8(static_cast<std::uint8_t>(c)); }

private:
    Buffer& out_;
};

// The variable part of each message (section 5.4), after MsgType.
void put(Writer& w, const Advertise& m) {
    w.u8(m.gw_id);
    w.u16(m.duration_s);
}
void put(Writer& w, const SearchGw& m) { w.u8(m.radius); }
void put(Writer& w, const GwInfo& m) {
    w.u8(m.gw_id);
    w.bytes(m.gw_address);
}
void put(Writer& w, const Connect& m) {
    w.flags(m.flags);
    w.u8(m.protocol_id);
    w.u16(m.duration_s);
    w.text(m.client_id);
}
void put(Writer& w, const Connack& m) { w.rc(m.rc); }
void put(Writer&, const WillTopicReq&) {}
void put(Writer&, const WillMsgReq&) {}
void put(Writer&, const PingResp&) {}
// An empty will topic is the 2-octet message that deletes the will: no Flags either.
template <class Will>
void put_will_topic(Writer& w, const Will& m) {
    if (m.empty) return;
    w.flags(m.flags);
    w.text(m.topic);
}
void put(Writer& w, const WillTopic& m) { put_will_topic(w, m); }
void put(Writer& w, const WillTopicUpd& m) { put_will_topic(w, m); }
void put(Writer& w, const WillMsg& m) { w.bytes(m.message); }
void put(Writer& w, const WillMsgUpd& m) { w.bytes(m.message); }
void put(Writer& w, const Register& m) {
    w.u16(m.topic_id);
    w.u16(m.msg_id);
    w.text(m.topic_name);
}
void put(Writer& w, const Regack& m) {
    w.u16(m.topic_id);
    w.u16(m.msg_id);
    w.rc(m.rc);
}
void put(Writer& w, const Publish& m) {
    w.flags(m.flags);
    w.u16(m.topic_id);
    w.u16(m.msg_id);
    w.bytes(m.data);
}
void put(Writer& w, const Puback& m) {
    w.u16(m.topic_id);
    w.u16(m.msg_id);
    w.rc(m.rc);
}
void put(Writer& w, const Pubrec& m) { w.u16(m.msg_id); }
void put(Writer& w, const Pubrel& m) { w.u16(m.msg_id); }
void put(Writer& w, const Pubcomp& m) { w.u16(m.msg_id); }
void put(Writer& w, const Unsuback& m) { w.u16(m.msg_id); }
template <class Sub>
void put_sub(Writer& w, const Sub& m) {
    w.flags(m.flags);
    w.u16(m.msg_id);
    switch (m.flags.topic_id_type) {
        case TopicIdType::Normal: w.text(m.topic_name); return;
        case TopicIdType::Predefined: w.u16(m.topic_id); return;
        case TopicIdType::Short: w.u16(short_topic_id(m.topic_name)); return;
    }
}
void put(Writer& w, const Subscribe& m) { put_sub(w, m); }
void put(Writer& w, const Unsubscribe& m) { put_sub(w, m); }
void put(Writer& w, const Suback& m) {
    w.flags(m.flags);
    w.u16(m.topic_id);
    w.u16(m.msg_id);
    w.rc(m.rc);
}
void put(Writer& w, const PingReq& m) { w.text(m.client_id); }
void put(Writer& w, const Disconnect& m) {
    if (m.duration_s) w.u16(*m.duration_s);
}
void put(Writer& w, const WillTopicResp& m) { w.rc(m.rc); }
void put(Writer& w, const WillMsgResp& m) { w.rc(m.rc); }

// Fills in the Length of the message written at out[start + kLongLengthSize ...] (MsgType onwards), in the 1-octet
// form when the whole message fits in 255 octets, and closes the gap left for the longer form.
void frame(Buffer& out, std::size_t start) {
    const std::size_t rest = out.size() - start - kLongLengthSize;  // MsgType and the variable part
    const auto at = out.begin() + static_cast<std::ptrdiff_t>(start);
    if (rest + 1 <= kMaxShortLength) {
        out[start + kLongLengthSize - 1] = static_cast<std::byte>(rest + 1);
        out.erase(at, at + kLongLengthSize - 1);
        return;
    }
    const std::size_t length = rest + kLongLengthSize;  // precondition: at most 65,535
    out[start] = std::byte{0x01};
    out[start + 1] = static_cast<std::byte>((length >> 8) & 0xFF);
    out[start + 2] = static_cast<std::byte>(length & 0xFF);
}

}  // namespace

Buffer encode(const Packet& p, const std::optional<Forwarder>& fwd) {
    Buffer out;
    Writer w(out);
    if (fwd) {
        // Section 5.5: the Length covers the header up to the end of the Wireless Node Id, not the inner message.
        out.resize(kLongLengthSize);
        w.u8(static_cast<std::uint8_t>(MsgType::Encapsulated));
        w.u8(fwd->ctrl);
        w.bytes(fwd->node_id);
        frame(out, 0);
    }
    const std::size_t start = out.size();
    out.resize(start + kLongLengthSize);
    w.u8(static_cast<std::uint8_t>(msg_type(p)));
    std::visit([&w](const auto& m) { put(w, m); }, p);
    frame(out, start);
    return out;
}

}  // namespace moth::mqttsn
