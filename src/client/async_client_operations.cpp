// AsyncClient, the user's operations: publish, subscribe, unsubscribe, receive, disconnect, re-authenticate, and the
// shutdown when the client is destroyed. Each checks its arguments first: a bad one is an error value, not a packet.
#include <algorithm>
#include <exception>
#include <string>

#include "client/async_client_impl.hpp"
#include "codec/topic.hpp"

namespace moth {

asio::awaitable<Result<PublishResult>> AsyncClient::Impl::publish([[maybe_unused]] std::shared_ptr<Impl> self,
                                                                  Message message) {
    if (const auto e = codec::validate_topic_name(message.topic); e != codec::TopicError::None) {
        co_return make_error(Error::Kind::InvalidArgument,
                             "bad topic \"" + message.topic + "\": " + std::string(codec::topic_error_text(e)));
    }
    if (static_cast<std::uint8_t>(message.qos) > 2) co_return make_error(Error::Kind::InvalidArgument, "bad QoS");
    if (current_) {
        const auto& ack = current_->connack;
        if (static_cast<std::uint8_t>(message.qos) > ack.maximum_qos) {
            co_return make_error(Error::Kind::InvalidArgument,
                                 "QoS " + std::to_string(static_cast<int>(message.qos)) +
                                     " exceeds the broker's Maximum QoS " + std::to_string(ack.maximum_qos));
        }
        if (message.retain && !ack.retain_available) {
            co_return make_error(Error::Kind::InvalidArgument, "the broker does not support retained messages");
        }
    } else {
        const bool buffering = reconnecting_ || (connecting_ && opts_.auto_reconnect);
        if (!buffering || opts_.offline_buffer_limit == 0) {
            co_return make_error(Error::Kind::NotConnected, "not connected");
        }
        if (queue_.size() >= opts_.offline_buffer_limit) {
            auto it = std::find_if(queue_.begin(), queue_.end(),
                                   [](const OutMessage& m) { return m.message.qos == QoS::AtMostOnce; });
            if (it == queue_.end()) {
                co_return make_error(Error::Kind::NotConnected,
                                     "not connected and the offline buffer is full (" +
                                         std::to_string(opts_.offline_buffer_limit) + " messages)");
            }
            queue_.erase(it);
        }
    }
    OutMessage m;
    m.message = std::move(message);
    m.seq = next_seq_++;
    const bool qos0 = m.message.qos == QoS::AtMostOnce;
    std::shared_ptr<Completion<PublishResult>> done;
    if (!qos0) {
        done = std::make_shared<Completion<PublishResult>>();
        m.done = done;
    }
    if (qos0 && current_ && queue_.empty()) {
        if (auto err = send_publish(*current_, m, false, true)) co_return *err;
        co_return PublishResult{};
    }
    queue_.push_back(std::move(m));
    pump();
    if (qos0) co_return PublishResult{};
    co_return co_await done->wait();
}

asio::awaitable<Result<SubscribeResult>> AsyncClient::Impl::subscribe([[maybe_unused]] std::shared_ptr<Impl> self,
                                                                      std::vector<Subscription> subs,
                                                                      std::optional<std::uint32_t> sub_id,
                                                                      std::vector<UserProperty> user) {
    if (subs.empty()) co_return make_error(Error::Kind::InvalidArgument, "no topic filter");
    for (const auto& s : subs) {
        if (const auto e = codec::validate_topic_filter(s.filter); e != codec::TopicError::None) {
            co_return make_error(Error::Kind::InvalidArgument,
                                 "bad topic filter \"" + s.filter + "\": " + std::string(codec::topic_error_text(e)));
        }
        if (static_cast<std::uint8_t>(s.options.qos) > 2 || s.options.retain_handling > 2) {
            co_return make_error(Error::Kind::InvalidArgument, "bad subscription options for \"" + s.filter + "\"");
        }
    }
    if (sub_id && (*sub_id == 0 || *sub_id > 268'435'455)) {
        co_return make_error(Error::Kind::InvalidArgument, "subscription identifier out of range 1..268435455");
    }
    auto c = current_;
    if (!c) co_return make_error(Error::Kind::NotConnected, "not connected");
    const auto id = allocate_id();
    if (id == 0) co_return make_error(Error::Kind::InvalidArgument, "no packet identifier available");
    auto done = std::make_shared<Completion<SubscribeResult>>();
    send_subscribe(*c, id, subs, v5() ? sub_id : std::nullopt, v5() ? user : std::vector<UserProperty>{});
    sub_pending_.emplace(id, PendingSubscribe{std::move(subs), sub_id, done});
    co_return co_await done->wait();
}

asio::awaitable<Result<UnsubscribeResult>> AsyncClient::Impl::unsubscribe([[maybe_unused]] std::shared_ptr<Impl> self,
                                                                          std::vector<std::string> filters) {
    if (filters.empty()) co_return make_error(Error::Kind::InvalidArgument, "no topic filter");
    for (const auto& f : filters) {
        if (const auto e = codec::validate_topic_filter(f); e != codec::TopicError::None) {
            co_return make_error(Error::Kind::InvalidArgument,
                                 "bad topic filter \"" + f + "\": " + std::string(codec::topic_error_text(e)));
        }
    }
    auto c = current_;
    if (!c) co_return make_error(Error::Kind::NotConnected, "not connected");
    const auto id = allocate_id();
    if (id == 0) co_return make_error(Error::Kind::InvalidArgument, "no packet identifier available");
    std::vector<std::string_view> views(filters.begin(), filters.end());
    send(*c, codec::Unsubscribe{.packet_id = id, .properties = {}, .filters = views});
    auto done = std::make_shared<Completion<UnsubscribeResult>>();
    unsub_pending_.emplace(id, PendingUnsubscribe{std::move(filters), done});
    co_return co_await done->wait();
}

asio::awaitable<Result<Message>> AsyncClient::Impl::receive([[maybe_unused]] std::shared_ptr<Impl> self,
                                                            Clock::time_point deadline) {
    for (;;) {
        if (!inbox_.empty()) {
            Message m = std::move(inbox_.front());
            inbox_.pop_front();
            co_return m;
        }
        if (!current_ && !reconnecting_ && !connecting_) {
            co_return make_error(Error::Kind::Closed, "the client is not connected");
        }
        const bool woken = co_await receivers_.wait_until(deadline);
        if (!woken) {
            co_return make_error(Error::Kind::Timeout, "no message in time");
        }
    }
}

asio::awaitable<void> AsyncClient::Impl::disconnect([[maybe_unused]] std::shared_ptr<Impl> self, std::uint8_t reason,
                                                    std::optional<std::uint32_t> session_expiry) {
    user_closed_ = true;
    reconnecting_ = false;
    state_waiters_.notify_all();
    const Error closed = make_error(Error::Kind::Closed, "disconnected by the client");
    if (auto c = current_) {
        codec::Disconnect d;
        d.reason = static_cast<ReasonCode>(reason);
        d.properties.session_expiry_interval = session_expiry;
        send(*c, d);
        co_await flush(*c, Clock::now() + std::min<std::chrono::milliseconds>(opts_.connect_timeout,
                                                                             std::chrono::seconds(5)));
        if (!c->error) c->error = closed;
        if (!c->closed) {
            try {
                co_await c->stream->close();
            } catch (const std::exception&) {  // closing anyway
            }
        }
        lost(c);
    }
    fail_session_waiters(closed);
    receivers_.notify_all();
}

asio::awaitable<Result<void>> AsyncClient::Impl::reauthenticate([[maybe_unused]] std::shared_ptr<Impl> self,
                                                                std::vector<std::byte> data) {
    if (!v5() || opts_.authentication_method.empty()) {
        co_return make_error(Error::Kind::InvalidArgument,
                             "re-authentication needs MQTT 5.0 and an authentication method");
    }
    auto c = current_;
    if (!c) co_return make_error(Error::Kind::NotConnected, "not connected");
    if (reauth_) co_return make_error(Error::Kind::InvalidArgument, "a re-authentication is already running");
    codec::Auth a;
    a.reason = ReasonCode::ReAuthenticate;
    a.properties.authentication_method = opts_.authentication_method;
    a.properties.authentication_data = codec::Bytes(data);
    send(*c, a);
    auto done = std::make_shared<Completion<void>>();
    reauth_ = done;
    co_return co_await done->wait();
}

void AsyncClient::Impl::shutdown() {
    user_closed_ = true;
    reconnecting_ = false;
    on_message_ = nullptr;
    on_connected_ = nullptr;
    on_disconnected_ = nullptr;
    if (auto c = current_) {
        if (!c->error) c->error = make_error(Error::Kind::Closed, "the client was destroyed");
        lost(c);
    }
    fail_session_waiters(make_error(Error::Kind::Closed, "the client was destroyed"));
    state_waiters_.notify_all();
    receivers_.notify_all();
}

}  // namespace moth
