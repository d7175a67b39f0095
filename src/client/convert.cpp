#include "client/convert.hpp"

#include <boost/asio/error.hpp>
#include <boost/system/system_error.hpp>

#include "codec/reason_code.hpp"

namespace moth {

std::string_view reason_name(std::uint8_t code) {
    return codec::reason_code_name(static_cast<codec::ReasonCode>(code));
}

std::string_view Error::kind_name() const {
    switch (kind) {
        case Kind::Refused: return "refused";
        case Kind::Network: return "network";
        case Kind::Timeout: return "timeout";
        case Kind::Protocol: return "protocol";
        case Kind::InvalidArgument: return "invalid argument";
        case Kind::NotConnected: return "not connected";
        case Kind::Closed: return "closed";
    }
    return "unknown";
}

Message Message::text(std::string topic, std::string_view payload, QoS qos, bool retain) {
    Message m;
    m.topic = std::move(topic);
    const auto bytes = client::as_bytes(payload);
    m.payload.assign(bytes.begin(), bytes.end());
    m.qos = qos;
    m.retain = retain;
    return m;
}

namespace client {

std::vector<UserProperty> copy_user_properties(std::span<const codec::UserProperty> in) {
    std::vector<UserProperty> out;
    out.reserve(in.size());
    for (const auto& p : in) out.push_back({std::string(p.key), std::string(p.value)});
    return out;
}

std::span<const codec::UserProperty> view_user_properties(const std::vector<UserProperty>& in,
                                                          std::vector<codec::UserProperty>& storage) {
    storage.clear();
    storage.reserve(in.size());
    for (const auto& p : in) storage.push_back({p.key, p.value});
    return storage;
}

codec::Properties view_message_properties(const MessageProperties& in, std::vector<codec::UserProperty>& storage) {
    codec::Properties p;
    p.payload_format_indicator = in.payload_format_indicator;
    p.message_expiry_interval = in.message_expiry_interval;
    if (in.content_type) p.content_type = *in.content_type;
    if (in.response_topic) p.response_topic = *in.response_topic;
    if (in.correlation_data) p.correlation_data = codec::Bytes(*in.correlation_data);
    p.user_properties = view_user_properties(in.user_properties, storage);
    return p;
}

MessageProperties copy_message_properties(const codec::Properties& in) {
    MessageProperties m;
    m.payload_format_indicator = in.payload_format_indicator;
    m.message_expiry_interval = in.message_expiry_interval;
    if (in.content_type) m.content_type = std::string(*in.content_type);
    if (in.response_topic) m.response_topic = std::string(*in.response_topic);
    if (in.correlation_data) m.correlation_data = copy_bytes(*in.correlation_data);
    m.user_properties = copy_user_properties(in.user_properties);
    m.subscription_identifiers.assign(in.subscription_identifiers.begin(), in.subscription_identifiers.end());
    return m;
}

Error make_error(Error::Kind kind, std::string message, std::uint8_t reason) {
    Error e;
    e.kind = kind;
    e.reason = reason;
    e.message = std::move(message);
    return e;
}

Error refused(codec::ReasonCode code, codec::PacketType packet, std::optional<std::string_view> reason_string) {
    std::string text(codec::reason_code_name(code, packet));
    if (reason_string && !reason_string->empty()) {
        text += ": ";
        text += *reason_string;
    }
    return make_error(Error::Kind::Refused, std::move(text), static_cast<std::uint8_t>(code));
}

Error network_error(const std::exception& e, std::string_view context) {
    std::string text(context);
    if (const auto* se = dynamic_cast<const boost::system::system_error*>(&e)) {
        if (se->code() == boost::asio::error::eof) {
            text += text.empty() ? "connection closed by the broker" : ": connection closed by the broker";
            return make_error(Error::Kind::Network, std::move(text));
        }
        if (se->code() == boost::asio::error::timed_out) {
            if (!text.empty()) text += ": ";
            text += e.what();
            return make_error(Error::Kind::Timeout, std::move(text));
        }
    }
    if (!text.empty()) text += ": ";
    text += e.what();
    return make_error(Error::Kind::Network, std::move(text));
}

}  // namespace client
}  // namespace moth
