#pragma once
// A GatewaySession driven by a fake clock, MQTT-SN messages from a pretend client, and a tiny fake core: the MQTT
// 5.0 bytes the session sends to the core are decoded (codec::Decoder, server role) into owned records, and the
// core's answers are encoded with codec::Encoder and fed back.
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "codec/decoder.hpp"
#include "codec/encoder.hpp"
#include "mqttsn/gateway_session.hpp"

namespace moth::mqttsn {
// Failure messages name the message type and its encoding instead of the variant's raw bytes.
inline void PrintTo(const Packet& p, std::ostream* os) {
    *os << msg_type_name(msg_type(p)) << " [";
    for (const std::byte b : encode(p)) *os << ' ' << std::to_integer<int>(b);
    *os << " ]";
}
}  // namespace moth::mqttsn

namespace moth::mqttsn::test {

using namespace std::chrono_literals;

inline Buffer buf(std::string_view s) {
    Buffer b;
    for (const char c : s) b.push_back(static_cast<std::byte>(c));
    return b;
}

inline std::string str(codec::Bytes b) {
    std::string s;
    for (const std::byte c : b) s.push_back(static_cast<char>(c));
    return s;
}

// One MQTT packet the session sent to the core, with every field a test looks at copied out of the decoder's views.
struct Mqtt {
    codec::PacketType type{};
    std::uint16_t id = 0;
    codec::ReasonCode reason{};
    std::string topic;    // PUBLISH topic, SUBSCRIBE/UNSUBSCRIBE filter, CONNECT will topic
    std::string payload;  // PUBLISH payload, CONNECT will payload
    int qos = 0;
    bool dup = false;
    bool retain = false;
    // CONNECT
    std::string client_id;
    bool clean_start = false;
    std::uint16_t keep_alive = 0;
    std::optional<std::string> username;
    std::optional<std::uint32_t> session_expiry;
    std::optional<std::uint16_t> receive_maximum;
    std::optional<std::uint32_t> maximum_packet_size;
    std::optional<std::uint16_t> topic_alias_maximum;
    bool has_will = false;
};

class GatewayTest : public ::testing::Test {
protected:
    TimePoint now = TimePoint{} + 1000s;
    SessionSettings settings;
    std::optional<GatewaySession> session;
    Actions out;             // of the last call
    std::vector<Mqtt> mqtt;  // decoded from out.to_broker

    GatewayTest() {
        auto pre = std::make_shared<PredefinedTopics>();
        pre->by_id = {{1, "pre/one"}, {2, "pre/two"}};
        pre->by_name = {{"pre/one", 1}, {"pre/two", 2}};
        settings.predefined = pre;
        settings.retry_interval = 10s;
        settings.max_retries = 2;
        settings.keepalive_grace = 1.5;
    }

    GatewaySession& s() {
        if (!session) session.emplace(settings, now);
        return *session;
    }

    Actions& client(const Packet& p) {
        out = {};
        s().on_packet(p, now, out);
        absorb();
        return out;
    }

    Actions& core(const codec::Packet& p) {
        Buffer bytes;
        EXPECT_TRUE(codec::encode_append(p, codec::ProtocolVersion::V5, bytes));
        return core_bytes(bytes);
    }

    Actions& core_bytes(Bytes bytes) {
        out = {};
        s().on_broker(bytes, now, out);
        absorb();
        return out;
    }

    Actions& core_closed() {
        out = {};
        s().on_broker_closed(now, out);
        absorb();
        return out;
    }

    Actions& tick() {
        out = {};
        s().on_tick(now, out);
        absorb();
        return out;
    }

    // Moves the clock to the session's next timer and runs it.
    Actions& tick_next() {
        const auto t = s().next_timer();
        EXPECT_TRUE(t.has_value());
        if (t) now = *t;
        return tick();
    }

    // CONNECT (no will) and the core's CONNACK: the session is Active.
    void connect(bool clean = true, std::uint16_t duration = 60, std::string id = "sn1") {
        client(Connect{
            .flags = {.clean_session = clean}, .protocol_id = 1, .duration_s = duration, .client_id = std::move(id)});
        ASSERT_EQ(mqtt.size(), 1U);
        ASSERT_EQ(mqtt[0].type, codec::PacketType::Connect);
        core(codec::Connack{});
        ASSERT_EQ(s().state(), GatewaySession::State::Active);
        ASSERT_EQ(out.to_client, only(Connack{ReturnCode::Accepted}));
    }

    // The core delivers a message to the session.
    Actions& deliver(std::string_view topic, std::string_view payload, int qos = 0, std::uint16_t packet_id = 0) {
        codec::Publish p;
        p.topic = topic;
        p.payload = {reinterpret_cast<const std::byte*>(payload.data()), payload.size()};
        p.qos = static_cast<codec::QoS>(qos);
        p.packet_id = packet_id;
        return core(p);
    }

    // The list of one message, for comparing with out.to_client.
    static std::vector<Packet> only(Packet p) { return {std::move(p)}; }

    static Publish sn_publish(TopicIdType type, std::uint16_t topic_id, std::string_view data, std::int8_t qos = 0,
                              std::uint16_t msg_id = 0, bool dup = false) {
        return Publish{.flags = {.dup = dup, .qos = qos, .topic_id_type = type},
                       .topic_id = topic_id,
                       .msg_id = msg_id,
                       .data = buf(data)};
    }

private:
    codec::Decoder decoder_{codec::DecoderOptions{codec::Role::Server}};
    std::vector<Buffer> kept_;

    // Decodes out.to_broker; a CONNECT at its start opens a new internal connection (a fresh decoder).
    void absorb() {
        mqtt.clear();
        if (out.to_broker.empty()) return;
        if (out.to_broker[0] == std::byte{0x10}) decoder_ = codec::Decoder{codec::DecoderOptions{codec::Role::Server}};
        const Buffer& bytes = kept_.emplace_back(out.to_broker);
        std::size_t at = 0;
        while (at < bytes.size()) {
            const codec::DecodeResult r = decoder_.decode(Bytes(bytes).subspan(at));
            ASSERT_EQ(r.status, codec::DecodeStatus::Ok) << r.message;
            mqtt.push_back(record(r.packet));
            at += r.consumed;
        }
    }

    static Mqtt record(const codec::Packet& p) {
        Mqtt m;
        m.type = codec::packet_type(p);
        std::visit(
            [&](const auto& k) {
                using T = std::decay_t<decltype(k)>;
                if constexpr (std::is_same_v<T, codec::Connect>) {
                    m.client_id = std::string(k.client_id);
                    m.clean_start = k.clean_start;
                    m.keep_alive = k.keep_alive_s;
                    if (k.username) m.username = std::string(*k.username);
                    m.session_expiry = k.properties.session_expiry_interval;
                    m.receive_maximum = k.properties.receive_maximum;
                    m.maximum_packet_size = k.properties.maximum_packet_size;
                    m.topic_alias_maximum = k.properties.topic_alias_maximum;
                    if (k.will) {
                        m.has_will = true;
                        m.topic = std::string(k.will->topic);
                        m.payload = str(k.will->payload);
                        m.qos = static_cast<int>(k.will->qos);
                        m.retain = k.will->retain;
                    }
                } else if constexpr (std::is_same_v<T, codec::Publish>) {
                    m.topic = std::string(k.topic);
                    m.payload = str(k.payload);
                    m.qos = static_cast<int>(k.qos);
                    m.dup = k.dup;
                    m.retain = k.retain;
                    m.id = k.packet_id;
                } else if constexpr (std::is_same_v<T, codec::Subscribe>) {
                    m.id = k.packet_id;
                    m.topic = std::string(k.subscriptions[0].filter);
                    m.qos = static_cast<int>(k.subscriptions[0].options.qos);
                } else if constexpr (std::is_same_v<T, codec::Unsubscribe>) {
                    m.id = k.packet_id;
                    m.topic = std::string(k.filters[0]);
                } else if constexpr (requires {
                                         k.packet_id;
                                         k.reason;
                                     }) {
                    m.id = k.packet_id;
                    m.reason = k.reason;
                } else if constexpr (requires { k.reason; }) {
                    m.reason = k.reason;
                }
            },
            p);
        return m;
    }
};

}  // namespace moth::mqttsn::test
