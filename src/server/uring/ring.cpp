// A worker's io_uring (ring.hpp): the ring, its provided buffers, and completions handed to the connections.
#include "server/uring/ring.hpp"

#include <liburing.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <utility>
#include <vector>

#include <boost/asio/post.hpp>
#include <boost/asio/posix/basic_stream_descriptor.hpp>

namespace moth::server::detail {

namespace asio = boost::asio;

namespace {

constexpr unsigned kEntries = 4096;     // submission queue: more than one loop turn prepares in practice
constexpr unsigned kCqEntries = 16384;  // completions: a receive per readable socket, a send per written one
// The shared receive buffers: 512 x 4 KiB (2 MiB of address space; pages become resident as traffic uses them).
// MQTT packets are mostly small; a larger burst arrives as several completions.
constexpr unsigned kBuffers = 512;  // a power of two (the buffer ring's size)
constexpr std::size_t kBufferSize = 4096;
constexpr unsigned short kGroup = 0;

// user_data: the operation's UringOps pointer (8-aligned) with the kind in its low bits.
constexpr std::uint64_t kReceive = 0;
constexpr std::uint64_t kSend = 1;
constexpr std::uint64_t kCancel = 2;
constexpr std::uint64_t kKindMask = 7;

std::uint64_t user_data(UringOps* ops, std::uint64_t kind) { return reinterpret_cast<std::uintptr_t>(ops) | kind; }

std::string errno_text(const char* call, int negative_errno) {
    return std::string(call) + ": " + std::strerror(-negative_errno);
}

// Registers a provided-buffer ring of `entries` under `group` at `mem` (page-aligned).
int register_buffers(io_uring& ring, io_uring_buf_ring* mem, unsigned entries, unsigned short group) {
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uintptr_t>(mem);
    reg.ring_entries = entries;
    reg.bgid = group;
    return io_uring_register_buf_ring(&ring, &reg, 0);
}

// The probe's check that a multishot receive with a provided buffer really stays armed (Linux 6.0).
std::string multishot_receive_works(io_uring& ring) {
    void* mem = nullptr;
    if (posix_memalign(&mem, 4096, 4096) != 0) return "out of memory";
    auto* br = static_cast<io_uring_buf_ring*>(mem);
    std::byte buffer[64];
    std::string why;
    if (const int rc = register_buffers(ring, br, 1, 1); rc < 0) {
        std::free(mem);
        return errno_text("io_uring_register_buf_ring (Linux 5.19 or later)", rc);
    }
    io_uring_buf_ring_init(br);
    io_uring_buf_ring_add(br, buffer, sizeof buffer, 0, io_uring_buf_ring_mask(1), 0);
    io_uring_buf_ring_advance(br, 1);
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
        why = errno_text("socketpair", -errno);
    } else {
        io_uring_sqe* sqe = io_uring_get_sqe(&ring);
        io_uring_prep_recv_multishot(sqe, fds[0], nullptr, 0, 0);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = 1;
        io_uring_sqe_set_data64(sqe, 1);
        io_uring_submit(&ring);
        (void)!::write(fds[1], "x", 1);
        io_uring_cqe* cqe = nullptr;
        __kernel_timespec ts{.tv_sec = 2, .tv_nsec = 0};
        if (const int rc = io_uring_wait_cqe_timeout(&ring, &cqe, &ts); rc < 0) {
            why = errno_text("a multishot receive's completion", rc);
        } else if (cqe->res != 1 || (cqe->flags & IORING_CQE_F_MORE) == 0) {
            why = "multishot receive not supported (Linux 6.0 or later)";
            io_uring_cqe_seen(&ring, cqe);
        } else {
            io_uring_cqe_seen(&ring, cqe);
        }
        ::close(fds[1]);
        ::close(fds[0]);
    }
    io_uring_unregister_buf_ring(&ring, 1);
    std::free(mem);
    return why;
}

}  // namespace

std::string Uring::unavailable_reason() {
    io_uring ring{};
    if (const int rc = io_uring_queue_init(8, &ring, 0); rc < 0) {
        // EPERM: a seccomp profile forbids it (Docker's default); ENOSYS: a kernel without it.
        return errno_text("io_uring_setup", rc);
    }
    std::string why;
    io_uring_probe* probe = io_uring_get_probe_ring(&ring);
    if (probe == nullptr || !io_uring_opcode_supported(probe, IORING_OP_RECV) ||
        !io_uring_opcode_supported(probe, IORING_OP_SEND) || !io_uring_opcode_supported(probe, IORING_OP_ASYNC_CANCEL)) {
        why = "the kernel's io_uring lacks receive, send or cancel";
    } else {
        why = multishot_receive_works(ring);
    }
    if (probe != nullptr) io_uring_free_probe(probe);
    io_uring_queue_exit(&ring);
    return why;
}

struct Uring::Impl {
    using Descriptor = asio::posix::basic_stream_descriptor<asio::io_context::executor_type>;

    explicit Impl(asio::io_context& context) : ioc(context), ring_fd(context) {}

    io_uring_sqe* next_sqe() {
        io_uring_sqe* sqe = io_uring_get_sqe(&ring);
        if (sqe == nullptr) {  // the queue is full: submit it now, then there is room
            io_uring_submit(&ring);
            sqe = io_uring_get_sqe(&ring);
        }
        if (sqe == nullptr) throw std::runtime_error("io_uring: no submission queue entry");
        need_submit();
        return sqe;
    }

    void need_submit() {
        if (submit_posted) return;
        submit_posted = true;
        asio::post(ioc, [this] {
            submit_posted = false;
            submit();
        });
    }

    void submit() {
        if (io_uring_sq_ready(&ring) == 0) return;
        const int rc = io_uring_submit(&ring);
        // -EBUSY/-EAGAIN: completions are backed up in the kernel; the next turn submits what is left.
        if (rc < 0 && io_uring_sq_ready(&ring) != 0) need_submit();
    }

    // An operation was prepared: it is in flight until its last completion, which the ring waits for.
    void started() {
        ++in_flight;
        if (!waiting) wait();
    }

    // `waiting` is set while something will look at the completion queue: a wait for the ring's descriptor, or
    // (while busy) a posted look. An operation started meanwhile needs no second one.
    void wait() {
        if (stopping && in_flight == 0) return;
        waiting = true;
        ring_fd.async_wait(Descriptor::wait_read, [this](const boost::system::error_code& ec) {
            if (ec) {
                waiting = false;
                return;
            }
            look();
        });
    }

    // While completions keep coming, the next look is a posted handler, not a wait: a wait costs Asio an
    // epoll_ctl (it re-arms the descriptor) and an epoll_wait, and the kernel posts what arrived meanwhile at the
    // worker's next system call anyway (this turn's submit, or the reactor's own poll between handlers). Only a look
    // that finds nothing goes back to waiting.
    void look() {
        if (reap() > 0 && !(stopping && in_flight == 0)) {
            asio::post(ioc, [this] { look(); });
            return;
        }
        waiting = false;
        wait();
    }

    // Every completion there is, copied out before any is handled (a handler may submit, close or hand over).
    std::size_t reap() {
        std::size_t handled = 0;
        for (;;) {
            if (io_uring_cq_has_overflow(&ring)) io_uring_get_events(&ring);
            batch.clear();
            unsigned head = 0;
            unsigned n = 0;
            io_uring_cqe* cqe = nullptr;
            io_uring_for_each_cqe(&ring, head, cqe) {
                batch.push_back({cqe->user_data, cqe->res, cqe->flags});
                ++n;
            }
            if (n == 0) return handled;
            io_uring_cq_advance(&ring, n);
            handled += n;
            for (const auto& c : batch) dispatch(c);
        }
    }

    struct Completion {
        std::uint64_t user_data;
        int res;
        unsigned flags;
    };

    void dispatch(const Completion& c) {
        auto* ops = reinterpret_cast<UringOps*>(static_cast<std::uintptr_t>(c.user_data & ~kKindMask));
        if ((c.user_data & kKindMask) == kSend) {
            --in_flight;
            ops->on_sent(c.res);
            return;
        }
        if ((c.user_data & kKindMask) == kCancel) {
            --in_flight;
            ops->on_cancelled(c.res);
            return;
        }
        const bool more = (c.flags & IORING_CQE_F_MORE) != 0;
        if (!more) --in_flight;
        if ((c.flags & IORING_CQE_F_BUFFER) == 0) {
            ops->on_received(c.res, {}, more);
            return;
        }
        const unsigned bid = c.flags >> IORING_CQE_BUFFER_SHIFT;
        std::byte* data = buffers + static_cast<std::size_t>(bid) * kBufferSize;
        ops->on_received(c.res, std::span<const std::byte>(data, c.res > 0 ? static_cast<std::size_t>(c.res) : 0),
                         more);
        // The handler has consumed or copied the bytes: the buffer goes back to the kernel.
        io_uring_buf_ring_add(buffer_ring, data, kBufferSize, static_cast<unsigned short>(bid),
                              io_uring_buf_ring_mask(kBuffers), 0);
        io_uring_buf_ring_advance(buffer_ring, 1);
    }

    asio::io_context& ioc;
    io_uring ring{};
    bool ring_made = false;
    io_uring_buf_ring* buffer_ring = nullptr;
    bool buffers_registered = false;
    std::byte* buffers = nullptr;
    Descriptor ring_fd;
    std::vector<Completion> batch;
    std::size_t in_flight = 0;
    bool submit_posted = false;
    bool waiting = false;
    bool stopping = false;
};

Uring::Uring(asio::io_context& ioc) : impl_(std::make_unique<Impl>(ioc)) {
    Impl& m = *impl_;
    io_uring_params params{};
    // One thread submits (the worker's, which creates the ring): the kernel can skip its locking. Not
    // IORING_SETUP_COOP_TASKRUN: with it, a cancel of a multishot receive on a socket a client floods went
    // unanswered for as long as the flood lasted (docs/architecture.md, "I/O backends"), although it spares an
    // interrupt per received packet while the worker runs.
    params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER;
    params.cq_entries = kCqEntries;
    int rc = io_uring_queue_init_params(kEntries, &m.ring, &params);
    if (rc == -EINVAL) {  // a kernel before 6.0 has no SINGLE_ISSUER
        params = io_uring_params{};
        params.flags = IORING_SETUP_CQSIZE;
        params.cq_entries = kCqEntries;
        rc = io_uring_queue_init_params(kEntries, &m.ring, &params);
    }
    if (rc < 0) throw std::runtime_error(errno_text("io_uring_queue_init", rc));
    m.ring_made = true;
    void* mem = nullptr;
    if (posix_memalign(&mem, 4096, kBuffers * sizeof(io_uring_buf)) != 0) throw std::bad_alloc();
    m.buffer_ring = static_cast<io_uring_buf_ring*>(mem);
    if (posix_memalign(&mem, 4096, kBuffers * kBufferSize) != 0) throw std::bad_alloc();
    m.buffers = static_cast<std::byte*>(mem);
    if (rc = register_buffers(m.ring, m.buffer_ring, kBuffers, kGroup); rc < 0) {
        throw std::runtime_error(errno_text("io_uring_register_buf_ring", rc));
    }
    m.buffers_registered = true;
    io_uring_buf_ring_init(m.buffer_ring);
    for (unsigned i = 0; i < kBuffers; ++i) {
        io_uring_buf_ring_add(m.buffer_ring, m.buffers + static_cast<std::size_t>(i) * kBufferSize, kBufferSize,
                              static_cast<unsigned short>(i), io_uring_buf_ring_mask(kBuffers), static_cast<int>(i));
    }
    io_uring_buf_ring_advance(m.buffer_ring, kBuffers);
    boost::system::error_code ec;
    m.ring_fd.assign(m.ring.ring_fd, ec);
    if (ec) throw std::runtime_error("io_uring: cannot wait on the ring: " + ec.message());
    m.wait();
}

Uring::~Uring() {
    Impl& m = *impl_;
    if (m.ring_fd.is_open()) (void)m.ring_fd.release();  // the ring's descriptor is closed by queue_exit
    if (m.buffers_registered) io_uring_unregister_buf_ring(&m.ring, kGroup);
    if (m.ring_made) io_uring_queue_exit(&m.ring);
    std::free(m.buffer_ring);
    std::free(m.buffers);
}

void Uring::receive(int fd, UringOps* ops) {
    io_uring_sqe* sqe = impl_->next_sqe();
    io_uring_prep_recv_multishot(sqe, fd, nullptr, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = kGroup;
    io_uring_sqe_set_data64(sqe, user_data(ops, kReceive));
    impl_->started();
}

void Uring::send(int fd, std::span<const std::byte> data, UringOps* ops) {
    io_uring_sqe* sqe = impl_->next_sqe();
    io_uring_prep_send(sqe, fd, data.data(), data.size(), MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, user_data(ops, kSend));
    impl_->started();
}

void Uring::cancel_receive(UringOps* ops) {
    io_uring_sqe* sqe = impl_->next_sqe();
    io_uring_prep_cancel64(sqe, user_data(ops, kReceive), 0);
    io_uring_sqe_set_data64(sqe, user_data(ops, kCancel));
    impl_->started();
}

void Uring::submit() { impl_->submit(); }

void Uring::stop_when_idle() {
    Impl& m = *impl_;
    m.stopping = true;
    if (m.in_flight == 0 && m.waiting) m.ring_fd.cancel();
}

}  // namespace moth::server::detail
