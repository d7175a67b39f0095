// The in-process pipe (pipe_stream.hpp). One Shared state per pipe, owned jointly by both ends (and by nothing
// else once both are gone: a pending operation's handler is completed, so dropped from it, when its end closes).
// Every operation starts under the mutex: it either completes at once or parks as the direction's pending read or
// write; whoever later makes progress possible (the peer's write or read, a close, a cancellation) completes it.
// Completions are collected under the mutex and posted after it is released, to the operation's own executor.
#include "net/pipe_stream.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace moth::net {

namespace {

namespace asio = boost::asio;
using boost::system::error_code;
using Handler = asio::any_completion_handler<void(error_code, std::size_t)>;

// A fixed-capacity FIFO of bytes; the storage is allocated on first use (a quiet direction costs nothing).
class ByteRing {
public:
    explicit ByteRing(std::size_t capacity) : capacity_(capacity) {}

    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    [[nodiscard]] std::size_t space() const noexcept { return capacity_ - size_; }

    std::size_t push(std::span<const std::byte> in) {
        const std::size_t n = std::min(in.size(), space());
        if (n == 0) return 0;
        if (data_.empty()) data_.resize(capacity_);
        const std::size_t tail = (head_ + size_) % capacity_;
        const std::size_t first = std::min(n, capacity_ - tail);
        std::memcpy(data_.data() + tail, in.data(), first);
        std::memcpy(data_.data(), in.data() + first, n - first);
        size_ += n;
        return n;
    }

    std::size_t pop(std::span<std::byte> out) {
        const std::size_t n = std::min(out.size(), size_);
        const std::size_t first = std::min(n, capacity_ - head_);
        std::memcpy(out.data(), data_.data() + head_, first);
        std::memcpy(out.data() + first, data_.data(), n - first);
        head_ = (head_ + n) % capacity_;
        size_ -= n;
        return n;
    }

    void release() {
        data_ = {};
        head_ = size_ = 0;
    }

private:
    std::size_t capacity_;
    std::vector<std::byte> data_;
    std::size_t head_ = 0;
    std::size_t size_ = 0;
};

// A parked read or write.
struct Pending {
    Handler handler;
    asio::any_io_executor work;       // keeps the operation's io_context running while parked
    asio::cancellation_slot slot;     // cleared on the operation's own thread before it completes
    std::span<std::byte> into;        // read: the caller's buffer
    std::span<const std::byte> from;  // write: the bytes not yet in the ring
    std::size_t written = 0;          // write: the bytes already in the ring
    std::uint64_t id = 0;             // tells a stale cancellation from the current operation
};

struct Completion {
    Pending op;
    error_code ec;
    std::size_t n = 0;
};

// One direction: bytes written by one end, read by the other.
struct Channel {
    explicit Channel(std::size_t window) : bytes(window) {}
    ByteRing bytes;
    bool writer_closed = false;  // the reader gets what is buffered, then eof
    bool reader_closed = false;  // writes fail with broken_pipe
    std::optional<Pending> read;
    std::optional<Pending> write;
};

struct Shared {
    explicit Shared(std::size_t window) : channels{Channel(window), Channel(window)} {}
    std::mutex mutex;
    std::array<Channel, 2> channels;  // [0]: a -> b, [1]: b -> a; end i writes channels[i], reads channels[1 - i]
    std::array<bool, 2> closed{};
    std::uint64_t next_id = 1;
};

using Done = std::vector<Completion>;

void complete(std::optional<Pending>& op, error_code ec, std::size_t n, Done& done) {
    done.push_back(Completion{std::move(*op), ec, n});
    op.reset();
}

// Moves whatever can move in `c`: the parked writer's bytes into the ring, the ring into the parked reader.
void pump(Channel& c, Done& done) {
    const auto fill = [&] {
        if (!c.write) return;
        const std::size_t n = c.bytes.push(c.write->from);
        c.write->from = c.write->from.subspan(n);
        c.write->written += n;
        if (c.write->from.empty()) complete(c.write, {}, c.write->written, done);
    };
    fill();
    if (!c.read) return;
    if (c.bytes.size() > 0) {
        const std::size_t n = c.bytes.pop(c.read->into);
        complete(c.read, {}, n, done);
        fill();  // the read made room
    } else if (c.writer_closed) {
        complete(c.read, asio::error::eof, 0, done);
    }
}

void close_end(Shared& s, std::size_t side, Done& done) {
    if (s.closed[side]) return;
    s.closed[side] = true;
    Channel& out = s.channels[side];
    out.writer_closed = true;
    if (out.write) complete(out.write, asio::error::operation_aborted, out.write->written, done);
    pump(out, done);  // a peer waiting on an empty ring reads eof now
    Channel& in = s.channels[1 - side];
    in.reader_closed = true;
    in.bytes.release();
    if (in.read) complete(in.read, asio::error::operation_aborted, 0, done);
    if (in.write) complete(in.write, asio::error::broken_pipe, in.write->written, done);
}

// Runs a completed operation's handler: posted to the end's executor, dispatched from there to the handler's
// own (Asio's post does that), so it runs on the operation's thread whoever completed it.
struct Finisher {
    Completion c;

    using executor_type = asio::any_completion_executor;
    [[nodiscard]] executor_type get_executor() const noexcept {
        return asio::get_associated_executor(c.op.handler, c.op.work);
    }

    void operator()() {
        if (c.op.slot.is_connected()) c.op.slot.clear();  // the slot is the operation's: only its thread touches it
        const auto work = std::move(c.op.work);           // released after the handler ran
        std::move(c.op.handler)(c.ec, c.n);
    }
};

void deliver(Done& done) {
    for (Completion& c : done) {
        const asio::any_io_executor ex = c.op.work;
        asio::post(ex, Finisher{std::move(c)});
    }
    done.clear();
}

// Installed in a parked operation's cancellation slot; runs on the operation's own thread when it is emitted.
struct Canceller {
    Canceller(const std::shared_ptr<Shared>& s, std::size_t end, bool read, std::uint64_t op_id)
        : shared(s), side(end), reading(read), id(op_id) {}

    std::weak_ptr<Shared> shared;
    std::size_t side;  // the end whose operation it is
    bool reading;      // which of its operations
    std::uint64_t id;

    void operator()(asio::cancellation_type type) const {
        if (type == asio::cancellation_type::none) return;
        const auto s = shared.lock();
        if (!s) return;
        Done done;
        {
            const std::lock_guard lock(s->mutex);
            auto& op = reading ? s->channels[1 - side].read : s->channels[side].write;
            if (op && op->id == id) complete(op, asio::error::operation_aborted, reading ? 0 : op->written, done);
        }
        deliver(done);
    }
};

class PipeStream final : public Stream {
public:
    PipeStream(std::shared_ptr<Shared> shared, std::size_t side, asio::any_io_executor ex, std::string remote)
        : shared_(std::move(shared)), side_(side), ex_(std::move(ex)), remote_(std::move(remote)) {}
    ~PipeStream() override { cancel(); }
    PipeStream(const PipeStream&) = delete;
    PipeStream& operator=(const PipeStream&) = delete;

    asio::awaitable<std::size_t> read_some(std::span<std::byte> buffer) override {
        co_return co_await start(true, buffer, {});
    }

    asio::awaitable<void> write(std::span<const std::byte> bytes) override {
        if (bytes.empty()) co_return;
        co_await start(false, {}, bytes);
    }

    asio::awaitable<void> close() override {
        cancel();
        co_return;
    }

    void cancel() noexcept override {
        Done done;
        {
            const std::lock_guard lock(shared_->mutex);
            close_end(*shared_, side_, done);
        }
        deliver(done);
    }

    [[nodiscard]] std::string remote() const override { return remote_; }

    [[nodiscard]] int release() noexcept override {
        cancel();
        return -1;
    }

private:
    // Starts a read (`reading`, into `into`) or a write (of `from`). The initiation holds no `this`: the end may
    // be destroyed while the operation is parked, which completes it.
    asio::awaitable<std::size_t> start(bool reading, std::span<std::byte> into, std::span<const std::byte> from) {
        return asio::async_initiate<const asio::use_awaitable_t<>&, void(error_code, std::size_t)>(
            [shared = shared_, side = side_, ex = ex_, reading, into, from](auto handler) {
                initiate(shared, side, ex, reading, into, from, Handler(std::move(handler)));
            },
            asio::use_awaitable);
    }

    static void initiate(const std::shared_ptr<Shared>& s, std::size_t side, const asio::any_io_executor& ex,
                         bool reading, std::span<std::byte> into, std::span<const std::byte> from, Handler handler);

    std::shared_ptr<Shared> shared_;
    std::size_t side_;
    asio::any_io_executor ex_;
    std::string remote_;
};

void PipeStream::initiate(const std::shared_ptr<Shared>& s, std::size_t side, const asio::any_io_executor& ex,
                          bool reading, std::span<std::byte> into, std::span<const std::byte> from, Handler handler) {
    Done done;
    {
        const std::lock_guard lock(s->mutex);
        Channel& c = s->channels[reading ? 1 - side : side];
        std::optional<Pending>& slot_for = reading ? c.read : c.write;
        std::optional<Pending> op(Pending{.handler = std::move(handler),
                                          .work = asio::prefer(ex, asio::execution::outstanding_work.tracked),
                                          .slot = {},
                                          .into = into,
                                          .from = from,
                                          .written = 0,
                                          .id = s->next_id++});
        if (s->closed[side]) {
            complete(op, asio::error::operation_aborted, 0, done);
        } else if (slot_for) {
            complete(op, asio::error::already_started, 0, done);
        } else if (!reading && c.reader_closed) {
            complete(op, asio::error::broken_pipe, 0, done);
        } else if (reading && into.empty()) {
            complete(op, {}, 0, done);  // as a socket's read_some with an empty buffer
        } else {
            op->slot = asio::get_associated_cancellation_slot(op->handler);
            if (op->slot.is_connected()) op->slot.emplace<Canceller>(s, side, reading, op->id);
            slot_for = std::move(op);
            pump(c, done);
        }
    }
    deliver(done);
}

}  // namespace

PipeEnds make_pipe(asio::any_io_executor a_ex, asio::any_io_executor b_ex, std::string a_remote, std::string b_remote,
                   std::size_t window) {
    auto shared = std::make_shared<Shared>(std::max<std::size_t>(window, 1));
    PipeEnds ends;
    ends.a = std::make_unique<PipeStream>(shared, 0, std::move(a_ex), std::move(a_remote));
    ends.b = std::make_unique<PipeStream>(shared, 1, std::move(b_ex), std::move(b_remote));
    return ends;
}

}  // namespace moth::net
