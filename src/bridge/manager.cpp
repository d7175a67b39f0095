#include "bridge/manager.hpp"

#include <chrono>
#include <future>

#include <boost/asio/post.hpp>

namespace moth::bridge {

namespace asio = boost::asio;

BridgeManager::BridgeManager(LocalConnector local, Bridge::Log log, Bridge::StateSink state)
    : local_(std::move(local)),
      log_(std::move(log)),
      state_(std::move(state)),
      work_(asio::make_work_guard(ioc_)),
      thread_([this] { ioc_.run(); }) {}

BridgeManager::~BridgeManager() { stop(); }

void BridgeManager::apply(const std::vector<config::Bridge>& bridges) {
    asio::post(ioc_, [this, bridges] {
        std::vector<std::shared_ptr<Bridge>> going;
        {
            std::lock_guard lock(mutex_);
            for (auto it = bridges_.begin(); it != bridges_.end();) {
                const bool kept = std::any_of(bridges.begin(), bridges.end(),
                                              [&](const config::Bridge& b) { return b.name == it->first; });
                if (kept) {
                    ++it;
                } else {
                    going.push_back(it->second);
                    it = bridges_.erase(it);
                }
            }
        }
        for (auto& b : going) {
            if (log_) log_(1, "bridge " + b->config().name + ": removed");  // and its backlog (docs/bridges.md)
            b->stop([] {}, true);
        }
        for (const auto& c : bridges) replace(c);
    });
}

void BridgeManager::replace(const config::Bridge& c) {
    std::shared_ptr<Bridge> old;
    {
        std::lock_guard lock(mutex_);
        if (const auto it = bridges_.find(c.name); it != bridges_.end()) {
            if (it->second->config() == c) return;  // unchanged: left running
            old = it->second;
        }
    }
    auto fresh = std::make_shared<Bridge>(
        ioc_.get_executor(), c,
        [connect = local_, c](asio::any_io_executor ex) { return connect(std::move(ex), c); }, log_, state_);
    {
        std::lock_guard lock(mutex_);
        bridges_[c.name] = fresh;
    }
    if (!old) {
        fresh->start();
        return;
    }
    if (log_) log_(1, "bridge " + c.name + ": changed, restarting it");
    // The new one starts once the old one let go of the local session (its client id is the same).
    old->stop([fresh, old] {
        fresh->inherit_local_filters(*old);  // so that filters the new rules lack are unsubscribed
        fresh->start();
    });
}

std::vector<BridgeStatus> BridgeManager::statuses() const {
    std::vector<std::shared_ptr<Bridge>> all;
    {
        std::lock_guard lock(mutex_);
        for (const auto& [name, b] : bridges_) all.push_back(b);
    }
    std::vector<BridgeStatus> out;
    out.reserve(all.size());
    for (const auto& b : all) out.push_back(b->status());
    return out;
}

void BridgeManager::stop() {
    if (!thread_.joinable()) return;
    auto all_stopped = std::make_shared<std::promise<void>>();
    auto done = all_stopped->get_future();
    asio::post(ioc_, [this, all_stopped] {
        std::map<std::string, std::shared_ptr<Bridge>> all;
        {
            std::lock_guard lock(mutex_);
            all.swap(bridges_);
        }
        auto left = std::make_shared<std::size_t>(all.size());
        if (*left == 0) all_stopped->set_value();
        for (auto& [name, b] : all) {
            b->stop([left, all_stopped] {
                if (--*left == 0) all_stopped->set_value();
            });
        }
    });
    // A remote still connecting holds its bridge up to the connect timeout (5 s); beyond that, the thread is cut.
    if (done.wait_for(std::chrono::seconds(10)) != std::future_status::ready && log_) {
        log_(2, "bridges: not all stopped within 10 s; leaving them");
    }
    work_.reset();
    ioc_.stop();
    thread_.join();
}

}  // namespace moth::bridge
