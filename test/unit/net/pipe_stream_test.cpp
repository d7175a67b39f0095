// The in-process pipe (src/net/pipe_stream.hpp): two ends on two io_contexts, each run by a thread of its own, as
// a bridge's client and a broker worker use them. Ordered transfer both ways at once, back-pressure at the window,
// close from either end by every way an end closes, an end destroyed while the other waits, and cancellation.
// No sleeps: every wait is on a future with a deadline; "has not completed" is checked after both io_contexts
// have run everything that was queued (settle()).
#include "net/pipe_stream.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <future>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

namespace moth::net {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using boost::system::error_code;
using Bytes = std::vector<std::byte>;

constexpr auto kDeadline = 20s;  // only reached when something is broken

Bytes text(std::string_view s) {
    Bytes out;
    for (char c : s) out.push_back(static_cast<std::byte>(c));
    return out;
}

Bytes random_bytes(std::size_t n, std::uint32_t seed) {
    std::mt19937 rng(seed);
    Bytes out(n);
    for (auto& b : out) b = static_cast<std::byte>(rng() & 0xFF);
    return out;
}

// 1 byte to 512 KiB, spread over the orders of magnitude (so both tiny chunks and chunks over the window occur).
std::size_t random_size(std::mt19937& rng) {
    const std::size_t max = std::size_t{1} << (rng() % 20);
    return 1 + rng() % max;
}

// ---- coroutines run on an end's io_context (parameters by value: they live in the frame) ----

asio::awaitable<Bytes> read_some_bytes(Stream* s, std::size_t max) {
    Bytes buf(max);
    buf.resize(co_await s->read_some(buf));
    co_return buf;
}

asio::awaitable<void> write_bytes(Stream* s, Bytes bytes) {
    co_await s->write(bytes);
}

asio::awaitable<Bytes> read_exactly(Stream* s, std::size_t total, std::uint32_t seed) {
    std::mt19937 rng(seed);
    Bytes out(total);
    std::size_t got = 0;
    while (got < total) {
        const std::size_t want = std::min(random_size(rng), total - got);
        got += co_await s->read_some(std::span<std::byte>(out.data() + got, want));
    }
    co_return out;
}

asio::awaitable<void> write_chunked(Stream* s, const Bytes* data, std::uint32_t seed) {
    std::mt19937 rng(seed);
    std::size_t sent = 0;
    while (sent < data->size()) {
        const std::size_t n = std::min(random_size(rng), data->size() - sent);
        co_await s->write(std::span<const std::byte>(data->data() + sent, n));
        sent += n;
    }
}

asio::awaitable<void> close_stream(Stream* s) {
    co_await s->close();
}

// Races `op` against a timer that has already expired: the timer wins, so `op` is cancelled through its slot.
// Returns the index of the winner (1: the timer).
asio::awaitable<std::size_t> race_expired_timer(asio::awaitable<void> op) {
    using namespace asio::experimental::awaitable_operators;
    asio::steady_timer timer(co_await asio::this_coro::executor, asio::steady_timer::time_point::min());
    auto result = co_await (std::move(op) || timer.async_wait(asio::use_awaitable));
    co_return result.index();
}

asio::awaitable<void> read_into_nowhere(Stream* s) {
    std::array<std::byte, 64> buf{};
    (void)co_await s->read_some(buf);
}

// What a coroutine ended with. The error is taken out of its exception on the loop's thread: an exception_ptr
// handed to another thread trips ThreadSanitizer (its reference count lives in uninstrumented libstdc++).
template <class T>
struct Outcome {
    error_code ec;
    T value{};
};

error_code error_of(const std::exception_ptr& e) {
    if (!e) return {};
    try {
        std::rethrow_exception(e);
    } catch (const boost::system::system_error& x) {
        return x.code();
    } catch (...) {
        return asio::error::fault;
    }
}

template <class T>
std::future<Outcome<T>> spawn(asio::io_context& ioc, asio::awaitable<T> a) {
    auto p = std::make_shared<std::promise<Outcome<T>>>();
    auto f = p->get_future();
    asio::co_spawn(ioc, std::move(a), [p](const std::exception_ptr& e, T v) {
        p->set_value(Outcome<T>{error_of(e), std::move(v)});
    });
    return f;
}

asio::awaitable<std::monostate> as_value(asio::awaitable<void> a) {
    co_await std::move(a);
    co_return std::monostate{};
}

std::future<Outcome<std::monostate>> spawn(asio::io_context& ioc, asio::awaitable<void> a) {
    return spawn(ioc, as_value(std::move(a)));
}

template <class T>
bool ready(const std::future<T>& f, std::chrono::milliseconds timeout = kDeadline) {
    return f.wait_for(timeout) == std::future_status::ready;
}

// The error an operation failed with; {} when it succeeded.
template <class T>
error_code failure(std::future<Outcome<T>>& f) {
    if (!ready(f)) {
        ADD_FAILURE() << "operation did not complete";
        return asio::error::timed_out;
    }
    return f.get().ec;
}

template <class T>
T value(std::future<Outcome<T>>& f) {
    if (!ready(f)) throw std::runtime_error("operation did not complete");
    auto o = f.get();
    if (o.ec) throw std::runtime_error("operation failed: " + o.ec.message());
    return std::move(o.value);
}

// One io_context run by its own thread until the test ends.
struct Loop {
    asio::io_context ioc;
    asio::executor_work_guard<asio::io_context::executor_type> guard = asio::make_work_guard(ioc);
    std::thread thread{[this] { ioc.run(); }};

    // Runs `fn` on the loop's thread and waits for it.
    template <class Fn>
    void run(Fn fn) {
        auto done = std::make_shared<std::promise<void>>();
        auto f = done->get_future();
        asio::post(ioc, [done, fn = std::move(fn)]() mutable {
            fn();
            done->set_value();
        });
        ASSERT_TRUE(ready(f)) << "the loop is stuck";
    }

    // Everything queued, and what that queues in turn a few hops deep (co_spawn's start, an initiation's posted
    // completion, the hand-over of a Finisher), has run: each round's marker runs after what was queued before it.
    void settle() {
        for (int i = 0; i < 6; ++i) run([] {});
    }

    ~Loop() {
        guard.reset();
        thread.join();  // returns once nothing is pending: a leaked parked operation hangs here (the ctest timeout)
    }
};

class PipeStreamTest : public ::testing::Test {
protected:
    void make(std::size_t window = kDefaultPipeWindow) {
        auto ends =
            make_pipe(a_loop.ioc.get_executor(), b_loop.ioc.get_executor(), "broker:pipe", "bridge:pipe", window);
        a = std::move(ends.a);
        b = std::move(ends.b);
    }

    void settle() {
        for (int i = 0; i < 2; ++i) {
            a_loop.settle();
            b_loop.settle();
        }
    }

    void TearDown() override {
        // Each end dies on its own thread, as in mothd.
        a_loop.run([this] { a.reset(); });
        b_loop.run([this] { b.reset(); });
    }

    Loop a_loop;
    Loop b_loop;
    std::unique_ptr<Stream> a;  // on a_loop
    std::unique_ptr<Stream> b;  // on b_loop
};

// ---- ordered transfer ----

class PipeTransferTest : public PipeStreamTest, public ::testing::WithParamInterface<std::size_t> {};

TEST_P(PipeTransferTest, TenMegabytesBothWaysAtOnceArriveInOrder) {
    make(GetParam());
    constexpr std::size_t kSize = 10 * 1024 * 1024;
    const Bytes a_to_b = random_bytes(kSize, 1);
    const Bytes b_to_a = random_bytes(kSize, 2);
    auto a_writes = spawn(a_loop.ioc, write_chunked(a.get(), &a_to_b, 11));
    auto b_writes = spawn(b_loop.ioc, write_chunked(b.get(), &b_to_a, 12));
    auto a_reads = spawn(a_loop.ioc, read_exactly(a.get(), kSize, 13));
    auto b_reads = spawn(b_loop.ioc, read_exactly(b.get(), kSize, 14));
    EXPECT_EQ(failure(a_writes), error_code{});
    EXPECT_EQ(failure(b_writes), error_code{});
    EXPECT_TRUE(value(a_reads) == b_to_a);  // not EXPECT_EQ: gtest would print 10 MB
    EXPECT_TRUE(value(b_reads) == a_to_b);

    // Then an orderly end: a closes, b reads eof.
    auto closed = spawn(a_loop.ioc, close_stream(a.get()));
    EXPECT_EQ(failure(closed), error_code{});
    auto eof = spawn(b_loop.ioc, read_some_bytes(b.get(), 16));
    EXPECT_EQ(failure(eof), asio::error::eof);
}

// The default window, and a small odd one that makes nearly every write wait for the reader.
INSTANTIATE_TEST_SUITE_P(Windows, PipeTransferTest, ::testing::Values(kDefaultPipeWindow, std::size_t{997}));

// ---- back-pressure ----

TEST_F(PipeStreamTest, WriterWaitsWhileTheReaderDoesNotReadAndResumesWhenItDoes) {
    make(1024);
    // Exactly the window fits without a reader.
    auto fits = spawn(a_loop.ioc, write_bytes(a.get(), random_bytes(1024, 3)));
    EXPECT_EQ(failure(fits), error_code{});
    // One byte more does not, however long the reader waits.
    const Bytes big = random_bytes(4096, 4);
    auto blocked = spawn(a_loop.ioc, write_bytes(a.get(), big));
    settle();
    EXPECT_FALSE(ready(blocked, 0ms)) << "a write completed past the window";

    // A read takes at most what the window held (the blocked write refills it only after the read).
    auto first = spawn(b_loop.ioc, read_some_bytes(b.get(), 8192));
    EXPECT_EQ(value(first), random_bytes(1024, 3));
    settle();
    EXPECT_FALSE(ready(blocked, 0ms)) << "3072 bytes cannot fit in 1024";

    auto rest = spawn(b_loop.ioc, read_exactly(b.get(), big.size(), 5));
    EXPECT_EQ(failure(blocked), error_code{});
    EXPECT_EQ(value(rest), big);
}

// ---- close, from each end, by each way an end closes ----

enum class Closer : std::uint8_t { Close, Cancel, Release, Destroy };

struct CloseCase {
    bool a_closes;
    Closer how;
};

std::string case_name(const ::testing::TestParamInfo<CloseCase>& info) {
    static const char* const kHow[] = {"Close", "Cancel", "Release", "Destroy"};
    return std::string(info.param.a_closes ? "A" : "B") + kHow[static_cast<int>(info.param.how)];
}

class PipeCloseTest : public PipeStreamTest, public ::testing::WithParamInterface<CloseCase> {
protected:
    // x is the end that closes, y its peer.
    Loop& x_loop() { return GetParam().a_closes ? a_loop : b_loop; }
    Loop& y_loop() { return GetParam().a_closes ? b_loop : a_loop; }
    std::unique_ptr<Stream>& x() { return GetParam().a_closes ? a : b; }
    std::unique_ptr<Stream>& y() { return GetParam().a_closes ? b : a; }

    void close_x() {
        switch (GetParam().how) {
            case Closer::Close: {
                auto f = spawn(x_loop().ioc, close_stream(x().get()));
                ASSERT_EQ(failure(f), error_code{});
                break;
            }
            case Closer::Cancel:
                x_loop().run([this] { x()->cancel(); });
                break;
            case Closer::Release:
                x_loop().run([this] { EXPECT_EQ(x()->release(), -1); });
                break;
            case Closer::Destroy:
                x_loop().run([this] { x().reset(); });
                break;
        }
    }
    [[nodiscard]] bool x_survives() const { return GetParam().how != Closer::Destroy; }
};

TEST_P(PipeCloseTest, PeerReadsEofAndGetsBrokenPipeOwnOperationsAreAborted) {
    make();
    auto y_read = spawn(y_loop().ioc, read_some_bytes(y().get(), 64));
    auto x_read = spawn(x_loop().ioc, read_some_bytes(x().get(), 64));
    settle();
    ASSERT_FALSE(ready(y_read, 0ms));
    ASSERT_FALSE(ready(x_read, 0ms));

    close_x();
    EXPECT_EQ(failure(y_read), asio::error::eof);  // the peer's pending read: an orderly close
    EXPECT_EQ(failure(x_read), asio::error::operation_aborted);

    auto y_read_later = spawn(y_loop().ioc, read_some_bytes(y().get(), 64));
    EXPECT_EQ(failure(y_read_later), asio::error::eof);
    auto y_write_later = spawn(y_loop().ioc, write_bytes(y().get(), text("late")));
    EXPECT_EQ(failure(y_write_later), asio::error::broken_pipe);
    if (x_survives()) {
        auto x_read_later = spawn(x_loop().ioc, read_some_bytes(x().get(), 64));
        EXPECT_EQ(failure(x_read_later), asio::error::operation_aborted);
        auto x_write_later = spawn(x_loop().ioc, write_bytes(x().get(), text("late")));
        EXPECT_EQ(failure(x_write_later), asio::error::operation_aborted);
    }
}

TEST_P(PipeCloseTest, WhatWasWrittenBeforeTheCloseIsReadBeforeEof) {
    make();
    auto wrote = spawn(x_loop().ioc, write_bytes(x().get(), text("goodbye")));
    ASSERT_EQ(failure(wrote), error_code{});
    close_x();
    auto got = spawn(y_loop().ioc, read_some_bytes(y().get(), 64));
    EXPECT_EQ(value(got), text("goodbye"));
    auto eof = spawn(y_loop().ioc, read_some_bytes(y().get(), 64));
    EXPECT_EQ(failure(eof), asio::error::eof);
}

TEST_P(PipeCloseTest, WritesWaitingForRoomFail) {
    make(16);
    const Bytes from_x = random_bytes(40, 6);
    auto x_write = spawn(x_loop().ioc, write_bytes(x().get(), from_x));
    auto y_write = spawn(y_loop().ioc, write_bytes(y().get(), random_bytes(40, 7)));
    settle();
    ASSERT_FALSE(ready(x_write, 0ms));
    ASSERT_FALSE(ready(y_write, 0ms));

    close_x();
    EXPECT_EQ(failure(x_write), asio::error::operation_aborted);  // the closing end's own
    EXPECT_EQ(failure(y_write), asio::error::broken_pipe);        // nobody will read it
    // The prefix of x's write that was already in the window is still delivered, then eof.
    auto got = spawn(y_loop().ioc, read_exactly(y().get(), 16, 8));
    EXPECT_EQ(value(got), Bytes(from_x.begin(), from_x.begin() + 16));
    auto eof = spawn(y_loop().ioc, read_some_bytes(y().get(), 64));
    EXPECT_EQ(failure(eof), asio::error::eof);
}

INSTANTIATE_TEST_SUITE_P(Ends, PipeCloseTest,
                         ::testing::Values(CloseCase{true, Closer::Close}, CloseCase{false, Closer::Close},
                                           CloseCase{true, Closer::Cancel}, CloseCase{false, Closer::Cancel},
                                           CloseCase{true, Closer::Release}, CloseCase{false, Closer::Release},
                                           CloseCase{true, Closer::Destroy}, CloseCase{false, Closer::Destroy}),
                         case_name);

// ---- destruction and cancellation ----

TEST_F(PipeStreamTest, DestroyingAnEndWithItsOwnReadPendingAbortsTheRead) {
    make();
    auto read = spawn(a_loop.ioc, read_some_bytes(a.get(), 64));
    settle();
    ASSERT_FALSE(ready(read, 0ms));
    a_loop.run([this] { a.reset(); });  // the coroutine still waits inside a's read_some
    EXPECT_EQ(failure(read), asio::error::operation_aborted);
    auto write = spawn(b_loop.ioc, write_bytes(b.get(), text("anyone?")));
    EXPECT_EQ(failure(write), asio::error::broken_pipe);
}

TEST_F(PipeStreamTest, CancellingOneOperationLeavesThePipeOpen) {
    make(16);
    // A parked read, cancelled through its slot: the timer wins.
    auto raced_read = spawn(a_loop.ioc, race_expired_timer(read_into_nowhere(a.get())));
    EXPECT_EQ(value(raced_read), 1U);
    // A write parked past the window, cancelled likewise: what fitted was delivered.
    const Bytes big = random_bytes(40, 9);
    auto raced_write = spawn(a_loop.ioc, race_expired_timer(write_bytes(a.get(), big)));
    EXPECT_EQ(value(raced_write), 1U);
    auto prefix = spawn(b_loop.ioc, read_exactly(b.get(), 16, 10));
    EXPECT_EQ(value(prefix), Bytes(big.begin(), big.begin() + 16));

    // Both directions still work, and no stale operation is left parked (a new read is not "already started").
    auto read = spawn(a_loop.ioc, read_some_bytes(a.get(), 64));
    auto wrote = spawn(b_loop.ioc, write_bytes(b.get(), text("still here")));
    EXPECT_EQ(failure(wrote), error_code{});
    EXPECT_EQ(value(read), text("still here"));
    auto wrote_back = spawn(a_loop.ioc, write_bytes(a.get(), text("so am I")));
    EXPECT_EQ(failure(wrote_back), error_code{});
    auto read_back = spawn(b_loop.ioc, read_some_bytes(b.get(), 64));
    EXPECT_EQ(value(read_back), text("so am I"));
}

TEST_F(PipeStreamTest, ASecondReadWhileOneIsPendingFails) {
    make();
    auto first = spawn(a_loop.ioc, read_some_bytes(a.get(), 64));
    settle();
    auto second = spawn(a_loop.ioc, read_some_bytes(a.get(), 64));
    EXPECT_EQ(failure(second), asio::error::already_started);
    auto wrote = spawn(b_loop.ioc, write_bytes(b.get(), text("one")));
    EXPECT_EQ(failure(wrote), error_code{});
    EXPECT_EQ(value(first), text("one"));
}

TEST_F(PipeStreamTest, ReportsTheGivenRemotesAndIsAPlainByteStream) {
    make();
    EXPECT_EQ(a->remote(), "broker:pipe");
    EXPECT_EQ(b->remote(), "bridge:pipe");
    EXPECT_FALSE(a->message_oriented());
    EXPECT_FALSE(b->message_oriented());
}

}  // namespace
}  // namespace moth::net
