#pragma once
// Waiters: the client's condition variable for coroutines on one executor. A coroutine waits (optionally with a
// deadline) and re-checks its condition when woken; notify_all() wakes every waiter. Each wait owns a timer that
// expires at the deadline, and notify_all() cancels those timers, so a wake-up is never lost between checking
// the condition and suspending: both happen in one step on the single-threaded executor.
//
// Threading: every member must run on the client's executor (the blocking Client facade only ever calls the
// AsyncClient from its own io_context thread). Asio never runs a completion handler inside cancel(), so the
// list of waiting timers cannot change while notify_all() walks it; notify_all() still takes the list over
// (a notified waiter is no longer waiting) rather than walking the live one.
//
// Lifetime: the list is shared with each pending wait, so a wait that outlives its Waiters (an owner destroyed
// while a coroutine still waits on it, or frames destroyed in any order when an io_context goes away) still
// deregisters into valid memory; the destructor wakes such waits, which return true (woken).
#include <algorithm>
#include <chrono>
#include <memory>
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
    ~Waiters() { notify_all(); }
    Waiters(const Waiters&) = delete;
    Waiters& operator=(const Waiters&) = delete;

    void notify_all() noexcept {
        const auto woken = std::exchange(*timers_, {});
        for (auto* t : woken) t->cancel();
    }

    // True when woken by notify_all() (or the Waiters' destruction), false when the deadline passed.
    boost::asio::awaitable<bool> wait_until(Clock::time_point deadline) {
        boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, deadline);
        const Registration registration{timers_, &timer};
        boost::system::error_code ec;
        co_await timer.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
        co_return ec == boost::asio::error::operation_aborted;
    }

    boost::asio::awaitable<void> wait() { co_await wait_until(Clock::time_point::max()); }

    [[nodiscard]] std::size_t waiting() const { return timers_->size(); }

private:
    using TimerList = std::vector<boost::asio::steady_timer*>;
    struct Registration {
        Registration(std::shared_ptr<TimerList> list, boost::asio::steady_timer* t) : timers(std::move(list)), timer(t) {
            timers->push_back(timer);
        }
        ~Registration() { std::erase(*timers, timer); }
        Registration(const Registration&) = delete;
        Registration& operator=(const Registration&) = delete;
        std::shared_ptr<TimerList> timers;
        boost::asio::steady_timer* timer;
    };
    std::shared_ptr<TimerList> timers_ = std::make_shared<TimerList>();
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
