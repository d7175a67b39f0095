#pragma once
// The owner side of the MQTT-SN gateway (mqttsn_listener.hpp): on one worker, the gateway sessions of the clients
// whose client ids that worker owns, each with its internal MQTT connection into the worker's core (an SnLink: a
// Connection whose bytes go to and come from the GatewaySession instead of a socket), and their timers.
//
// Thread affinity: the owning worker's thread only.
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <memory>
#include <optional>
#include <queue>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "mqttsn/gateway_session.hpp"
#include "server/worker.hpp"

namespace moth::server::detail {

class SnListener;
class SnLink;

class SnSessions {
public:
    SnSessions(Worker& w, SnListener& listener);
    ~SnSessions();
    SnSessions(const SnSessions&) = delete;
    SnSessions& operator=(const SnSessions&) = delete;

    // A message from the client at `from` (keyed `key`), unwrapped from its forwarder's header (`fwd`).
    // `epoch` is the reader's admission of the address (SnListener::forget).
    void on_packet(const boost::asio::ip::udp::endpoint& from, const std::string& key, std::uint64_t epoch,
                   const mqttsn::Packet& p, const std::optional<mqttsn::Forwarder>& fwd);
    // Shutdown: no more timers (pending ones would keep the worker's loop running).
    void stop();
    // The reader saw the address go (a CONNECT for a client id another worker owns, a DTLS association that
    // ended): the client is lost, as when its keep-alive runs out.
    void on_gone(const std::string& key);
    // From an SnLink: the core's output for the link's client; the core closed the link.
    void on_broker(SnLink& link, std::span<const std::byte> bytes);
    void on_broker_closed(SnLink& link);
    [[nodiscard]] std::size_t size() const { return clients_.size(); }

private:
    struct Client {
        Client(mqttsn::SessionSettings s, mqttsn::TimePoint now) : session(std::move(s), now) {}
        mqttsn::GatewaySession session;
        boost::asio::ip::udp::endpoint peer;
        std::string key;
        std::optional<mqttsn::Forwarder> fwd;
        std::shared_ptr<SnLink> link;  // the internal connection open now; null: none
        std::optional<mqttsn::TimePoint> scheduled;
        std::uint64_t epoch = 0;
    };
    void apply(Client& c, mqttsn::Actions& a, mqttsn::TimePoint now);
    // The session is done with its internal connection: unless the core is closing it already, the core hears it
    // failed (its will is published, as for a dropped TCP connection).
    void end_link(Client& c);
    void open_link(Client& c);
    void schedule(Client& c);
    void arm();
    void on_timer();
    Client* find(const std::string& key);

    Worker& w_;
    SnListener& listener_;
    std::unordered_map<std::string, std::unique_ptr<Client>> clients_;
    using Due = std::pair<mqttsn::TimePoint, std::string>;
    std::priority_queue<Due, std::vector<Due>, std::greater<>> due_;
    boost::asio::steady_timer timer_;
    std::optional<mqttsn::TimePoint> armed_;
    bool stopped_ = false;
};

// An internal connection of the core, carrying one MQTT-SN client's translated session.
class SnLink final : public Connection, public std::enable_shared_from_this<SnLink> {
public:
    SnLink(Worker& w, SnSessions& owner, std::string key) : w_(w), owner_(owner), key_(std::move(key)) {}
    void start(ConnectionId id) { id_ = id; }
    [[nodiscard]] ConnectionId id() const { return id_; }
    [[nodiscard]] const std::string& key() const { return key_; }
    // MQTT bytes for the core; what it does not take yet (paused input) is kept and fed on resume.
    void feed(std::span<const std::byte> bytes);
    // The session no longer wants it (it ended it itself, or forgot): later output and closes are dropped.
    void detach() { detached_ = true; }
    [[nodiscard]] bool detached() const { return detached_; }
    [[nodiscard]] bool closing() const { return closing_ || finished_; }
    // The owner ended it (as a network failure): the core was told; only the worker's map entry is left.
    void finish_quietly();

    void queue(std::span<const std::byte> bytes) override { out_.insert(out_.end(), bytes.begin(), bytes.end()); }
    std::span<std::byte> append(std::size_t size) override { return grow(out_, size); }
    [[nodiscard]] std::size_t pending() const override { return out_.size(); }
    void flush() override;
    void close_after_flush() override;
    void force_close() override;
    void pause_input() override { paused_ = true; }
    void resume_input() override;
    void hand_off(unsigned target, std::span<const std::byte> unread) override;

private:
    void drain();
    void finish();

    Worker& w_;
    SnSessions& owner_;
    std::string key_;
    ConnectionId id_ = 0;
    std::vector<std::byte> in_;
    std::vector<std::byte> out_;
    bool paused_ = false;
    bool closing_ = false;
    bool finished_ = false;
    bool detached_ = false;
};

}  // namespace moth::server::detail
