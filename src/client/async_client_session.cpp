// AsyncClient, the session across connections: packet ids, the outbound queue and inflight window, resending
// after a reconnect, losing a connection, reconnecting with back-off.
#include <algorithm>
#include <string>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "client/async_client_impl.hpp"
#include "codec/encoder.hpp"

namespace moth {

std::uint16_t AsyncClient::Impl::allocate_id() {
    for (std::uint32_t i = 0; i < 65535U; ++i) {
        next_id_ = static_cast<std::uint16_t>(next_id_ == 65535 ? 1 : next_id_ + 1);
        if (!inflight_.contains(next_id_) && !sub_pending_.contains(next_id_) && !unsub_pending_.contains(next_id_)) {
            return next_id_;
        }
    }
    return 0;
}

std::optional<Error> AsyncClient::Impl::send_publish(Connection& c, const OutMessage& m, bool dup, bool allow_alias) {
    std::vector<codec::UserProperty> storage;
    codec::Publish p;
    p.topic = m.message.topic;
    p.qos = to_codec(m.message.qos);
    p.dup = dup;
    p.retain = m.message.retain;
    p.packet_id = m.id;
    p.payload = m.message.payload;
    if (c.version == codec::ProtocolVersion::V5) {
        p.properties = client::view_message_properties(m.message.properties, storage);
        if (allow_alias && opts_.use_topic_aliases && c.connack.topic_alias_maximum > 0) {
            if (auto it = c.out_aliases.find(m.message.topic); it != c.out_aliases.end()) {
                p.properties.topic_alias = it->second;
                p.topic = {};
            } else if (c.out_aliases.size() < c.connack.topic_alias_maximum) {
                const auto alias = static_cast<std::uint16_t>(c.out_aliases.size() + 1);
                c.out_aliases.emplace(m.message.topic, alias);
                p.properties.topic_alias = alias;
            }
        }
    }
    const auto size = codec::encoded_size(p, c.version);
    if (!size) return make_error(Error::Kind::InvalidArgument, std::string(codec::encode_error_text(size.error())));
    if (c.connack.maximum_packet_size != 0 && *size > c.connack.maximum_packet_size) {
        return make_error(Error::Kind::InvalidArgument,
                          "PUBLISH of " + std::to_string(*size) + " bytes exceeds the broker's Maximum Packet Size " +
                              std::to_string(c.connack.maximum_packet_size));
    }
    send(c, p);
    return std::nullopt;
}

void AsyncClient::Impl::pump() {
    auto c = current_;
    if (!c) return;
    while (!queue_.empty() && !c->closed) {
        OutMessage& front = queue_.front();
        if (front.message.qos == QoS::AtMostOnce) {
            if (auto err = send_publish(*c, front, false, true); err && front.done) front.done->set(*err);
            queue_.pop_front();
            continue;
        }
        if (inflight_.size() >= c->connack.receive_maximum) break;
        OutMessage m = std::move(front);
        queue_.pop_front();
        m.id = allocate_id();
        if (m.id == 0) {
            if (m.done) m.done->set(make_error(Error::Kind::InvalidArgument, "no packet identifier available"));
            continue;
        }
        m.stage = m.message.qos == QoS::AtLeastOnce ? OutMessage::Stage::AwaitPuback
                                                    : OutMessage::Stage::AwaitPubrec;
        if (auto err = send_publish(*c, m, false, true)) {
            if (m.done) m.done->set(*err);
            continue;
        }
        inflight_.emplace(m.id, std::move(m));
    }
}

void AsyncClient::Impl::established(const std::shared_ptr<Impl>& self, const std::shared_ptr<Connection>& c) {
    current_ = c;
    last_connect_ = c->connack;
    connected_ = true;
    reconnecting_ = false;
    std::vector<OutMessage> inflight;
    for (auto& [id, m] : inflight_) inflight.push_back(std::move(m));
    inflight_.clear();
    std::sort(inflight.begin(), inflight.end(), [](const auto& a, const auto& b) { return a.seq < b.seq; });
    if (c->connack.session_present) {
        // [MQTT-4.4.0-1]: resend unacknowledged PUBLISH (DUP set) and PUBREL, in their original order.
        for (auto& m : inflight) {
            if (m.stage == OutMessage::Stage::AwaitPubcomp) {
                send(*c, client::ack<codec::Pubrel>(m.id));
            } else {
                (void)send_publish(*c, m, true, false);
            }
            const auto id = m.id;
            inflight_.emplace(id, std::move(m));
        }
    } else {
        // The broker has no session: what it acknowledged with PUBREC it owns; the rest goes out again as new
        // messages ahead of the queue; the subscriptions are made again.
        inbound_qos2_.clear();
        // The messages the application still holds belong to the lost session: the broker will not resend them,
        // and their ids may name new messages now (manual_ack).
        awaiting_ack_.clear();
        acked_offline_.clear();
        for (auto it = inflight.rbegin(); it != inflight.rend(); ++it) {
            if (it->stage == OutMessage::Stage::AwaitPubcomp) {
                if (it->done) it->done->set(PublishResult{.reason = it->pubrec_reason, .reason_string = it->reason_string});
                continue;
            }
            it->stage = OutMessage::Stage::Queued;
            it->id = 0;
            queue_.push_front(std::move(*it));
        }
        resubscribe(*c);
    }
    pump();
    asio::co_spawn(ex_, run_reader(self, c), asio::detached);
    asio::co_spawn(ex_, run_writer(self, c), asio::detached);
    asio::co_spawn(ex_, run_keepalive(self, c), asio::detached);
    state_waiters_.notify_all();
    receivers_.notify_all();
    if (on_connected_) on_connected_(c->connack);
}

void AsyncClient::Impl::resubscribe(Connection& c) {
    // One SUBSCRIBE per subscription identifier, as the identifier belongs to the packet.
    std::map<std::optional<std::uint32_t>, std::vector<Subscription>> groups;
    for (const auto& [filter, rec] : subscriptions_) groups[rec.subscription_id].push_back({filter, rec.options});
    for (auto& [sub_id, subs] : groups) {
        const auto id = allocate_id();
        if (id == 0) return;
        send_subscribe(c, id, subs, sub_id, {});
        sub_pending_.emplace(id, PendingSubscribe{std::move(subs), sub_id, nullptr});
    }
}

void AsyncClient::Impl::send_subscribe(Connection& c, std::uint16_t id, const std::vector<Subscription>& subs,
                                       std::optional<std::uint32_t> sub_id, const std::vector<UserProperty>& user) {
    std::vector<codec::Subscription> list;
    for (const auto& s : subs) {
        list.push_back({s.filter, codec::SubscribeOptions{to_codec(s.options.qos), s.options.no_local,
                                                          s.options.retain_as_published,
                                                          s.options.retain_handling}});
    }
    std::vector<codec::UserProperty> storage;
    codec::Subscribe p;
    p.packet_id = id;
    p.subscriptions = list;
    const std::uint32_t sid = sub_id.value_or(0);
    if (sub_id) p.properties.subscription_identifiers = std::span<const std::uint32_t>(&sid, 1);
    p.properties.user_properties = client::view_user_properties(user, storage);
    send(c, p);
}

void AsyncClient::Impl::lost(const std::shared_ptr<Connection>& c) {
    if (c->closed) return;
    c->closed = true;
    c->stream->cancel();
    c->wake.notify_all();
    if (current_ != c) return;
    current_.reset();
    connected_ = false;
    Error err = c->error.value_or(make_error(Error::Kind::Network, "connection lost"));
    for (auto& [id, p] : sub_pending_) {
        if (p.done) p.done->set(err);
    }
    sub_pending_.clear();
    for (auto& [id, p] : unsub_pending_) {
        if (p.done) p.done->set(err);
    }
    unsub_pending_.clear();
    if (reauth_) {
        reauth_->set(err);
        reauth_.reset();
    }
    const bool taken_over = err.kind == Error::Kind::Refused &&
                            err.reason == static_cast<std::uint8_t>(ReasonCode::SessionTakenOver);
    const bool again = opts_.auto_reconnect && !user_closed_ && !taken_over;
    if (!again) fail_session_waiters(err);
    reconnecting_ = again;
    receivers_.notify_all();
    state_waiters_.notify_all();
    if (on_disconnected_) on_disconnected_(err);
    if (again) asio::co_spawn(ex_, reconnect_loop(shared_from_this()), asio::detached);
}

void AsyncClient::Impl::fail_session_waiters(const Error& err) {
    for (auto& [id, m] : inflight_) {
        if (m.done) {
            m.done->set(err);
            m.done.reset();
        }
    }
    for (auto& m : queue_) {
        if (m.done) m.done->set(err);
    }
    queue_.clear();
}

std::chrono::milliseconds AsyncClient::Impl::backoff(unsigned attempt) {
    // Exponential growth capped at reconnect_max, full jitter between reconnect_min and the cap.
    const auto lo = std::max<std::int64_t>(0, opts_.reconnect_min.count());
    const auto hi_limit = std::max<std::int64_t>(lo, opts_.reconnect_max.count());
    std::int64_t cap = std::max<std::int64_t>(lo, 1);
    for (unsigned i = 0; i < attempt && cap < hi_limit; ++i) cap *= 2;
    cap = std::min(cap, hi_limit);
    std::uniform_int_distribution<std::int64_t> dist(lo, std::max(lo, cap));
    return std::chrono::milliseconds(dist(rng_));
}

asio::awaitable<void> AsyncClient::Impl::reconnect_loop(std::shared_ptr<Impl> self) {
    for (unsigned n = 0; reconnecting_ && !user_closed_; ++n) {
        const auto deadline = Clock::now() + backoff(n);
        while (reconnecting_ && !user_closed_ && Clock::now() < deadline) {
            const bool woken = co_await state_waiters_.wait_until(deadline);
            if (!woken) break;
        }
        if (!reconnecting_ || user_closed_ || current_ || connecting_) co_return;
        auto r = co_await attempt(self);
        if (r) co_return;
    }
}

}  // namespace moth
