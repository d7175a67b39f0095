// Request/response (MQTT 5.0) with the coroutine client: a responder and a requester on one io_context.
//     moth_example_request_response [url]
#include <iostream>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <moth/client.hpp>

namespace asio = boost::asio;

// Braced lists are built outside the coroutines: GCC 12 cannot keep an initializer_list's array in a frame.
std::vector<moth::Subscription> one(std::string filter) { return {{std::move(filter), {moth::QoS::AtLeastOnce}}}; }
std::vector<std::byte> correlation() { return {std::byte{1}}; }

asio::awaitable<void> respond(moth::AsyncClient& client) {
    for (;;) {
        auto request = co_await client.receive();
        if (!request) co_return;  // closed
        if (!request->properties.response_topic) continue;
        auto reply = moth::Message::text(*request->properties.response_topic,
                                         "echo: " + std::string(request->payload_text()), moth::QoS::AtLeastOnce);
        reply.properties.correlation_data = request->properties.correlation_data;
        reply.properties.user_properties.push_back({"served-by", "example"});
        (void)co_await client.publish(std::move(reply));
    }
}

asio::awaitable<int> run(asio::io_context& ioc, std::string url) {
    moth::AsyncClient responder(ioc.get_executor(), {.url = url, .client_id = "example-responder"});
    moth::AsyncClient requester(ioc.get_executor(), {.url = url, .client_id = "example-requester"});
    // (GCC 12 miscompiles co_await inside if-conditions: plain statements.)
    auto connected = co_await responder.connect();
    if (connected) connected = co_await requester.connect();
    if (!connected) {
        std::cerr << "connect: " << connected.error().message << '\n';
        co_return 1;
    }
    (void)co_await responder.subscribe(one("moth/service"));
    (void)co_await requester.subscribe(one("moth/replies/example-requester"));
    asio::co_spawn(ioc, respond(responder), asio::detached);

    auto request = moth::Message::text("moth/service", "ping", moth::QoS::AtLeastOnce);
    request.properties.response_topic = "moth/replies/example-requester";
    request.properties.correlation_data = correlation();
    auto published = co_await requester.publish(request);
    if (!published) {
        std::cerr << "publish: " << published.error().message << '\n';
        co_return 1;
    }
    auto reply = co_await requester.receive(std::chrono::seconds(5));
    if (!reply) {
        std::cerr << "no reply: " << reply.error().message << '\n';
        co_return 1;
    }
    std::cout << reply->payload_text() << '\n';
    co_await requester.disconnect();
    co_await responder.disconnect();
    co_return 0;
}

int main(int argc, char** argv) {
    asio::io_context ioc;
    int status = 1;
    asio::co_spawn(ioc, run(ioc, argc > 1 ? argv[1] : "mqtt://localhost:1883"),
                   [&](std::exception_ptr e, int s) { status = e ? 1 : s; });
    ioc.run();
    return status;
}
