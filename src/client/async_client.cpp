// AsyncClient: one connection loop per connection (reader, gathered writer, keepalive), session state that
// outlives connections (outbound inflight window, inbound QoS 2 ids, subscriptions), automatic reconnect.
// This file is the public façade; the implementation is AsyncClient::Impl (async_client_impl.hpp), split by job
// into async_client_connect, _session, _loop, _inbound and _operations.cpp.
//
// Everything here runs on the client's executor, one coroutine step at a time, so the state takes no locks;
// only `connected_` is read from other threads (Client::connected()).
#include "client/async_client_impl.hpp"

namespace moth {

namespace {
asio::awaitable<std::unique_ptr<net::Stream>> default_stream_factory(asio::any_io_executor ex,
                                                                     const net::ConnectSettings& settings) {
    co_return co_await net::connect(std::move(ex), settings);
}
}  // namespace

AsyncClient::AsyncClient(asio::any_io_executor ex, ConnectOptions options)
    : AsyncClient(std::move(ex), std::move(options), default_stream_factory) {}

AsyncClient::AsyncClient(asio::any_io_executor ex, ConnectOptions options, StreamFactory stream_factory)
    : impl_(std::make_shared<Impl>(std::move(ex), std::move(options), std::move(stream_factory))) {}

AsyncClient::~AsyncClient() { impl_->shutdown(); }

asio::awaitable<Result<ConnectResult>> AsyncClient::connect() {
    auto self = impl_;
    co_return co_await self->connect(self);
}

asio::awaitable<Result<PublishResult>> AsyncClient::publish(Message message) {
    auto self = impl_;
    co_return co_await self->publish(self, std::move(message));
}

asio::awaitable<Result<SubscribeResult>> AsyncClient::subscribe(std::vector<Subscription> subscriptions,
                                                                std::optional<std::uint32_t> subscription_id,
                                                                std::vector<UserProperty> user_properties) {
    auto self = impl_;
    co_return co_await self->subscribe(self, std::move(subscriptions), subscription_id, std::move(user_properties));
}

asio::awaitable<Result<UnsubscribeResult>> AsyncClient::unsubscribe(std::vector<std::string> filters) {
    auto self = impl_;
    co_return co_await self->unsubscribe(self, std::move(filters));
}

asio::awaitable<Result<Message>> AsyncClient::receive() {
    auto self = impl_;
    co_return co_await self->receive(self, Clock::time_point::max());
}

asio::awaitable<Result<Message>> AsyncClient::receive(std::chrono::milliseconds timeout) {
    auto self = impl_;
    co_return co_await self->receive(self, Clock::now() + timeout);
}

asio::awaitable<void> AsyncClient::disconnect(std::uint8_t reason, std::optional<std::uint32_t> session_expiry) {
    auto self = impl_;
    co_await self->disconnect(self, reason, session_expiry);
}

asio::awaitable<Result<void>> AsyncClient::reauthenticate(std::vector<std::byte> data) {
    auto self = impl_;
    co_return co_await self->reauthenticate(self, std::move(data));
}

void AsyncClient::ack(const Message& message) { impl_->acknowledge(message); }
void AsyncClient::on_message(std::function<void(const Message&)> callback) { impl_->on_message_ = std::move(callback); }
void AsyncClient::on_connected(std::function<void(const ConnectResult&)> callback) {
    impl_->on_connected_ = std::move(callback);
}
void AsyncClient::on_disconnected(std::function<void(const Error&)> callback) {
    impl_->on_disconnected_ = std::move(callback);
}
bool AsyncClient::connected() const { return impl_->connected_.load(); }
bool AsyncClient::reconnecting() const { return impl_->reconnecting_; }
std::optional<ConnectResult> AsyncClient::last_connect() const { return impl_->last_connect_; }
const ConnectOptions& AsyncClient::options() const { return impl_->opts_; }

}  // namespace moth
