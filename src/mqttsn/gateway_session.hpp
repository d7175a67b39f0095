#pragma once
// One MQTT-SN client as the gateway serves it: the translation between its MQTT-SN messages and an MQTT 5.0
// connection into the broker core (an "internal connection": the server opens it on the worker that owns the
// client id, so the client's session is an ordinary session, with the same ACL, limits and persistence).
// Sans-I/O: the owner (src/server) feeds it decoded datagrams, the core's output bytes and the time, and carries out
// the Actions it returns. Not thread-safe: the owning worker's thread only.
//
// States (specification section 6.14): Disconnected -> (CONNECT [, WILLTOPICREQ/WILLTOPIC, WILLMSGREQ/WILLMSG])
// -> Connecting (waiting for the core's CONNACK) -> Active; Active -> DISCONNECT(duration) -> Asleep -> PINGREQ
// with the client id -> Awake (the messages kept while asleep are sent, then PINGRESP) -> Asleep; Asleep/Awake ->
// CONNECT -> Active; any -> Lost (keep alive or sleep overrun, retransmissions exhausted) or ended (DISCONNECT).
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "mqttsn/packets.hpp"

namespace moth::mqttsn {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;

// Topic ids both sides know in advance (the [mqttsn] config's predefined table). Immutable once built; shared by
// every session of the gateway.
struct PredefinedTopics {
    std::unordered_map<std::uint16_t, std::string> by_id;
    std::unordered_map<std::string, std::uint16_t> by_name;
};

struct SessionSettings {
    std::shared_ptr<const PredefinedTopics> predefined;  // may be null: none
    std::chrono::milliseconds retry_interval{10'000};    // Tretry: resend an unanswered message after this
    unsigned max_retries = 4;                            // Nretry: resends before the client counts as lost
    // Lost after this many keep-alive periods without a datagram (awake) or past the sleep duration (asleep).
    double keepalive_grace = 1.5;
    std::size_t sleep_buffer = 100;      // QoS 0 messages kept while asleep; beyond it the oldest is dropped
    std::uint16_t receive_maximum = 16;  // QoS 1/2 messages the core may have outstanding with the gateway
    std::uint16_t max_inflight = 1;      // QoS 1/2 PUBLISHes (and REGISTERs) unanswered at once towards the client
    std::uint32_t session_expiry_s = 86'400;  // CleanSession=0: how long the core keeps the session offline
    std::uint16_t max_registrations = 1'024;  // topic ids per client (REGISTER both ways); beyond: Congestion
    std::size_t max_datagram = 65'507;        // largest datagram sent to the client; larger messages are dropped
    std::string username;  // the internal CONNECT's User Name (empty: none); MQTT-SN 1.2 carries no credentials
};

// What the owner does after a call, in this order: sends `to_client` (each message wrapped for the client's
// forwarder when it came through one); if `end_lost`, tells the core the internal connection failed (the core
// publishes the will, as for a dropped TCP connection); applies `will` to the internal connection; feeds `to_broker`
// to the internal connection, opening a new one first when none is open (the bytes then begin with a CONNECT); if
// `forget`, drops this session (its internal connection, if still open, is left to the core, which closes it).
struct WillUpdate {
    bool remove = false;  // WILLTOPICUPD with no topic: no will from now on
    std::string topic;
    Buffer message;
    std::uint8_t qos = 0;
    bool retain = false;
};
struct Actions {
    std::vector<Packet> to_client;
    bool end_lost = false;
    std::optional<WillUpdate> will;
    Buffer to_broker;
    bool forget = false;
};

class GatewaySession {
public:
    enum class State : std::uint8_t { Disconnected, WillTopic, WillMsg, Connecting, Active, Asleep, Awake, Ended };

    GatewaySession(SessionSettings settings, TimePoint now);

    // A message from the client (decoded; forwarder wrapping already removed by the owner). Messages a gateway
    // never receives (ADVERTISE, CONNACK, ...) or that the state does not allow are dropped and counted.
    void on_packet(const Packet& p, TimePoint now, Actions& out);
    // Output of the core for the internal connection: MQTT 5.0 bytes, split anywhere.
    void on_broker(Bytes mqtt, TimePoint now, Actions& out);
    // The core closed the internal connection (after its DISCONNECT, a refused CONNECT, a take-over by another
    // connection with the same client id, an administrative disconnect). The client hears DISCONNECT; forget.
    // Report only closes of the connection the session has open: not one it ended itself (end_lost: a new
    // internal connection may already replace it), nor one after `forget` (a client's DISCONNECT forgets the
    // session at once, with the MQTT DISCONNECT in to_broker). A close with no connection open is ignored.
    void on_broker_closed(TimePoint now, Actions& out);
    // Retransmissions and keep-alive supervision; call at next_timer() (or later).
    void on_tick(TimePoint now, Actions& out);
    [[nodiscard]] std::optional<TimePoint> next_timer() const;

    [[nodiscard]] State state() const { return state_; }
    [[nodiscard]] const std::string& client_id() const { return client_id_; }
    // Messages dropped: malformed for the state, unknown topic ids, sleep buffer overflow, too large.
    [[nodiscard]] std::uint64_t dropped() const { return dropped_; }

private:
    SessionSettings settings_;
    State state_ = State::Disconnected;
    std::string client_id_;
    std::uint64_t dropped_ = 0;
    // The rest is the implementer's (gateway_session.cpp and its siblings).
    struct Impl;
    std::unique_ptr<Impl> impl_;

public:
    ~GatewaySession();
    GatewaySession(GatewaySession&&) noexcept;
    GatewaySession& operator=(GatewaySession&&) noexcept;
};

// The state's name for the API and logs: "disconnected", "active", "asleep", ...
[[nodiscard]] std::string_view state_name(GatewaySession::State s) noexcept;

// The topic of a QoS -1 PUBLISH (sent without a connection): a predefined id or a short name; nullopt when the
// message names neither (a Normal topic id means nothing without a connection) or the predefined id is unknown.
[[nodiscard]] std::optional<std::string> qos_minus_one_topic(const Publish& p, const PredefinedTopics* predefined);

}  // namespace moth::mqttsn
