#pragma once
// mothd's bridges ([[bridge]], docs/bridges.md): one thread runs them all (their clients' I/O is light next to a
// worker's); SIGHUP adds, changes and removes them by name without touching the others.
//
// Thread affinity: apply(), stop() from one thread (mothd's main); statuses() from any thread.
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "bridge/bridge.hpp"
#include "net/stream.hpp"

namespace moth::bridge {

class BridgeManager {
public:
    // An in-process connection into this broker for `bridge`'s local session (Server::connect_internal).
    using LocalConnector =
        std::function<std::unique_ptr<net::Stream>(boost::asio::any_io_executor, const config::Bridge& bridge)>;

    BridgeManager(LocalConnector local, Bridge::Log log, Bridge::StateSink state);
    ~BridgeManager();  // stop()
    BridgeManager(const BridgeManager&) = delete;
    BridgeManager& operator=(const BridgeManager&) = delete;

    // Makes the running bridges those of `bridges`: new ones start, removed ones stop, a changed one is stopped and
    // then started with its new settings (its local session, and so its backlog, stays). Returns at once.
    void apply(const std::vector<config::Bridge>& bridges);
    [[nodiscard]] std::vector<BridgeStatus> statuses() const;  // in name order
    // Stops every bridge (each disconnects both sides) and joins the thread: before the broker stops.
    void stop();

private:
    void replace(const config::Bridge& c);  // on the thread

    LocalConnector local_;
    Bridge::Log log_;
    Bridge::StateSink state_;
    boost::asio::io_context ioc_;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
    std::thread thread_;
    mutable std::mutex mutex_;  // bridges_: changed on the thread, read by statuses()
    std::map<std::string, std::shared_ptr<Bridge>> bridges_;
};

}  // namespace moth::bridge
