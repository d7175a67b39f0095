#pragma once
// One thread running tasks in the order they were posted: the bus's blocking NATS calls (KV puts, consumer
// creation, flushes) run here, never on a caller's thread. Tasks left when it stops run with live = false, so
// their `done` callbacks report failure.
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace moth::cluster {

class WorkQueue {
public:
    using Task = std::function<void(bool live)>;
    WorkQueue() = default;
    WorkQueue(const WorkQueue&) = delete;
    WorkQueue& operator=(const WorkQueue&) = delete;
    ~WorkQueue() { stop(); }

    void start() {
        std::lock_guard lock(mu_);
        if (thread_.joinable() || stopped_) return;
        thread_ = std::thread([this] { run(); });
    }
    // False (and `t` runs at once with live = false) once stopped.
    bool post(Task t) {
        {
            std::lock_guard lock(mu_);
            if (!stopped_) {
                tasks_.push_back(std::move(t));
                cv_.notify_one();
                return true;
            }
        }
        t(false);
        return false;
    }
    // Lets the running task finish, fails the rest, joins. Idempotent.
    void stop() {
        {
            std::lock_guard lock(mu_);
            stopped_ = true;
            cv_.notify_one();
        }
        if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
        std::deque<Task> left;
        {
            std::lock_guard lock(mu_);
            left.swap(tasks_);
        }
        for (auto& t : left) t(false);
    }

private:
    void run() {
        std::unique_lock lock(mu_);
        while (true) {
            cv_.wait(lock, [this] { return stopped_ || !tasks_.empty(); });
            if (stopped_) return;
            auto t = std::move(tasks_.front());
            tasks_.pop_front();
            lock.unlock();
            t(true);
            lock.lock();
        }
    }
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Task> tasks_;
    bool stopped_ = false;
    std::thread thread_;
};

}  // namespace moth::cluster
