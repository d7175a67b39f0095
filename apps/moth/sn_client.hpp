#pragma once
// A small asynchronous MQTT-SN 1.2 client on one Asio UDP socket: what `moth sn pub|sub|bench` use. One client is
// one socket, because a gateway tells clients apart by their address.
//
// Requests (CONNECT, REGISTER, PUBLISH QoS 1/2, SUBSCRIBE, PINGREQ, DISCONNECT) complete with (error, answer):
// `error` empty and `answer` the message that completed it, or `error` a sentence for stderr ("no CONNACK from
// 127.0.0.1:1884 after 5 tries", "REGISTER rejected: congestion"). Unanswered requests are resent every
// retry interval (PUBLISH and SUBSCRIBE with DUP set) until the tries run out. Incoming PUBLISHes are answered
// (REGACK, PUBACK, PUBREC/PUBCOMP) and handed to on_message with their topic resolved.
//
// Memory is kept small for `moth sn bench` (thousands of clients): no receive buffer per client (the socket is
// waited on for readability and read into a buffer shared by the thread), no write queue (a datagram the kernel
// will not take now is dropped and left to retransmission), one timer.
//
// Thread affinity: everything on the executor's single thread. The client must outlive every pending operation:
// destroy it only after its io_context has stopped running.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "mqttsn/packets.hpp"
#include "net/dtls.hpp"
#include "sn_state.hpp"

namespace moth::cli::sn {

namespace asio = boost::asio;

struct ClientConfig {
    asio::ip::udp::endpoint gateway;
    std::string client_id;
    std::chrono::milliseconds retry{1000};
    std::uint32_t tries = 5;
    // DTLS 1.2 when set (one context shared by every client of a process); server_name is checked against the
    // gateway's certificate and sent as SNI when it is a host name.
    std::shared_ptr<SSL_CTX> dtls;
    std::string server_name;
};

struct ConnectParams {
    bool clean = true;
    std::uint16_t duration_s = 60;
    std::optional<mqttsn::WillTopic> will_topic;  // asked for by WILLTOPICREQ when set (Flags.will in CONNECT)
    mqttsn::Buffer will_message;
};

struct Incoming {
    const std::string& topic;
    const mqttsn::Publish& publish;
};

class SnClient {
public:
    // The signature every request completes with.
    using Signature = void(std::string, mqttsn::Packet);
    using Done = asio::any_completion_handler<Signature>;

    SnClient(asio::any_io_executor ex, ClientConfig config);
    SnClient(const SnClient&) = delete;
    SnClient& operator=(const SnClient&) = delete;
    ~SnClient();

    // Opens the socket, connected to the gateway (so only its datagrams arrive), and starts receiving. Returns an
    // error sentence or "".
    [[nodiscard]] std::string open();
    // Closes the socket; outstanding requests complete with `why`.
    void close(const std::string& why = "closed");

    // Called for each PUBLISH delivered (a QoS 2 resend before PUBREL is not delivered again).
    std::function<void(const Incoming&)> on_message;
    // Called when the client is lost (and closed): a keep-alive PINGREQ went unanswered, the gateway sent DISCONNECT
    // of its own, or DTLS failed. Outstanding requests complete with the same sentence.
    std::function<void(const std::string&)> on_lost;

    // Sends PINGREQ every `period` while awake; zero stops it.
    void set_keepalive(std::chrono::seconds period);

    template <class Token>
    auto async_connect(ConnectParams p, Token&& token) {
        return initiate([this, p = std::move(p)](Done h) mutable { start_connect(std::move(p), std::move(h)); },
                        std::forward<Token>(token));
    }
    template <class Token>
    auto async_register(std::string topic, Token&& token) {
        return initiate([this, t = std::move(topic)](Done h) mutable { start_register(std::move(t), std::move(h)); },
                        std::forward<Token>(token));
    }
    // QoS -1 and 0 complete once sent (answer: the PUBLISH itself). QoS 1 with PUBACK, QoS 2 with PUBCOMP.
    template <class Token>
    auto async_publish(mqttsn::Publish p, Token&& token) {
        return initiate([this, p = std::move(p)](Done h) mutable { start_publish(std::move(p), std::move(h)); },
                        std::forward<Token>(token));
    }
    template <class Token>
    auto async_subscribe(mqttsn::Subscribe s, Token&& token) {
        return initiate([this, s = std::move(s)](Done h) mutable { start_subscribe(std::move(s), std::move(h)); },
                        std::forward<Token>(token));
    }
    // `client_id` set: a sleeping client's PINGREQ, answered after the messages the gateway kept (section 6.14).
    template <class Token>
    auto async_ping(std::string client_id, Token&& token) {
        return initiate([this, c = std::move(client_id)](Done h) mutable { start_ping(std::move(c), std::move(h)); },
                        std::forward<Token>(token));
    }
    // `duration_s` set: go to sleep. Stops the keep-alive either way.
    template <class Token>
    auto async_disconnect(std::optional<std::uint16_t> duration_s, Token&& token) {
        return initiate([this, duration_s](Done h) mutable { start_disconnect(duration_s, std::move(h)); },
                        std::forward<Token>(token));
    }
    // DISCONNECT without waiting for the answer (the end of a benchmark).
    void send_disconnect();

    struct Counters {
        std::uint64_t resent = 0;           // retransmissions
        std::uint64_t qos1_duplicates = 0;  // QoS 1 PUBLISHes whose msg id came recently
        std::uint64_t qos2_duplicates = 0;  // QoS 2 resends not delivered again
        std::uint64_t malformed = 0;        // datagrams dropped
    };
    [[nodiscard]] const Counters& counters() const noexcept { return counters_; }
    [[nodiscard]] TopicRegistry& topics() noexcept { return topics_; }
    [[nodiscard]] std::size_t outstanding() const noexcept { return book_.size(); }
    [[nodiscard]] const std::string& gateway_text() const noexcept { return gateway_text_; }

private:
    template <class Init, class Token>
    auto initiate(Init&& init, Token&& token) {
        return asio::async_initiate<Token, Signature>([](auto handler, auto start) { start(Done(std::move(handler))); },
                                                      token, std::forward<Init>(init));
    }
    void start_connect(ConnectParams p, Done h);
    void start_register(std::string topic, Done h);
    void start_publish(mqttsn::Publish p, Done h);
    void start_subscribe(mqttsn::Subscribe s, Done h);
    void start_ping(std::string client_id, Done h);
    void start_disconnect(std::optional<std::uint16_t> duration_s, Done h);

    void request(Await a, std::uint16_t msg_id, const mqttsn::Packet& p, Done h);
    void send(const mqttsn::Packet& p);
    void send_raw(const mqttsn::Buffer& datagram);
    void send_wire(const net::Datagrams& wire);
    void on_wire_datagram(mqttsn::Bytes datagram);
    void lose(const std::string& why);  // close, and tell on_lost
    void complete(Done h, std::string error, mqttsn::Packet answer);
    std::uint16_t new_msg_id();

    void wait_readable();
    void on_datagram(mqttsn::Bytes datagram);
    void on_answer(const AnswerKey& key, const mqttsn::Packet& p);
    void on_publish(const mqttsn::Publish& p);
    void on_will_request(bool topic);
    void arm_timer();
    void on_timer();

    asio::any_io_executor ex_;
    ClientConfig config_;
    std::string gateway_text_;
    asio::ip::udp::socket socket_;
    asio::steady_timer timer_;
    std::optional<std::chrono::steady_clock::time_point> armed_;
    std::uint32_t timer_generation_ = 0;
    RetryBook<HandlerSlot<Done>> book_;
    std::uint16_t last_msg_id_ = 0;
    std::chrono::seconds keepalive_{0};
    std::chrono::steady_clock::time_point next_ping_{};
    std::optional<ConnectParams> connecting_;  // the will to send while CONNECT waits
    TopicRegistry topics_;
    Qos2Filter qos2_;
    RecentIds recent_qos1_;
    Counters counters_;
    std::unique_ptr<net::DtlsPeer> dtls_;
    bool open_ = false;
    bool disconnected_ = false;  // our DISCONNECT was answered (asleep or gone): a repeated answer is expected
};

}  // namespace moth::cli::sn
