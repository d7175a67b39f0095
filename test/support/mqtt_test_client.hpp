#pragma once
// MqttTestClient: a small blocking MQTT client for the integration tests, built on the codec and a plain
// POSIX TCP socket on loopback.
//
// Every wait has a deadline: receive() polls the socket until a whole packet has arrived or the timeout
// passes, so no test needs a sleep to synchronise with the broker. Failures a test cannot continue from
// (an unexpected packet, nothing arriving in time, an encoder refusing a packet) throw TestFailure, which
// GoogleTest reports with the message and the caller's file and line, and which ends the test.
//
// Packets are decoded with a Role::Client decoder set to the client's protocol version. A Received owns the
// bytes of one packet and the decoder that decoded it, so the views inside its `packet` stay valid for as
// long as the Received lives. Packets a helper is not waiting for (a PUBLISH arriving while subscribe()
// waits for its SUBACK) are kept, in order, and handed out first by the next receive().
//
// Not thread-safe: one test thread owns a client.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <optional>
#include <source_location>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "codec/decoder.hpp"
#include "codec/encoder.hpp"
#include "codec/packets.hpp"

namespace moth::test {

using namespace std::chrono_literals;
using TestClock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;

// Generous: the integration tests run under ASan and UBSan on a loaded 2-core machine.
inline constexpr Millis kReceiveTimeout = 5s;
// How long a test watches for something that must NOT happen (a message that must not be delivered). Such
// checks are backed by a positive event where one exists (a later message that must arrive first).
inline constexpr Millis kQuietWindow = 500ms;

// Thrown by the client and the fixture when a test cannot go on; what() names the caller's file and line.
class TestFailure : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

[[noreturn]] void fail(const std::string& message, std::source_location where = std::source_location::current());

// "10 0c 00 04 ..." (at most `limit` bytes, then "...").
[[nodiscard]] std::string hex_dump(std::span<const std::byte> data, std::size_t limit = 64);
[[nodiscard]] std::string reason_text(codec::ReasonCode code);  // "0x8e (Session taken over)"

[[nodiscard]] inline codec::Bytes as_bytes(std::string_view s) {
    return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}
[[nodiscard]] inline std::string as_string(codec::Bytes b) {
    return {reinterpret_cast<const char*>(b.data()), b.size()};
}
[[nodiscard]] std::vector<std::byte> to_bytes(std::initializer_list<int> values);

// PUBACK, PUBREC, PUBREL or PUBCOMP with a packet identifier and a reason code.
template <class Ack>
[[nodiscard]] Ack ack_packet(std::uint16_t packet_id, codec::ReasonCode reason = codec::ReasonCode::Success) {
    Ack a;
    a.packet_id = packet_id;
    a.reason = reason;
    return a;
}

// One packet received from the broker: its bytes, the decoder that decoded them, and the result.
struct Received {
    Received() = default;
    Received(const Received&) = delete;
    Received& operator=(const Received&) = delete;

    std::vector<std::byte> bytes;  // the whole packet, fixed header included
    codec::Decoder decoder{codec::DecoderOptions{codec::Role::Client}};
    codec::DecodeStatus status = codec::DecodeStatus::NeedMore;   // Ok, or Error when the bytes did not decode
    codec::ReasonCode decode_error = codec::ReasonCode::Success;  // Error only
    std::string decode_message;                                   // Error only
    codec::Packet packet;                                         // Ok only; views into `bytes` and `decoder`

    [[nodiscard]] bool ok() const { return status == codec::DecodeStatus::Ok; }
    // The packet type from the fixed header (also when the body did not decode).
    [[nodiscard]] codec::PacketType type() const;
    template <class T>
    [[nodiscard]] bool is() const {
        return ok() && std::holds_alternative<T>(packet);
    }
    template <class T>
    [[nodiscard]] const T& as() const {
        return std::get<T>(packet);
    }
    // One line for failure messages: the type, its main fields, and the bytes.
    [[nodiscard]] std::string describe() const;
};

// A received packet known to be a T; keeps the Received (and so the packet's views) alive.
template <class T>
class Got {
public:
    Got() = default;
    explicit Got(std::unique_ptr<Received> r) : received_(std::move(r)) {}
    [[nodiscard]] const T& operator*() const { return received_->as<T>(); }
    [[nodiscard]] const T* operator->() const { return &received_->as<T>(); }
    [[nodiscard]] const Received& received() const { return *received_; }
    [[nodiscard]] explicit operator bool() const { return received_ != nullptr; }

private:
    std::unique_ptr<Received> received_;
};

struct WillOptions {
    std::string topic;
    std::string payload;
    codec::QoS qos = codec::QoS::AtMostOnce;
    bool retain = false;
    // 5.0 Will Properties
    std::optional<std::uint32_t> will_delay_interval;
    std::optional<std::uint32_t> message_expiry_interval;
    std::optional<std::uint8_t> payload_format_indicator;
    std::optional<std::string> content_type;
};

struct ConnectOptions {
    std::string client_id;
    bool clean_start = true;  // Clean Session in 3.1/3.1.1
    std::uint16_t keep_alive_s = 0;
    std::optional<WillOptions> will;
    std::optional<std::string> username;
    std::optional<std::string> password;
    // 5.0 CONNECT properties; absent when not set.
    std::optional<std::uint32_t> session_expiry_interval;
    std::optional<std::uint16_t> receive_maximum;
    std::optional<std::uint32_t> maximum_packet_size;
    std::optional<std::uint16_t> topic_alias_maximum;
    std::optional<std::uint8_t> request_problem_information;
    std::vector<std::pair<std::string, std::string>> user_properties;
};

// PUBLISH fields with owned storage, for publish() and make_publish().
struct Message {
    std::string topic;
    std::string payload;
    codec::QoS qos = codec::QoS::AtMostOnce;
    bool retain = false;
    // 5.0 properties; absent when not set.
    std::optional<std::uint8_t> payload_format_indicator;
    std::optional<std::uint32_t> message_expiry_interval;
    std::optional<std::string> content_type;
    std::optional<std::string> response_topic;
    std::optional<std::string> correlation_data;
    std::optional<std::uint16_t> topic_alias;
    std::vector<std::pair<std::string, std::string>> user_properties;
};

class MqttTestClient {
public:
    explicit MqttTestClient(codec::ProtocolVersion version = codec::ProtocolVersion::V5, std::string name = "client");
    ~MqttTestClient();
    MqttTestClient(const MqttTestClient&) = delete;
    MqttTestClient& operator=(const MqttTestClient&) = delete;

    [[nodiscard]] codec::ProtocolVersion version() const { return version_; }
    [[nodiscard]] const std::string& name() const { return name_; }

    // Opens a TCP connection to 127.0.0.1:`port` (TCP_NODELAY). Throws TestFailure if it cannot.
    void connect_tcp(std::uint16_t port, std::source_location where = std::source_location::current());

    // Encodes `p` with the client's version and writes it. False when the connection is already closed
    // (writing to a connection the broker closed is not a failure in itself); throws if `p` cannot be encoded.
    bool send(const codec::Packet& p, std::source_location where = std::source_location::current());
    bool send_raw(std::span<const std::byte> bytes);
    // Writes `bytes` one byte per write() call, to check that the broker reassembles packets.
    bool send_bytewise(std::span<const std::byte> bytes);

    // The next packet (kept ones first), or nullptr if none arrives within `timeout` or the connection closes.
    [[nodiscard]] std::unique_ptr<Received> receive(Millis timeout = kReceiveTimeout);

    // The next packet, which must be a T; throws TestFailure naming what arrived instead.
    template <class T>
    Got<T> expect(Millis timeout = kReceiveTimeout, std::source_location where = std::source_location::current()) {
        auto r = receive(timeout);
        check_type(r.get(), packet_type_of<T>(), timeout, where);
        return Got<T>(std::move(r));
    }

    // Fails if any packet arrives, or the connection closes, within `window`.
    void expect_silence(Millis window = kQuietWindow, std::source_location where = std::source_location::current());

    // True once the broker has closed the connection (EOF or ECONNRESET) within `timeout`. Packets that
    // arrive first are read and dropped (see dropped()).
    [[nodiscard]] bool wait_closed(Millis timeout = kReceiveTimeout);
    [[nodiscard]] bool closed() const { return eof_; }
    // Descriptions of the packets wait_closed() dropped, for failure messages, and how many there were.
    [[nodiscard]] std::string dropped() const;
    [[nodiscard]] std::size_t dropped_count() const { return dropped_.size(); }

    // CONNECT, then CONNACK with Success (else TestFailure). Remembers the Assigned Client Identifier.
    Got<codec::Connack> connect(const ConnectOptions& options,
                                std::source_location where = std::source_location::current());
    // Only sends the CONNECT (for tests that expect a refusal).
    void send_connect(const ConnectOptions& options, std::source_location where = std::source_location::current());
    [[nodiscard]] const std::string& client_id() const { return client_id_; }

    // SUBSCRIBE with one filter; waits for the SUBACK and returns its reason code (the granted QoS).
    codec::ReasonCode subscribe(std::string_view filter, codec::QoS qos,
                                std::source_location where = std::source_location::current());
    codec::ReasonCode subscribe(std::string_view filter, codec::SubscribeOptions options,
                                std::optional<std::uint32_t> subscription_id = std::nullopt,
                                std::source_location where = std::source_location::current());
    std::vector<codec::ReasonCode> subscribe_many(
        const std::vector<std::pair<std::string, codec::SubscribeOptions>>& filters,
        std::optional<std::uint32_t> subscription_id = std::nullopt,
        std::source_location where = std::source_location::current());
    // UNSUBSCRIBE; waits for the UNSUBACK (same packet identifier) and returns it.
    Got<codec::Unsuback> unsubscribe(std::string_view filter,
                                     std::source_location where = std::source_location::current());

    // PUBLISH and the whole handshake for its QoS (PUBACK; PUBREC, PUBREL, PUBCOMP). Returns the reason code
    // of the PUBACK or PUBREC (Success for QoS 0). A PUBREC with an error reason ends the flow there.
    codec::ReasonCode publish(std::string_view topic, std::string_view payload, codec::QoS qos = codec::QoS::AtMostOnce,
                              bool retain = false, std::source_location where = std::source_location::current());
    codec::ReasonCode publish(const Message& message, std::source_location where = std::source_location::current());
    // The PUBLISH packet for `message` (views into `message` and into the client, valid until the next call),
    // with a fresh packet identifier for QoS > 0.
    [[nodiscard]] codec::Publish make_publish(const Message& message);

    // The next packet must be a PUBLISH; acknowledges it completely (QoS 1: PUBACK; QoS 2: PUBREC, waits for
    // the PUBREL, PUBCOMP) and returns it.
    Got<codec::Publish> receive_message(Millis timeout = kReceiveTimeout,
                                        std::source_location where = std::source_location::current());
    // Sends the first acknowledgement for a received PUBLISH: PUBACK (QoS 1) or PUBREC (QoS 2).
    void ack(const codec::Publish& p, std::source_location where = std::source_location::current());

    // PINGREQ, then PINGRESP.
    void ping(std::source_location where = std::source_location::current());

    // DISCONNECT (reason for 5.0), then half-closes and waits for the broker to close the connection.
    void disconnect(codec::ReasonCode reason = codec::ReasonCode::NormalDisconnection,
                    std::source_location where = std::source_location::current());
    // Closes the socket without DISCONNECT: the "network failure" that publishes a Will.
    void close_abruptly();
    // Half-closes: the broker reads end of stream after what was sent; this client can still read.
    void finish_sending();

    [[nodiscard]] std::uint16_t next_packet_id();

private:
    template <class T>
    static constexpr codec::PacketType packet_type_of() {
        if constexpr (std::is_same_v<T, codec::Connack>)
            return codec::PacketType::Connack;
        else if constexpr (std::is_same_v<T, codec::Publish>)
            return codec::PacketType::Publish;
        else if constexpr (std::is_same_v<T, codec::Puback>)
            return codec::PacketType::Puback;
        else if constexpr (std::is_same_v<T, codec::Pubrec>)
            return codec::PacketType::Pubrec;
        else if constexpr (std::is_same_v<T, codec::Pubrel>)
            return codec::PacketType::Pubrel;
        else if constexpr (std::is_same_v<T, codec::Pubcomp>)
            return codec::PacketType::Pubcomp;
        else if constexpr (std::is_same_v<T, codec::Suback>)
            return codec::PacketType::Suback;
        else if constexpr (std::is_same_v<T, codec::Unsuback>)
            return codec::PacketType::Unsuback;
        else if constexpr (std::is_same_v<T, codec::Pingresp>)
            return codec::PacketType::Pingresp;
        else if constexpr (std::is_same_v<T, codec::Disconnect>)
            return codec::PacketType::Disconnect;
        else if constexpr (std::is_same_v<T, codec::Auth>)
            return codec::PacketType::Auth;
        else
            static_assert(sizeof(T) == 0, "not a packet the broker sends");
    }
    void check_type(const Received* r, codec::PacketType want, Millis timeout, std::source_location where) const;
    // Reads until the acknowledgement of `type` with `packet_id` arrives; PUBLISH packets that arrive meanwhile
    // are kept for receive(). Anything else fails the test.
    std::unique_ptr<Received> await_ack(codec::PacketType type, std::uint16_t packet_id, std::source_location where);
    std::unique_ptr<Received> read_packet(TestClock::time_point deadline);
    std::unique_ptr<Received> take_packet();    // a whole packet from in_, or nullptr
    bool fill(TestClock::time_point deadline);  // one read; false on timeout or EOF
    [[nodiscard]] std::string who() const;

    codec::ProtocolVersion version_;
    std::string name_;
    int fd_ = -1;
    bool eof_ = false;
    std::vector<std::byte> in_;
    std::deque<std::unique_ptr<Received>> kept_;
    std::vector<std::string> dropped_;
    std::uint16_t packet_id_ = 0;
    std::string client_id_;
    std::vector<codec::UserProperty> publish_user_properties_;  // storage behind make_publish()'s views
};

}  // namespace moth::test

// Readable values in GoogleTest messages ("0x8e (Session taken over)" rather than "1-byte object <8E>").
namespace moth::codec {
void PrintTo(ReasonCode code, std::ostream* os);
void PrintTo(QoS qos, std::ostream* os);
void PrintTo(ProtocolVersion version, std::ostream* os);
}  // namespace moth::codec
