#pragma once
// The broker's I/O: listeners, one worker thread per core each running an io_context and a broker::Core,
// and the byte pump between sockets and cores.
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "broker/auth.hpp"
#include "broker/cluster.hpp"
#include "broker/gate.hpp"
#include "broker/message.hpp"
#include "broker/store.hpp"
#include "config/config.hpp"

#include <boost/asio/any_io_executor.hpp>

#include "broker/admin.hpp"
#include "http/api.hpp"

namespace moth::broker {
class Core;
}  // namespace moth::broker
namespace moth::net {
class Stream;
}  // namespace moth::net

namespace moth::server {

struct BoundListener {
    std::string name;
    config::ListenerKind kind;  // named by config::to_string, as in the config file
    std::string address;
    std::uint16_t port;
};

// A listener that cannot start (its address does not resolve or cannot be bound, its certificate does not load):
// `index` into config.listeners and the key to blame, so that mothd reports it as "file:line: key: message".
struct ListenerStartError : std::runtime_error {
    ListenerStartError(std::size_t i, std::string k, const std::string& what)
        : std::runtime_error(what), index(i), key(std::move(k)) {}
    std::size_t index;
    std::string key;
};

class Server {
public:
    // `log` receives (level, line): 0 debug, 1 info, 2 warning, 3 error; called from any thread.
    // `authorizer` (may be null: everything allowed) must outlive the server, like `auth`.
    Server(config::Config config, broker::Authenticator& auth, std::function<void(int, const std::string&)> log,
           std::string version, const broker::Authorizer* authorizer = nullptr);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Durable state (call before start(); without it nothing is persisted): the store the cores write to, and
    // what was loaded from it, restored into the workers by start() before they run.
    void attach_store(broker::Store& store, broker::RestoredState restored);
    // Binds every listener (throws std::runtime_error naming the listener when one cannot be bound) and
    // starts the workers. Called once, from the main thread.
    void start();
    // The listeners with the ports they got (port 0 in the config means any free port).
    [[nodiscard]] std::vector<BoundListener> bound() const;
    // Stops accepting, tells connected clients the server is going away, flushes, joins the workers.
    void stop();
    // Applies a reloaded configuration's reloadable settings (limits, features, sys interval, server
    // reference) on every worker. Listeners and the worker count stay as started.
    void reload(const config::Config& config);
    // Runs `fn` on every worker's thread with its core (from any thread; returns at once): the authorizer's rules
    // changed (Core::on_rules_changed), a ban was added (Core::on_bans_changed).
    void each_core(const std::function<void(broker::Core&, broker::TimePoint)>& fn);
    // Connection rates, bans and flapping detection (call before start(); without it: none). Must outlive the server.
    void attach_gate(broker::Gate& gate);
    [[nodiscard]] unsigned worker_count() const;
    // An in-process MQTT connection into the broker (a bridge's local side, docs/bridges.md): the client's end of
    // a pipe whose other end a worker serves as a connection of `tag` (an internal() one: trusted). The returned
    // stream's operations run on `client_executor`. Any thread, after start().
    [[nodiscard]] std::unique_ptr<net::Stream> connect_internal(boost::asio::any_io_executor client_executor,
                                                                std::shared_ptr<const broker::ListenerTag> tag);
    // Publishes as the broker itself (a retained $SYS value such as a bridge's state), routed by worker 0. Any
    // thread, after start(); the message is not checked.
    void publish(broker::BrokerPublish message);
    // The other nodes of a cluster (docs/cluster.md); before start(). start() joins the cluster (ClusterBus::start,
    // which throws when it cannot) before the workers run, stop() leaves it after they stopped. Must outlive the
    // server.
    void attach_cluster(broker::ClusterBus& bus);
    // Where the HTTP API finds the bridges' links (mothd's BridgeManager); before start(). Called from any thread.
    void attach_bridges(std::function<std::vector<http::BridgeInfo>()> source);

    struct Impl;  // defined in server.cpp

private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace moth::server
