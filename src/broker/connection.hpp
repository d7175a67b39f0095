#pragma once
// A network connection as the core sees it, from on_open to its close: the CONNECT's negotiated values, topic
// aliases, the will, and its place on the timing wheel. Owned by its worker's core.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "broker/admin.hpp"
#include "broker/auth.hpp"
#include "broker/ids.hpp"
#include "broker/lazy_container.hpp"
#include "broker/session.hpp"
#include "broker/throttle.hpp"
#include "broker/timers.hpp"
#include "codec/types.hpp"

namespace moth::broker {

struct Connection {
    // Pointer-sized and larger members first, then the small ones packed together at the end.
    ConnectionId id = 0;
    std::string remote;
    Session* session = nullptr;
    std::shared_ptr<const ListenerTag> tag;  // may be null (unit tests)
    std::string username;                    // from the CONNECT, for the API
    TimePoint connected_at{};                // when the CONNECT was accepted
    TimePoint opened{};
    TimePoint last_rx{};
    std::int64_t due_tick = kNoTick;  // the wheel entry that is live for this connection (see wheel_)
    LazyContainer<std::unordered_map<std::uint16_t, std::string>> aliases_in;
    LazyContainer<std::unordered_map<std::string, std::uint16_t>> aliases_out;
    BoxedOptional<StoredWill> will;
    // What the core's shared decoder (decoder_) needs of this connection: the version its CONNECT gave, and the
    // maximum packet size in force when it opened.
    std::uint32_t max_packet_in = 0;
    std::optional<codec::ProtocolVersion> decoder_version;
    enum class State : std::uint8_t { AwaitConnect, Authenticating, Connected, Closed } state = State::AwaitConnect;
    codec::ProtocolVersion version = codec::ProtocolVersion::V3_1_1;
    std::uint16_t keep_alive_s = 0;
    std::uint16_t send_window = 65535;  // client's Receive Maximum
    std::uint32_t max_packet_size = 0;  // client's Maximum Packet Size, 0: unlimited
    std::uint16_t alias_max_out = 0;    // client's Topic Alias Maximum
    // SUBACKs/UNSUBACKs still waiting for the other workers (or the store): while any is, no later packet of the
    // connection is processed, so it sees what a single-threaded broker would show (its SUBACK before the
    // echo of a PUBLISH it sent right after the SUBSCRIBE).
    std::uint16_t acks_awaited = 0;
    // Its QoS 1/2 PUBLISHes waiting for their store write (publish_durably): one that needs no write still waits
    // behind them, so that a publisher's messages are routed in the order sent [MQTT-4.6.0-6].
    std::uint16_t stores_pending = 0;
    // The CONNECT waits for the authenticator's answer (a password check on another thread): input is paused.
    bool auth_pending = false;
    std::uint32_t auth_ticket = 0;  // which answer is awaited (a later one for an older CONNECT is ignored)
    std::uint32_t denied = 0;       // PUBLISH and SUBSCRIBE the authorizer refused
    bool clean_start = false;
    // 3.x CONNECT with the bridge bit (protocol level 0x83/0x84: Mosquitto's try_private): its subscriptions get
    // no-local and retain-as-published, so a bridge never hears its own messages back and keeps retained ones.
    bool bridge = false;
    bool request_problem_info = true;
    // What few connections have (a transport identity, enhanced authentication) is kept out of line: one
    // pointer, null for the others.
    struct Rare {
        std::optional<std::string> transport_username;  // replaces the CONNECT's User Name
        std::string auth_method;
        unsigned auth_step = 0;
        std::optional<std::vector<std::byte>> pending_connect;  // CONNECT kept while enhanced auth runs
        // In a cluster: the decision a CONNECT waits with while the session is taken from another node
        // (cluster_sessions.cpp), and, once taken, when it was claimed (Unix ms; 0: not taken).
        std::optional<AuthDecision> cluster_decision;
        std::int64_t cluster_at = 0;
        std::unique_ptr<AuthExchange> auth_exchange;             // the authenticator's state between AUTH steps
        std::optional<TimePoint> expires_at;  // the identity's end (a token's exp): closed then, 5.0 with 0x87
        // A PUBLISH or SUBSCRIBE waiting for the authorization hook: its bytes, the answers in so far (by access and
        // topic), how many are still out, and which round they belong to. Input is paused meanwhile.
        std::optional<std::vector<std::byte>> hook_packet;
        std::vector<std::tuple<Access, std::string, bool>> hook_answers;
        std::uint16_t hook_waiting = 0;
        std::uint32_t hook_round = 0;
    };
    std::unique_ptr<Rare> rare;
    // Publish rate limits in force on this connection (limits.publish_rate ...); null when none applies.
    std::unique_ptr<Throttle> throttle;
    Rare& rare_state() {
        if (!rare) rare = std::make_unique<Rare>();
        return *rare;
    }
    // Input waits: for the other workers' SUBACK barrier, a password check, or a publish rate's debt.
    [[nodiscard]] bool input_held() const {
        return acks_awaited != 0 || auth_pending || (throttle && throttle->paused) || (rare && rare->hook_waiting != 0);
    }
    [[nodiscard]] std::string_view auth_method() const {
        return rare ? std::string_view(rare->auth_method) : std::string_view();
    }
};

}  // namespace moth::broker
