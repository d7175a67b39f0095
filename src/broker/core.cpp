#include "broker/core.hpp"

#include <algorithm>

#include "broker/util.hpp"
#include "codec/encoder.hpp"

namespace moth::broker {

using codec::ProtocolVersion;
using codec::QoS;
using codec::ReasonCode;

namespace {

constexpr auto kConnectTimeout = std::chrono::seconds(10);

}  // namespace

Core::Core(unsigned index, Shared& shared, Host& host)
    : index_(index),
      shared_(shared),
      host_(host),
      store_(shared.store),
      stats_(*shared.stats.at(index)),
      cfg_(shared.config),
      tree_(shared.config.features.shared_policy),
      router_(shared.authorizer),
      outbox_(shared.worker_count) {
    scope_.shares = shared.cluster == nullptr;  // in a cluster, shared subscriptions are served through the bus
}

Core::~Core() = default;

// ---------------------------------------------------------------------------------------------------------
// Connections

void Core::on_open(ConnectionId id, std::string remote, TimePoint now, std::shared_ptr<const ListenerTag> tag,
                   std::optional<std::string> transport_username) {
    now_ = now;
    auto c = std::make_unique<Connection>();
    c->id = id;
    c->remote = std::move(remote);
    c->tag = std::move(tag);
    if (transport_username) c->rare_state().transport_username = std::move(transport_username);
    c->opened = now;
    c->last_rx = now;
    c->max_packet_in = cfg_.limits.max_packet_size;
    Connection& ref = *c;
    connections_.emplace(id, std::move(c));
    wheel_.schedule(ref.id, ref.due_tick, now + kConnectTimeout);
}

bool Core::origin(ConnectionId id, std::string& remote, std::shared_ptr<const ListenerTag>& tag) const {
    auto it = connections_.find(id);  // also a connection already marked Closed for its hand-off
    if (it == connections_.end()) return false;
    remote = it->second->remote;
    tag = it->second->tag;
    return true;
}

std::optional<std::string> Core::client_id_of(ConnectionId id) const {
    const auto it = connections_.find(id);  // also a connection already marked Closed
    if (it == connections_.end() || it->second->session == nullptr) return std::nullopt;
    return it->second->session->client_id;
}

Connection* Core::find_connection(ConnectionId id) {
    auto it = connections_.find(id);
    if (it == connections_.end() || it->second->state == Connection::State::Closed) return nullptr;
    return it->second.get();
}

Session* Core::find_session(SessionId id) {
    auto it = sessions_by_id_.find(id);
    return it == sessions_by_id_.end() ? nullptr : it->second;
}

Connection* Core::session_connection(const Session& s) {
    return s.connection != 0 ? find_connection(s.connection) : nullptr;
}

SessionId Core::session_id(std::string_view client_id) const {
    auto it = sessions_.find(std::string(client_id));
    return it == sessions_.end() ? 0 : it->second->id;
}

unsigned Core::owner_of(std::string_view client_id) const { return owner_worker(client_id, shared_.worker_count); }

std::size_t Core::on_data(ConnectionId id, std::span<const std::byte> data, TimePoint now) {
    now_ = now;
    Connection* c = find_connection(id);
    if (c == nullptr) return data.size();
    std::size_t off = 0;
    in_input_ = id;
    // A SUBSCRIBE/UNSUBSCRIBE whose acknowledgement waits for the other workers pauses the connection's input
    // (Connection::acks_awaited), as does a CONNECT whose password is being checked (auth_pending) and a client
    // over its publish rate (throttle): the rest is returned unconsumed and fed again after resume_input().
    while (off < data.size() && c->state != Connection::State::Closed && !c->input_held()) {
        decoder_.set_max_packet_size(c->max_packet_in);
        decoder_.set_version(c->decoder_version);
        auto r = decoder_.decode(data.subspan(off));
        c->decoder_version = decoder_.version();
        if (r.status == codec::DecodeStatus::NeedMore) break;
        if (r.status == codec::DecodeStatus::Error) {
            decode_error(*c, r, now);
            in_input_ = 0;
            return data.size();
        }
        const auto raw = data.subspan(off, r.consumed);
        off += r.consumed;
        // Keepalive counts whole packets only [MQTT-3.1.2-22]: a client trickling a byte at a time is not alive.
        c->last_rx = now;
        Stats::add(stats_.bytes_received, r.consumed);
        Stats::add(stats_.messages_received);
        if (hand_off_connect(*c, r.packet, data.subspan(off - r.consumed))) {
            in_input_ = 0;
            return data.size();
        }
        current_raw_ = raw;
        handle_packet(*c, r.packet, now);
        if (!hook_answers_.empty()) settle_hook(*c);
    }
    in_input_ = 0;
    if (c->state == Connection::State::Closed) return data.size();
    if (c->input_held()) host_.pause_input(id);
    return off;
}

void Core::decode_error(Connection& c, const codec::DecodeResult& r, TimePoint now) {
    Stats::add(stats_.protocol_errors);
    if (c.state != Connection::State::AwaitConnect) {
        protocol_close(c, r.reason, r.message);
    } else if (r.reason == ReasonCode::UnsupportedProtocolVersion) {
        // [MQTT-3.1.2-2]: CONNACK 0x01 (3.1.1) / 0x84 (5.0) then close. The level is unknown, so the 3.1.1 form is
        // used: a 5.0 client still reads a non-zero code as a refusal.
        connack_error(c, ProtocolVersion::V3_1_1, ReasonCode::UnsupportedProtocolVersion);
    } else if (r.connect_version && is_v5(*r.connect_version)) {
        connack_error(c, ProtocolVersion::V5, r.reason);  // 5.0 section 4.13.1: CONNACK with 0x81/0x82, then close
    } else {
        if (shared_.log) shared_.log(1, "closing " + c.remote + ": " + std::string(r.message));
        drop_connection(c, false, now);
    }
}

bool Core::hand_off_connect(Connection& c, const codec::Packet& p, std::span<const std::byte> from) {
    const auto* connect = std::get_if<codec::Connect>(&p);
    if (connect == nullptr || c.state != Connection::State::AwaitConnect || connect->client_id.empty()) return false;
    const unsigned owner = owner_of(connect->client_id);
    if (owner == index_) return false;
    // The session of this client lives on another worker: move the connection there, CONNECT first.
    const ConnectionId id = c.id;
    c.state = Connection::State::Closed;
    host_.hand_off(id, owner, from);
    connections_.erase(id);
    return true;
}

void Core::on_drained(ConnectionId id, TimePoint now) {
    now_ = now;
    Connection* c = find_connection(id);
    if (c == nullptr || c->session == nullptr) return;
    const Session& s = *c->session;
    if (!s.queue.empty() || s.spilled != 0 || !s.retained.empty()) pump(*c->session, now);
}

void Core::on_closed(ConnectionId id, TimePoint now) {
    now_ = now;
    Connection* c = find_connection(id);
    if (c == nullptr) {
        connections_.erase(id);
        return;
    }
    // [MQTT-3.1.2-8]: the Will Message is published when the Network Connection is closed without DISCONNECT.
    drop_connection(*c, true, now);
    connections_.erase(id);
}

void Core::send_packet(Connection& c, const codec::Packet& p) {
    auto size = codec::encoded_size(p, c.version);
    if (!size) return;
    if (c.max_packet_size != 0 && *size > c.max_packet_size) {
        // [MQTT-3.1.2-24]: nothing larger than the client's Maximum Packet Size is sent. The packets that get
        // here carry no optional property to strip (the CONNACK trims its own), so the packet is discarded.
        if (shared_.log) shared_.log(0, "not sending a packet larger than the client's Maximum Packet Size");
        return;
    }
    const auto out = host_.append(c.id, *size);
    if (out.empty()) return;
    // Cannot fail: encode() measures as encoded_size() did, and `out` has that size.
    if (!codec::encode(p, c.version, out)) return;
    Stats::add(stats_.bytes_sent, *size);
    Stats::add(stats_.messages_sent);
}

void Core::protocol_close(Connection& c, ReasonCode reason, std::string_view why) {
    if (shared_.log) {
        shared_.log(1, "closing " + c.remote + (c.session ? " (" + c.session->client_id + ")" : std::string()) +
                           ": " + std::string(codec::reason_code_name(reason)) + ": " + std::string(why));
    }
    if (c.state == Connection::State::Connected && is_v5(c.version)) {
        codec::Disconnect d;
        // A code DISCONNECT does not have (0x86 and 0x8C are CONNACK's) would not be sent at all: the nearest one.
        d.reason = codec::reason_code_allowed(reason, codec::PacketType::Disconnect) ? reason
                   : reason == ReasonCode::BadUserNameOrPassword || reason == ReasonCode::BadAuthenticationMethod
                       ? ReasonCode::NotAuthorized
                       : ReasonCode::UnspecifiedError;
        send_packet(c, d);
    }
    drop_connection(c, true, now_);
}

void Core::connack_error(Connection& c, ProtocolVersion v, ReasonCode reason, std::string_view why, int level) {
    if (shared_.log) {
        shared_.log(level, "refusing the connection from " + c.remote + ": CONNACK " +
                               std::string(codec::reason_code_name(reason)) +
                               (is_v5(v) ? std::string()
                                         : " (return code " + std::to_string(codec::connack_return_code(reason)) + ")") +
                               (why.empty() ? std::string() : ": " + std::string(why)));
    }
    codec::Connack ack;
    ack.reason = reason;
    const auto saved = c.version;
    c.version = v;
    send_packet(c, ack);
    c.version = saved;
    c.state = Connection::State::Closed;
    host_.close(c.id);
}

void Core::drop_connection(Connection& c, bool with_will, TimePoint now) {
    if (c.state == Connection::State::Closed) return;
    const bool was_connected = c.state == Connection::State::Connected;
    c.state = Connection::State::Closed;
    host_.close(c.id);
    closed_.push_back(c.id);
    if (was_connected) {
        Stats::subtract(stats_.connections);
        shared_.connection_count.fetch_sub(1, std::memory_order_relaxed);
    }
    Session* s = c.session;
    c.session = nullptr;
    if (s == nullptr || s->connection != c.id) return;
    s->connection = 0;
    s->offline_since = now;
    offline_.push_back(s->id);
    if (with_will && c.will) leave_will(c, *s, now);
    c.will.reset();
    if (s->expiry_s == 0) end_session(*s);
}

void Core::leave_will(Connection& c, Session& s, TimePoint now) {
    const auto delay = std::min(c.will->delay_s, s.expiry_s);
    if (delay == 0) {
        publish_will(*c.will, now, s.tag.get());
        return;
    }
    // 5.0 section 3.1.3.2.2: published after the Will Delay Interval or when the session ends, whichever comes
    // first, unless the client reconnects in time.
    s.pending_will = c.will;
    s.will_due = now + std::chrono::seconds(delay);
    if (durable(s)) {
        StoreBatch b{now};
        b.put_will(s.client_id, {c.will->message, c.will->delay_s, c.will->expiry_s, to_unix_ms(s.will_due, now)});
        commit(b);
    }
}

void Core::end_session(Session& s, bool moved, std::function<void(bool)> released) {
    // [MQTT-3.1.3-9]: at the latest when the session ends (not when it goes on on another node)
    if (s.pending_will && !moved) publish_will(*s.pending_will, now_, s.tag.get());
    if (store_ != nullptr && s.tag->durable.exchange(false)) {
        StoreBatch b{now_};
        moved ? b.forget_session(s.client_id) : b.erase_session(s.client_id);
        if (released) {
            // Everything written of it before is durable (and in the cluster's copy) once this batch is.
            commit_then(b, [released = std::move(released)](Core&, bool ok, TimePoint) { released(ok); });
        } else {
            commit(b);
        }
    }
    if (released) released(true);
    for (const auto& [filter, entry] : s.subscriptions) {
        tree_.erase(filter, s.id);
        broadcast_unsubscribe(filter, s.id);
        cluster_interest(s, filter, entry, moved ? Interest::Forget : Interest::Remove);
    }
    Stats::subtract(stats_.subscriptions, s.subscriptions.size());
    if (!moved) redistribute_shared(s, now_);
    Stats::subtract(stats_.sessions);
    sessions_by_id_.erase(s.id);
    sessions_.erase(s.client_id);  // destroys s
    --sessions_known_;
}

void Core::publish_will(const StoredWill& w, TimePoint now, const SessionTag* tag) {
    if (tag != nullptr && checks_access() && !shared_.authorizer->allows(*tag->identity(), w.message->topic, Access::Write)) {
        // Checked again when it is due: the rules may have changed since the CONNECT.
        Stats::add(stats_.denied);
        if (shared_.log) shared_.log(1, "will of " + tag->client_id + " on " + w.message->topic + " denied (acl_file)");
        return;
    }
    MessagePtr m = w.message;
    if (w.expiry_s) {
        auto copy = std::make_shared<Message>(*m);
        copy->expires_at = now + std::chrono::seconds(*w.expiry_s);
        m = std::move(copy);
    }
    if (m->retain) {
        StoreBatch b{now_};
        set_retained(m, &b);
        commit(b);
    }
    to_cluster(m);
    route_persisted(m, now);
}

// ---------------------------------------------------------------------------------------------------------
// The per-packet dispatch: each packet type to its room.

void Core::handle_packet(Connection& c, codec::Packet& p, TimePoint now) {
    now_ = now;
    using State = Connection::State;
    if (auto* connect = std::get_if<codec::Connect>(&p)) {
        if (c.state != State::AwaitConnect) {
            protocol_close(c, ReasonCode::ProtocolError, "second CONNECT");  // [MQTT-3.1.0-2]
        } else {
            handle_connect(c, *connect, now);
        }
        return;
    }
    if (c.state == State::Authenticating) {
        if (auto* auth = std::get_if<codec::Auth>(&p)) {
            handle_auth(c, *auth, now);
        } else {
            protocol_close(c, ReasonCode::ProtocolError, "packet before authentication completed");
        }
        return;
    }
    if (c.state != State::Connected) return;
    Session& s = *c.session;
    std::visit(
        [&](auto& pk) {
            using T = std::decay_t<decltype(pk)>;
            if constexpr (std::is_same_v<T, codec::Publish>) handle_publish(c, pk, now);
            else if constexpr (std::is_same_v<T, codec::Puback>) handle_puback(s, pk, now);
            else if constexpr (std::is_same_v<T, codec::Pubrec>) handle_pubrec(c, s, pk, now);
            else if constexpr (std::is_same_v<T, codec::Pubcomp>) handle_pubcomp(s, pk, now);
            else if constexpr (std::is_same_v<T, codec::Pubrel>) handle_pubrel(c, s, pk);
            else if constexpr (std::is_same_v<T, codec::Subscribe>) handle_subscribe(c, pk, now);
            else if constexpr (std::is_same_v<T, codec::Unsubscribe>) handle_unsubscribe(c, pk, now);
            else if constexpr (std::is_same_v<T, codec::Pingreq>) send_packet(c, codec::Pingresp{});  // [MQTT-3.12.4-1]
            else if constexpr (std::is_same_v<T, codec::Disconnect>) handle_disconnect(c, pk, now);
            else if constexpr (std::is_same_v<T, codec::Auth>) handle_auth(c, pk, now);
            // Other types never reach here: the server-role decoder refuses them.
        },
        p);
}

// ---------------------------------------------------------------------------------------------------------
// The loop turn and time

void Core::flush() {
    for (unsigned w = 0; w < outbox_.size(); ++w) post_outbox(w);
    for (auto id : closed_) {
        auto it = connections_.find(id);
        if (it != connections_.end() && it->second->state == Connection::State::Closed) connections_.erase(it);
    }
    closed_.clear();
}

void Core::on_tick(TimePoint now) {
    now_ = now;
    run_wheel(now);
    check_offline_sessions(now);
    if (index_ == 0) {
        publish_sys(now);
        cluster_report(now);
    }
}

void Core::run_wheel(TimePoint now) {
    wheel_.run(now, [&](ConnectionId id, std::int64_t tick) {
        auto it = connections_.find(id);
        if (it == connections_.end()) return;
        Connection& c = *it->second;
        if (c.due_tick != tick) return;  // superseded by an earlier entry
        c.due_tick = kNoTick;
        if (c.state != Connection::State::Closed) check_connection(c, now);
    });
}

void Core::check_connection(Connection& c, TimePoint now) {
    if (c.state != Connection::State::Connected) {
        if (now - c.opened <= kConnectTimeout) {
            wheel_.schedule(c.id, c.due_tick, c.opened + kConnectTimeout);
            return;
        }
        if (shared_.log) {
            shared_.log(1, "closing " + c.remote + ": " +
                               (c.state == Connection::State::AwaitConnect ? "no CONNECT" : "authentication not complete") +
                               " within " + std::to_string(kConnectTimeout.count()) + " s");
        }
        drop_connection(c, false, now);
        return;
    }
    if (c.rare && c.rare->expires_at) {
        // The identity's end (a JWT's exp): 5.0 is told 0x87 Not authorized; 3.x has no DISCONNECT from the server,
        // its connection is closed (docs/security.md). The will goes out as after any other server close.
        if (now >= *c.rare->expires_at) {
            protocol_close(c, ReasonCode::NotAuthorized, "credentials expired");
            return;
        }
        wheel_.schedule(c.id, c.due_tick, *c.rare->expires_at);
    }
    if (c.throttle && c.throttle->paused) {
        // Resumed in the tick its debt is paid (up to a tick early: the next PUBLISH then pauses it again, so the
        // rate holds). Keep alive does not run while the broker itself is not reading.
        if (tick_of(c.throttle->resume_at) > tick_of(now)) {
            wheel_.schedule(c.id, c.due_tick, c.throttle->resume_at);
            return;
        }
        c.throttle->paused = false;
        c.last_rx = now;
        host_.resume_input(c.id);
    }
    // [MQTT-3.1.2-24] (3.1.1 [MQTT-3.1.2-24]): nothing received for 1.5 times the Keep Alive -> close.
    if (c.keep_alive_s == 0) return;
    const auto limit = std::chrono::milliseconds(c.keep_alive_s * 1500LL);
    if (now - c.last_rx > limit) {
        protocol_close(c, ReasonCode::KeepAliveTimeout, "keep alive timeout");
    } else {
        wheel_.schedule(c.id, c.due_tick, c.last_rx + limit);
    }
}

void Core::check_offline_sessions(TimePoint now) {
    if (sessions_.size() != sessions_known_) {
        // Sessions restored from the store: list those offline (all of them, at start).
        for (const auto& [cid, sp] : sessions_) {
            if (sp->connection == 0) offline_.push_back(sp->id);
        }
        sessions_known_ = sessions_.size();
    }
    std::vector<SessionId> expired;
    std::size_t kept = 0;
    for (std::size_t i = 0; i < offline_.size(); ++i) {
        const SessionId id = offline_[i];
        Session* sp = find_session(id);
        if (sp == nullptr || sp->connection != 0) continue;  // ended, or connected again
        offline_[kept++] = id;
        Session& s = *sp;
        if (s.pending_will && now >= s.will_due) {
            auto w = std::move(*s.pending_will);
            s.pending_will.reset();
            if (durable(s)) {
                StoreBatch b{now_};
                b.erase_will(s.client_id);
                commit(b);
            }
            publish_will(w, now, s.tag.get());
        }
        if (s.expiry_s != kNeverExpires && now - s.offline_since >= std::chrono::seconds(s.expiry_s)) {
            expired.push_back(id);
        }
    }
    offline_.resize(kept);
    // Looked up again: a session listed twice (offline, online and offline again between two ticks) ends once.
    for (SessionId id : expired) {
        if (Session* s = find_session(id)) end_session(*s);
    }
}

void Core::shutdown() {
    for (auto& [id, cp] : connections_) {
        Connection& c = *cp;
        if (c.state == Connection::State::Connected && is_v5(c.version)) {
            codec::Disconnect d;
            d.reason = ReasonCode::ServerShuttingDown;
            send_packet(c, d);
        }
        if (c.state != Connection::State::Closed) {
            c.state = Connection::State::Closed;
            host_.close(c.id);
        }
    }
}

}  // namespace moth::broker
