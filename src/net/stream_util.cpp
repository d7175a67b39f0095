#include "net/stream_util.hpp"

#include <exception>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace moth::net::detail {

asio::awaitable<void> with_timeout(asio::awaitable<void> op, std::chrono::milliseconds timeout,
                                   const std::function<void()>& on_timeout, const std::string& what) {
    using namespace asio::experimental::awaitable_operators;
    asio::steady_timer timer(co_await asio::this_coro::executor, timeout);
    bool timed_out = false;
    auto watchdog = [&]() -> asio::awaitable<void> {
        co_await timer.async_wait(asio::use_awaitable);
        timed_out = true;
        on_timeout();
    };
    std::exception_ptr failure;
    // `||` waits for the first *success*, so a failure of `op` must end its branch normally to win the race.
    auto guarded = [&](asio::awaitable<void> inner) -> asio::awaitable<void> {
        try {
            co_await std::move(inner);
        } catch (...) {
            failure = std::current_exception();
        }
    };
    co_await (guarded(std::move(op)) || watchdog());
    if (timed_out)
        throw Error(asio::error::timed_out, what + ": timed out after " + std::to_string(timeout.count()) + " ms",
                    nullptr);
    if (failure) std::rethrow_exception(failure);
}

std::string remote_of(const TcpSocket& socket, std::string& cache) {
    error_code ec;
    const auto ep = socket.remote_endpoint(ec);
    if (!ec) cache = format_endpoint(ep);
    return cache;
}

}  // namespace moth::net::detail
