// MultiCoreHarness: the broker as mothd runs it, one Core per worker, but on the test's thread and in an order the
// test controls. Each core has a FakeHost; what a core posts to another (subscription changes, their acks, the
// outbox of deliveries, a store's completions) and the connections it hands off at CONNECT are kept in its host, in
// the order they were made, until the test runs them (run_until_idle, run_posts_to). A hand-off is run the way
// src/server does it (Worker::hand_off, TcpConnection::hand_off, Worker::adopt): the origin (Core::origin) is read
// from the source core during the hand-off, and the target core, when it runs the hand-off, gets on_open with a new
// connection id and that origin, then on_data with the unread bytes. A test's Client follows its connection: what
// it sends goes to the core it lives on now, and what it receives is read there.
//
// One clock for all cores: now() moves only by advance(), which ticks every core. No threads, sockets or sleeps.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/core.hpp"
#include "codec/packets.hpp"
#include "core_test_support.hpp"

namespace moth::broker::test {

// What MultiCoreHarness::connect() puts into the CONNECT, and where the connection is accepted. (At namespace scope:
// a nested struct's member initializers cannot serve a default argument of its enclosing class.)
struct HarnessConnectOptions {
    std::optional<unsigned> core;  // where the connection is accepted; unset: the next core in turn (accept loop)
    bool clean_start = true;
    std::uint32_t session_expiry_s = 0;  // 5.0 Session Expiry Interval (0: none)
    std::uint16_t keep_alive_s = 0;
    std::optional<std::string> will_topic;               // a QoS 0 will with payload "will"
    std::shared_ptr<const ListenerTag> listener;         // the tag on_open gets

    // Accepted on `worker`, the rest as by default.
    static HarnessConnectOptions at(unsigned worker) {
        HarnessConnectOptions o;
        o.core = worker;
        return o;
    }
};

class MultiCoreHarness {
public:
    // A test's connection, wherever it lives now (an index into the harness's connections).
    struct Client {
        std::size_t index = 0;
    };
    using ConnectOptions = HarnessConnectOptions;
    // Whether send() ends the loop turn (Core::flush(), which posts the batched deliveries) after the packet.
    enum class Flush { Yes, No };

    explicit MultiCoreHarness(unsigned cores, config::Config config = config::default_config(), Store* store = nullptr);
    MultiCoreHarness(const MultiCoreHarness&) = delete;
    MultiCoreHarness& operator=(const MultiCoreHarness&) = delete;
    ~MultiCoreHarness();

    [[nodiscard]] unsigned cores() const { return static_cast<unsigned>(cores_.size()); }
    Core& core(unsigned worker) { return *cores_.at(worker); }
    FakeHost& host(unsigned worker) { return *hosts_.at(worker); }
    Shared& shared() { return shared_; }
    [[nodiscard]] TimePoint now() const { return now_; }

    // A client id that broker::owner_worker gives to `worker`: "<prefix>-<n>" for the first n that lands there.
    [[nodiscard]] std::string id_on(unsigned worker, std::string_view prefix) const;

    // A new network connection on `worker` (Core::on_open), nothing sent yet.
    Client open(unsigned worker, codec::ProtocolVersion version, std::string remote = "test-peer",
                std::shared_ptr<const ListenerTag> listener = nullptr);
    // Opens a connection (on options.core, or on the next core in turn as the accept loop does), sends CONNECT for
    // `client_id` and runs until idle, so that a hand-off to the owner is done. The CONNACK is left to read.
    Client connect(std::string_view client_id, codec::ProtocolVersion version, ConnectOptions options = {});
    // connect(), then expects a successful CONNACK (taken). `session_present` is returned through the pointer.
    Client connect_ok(std::string_view client_id, codec::ProtocolVersion version, ConnectOptions options = {},
                      bool* session_present = nullptr);

    // Encodes `packet` as the client's input and feeds it to the core the connection lives on (kept while that
    // core has paused the connection's input, as the server does); Flush::Yes ends the loop turn.
    void send(Client c, const codec::Packet& packet, Flush flush = Flush::Yes);
    // The packets arrive together, in one read.
    void send(Client c, std::span<const codec::Packet> packets, Flush flush = Flush::Yes);
    void subscribe(Client c, std::uint16_t packet_id, std::string_view filter, codec::QoS qos = codec::QoS::AtMostOnce);
    void unsubscribe(Client c, std::uint16_t packet_id, std::string_view filter);
    void publish(Client c, std::string_view topic, std::string_view payload = "x", codec::QoS qos = codec::QoS::AtMostOnce,
                 std::uint16_t packet_id = 0, Flush flush = Flush::Yes);
    // The network connection is gone (Core::on_closed), then the loop turn ends.
    void drop(Client c);

    // The packets the client received since the last call, from the core it lives on now.
    std::vector<codec::Packet> received(Client c);
    // Their kinds, in order: "CONNACK", "SUBACK", "UNSUBACK", "PUBLISH <topic>", "PUBACK", "DISCONNECT", ...
    std::vector<std::string> kinds(Client c);

    // Where the connection lives now, and its id there.
    [[nodiscard]] unsigned core_of(Client c) const { return conns_.at(c.index).worker; }
    [[nodiscard]] ConnectionId connection_id(Client c) const { return conns_.at(c.index).id; }
    // How often the connection was handed to another core.
    [[nodiscard]] unsigned hand_offs(Client c) const { return conns_.at(c.index).hand_offs; }
    // Whether the core the connection lives on closed it (Host::close).
    [[nodiscard]] bool closed(Client c) const;
    // The core that holds a session for `client_id` (Core::session_id), if exactly one does; fails the test when more
    // than one does.
    [[nodiscard]] std::optional<unsigned> session_core(std::string_view client_id) const;

    // What `from` has posted to `to` and not yet run (hand-offs included).
    [[nodiscard]] std::size_t queued(unsigned from, unsigned to) const;
    // Runs what every core has posted to `worker` so far (each sender's posts in order, as between two real workers;
    // the senders one after another), feeds the connections whose input it resumed, then flushes it as the worker
    // does after a post. Returns how many posts ran.
    std::size_t run_posts_to(unsigned worker);
    // Nothing posted anywhere and no resumed input waiting to be fed.
    [[nodiscard]] bool idle() const;
    // Runs posts core by core until nothing is queued anywhere. Returns the number of posts run; fails the test (and
    // stops) after kMaxSteps, as a loop that never settles would run forever.
    std::size_t run_until_idle();
    static constexpr std::size_t kMaxSteps = 10'000;

    // Moves the one clock on and ticks every core (Core::on_tick, then flush, as the worker's tick does). Posts the
    // ticks make are left for run_until_idle().
    void advance(std::chrono::nanoseconds d);

private:
    struct Conn {
        unsigned worker;
        ConnectionId id;
        codec::ProtocolVersion version;
        unsigned hand_offs = 0;
    };
    ConnectionId next_connection_id(unsigned worker);
    // Host::hand_off of core `from`: reads the origin and posts the adoption to `to`, in order with `from`'s posts.
    void hand_off(unsigned from, ConnectionId id, unsigned to, std::span<const std::byte> unread);
    void adopt(Core& target, std::size_t conn, std::string remote, std::shared_ptr<const ListenerTag> tag,
               std::vector<std::byte> unread, TimePoint now);

    AllowAll allow_;
    Shared shared_;
    std::vector<std::unique_ptr<FakeHost>> hosts_;
    std::vector<std::unique_ptr<Core>> cores_;
    std::vector<ConnectionId> next_serial_;  // per worker: connection ids carry their worker, as in src/server
    std::vector<Conn> conns_;
    std::map<ConnectionId, std::size_t> by_id_;  // connection id (on its current core) -> index into conns_
    unsigned next_accept_ = 0;
    TimePoint now_{};
    PausableInput input_;
    PacketReader reader_;
};

}  // namespace moth::broker::test
