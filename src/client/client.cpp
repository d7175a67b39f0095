// Client: the blocking facade. An io_context runs on a thread of its own; every call posts a coroutine that
// calls the AsyncClient there and waits for its future, so the AsyncClient is only ever touched on that thread.
#include <future>
#include <thread>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_future.hpp>

#include <moth/client.hpp>

namespace moth {

namespace asio = boost::asio;

struct Client::Impl {
    asio::io_context ioc{1};
    asio::executor_work_guard<asio::io_context::executor_type> work{ioc.get_executor()};
    std::unique_ptr<AsyncClient> client;
    std::thread thread;

    explicit Impl(ConnectOptions options) {
        client = std::make_unique<AsyncClient>(ioc.get_executor(), std::move(options));
        thread = std::thread([this] { ioc.run(); });
    }

    // Runs `f()` (returning an awaitable) on the client's thread and waits for its result.
    template <class F>
    auto call(F f) {
        return asio::co_spawn(ioc, std::move(f), asio::use_future).get();
    }

    ~Impl() {
        // The AsyncClient is destroyed on its own thread; then the loop runs until its coroutines have finished.
        std::promise<void> destroyed;
        asio::post(ioc, [this, &destroyed] {
            client.reset();
            destroyed.set_value();
        });
        destroyed.get_future().wait();
        work.reset();
        thread.join();
    }
};

Client::Client(ConnectOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Client::~Client() {
    if (connected()) disconnect();
}

Result<ConnectResult> Client::connect() {
    return impl_->call([c = impl_->client.get()] { return c->connect(); });
}

Result<PublishResult> Client::publish(Message message) {
    return impl_->call([c = impl_->client.get(), m = std::move(message)]() mutable { return c->publish(std::move(m)); });
}

Result<PublishResult> Client::publish(std::string topic, std::string_view payload, QoS qos, bool retain) {
    return publish(Message::text(std::move(topic), payload, qos, retain));
}

Result<SubscribeResult> Client::subscribe(std::string filter, QoS qos) {
    Subscription s;
    s.filter = std::move(filter);
    s.options.qos = qos;
    return subscribe(std::vector<Subscription>{std::move(s)});
}

Result<SubscribeResult> Client::subscribe(std::vector<Subscription> subscriptions,
                                          std::optional<std::uint32_t> subscription_id) {
    return impl_->call([c = impl_->client.get(), s = std::move(subscriptions), subscription_id]() mutable {
        return c->subscribe(std::move(s), subscription_id);
    });
}

Result<UnsubscribeResult> Client::unsubscribe(std::vector<std::string> filters) {
    return impl_->call([c = impl_->client.get(), f = std::move(filters)]() mutable { return c->unsubscribe(std::move(f)); });
}

std::optional<Message> Client::receive(std::chrono::milliseconds timeout) {
    auto r = impl_->call([c = impl_->client.get(), timeout] { return c->receive(timeout); });
    if (!r) return std::nullopt;
    return std::move(*r);
}

void Client::disconnect(std::uint8_t reason) {
    impl_->call([c = impl_->client.get(), reason] { return c->disconnect(reason); });
}

bool Client::connected() const { return impl_->client->connected(); }

bool Client::reconnecting() const {
    return impl_->call([c = impl_->client.get()]() -> asio::awaitable<bool> { co_return c->reconnecting(); });
}

std::optional<ConnectResult> Client::last_connect() const {
    return impl_->call(
        [c = impl_->client.get()]() -> asio::awaitable<std::optional<ConnectResult>> { co_return c->last_connect(); });
}

}  // namespace moth
