#include "broker/core.hpp"

#include <algorithm>
#include <cmath>
#include <random>

#include "codec/topic.hpp"
#include "common/utf8.hpp"

namespace moth::broker {

using codec::ProtocolVersion;
using codec::QoS;
using codec::ReasonCode;

namespace {

constexpr std::uint32_t kNeverExpires = 0xFFFFFFFF;
constexpr auto kConnectTimeout = std::chrono::seconds(10);
constexpr auto kWheelTick = std::chrono::milliseconds(250);  // the server's tick interval

std::int64_t tick_of(TimePoint t) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
    const auto per = static_cast<std::int64_t>(kWheelTick.count());
    return ms >= 0 ? ms / per : -((-ms + per - 1) / per);  // floor
}

bool is_v5(ProtocolVersion v) { return v == ProtocolVersion::V5; }

QoS min_qos(QoS a, QoS b) { return static_cast<std::uint8_t>(a) < static_cast<std::uint8_t>(b) ? a : b; }
QoS max_qos(QoS a, QoS b) { return static_cast<std::uint8_t>(a) > static_cast<std::uint8_t>(b) ? a : b; }

// What a queued message counts toward limits.max_queued_bytes: all it holds in memory (Message::memory_size()),
// topic, properties and payload, not the payload alone (issue 16: 140,000 user properties and 1 byte of payload).
std::size_t message_size(const Message& m) { return m.memory_size(); }

std::string_view as_text(codec::Bytes b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

}  // namespace

Shared::Shared(config::Config c, unsigned workers, TimePoint started_at)
    : config(std::move(c)), worker_count(workers), started(started_at) {
    for (unsigned i = 0; i < workers; ++i) stats.push_back(std::make_unique<Stats>());
}

Core::Core(unsigned index, Shared& shared, Host& host)
    : index_(index),
      shared_(shared),
      host_(host),
      store_(shared.store),
      stats_(*shared.stats.at(index)),
      cfg_(shared.config),
      tree_(shared.config.features.shared_policy),
      outbox_(shared.worker_count) {}

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
    schedule(ref, now + kConnectTimeout);
}

bool Core::origin(ConnectionId id, std::string& remote, std::shared_ptr<const ListenerTag>& tag) const {
    auto it = connections_.find(id);  // also a connection already marked Closed for its hand-off
    if (it == connections_.end()) return false;
    remote = it->second->remote;
    tag = it->second->tag;
    return true;
}

Core::Connection* Core::find_connection(ConnectionId id) {
    auto it = connections_.find(id);
    if (it == connections_.end() || it->second->state == Connection::State::Closed) return nullptr;
    return it->second.get();
}

Core::Session* Core::find_session(SessionId id) {
    auto it = sessions_by_id_.find(id);
    return it == sessions_by_id_.end() ? nullptr : it->second;
}

std::size_t Core::on_data(ConnectionId id, std::span<const std::byte> data, TimePoint now) {
    now_ = now;
    Connection* c = find_connection(id);
    if (c == nullptr) return data.size();
    std::size_t off = 0;
    in_input_ = id;
    // A SUBSCRIBE/UNSUBSCRIBE whose acknowledgement waits for the other workers pauses the connection's input
    // (Connection::acks_awaited): the rest is returned unconsumed and fed again after resume_input().
    while (off < data.size() && c->state != Connection::State::Closed && c->acks_awaited == 0) {
        decoder_.set_max_packet_size(c->max_packet_in);
        decoder_.set_version(c->decoder_version);
        auto r = decoder_.decode(data.subspan(off));
        c->decoder_version = decoder_.version();
        if (r.status == codec::DecodeStatus::NeedMore) break;
        if (r.status == codec::DecodeStatus::Error) {
            Stats::add(stats_.protocol_errors);
            if (c->state == Connection::State::AwaitConnect) {
                if (r.reason == ReasonCode::UnsupportedProtocolVersion) {
                    // [MQTT-3.1.2-2]: CONNACK 0x01 (3.1.1) / 0x84 (5.0) then close. The level is unknown, so the
                    // 3.1.1 form is used: a 5.0 client still reads a non-zero code as a refusal.
                    connack_error(*c, ProtocolVersion::V3_1_1, ReasonCode::UnsupportedProtocolVersion);
                } else if (r.connect_version && is_v5(*r.connect_version)) {
                    // 5.0 section 4.13.1: CONNACK with 0x81/0x82 before closing.
                    connack_error(*c, ProtocolVersion::V5, r.reason);
                } else {
                    if (shared_.log) shared_.log(1, "closing " + c->remote + ": " + std::string(r.message));
                    drop_connection(*c, false, now);
                }
            } else {
                protocol_close(*c, r.reason, r.message);
            }
            return data.size();
        }
        const auto raw = data.subspan(off, r.consumed);
        off += r.consumed;
        // Keepalive counts whole packets only [MQTT-3.1.2-22]: a client trickling a byte at a time is not alive.
        c->last_rx = now;
        Stats::add(stats_.bytes_received, r.consumed);
        Stats::add(stats_.messages_received);
        if (auto* connect = std::get_if<codec::Connect>(&r.packet);
            connect != nullptr && c->state == Connection::State::AwaitConnect && !connect->client_id.empty()) {
            const unsigned owner = owner_of(connect->client_id);
            if (owner != index_) {
                // The session of this client lives on another worker: move the connection there, CONNECT first.
                c->state = Connection::State::Closed;
                host_.hand_off(id, owner, data.subspan(off - r.consumed));
                connections_.erase(id);
                return data.size();
            }
        }
        current_raw_ = raw;
        handle_packet(*c, r.packet, now);
    }
    in_input_ = 0;
    if (c->state == Connection::State::Closed) return data.size();
    if (c->acks_awaited != 0) host_.pause_input(id);
    return off;
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
        d.reason = reason;
        send_packet(c, d);
    }
    drop_connection(c, true, now_);
}

void Core::connack_error(Connection& c, ProtocolVersion v, ReasonCode reason) {
    if (shared_.log) {
        shared_.log(1, "refusing the connection from " + c.remote + ": CONNACK " +
                           std::string(codec::reason_code_name(reason)) +
                           (is_v5(v) ? std::string() : " (return code " + std::to_string(codec::connack_return_code(reason)) + ")"));
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
        Stats::add(stats_.connections, static_cast<std::uint64_t>(-1));
        shared_.connection_count.fetch_sub(1, std::memory_order_relaxed);
    }
    Session* s = c.session;
    c.session = nullptr;
    if (s == nullptr || s->connection != c.id) return;
    s->connection = 0;
    s->offline_since = now;
    offline_.push_back(s->id);
    if (with_will && c.will) {
        const auto delay = std::min(c.will->delay_s, s->expiry_s);
        if (delay == 0) {
            publish_will(*c.will, now);
        } else {
            // 5.0 section 3.1.3.2.2: published after the Will Delay Interval or when the session ends,
            // whichever comes first, unless the client reconnects in time.
            s->pending_will = c.will;
            s->will_due = now + std::chrono::seconds(delay);
            if (durable(*s)) {
                StoreBatch b{now_};
                b.put_will(s->client_id,
                           {c.will->message, c.will->delay_s, c.will->expiry_s, to_unix_ms(s->will_due, now)});
                commit(b);
            }
        }
    }
    c.will.reset();
    if (s->expiry_s == 0) end_session(*s);
}

void Core::end_session(Session& s) {
    if (s.pending_will) publish_will(*s.pending_will, now_);  // [MQTT-3.1.3-9]: at the latest when the session ends
    if (store_ != nullptr && s.tag->durable.exchange(false)) {
        StoreBatch b{now_};
        b.erase_session(s.client_id);
        commit(b);
    }
    for (const auto& [filter, entry] : s.subscriptions) {
        tree_.erase(filter, s.id);
        broadcast_unsubscribe(filter, s.id);
    }
    Stats::add(stats_.subscriptions, static_cast<std::uint64_t>(-static_cast<std::int64_t>(s.subscriptions.size())));
    redistribute_shared(s, now_);
    Stats::add(stats_.sessions, static_cast<std::uint64_t>(-1));
    sessions_by_id_.erase(s.id);
    sessions_.erase(s.client_id);  // destroys s
    --sessions_known_;
}

void Core::redistribute_shared(Session& s, TimePoint now) {
    // 5.0 section 4.8.2: a QoS 1 message sent to a shared-subscription member whose session ends unacknowledged
    // SHOULD go to another member of the same group. The member's subscriptions are already out of the tree,
    // so matching the topic again picks one of the others, by the group's policy.
    auto move_on = [&](Outgoing& o) {
        // [MQTT-4.8.2-5]: a QoS 2 message of a member whose session ended MUST NOT go to another member.
        if (!o.share || o.qos != QoS::AtLeastOnce || o.message->expired(now)) return;
        const std::string& group = *o.share;
        std::optional<std::pair<SessionId, SubscriptionEntry>> chosen;
        tree_.match(o.message->topic, [&](SessionId key, const SubscriptionEntry& e) {
            if (!chosen && e.share && *e.share == group && key != s.id) chosen.emplace(key, e);
        });
        if (!chosen) return;
        const QoS q = min_qos(o.message->qos, chosen->second.options.qos);
        std::vector<std::uint32_t> ids;
        if (chosen->second.subscription_id != 0) ids.push_back(chosen->second.subscription_id);
        const unsigned w = worker_of(chosen->first);
        if (w == index_) {
            if (Session* other = find_session(chosen->first)) {
                deliver(*other, o.message, q, o.retain, std::move(ids), now, o.share);
            }
        } else {
            outbox_[w].push_back({o.message, chosen->first, q, o.retain, std::move(ids), o.share});
        }
    };
    for (auto& o : s.inflight) move_on(o);
    for (auto& o : s.queue) move_on(o);
}

void Core::publish_will(const StoredWill& w, TimePoint now) {
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
    route_persisted(m, now);
}

unsigned Core::owner_of(std::string_view client_id) const { return owner_worker(client_id, shared_.worker_count); }

std::string Core::assign_client_id() {
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    for (;;) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "moth-%016llx", static_cast<unsigned long long>(rng()));
        std::string id(buf);
        if (owner_of(id) == index_ && sessions_.find(id) == sessions_.end()) return id;
    }
}

// ---------------------------------------------------------------------------------------------------------
// Packets

void Core::handle_packet(Connection& c, codec::Packet& p, TimePoint now) {
    now_ = now;
    using State = Connection::State;
    if (auto* connect = std::get_if<codec::Connect>(&p)) {
        if (c.state != State::AwaitConnect) {
            // [MQTT-3.1.0-2]: a second CONNECT is a Protocol Error.
            protocol_close(c, ReasonCode::ProtocolError, "second CONNECT");
            return;
        }
        handle_connect(c, *connect, now);
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
            if constexpr (std::is_same_v<T, codec::Publish>) {
                handle_publish(c, pk, now);
            } else if constexpr (std::is_same_v<T, codec::Puback>) {
                auto it = std::find_if(s.inflight.begin(), s.inflight.end(), [&](const Outgoing& o) {
                    return o.packet_id == pk.packet_id && o.qos == QoS::AtLeastOnce && !o.held;
                });
                if (it != s.inflight.end()) {
                    forget(s, *it);
                    s.inflight.erase(it);
                }
                pump(s, now);
            } else if constexpr (std::is_same_v<T, codec::Pubrec>) {
                auto it = std::find_if(s.inflight.begin(), s.inflight.end(), [&](const Outgoing& o) {
                    return o.packet_id == pk.packet_id && o.qos == QoS::ExactlyOnce && !o.held;
                });
                codec::Pubrel rel;
                rel.packet_id = pk.packet_id;
                if (it == s.inflight.end()) {
                    if (is_v5(c.version)) rel.reason = ReasonCode::PacketIdentifierNotFound;
                    send_packet(c, rel);
                } else if (codec::is_error(pk.reason)) {
                    forget(s, *it);
                    s.inflight.erase(it);  // 5.0 section 4.3.3: an error PUBREC ends the flow
                    pump(s, now);
                } else {
                    it->pubrec = true;  // [MQTT-4.3.3-?] answer PUBREC with PUBREL
                    if (it->seq != 0 && store_ != nullptr) {
                        // The PUBREL goes out once the store knows the message reached PUBREC: after a crash the
                        // PUBREL is resent, never the PUBLISH (which the client would deliver again).
                        StoreBatch b{now_};
                        b.mark_delivery(s.client_id, it->seq, it->packet_id, true);
                        if (store_->acks_wait()) {
                            // Until then a reconnect does not resend the PUBREL either (resend_inflight): after a
                            // crash the client would get the PUBLISH again, and deliver it again.
                            it->releasing = true;
                            commit_then(b, [sid = s.id, seq = it->seq, pid = pk.packet_id](Core& core, bool ok, TimePoint) {
                                Session* ss = core.find_session(sid);
                                if (ss == nullptr) return;
                                auto e = std::find_if(ss->inflight.begin(), ss->inflight.end(), [&](const Outgoing& o) {
                                    return o.seq == seq && o.packet_id == pid && o.releasing;
                                });
                                if (e == ss->inflight.end()) return;
                                e->releasing = false;
                                // On the session's connection now, which may be a newer one than the PUBREC's.
                                Connection* cc = ss->connection != 0 ? core.find_connection(ss->connection) : nullptr;
                                if (!ok || cc == nullptr || cc->session != ss) return;
                                codec::Pubrel r;
                                r.packet_id = pid;
                                core.send_packet(*cc, r);
                            });
                            return;
                        }
                        commit(b);
                    }
                    send_packet(c, rel);
                }
            } else if constexpr (std::is_same_v<T, codec::Pubcomp>) {
                auto it = std::find_if(s.inflight.begin(), s.inflight.end(), [&](const Outgoing& o) {
                    return o.packet_id == pk.packet_id && o.qos == QoS::ExactlyOnce && o.pubrec;
                });
                if (it != s.inflight.end()) {
                    forget(s, *it);
                    s.inflight.erase(it);
                }
                pump(s, now);
            } else if constexpr (std::is_same_v<T, codec::Pubrel>) {
                codec::Pubcomp comp;
                comp.packet_id = pk.packet_id;
                // [MQTT-4.3.3-?] the packet identifier is released once PUBCOMP is sent.
                const bool known = s.incoming_qos2.erase(pk.packet_id) != 0;
                if (!known && is_v5(c.version)) comp.reason = ReasonCode::PacketIdentifierNotFound;
                if (known && durable(s)) {
                    // The PUBCOMP waits until the receive state is gone from the store: a stale one would make
                    // a later message reusing the packet identifier look like a duplicate.
                    StoreBatch b{now_};
                    b.erase_incoming(s.client_id, pk.packet_id);
                    if (store_->acks_wait()) {
                        commit_then(b, [cid = c.id, pid = pk.packet_id](Core& core, bool, TimePoint) {
                            if (Connection* cc = core.find_connection(cid)) {
                                codec::Pubcomp cp;
                                cp.packet_id = pid;
                                core.send_packet(*cc, cp);
                            }
                        });
                        return;
                    }
                    commit(b);
                }
                send_packet(c, comp);
            } else if constexpr (std::is_same_v<T, codec::Subscribe>) {
                handle_subscribe(c, pk, now);
            } else if constexpr (std::is_same_v<T, codec::Unsubscribe>) {
                handle_unsubscribe(c, pk, now);
            } else if constexpr (std::is_same_v<T, codec::Pingreq>) {
                send_packet(c, codec::Pingresp{});  // [MQTT-3.12.4-1]
            } else if constexpr (std::is_same_v<T, codec::Disconnect>) {
                handle_disconnect(c, pk, now);
            } else if constexpr (std::is_same_v<T, codec::Auth>) {
                handle_auth(c, pk, now);
            }
            // Other types never reach here: the server-role decoder refuses them.
        },
        p);
}

void Core::handle_connect(Connection& c, const codec::Connect& p, TimePoint now) {
    c.version = p.version;
    const auto v = p.version;
    const auto& limits = cfg_.limits;
    const auto& features = cfg_.features;
    if (shared_.connection_count.load(std::memory_order_relaxed) >= limits.max_connections) {
        connack_error(c, v, is_v5(v) ? ReasonCode::ServerBusy : ReasonCode::ServerUnavailable);
        return;
    }
    if (p.client_id.empty()) {
        // 3.1 requires 1 to 23 characters; 3.1.1 [MQTT-3.1.3-7/8]: only with Clean Session 1.
        const bool allowed = features.allow_zero_length_client_id && v != ProtocolVersion::V3_1 &&
                             (is_v5(v) || p.clean_start);
        if (!allowed) {
            connack_error(c, v, ReasonCode::ClientIdentifierNotValid);
            return;
        }
    } else if (p.client_id.size() > limits.max_client_id_length) {
        connack_error(c, v, ReasonCode::ClientIdentifierNotValid);
        return;
    }
    if (!is_v5(v) && refuses_keepalive_v3(p.keep_alive_s)) {
        if (shared_.log) {
            shared_.log(1, "refusing client " + std::string(p.client_id) + " from " + c.remote + ": keepalive " +
                               std::to_string(p.keep_alive_s) + " is not within limits.max_keepalive " +
                               std::to_string(limits.max_keepalive) +
                               " and MQTT 3.x cannot be told a lower one (limits.max_keepalive_v3 = \"apply\" accepts it)");
        }
        connack_error(c, v, ReasonCode::ClientIdentifierNotValid);  // 3.x return code 2, as Mosquitto
        return;
    }
    if (!cfg_.server_reference.empty()) {
        if (is_v5(v)) {
            codec::Connack ack;
            ack.reason = ReasonCode::UseAnotherServer;
            ack.properties.server_reference = cfg_.server_reference;
            send_packet(c, ack);
            c.state = Connection::State::Closed;
            host_.close(c.id);
        } else {
            connack_error(c, v, ReasonCode::ServerUnavailable);
        }
        return;
    }
    if (p.will) {
        // [MQTT-3.2.2-12] / [MQTT-3.2.2-13]: a Will the server cannot honour is refused in CONNACK.
        if (static_cast<std::uint8_t>(p.will->qos) > features.maximum_qos) {
            connack_error(c, v, is_v5(v) ? ReasonCode::QoSNotSupported : ReasonCode::ServerUnavailable);
            return;
        }
        if (p.will->retain && !features.retain_available) {
            connack_error(c, v, is_v5(v) ? ReasonCode::RetainNotSupported : ReasonCode::ServerUnavailable);
            return;
        }
        if (is_v5(v) && p.will->properties.payload_format_indicator == 1 &&
            !common::is_valid_mqtt_utf8(as_text(p.will->payload))) {
            connack_error(c, v, ReasonCode::PayloadFormatInvalid);
            return;
        }
    }
    Authenticator& auth = *shared_.authenticator;
    const std::string_view method = p.properties.authentication_method.value_or(std::string_view{});
    if (!method.empty() && !auth.supports_method(method)) {
        connack_error(c, v, ReasonCode::BadAuthenticationMethod);
        return;
    }
    std::optional<std::string_view> username = p.username;
    if (c.rare && c.rare->transport_username) {
        username = *c.rare->transport_username;
        if (shared_.log) {
            shared_.log(1, "client " + std::string(p.client_id) + " from " + c.remote + ": username \"" +
                               *c.rare->transport_username + "\" from its client certificate");
        }
    }
    AuthRequest req{p.client_id, username, p.password, method, p.properties.authentication_data, c.remote};
    auto decision = auth.authenticate(req, 0);
    // [MQTT-4.12.0-5]: the CONNACK of an enhanced authentication names its method, even without AUTH packets.
    if (!method.empty()) {
        c.rare_state().auth_method.assign(method);
    } else if (c.rare) {
        c.rare->auth_method.clear();
    }
    switch (decision.kind) {
        case AuthDecision::Kind::Deny:
            connack_error(c, v, decision.reason == ReasonCode::Success ? ReasonCode::NotAuthorized : decision.reason);
            return;
        case AuthDecision::Kind::Continue: {
            if (!is_v5(v) || method.empty()) {
                connack_error(c, v, ReasonCode::NotAuthorized);
                return;
            }
            c.state = Connection::State::Authenticating;
            auto& rare = c.rare_state();
            rare.auth_method.assign(method);
            rare.auth_step = 1;
            rare.pending_connect.emplace(current_raw_.begin(), current_raw_.end());
            send_auth(c, ReasonCode::ContinueAuthentication, decision.data);
            return;
        }
        case AuthDecision::Kind::Allow: break;
    }
    complete_connect(c, p, now, std::move(decision.data));
}

void Core::send_auth(Connection& c, ReasonCode reason, const std::optional<std::vector<std::byte>>& data) {
    codec::Auth a;
    a.reason = reason;
    a.properties.authentication_method = c.auth_method();
    if (data) a.properties.authentication_data = codec::Bytes(*data);
    send_packet(c, a);
}

void Core::handle_auth(Connection& c, const codec::Auth& p, TimePoint now) {
    if (!is_v5(c.version) || c.auth_method().empty() ||
        p.properties.authentication_method.value_or(std::string_view{}) != c.auth_method()) {
        // [MQTT-4.12.0-?]: AUTH without the method of the exchange in progress is a Protocol Error.
        protocol_close(c, ReasonCode::ProtocolError, "unexpected AUTH");
        return;
    }
    const bool reauth = c.state == Connection::State::Connected;
    if ((reauth && p.reason != ReasonCode::ReAuthenticate && p.reason != ReasonCode::ContinueAuthentication) ||
        (!reauth && p.reason != ReasonCode::ContinueAuthentication)) {
        protocol_close(c, ReasonCode::ProtocolError, "unexpected AUTH reason code");
        return;
    }
    auto& rare = *c.rare;  // there is an authentication method
    if (reauth && p.reason == ReasonCode::ReAuthenticate) rare.auth_step = 0;
    std::string_view client = c.session ? std::string_view(c.session->client_id) : std::string_view{};
    AuthRequest req{client, std::nullopt, std::nullopt, rare.auth_method, p.properties.authentication_data, c.remote};
    auto decision = shared_.authenticator->authenticate(req, rare.auth_step++);
    if (decision.kind == AuthDecision::Kind::Continue) {
        send_auth(c, ReasonCode::ContinueAuthentication, decision.data);
        return;
    }
    if (decision.kind == AuthDecision::Kind::Deny) {
        const auto reason = decision.reason == ReasonCode::Success ? ReasonCode::NotAuthorized : decision.reason;
        if (reauth) {
            protocol_close(c, reason, "re-authentication failed");
        } else {
            connack_error(c, c.version, reason);
        }
        return;
    }
    if (reauth) {
        send_auth(c, ReasonCode::Success, decision.data);
        return;
    }
    // The exchange succeeded: finish the CONNECT kept since it arrived.
    auto raw = std::move(*rare.pending_connect);
    rare.pending_connect.reset();
    codec::Decoder d;
    auto r = d.decode(raw);
    c.state = Connection::State::AwaitConnect;
    complete_connect(c, std::get<codec::Connect>(r.packet), now, std::move(decision.data));
}

void Core::complete_connect(Connection& c, const codec::Connect& p, TimePoint now,
                            std::optional<std::vector<std::byte>> auth_data) {
    const auto v = p.version;
    const auto& limits = cfg_.limits;
    const auto& features = cfg_.features;
    std::string client_id(p.client_id);
    const bool assigned = client_id.empty();
    if (assigned) client_id = assign_client_id();

    Session* s = nullptr;
    bool present = false;
    if (auto it = sessions_.find(client_id); it != sessions_.end()) {
        Session& old = *it->second;
        if (old.connection != 0) {
            if (Connection* oc = find_connection(old.connection)) {
                // [MQTT-3.1.4-3]: the existing connection is closed; 5.0 tells it why.
                if (is_v5(oc->version)) {
                    codec::Disconnect d;
                    d.reason = ReasonCode::SessionTakenOver;
                    send_packet(*oc, d);
                }
                drop_connection(*oc, true, now);
            }
        }
        // drop_connection may have ended a session that expires with its connection.
        if (auto again = sessions_.find(client_id); again != sessions_.end()) {
            if (p.clean_start) {
                // [MQTT-3.1.2-4] (3.1.1 [MQTT-3.1.2-6]): Clean Start discards the existing session.
                again->second->pending_will.reset();  // a new session starts; the old will is not due yet
                end_session(*again->second);
            } else {
                s = again->second.get();
                present = true;  // [MQTT-3.2.2-2]
                if (s->pending_will && durable(*s)) {
                    StoreBatch b{now_};
                    b.erase_will(s->client_id);
                    commit(b);
                }
                s->pending_will.reset();  // reconnected within the Will Delay Interval
            }
        }
    }
    if (s == nullptr) {
        auto ns = std::make_unique<Session>();
        ns->id = make_session_id(index_, next_session_++);
        // A copy of just its size: assigned to the empty string, an id over 15 characters would reserve 30.
        ns->client_id = std::string(client_id);
        ns->tag = std::make_shared<SessionTag>(client_id);
        s = ns.get();
        sessions_by_id_.emplace(s->id, s);
        sessions_.emplace(s->client_id, std::move(ns));
        ++sessions_known_;
        Stats::add(stats_.sessions);
    }
    s->version = v;
    s->connection = c.id;
    c.session = s;

    const auto& props = p.properties;
    if (is_v5(v)) {
        s->expiry_s = std::min(props.session_expiry_interval.value_or(0), limits.max_session_expiry_interval);
    } else {
        s->expiry_s = p.clean_start ? 0 : std::min(kNeverExpires, limits.max_session_expiry_interval);
    }
    if (store_ != nullptr) {
        // The session record (expiry, subscriptions) is rewritten on every CONNECT of a durable session; a
        // session that stops being durable leaves the store.
        StoreBatch b{now_};
        if (durable(*s) || s->spilled != 0) {
            // A session with messages in the store only stays there until they are delivered or it ends.
            persist_session(*s, b);
        } else if (s->tag->durable.exchange(false)) {
            b.erase_session(s->client_id);
        }
        commit(b);
    }
    c.keep_alive_s = p.keep_alive_s;
    std::optional<std::uint16_t> server_keep_alive;
    if (p.keep_alive_s > limits.max_keepalive || (p.keep_alive_s == 0 && limits.max_keepalive < 65535)) {
        // 5.0 section 3.2.2.3.14: the client must use this value. A 3.x client got here only with
        // max_keepalive_v3 = "apply": the limit holds although the client cannot be told.
        c.keep_alive_s = limits.max_keepalive;
        if (is_v5(v)) server_keep_alive = limits.max_keepalive;
    }
    c.send_window = std::min<std::uint16_t>(props.receive_maximum.value_or(65535), limits.max_inflight);
    if (c.send_window == 0) c.send_window = 1;
    c.max_packet_size = props.maximum_packet_size.value_or(0);
    c.alias_max_out = props.topic_alias_maximum.value_or(0);
    c.request_problem_info = props.request_problem_information.value_or(1) != 0;
    if (p.will) {
        codec::Publish wp;
        wp.topic = p.will->topic;
        wp.payload = p.will->payload;
        wp.qos = p.will->qos;
        wp.retain = p.will->retain;
        wp.properties = p.will->properties;
        auto m = make_message(wp, p.will->topic, now);
        m->origin_session = s->id;
        m->expires_at.reset();
        // The Message Expiry Interval of a will counts from when it is published, not from CONNECT.
        StoredWill w{std::move(m), p.will->properties.will_delay_interval.value_or(0), std::nullopt};
        if (p.will->properties.message_expiry_interval) w.expiry_s = *p.will->properties.message_expiry_interval;
        c.will = std::move(w);
    }
    c.state = Connection::State::Connected;
    if (c.keep_alive_s != 0) schedule(c, now + std::chrono::milliseconds(c.keep_alive_s * 1500LL));
    c.username = p.username ? std::string(*p.username) : std::string();
    c.clean_start = p.clean_start;
    c.connected_at = now;
    Stats::add(stats_.connections);
    shared_.connection_count.fetch_add(1, std::memory_order_relaxed);

    codec::Connack ack;
    ack.session_present = present;
    ack.reason = ReasonCode::Success;
    std::string assigned_id;
    if (is_v5(v)) {
        auto& ap = ack.properties;
        ap.receive_maximum = limits.receive_maximum;
        ap.maximum_packet_size = limits.max_packet_size;
        ap.topic_alias_maximum = limits.topic_alias_maximum;
        ap.retain_available = features.retain_available ? 1 : 0;
        if (features.maximum_qos < 2) ap.maximum_qos = features.maximum_qos;  // absent means 2
        ap.wildcard_subscription_available = features.wildcard_subscriptions ? 1 : 0;
        ap.subscription_identifier_available = features.subscription_identifiers ? 1 : 0;
        ap.shared_subscription_available = features.shared_subscriptions ? 1 : 0;
        if (assigned) {
            assigned_id = client_id;
            ap.assigned_client_identifier = assigned_id;  // [MQTT-3.2.2-16]
        }
        if (server_keep_alive) ap.server_keep_alive = server_keep_alive;
        if (props.session_expiry_interval.value_or(0) != s->expiry_s) ap.session_expiry_interval = s->expiry_s;
        if (!c.auth_method().empty()) {
            ap.authentication_method = c.auth_method();
            if (auth_data) ap.authentication_data = codec::Bytes(*auth_data);
        }
    }
    if (c.max_packet_size != 0) {
        // [MQTT-3.1.2-24]: shed properties until the CONNACK fits the client's maximum: first those whose absence
        // means the same (an "available" flag of 1), then the optional ones in order of how little the client
        // loses without them. A CONNACK without properties (5 bytes) fits any maximum a client can usefully set.
        auto& ap = ack.properties;
        auto fits = [&] {
            auto n = codec::encoded_size(codec::Packet(ack), v);
            return n && *n <= c.max_packet_size;
        };
        const std::function<void()> shed[] = {
            [&] { if (ap.shared_subscription_available == 1) ap.shared_subscription_available.reset(); },
            [&] { if (ap.subscription_identifier_available == 1) ap.subscription_identifier_available.reset(); },
            [&] { if (ap.wildcard_subscription_available == 1) ap.wildcard_subscription_available.reset(); },
            [&] { if (ap.retain_available == 1) ap.retain_available.reset(); },
            [&] { ap.reason_string.reset(); },
            [&] { ap.user_properties = {}; },
            [&] { ap.topic_alias_maximum.reset(); },
            [&] { ap.session_expiry_interval.reset(); },
            [&] { ap.receive_maximum.reset(); },
            [&] { ap.maximum_packet_size.reset(); },
            [&] { ap.authentication_data.reset(); },
            [&] { ap = codec::Properties{}; },
        };
        for (const auto& step : shed) {
            if (fits()) break;
            step();
        }
    }
    send_packet(c, ack);
    if (present) {
        // [MQTT-4.4.0-1]: resend unacknowledged PUBLISH (with DUP) and PUBREL, in their original order.
        resend_inflight(c, *s, now);
        pump(*s, now);
    }
}

void Core::handle_publish(Connection& c, const codec::Publish& p, TimePoint now) {
    Session& s = *c.session;
    const auto v = c.version;
    Stats::add(stats_.publish_received);
    std::string_view topic = p.topic;
    if (is_v5(v) && p.properties.topic_alias) {
        const auto alias = *p.properties.topic_alias;
        // [MQTT-3.3.2-9/10]: an alias above the Topic Alias Maximum we announced is a Topic Alias invalid.
        if (alias > cfg_.limits.topic_alias_maximum) {
            protocol_close(c, ReasonCode::TopicAliasInvalid, "topic alias above the maximum");
            return;
        }
        if (topic.empty()) {
            auto it = c.aliases_in.find(alias);
            if (it == c.aliases_in.end()) {
                protocol_close(c, ReasonCode::ProtocolError, "unknown topic alias");
                return;
            }
            topic = it->second;
        } else {
            c.aliases_in[alias].assign(topic);
        }
    }
    if (static_cast<std::uint8_t>(p.qos) > cfg_.features.maximum_qos) {
        protocol_close(c, ReasonCode::QoSNotSupported, "QoS above the maximum");  // [MQTT-3.2.2-11]
        return;
    }
    if (p.retain && !cfg_.features.retain_available) {
        protocol_close(c, ReasonCode::RetainNotSupported, "retain not available");  // [MQTT-3.2.2-14]
        return;
    }
    auto ack = [&](ReasonCode reason) {
        if (p.qos == QoS::AtLeastOnce) {
            codec::Puback a;
            a.packet_id = p.packet_id;
            if (is_v5(v)) a.reason = reason;
            send_packet(c, a);
        } else if (p.qos == QoS::ExactlyOnce) {
            codec::Pubrec a;
            a.packet_id = p.packet_id;
            if (is_v5(v)) a.reason = reason;
            if (!codec::is_error(reason)) s.incoming_qos2.insert(p.packet_id);
            send_packet(c, a);
        }
    };
    if (p.qos == QoS::ExactlyOnce && s.incoming_qos2.count(p.packet_id) != 0) {
        // A duplicate of a QoS 2 message not yet released: not delivered again. With a store its PUBREC, like the
        // first copy's, goes out only once the receive state is stored: the first copy may have come on an
        // earlier connection a moment ago, its write still under way (batches are written in order).
        if (store_ != nullptr && store_->acks_wait()) {
            StoreBatch b{now_};
            if (durable(s)) b.put_incoming(s.client_id, p.packet_id);
            commit_then(b, [cid = c.id, pid = p.packet_id](Core& core, bool ok, TimePoint) {
                Connection* cc = core.find_connection(cid);
                if (cc == nullptr || cc->state != Connection::State::Connected) return;
                if (!ok && !is_v5(cc->version)) {
                    core.protocol_close(*cc, ReasonCode::UnspecifiedError, "store write failed");
                    return;
                }
                codec::Pubrec a;
                a.packet_id = pid;
                if (!ok) a.reason = ReasonCode::UnspecifiedError;
                core.send_packet(*cc, a);
            });
            return;
        }
        ack(ReasonCode::Success);
        return;
    }
    if (p.qos == QoS::ExactlyOnce && s.incoming_qos2.size() >= cfg_.limits.receive_maximum) {
        // 5.0 section 3.3.4: more unacknowledged QoS > 0 PUBLISH than Receive Maximum -> 0x93.
        protocol_close(c, ReasonCode::ReceiveMaximumExceeded, "receive maximum exceeded");
        return;
    }
    if (codec::topic_level_count(topic) > cfg_.limits.max_topic_levels) {
        ack(ReasonCode::TopicNameInvalid);
        return;
    }
    if (topic.starts_with("$SYS")) {
        ack(ReasonCode::NotAuthorized);  // $SYS belongs to the broker
        return;
    }
    if (is_v5(v) && p.properties.payload_format_indicator == 1 && !common::is_valid_mqtt_utf8(as_text(p.payload))) {
        // 5.0 section 3.3.2.3.2: PUBACK/PUBREC or DISCONNECT with 0x99 Payload format invalid.
        if (p.qos == QoS::AtMostOnce) {
            protocol_close(c, ReasonCode::PayloadFormatInvalid, "payload is not UTF-8");
        } else {
            ack(ReasonCode::PayloadFormatInvalid);
        }
        return;
    }
    auto m = make_message(p, topic, now);
    m->origin_session = s.id;
    MessagePtr msg = std::move(m);
    if (store_ != nullptr && p.qos != QoS::AtMostOnce) {
        // Acknowledged means stored: the message, its place in every durable session's queue, the retained
        // update and the QoS 2 receive state go into one batch; in sync mode the message is delivered and
        // acknowledged only once that batch is fsynced.
        auto pending = std::make_shared<PendingPublish>();
        pending->connection = c.id;
        pending->session = s.id;
        pending->message = msg;
        pending->packet_id = p.packet_id;
        pending->retain_update = p.retain;
        StoreBatch b{now_};
        capture(*pending, b, now);
        if (p.retain) {
            if (p.payload.empty()) {
                b.erase_retained(msg->topic);
            } else {
                b.put_retained(*msg);
            }
        }
        if (p.qos == QoS::ExactlyOnce) {
            if (durable(s)) b.put_incoming(s.client_id, p.packet_id);
            // Known from now on, not from the write's completion: a copy resent meanwhile on a new connection is
            // then a duplicate (acknowledged after this write), not a second message.
            s.incoming_qos2.insert(p.packet_id);
        }
        if (b.empty() || !store_->acks_wait()) {
            commit(b);
            finish_publish(*pending, true, now);
        } else {
            commit_then(b, [pending](Core& core, bool ok, TimePoint t) { core.finish_publish(*pending, ok, t); });
        }
        return;
    }
    if (p.retain) {
        StoreBatch b{now_};
        set_retained(msg, &b);  // [MQTT-3.3.1-5..7]
        commit(b);
    }
    const auto matched = route(msg, now);
    ack(matched == 0 ? ReasonCode::NoMatchingSubscribers : ReasonCode::Success);
}

void Core::handle_subscribe(Connection& c, const codec::Subscribe& p, TimePoint now) {
    Session& s = *c.session;
    const auto v = c.version;
    const auto& features = cfg_.features;
    const std::uint32_t sub_id =
        p.properties.subscription_identifiers.empty() ? 0 : p.properties.subscription_identifiers.front();
    if (sub_id != 0 && !features.subscription_identifiers) {
        protocol_close(c, ReasonCode::SubscriptionIdentifiersNotSupported, "subscription identifiers disabled");
        return;
    }
    std::vector<RetainedToSend> retained;
    std::vector<ReasonCode> codes;
    codes.reserve(p.subscriptions.size());
    Subscriptions added;
    for (const auto& sub : p.subscriptions) {
        const auto f = sub.filter;
        const bool shared = codec::parse_shared_filter(f).has_value();
        ReasonCode code;
        if (codec::validate_topic_filter(f) != codec::TopicError::None ||
            codec::topic_level_count(f) > cfg_.limits.max_topic_levels) {
            code = ReasonCode::TopicFilterInvalid;
        } else if (shared && !features.shared_subscriptions) {
            code = ReasonCode::SharedSubscriptionsNotSupported;
        } else if (codec::has_wildcard(f) && !features.wildcard_subscriptions) {
            code = ReasonCode::WildcardSubscriptionsNotSupported;
        } else if (cfg_.limits.max_subscriptions_per_client != 0 &&
                   s.subscriptions.size() >= cfg_.limits.max_subscriptions_per_client &&
                   s.subscriptions.find(f) == s.subscriptions.end()) {
            code = ReasonCode::QuotaExceeded;
        } else {
            const QoS granted =
                min_qos(sub.options.qos, static_cast<QoS>(std::min<std::uint8_t>(features.maximum_qos, 2)));
            SubscriptionEntry e;
            e.options = sub.options;
            e.options.qos = granted;
            e.subscription_id = sub_id;
            if (shared) e.share = std::make_shared<const std::string>(f);
            e.owner = s.tag;
            std::string filter(f);
            auto [it, is_new] = s.subscriptions.insert_or_assign(filter, e);
            if (is_new) Stats::add(stats_.subscriptions);
            tree_.insert(filter, s.id, e);
            code = static_cast<ReasonCode>(granted);
            // [MQTT-3.3.1-9..11]: Retain Handling 0 sends retained messages, 1 only for a new subscription,
            // 2 never; shared subscriptions never get them on subscribe (5.0 section 4.8.2).
            const auto rh = sub.options.retain_handling;
            if (!shared && (rh == 0 || (rh == 1 && is_new))) retained.push_back({filter, granted});
            added.emplace_back(std::move(filter), std::move(e));
        }
        codes.push_back(code);
    }
    (void)v;
    // [MQTT-3.8.4-1]: the SUBACK, with the retained messages after it, once every worker routes to the new
    // subscriptions and a durable session's subscriptions are stored (sync).
    PendingAck a;
    a.session = s.id;
    a.packet_id = p.packet_id;
    a.sub_id = sub_id;
    a.codes = std::move(codes);
    a.retained = std::move(retained);
    // Not a structured binding: clang 14 (the fuzz preset) cannot capture one in a lambda.
    const auto awaited = await_ack(c.id, std::move(a));
    const AckKey key = awaited.first;
    PendingAck* pending = awaited.second;
    pending->waiting += replicate_subscribe(std::move(added), s.id, key);
    if (durable(s)) {
        StoreBatch b{now_};
        persist_session(s, b);
        if (store_->acks_wait()) {
            ++pending->waiting;
            commit_then(b, [key](Core& core, bool ok, TimePoint t) { core.ack_arrived(key, ok, t); });
        } else {
            commit(b);
        }
    }
    release_acks(c.id, now);
}

void Core::handle_unsubscribe(Connection& c, const codec::Unsubscribe& p, TimePoint now) {
    Session& s = *c.session;
    std::vector<ReasonCode> codes;
    codes.reserve(p.filters.size());
    std::vector<std::string> removed;
    for (auto f : p.filters) {
        auto it = s.subscriptions.find(f);
        if (it == s.subscriptions.end()) {
            codes.push_back(ReasonCode::NoSubscriptionExisted);
            continue;
        }
        tree_.erase(it->first, s.id);
        stop_retained(s, it->first);
        removed.push_back(it->first);
        s.subscriptions.erase(it);
        Stats::add(stats_.subscriptions, static_cast<std::uint64_t>(-1));
        codes.push_back(ReasonCode::Success);
    }
    if (durable(s)) {
        StoreBatch b{now_};
        persist_session(s, b);
        commit(b);
    }
    // [MQTT-3.10.4-4] even when nothing was removed; [MQTT-3.10.4-2]: once no worker adds messages from the
    // removed filters any more.
    PendingAck a;
    a.session = s.id;
    a.packet_id = p.packet_id;
    a.unsubscribe = true;
    a.codes = std::move(codes);
    // Not a structured binding: clang 14 (the fuzz preset) cannot capture one in a lambda.
    const auto awaited = await_ack(c.id, std::move(a));
    const AckKey key = awaited.first;
    PendingAck* pending = awaited.second;
    pending->waiting += replicate_unsubscribe(std::move(removed), s.id, key);
    release_acks(c.id, now);
}

void Core::handle_disconnect(Connection& c, const codec::Disconnect& p, TimePoint now) {
    Session& s = *c.session;
    if (is_v5(c.version) && p.properties.session_expiry_interval) {
        // 5.0 section 3.14.2.2.2: zero in CONNECT then non-zero in DISCONNECT is a Protocol Error.
        if (s.expiry_s == 0 && *p.properties.session_expiry_interval != 0) {
            protocol_close(c, ReasonCode::ProtocolError, "session expiry set on DISCONNECT after 0 in CONNECT");
            return;
        }
        s.expiry_s = std::min(*p.properties.session_expiry_interval, cfg_.limits.max_session_expiry_interval);
        if (durable(s)) {
            StoreBatch b{now_};
            persist_session(s, b);
            commit(b);
        }
    }
    // [MQTT-3.14.4-3]: a normal DISCONNECT discards the Will; 5.0 0x04 asks for it to be published.
    const bool with_will = is_v5(c.version) && p.reason == ReasonCode::DisconnectWithWillMessage;
    if (!with_will) c.will.reset();
    drop_connection(c, with_will, now);
}

// ---------------------------------------------------------------------------------------------------------
// Routing and delivery

std::size_t Core::route(const MessagePtr& m, TimePoint now) {
    matches_.clear();
    tree_.match(m->topic, [&](SessionId key, const SubscriptionEntry& e) { matches_.push_back({key, &e}); });
    if (matches_.empty()) return 0;
    std::sort(matches_.begin(), matches_.end(),  // order between sessions is free; std::sort does not allocate
                     [](const Match& a, const Match& b) { return a.session < b.session; });
    std::size_t delivered = 0;
    const bool fan_out = std::exchange(fan_out_, matches_.size() > 1);
    auto dispatch = [&](SessionId sid, QoS qos, bool retain, std::vector<std::uint32_t> ids,
                        const std::shared_ptr<const std::string>& share, const std::shared_ptr<SessionTag>& owner) {
        ++delivered;
        if (capture_ != nullptr) {
            capture_->push_back({sid, qos, retain, std::move(ids), share, owner});
            return;
        }
        const unsigned w = worker_of(sid);
        if (w == index_) {
            if (Session* s = find_session(sid)) deliver(*s, m, qos, retain, std::move(ids), now, share);
        } else {
            outbox_[w].push_back({m, sid, qos, retain, std::move(ids), share});
        }
    };
    for (std::size_t i = 0; i < matches_.size();) {
        const SessionId sid = matches_[i].session;
        // [MQTT-3.3.4-2..5]: overlapping subscriptions of one session give one message with the highest QoS
        // and every matching Subscription Identifier; shared subscriptions are delivered on their own.
        bool any = false;
        const std::shared_ptr<SessionTag>& owner = matches_[i].entry->owner;
        QoS qos = QoS::AtMostOnce;
        bool retain = false;
        std::vector<std::uint32_t> ids;
        for (; i < matches_.size() && matches_[i].session == sid; ++i) {
            const SubscriptionEntry& e = *matches_[i].entry;
            const QoS q = min_qos(m->qos, e.options.qos);  // granted QoS = min(publish, subscription)
            // [MQTT-3.3.1-12/13]: the retain flag is kept only with Retain As Published.
            const bool r = m->retain && e.options.retain_as_published;
            if (e.share) {
                std::vector<std::uint32_t> one;
                if (e.subscription_id != 0) one.push_back(e.subscription_id);
                dispatch(sid, q, r, std::move(one), e.share, e.owner);
                continue;
            }
            if (e.options.no_local && sid == m->origin_session) continue;  // [MQTT-3.8.3-3]
            any = true;
            qos = max_qos(qos, q);
            retain = retain || r;
            if (e.subscription_id != 0) ids.push_back(e.subscription_id);
        }
        if (any) dispatch(sid, qos, retain, std::move(ids), nullptr, owner);
    }
    fan_out_ = fan_out;
    return delivered;
}

void Core::deliver_batch(std::vector<RemoteDelivery>& batch, TimePoint now) {
    now_ = now;
    const bool fan_out = std::exchange(fan_out_, batch.size() > 1);
    for (auto& d : batch) {
        if (Session* s = find_session(d.session)) {
            deliver(*s, d.message, d.qos, d.retain, std::move(d.subscription_ids), now, std::move(d.share), d.seq);
        }
    }
    fan_out_ = fan_out;
}

void Core::deliver(Session& s, const MessagePtr& m, QoS qos, bool retain, std::vector<std::uint32_t> sub_ids,
                   TimePoint now, std::shared_ptr<const std::string> share, std::uint64_t seq) {
    Outgoing o{m, qos, retain, std::move(sub_ids), std::move(share)};
    o.seq = seq;
    if (m->expired(now)) {
        forget(s, o);
        return;
    }
    Connection* c = s.connection != 0 ? find_connection(s.connection) : nullptr;
    bool congested = false;  // a slow consumer: more than max_outgoing_buffer_bytes wait for its connection
    if (qos == QoS::AtMostOnce) {
        // QoS 0 is not queued: it is dropped for offline sessions and for a slow consumer's full buffer.
        if (c == nullptr || (!send_publish(*c, o, false, now, &congested) && congested)) {
            Stats::add(stats_.messages_dropped);
        }
        return;
    }
    if (c != nullptr && s.queue.empty() && s.spilled == 0 && s.inflight.size() < c->send_window) {
        o.packet_id = next_packet_id(s);
        if (must_hold(s, o)) {
            hold(s, std::move(o));
            return;
        }
        if (send_publish(*c, o, false, now, &congested)) {
            o.sent = true;
            note_sent(s, o);
            s.inflight.push_back(std::move(o));
            return;
        }
        if (!congested) {
            forget(s, o);
            return;
        }
        o.packet_id = 0;  // queued: pump() gives it an identifier when it is sent
    }
    enqueue(s, std::move(o));
}

void Core::enqueue(Session& s, Outgoing o) {
    const auto size = message_size(*o.message);
    const auto& limits = cfg_.limits;
    auto full = [&] {
        return s.queue.size() + s.spilled >= limits.max_queued_messages ||
               s.queued_bytes + s.spilled_bytes + size > limits.max_queued_bytes;
    };
    if (full()) {
        // drop-oldest drops from the part in memory; a queue whose memory part is empty (all of it in the store,
        // being read back) refuses the new message instead.
        if (limits.queue_full_policy == config::QueueFullPolicy::DropNew || s.queue.empty()) {
            note_dropped(s, 1, "queue full, new message dropped (max_queued_messages / max_queued_bytes)");
            forget(s, o);
            return;
        }
        std::uint64_t dropped = 0;
        while (!s.queue.empty() && full()) {
            forget(s, s.queue.front());
            s.queued_bytes -= message_size(*s.queue.front().message);
            s.queue.pop_front();
            ++dropped;
        }
        note_dropped(s, dropped, "queue full, oldest dropped (max_queued_messages / max_queued_bytes)");
    }
    if (o.seq != 0 && store_ != nullptr && (s.spilled != 0 || s.queue.size() >= cfg_.storage.queue_cache_messages)) {
        // Already in the store (the write was queued before this delivery): only counted here, into the run of
        // the worker that wrote it (its deliveries arrive in seq order), and read back when the queue drains.
        const auto w = seq_worker(o.seq);
        auto run = std::find_if(s.spill.rbegin(), s.spill.rend(), [w](const SpillRun& r) { return r.worker == w; });
        if (run == s.spill.rend() || run->to >= o.seq) {
            s.spill.push_back(SpillRun{o.seq, o.seq, w, 0, 0});
            run = s.spill.rbegin();
        }
        run->to = o.seq;
        ++run->count;
        run->bytes += size;
        ++s.spilled;
        s.spilled_bytes += size;
        return;
    }
    s.queued_bytes += size;
    s.queue.push_back(std::move(o));
}

void Core::pump(Session& s, TimePoint now) {
    Connection* c = s.connection != 0 ? find_connection(s.connection) : nullptr;
    if (c == nullptr) return;
    while (!s.queue.empty() && s.inflight.size() < c->send_window &&
           host_.pending_bytes(c->id) <= cfg_.limits.max_outgoing_buffer_bytes) {
        Outgoing o = std::move(s.queue.front());
        s.queue.pop_front();
        s.queued_bytes -= message_size(*o.message);
        if (o.message->expired(now)) {  // 5.0 section 3.3.2.3.3: expired messages are not sent
            forget(s, o);
            continue;
        }
        o.packet_id = next_packet_id(s);
        if (must_hold(s, o)) {
            hold(s, std::move(o));
            continue;
        }
        // A message restored from the store may have been sent before the restart: DUP [MQTT-3.3.1-1].
        if (send_publish(*c, o, o.restored, now)) {
            o.sent = true;
            note_sent(s, o);
            s.inflight.push_back(std::move(o));
        } else {
            forget(s, o);
        }
    }
    if (s.spilled != 0 && !s.reading && s.queue.size() <= cfg_.storage.queue_cache_messages / 2) read_spilled(s);
    // Retained messages on SUBSCRIBE come after what is queued (spilled messages included).
    if (s.queue.empty() && s.spilled == 0 && !s.retained.empty()) pump_retained(s, *c, now);
}

void Core::read_spilled(Session& s) {
    if (store_ == nullptr || s.spill.empty()) return;
    // Runs are independent (one worker's messages each, or those restored at start-up, which are older than
    // any other): the one with the oldest messages goes first, and within it seq order is publication order.
    const auto run = std::min_element(s.spill.begin(), s.spill.end(),
                                      [](const SpillRun& a, const SpillRun& b) { return a.from < b.from; });
    const std::size_t want =
        cfg_.storage.queue_cache_messages - std::min<std::size_t>(s.queue.size(), cfg_.storage.queue_cache_messages);
    // Only up to the last seq counted: a later record of the same worker may be stored but not arrived yet.
    const DeliveryRange range{run->from, run->to, run->worker, std::max<std::size_t>(want, 1)};
    s.reading = true;
    // Runs on the store's thread (never a worker's); the result comes back to this core with Host::post.
    store_->read_deliveries(
        s.client_id, range,
        [host = &host_, w = index_, id = s.id, range](bool ok, std::vector<StoredDelivery> ds) mutable {
            host->post(w, [id, ok, range, ds = std::move(ds)](Core& core, TimePoint t) mutable {
                core.on_spilled_read(id, ok, range, std::move(ds), t);
            });
        });
}

void Core::on_spilled_read(SessionId id, bool ok, const DeliveryRange& range, std::vector<StoredDelivery> ds,
                           TimePoint now) {
    now_ = now;
    Session* sp = find_session(id);
    if (sp == nullptr) return;  // ended meanwhile (its records went with it)
    Session& s = *sp;
    s.reading = false;
    if (!ok) {
        if (shared_.log)
            shared_.log(3, "store: cannot read the queue of " + s.client_id + " back; retried on reconnect");
        return;
    }
    auto run = std::find_if(s.spill.begin(), s.spill.end(),
                            [&](const SpillRun& r) { return r.worker == range.worker && r.from == range.from; });
    if (run == s.spill.end()) return;  // the session's queue was discarded meanwhile
    // Records restored in flight at start-up (their QoS 2 identifier was stored) are not spilled ones, whether
    // still in flight or acknowledged since: the read may have been taken before that acknowledgement's erase,
    // and queuing it again sent it twice under two identifiers (issue 15, seen in the crash test).
    const bool restored_run = run->worker == kAnySeqWorker;
    for (auto& d : ds) {
        if (restored_run && s.restored_in_flight.count(d.seq) != 0) continue;
        Outgoing o{d.message, static_cast<QoS>(d.qos), d.retain, std::move(d.subscription_ids),
                   d.share.empty() ? nullptr : std::make_shared<const std::string>(d.share)};
        o.seq = d.seq;
        o.restored = d.seq < shared_.first_seq;  // queued before a restart: perhaps sent then (DUP)
        const auto size = message_size(*o.message);
        run->count -= std::min<std::uint64_t>(1, run->count);
        run->bytes -= std::min<std::uint64_t>(size, run->bytes);
        s.spilled -= std::min<std::uint64_t>(1, s.spilled);
        s.spilled_bytes -= std::min<std::uint64_t>(size, s.spilled_bytes);
        s.queued_bytes += size;
        s.queue.push_back(std::move(o));
    }
    // Fewer than asked for: nothing else of the run is stored up to range.to.
    run->from = ds.size() < range.max ? range.to + 1 : ds.back().seq + 1;
    if (run->from > run->to) {
        if (restored_run) s.restored_in_flight.clear();
        // Read to its end. What is still counted was erased meanwhile (an expired or dropped record).
        s.spilled -= std::min(run->count, s.spilled);
        s.spilled_bytes -= std::min(run->bytes, s.spilled_bytes);
        s.spill.erase(run);
    }
    if (s.spill.empty()) {
        s.spilled = 0;
        s.spilled_bytes = 0;
    }
    pump(s, now);
}

std::uint16_t Core::next_packet_id(Session& s) {
    // Identifiers are handed out in sequence (1 to 65535, then 1 again) and acknowledged mostly in order, so
    // the unacknowledged ones are a window behind the cursor. One scan of the inflight window finds the run of
    // unused identifiers from the cursor on; they are handed out without looking again, and the next scan is
    // needed once the run is used up (about once per wrap-around). Identifiers freed meanwhile only make the run
    // conservative; the only ones entering the window without this function are a restored session's, and a
    // restored session starts with no run. Never one an unacknowledged message still holds [MQTT-2.2.1-3].
    if (s.free_packet_ids == 0) {
        constexpr std::uint32_t kIds = 65535;
        const std::uint32_t cursor = s.next_packet_id - 1U;  // 0-based position of the cursor on the ring
        std::vector<std::uint32_t> used;                       // distances of the ids in use from the cursor
        used.reserve(s.inflight.size());
        for (const auto& o : s.inflight) {
            if (o.packet_id != 0) used.push_back((o.packet_id - 1U + kIds - cursor) % kIds);
        }
        std::sort(used.begin(), used.end());
        std::uint32_t start = 0;  // the first unused distance, then the length of the run from it
        std::uint32_t end = kIds;
        for (const auto d : used) {
            if (d == start) {
                ++start;
            } else if (d > start) {
                end = d;
                break;
            }
        }
        // Callers keep the window below 65535 (the largest Receive Maximum), so a free identifier exists.
        s.next_packet_id = static_cast<std::uint16_t>((cursor + start) % kIds + 1);
        s.free_packet_ids = static_cast<std::uint16_t>(end - start);
    }
    const std::uint16_t id = s.next_packet_id;
    s.next_packet_id = id == 65535 ? 1 : static_cast<std::uint16_t>(id + 1);
    --s.free_packet_ids;
    return id;
}

bool Core::send_publish(Connection& c, const Outgoing& o, bool dup, TimePoint now, bool* congested) {
    const Message& m = *o.message;
    const auto v = c.version;
    // A message fanned out to many receivers of one version, QoS and retain flag is encoded once; only the
    // packet identifier differs. Properties that differ per receiver (remaining expiry, subscription
    // identifiers, topic aliases) and DUP resends get an encoding of their own.
    const bool per_receiver = is_v5(v) && (m.expires_at || !o.subscription_ids.empty() || c.alias_max_out != 0);
    const bool shareable = fan_out_ && !per_receiver && !dup;
    const auto slot = (static_cast<std::size_t>(v) - 3) * 6 + static_cast<std::size_t>(o.qos) * 2 + (o.retain ? 1 : 0);
    const auto limit =
        congested != nullptr ? cfg_.limits.max_outgoing_buffer_bytes : std::numeric_limits<std::size_t>::max();
    // Whether a packet the host refused counts as sent: not for a slow consumer (with `congested`, which is
    // set), yes for a connection the host has already let go, like a write that fails later.
    auto refused = [&] {
        if (congested != nullptr && host_.pending_bytes(c.id) > limit) {
            *congested = true;
            return false;
        }
        return true;
    };
    auto too_large = [&](std::size_t size) {
        if (c.max_packet_size == 0 || size <= c.max_packet_size) return false;
        // [MQTT-3.1.2-24/25]: never send a packet above the client's Maximum Packet Size; the message is
        // discarded for this receiver as if it had been delivered.
        Stats::add(stats_.messages_dropped);
        return true;
    };
    std::size_t sent = 0;
    if (shareable && cache_message_.get() == &m && cache_valid_[slot]) {
        auto& cached = cache_[slot];
        if (too_large(cached.size())) return false;
        if (o.qos != QoS::AtMostOnce) codec::patch_publish_packet_id(cached, o.packet_id);
        if (!host_.send(c.id, cached, limit)) return refused();
        sent = cached.size();
    } else {
        codec::Publish p;
        p.topic = m.topic;
        p.qos = o.qos;
        p.retain = o.retain;
        p.dup = dup && o.qos != QoS::AtMostOnce;
        p.packet_id = o.qos == QoS::AtMostOnce ? 0 : o.packet_id;
        p.payload = m.payload;
        std::uint16_t alias = 0;
        bool new_alias = false;
        if (is_v5(v)) {
            auto& pr = p.properties;
            pr.payload_format_indicator = m.payload_format_indicator;
            if (m.content_type) pr.content_type = *m.content_type;
            if (m.response_topic) pr.response_topic = *m.response_topic;
            if (m.correlation_data) pr.correlation_data = codec::Bytes(*m.correlation_data);
            pr.encoded_user_properties = m.user_properties.encoded();  // [MQTT-3.3.2-17/18]: in order, unchanged
            pr.subscription_identifiers = o.subscription_ids;
            if (m.expires_at) {
                // [MQTT-3.3.2-6]: the interval is reduced by the time the message waited here.
                const auto left = std::chrono::ceil<std::chrono::seconds>(*m.expires_at - now).count();
                pr.message_expiry_interval = static_cast<std::uint32_t>(std::max<std::int64_t>(left, 1));
            }
            // Topic alias: reuse the one this connection already knows, or assign a new one while there is room.
            if (c.alias_max_out != 0) {
                if (auto it = c.aliases_out.find(m.topic); it != c.aliases_out.end()) {
                    alias = it->second;
                    p.topic = {};
                } else if (c.aliases_out.size() < c.alias_max_out) {
                    alias = static_cast<std::uint16_t>(c.aliases_out.size() + 1);
                    new_alias = true;
                }
                if (alias != 0) pr.topic_alias = alias;
            }
        }
        auto size = codec::encoded_size(p, v);
        if (!size || too_large(*size)) return false;
        // Encoded straight into the connection's output.
        const auto out = host_.append(c.id, *size, limit);
        if (out.empty()) return refused();
        codec::encode_measured(p, v, out);
        sent = out.size();
        if (shareable) {
            if (cache_message_.get() != &m) {
                cache_message_ = o.message;
                cache_valid_.fill(false);
            }
            cache_[slot].assign(out.begin(), out.end());
            cache_valid_[slot] = true;
        }
        if (new_alias) c.aliases_out.emplace(m.topic, alias);
    }
    Stats::add(stats_.bytes_sent, sent);
    Stats::add(stats_.messages_sent);
    Stats::add(stats_.publish_sent);
    return true;
}

void Core::resend_inflight(Connection& c, Session& s, TimePoint now) {
    // [MQTT-3.3.4-9]: the new connection may have a smaller Receive Maximum; what does not fit goes back to the
    // front of the queue (a QoS 2 message past PUBREC stays: only its PUBREL is resent).
    while (s.inflight.size() > c.send_window) {
        auto it = std::find_if(s.inflight.rbegin(), s.inflight.rend(), [](const Outgoing& o) { return !o.pubrec; });
        if (it == s.inflight.rend()) break;
        Outgoing o = std::move(*it);
        s.inflight.erase(std::next(it).base());
        o.packet_id = 0;
        o.held = false;
        o.marking = false;
        s.queued_bytes += message_size(*o.message);
        s.queue.push_front(std::move(o));
    }
    bool waiting = false;  // a held message waits for its mark: those after it wait too (release() sends them)
    for (auto it = s.inflight.begin(); it != s.inflight.end();) {
        if (it->pubrec) {
            // Past PUBREC: the PUBREL, unless the store does not know about the PUBREC yet (its completion sends
            // the PUBREL then, on this connection).
            if (!it->releasing) {
                codec::Pubrel rel;
                rel.packet_id = it->packet_id;
                send_packet(c, rel);
            }
            ++it;
        } else if (it->held) {
            waiting = waiting || it->marking;
            if (waiting) {
                ++it;
            } else if (send_publish(c, *it, it->restored, now)) {  // never sent on any connection yet
                it->held = false;
                it->sent = true;
                ++it;
            } else {
                forget(s, *it);  // too large for this client: dropped
                it = s.inflight.erase(it);
            }
        } else {
            // Already sent once: resent even if it expired meanwhile ([MQTT-4.3.3-7], [MQTT-4.4.0-1]).
            send_publish(c, *it, it->sent, now);
            it->sent = true;
            ++it;
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Replication of the subscription tree to the other workers

void Core::broadcast_unsubscribe(const std::string& filter, SessionId s) {
    for (unsigned w = 0; w < shared_.worker_count; ++w) {
        if (w == index_) continue;
        host_.post(w, [filter, s](Core& core, TimePoint) { core.apply_unsubscribe(filter, s); });
    }
}

void Core::apply_subscribe(const std::string& filter, SessionId session, SubscriptionEntry entry) {
    tree_.insert(filter, session, entry);
}

void Core::apply_unsubscribe(const std::string& filter, SessionId session) { tree_.erase(filter, session); }

unsigned Core::replicate_subscribe(Subscriptions added, SessionId s, AckKey key) {
    if (shared_.worker_count == 1 || added.empty()) return 0;
    auto subs = std::make_shared<const Subscriptions>(std::move(added));
    for (unsigned w = 0; w < shared_.worker_count; ++w) {
        if (w == index_) continue;
        host_.post(w, [subs, s, key, owner = index_](Core& core, TimePoint) {
            for (const auto& [filter, e] : *subs) core.tree_.insert(filter, s, e);
            core.acknowledge(owner, key);
        });
    }
    return shared_.worker_count - 1;
}

unsigned Core::replicate_unsubscribe(std::vector<std::string> removed, SessionId s, AckKey key) {
    if (shared_.worker_count == 1 || removed.empty()) return 0;
    auto filters = std::make_shared<const std::vector<std::string>>(std::move(removed));
    for (unsigned w = 0; w < shared_.worker_count; ++w) {
        if (w == index_) continue;
        host_.post(w, [filters, s, key, owner = index_](Core& core, TimePoint) {
            for (const auto& filter : *filters) core.tree_.erase(filter, s);
            core.acknowledge(owner, key);
        });
    }
    return shared_.worker_count - 1;
}

void Core::acknowledge(unsigned owner, AckKey key) {
    // Deliveries this worker matched before the change go first (posts between two workers arrive in order), so
    // none from a removed filter reaches the client after its UNSUBACK.
    post_outbox(owner);
    host_.post(owner, [key](Core& core, TimePoint t) { core.ack_arrived(key, true, t); });
}

std::pair<Core::AckKey, Core::PendingAck*> Core::await_ack(ConnectionId c, PendingAck a) {
    if (Connection* cc = find_connection(c)) ++cc->acks_awaited;
    const AckKey key{c, next_ack_++};
    auto it = pending_acks_.emplace(key, std::move(a)).first;
    return {key, &it->second};
}

void Core::ack_arrived(AckKey key, bool ok, TimePoint now) {
    now_ = now;
    auto it = pending_acks_.find(key);
    if (it == pending_acks_.end()) return;
    if (!ok) it->second.ok = false;
    if (--it->second.waiting == 0) release_acks(key.first, now);
}

void Core::release_acks(ConnectionId c, TimePoint now) {
    auto it = pending_acks_.lower_bound({c, 0});
    bool released = false;
    while (it != pending_acks_.end() && it->first.first == c && it->second.waiting == 0) {
        PendingAck a = std::move(it->second);
        it = pending_acks_.erase(it);
        send_ack(c, a, now);
        released = true;
    }
    Connection* cc = released ? find_connection(c) : nullptr;
    if (cc == nullptr) return;
    cc->acks_awaited = static_cast<std::uint16_t>(
        std::distance(pending_acks_.lower_bound({c, 0}), pending_acks_.lower_bound({c + 1, 0})));
    // Released from within on_data (one worker, nothing to wait for): its loop simply goes on.
    if (cc->acks_awaited == 0 && in_input_ != c) host_.resume_input(c);
}

void Core::send_ack(ConnectionId c, PendingAck& a, TimePoint now) {
    // Closed or taken over meanwhile, or the session ended: nobody to acknowledge.
    Connection* cc = find_connection(c);
    Session* ss = find_session(a.session);
    if (cc == nullptr || ss == nullptr || cc->session != ss || cc->state != Connection::State::Connected) return;
    if (a.unsubscribe) {
        codec::Unsuback u;
        u.packet_id = a.packet_id;
        u.reason_codes = a.codes;
        send_packet(*cc, u);
        return;
    }
    if (!a.ok) std::fill(a.codes.begin(), a.codes.end(), ReasonCode::UnspecifiedError);
    codec::Suback ack;
    ack.packet_id = a.packet_id;
    ack.reason_codes = a.codes;
    send_packet(*cc, ack);
    if (!a.ok) return;
    // [MQTT-3.3.1-9..11]: the retained messages after the SUBACK, as the subscriber takes them (retained_stream.cpp).
    for (const auto& r : a.retained) start_retained(*ss, r.filter, r.granted, a.sub_id);
    if (!a.retained.empty()) pump(*ss, now);
}

void Core::post_outbox(unsigned worker) {
    if (outbox_[worker].empty()) return;
    host_.post(worker,
               [batch = std::move(outbox_[worker])](Core& core, TimePoint t) mutable { core.deliver_batch(batch, t); });
    outbox_[worker] = {};
}

void Core::flush() {
    for (unsigned w = 0; w < outbox_.size(); ++w) post_outbox(w);
    for (auto id : closed_) {
        auto it = connections_.find(id);
        if (it != connections_.end() && it->second->state == Connection::State::Closed) connections_.erase(it);
    }
    closed_.clear();
}

// ---------------------------------------------------------------------------------------------------------
// Time

void Core::on_tick(TimePoint now) {
    now_ = now;
    run_wheel(now);
    check_offline_sessions(now);
    if (index_ == 0) publish_sys(now);
}

void Core::schedule(Connection& c, TimePoint due) {
    // Never before the tick being run, and only when earlier than the entry already live (which, when it comes
    // due, looks at the connection again and schedules what is due then).
    const std::int64_t tick = std::max(tick_of(due), wheel_last_);
    if (tick >= c.due_tick) return;
    c.due_tick = tick;
    wheel_[static_cast<std::size_t>(tick) % kWheelSlots].push_back({c.id, tick});
}

void Core::run_wheel(TimePoint now) {
    const std::int64_t current = tick_of(now);
    if (current < wheel_last_) return;
    // The last tick run is run again: what was found not yet due within it stays there until it is.
    const std::int64_t first = std::max(wheel_last_, current - static_cast<std::int64_t>(kWheelSlots) + 1);
    wheel_last_ = current;
    for (std::int64_t t = first; t <= current; ++t) {
        auto& slot = wheel_[static_cast<std::size_t>(t) % kWheelSlots];
        if (slot.empty()) continue;
        wheel_batch_.swap(slot);
        for (const WheelEntry& e : wheel_batch_) {
            if (e.tick > current) {
                slot.push_back(e);  // a later round
                continue;
            }
            auto it = connections_.find(e.id);
            if (it == connections_.end()) continue;
            Connection& c = *it->second;
            if (c.due_tick != e.tick) continue;  // superseded by an earlier entry
            c.due_tick = kNoTick;
            if (c.state == Connection::State::Closed) continue;
            if (c.state != Connection::State::Connected) {
                if (now - c.opened > kConnectTimeout) {
                    if (shared_.log) {
                        shared_.log(1, "closing " + c.remote + ": " +
                                           (c.state == Connection::State::AwaitConnect ? "no CONNECT" : "authentication not complete") +
                                           " within " + std::to_string(kConnectTimeout.count()) + " s");
                    }
                    drop_connection(c, false, now);
                } else {
                    schedule(c, c.opened + kConnectTimeout);
                }
                continue;
            }
            // [MQTT-3.1.2-24] (3.1.1 [MQTT-3.1.2-24]): nothing received for 1.5 times the Keep Alive -> close.
            if (c.keep_alive_s == 0) continue;
            const auto limit = std::chrono::milliseconds(c.keep_alive_s * 1500LL);
            if (now - c.last_rx > limit) {
                protocol_close(c, ReasonCode::KeepAliveTimeout, "keep alive timeout");
            } else {
                schedule(c, c.last_rx + limit);
            }
        }
        wheel_batch_.clear();
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
            publish_will(w, now);
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

void Core::publish_sys(TimePoint now) {
    const auto interval = cfg_.sys_interval_s;
    if (interval == 0 || now < next_sys_) return;
    const bool first = next_sys_ == TimePoint{};
    next_sys_ = now + std::chrono::seconds(interval);
    std::uint64_t connected = 0, sessions = 0, received = 0, sent = 0, dropped = 0, pub_received = 0, pub_sent = 0,
                  bytes_received = 0, bytes_sent = 0, subscriptions = 0;
    for (const auto& st : shared_.stats) {
        auto get = [](const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); };
        connected += get(st->connections);
        sessions += get(st->sessions);
        received += get(st->messages_received);
        sent += get(st->messages_sent);
        dropped += get(st->messages_dropped);
        pub_received += get(st->publish_received);
        pub_sent += get(st->publish_sent);
        bytes_received += get(st->bytes_received);
        bytes_sent += get(st->bytes_sent);
        subscriptions += get(st->subscriptions);
    }
    // Totals count from the broker's first start: what the store kept, plus this run's counters.
    {
        const auto& base = shared_.totals_base;
        received += base.messages_received;
        sent += base.messages_sent;
        dropped += base.messages_dropped;
        pub_received += base.publish_received;
        pub_sent += base.publish_sent;
        bytes_received += base.bytes_received;
        bytes_sent += base.bytes_sent;
        if (store_ != nullptr) {
            StoreBatch b{now_};
            b.put_totals({received, sent, pub_received, pub_sent, dropped, bytes_received, bytes_sent});
            commit(b);
        }
    }
    std::size_t retained_count = 0;
    {
        std::lock_guard lock(shared_.retained_mutex);
        retained_count = shared_.retained.size();
    }
    // Load averages as Mosquitto computes them: per-minute rates smoothed over 1, 5 and 15 minutes.
    if (!first) {
        const double dt = std::chrono::duration<double>(now - last_sys_).count();
        if (dt > 0) {
            const double windows[3] = {60.0, 300.0, 900.0};
            const double rate_r = static_cast<double>(pub_received - last_received_) * 60.0 / dt;
            const double rate_s = static_cast<double>(pub_sent - last_sent_) * 60.0 / dt;
            for (std::size_t i = 0; i < 3; ++i) {
                const double k = std::exp(-dt / windows[i]);
                load_received_[i] = load_received_[i] * k + rate_r * (1 - k);
                load_sent_[i] = load_sent_[i] * k + rate_s * (1 - k);
            }
        }
    }
    last_sys_ = now;
    last_received_ = pub_received;
    last_sent_ = pub_sent;

    auto publish = [&](std::string topic, std::string value) {
        auto m = std::make_shared<Message>();
        m->topic = std::move(topic);
        const auto* b = reinterpret_cast<const std::byte*>(value.data());
        m->payload.assign(b, b + value.size());
        m->retain = true;
        m->seal();
        MessagePtr msg = std::move(m);
        {
            std::lock_guard lock(shared_.retained_mutex);
            shared_.retained.set(msg->topic, msg);
        }
        route(msg, now);
    };
    auto fmt = [](double d) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.2f", d);
        return std::string(buf);
    };
    const auto uptime = std::chrono::duration_cast<std::chrono::seconds>(now - shared_.started).count();
    publish("$SYS/broker/version", "mothd " + shared_.version);
    publish("$SYS/broker/uptime", std::to_string(uptime) + " seconds");
    publish("$SYS/broker/clients/connected", std::to_string(connected));
    publish("$SYS/broker/clients/active", std::to_string(connected));
    publish("$SYS/broker/clients/total", std::to_string(sessions));
    publish("$SYS/broker/clients/disconnected", std::to_string(sessions >= connected ? sessions - connected : 0));
    publish("$SYS/broker/messages/received", std::to_string(received));
    publish("$SYS/broker/messages/sent", std::to_string(sent));
    publish("$SYS/broker/publish/messages/received", std::to_string(pub_received));
    publish("$SYS/broker/publish/messages/sent", std::to_string(pub_sent));
    publish("$SYS/broker/publish/messages/dropped", std::to_string(dropped));
    publish("$SYS/broker/bytes/received", std::to_string(bytes_received));
    publish("$SYS/broker/bytes/sent", std::to_string(bytes_sent));
    publish("$SYS/broker/subscriptions/count", std::to_string(subscriptions));
    publish("$SYS/broker/retained messages/count", std::to_string(retained_count));
    const char* names[3] = {"1min", "5min", "15min"};
    for (std::size_t i = 0; i < 3; ++i) {
        publish(std::string("$SYS/broker/load/publish/received/") + names[i], fmt(load_received_[i]));
        publish(std::string("$SYS/broker/load/publish/sent/") + names[i], fmt(load_sent_[i]));
    }
}

// ---------------------------------------------------------------------------------------------------------
// Introspection and administration (the HTTP API)

CoreSnapshot Core::snapshot(const SnapshotQuery& query, TimePoint now) const {
    CoreSnapshot out;
    const auto wanted = [&](std::string_view client_id) { return !query.client_id || *query.client_id == client_id; };
    if (query.clients) {
        for (const auto& [id, cp] : connections_) {
            const Connection& c = *cp;
            if (c.state != Connection::State::Connected || c.session == nullptr || !wanted(c.session->client_id))
                continue;
            const Session& s = *c.session;
            ClientInfo info;
            info.client_id = s.client_id;
            info.username = c.username;
            info.address = c.remote;
            if (c.tag) {
                info.listener = c.tag->name;
                info.transport = c.tag->transport;
            }
            info.protocol_version = static_cast<unsigned>(c.version);
            info.connected_for = now - c.connected_at;
            info.keepalive_s = c.keep_alive_s;
            info.clean_start = c.clean_start;
            info.subscriptions = s.subscriptions.size();
            info.inflight = s.inflight.size();
            info.queued = s.queue.size() + s.spilled;
            out.clients.push_back(std::move(info));
        }
    }
    if (query.sessions) {
        for (const auto& [client_id, sp] : sessions_) {
            if (!wanted(client_id)) continue;
            const Session& s = *sp;
            out.sessions.push_back(SessionInfo{s.client_id, s.connection != 0, s.expiry_s, s.subscriptions.size(),
                                               s.inflight.size(), s.queue.size() + s.spilled, s.queue.size()});
        }
    }
    if (query.subscriptions) {
        for (const auto& [client_id, sp] : sessions_) {
            if (!wanted(client_id)) continue;
            for (const auto& [filter, e] : sp->subscriptions) {
                SubscriptionInfo info;
                info.client_id = client_id;
                if (const auto shared = codec::parse_shared_filter(filter)) {
                    info.filter = std::string(shared->filter);
                    info.shared_group = std::string(shared->group);
                } else {
                    info.filter = filter;
                }
                info.qos = static_cast<std::uint8_t>(e.options.qos);
                info.no_local = e.options.no_local;
                info.retain_as_published = e.options.retain_as_published;
                info.retain_handling = e.options.retain_handling;
                info.identifier = e.subscription_id;
                out.subscriptions.push_back(std::move(info));
            }
        }
    }
    if (query.listeners) {
        // Every connection this core serves, CONNECT or not; a relayed one is counted by the core that owns it.
        for (const auto& [id, cp] : connections_) {
            if (cp->state != Connection::State::Closed && cp->tag) ++out.connections_by_listener[cp->tag->name];
        }
    }
    return out;
}

bool Core::disconnect_client(std::string_view client_id, TimePoint now) {
    const auto it = sessions_.find(std::string(client_id));
    if (it == sessions_.end() || it->second->connection == 0) return false;
    Connection* c = find_connection(it->second->connection);
    if (c == nullptr || c->state != Connection::State::Connected) return false;
    if (shared_.log) shared_.log(1, "closing " + c->remote + " (" + it->second->client_id + "): administrative action");
    now_ = now;
    if (is_v5(c->version)) {
        codec::Disconnect d;
        d.reason = ReasonCode::AdministrativeAction;
        send_packet(*c, d);
    }
    // A server-side close without the client's DISCONNECT: the will is published [MQTT-3.1.2-8].
    drop_connection(*c, true, now);
    return true;
}

std::optional<std::string> Core::refuse_publish(const BrokerPublish& p) const {
    const auto& limits = cfg_.limits;
    const auto& features = cfg_.features;
    if (const auto levels = codec::topic_level_count(p.topic); levels > limits.max_topic_levels)
        return "the topic has " + std::to_string(levels) + " levels, above limits.max_topic_levels (" +
               std::to_string(limits.max_topic_levels) + ")";
    if (static_cast<std::uint8_t>(p.qos) > features.maximum_qos)
        return "QoS " + std::to_string(static_cast<unsigned>(p.qos)) + " is above features.maximum_qos (" +
               std::to_string(features.maximum_qos) + ")";  // [MQTT-3.2.2-11]
    if (p.retain && !features.retain_available) return std::string("retained messages are not available");
    if (p.content_type && !common::is_valid_mqtt_utf8(*p.content_type))
        return std::string("content_type is not valid UTF-8");
    std::size_t size = 2 + p.topic.size() + 2 + p.payload.size() + 5 + 3 + (p.content_type ? p.content_type->size() : 0);
    for (const auto& [k, val] : p.user_properties) {
        if (!common::is_valid_mqtt_utf8(k) || !common::is_valid_mqtt_utf8(val))
            return "user property \"" + k + "\" is not valid UTF-8";
        size += 5 + k.size() + val.size();
    }
    if (size > limits.max_packet_size)  // what a client's PUBLISH of this message would take, at least
        return "the message takes " + std::to_string(size) + " bytes as a PUBLISH, above limits.max_packet_size (" +
               std::to_string(limits.max_packet_size) + ")";
    return std::nullopt;
}

std::size_t Core::publish(const BrokerPublish& p, TimePoint now) {
    now_ = now;
    auto m = std::make_shared<Message>();
    m->topic = p.topic;
    m->payload = p.payload;
    m->qos = p.qos;
    m->retain = p.retain;
    m->content_type = p.content_type;
    for (const auto& [k, v] : p.user_properties) m->user_properties.add(k, v);
    m->seal();
    MessagePtr msg = std::move(m);
    if (p.retain) {
        StoreBatch b{now_};
        set_retained(msg, &b);  // [MQTT-3.3.1-6/7], as for a client's retained PUBLISH
        commit(b);
    }
    Stats::add(stats_.messages_received);
    Stats::add(stats_.publish_received);
    return route_persisted(msg, now);
}

// ---------------------------------------------------------------------------------------------------------
// Persistence

void Core::commit(StoreBatch& b) {
    if (store_ == nullptr || b.empty()) return;
    store_->commit(b.take(), {});
}

void Core::commit_then(StoreBatch& b, std::function<void(Core&, bool, TimePoint)> then) {
    // The completion runs on the store's thread; the rest happens back on this core's own thread.
    store_->commit(b.take(), [host = &host_, w = index_, then = std::move(then)](bool ok) mutable {
        host->post(w, [then = std::move(then), ok](Core& core, TimePoint now) {
            core.now_ = now;
            then(core, ok, now);
        });
    });
}

void Core::persist_session(Session& s, StoreBatch& b) {
    StoredSession st;
    st.client_id = s.client_id;
    st.version = static_cast<std::uint8_t>(s.version);
    st.expiry_s = s.expiry_s;
    for (const auto& [filter, e] : s.subscriptions) {
        st.subscriptions.push_back({filter, static_cast<std::uint8_t>(e.options.qos), e.options.no_local,
                                    e.options.retain_as_published, e.options.retain_handling, e.subscription_id});
    }
    b.put_session(st);
    s.tag->durable = true;
}

void Core::note_sent(Session& s, const Outgoing& o) {
    // [MQTT-4.4.0-1]: after a restart an unacknowledged QoS 2 PUBLISH is resent with its original packet
    // identifier, so a client that holds it (awaiting PUBREL) sees a duplicate, not a second message. Sync mode
    // wrote it before sending (hold()); batched mode writes it now, not waited for (like every write there).
    // QoS 1 identifiers are not stored: a QoS 1 message may be delivered twice anyway.
    if (o.seq == 0 || store_ == nullptr || o.qos != QoS::ExactlyOnce || store_->acks_wait()) return;
    StoreBatch b{now_};
    b.mark_delivery(s.client_id, o.seq, o.packet_id, false);
    commit(b);
}

bool Core::must_hold(const Session& s, const Outgoing& o) const {
    if (store_ == nullptr || !store_->acks_wait()) return false;
    if (!s.inflight.empty() && s.inflight.rbegin()->held) return true;  // one before it waits: keep the order
    return o.seq != 0 && o.qos == QoS::ExactlyOnce;
}

void Core::hold(Session& s, Outgoing o) {
    // [MQTT-4.4.0-1], [MQTT-4.3.3-?]: a QoS 2 PUBLISH resent after a restart must carry the identifier it was sent
    // with, or a client that delivers on PUBLISH (and holds the identifier until PUBREL) takes it for a second
    // message. So the identifier is stored first and the PUBLISH goes out after that write (one group commit);
    // the messages after it wait in the window behind it, so that none overtakes it.
    o.held = true;
    if (o.seq != 0 && o.qos == QoS::ExactlyOnce) {
        o.marking = true;
        StoreBatch b{now_};
        b.mark_delivery(s.client_id, o.seq, o.packet_id, false);
        commit_then(b, [sid = s.id, seq = o.seq, pid = o.packet_id](Core& core, bool, TimePoint t) {
            // A failed write sends it anyway (as an unmarked message: a restart would give it a new identifier).
            core.on_marked(sid, seq, pid, t);
        });
    }
    s.inflight.push_back(std::move(o));
}

void Core::on_marked(SessionId id, std::uint64_t seq, std::uint16_t packet_id, TimePoint now) {
    now_ = now;
    Session* s = find_session(id);
    if (s == nullptr) return;
    auto it = std::find_if(s->inflight.begin(), s->inflight.end(), [&](const Outgoing& o) {
        return o.seq == seq && o.packet_id == packet_id && o.marking;
    });
    if (it == s->inflight.end()) return;  // moved back to the queue meanwhile (a smaller Receive Maximum)
    it->marking = false;
    release(*s, now);
}

void Core::release(Session& s, TimePoint now) {
    Connection* c = s.connection != 0 ? find_connection(s.connection) : nullptr;
    if (c == nullptr) return;  // offline: resend_inflight sends them on the next connection
    bool dropped = false;
    for (auto it = s.inflight.begin(); it != s.inflight.end();) {
        if (!it->held) {
            ++it;
            continue;
        }
        if (it->marking) break;
        // A message restored from the store may have been sent before the restart: DUP [MQTT-3.3.1-1].
        if (!send_publish(*c, *it, it->restored, now)) {
            forget(s, *it);  // too large for this client: dropped
            it = s.inflight.erase(it);
            dropped = true;
            continue;
        }
        it->held = false;
        it->sent = true;
        ++it;
    }
    if (dropped) pump(s, now);
}

void Core::forget(Session& s, const Outgoing& o) {
    if (o.seq == 0 || store_ == nullptr) return;
    StoreBatch b{now_};
    b.erase_delivery(s.client_id, o.seq);
    commit(b);
}

void Core::set_retained(const MessagePtr& m, StoreBatch* b) {
    {
        std::lock_guard lock(shared_.retained_mutex);
        if (m->payload.empty()) {
            shared_.retained.erase(m->topic);
        } else {
            shared_.retained.set(m->topic, m);
        }
    }
    if (b == nullptr || store_ == nullptr || m->topic.starts_with("$SYS")) return;
    if (m->payload.empty()) {
        b->erase_retained(m->topic);
    } else {
        b->put_retained(*m);
    }
}

void Core::capture(PendingPublish& p, StoreBatch& b, TimePoint now) {
    capture_ = &p.deliveries;
    p.matched = route(p.message, now);
    capture_ = nullptr;
    for (auto& d : p.deliveries) {
        if (d.qos == QoS::AtMostOnce || !d.owner || !d.owner->durable.load(std::memory_order_relaxed)) continue;
        d.seq = make_seq(shared_.next_seq.fetch_add(1, std::memory_order_relaxed), index_);
        StoredDelivery sd;
        sd.seq = d.seq;
        sd.message = p.message;
        sd.qos = static_cast<std::uint8_t>(d.qos);
        sd.retain = d.retain;
        sd.subscription_ids = d.subscription_ids;
        if (d.share) sd.share = *d.share;
        b.put_delivery(d.owner->client_id, sd);
    }
}

void Core::finish_publish(PendingPublish& p, bool ok, TimePoint now) {
    now_ = now;
    Session* s = p.session != 0 ? find_session(p.session) : nullptr;
    Connection* c = p.connection != 0 ? find_connection(p.connection) : nullptr;
    if (c != nullptr && (c->state != Connection::State::Connected || c->session != s)) c = nullptr;
    const QoS qos = p.message->qos;
    if (!ok) {
        // Nothing of it is stored, so it is neither delivered nor acknowledged: the client may send it again.
        if (shared_.log) shared_.log(3, "store write failed: message on " + p.message->topic + " not accepted");
        if (qos == QoS::ExactlyOnce && s != nullptr && p.connection != 0) s->incoming_qos2.erase(p.packet_id);
        if (c == nullptr) return;
        if (!is_v5(c->version)) {
            protocol_close(*c, ReasonCode::UnspecifiedError, "store write failed");
            return;
        }
        if (qos == QoS::AtLeastOnce) {
            codec::Puback a;
            a.packet_id = p.packet_id;
            a.reason = ReasonCode::UnspecifiedError;
            send_packet(*c, a);
        } else {
            codec::Pubrec a;
            a.packet_id = p.packet_id;
            a.reason = ReasonCode::UnspecifiedError;
            send_packet(*c, a);
        }
        return;
    }
    if (p.retain_update) set_retained(p.message, nullptr);  // already in the batch
    const bool fan_out = std::exchange(fan_out_, p.deliveries.size() > 1);
    for (auto& d : p.deliveries) {
        const unsigned w = worker_of(d.session);
        if (w == index_) {
            if (Session* t = find_session(d.session)) {
                deliver(*t, p.message, d.qos, d.retain, std::move(d.subscription_ids), now, d.share, d.seq);
            }
        } else {
            outbox_[w].push_back(
                {p.message, d.session, d.qos, d.retain, std::move(d.subscription_ids), d.share, d.seq});
        }
    }
    fan_out_ = fan_out;
    if (p.connection == 0) return;
    if (qos == QoS::ExactlyOnce && s != nullptr) s->incoming_qos2.insert(p.packet_id);
    if (c == nullptr) return;
    const auto reason = p.matched == 0 ? ReasonCode::NoMatchingSubscribers : ReasonCode::Success;
    if (qos == QoS::AtLeastOnce) {
        codec::Puback a;
        a.packet_id = p.packet_id;
        if (is_v5(c->version)) a.reason = reason;
        send_packet(*c, a);
    } else if (qos == QoS::ExactlyOnce) {
        codec::Pubrec a;
        a.packet_id = p.packet_id;
        if (is_v5(c->version)) a.reason = reason;
        send_packet(*c, a);
    }
}

std::size_t Core::route_persisted(const MessagePtr& m, TimePoint now) {
    if (store_ == nullptr || m->qos == QoS::AtMostOnce) return route(m, now);
    PendingPublish p;
    p.message = m;
    StoreBatch b{now_};
    capture(p, b, now);
    commit(b);
    finish_publish(p, true, now);
    return p.matched;
}

SessionId Core::session_id(std::string_view client_id) const {
    auto it = sessions_.find(std::string(client_id));
    return it == sessions_.end() ? 0 : it->second->id;
}

std::vector<std::pair<std::string, SubscriptionEntry>> Core::restore(RestoredSession& rs, TimePoint now) {
    now_ = now;
    std::vector<std::pair<std::string, SubscriptionEntry>> subs;
    auto ns = std::make_unique<Session>();
    Session& s = *ns;
    s.id = make_session_id(index_, next_session_++);
    s.client_id = rs.session.client_id;
    s.tag = std::make_shared<SessionTag>(s.client_id);
    s.tag->durable = true;
    s.version = static_cast<ProtocolVersion>(rs.session.version);
    s.expiry_s = rs.session.expiry_s;
    s.offline_since = now;  // the expiry interval counts again from the restart
    for (const auto& sub : rs.session.subscriptions) {
        SubscriptionEntry e;
        e.options.qos = static_cast<QoS>(sub.qos);
        e.options.no_local = sub.no_local;
        e.options.retain_as_published = sub.retain_as_published;
        e.options.retain_handling = sub.retain_handling;
        e.subscription_id = sub.identifier;
        e.owner = s.tag;
        if (codec::parse_shared_filter(sub.filter)) e.share = std::make_shared<const std::string>(sub.filter);
        s.subscriptions.insert_or_assign(sub.filter, e);
        tree_.insert(sub.filter, s.id, e);
        subs.emplace_back(sub.filter, e);
        Stats::add(stats_.subscriptions);
    }
    for (auto& d : rs.deliveries) {
        Outgoing o{d.message, static_cast<QoS>(d.qos), d.retain, std::move(d.subscription_ids),
                   d.share.empty() ? nullptr : std::make_shared<const std::string>(d.share)};
        o.seq = d.seq;
        o.restored = true;
        if (d.pubrec) {
            // [MQTT-4.4.0-1]: past PUBREC only the PUBREL is resent, with the packet identifier the client knows.
            o.packet_id = d.packet_id;
            o.sent = true;
            o.pubrec = true;
            s.inflight.push_back(std::move(o));
        } else if (d.packet_id != 0) {
            // A QoS 2 PUBLISH sent before the restart, not acknowledged: resent on reconnect with its identifier.
            o.packet_id = d.packet_id;
            o.sent = true;
            s.inflight.push_back(std::move(o));
        } else {
            s.queued_bytes += message_size(*o.message);
            s.queue.push_back(std::move(o));
        }
    }
    if (rs.spilled != 0) {
        for (const auto& o : s.inflight) {
            if (o.seq >= rs.spill_from && o.seq <= rs.spill_to) s.restored_in_flight.insert(o.seq);
        }
        s.spill.push_back(SpillRun{rs.spill_from, rs.spill_to, kAnySeqWorker, rs.spilled, rs.spilled_bytes});
        s.spilled = rs.spilled;
        s.spilled_bytes = rs.spilled_bytes;
    }
    for (auto id : rs.incoming_qos2) s.incoming_qos2.insert(id);
    if (rs.will) {
        s.pending_will = StoredWill{rs.will->message, rs.will->delay_s, rs.will->expiry_s};
        s.will_due = from_unix_ms(rs.will->due_unix_ms, now);
    }
    Stats::add(stats_.sessions);
    sessions_by_id_.emplace(s.id, &s);
    sessions_.emplace(s.client_id, std::move(ns));
    return subs;
}

}  // namespace moth::broker
