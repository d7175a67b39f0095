#pragma once
// A plain MQTT connection over TCP on the worker's io_uring (io_backend = "io_uring"; ring.hpp). The same job as
// TcpConnection, without Asio: the descriptor, one multishot receive while input is wanted, one send in flight.
//
// Thread affinity: its worker's thread.
#include <cstddef>
#include <memory>
#include <span>
#include <vector>

#include "server/uring/ring.hpp"
#include "server/worker.hpp"

namespace moth::server::detail {

class ConnectionSlot;

class UringConnection final : public Connection, public UringOps, public std::enable_shared_from_this<UringConnection> {
public:
    UringConnection(Worker& w, Uring& ring, int fd, std::shared_ptr<ConnectionSlot> slot);
    ~UringConnection() override;  // closes the descriptor if it is still here
    UringConnection(const UringConnection&) = delete;
    UringConnection& operator=(const UringConnection&) = delete;

    void start(ConnectionId id, std::vector<std::byte> initial);
    void queue(std::span<const std::byte> bytes) override { out_.insert(out_.end(), bytes.begin(), bytes.end()); }
    std::span<std::byte> append(std::size_t size) override { return detail::grow(out_, size); }
    [[nodiscard]] std::size_t pending() const override { return out_.size() + writing_.size() - written_; }
    void flush() override;
    void close_after_flush() override;
    void force_close() override;
    void hand_off(unsigned target, std::span<const std::byte> unread) override;
    void pause_input() override { paused_ = true; }
    void resume_input() override;

    void on_received(int res, std::span<const std::byte> data, bool more) override;
    void on_sent(int res) override;
    void on_cancelled(int res) override;

private:
    // What happens to the descriptor once no operation is in flight.
    enum class End : std::uint8_t { None, Close, Linger, HandOff };

    void arm();
    void stop_receiving();
    void received(std::span<const std::byte> data);
    void consume(std::span<const std::byte> data);
    void send_rest();
    void fail();
    void finish(End end);
    // Once nothing is in flight: the descriptor is closed, lingers or moves, and the ring's hold is dropped.
    void settle();

    Worker& w_;
    Uring& ring_;
    int fd_;
    ConnectionId id_ = 0;
    std::shared_ptr<ConnectionSlot> slot_;  // the listener's max_connections place; moves with a hand-off
    std::shared_ptr<UringConnection> held_;  // while the ring has an operation of ours in flight
    std::vector<std::byte> in_;  // a packet partly received, or input that arrived while paused
    std::vector<std::byte> out_;
    std::vector<std::byte> writing_;
    std::size_t written_ = 0;  // of writing_, by completed sends
    struct Moving;
    std::unique_ptr<Moving> moving_;  // set while a hand-off waits for the receive to end
    End end_ = End::None;
    bool receiving_ = false;  // a multishot receive is armed (its last completion has not come)
    bool cancelling_ = false;        // the receive is to end (a hand-off, a lingering close, the paused bound)
    bool cancel_in_flight_ = false;  // a cancel_receive has not reported yet
    bool sending_ = false;
    bool closing_ = false;  // the core is done with it: write what is queued, then close
    bool closed_ = false;
    bool paused_ = false;  // the core takes no input for now: what arrives is kept in in_, up to a bound
};

}  // namespace moth::server::detail
