#pragma once
// Waiters: the client's condition variable for coroutines on one executor. A coroutine waits (optionally with a
// deadline) and re-checks its condition when woken; notify_all() wakes every waiter. Each wait owns a timer that
// expires at the deadline, and notify_all() cancels those timers, so a wake-up is never lost between checking
// the condition and suspending: both happen in one step on the single-threaded executor.
#include <algorithm>
#include <chrono>
#include <optional>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <moth/client.hpp>

namespace moth::client {

using Clock = std::chrono::steady_clock;

class Waiters {
public:
    Waiters() = default;
    Waiters(const Waiters&) = delete;
    Waiters& operator=(const Waiters&) = delete;

    void notify_all() noexcept {
        const auto timers = timers_;  // cancel() may let a waiter deregister while we iterate
        for (auto* t : timers) t->cancel();
    }

    // True when woken by notify_all(), false when the deadline passed.
    boost::asio::awaitable<bool> wait_until(Clock::time_point deadline) {
        boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, deadline);
        timers_.push_back(&timer);
        const Registration registration{timers_, &timer};
        boost::system::error_code ec;
        co_await timer.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
        co_return ec == boost::asio::error::operation_aborted;
    }

    boost::asio::awaitable<void> wait() { co_await wait_until(Clock::time_point::max()); }

private:
    struct Registration {
        std::vector<boost::asio::steady_timer*>& timers;
        boost::asio::steady_timer* timer;
        ~Registration() { std::erase(timers, timer); }
    };
    std::vector<boost::asio::steady_timer*> timers_;
};

// The outcome of one pending operation (a publish waiting for its PUBACK, a subscribe for its SUBACK), set once
// by the connection loop and awaited by the caller.
template <class T>
class Completion {
public:
    void set(Result<T> value) {
        if (value_) return;
        value_.emplace(std::move(value));
        waiters_.notify_all();
    }
    [[nodiscard]] bool done() const { return value_.has_value(); }
    boost::asio::awaitable<Result<T>> wait() {
        while (!value_) co_await waiters_.wait();
        co_return *value_;
    }

private:
    std::optional<Result<T>> value_;
    Waiters waiters_;
};

}  // namespace moth::client
