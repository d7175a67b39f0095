#pragma once
// The Moth MQTT client library: an asynchronous client on Asio with C++20 coroutines (AsyncClient), and a
// small blocking facade for simple programs (Client). MQTT 3.1, 3.1.1 and 5.0 over mqtt://, mqtts://, ws://
// and wss://.
//
//     moth::Client c({.url = "mqtt://localhost", .client_id = "demo"});
//     if (auto r = c.connect(); !r) { std::cerr << r.error().message() << '\n'; return 1; }
//     c.subscribe("a/#", moth::QoS::AtLeastOnce);
//     c.publish("a/b", "hi", moth::QoS::AtLeastOnce);
//     if (auto m = c.receive(std::chrono::seconds(5))) std::cout << m->topic << ' ' << m->payload_text() << '\n';
//
// Errors are values: moth::Error carries a code with a name (the MQTT reason code's name when the broker refused
// something, e.g. "Not authorized") and a message. See docs/client.md for one example per feature.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/system/result.hpp>

namespace moth {

namespace net {
class Stream;
struct ConnectSettings;
}  // namespace net

enum class QoS : std::uint8_t { AtMostOnce = 0, AtLeastOnce = 1, ExactlyOnce = 2 };
enum class ProtocolVersion : std::uint8_t { V3_1 = 3, V3_1_1 = 4, V5 = 5 };

// The specification's name of an MQTT 5.0 reason code (3.x CONNACK return codes are mapped onto these):
// "Not authorized", "Granted QoS 1", ...
[[nodiscard]] std::string_view reason_name(std::uint8_t code);

struct Error {
    enum class Kind : std::uint8_t {
        Refused,           // the broker answered with an error reason code (reason holds it)
        Network,           // could not connect, connection lost, TLS or WebSocket handshake failed
        Timeout,           // no answer in time
        Protocol,          // the broker broke the protocol (malformed packet, ...)
        InvalidArgument,   // a bad topic, filter, URL or option, refused before anything was sent
        NotConnected,      // the operation needs a connection and offline buffering is off or full
        Closed,            // the client was disconnected or destroyed while the operation was pending
    };
    Kind kind = Kind::Network;
    std::uint8_t reason = 0;  // MQTT reason code when kind == Refused (or a DISCONNECT reason from the broker)
    std::string message;      // readable: "connection refused (127.0.0.1:1883)", "Not authorized", ...
    [[nodiscard]] std::string_view kind_name() const;  // "refused", "network", ...
};

template <class T>
using Result = boost::system::result<T, Error>;

struct UserProperty {
    std::string key;
    std::string value;
    friend bool operator==(const UserProperty&, const UserProperty&) = default;
};

// The MQTT 5.0 properties a message carries (ignored for 3.x).
struct MessageProperties {
    std::optional<std::uint8_t> payload_format_indicator;
    std::optional<std::uint32_t> message_expiry_interval;
    std::optional<std::string> content_type;
    std::optional<std::string> response_topic;
    std::optional<std::vector<std::byte>> correlation_data;
    std::vector<UserProperty> user_properties;
    std::vector<std::uint32_t> subscription_identifiers;  // received messages only
};

struct Message {
    std::string topic;
    std::vector<std::byte> payload;
    QoS qos = QoS::AtMostOnce;
    bool retain = false;
    bool dup = false;  // received messages only
    // Received QoS 1 and 2 messages: the broker's packet identifier, which AsyncClient::ack() acknowledges
    // (manual_ack); 0 otherwise. publish() ignores it: an outbound message gets an identifier of our own.
    std::uint16_t packet_id = 0;
    MessageProperties properties;

    [[nodiscard]] std::string_view payload_text() const {
        return {reinterpret_cast<const char*>(payload.data()), payload.size()};
    }
    static Message text(std::string topic, std::string_view payload, QoS qos = QoS::AtMostOnce, bool retain = false);
};

struct Will {
    std::string topic;
    std::vector<std::byte> payload;
    QoS qos = QoS::AtMostOnce;
    bool retain = false;
    MessageProperties properties;
    std::optional<std::uint32_t> delay_interval;  // Will Delay Interval (5.0)
};

struct TlsOptions {
    std::string ca_file, ca_path, cert_file, key_file;
    std::string sni;         // default: the URL's host
    bool insecure = false;   // no certificate or host name verification: development only
    std::string version;     // "" (default), "tlsv1.2", "tlsv1.3": the minimum
};

// Enhanced authentication (5.0): called with the broker's Authentication Data of each AUTH 0x18 (and of the
// CONNACK); returns the data to answer with, or an error to give up.
using AuthCallback = std::function<Result<std::vector<std::byte>>(std::span<const std::byte> server_data)>;
// The broker's final word on enhanced authentication (5.0): the Authentication Data of the CONNACK, or of the AUTH
// 0x00 that ends a re-authentication, empty when it has none. An error fails connect() (or reauthenticate(), and
// closes the connection): for methods that authenticate the broker too (SCRAM's server-final).
using AuthCompleteCallback = std::function<Result<void>(std::span<const std::byte> server_data)>;

// Every member has a default, so designated initializers ({.url = ..., .client_id = ...}) compile cleanly
// under -Wextra.
struct ConnectOptions {
    std::string url = "mqtt://localhost:1883";  // mqtt://, mqtts://, ws://, wss:// (path /mqtt by default)
    ProtocolVersion version = ProtocolVersion::V5;
    std::string client_id{};  // empty: the broker assigns one (5.0) / allowed with clean_start (3.1.1)
    bool clean_start = true;
    std::uint16_t keep_alive_s = 60;
    std::uint32_t session_expiry_interval = 0;  // 5.0; 0xFFFFFFFF = never
    std::optional<std::string> username{};
    std::optional<std::string> password{};
    std::optional<Will> will{};
    std::uint16_t receive_maximum = 65535;       // 5.0: inbound QoS 1/2 window
    std::uint32_t maximum_packet_size = 0;       // 5.0: 0 = no limit announced
    std::uint16_t topic_alias_maximum = 16;      // 5.0: inbound aliases accepted
    bool use_topic_aliases = true;               // 5.0: assign outbound aliases within the broker's maximum
    std::optional<bool> request_response_information{};
    std::optional<bool> request_problem_information{};
    std::vector<UserProperty> user_properties{};
    std::string authentication_method{};           // 5.0 enhanced authentication
    std::vector<std::byte> authentication_data{};
    AuthCallback on_auth{};
    AuthCompleteCallback on_auth_complete{};  // empty: on_auth gets the final word, when it has data
    TlsOptions tls{};
    std::chrono::milliseconds connect_timeout{10'000};
    // Automatic reconnect with exponential backoff and full jitter between min and max. On reconnect,
    // subscriptions are sent again when the broker did not keep the session.
    bool auto_reconnect = false;
    std::chrono::milliseconds reconnect_min{500};
    std::chrono::milliseconds reconnect_max{30'000};
    // Messages published while disconnected are kept, up to this many, and sent on reconnect; beyond it the
    // oldest QoS 0 message is dropped first, then publish fails with NotConnected.
    std::size_t offline_buffer_limit = 1000;
    // 3.1 and 3.1.1: connect as a bridge, setting the bridge bit in CONNECT (protocol level 0x83 / 0x84), as
    // Mosquitto's try_private and FlashMQ do. A broker that knows it (Mosquitto, FlashMQ, mothd) then does not
    // send our own messages back to us and keeps their retain flag. Ignored for 5.0, where subscriptions say it
    // with no_local and retain_as_published. Only for a broker that knows the bit: others refuse the level.
    bool bridge = false;
    // Received QoS 1 and 2 messages are acknowledged (PUBACK / PUBREC) only when the application calls
    // AsyncClient::ack() for them, not on receipt: for taking ownership of a message only once it is safe (a
    // bridge acks the remote once the message is routed and stored). The broker sends at most our Receive
    // Maximum (5.0) unacknowledged messages at a time. AsyncClient only: the blocking Client has no ack().
    bool manual_ack = false;
};

struct ConnectResult {
    bool session_present = false;
    std::uint8_t reason = 0;
    std::string assigned_client_id;            // 5.0, when the broker assigned one
    std::optional<std::uint16_t> server_keep_alive;
    std::uint16_t receive_maximum = 65535;     // the broker's
    std::uint32_t maximum_packet_size = 0;     // the broker's, 0 = none
    std::uint16_t topic_alias_maximum = 0;     // the broker's
    std::uint8_t maximum_qos = 2;
    bool retain_available = true;
    bool wildcard_subscription_available = true;
    bool subscription_identifier_available = true;
    bool shared_subscription_available = true;
    std::optional<std::string> response_information;
    std::optional<std::string> server_reference;
    std::optional<std::string> reason_string;
    std::vector<UserProperty> user_properties;
};

struct SubscribeOptions {
    QoS qos = QoS::AtMostOnce;
    bool no_local = false;
    bool retain_as_published = false;
    std::uint8_t retain_handling = 0;
};

struct Subscription {
    std::string filter;
    SubscribeOptions options;
};

struct SubscribeResult {
    std::vector<std::uint8_t> reason_codes;  // one per filter: granted QoS 0..2, or an error reason code
    std::optional<std::string> reason_string;
    std::vector<UserProperty> user_properties;
};

struct UnsubscribeResult {
    std::vector<std::uint8_t> reason_codes;  // 5.0; empty for 3.x
};

struct PublishResult {
    std::uint8_t reason = 0;  // PUBACK/PUBREC reason (0 = Success, 0x10 = No matching subscribers) for QoS 1/2
    std::optional<std::string> reason_string;
};

// Asynchronous client. All member functions must be called from the client's executor (a strand or a
// single-threaded io_context). Coroutines return when the operation completes: publish at QoS 1/2 when the
// broker acknowledged it (PUBACK / PUBCOMP), subscribe on SUBACK. Incoming messages are delivered in order
// through receive() (or the on_message callback when one is set).
class AsyncClient {
public:
    // Opens the byte stream for each connection attempt; the default is moth::net::connect. Tests and custom
    // transports pass their own. Errors are thrown as boost::system::system_error, as net::connect does.
    using StreamFactory = std::function<boost::asio::awaitable<std::unique_ptr<net::Stream>>(
        boost::asio::any_io_executor, const net::ConnectSettings&)>;

    AsyncClient(boost::asio::any_io_executor ex, ConnectOptions options);
    AsyncClient(boost::asio::any_io_executor ex, ConnectOptions options, StreamFactory stream_factory);
    ~AsyncClient();
    AsyncClient(const AsyncClient&) = delete;
    AsyncClient& operator=(const AsyncClient&) = delete;

    boost::asio::awaitable<Result<ConnectResult>> connect();
    boost::asio::awaitable<Result<PublishResult>> publish(Message message);
    boost::asio::awaitable<Result<SubscribeResult>> subscribe(std::vector<Subscription> subscriptions,
                                                              std::optional<std::uint32_t> subscription_id = {},
                                                              std::vector<UserProperty> user_properties = {});
    boost::asio::awaitable<Result<UnsubscribeResult>> unsubscribe(std::vector<std::string> filters);
    // The next incoming message; waits. Fails with Closed once the client is disconnected for good.
    boost::asio::awaitable<Result<Message>> receive();
    // The same, giving up with Timeout when no message arrives within `timeout` (no message is lost).
    boost::asio::awaitable<Result<Message>> receive(std::chrono::milliseconds timeout);
    // DISCONNECT (reason 0x00, or 0x04 to have the broker publish the will), then close.
    boost::asio::awaitable<void> disconnect(std::uint8_t reason = 0, std::optional<std::uint32_t> session_expiry = {});
    // 5.0 re-authentication (AUTH 0x19) with the configured method.
    boost::asio::awaitable<Result<void>> reauthenticate(std::vector<std::byte> data);

    // With ConnectOptions::manual_ack: acknowledges a received QoS 1 or 2 message (PUBACK / PUBREC), in any
    // order. Sent on the connection current at the time of the call; when there is none, nothing is sent and the
    // broker, if it kept the session, resends the message under the same packet identifier: a QoS 1 resend is
    // then acknowledged at once, a QoS 2 one answered with PUBREC at once, neither delivered again. A message
    // still held by the application when the broker resends it is not delivered again either: its ack()
    // acknowledges the resent copy. A QoS 0 message, one already acked, or one of a session the broker did not
    // keep (an identifier we no longer hold for that topic): nothing. May be called from on_message.
    void ack(const Message& message);

    void on_message(std::function<void(const Message&)> callback);
    // Connection state changes: connected (with the CONNACK's result), or lost/closed with why.
    void on_connected(std::function<void(const ConnectResult&)> callback);
    void on_disconnected(std::function<void(const Error&)> callback);
    [[nodiscard]] bool connected() const;
    // True from a lost connection until the automatic reconnect succeeds (or the client gives up or is
    // disconnected): receive() keeps waiting meanwhile and publish() buffers.
    [[nodiscard]] bool reconnecting() const;
    // The CONNACK's result of the latest successful connection (the first connect() or an automatic
    // reconnect): session_present says whether the broker kept the session. Empty before the first one.
    [[nodiscard]] std::optional<ConnectResult> last_connect() const;
    [[nodiscard]] const ConnectOptions& options() const;

    struct Impl;

private:
    std::shared_ptr<Impl> impl_;
};

// Blocking facade: runs an AsyncClient on its own thread. Thread safe.
class Client {
public:
    explicit Client(ConnectOptions options);
    ~Client();  // disconnects if connected
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    Result<ConnectResult> connect();
    Result<PublishResult> publish(Message message);
    Result<PublishResult> publish(std::string topic, std::string_view payload, QoS qos = QoS::AtMostOnce,
                                  bool retain = false);
    Result<SubscribeResult> subscribe(std::string filter, QoS qos = QoS::AtMostOnce);
    Result<SubscribeResult> subscribe(std::vector<Subscription> subscriptions,
                                      std::optional<std::uint32_t> subscription_id = {});
    Result<UnsubscribeResult> unsubscribe(std::vector<std::string> filters);
    // The next message, or nullopt when none arrives within `timeout` (or the client is closed).
    std::optional<Message> receive(std::chrono::milliseconds timeout);
    void disconnect(std::uint8_t reason = 0);
    [[nodiscard]] bool connected() const;
    // As AsyncClient::reconnecting() and AsyncClient::last_connect().
    [[nodiscard]] bool reconnecting() const;
    [[nodiscard]] std::optional<ConnectResult> last_connect() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace moth
