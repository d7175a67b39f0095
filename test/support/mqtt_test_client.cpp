#include "support/mqtt_test_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ostream>

#include "common/varint.hpp"

namespace moth::test {
namespace {

int millis_until(TestClock::time_point deadline) {
    const auto left = std::chrono::ceil<Millis>(deadline - TestClock::now()).count();
    return static_cast<int>(std::clamp<long long>(left, 0, 60'000));
}

std::string printable(codec::Bytes b, std::size_t limit = 48) {
    std::string out;
    for (std::size_t i = 0; i < b.size() && i < limit; ++i) {
        const auto c = std::to_integer<unsigned char>(b[i]);
        if (c >= 0x20 && c < 0x7F) {
            out.push_back(static_cast<char>(c));
        } else {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        }
    }
    if (b.size() > limit) out += "...";
    return out;
}

std::string codes_text(std::span<const codec::ReasonCode> codes) {
    std::string out = "[";
    for (std::size_t i = 0; i < codes.size(); ++i) {
        if (i != 0) out += ", ";
        out += reason_text(codes[i]);
    }
    return out + "]";
}

std::optional<std::uint16_t> packet_id_of(const Received& r) {
    if (!r.ok()) return std::nullopt;
    return std::visit(
        [](const auto& p) -> std::optional<std::uint16_t> {
            using T = std::decay_t<decltype(p)>;
            if constexpr (std::is_same_v<T, codec::Puback> || std::is_same_v<T, codec::Pubrec> ||
                          std::is_same_v<T, codec::Pubrel> || std::is_same_v<T, codec::Pubcomp> ||
                          std::is_same_v<T, codec::Suback> || std::is_same_v<T, codec::Unsuback>) {
                return p.packet_id;
            } else {
                return std::nullopt;
            }
        },
        r.packet);
}

}  // namespace

void fail(const std::string& message, std::source_location where) {
    std::string file = where.file_name();
    if (const auto slash = file.rfind('/'); slash != std::string::npos) file = file.substr(slash + 1);
    throw TestFailure(file + ":" + std::to_string(where.line()) + ": " + message);
}

std::string hex_dump(std::span<const std::byte> data, std::size_t limit) {
    std::string out;
    char buf[4];
    for (std::size_t i = 0; i < data.size() && i < limit; ++i) {
        std::snprintf(buf, sizeof buf, "%02x", std::to_integer<unsigned>(data[i]));
        if (i != 0) out.push_back(' ');
        out += buf;
    }
    if (data.size() > limit) out += " ... (" + std::to_string(data.size()) + " bytes)";
    return out;
}

std::string reason_text(codec::ReasonCode code) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "0x%02x", static_cast<unsigned>(code));
    return std::string(buf) + " (" + std::string(codec::reason_code_name(code)) + ")";
}

std::vector<std::byte> to_bytes(std::initializer_list<int> values) {
    std::vector<std::byte> out;
    out.reserve(values.size());
    for (const int v : values) out.push_back(static_cast<std::byte>(static_cast<unsigned char>(v)));
    return out;
}

// ---------------------------------------------------------------------------------------------------------
// Received

codec::PacketType Received::type() const {
    return bytes.empty() ? codec::PacketType{}
                         : static_cast<codec::PacketType>(std::to_integer<unsigned>(bytes[0]) >> 4);
}

std::string Received::describe() const {
    std::string out(codec::packet_type_name(type()));
    if (!ok()) {
        out += " (does not decode: " + reason_text(decode_error) + ", " + decode_message + ")";
    } else {
        std::visit(
            [&out](const auto& p) {
                using T = std::decay_t<decltype(p)>;
                if constexpr (std::is_same_v<T, codec::Connack>) {
                    out += " session_present=" + std::to_string(p.session_present) + " reason=" + reason_text(p.reason);
                } else if constexpr (std::is_same_v<T, codec::Publish>) {
                    out += " topic=\"" + printable(as_bytes(p.topic)) +
                           "\" qos=" + std::to_string(static_cast<int>(p.qos)) + " dup=" + std::to_string(p.dup) +
                           " retain=" + std::to_string(p.retain) + " id=" + std::to_string(p.packet_id) +
                           " payload=\"" + printable(p.payload) + "\"";
                    if (p.properties.topic_alias) out += " alias=" + std::to_string(*p.properties.topic_alias);
                    for (const auto id : p.properties.subscription_identifiers) {
                        out += " sub_id=" + std::to_string(id);
                    }
                } else if constexpr (std::is_same_v<T, codec::Puback> || std::is_same_v<T, codec::Pubrec> ||
                                     std::is_same_v<T, codec::Pubrel> || std::is_same_v<T, codec::Pubcomp>) {
                    out += " id=" + std::to_string(p.packet_id) + " reason=" + reason_text(p.reason);
                } else if constexpr (std::is_same_v<T, codec::Suback> || std::is_same_v<T, codec::Unsuback>) {
                    out += " id=" + std::to_string(p.packet_id) + " codes=" + codes_text(p.reason_codes);
                } else if constexpr (std::is_same_v<T, codec::Disconnect>) {
                    out += " reason=" + reason_text(p.reason);
                    if (p.properties.reason_string)
                        out += " reason_string=\"" + std::string(*p.properties.reason_string) + "\"";
                }
            },
            packet);
    }
    return out + " [" + hex_dump(bytes, 48) + "]";
}

// ---------------------------------------------------------------------------------------------------------
// MqttTestClient

MqttTestClient::MqttTestClient(codec::ProtocolVersion version, std::string name)
    : version_(version), name_(std::move(name)) {}

MqttTestClient::~MqttTestClient() {
    if (fd_ >= 0) ::close(fd_);
}

std::string MqttTestClient::who() const {
    return name_ + " (MQTT " + std::string(codec::protocol_version_name(version_)) + ")";
}

void MqttTestClient::connect_tcp(std::uint16_t port, std::source_location where) {
    if (fd_ >= 0) fail(who() + ": already connected", where);
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) fail(who() + ": socket: " + std::strerror(errno), where);
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = 0;
    do {
        rc = ::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) fail(who() + ": connect to 127.0.0.1:" + std::to_string(port) + ": " + std::strerror(errno), where);
    eof_ = false;
    in_.clear();
}

bool MqttTestClient::send(const codec::Packet& p, std::source_location where) {
    std::vector<std::byte> wire;
    const auto r = codec::encode_append(p, version_, wire);
    if (!r.has_value()) {
        fail(who() + ": cannot encode " + std::string(codec::packet_type_name(codec::packet_type(p))) + ": " +
                 std::string(codec::encode_error_text(r.error())),
             where);
    }
    return send_raw(wire);
}

bool MqttTestClient::send_raw(std::span<const std::byte> bytes) {
    if (fd_ < 0) return false;
    const auto deadline = TestClock::now() + kReceiveTimeout;
    std::size_t sent = 0;
    while (sent < bytes.size()) {
        pollfd pfd{fd_, POLLOUT, 0};
        const int pr = ::poll(&pfd, 1, millis_until(deadline));
        if (pr < 0 && errno == EINTR) continue;
        if (pr == 0)
            fail(who() + ": the broker has not read " + std::to_string(bytes.size() - sent) + " bytes in time");
        const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
            return false;  // EPIPE, ECONNRESET: the broker closed the connection
        }
        sent += static_cast<std::size_t>(n);
    }
    return true;
}

bool MqttTestClient::send_bytewise(std::span<const std::byte> bytes) {
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        if (!send_raw(bytes.subspan(i, 1))) return false;
    }
    return true;
}

bool MqttTestClient::fill(TestClock::time_point deadline) {
    if (fd_ < 0 || eof_) return false;
    while (true) {
        pollfd pfd{fd_, POLLIN, 0};
        const int pr = ::poll(&pfd, 1, millis_until(deadline));
        if (pr < 0 && errno == EINTR) continue;
        if (pr <= 0) return false;  // timeout
        std::byte buf[65536];
        const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n > 0) {
            in_.insert(in_.end(), buf, buf + n);
            return true;
        }
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        eof_ = true;  // 0: orderly close; <0: ECONNRESET and friends
        return false;
    }
}

std::unique_ptr<Received> MqttTestClient::take_packet() {
    if (in_.empty()) return nullptr;
    const auto rl = common::decode_varint(std::span<const std::byte>(in_).subspan(1));
    auto r = std::make_unique<Received>();
    if (rl.status == common::VarIntStatus::NeedMore) return nullptr;
    if (rl.status == common::VarIntStatus::Malformed) {
        r->bytes = std::move(in_);
        in_.clear();
        r->status = codec::DecodeStatus::Error;
        r->decode_error = codec::ReasonCode::MalformedPacket;
        r->decode_message = "remaining length longer than 4 bytes";
        return r;
    }
    const std::size_t total = 1 + rl.size + rl.value;
    if (in_.size() < total) return nullptr;
    r->bytes.assign(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(total));
    in_.erase(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(total));
    r->decoder.set_version(version_);
    auto result = r->decoder.decode(r->bytes);
    if (result.status == codec::DecodeStatus::Ok && result.consumed == total) {
        r->status = codec::DecodeStatus::Ok;
        r->packet = std::move(result.packet);
    } else {
        r->status = codec::DecodeStatus::Error;
        r->decode_error = result.reason;
        r->decode_message = result.status == codec::DecodeStatus::Ok ? "decoder consumed a different size"
                                                                     : std::string(result.message);
    }
    return r;
}

std::unique_ptr<Received> MqttTestClient::read_packet(TestClock::time_point deadline) {
    while (true) {
        if (auto r = take_packet()) return r;
        if (eof_ || fd_ < 0) return nullptr;
        if (!fill(deadline)) {
            return take_packet();  // nullptr unless a packet completed just before EOF
        }
    }
}

std::unique_ptr<Received> MqttTestClient::receive(Millis timeout) {
    if (!kept_.empty()) {
        auto r = std::move(kept_.front());
        kept_.pop_front();
        return r;
    }
    if (fd_ < 0 && !eof_) fail(who() + ": receive() before connect_tcp()");
    return read_packet(TestClock::now() + timeout);
}

void MqttTestClient::check_type(const Received* r, codec::PacketType want, Millis timeout,
                                std::source_location where) const {
    const std::string want_name(codec::packet_type_name(want));
    if (r == nullptr) {
        fail(who() + ": expected " + want_name + " within " + std::to_string(timeout.count()) + " ms, got " +
                 (eof_ ? "the connection closed by the broker" : "nothing"),
             where);
    }
    if (!r->ok() || r->type() != want) fail(who() + ": expected " + want_name + ", got " + r->describe(), where);
}

void MqttTestClient::expect_silence(Millis window, std::source_location where) {
    if (auto r = receive(window)) {
        fail(who() + ": expected no packet within " + std::to_string(window.count()) + " ms, got " + r->describe(),
             where);
    }
    if (eof_) fail(who() + ": expected the connection to stay open, but the broker closed it", where);
}

bool MqttTestClient::wait_closed(Millis timeout) {
    while (!kept_.empty()) {
        dropped_.push_back(kept_.front()->describe());
        kept_.pop_front();
    }
    const auto deadline = TestClock::now() + timeout;
    while (auto r = read_packet(deadline)) dropped_.push_back(r->describe());
    return eof_;
}

std::string MqttTestClient::dropped() const {
    if (dropped_.empty()) return "no packets before the close";
    std::string out = "packets before the close:";
    for (const auto& d : dropped_) out += "\n  " + d;
    return out;
}

void MqttTestClient::send_connect(const ConnectOptions& o, std::source_location where) {
    codec::Connect c;
    c.version = version_;
    c.clean_start = o.clean_start;
    c.keep_alive_s = o.keep_alive_s;
    c.client_id = o.client_id;
    std::vector<codec::UserProperty> user_props;
    for (const auto& [k, v] : o.user_properties) user_props.push_back({k, v});
    if (version_ == codec::ProtocolVersion::V5) {
        c.properties.session_expiry_interval = o.session_expiry_interval;
        c.properties.receive_maximum = o.receive_maximum;
        c.properties.maximum_packet_size = o.maximum_packet_size;
        c.properties.topic_alias_maximum = o.topic_alias_maximum;
        c.properties.request_problem_information = o.request_problem_information;
        c.properties.user_properties = user_props;
    }
    if (o.will) {
        codec::Will w;
        w.topic = o.will->topic;
        w.payload = as_bytes(o.will->payload);
        w.qos = o.will->qos;
        w.retain = o.will->retain;
        if (version_ == codec::ProtocolVersion::V5) {
            w.properties.will_delay_interval = o.will->will_delay_interval;
            w.properties.message_expiry_interval = o.will->message_expiry_interval;
            w.properties.payload_format_indicator = o.will->payload_format_indicator;
            if (o.will->content_type) w.properties.content_type = *o.will->content_type;
        }
        c.will = w;
    }
    if (o.username) c.username = *o.username;
    if (o.password) c.password = as_bytes(*o.password);
    client_id_ = o.client_id;
    send(c, where);
}

Got<codec::Connack> MqttTestClient::connect(const ConnectOptions& options, std::source_location where) {
    send_connect(options, where);
    auto connack = expect<codec::Connack>(kReceiveTimeout, where);
    if (connack->reason != codec::ReasonCode::Success) {
        fail(who() + ": CONNECT refused: " + connack.received().describe(), where);
    }
    if (connack->properties.assigned_client_identifier) {
        client_id_ = std::string(*connack->properties.assigned_client_identifier);
    }
    return connack;
}

std::uint16_t MqttTestClient::next_packet_id() {
    ++packet_id_;
    if (packet_id_ == 0) packet_id_ = 1;
    return packet_id_;
}

std::unique_ptr<Received> MqttTestClient::await_ack(codec::PacketType type, std::uint16_t packet_id,
                                                    std::source_location where) {
    const std::string name(codec::packet_type_name(type));
    const auto deadline = TestClock::now() + kReceiveTimeout;
    while (true) {
        auto r = read_packet(deadline);
        if (!r) {
            fail(who() + ": waiting for " + name + " (packet id " + std::to_string(packet_id) + "), got " +
                     (eof_ ? "the connection closed by the broker"
                           : "nothing within " + std::to_string(kReceiveTimeout.count()) + " ms"),
                 where);
        }
        if (r->is<codec::Publish>()) {
            kept_.push_back(std::move(r));
            continue;
        }
        if (r->ok() && r->type() == type) {
            const auto id = packet_id_of(*r);
            if (!id || *id == packet_id) return r;
        }
        fail(who() + ": waiting for " + name + " (packet id " + std::to_string(packet_id) + "), got " + r->describe(),
             where);
    }
}

std::vector<codec::ReasonCode> MqttTestClient::subscribe_many(
    const std::vector<std::pair<std::string, codec::SubscribeOptions>>& filters,
    std::optional<std::uint32_t> subscription_id, std::source_location where) {
    std::vector<codec::Subscription> subs;
    for (const auto& [filter, options] : filters) subs.push_back({filter, options});
    codec::Subscribe s;
    s.packet_id = next_packet_id();
    std::uint32_t id_storage = subscription_id.value_or(0);
    if (subscription_id) s.properties.subscription_identifiers = std::span<const std::uint32_t>(&id_storage, 1);
    s.subscriptions = subs;
    send(s, where);
    auto r = await_ack(codec::PacketType::Suback, s.packet_id, where);
    const auto& suback = r->as<codec::Suback>();
    if (suback.reason_codes.size() != filters.size()) {
        // [MQTT-3.8.4-5] (3.1.1) / [MQTT-3.8.4-6] (5.0): one reason code per Topic Filter.
        fail(who() + ": SUBACK has " + std::to_string(suback.reason_codes.size()) + " reason codes for " +
                 std::to_string(filters.size()) + " filters: " + r->describe(),
             where);
    }
    return {suback.reason_codes.begin(), suback.reason_codes.end()};
}

codec::ReasonCode MqttTestClient::subscribe(std::string_view filter, codec::SubscribeOptions options,
                                            std::optional<std::uint32_t> subscription_id, std::source_location where) {
    return subscribe_many({{std::string(filter), options}}, subscription_id, where).front();
}

codec::ReasonCode MqttTestClient::subscribe(std::string_view filter, codec::QoS qos, std::source_location where) {
    codec::SubscribeOptions options;
    options.qos = qos;
    return subscribe(filter, options, std::nullopt, where);
}

Got<codec::Unsuback> MqttTestClient::unsubscribe(std::string_view filter, std::source_location where) {
    codec::Unsubscribe u;
    u.packet_id = next_packet_id();
    const std::string_view filters[] = {filter};
    u.filters = filters;
    send(u, where);
    return Got<codec::Unsuback>(await_ack(codec::PacketType::Unsuback, u.packet_id, where));
}

codec::Publish MqttTestClient::make_publish(const Message& m) {
    codec::Publish p;
    p.topic = m.topic;
    p.payload = as_bytes(m.payload);
    p.qos = m.qos;
    p.retain = m.retain;
    if (m.qos != codec::QoS::AtMostOnce) p.packet_id = next_packet_id();
    if (version_ == codec::ProtocolVersion::V5) {
        p.properties.payload_format_indicator = m.payload_format_indicator;
        p.properties.message_expiry_interval = m.message_expiry_interval;
        if (m.content_type) p.properties.content_type = *m.content_type;
        if (m.response_topic) p.properties.response_topic = *m.response_topic;
        if (m.correlation_data) p.properties.correlation_data = as_bytes(*m.correlation_data);
        p.properties.topic_alias = m.topic_alias;
        // Storage for the user property views: valid until the next make_publish() on this client.
        publish_user_properties_.clear();
        for (const auto& [k, v] : m.user_properties) publish_user_properties_.push_back({k, v});
        p.properties.user_properties = publish_user_properties_;
    }
    return p;
}

codec::ReasonCode MqttTestClient::publish(const Message& m, std::source_location where) {
    const codec::Publish p = make_publish(m);
    send(p, where);
    switch (p.qos) {
        case codec::QoS::AtMostOnce:
            return codec::ReasonCode::Success;
        case codec::QoS::AtLeastOnce: {
            auto r = await_ack(codec::PacketType::Puback, p.packet_id, where);
            return r->as<codec::Puback>().reason;
        }
        case codec::QoS::ExactlyOnce: {
            auto r = await_ack(codec::PacketType::Pubrec, p.packet_id, where);
            const auto reason = r->as<codec::Pubrec>().reason;
            if (codec::is_error(reason)) return reason;
            send(ack_packet<codec::Pubrel>(p.packet_id), where);
            await_ack(codec::PacketType::Pubcomp, p.packet_id, where);
            return reason;
        }
    }
    return codec::ReasonCode::Success;
}

codec::ReasonCode MqttTestClient::publish(std::string_view topic, std::string_view payload, codec::QoS qos, bool retain,
                                          std::source_location where) {
    Message m;
    m.topic = topic;
    m.payload = payload;
    m.qos = qos;
    m.retain = retain;
    return publish(m, where);
}

void MqttTestClient::ack(const codec::Publish& p, std::source_location where) {
    if (p.qos == codec::QoS::AtLeastOnce) send(ack_packet<codec::Puback>(p.packet_id), where);
    if (p.qos == codec::QoS::ExactlyOnce) send(ack_packet<codec::Pubrec>(p.packet_id), where);
}

Got<codec::Publish> MqttTestClient::receive_message(Millis timeout, std::source_location where) {
    auto p = expect<codec::Publish>(timeout, where);
    ack(*p, where);
    if (p->qos == codec::QoS::ExactlyOnce) {
        await_ack(codec::PacketType::Pubrel, p->packet_id, where);
        send(ack_packet<codec::Pubcomp>(p->packet_id), where);
    }
    return p;
}

void MqttTestClient::ping(std::source_location where) {
    send(codec::Pingreq{}, where);
    await_ack(codec::PacketType::Pingresp, 0, where);
}

void MqttTestClient::disconnect(codec::ReasonCode reason, std::source_location where) {
    send(codec::Disconnect{reason, {}}, where);
    if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
    if (!wait_closed(kReceiveTimeout)) {
        fail(who() + ": the broker did not close the connection after DISCONNECT; " + dropped(), where);
    }
}

void MqttTestClient::finish_sending() {
    if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
}

void MqttTestClient::close_abruptly() {
    if (fd_ >= 0) {
        ::shutdown(fd_, SHUT_RDWR);
        ::close(fd_);
    }
    fd_ = -1;
    eof_ = true;
    in_.clear();
    kept_.clear();
}

}  // namespace moth::test

namespace moth::codec {
void PrintTo(ReasonCode code, std::ostream* os) {
    *os << test::reason_text(code);
}
void PrintTo(QoS qos, std::ostream* os) {
    *os << "QoS " << static_cast<int>(qos);
}
void PrintTo(ProtocolVersion version, std::ostream* os) {
    *os << "MQTT " << protocol_version_name(version);
}
}  // namespace moth::codec
