#pragma once
// One bridge (docs/bridges.md): mothd's link to another broker. It is two MQTT clients of the library on one
// thread: the LOCAL one talks to this broker over an in-process connection (a persistent session "$bridge/<name>"
// whose queue, in the store, is the store-and-forward backlog), the REMOTE one to the other broker. A message goes
// on only once the far side has it: out, the local message is acknowledged when the remote acknowledged its copy;
// in, the remote message is acknowledged when this broker acknowledged it (routed, and stored where that is
// needed). So a link down, or mothd killed, loses nothing: the unacknowledged messages come again.
//
// Thread affinity: everything on the executor given at construction, except status() (any thread).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include "bridge/topic_map.hpp"
#include "config/bridge.hpp"
#include "moth/client.hpp"

namespace moth::bridge {

struct BridgeStatus {
    std::string name;
    bool connected = false;
    std::string address;     // the remote it is connected to, or tried last
    std::string last_error;  // why the last attempt or connection ended; "" when none yet
    std::uint64_t sent = 0;        // messages the remote acknowledged (QoS 0: written)
    std::uint64_t received = 0;    // messages from the remote this broker took
    std::uint64_t refused = 0;     // messages a side refused (an error reason code): dropped, counted
    std::uint64_t reconnects = 0;  // connection attempts after the first
    std::int64_t connected_since_unix_ms = 0;  // 0 while down
};

class Bridge : public std::enable_shared_from_this<Bridge> {
public:
    // An in-process connection into this broker, for the local client; its operations run on the given executor.
    using LocalConnector = std::function<std::unique_ptr<net::Stream>(boost::asio::any_io_executor)>;
    using Log = std::function<void(int, const std::string&)>;        // 0 debug .. 3 error
    using StateSink = std::function<void(const std::string&, bool)>;  // name, up: $SYS/broker/connection/<name>/state

    Bridge(boost::asio::any_io_executor ex, config::Bridge config, LocalConnector local, Log log, StateSink state);
    ~Bridge();
    Bridge(const Bridge&) = delete;
    Bridge& operator=(const Bridge&) = delete;

    void start();
    // Ends the link (both clients disconnect) and then calls `done`. Once. The local session and its backlog stay
    // for the next start, unless `forget` (the bridge was removed from the config): then the session ends too.
    void stop(std::function<void()> done, bool forget = false);
    [[nodiscard]] BridgeStatus status() const;
    [[nodiscard]] const config::Bridge& config() const { return config_; }
    // The local filters an earlier run of this bridge subscribed to (a changed bridge is a new object): before start.
    void inherit_local_filters(const Bridge& old) { local_filters_ = old.local_filters_; }

private:
    boost::asio::awaitable<void> run();
    boost::asio::awaitable<void> end_local_session();
    // One connected period: the remote, then the local session, subscriptions, forwarding until either side goes.
    // True when the remote accepted the connection.
    boost::asio::awaitable<bool> session();
    boost::asio::awaitable<void> subscribe_remote(AsyncClient& remote);
    // Subscribes the local session to the out rules' filters, unsubscribing those an older config had.
    boost::asio::awaitable<void> subscribe_local(AsyncClient& local);
    boost::asio::awaitable<void> prime_local_session();
    [[nodiscard]] ConnectOptions remote_options(const std::string& url) const;
    [[nodiscard]] ConnectOptions local_options() const;
    void forward_out(const Message& m);
    void forward_in(const Message& m);
    void ended(const std::string& why);  // either side lost: wakes session()
    void set_error(std::string why);
    [[nodiscard]] std::chrono::milliseconds jittered(std::chrono::milliseconds ceiling);

    boost::asio::any_io_executor ex_;
    config::Bridge config_;
    TopicMap map_;
    LocalConnector connect_local_;
    Log log_;
    StateSink state_;
    std::shared_ptr<AsyncClient> remote_;
    std::shared_ptr<AsyncClient> local_;
    boost::asio::steady_timer wake_;  // session(): waits on it until a side is lost; run(): the back-off
    bool link_lost_ = false;
    std::uint64_t generation_ = 0;  // of the session; a client's late news about an older one is ignored
    bool stopping_ = false;
    bool forget_ = false;
    std::function<void()> stopped_;
    std::size_t next_address_ = 0;
    std::set<std::string> local_filters_;  // subscribed on the local session by this process

    mutable std::mutex mutex_;  // guards the strings below; the counters are atomics
    std::string address_;
    std::string last_error_;
    std::atomic<bool> connected_{false};
    std::atomic<std::int64_t> connected_since_{0};
    std::atomic<std::uint64_t> sent_{0}, received_{0}, refused_{0}, reconnects_{0};
};

}  // namespace moth::bridge
