#pragma once
// The inside of GatewaySession, shared by its implementation files (gateway_session.cpp: connection, sleep and
// timers; gateway_topics.cpp: topic ids and the client's PUBLISH/SUBSCRIBE; gateway_deliver.cpp: the core's
// messages towards the client; gateway_broker.cpp: decoding the core's output). Not a public header.
#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "codec/decoder.hpp"
#include "codec/packets.hpp"
#include "mqttsn/gateway_session.hpp"

namespace moth::mqttsn {

using State = GatewaySession::State;

struct GatewaySession::Impl {
    // A message of the core on its way to the client.
    struct Message {
        std::string topic;
        Buffer data;
        std::uint8_t qos = 0;
        bool retain = false;
        std::uint16_t packet_id = 0;  // the core's; the SN msg_id for QoS 1/2
        bool dup = false;             // sent before (a resume puts it back in the queue)
    };
    // What an entry towards the client waits for.
    enum class Await : std::uint8_t {
        Ack,      // PUBLISH sent: PUBACK (QoS 1) or PUBREC (QoS 2)
        CoreRel,  // PUBREC passed to the core: its PUBREL (nothing to resend meanwhile)
        Comp,     // PUBREL sent (or due, while asleep): PUBCOMP
        Regack,   // REGISTER sent: REGACK (msg.topic is the name, topic_id the id offered)
    };
    struct Outstanding {
        Await what = Await::Ack;
        std::uint16_t msg_id = 0;
        Message msg;
        TopicIdType type = TopicIdType::Normal;
        std::uint16_t topic_id = 0;
        std::optional<TimePoint> sent_at;  // nullopt: not sent yet (a PUBREL the core sent while the client slept)
        unsigned retries = 0;
    };
    struct WillData {
        std::string topic;  // empty: only a message is known so far (WILLMSGUPD without a will)
        Buffer message;
        std::uint8_t qos = 0;
        bool retain = false;
    };
    struct SubInFlight {
        bool subscribe = true;
        TopicIdType type = TopicIdType::Normal;
        std::string name;            // the filter as sent to the core
        std::uint16_t topic_id = 0;  // Predefined: the id
    };

    GatewaySession* g = nullptr;  // the owning session (re-pointed when it moves)
    // The call in progress (set by every public entry point).
    Actions* out = nullptr;
    TimePoint now{};

    // Connection.
    bool internal_open = false;  // the internal connection exists (its CONNECT was emitted, no end since)
    bool clean = true;
    std::uint16_t keep_alive_s = 0;  // CONNECT Duration
    std::uint16_t sleep_s = 0;       // DISCONNECT Duration while asleep/awake
    TimePoint alive_at{};            // the supervision clock's start: the last datagram (or PINGRESP to a sleeper)
    std::optional<WillData> will;
    TimePoint req_sent_at{};  // WILLTOPICREQ / WILLMSGREQ
    unsigned req_retries = 0;
    codec::Decoder decoder{codec::DecoderOptions{codec::Role::Client}};
    Buffer inbuf;  // the core's bytes not yet decoded (a packet split across calls)

    // Topic ids, both directions in one table (section 6.5).
    std::unordered_map<std::string, std::uint16_t> id_by_name;
    std::unordered_map<std::uint16_t, std::string> name_by_id;
    std::uint16_t next_topic_id = 1;
    std::uint16_t next_register_msg_id = 1;

    // Client -> core.
    std::unordered_map<std::uint16_t, std::uint16_t> publishes_in_flight;  // msg_id -> topic_id (to echo it)
    std::unordered_map<std::uint16_t, SubInFlight> subs_in_flight;         // msg_id -> what was asked

    // Core -> client.
    std::deque<Message> queue;  // in order; the head waits for a REGACK, an inflight slot, or the client to wake
    std::size_t queued_qos0 = 0;
    std::vector<Outstanding> outstanding;  // unanswered towards the client (at most max_inflight, REGISTERs too)

    Impl& enter(Actions& actions, TimePoint t) {
        out = &actions;
        now = t;
        return *this;
    }

    // gateway_session.cpp
    const SessionSettings& cfg() const { return g->settings_; }
    State& state() { return g->state_; }
    void drop(std::uint64_t n = 1) { g->dropped_ += n; }
    void send(Packet p) { out->to_client.push_back(std::move(p)); }
    void to_core(const codec::Packet& p);
    [[nodiscard]] bool connected() const { return g->state_ == State::Active || g->state_ == State::Awake; }
    void on_packet(const Packet& p);
    void on_connect(const Connect& c);
    void resume(const Connect& c);
    void reset();
    void send_connect();
    void on_will_topic(const WillTopic& w);
    void on_will_msg(const WillMsg& w);
    void on_will_topic_upd(const WillTopicUpd& w);
    void on_will_msg_upd(const WillMsgUpd& w);
    void on_pingreq(const PingReq& p);
    void on_disconnect(const Disconnect& d);
    void maybe_finish_wake();
    void lost();
    void on_tick();
    [[nodiscard]] std::optional<TimePoint> keepalive_deadline() const;
    [[nodiscard]] std::optional<TimePoint> next_timer() const;

    // gateway_topics.cpp
    [[nodiscard]] bool registry_full() const;
    [[nodiscard]] std::uint16_t allocate_topic_id() const;
    std::uint16_t add_registration(const std::string& name, std::uint16_t id = 0);
    void forget_registration(std::uint16_t id);
    void on_register(const Register& r);
    void on_publish(const Publish& p);
    void on_subscribe(const Subscribe& s);
    void on_unsubscribe(const Unsubscribe& u);
    void on_core_puback(const codec::Puback& a);
    void on_core_pubrec(const codec::Pubrec& a);
    void on_core_pubcomp(const codec::Pubcomp& a);
    void on_core_suback(const codec::Suback& a);
    void on_core_unsuback(const codec::Unsuback& a);

    // gateway_deliver.cpp
    void on_core_publish(const codec::Publish& p);
    void pump();
    [[nodiscard]] std::optional<std::pair<TopicIdType, std::uint16_t>> resolve(const std::string& topic) const;
    [[nodiscard]] const Outstanding* registering() const;
    void send_entry(Outstanding& o, bool resend);
    void resend_all();
    void ack_dropped(const Message& m, codec::ReasonCode reason);
    void on_regack(const Regack& r);
    void on_client_puback(const Puback& a);
    void on_client_pubrec(const Pubrec& r);
    void on_client_pubcomp(const Pubcomp& c);
    void on_core_pubrel(const codec::Pubrel& r);
    void requeue_for_resume();
    [[nodiscard]] bool retransmit();  // false: the client is lost

    // gateway_broker.cpp
    void on_broker(Bytes mqtt);
    void on_core_packet(const codec::Packet& p);
    void on_core_connack(const codec::Connack& c);
};

// The SN return code for an MQTT reason code of PUBACK/PUBREC/SUBACK (a success code: Accepted).
[[nodiscard]] ReturnCode sn_return_code(codec::ReasonCode r) noexcept;

}  // namespace moth::mqttsn
