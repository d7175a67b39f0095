// GatewaySession: the entry points, the connection (CONNECT and the will exchange, resume, DISCONNECT), sleep
// (section 6.14), keep-alive supervision (6.11) and the timers. Topic ids and the client's publishing are in
// gateway_topics.cpp, deliveries in gateway_deliver.cpp, the core's output in gateway_broker.cpp.
#include "mqttsn/gateway_session.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "codec/encoder.hpp"
#include "codec/topic.hpp"
#include "mqttsn/gateway_impl.hpp"

namespace moth::mqttsn {

namespace {

// MQTT's PUBLISH header is longer than MQTT-SN's (the topic name instead of a 2-octet id, properties): the internal
// connection's Maximum Packet Size leaves room for the longest topic name and some properties, so that every
// message whose payload could fit a datagram reaches the session, which then drops (and counts) what does not fit.
// A tighter limit would make the core discard such messages silently.
constexpr std::size_t kMqttHeaderAllowance = 65'535 + 1'024;

std::uint32_t maximum_packet_size(std::size_t max_datagram) {
    const std::size_t n = std::min<std::size_t>(max_datagram + kMqttHeaderAllowance, codec::kMaxPacketSize);
    return static_cast<std::uint32_t>(n);
}

Clock::duration scaled(std::uint16_t seconds, double factor) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds * factor));
}

}  // namespace

GatewaySession::GatewaySession(SessionSettings settings, TimePoint now)
    : settings_(std::move(settings)), impl_(std::make_unique<Impl>()) {
    if (settings_.max_inflight == 0) settings_.max_inflight = 1;  // 0 would stall every QoS 1/2 delivery
    impl_->g = this;
    impl_->alive_at = now;
}

GatewaySession::~GatewaySession() = default;

// Impl points back at its session: a move re-points it.
GatewaySession::GatewaySession(GatewaySession&& o) noexcept
    : settings_(std::move(o.settings_)),
      state_(o.state_),
      client_id_(std::move(o.client_id_)),
      dropped_(o.dropped_),
      impl_(std::move(o.impl_)) {
    if (impl_) impl_->g = this;
}

GatewaySession& GatewaySession::operator=(GatewaySession&& o) noexcept {
    settings_ = std::move(o.settings_);
    state_ = o.state_;
    client_id_ = std::move(o.client_id_);
    dropped_ = o.dropped_;
    impl_ = std::move(o.impl_);
    if (impl_) impl_->g = this;
    return *this;
}

void GatewaySession::on_packet(const Packet& p, TimePoint now, Actions& out) {
    Impl& im = impl_->enter(out, now);
    im.on_packet(p);
    im.maybe_finish_wake();
}

void GatewaySession::on_broker(Bytes mqtt, TimePoint now, Actions& out) {
    Impl& im = impl_->enter(out, now);
    im.on_broker(mqtt);
    im.maybe_finish_wake();
}

void GatewaySession::on_broker_closed(TimePoint now, Actions& out) {
    Impl& im = impl_->enter(out, now);
    // A close of a connection this session already ended (end_lost) or never opened is stale: the owner should not
    // report it, and it must not end the connection that replaced it.
    if (!im.internal_open) return;
    im.internal_open = false;
    if (state_ != State::Ended) im.send(Disconnect{});  // after the core's DISCONNECT or a refusal it has heard
    state_ = State::Ended;
    out.forget = true;
}

void GatewaySession::on_tick(TimePoint now, Actions& out) {
    Impl& im = impl_->enter(out, now);
    im.on_tick();
    im.maybe_finish_wake();
}

std::optional<TimePoint> GatewaySession::next_timer() const {
    return impl_->next_timer();
}

// ---- Impl: the client's messages -------------------------------------------------------------------------------

void GatewaySession::Impl::to_core(const codec::Packet& p) {
    // Only what the session built itself is encoded; the sizes are bounded by the datagram it came from.
    if (!codec::encode_append(p, codec::ProtocolVersion::V5, out->to_broker)) drop();
}

void GatewaySession::Impl::on_packet(const Packet& p) {
    const State s = state();
    if (s == State::Ended) {
        drop();
        return;
    }
    // Any datagram proves the client alive (6.11), except while asleep, where only PINGREQ/CONNECT/DISCONNECT
    // restart the sleep clock.
    if (s != State::Asleep) alive_at = now;
    std::visit(
        [&](const auto& m) {
            using T = std::decay_t<decltype(m)>;
            if constexpr (std::is_same_v<T, Connect>)
                on_connect(m);
            else if constexpr (std::is_same_v<T, WillTopic>)
                on_will_topic(m);
            else if constexpr (std::is_same_v<T, WillMsg>)
                on_will_msg(m);
            else if constexpr (std::is_same_v<T, PingReq>)
                on_pingreq(m);
            else if constexpr (std::is_same_v<T, Disconnect>)
                on_disconnect(m);
            else if (!connected())
                drop();  // everything below needs a connection (6.2)
            else if constexpr (std::is_same_v<T, Register>)
                on_register(m);
            else if constexpr (std::is_same_v<T, Regack>)
                on_regack(m);
            else if constexpr (std::is_same_v<T, Publish>)
                on_publish(m);
            else if constexpr (std::is_same_v<T, Puback>)
                on_client_puback(m);
            else if constexpr (std::is_same_v<T, Pubrec>)
                on_client_pubrec(m);
            else if constexpr (std::is_same_v<T, Pubrel>)
                to_core(codec::Pubrel{.packet_id = m.msg_id, .reason = {}, .properties = {}});
            else if constexpr (std::is_same_v<T, Pubcomp>)
                on_client_pubcomp(m);
            else if constexpr (std::is_same_v<T, Subscribe>)
                on_subscribe(m);
            else if constexpr (std::is_same_v<T, Unsubscribe>)
                on_unsubscribe(m);
            else if constexpr (std::is_same_v<T, WillTopicUpd>)
                on_will_topic_upd(m);
            else if constexpr (std::is_same_v<T, WillMsgUpd>)
                on_will_msg_upd(m);
            else
                drop();  // ADVERTISE, SEARCHGW, GWINFO, CONNACK, WILLTOPICREQ, SUBACK, ...: a gateway never receives
        },
        p);
}

// 6.2: CONNECT, with the will exchange first when the Will flag is set.
void GatewaySession::Impl::on_connect(const Connect& c) {
    const State s = state();
    if (internal_open) {
        if (!c.flags.clean_session && c.client_id == g->client_id_ &&
            (s == State::Active || s == State::Asleep || s == State::Awake)) {
            resume(c);
            return;
        }
        // A CONNECT the client repeats (6.13: after Tretry) while the core's CONNACK is on its way: ending the
        // connection would publish the client's will for nothing. The CONNACK answers both.
        if (s == State::Connecting && c.client_id == g->client_id_ && c.flags.clean_session == clean) return;
        out->end_lost = true;  // the old connection ends as a network failure: the core publishes its will
        internal_open = false;
    }
    reset();
    g->client_id_ = c.client_id;
    clean = c.flags.clean_session;
    keep_alive_s = c.duration_s;
    if (c.flags.will) {
        state() = State::WillTopic;
        send(WillTopicReq{});
        req_sent_at = now;
        req_retries = 0;
    } else {
        send_connect();
    }
}

// The client restarted without CleanSession while its session is alive: no new internal connection (6.3).
void GatewaySession::Impl::resume(const Connect& c) {
    keep_alive_s = c.duration_s;
    // The client forgot its topic ids, so the gateway's own registrations are redone too.
    id_by_name.clear();
    name_by_id.clear();
    next_topic_id = 1;
    requeue_for_resume();
    send(Connack{ReturnCode::Accepted});
    state() = State::Active;
    resend_all();
    pump();
}

// Everything that belongs to one internal connection.
void GatewaySession::Impl::reset() {
    will.reset();
    decoder = codec::Decoder{codec::DecoderOptions{codec::Role::Client}};
    decoder.set_version(codec::ProtocolVersion::V5);
    inbuf.clear();
    id_by_name.clear();
    name_by_id.clear();
    next_topic_id = 1;
    publishes_in_flight.clear();
    subs_in_flight.clear();
    queue.clear();
    queued_qos0 = 0;
    outstanding.clear();
    sleep_s = 0;
}

void GatewaySession::Impl::send_connect() {
    const SessionSettings& st = cfg();
    codec::Connect c;
    c.clean_start = clean;
    c.keep_alive_s = 0;  // the gateway supervises the client's keep alive itself
    c.client_id = g->client_id_;
    if (!st.username.empty()) c.username = st.username;
    c.properties.session_expiry_interval = clean ? 0 : st.session_expiry_s;
    c.properties.receive_maximum = st.receive_maximum;
    c.properties.maximum_packet_size = maximum_packet_size(st.max_datagram);
    c.properties.topic_alias_maximum = 0;
    if (will && !will->topic.empty()) {
        c.will = codec::Will{.topic = will->topic,
                             .payload = will->message,
                             .qos = static_cast<codec::QoS>(will->qos),
                             .retain = will->retain,
                             .properties = {}};
    }
    decoder.set_max_packet_size(maximum_packet_size(st.max_datagram));
    to_core(c);
    internal_open = true;
    state() = State::Connecting;
}

void GatewaySession::Impl::on_will_topic(const WillTopic& w) {
    if (state() != State::WillTopic) {
        drop();
        return;
    }
    if (w.empty) {  // no will after all
        send_connect();
        return;
    }
    if (codec::validate_topic_name(w.topic) != codec::TopicError::None) {
        // A will topic MQTT cannot carry (a wildcard, bad UTF-8): refused here, never passed on to the core.
        send(Connack{ReturnCode::NotSupported});
        lost();
        return;
    }
    will = WillData{.topic = w.topic,
                    .message = {},
                    .qos = static_cast<std::uint8_t>(std::clamp<int>(w.flags.qos, 0, 2)),
                    .retain = w.flags.retain};
    state() = State::WillMsg;
    send(WillMsgReq{});
    req_sent_at = now;
    req_retries = 0;
}

void GatewaySession::Impl::on_will_msg(const WillMsg& w) {
    if (state() != State::WillMsg || !will) {
        drop();
        return;
    }
    will->message = w.message;
    send_connect();
}

// 6.4: will updates while connected; the owner applies them to the internal connection.
void GatewaySession::Impl::on_will_topic_upd(const WillTopicUpd& w) {
    if (w.empty) {
        will.reset();
        out->will = WillUpdate{.remove = true, .topic = {}, .message = {}, .qos = 0, .retain = false};
        send(WillTopicResp{ReturnCode::Accepted});
        return;
    }
    if (codec::validate_topic_name(w.topic) != codec::TopicError::None) {
        send(WillTopicResp{ReturnCode::NotSupported});
        return;
    }
    if (!will) will = WillData{};
    will->topic = w.topic;
    will->qos = static_cast<std::uint8_t>(std::clamp<int>(w.flags.qos, 0, 2));
    will->retain = w.flags.retain;
    out->will = WillUpdate{
        .remove = false, .topic = will->topic, .message = will->message, .qos = will->qos, .retain = will->retain};
    send(WillTopicResp{ReturnCode::Accepted});
}

void GatewaySession::Impl::on_will_msg_upd(const WillMsgUpd& w) {
    if (!will) will = WillData{};
    will->message = w.message;
    // A message without a topic is no will yet: it is kept for a later WILLTOPICUPD.
    if (!will->topic.empty()) {
        out->will = WillUpdate{
            .remove = false, .topic = will->topic, .message = will->message, .qos = will->qos, .retain = will->retain};
    }
    send(WillMsgResp{ReturnCode::Accepted});
}

// 6.11 and 6.14: PINGREQ keeps an active client alive and wakes a sleeping one.
void GatewaySession::Impl::on_pingreq(const PingReq& p) {
    switch (state()) {
        case State::Active:
            send(PingResp{});
            return;
        case State::Asleep:
            if (!p.client_id.empty() && p.client_id != g->client_id_) break;
            alive_at = now;
            if (queue.empty() && outstanding.empty()) {
                send(PingResp{});  // nothing kept: back to sleep at once
                return;
            }
            state() = State::Awake;
            resend_all();  // the retransmission clock restarts on waking
            pump();
            return;  // maybe_finish_wake() answers PINGRESP once all is delivered
        case State::Awake:
            return;  // a repeated PINGREQ: the delivery in progress answers it
        default:
            break;
    }
    drop();
}

// 6.12 and 6.14: DISCONNECT ends the session, or with a duration puts the client to sleep.
void GatewaySession::Impl::on_disconnect(const Disconnect& d) {
    const State s = state();
    // A duration of 0 would be a sleep without supervision: taken as a plain DISCONNECT.
    if (d.duration_s && *d.duration_s != 0 && (s == State::Active || s == State::Awake || s == State::Asleep)) {
        sleep_s = *d.duration_s;
        alive_at = now;
        state() = State::Asleep;
        send(Disconnect{});
        return;
    }
    // The session is forgotten at once (the owner ignores the core's later close): a clean end, so no will.
    if (internal_open) {
        to_core(codec::Disconnect{.reason = codec::ReasonCode::NormalDisconnection, .properties = {}});
        internal_open = false;
    }
    send(Disconnect{});
    state() = State::Ended;
    out->forget = true;
}

void GatewaySession::Impl::maybe_finish_wake() {
    if (state() != State::Awake || !queue.empty() || !outstanding.empty()) return;
    send(PingResp{});
    state() = State::Asleep;
    alive_at = now;  // the client sleeps again from here
}

void GatewaySession::Impl::lost() {
    // Bytes already produced in this call were for the connection that ends now: with none open the owner would
    // start a new connection with them (found by the gateway fuzzer: a PUBCOMP, then the core's malformed output).
    out->to_broker.clear();
    if (internal_open) out->end_lost = true;
    internal_open = false;
    state() = State::Ended;
    out->forget = true;
}

// ---- Timers ----------------------------------------------------------------------------------------------------

std::optional<TimePoint> GatewaySession::Impl::keepalive_deadline() const {
    const State s = g->state_;
    std::uint16_t period = 0;
    if (s == State::Connecting || s == State::Active) period = keep_alive_s;
    if (s == State::Asleep || s == State::Awake) period = sleep_s;
    if (period == 0) return std::nullopt;
    return alive_at + scaled(period, cfg().keepalive_grace);
}

std::optional<TimePoint> GatewaySession::Impl::next_timer() const {
    std::optional<TimePoint> t = keepalive_deadline();
    const auto earliest = [&](TimePoint c) { t = t ? std::min(*t, c) : c; };
    const State s = g->state_;
    if (s == State::WillTopic || s == State::WillMsg) earliest(req_sent_at + cfg().retry_interval);
    if (connected()) {
        for (const Outstanding& o : outstanding) {
            if (o.sent_at && o.what != Await::CoreRel) earliest(*o.sent_at + cfg().retry_interval);
        }
    }
    return t;
}

void GatewaySession::Impl::on_tick() {
    const State s = state();
    if (s == State::WillTopic || s == State::WillMsg) {
        if (now < req_sent_at + cfg().retry_interval) return;
        if (req_retries >= cfg().max_retries) {  // no internal connection yet: forget silently
            state() = State::Ended;
            out->forget = true;
            return;
        }
        ++req_retries;
        req_sent_at = now;
        if (s == State::WillTopic)
            send(WillTopicReq{});
        else
            send(WillMsgReq{});
        return;
    }
    if (const auto deadline = keepalive_deadline(); deadline && now >= *deadline) {
        lost();
        return;
    }
    if (connected() && !retransmit()) lost();
}

// ---- Free functions --------------------------------------------------------------------------------------------

std::string_view state_name(GatewaySession::State s) noexcept {
    switch (s) {
        case State::Disconnected:
            return "disconnected";
        case State::WillTopic:
            return "willtopic";
        case State::WillMsg:
            return "willmsg";
        case State::Connecting:
            return "connecting";
        case State::Active:
            return "active";
        case State::Asleep:
            return "asleep";
        case State::Awake:
            return "awake";
        case State::Ended:
            return "ended";
    }
    return "unknown";
}

ReturnCode sn_return_code(codec::ReasonCode r) noexcept {
    if (!codec::is_error(r)) return ReturnCode::Accepted;
    if (r == codec::ReasonCode::QuotaExceeded) return ReturnCode::Congestion;
    if (r == codec::ReasonCode::TopicFilterInvalid) return ReturnCode::InvalidTopicId;
    return ReturnCode::NotSupported;
}

}  // namespace moth::mqttsn
