#pragma once
// A plain MQTT connection over TCP (listener kind mqtt), served by its worker (server.cpp's Worker::adopt).
//
// Thread affinity: its worker's thread.
#include <cstddef>
#include <memory>
#include <span>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "server/worker.hpp"

namespace moth::server::detail {

class ConnectionSlot;

// One TCP connection: reads into a buffer the core consumes in place, and gathers everything the core
// queues during a loop turn into a single write. At hand-off the socket moves to the owner as a descriptor.
class TcpConnection final : public Connection, public std::enable_shared_from_this<TcpConnection> {
public:
    // The io_context's own executor type rather than any_io_executor: 40 B against 88 B for the socket, and the
    // wait pending on an idle connection stores the executor too (96 B against 144 B).
    using Socket = boost::asio::basic_stream_socket<boost::asio::ip::tcp, boost::asio::io_context::executor_type>;

    TcpConnection(Worker& w, Socket s, std::shared_ptr<ConnectionSlot> slot)
        : w_(w), sock_(std::move(s)), slot_(std::move(slot)) {}

    void start(ConnectionId id, std::vector<std::byte> initial);
    void queue(std::span<const std::byte> bytes) override { out_.insert(out_.end(), bytes.begin(), bytes.end()); }
    std::span<std::byte> append(std::size_t size) override { return detail::grow(out_, size); }
    [[nodiscard]] std::size_t pending() const override { return out_.size() + writing_.size(); }
    void flush() override;
    void close_after_flush() override;
    void force_close() override;
    void hand_off(unsigned target, std::span<const std::byte> unread) override;
    void pause_input() override { paused_ = true; }
    void resume_input() override;

private:
    void read();
    void on_ready();
    // Gives `data` (the kept remainder followed by what was just read) to the core and keeps what it did not
    // consume in in_.
    void consume(std::span<const std::byte> data);
    void fail();
    // `linger`: the core closed it after its last packet: a lingering close (lingering_close.hpp).
    void finish(bool linger);

    Worker& w_;
    Socket sock_;
    ConnectionId id_ = 0;
    std::shared_ptr<ConnectionSlot> slot_;    // the listener's max_connections place; moves with a hand-off
    std::vector<std::byte> in_;  // a packet partly received (empty and unallocated while idle)
    std::vector<std::byte> out_;
    std::vector<std::byte> writing_;
    bool writing_active_ = false;
    bool closing_ = false;  // the core is done with it: write what is queued, then close
    bool closed_ = false;
    bool handed_off_ = false;
    bool paused_ = false;  // the core takes no input for now: no reading, in_ keeps the rest
};

}  // namespace moth::server::detail
