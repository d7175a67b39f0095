#pragma once
// Internal to the client library (src/client/async_client*.cpp), not a public header: AsyncClient's
// implementation, shared by the files it is split into by job. async_client.cpp holds the public façade; each
// group of Impl's member functions below names the file that defines it.
//
// Everything here runs on the client's executor, one coroutine step at a time, so the state takes no locks;
// only `connected_` is read from other threads (Client::connected()).
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <moth/client.hpp>

#include "client/convert.hpp"
#include "client/waiters.hpp"
#include "codec/decoder.hpp"
#include "net/stream.hpp"

namespace moth::client {

constexpr std::size_t kInitialReadBuffer = 4096;

[[nodiscard]] inline codec::ProtocolVersion to_codec(ProtocolVersion v) {
    return static_cast<codec::ProtocolVersion>(v);
}
[[nodiscard]] inline codec::QoS to_codec(QoS q) { return static_cast<codec::QoS>(q); }

template <class Ack>
[[nodiscard]] Ack ack(std::uint16_t id, codec::ReasonCode reason = codec::ReasonCode::Success) {
    Ack a;
    a.packet_id = id;
    a.reason = reason;
    return a;
}

// A message on its way out: queued (offline or beyond the broker's Receive Maximum) or inflight.
struct OutMessage {
    enum class Stage : std::uint8_t { Queued, AwaitPuback, AwaitPubrec, AwaitPubcomp };
    Message message;
    Stage stage = Stage::Queued;
    std::uint16_t id = 0;
    std::uint64_t seq = 0;  // send order, for resending after a reconnect
    std::uint8_t pubrec_reason = 0;
    std::optional<std::string> reason_string;
    std::shared_ptr<Completion<PublishResult>> done;  // null for QoS 0 or when the caller was already told
};

struct PendingSubscribe {
    std::vector<Subscription> subscriptions;
    std::optional<std::uint32_t> subscription_id;
    std::shared_ptr<Completion<SubscribeResult>> done;  // null for resubscriptions after a reconnect
};

struct PendingUnsubscribe {
    std::vector<std::string> filters;
    std::shared_ptr<Completion<UnsubscribeResult>> done;
};

struct Connection {
    std::unique_ptr<net::Stream> stream;
    codec::ProtocolVersion version = codec::ProtocolVersion::V5;
    codec::Decoder decoder{codec::DecoderOptions{.role = codec::Role::Client}};
    std::vector<std::byte> in = std::vector<std::byte>(kInitialReadBuffer);
    std::size_t in_begin = 0;  // first unconsumed byte
    std::size_t in_end = 0;
    std::size_t last_consumed = 0;  // bytes of the packet handed out last, dropped on the next call
    std::vector<std::byte> out;      // encoded packets waiting for the writer
    std::vector<std::byte> writing;  // the batch being written
    bool writing_now = false;
    Waiters wake;  // writer, keepalive, flush and handshake watchdog
    bool closed = false;
    bool handshake_done = false;
    bool timed_out = false;
    std::optional<Error> error;  // why we closed it, when we did
    ConnectResult connack;
    std::chrono::seconds keep_alive{0};
    Clock::time_point last_sent = Clock::now();
    bool ping_outstanding = false;
    Clock::time_point ping_sent;
    std::map<std::string, std::uint16_t, std::less<>> out_aliases;
    std::unordered_map<std::uint16_t, std::string> in_aliases;
};

}  // namespace moth::client

namespace moth {

namespace asio = boost::asio;
// client::ack is spelled out where used: inside Impl, the public AsyncClient::ack(const Message&) hides it.
using client::Clock;
using client::Completion;
using client::Connection;
using client::make_error;
using client::OutMessage;
using client::PendingSubscribe;
using client::PendingUnsubscribe;
using client::to_codec;
using client::Waiters;
using codec::PacketType;
using codec::ReasonCode;

struct AsyncClient::Impl : std::enable_shared_from_this<AsyncClient::Impl> {
    Impl(asio::any_io_executor ex, ConnectOptions options, StreamFactory factory)
        : ex_(std::move(ex)), opts_(std::move(options)), factory_(std::move(factory)), client_id_(opts_.client_id),
          rng_(std::random_device{}()) {}

    asio::any_io_executor ex_;
    ConnectOptions opts_;
    StreamFactory factory_;
    std::string client_id_;  // the configured one, or the one the broker assigned (kept for reconnects)

    std::shared_ptr<Connection> current_;
    std::optional<ConnectResult> last_connect_;  // the latest CONNACK that let us in
    std::atomic<bool> connected_{false};
    bool connecting_ = false;
    bool reconnecting_ = false;
    bool user_closed_ = false;
    Waiters state_waiters_;      // connect/disconnect transitions, reconnect back-off
    std::minstd_rand rng_;

    // Session state, kept across connections.
    std::map<std::uint16_t, OutMessage> inflight_;
    std::deque<OutMessage> queue_;  // not yet sent: beyond the Receive Maximum, or offline
    std::uint64_t next_seq_ = 0;
    std::uint16_t next_id_ = 0;
    std::set<std::uint16_t> inbound_qos2_;  // PUBREC sent, PUBREL not yet received
    // manual_ack: received QoS 1/2 messages given to the application and not yet acked by it, by packet id. Topic
    // and payload hash guard against an ack of a message of a lost session whose id the broker has reused since.
    struct AwaitingAck {
        QoS qos = QoS::AtLeastOnce;
        std::string topic;
        std::size_t payload_hash = 0;
    };
    [[nodiscard]] static std::size_t payload_hash(std::span<const std::byte> payload) {
        return std::hash<std::string_view>{}({reinterpret_cast<const char*>(payload.data()), payload.size()});
    }
    std::map<std::uint16_t, AwaitingAck> awaiting_ack_;
    std::set<std::uint16_t> acked_offline_;  // QoS 1 acked while disconnected: PUBACK when the broker resends it
    std::map<std::uint16_t, PendingSubscribe> sub_pending_;
    std::map<std::uint16_t, PendingUnsubscribe> unsub_pending_;
    std::shared_ptr<Completion<void>> reauth_;
    struct SubscriptionRecord {
        SubscribeOptions options;
        std::optional<std::uint32_t> subscription_id;
    };
    std::map<std::string, SubscriptionRecord> subscriptions_;  // to subscribe again when the session is gone

    std::deque<Message> inbox_;
    Waiters receivers_;
    std::function<void(const Message&)> on_message_;
    std::function<void(const ConnectResult&)> on_connected_;
    std::function<void(const Error&)> on_disconnected_;

    [[nodiscard]] bool v5() const { return opts_.version == ProtocolVersion::V5; }

    static std::optional<std::string> opt_string(const std::optional<std::string_view>& s) {
        if (!s) return std::nullopt;
        return std::string(*s);
    }

    // ---- async_client_connect.cpp: connecting -----------------------------------------------------------------------
    asio::awaitable<Result<ConnectResult>> connect(std::shared_ptr<Impl> self);
    asio::awaitable<Result<ConnectResult>> attempt(std::shared_ptr<Impl> self);
    asio::awaitable<Result<ConnectResult>> attempt_inner(std::shared_ptr<Impl> self);
    asio::awaitable<void> watchdog(std::shared_ptr<Impl> self, std::shared_ptr<Connection> c,
                                   Clock::time_point deadline);
    codec::Connect make_connect(std::vector<codec::UserProperty>& user, std::vector<codec::UserProperty>& will_user,
                                codec::Bytes& password) const;
    asio::awaitable<void> write_now(Connection& c, const codec::Packet& p);
    // CONNECT, then the enhanced authentication exchange if any, until CONNACK.
    asio::awaitable<Result<ConnectResult>> handshake(Connection& c);
    void fill_connack(Connection& c, const codec::Connack& ack);
    // The broker's final word (CONNACK, AUTH 0x00) to on_auth_complete, or to on_auth when it has data.
    [[nodiscard]] Result<void> auth_complete(std::optional<codec::Bytes> data) const;

    // ---- async_client_session.cpp: the session across connections ---------------------------------------------------
    std::uint16_t allocate_id();
    // Encodes a PUBLISH (assigning an outbound topic alias when allowed); an error when the broker could not
    // take it (larger than its Maximum Packet Size).
    std::optional<Error> send_publish(Connection& c, const OutMessage& m, bool dup, bool allow_alias);
    // Sends what the queue holds, in order, as far as the broker's Receive Maximum allows.
    void pump();
    // The broker accepted us: restore or rebuild the session, start the connection loop.
    void established(const std::shared_ptr<Impl>& self, const std::shared_ptr<Connection>& c);
    void resubscribe(Connection& c);
    void send_subscribe(Connection& c, std::uint16_t id, const std::vector<Subscription>& subs,
                        std::optional<std::uint32_t> sub_id, const std::vector<UserProperty>& user);
    void lost(const std::shared_ptr<Connection>& c);
    // No reconnect will follow: callers waiting on a publish are told now. Messages already sent stay in the
    // session (resent on the next connect with a persistent session); messages never sent are dropped.
    void fail_session_waiters(const Error& err);
    std::chrono::milliseconds backoff(unsigned attempt);
    asio::awaitable<void> reconnect_loop(std::shared_ptr<Impl> self);

    // ---- async_client_loop.cpp: the connection loop -----------------------------------------------------------------
    bool send(Connection& c, const codec::Packet& p);
    // The next packet from the broker. Its views are valid until the next call.
    asio::awaitable<codec::DecodeResult> next_packet(Connection& c);
    asio::awaitable<void> run_reader(std::shared_ptr<Impl> self, std::shared_ptr<Connection> c);
    asio::awaitable<void> run_writer(std::shared_ptr<Impl> self, std::shared_ptr<Connection> c);
    // PINGREQ after keep_alive of silence from our side; the connection is closed when no PINGRESP arrives
    // within keep_alive after it.
    asio::awaitable<void> run_keepalive(std::shared_ptr<Impl> self, std::shared_ptr<Connection> c);
    asio::awaitable<void> flush(Connection& c, Clock::time_point deadline);
    // A protocol violation by the broker: DISCONNECT with `reason` (5.0), then close.
    void fail_connection(Connection& c, ReasonCode reason, Error err);

    // ---- async_client_inbound.cpp: packets from the broker ----------------------------------------------------------
    // Returns false when the connection is to be closed.
    bool handle(Connection& c, const codec::Packet& packet);
    bool handle_publish(Connection& c, const codec::Publish& p);
    // manual_ack: true when `p` (QoS 1/2) is a resend of a message the application holds or acked while we were
    // offline, which is answered here (or by its ack()) and not delivered again.
    bool resend_of_held_message(Connection& c, const codec::Publish& p);
    void acknowledge(const Message& m);
    bool handle_puback(const codec::Puback& a);
    bool handle_pubrec(Connection& c, const codec::Pubrec& a);
    bool handle_pubcomp(const codec::Pubcomp& a);
    bool handle_pubrel(Connection& c, const codec::Pubrel& a);
    bool handle_suback(const codec::Suback& a);
    bool handle_unsuback(const codec::Unsuback& a);
    void deliver(Message m);
    bool handle_auth(Connection& c, const codec::Auth& a);

    // ---- async_client_operations.cpp: the user's operations ---------------------------------------------------------
    asio::awaitable<Result<PublishResult>> publish(std::shared_ptr<Impl> self, Message message);
    asio::awaitable<Result<SubscribeResult>> subscribe(std::shared_ptr<Impl> self, std::vector<Subscription> subs,
                                                       std::optional<std::uint32_t> sub_id,
                                                       std::vector<UserProperty> user);
    asio::awaitable<Result<UnsubscribeResult>> unsubscribe(std::shared_ptr<Impl> self,
                                                           std::vector<std::string> filters);
    asio::awaitable<Result<Message>> receive(std::shared_ptr<Impl> self, Clock::time_point deadline);
    asio::awaitable<void> disconnect(std::shared_ptr<Impl> self, std::uint8_t reason,
                                     std::optional<std::uint32_t> session_expiry);
    asio::awaitable<Result<void>> reauthenticate(std::shared_ptr<Impl> self, std::vector<std::byte> data);
    void shutdown();
};

}  // namespace moth
