#pragma once
// The MQTT-SN gateway's I/O (listener kinds mqttsn and mqttsns, docs/mqtt-sn.md): one UDP socket per listener,
// read by one worker (the "reader"), and the clients' gateway sessions, each on the worker that owns its client id.
//
// A datagram from a known address goes from the reader to the owner worker as a decoded message (a post, no socket
// moves); the owner's GatewaySession (src/mqttsn) turns it into MQTT 5.0 bytes for an internal connection of its
// core. What the owner sends back leaves through the same socket: plain UDP with one sendto() from the owner's
// thread (the kernel serialises datagrams), DTLS through the reader, which holds the per-address DTLS state.
//
// Thread affinity: as each member says. The listener lives from Server::start to the Server's end.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "broker/admin.hpp"
#include "broker/auth.hpp"
#include "common/cidr.hpp"
#include "config/config.hpp"
#include "mqttsn/gateway_session.hpp"
#include "mqttsn/packets.hpp"

typedef struct ssl_ctx_st SSL_CTX;

namespace moth::net {
class DtlsPeer;
}  // namespace moth::net

namespace moth::server::detail {

class Worker;
class SnSessions;

// Counters of one listener, any thread.
struct SnCounters {
    std::atomic<std::uint64_t> datagrams_in{0};
    std::atomic<std::uint64_t> datagrams_out{0};
    std::atomic<std::uint64_t> malformed{0};  // dropped: not an MQTT-SN message (or not a DTLS record for us)
    std::atomic<std::uint64_t> refused{0};    // dropped or answered with a refusal: address, client id, limit
    std::atomic<std::uint64_t> qos_minus_one{0};
    std::atomic<std::uint64_t> send_failures{0};
    std::atomic<std::uint32_t> clients{0};  // addresses with a session
};

class SnListener {
public:
    // Start-up, main thread: binds the socket (throws std::runtime_error naming what failed) and, for mqttsns, loads
    // the certificate (the development one when the listener names none). `reader` reads; `workers` are all of them.
    // `index`: the listener's place in config.listeners (for ListenerStartError). `authorizer` (may be null) checks
    // QoS -1 publishes, which have no session.
    SnListener(std::string name, std::size_t index, const config::Listener& listener, const config::Config& config,
               std::vector<Worker*> workers, unsigned reader, const broker::Authorizer* authorizer);
    ~SnListener();
    SnListener(const SnListener&) = delete;
    SnListener& operator=(const SnListener&) = delete;

    [[nodiscard]] boost::asio::ip::udp::endpoint local_endpoint() const;
    [[nodiscard]] const std::shared_ptr<const broker::ListenerTag>& tag() const { return tag_; }
    [[nodiscard]] const SnCounters& counters() const { return counters_; }

    // Begins reading and advertising (posted to the reader). Call once, before the workers run.
    void start();
    // Stops reading and advertising (posted to the reader); sending still works until the listener is destroyed,
    // so the workers' shutdown reaches the clients.
    void stop();

    // ---- For the owner workers (SnSessions) ----
    // Any worker thread: one MQTT-SN datagram (already wrapped for a forwarder) for `to`.
    void send(const boost::asio::ip::udp::endpoint& to, mqttsn::Buffer datagram);
    // Owner thread: the session of `key`, admitted as `epoch` on worker `owner`, ended: the reader forgets the
    // address (and its DTLS state) unless a later CONNECT routed it anew.
    void forget(const std::string& key, unsigned owner, std::uint64_t epoch);
    [[nodiscard]] SnSessions& sessions(unsigned worker) { return *sessions_.at(worker); }
    [[nodiscard]] const mqttsn::SessionSettings& settings() const { return settings_; }
    [[nodiscard]] const std::optional<std::string>& username() const { return username_; }
    SnCounters& counters() { return counters_; }

private:
    struct Peer;  // reader-side state of one address
    void receive();
    void on_datagram(const boost::asio::ip::udp::endpoint& from, std::span<const std::byte> bytes);
    void on_dtls(const boost::asio::ip::udp::endpoint& from, const std::string& key, std::span<const std::byte> bytes);
    void on_message(const boost::asio::ip::udp::endpoint& from, const std::string& key,
                    std::span<const std::byte> bytes);
    void dispatch(const boost::asio::ip::udp::endpoint& from, const std::string& key, mqttsn::DecodeResult r);
    bool admit_connect(const boost::asio::ip::udp::endpoint& from, const std::string& key,
                       const mqttsn::Connect& c, const std::optional<mqttsn::Forwarder>& fwd);
    void publish_unconnected(const mqttsn::Publish& p);
    // An answer of the reader itself (GWINFO, a refusal, DISCONNECT), through the address's DTLS state if any.
    void reply(const boost::asio::ip::udp::endpoint& to, const mqttsn::Packet& p,
               const std::optional<mqttsn::Forwarder>& fwd);
    void send_now(const boost::asio::ip::udp::endpoint& to, std::span<const std::byte> datagram);
    void send_wire(const boost::asio::ip::udp::endpoint& to, std::vector<std::vector<std::byte>>& wire);
    void sweep();      // reader: DTLS handshake timers, stale DTLS peers
    void advertise();  // reader: the periodic ADVERTISE
    [[nodiscard]] bool address_allowed(const boost::asio::ip::address& a) const;
    [[nodiscard]] bool client_id_allowed(const std::string& id) const;

    std::string name_;
    config::Listener cfg_;
    config::MqttSn sn_;
    bool allow_anonymous_ = true;
    std::vector<Worker*> workers_;
    unsigned reader_;
    std::shared_ptr<const broker::ListenerTag> tag_;
    mqttsn::SessionSettings settings_;
    std::optional<std::string> username_;  // the sessions' transport identity ([mqttsn] username)
    std::vector<Cidr> allowed_;
    boost::asio::ip::udp::socket socket_;
    boost::asio::ip::udp::endpoint from_;
    std::vector<std::byte> buffer_;
    boost::asio::steady_timer sweep_timer_;
    boost::asio::steady_timer advertise_timer_;
    std::shared_ptr<SSL_CTX> dtls_;  // mqttsns only
    using Peers = std::unordered_map<std::string, std::unique_ptr<Peer>>;
    Peers::iterator erase_peer(Peers::iterator it);  // keeps handshaking_ right
    Peers peers_;                    // reader: addresses routed or in DTLS
    std::size_t handshaking_ = 0;    // reader: DTLS associations in peers_ not yet established
    std::vector<std::unique_ptr<SnSessions>> sessions_;             // by worker, each touched on its thread only
    SnCounters counters_;
    const broker::Authorizer* authorizer_;
    std::uint64_t next_epoch_ = 1;  // reader
    bool stopped_ = false;          // reader
};

// "ip:port", "[v6]:port": how the gateway keys a client and how the API shows its address.
[[nodiscard]] std::string endpoint_key(const boost::asio::ip::udp::endpoint& e);

}  // namespace moth::server::detail
