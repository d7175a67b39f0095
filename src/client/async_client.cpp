// AsyncClient: one connection loop per connection (reader, gathered writer, keepalive), session state that
// outlives connections (outbound inflight window, inbound QoS 2 ids, subscriptions), automatic reconnect.
//
// Everything here runs on the client's executor, one coroutine step at a time, so the state takes no locks;
// only `connected_` is read from other threads (Client::connected()).
#include <algorithm>
#include <atomic>
#include <cstring>
#include <deque>
#include <map>
#include <random>
#include <set>
#include <unordered_map>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/system/system_error.hpp>

#include "client/convert.hpp"
#include "client/waiters.hpp"
#include "codec/decoder.hpp"
#include "codec/encoder.hpp"
#include "codec/topic.hpp"
#include "net/stream.hpp"

namespace moth {

namespace asio = boost::asio;
using client::Clock;
using client::Completion;
using client::make_error;
using client::Waiters;
using codec::PacketType;
using codec::ReasonCode;

namespace {

constexpr std::size_t kInitialReadBuffer = 4096;

[[nodiscard]] codec::ProtocolVersion to_codec(ProtocolVersion v) { return static_cast<codec::ProtocolVersion>(v); }
[[nodiscard]] codec::QoS to_codec(QoS q) { return static_cast<codec::QoS>(q); }

template <class Ack>
[[nodiscard]] Ack ack(std::uint16_t id, ReasonCode reason = ReasonCode::Success) {
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

}  // namespace

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

    // ---- sending ----------------------------------------------------------------------------------------------

    bool send(Connection& c, const codec::Packet& p) {
        if (c.closed) return false;
        const auto r = codec::encode_append(p, c.version, c.out);
        if (!r) return false;
        c.wake.notify_all();
        return true;
    }

    std::uint16_t allocate_id() {
        for (std::uint32_t i = 0; i < 65535U; ++i) {
            next_id_ = static_cast<std::uint16_t>(next_id_ == 65535 ? 1 : next_id_ + 1);
            if (!inflight_.contains(next_id_) && !sub_pending_.contains(next_id_) &&
                !unsub_pending_.contains(next_id_)) {
                return next_id_;
            }
        }
        return 0;
    }

    // Encodes a PUBLISH (assigning an outbound topic alias when allowed); an error when the broker could not
    // take it (larger than its Maximum Packet Size).
    std::optional<Error> send_publish(Connection& c, const OutMessage& m, bool dup, bool allow_alias) {
        std::vector<codec::UserProperty> storage;
        codec::Publish p;
        p.topic = m.message.topic;
        p.qos = to_codec(m.message.qos);
        p.dup = dup;
        p.retain = m.message.retain;
        p.packet_id = m.id;
        p.payload = m.message.payload;
        if (c.version == codec::ProtocolVersion::V5) {
            p.properties = client::view_message_properties(m.message.properties, storage);
            if (allow_alias && opts_.use_topic_aliases && c.connack.topic_alias_maximum > 0) {
                if (auto it = c.out_aliases.find(m.message.topic); it != c.out_aliases.end()) {
                    p.properties.topic_alias = it->second;
                    p.topic = {};
                } else if (c.out_aliases.size() < c.connack.topic_alias_maximum) {
                    const auto alias = static_cast<std::uint16_t>(c.out_aliases.size() + 1);
                    c.out_aliases.emplace(m.message.topic, alias);
                    p.properties.topic_alias = alias;
                }
            }
        }
        const auto size = codec::encoded_size(p, c.version);
        if (!size) return make_error(Error::Kind::InvalidArgument, std::string(codec::encode_error_text(size.error())));
        if (c.connack.maximum_packet_size != 0 && *size > c.connack.maximum_packet_size) {
            return make_error(Error::Kind::InvalidArgument,
                              "PUBLISH of " + std::to_string(*size) + " bytes exceeds the broker's Maximum Packet Size " +
                                  std::to_string(c.connack.maximum_packet_size));
        }
        send(c, p);
        return std::nullopt;
    }

    // Sends what the queue holds, in order, as far as the broker's Receive Maximum allows.
    void pump() {
        auto c = current_;
        if (!c) return;
        while (!queue_.empty() && !c->closed) {
            OutMessage& front = queue_.front();
            if (front.message.qos == QoS::AtMostOnce) {
                if (auto err = send_publish(*c, front, false, true); err && front.done) front.done->set(*err);
                queue_.pop_front();
                continue;
            }
            if (inflight_.size() >= c->connack.receive_maximum) break;
            OutMessage m = std::move(front);
            queue_.pop_front();
            m.id = allocate_id();
            if (m.id == 0) {
                if (m.done) m.done->set(make_error(Error::Kind::InvalidArgument, "no packet identifier available"));
                continue;
            }
            m.stage = m.message.qos == QoS::AtLeastOnce ? OutMessage::Stage::AwaitPuback
                                                        : OutMessage::Stage::AwaitPubrec;
            if (auto err = send_publish(*c, m, false, true)) {
                if (m.done) m.done->set(*err);
                continue;
            }
            inflight_.emplace(m.id, std::move(m));
        }
    }

    // ---- reading ----------------------------------------------------------------------------------------------

    // The next packet from the broker. Its views are valid until the next call.
    asio::awaitable<codec::DecodeResult> next_packet(Connection& c) {
        c.in_begin += c.last_consumed;
        c.last_consumed = 0;
        for (;;) {
            auto r = c.decoder.decode(std::span<const std::byte>(c.in.data() + c.in_begin, c.in_end - c.in_begin));
            if (r.status == codec::DecodeStatus::Ok) {
                c.last_consumed = r.consumed;
                co_return r;
            }
            if (r.status == codec::DecodeStatus::Error) co_return r;
            // Make room: drop consumed bytes, then grow to the packet's size when known.
            if (c.in_begin > 0) {
                std::memmove(c.in.data(), c.in.data() + c.in_begin, c.in_end - c.in_begin);
                c.in_end -= c.in_begin;
                c.in_begin = 0;
            }
            const std::size_t want = std::max(r.needed, c.in_end + 1);
            if (want > c.in.size()) c.in.resize(std::max(want, c.in.size() * 2));
            const std::size_t n =
                co_await c.stream->read_some(std::span<std::byte>(c.in.data() + c.in_end, c.in.size() - c.in_end));
            c.in_end += n;
        }
    }

    // ---- connecting -------------------------------------------------------------------------------------------

    asio::awaitable<Result<ConnectResult>> connect(std::shared_ptr<Impl> self) {
        // One connection attempt at a time: a user's connect() waits for a reconnect attempt in progress.
        while (connecting_) co_await state_waiters_.wait();
        if (current_) co_return current_->connack;
        user_closed_ = false;
        reconnecting_ = false;
        state_waiters_.notify_all();
        co_return co_await attempt(self);
    }

    asio::awaitable<Result<ConnectResult>> attempt(std::shared_ptr<Impl> self) {
        connecting_ = true;
        auto r = co_await attempt_inner(self);
        connecting_ = false;
        state_waiters_.notify_all();
        co_return r;
    }

    asio::awaitable<Result<ConnectResult>> attempt_inner(std::shared_ptr<Impl> self) {
        if (opts_.version != ProtocolVersion::V5 && client_id_.empty() && !opts_.clean_start) {
            co_return make_error(Error::Kind::InvalidArgument,
                                 "MQTT 3.x needs a client id for a persistent session (clean_start = false)");
        }
        auto url = net::parse_url(opts_.url);
        if (!url) co_return make_error(Error::Kind::InvalidArgument, "bad URL \"" + opts_.url + "\": " + url.error());
        net::ConnectSettings settings;
        settings.url = *url;
        settings.tls = {opts_.tls.ca_file,  opts_.tls.ca_path,  opts_.tls.cert_file, opts_.tls.key_file,
                        opts_.tls.sni,      opts_.tls.insecure, opts_.tls.version};
        settings.ws_subprotocol = opts_.version == ProtocolVersion::V3_1 ? "mqttv3.1" : "mqtt";
        settings.timeout = opts_.connect_timeout;

        auto c = std::make_shared<Connection>();
        c->version = to_codec(opts_.version);
        c->decoder.set_version(c->version);
        if (opts_.maximum_packet_size != 0 && v5()) c->decoder.set_max_packet_size(opts_.maximum_packet_size);
        try {
            c->stream = co_await factory_(ex_, settings);
        } catch (const std::exception& e) {
            co_return client::network_error(e, "cannot connect to " + net::to_string(*url));
        }
        if (user_closed_) {
            c->stream->cancel();
            co_return make_error(Error::Kind::Closed, "disconnected while connecting");
        }
        asio::co_spawn(ex_, watchdog(self, c, Clock::now() + opts_.connect_timeout), asio::detached);
        auto r = co_await handshake(*c);
        c->handshake_done = true;
        c->wake.notify_all();
        if (!r) {
            c->closed = true;
            c->stream->cancel();
            co_return r.error();
        }
        if (user_closed_) {
            c->closed = true;
            c->stream->cancel();
            co_return make_error(Error::Kind::Closed, "disconnected while connecting");
        }
        established(self, c);
        co_return c->connack;
    }

    asio::awaitable<void> watchdog([[maybe_unused]] std::shared_ptr<Impl> self, std::shared_ptr<Connection> c,
                                   Clock::time_point deadline) {
        while (!c->handshake_done) {
            const bool woken = co_await c->wake.wait_until(deadline);
            if (!woken) {
                if (!c->handshake_done) {
                    c->timed_out = true;
                    c->stream->cancel();
                }
                co_return;
            }
        }
    }

    codec::Connect make_connect(std::vector<codec::UserProperty>& user, std::vector<codec::UserProperty>& will_user,
                                codec::Bytes& password) const {
        codec::Connect p;
        p.version = to_codec(opts_.version);
        p.clean_start = opts_.clean_start;
        p.keep_alive_s = opts_.keep_alive_s;
        p.client_id = client_id_;
        if (opts_.will) {
            const Will& w = *opts_.will;
            codec::Will cw;
            cw.topic = w.topic;
            cw.payload = w.payload;
            cw.qos = to_codec(w.qos);
            cw.retain = w.retain;
            cw.properties = client::view_message_properties(w.properties, will_user);
            cw.properties.will_delay_interval = w.delay_interval;
            p.will = cw;
        }
        if (opts_.username) p.username = *opts_.username;
        if (opts_.password) {
            password = client::as_bytes(*opts_.password);
            p.password = password;
        }
        if (v5()) {
            auto& pr = p.properties;
            if (opts_.session_expiry_interval != 0) pr.session_expiry_interval = opts_.session_expiry_interval;
            if (opts_.receive_maximum != 65535) pr.receive_maximum = opts_.receive_maximum;
            if (opts_.maximum_packet_size != 0) pr.maximum_packet_size = opts_.maximum_packet_size;
            if (opts_.topic_alias_maximum != 0) pr.topic_alias_maximum = opts_.topic_alias_maximum;
            if (opts_.request_response_information) {
                pr.request_response_information = static_cast<std::uint8_t>(*opts_.request_response_information);
            }
            if (opts_.request_problem_information) {
                pr.request_problem_information = static_cast<std::uint8_t>(*opts_.request_problem_information);
            }
            pr.user_properties = client::view_user_properties(opts_.user_properties, user);
            if (!opts_.authentication_method.empty()) {
                pr.authentication_method = opts_.authentication_method;
                if (!opts_.authentication_data.empty()) pr.authentication_data = codec::Bytes(opts_.authentication_data);
            }
        }
        return p;
    }

    asio::awaitable<void> write_now(Connection& c, const codec::Packet& p) {
        std::vector<std::byte> bytes;
        if (!codec::encode_append(p, c.version, bytes)) {
            throw boost::system::system_error(make_error_code(boost::system::errc::invalid_argument),
                                              "cannot encode " + std::string(codec::packet_type_name(
                                                                     codec::packet_type(p))));
        }
        co_await c.stream->write(bytes);
        c.last_sent = Clock::now();
    }

    // CONNECT, then the enhanced authentication exchange if any, until CONNACK.
    asio::awaitable<Result<ConnectResult>> handshake(Connection& c) {
        try {
            {
                std::vector<codec::UserProperty> user, will_user;
                codec::Bytes password;
                co_await write_now(c, make_connect(user, will_user, password));
            }
            for (;;) {
                auto r = co_await next_packet(c);
                if (r.status == codec::DecodeStatus::Error) {
                    co_return make_error(Error::Kind::Protocol,
                                         "bad packet from the broker: " + std::string(r.message),
                                         static_cast<std::uint8_t>(r.reason));
                }
                if (auto* auth = std::get_if<codec::Auth>(&r.packet)) {
                    if (auth->reason != ReasonCode::ContinueAuthentication || !opts_.on_auth) {
                        co_return make_error(Error::Kind::Protocol, "unexpected AUTH during connect");
                    }
                    auto answer = opts_.on_auth(auth->properties.authentication_data.value_or(codec::Bytes{}));
                    if (!answer) co_return answer.error();
                    codec::Auth reply;
                    reply.reason = ReasonCode::ContinueAuthentication;
                    reply.properties.authentication_method = opts_.authentication_method;
                    reply.properties.authentication_data = codec::Bytes(*answer);
                    co_await write_now(c, reply);
                    continue;
                }
                auto* ack = std::get_if<codec::Connack>(&r.packet);
                if (!ack) {
                    co_return make_error(Error::Kind::Protocol,
                                         "expected CONNACK, got " +
                                             std::string(codec::packet_type_name(codec::packet_type(r.packet))));
                }
                if (codec::is_error(ack->reason) || (ack->reason != ReasonCode::Success && !v5())) {
                    co_return client::refused(ack->reason, PacketType::Connack, ack->properties.reason_string);
                }
                fill_connack(c, *ack);
                co_return c.connack;
            }
        } catch (const std::exception& e) {
            if (c.timed_out) {
                co_return make_error(Error::Kind::Timeout,
                                     "no CONNACK within " + std::to_string(opts_.connect_timeout.count()) + " ms");
            }
            co_return client::network_error(e, "connecting to " + opts_.url);
        }
    }

    void fill_connack(Connection& c, const codec::Connack& ack) {
        ConnectResult r;
        const auto& p = ack.properties;
        r.session_present = ack.session_present;
        r.reason = static_cast<std::uint8_t>(ack.reason);
        if (p.assigned_client_identifier) {
            r.assigned_client_id = std::string(*p.assigned_client_identifier);
            client_id_ = r.assigned_client_id;
        }
        r.server_keep_alive = p.server_keep_alive;
        r.receive_maximum = p.receive_maximum.value_or(65535);
        r.maximum_packet_size = p.maximum_packet_size.value_or(0);
        r.topic_alias_maximum = p.topic_alias_maximum.value_or(0);
        r.maximum_qos = p.maximum_qos.value_or(2);
        r.retain_available = p.retain_available.value_or(1) != 0;
        r.wildcard_subscription_available = p.wildcard_subscription_available.value_or(1) != 0;
        r.subscription_identifier_available = p.subscription_identifier_available.value_or(1) != 0;
        r.shared_subscription_available = p.shared_subscription_available.value_or(1) != 0;
        if (p.response_information) r.response_information = std::string(*p.response_information);
        if (p.server_reference) r.server_reference = std::string(*p.server_reference);
        if (p.reason_string) r.reason_string = std::string(*p.reason_string);
        r.user_properties = client::copy_user_properties(p.user_properties);
        c.connack = std::move(r);
        c.keep_alive = std::chrono::seconds(p.server_keep_alive.value_or(opts_.keep_alive_s));
        if (p.authentication_data && opts_.on_auth) {
            (void)opts_.on_auth(*p.authentication_data);  // the broker's final word; nothing to answer
        }
    }

    // The broker accepted us: restore or rebuild the session, start the connection loop.
    void established(const std::shared_ptr<Impl>& self, const std::shared_ptr<Connection>& c) {
        current_ = c;
        last_connect_ = c->connack;
        connected_ = true;
        reconnecting_ = false;
        std::vector<OutMessage> inflight;
        for (auto& [id, m] : inflight_) inflight.push_back(std::move(m));
        inflight_.clear();
        std::sort(inflight.begin(), inflight.end(), [](const auto& a, const auto& b) { return a.seq < b.seq; });
        if (c->connack.session_present) {
            // [MQTT-4.4.0-1]: resend unacknowledged PUBLISH (DUP set) and PUBREL, in their original order.
            for (auto& m : inflight) {
                if (m.stage == OutMessage::Stage::AwaitPubcomp) {
                    send(*c, ack<codec::Pubrel>(m.id));
                } else {
                    (void)send_publish(*c, m, true, false);
                }
                const auto id = m.id;
                inflight_.emplace(id, std::move(m));
            }
        } else {
            // The broker has no session: what it acknowledged with PUBREC it owns; the rest goes out again as new
            // messages ahead of the queue; the subscriptions are made again.
            inbound_qos2_.clear();
            for (auto it = inflight.rbegin(); it != inflight.rend(); ++it) {
                if (it->stage == OutMessage::Stage::AwaitPubcomp) {
                    if (it->done) it->done->set(PublishResult{.reason = it->pubrec_reason, .reason_string = it->reason_string});
                    continue;
                }
                it->stage = OutMessage::Stage::Queued;
                it->id = 0;
                queue_.push_front(std::move(*it));
            }
            resubscribe(*c);
        }
        pump();
        asio::co_spawn(ex_, run_reader(self, c), asio::detached);
        asio::co_spawn(ex_, run_writer(self, c), asio::detached);
        asio::co_spawn(ex_, run_keepalive(self, c), asio::detached);
        state_waiters_.notify_all();
        receivers_.notify_all();
        if (on_connected_) on_connected_(c->connack);
    }

    void resubscribe(Connection& c) {
        // One SUBSCRIBE per subscription identifier, as the identifier belongs to the packet.
        std::map<std::optional<std::uint32_t>, std::vector<Subscription>> groups;
        for (const auto& [filter, rec] : subscriptions_) groups[rec.subscription_id].push_back({filter, rec.options});
        for (auto& [sub_id, subs] : groups) {
            const auto id = allocate_id();
            if (id == 0) return;
            send_subscribe(c, id, subs, sub_id, {});
            sub_pending_.emplace(id, PendingSubscribe{std::move(subs), sub_id, nullptr});
        }
    }

    void send_subscribe(Connection& c, std::uint16_t id, const std::vector<Subscription>& subs,
                        std::optional<std::uint32_t> sub_id, const std::vector<UserProperty>& user) {
        std::vector<codec::Subscription> list;
        for (const auto& s : subs) {
            list.push_back({s.filter, codec::SubscribeOptions{to_codec(s.options.qos), s.options.no_local,
                                                              s.options.retain_as_published,
                                                              s.options.retain_handling}});
        }
        std::vector<codec::UserProperty> storage;
        codec::Subscribe p;
        p.packet_id = id;
        p.subscriptions = list;
        const std::uint32_t sid = sub_id.value_or(0);
        if (sub_id) p.properties.subscription_identifiers = std::span<const std::uint32_t>(&sid, 1);
        p.properties.user_properties = client::view_user_properties(user, storage);
        send(c, p);
    }

    // ---- the connection loop ----------------------------------------------------------------------------------

    asio::awaitable<void> run_reader([[maybe_unused]] std::shared_ptr<Impl> self, std::shared_ptr<Connection> c) {
        try {
            while (!c->closed) {
                auto r = co_await next_packet(*c);
                if (c->closed) break;
                if (r.status == codec::DecodeStatus::Error) {
                    fail_connection(*c, r.reason,
                                    make_error(Error::Kind::Protocol,
                                               "bad packet from the broker: " + std::string(r.message),
                                               static_cast<std::uint8_t>(r.reason)));
                    break;
                }
                if (!handle(*c, r.packet)) break;
            }
        } catch (const std::exception& e) {
            if (!c->error) c->error = client::network_error(e, "connection lost");
        }
        if (!c->closed && c->error && (!c->out.empty() || c->writing_now)) {
            co_await flush(*c, Clock::now() + std::chrono::seconds(1));
        }
        lost(c);
    }

    asio::awaitable<void> run_writer([[maybe_unused]] std::shared_ptr<Impl> self, std::shared_ptr<Connection> c) {
        while (!c->closed) {
            if (c->out.empty()) {
                co_await c->wake.wait();
                continue;
            }
            c->writing.clear();
            std::swap(c->writing, c->out);
            c->writing_now = true;
            try {
                co_await c->stream->write(c->writing);
            } catch (const std::exception& e) {
                c->writing_now = false;
                if (!c->error) c->error = client::network_error(e, "connection lost");
                lost(c);
                co_return;
            }
            c->writing_now = false;
            c->last_sent = Clock::now();
            c->wake.notify_all();
        }
    }

    // PINGREQ after keep_alive of silence from our side; the connection is closed when no PINGRESP arrives
    // within keep_alive after it.
    asio::awaitable<void> run_keepalive([[maybe_unused]] std::shared_ptr<Impl> self, std::shared_ptr<Connection> c) {
        const auto ka = std::chrono::duration_cast<Clock::duration>(c->keep_alive);
        if (ka.count() == 0) co_return;
        while (!c->closed) {
            const auto now = Clock::now();
            if (c->ping_outstanding && now - c->ping_sent >= ka) {
                if (!c->error) c->error = make_error(Error::Kind::Timeout, "no PINGRESP within the keep alive");
                lost(c);
                co_return;
            }
            if (!c->ping_outstanding && now - c->last_sent >= ka) {
                send(*c, codec::Pingreq{});
                c->ping_outstanding = true;
                c->ping_sent = now;
            }
            const auto next = c->ping_outstanding ? c->ping_sent + ka : c->last_sent + ka;
            co_await c->wake.wait_until(next);
        }
    }

    asio::awaitable<void> flush(Connection& c, Clock::time_point deadline) {
        while (!c.closed && (!c.out.empty() || c.writing_now)) {
            const bool woken = co_await c.wake.wait_until(deadline);
            if (!woken) break;
        }
    }

    // A protocol violation by the broker: DISCONNECT with `reason` (5.0), then close.
    void fail_connection(Connection& c, ReasonCode reason, Error err) {
        if (!c.error) c.error = std::move(err);
        if (c.version == codec::ProtocolVersion::V5) {
            codec::Disconnect d;
            d.reason = reason;
            send(c, d);
        }
    }

    // Returns false when the connection is to be closed.
    bool handle(Connection& c, const codec::Packet& packet) {
        switch (codec::packet_type(packet)) {
            case PacketType::Publish: return handle_publish(c, std::get<codec::Publish>(packet));
            case PacketType::Puback: {
                const auto& a = std::get<codec::Puback>(packet);
                auto it = inflight_.find(a.packet_id);
                if (it == inflight_.end() || it->second.stage != OutMessage::Stage::AwaitPuback) return true;
                if (it->second.done) {
                    if (codec::is_error(a.reason)) {
                        it->second.done->set(client::refused(a.reason, PacketType::Puback, a.properties.reason_string));
                    } else {
                        it->second.done->set(PublishResult{static_cast<std::uint8_t>(a.reason), opt_string(a.properties.reason_string)});
                    }
                }
                inflight_.erase(it);
                pump();
                return true;
            }
            case PacketType::Pubrec: {
                const auto& a = std::get<codec::Pubrec>(packet);
                auto it = inflight_.find(a.packet_id);
                if (it == inflight_.end() || it->second.stage == OutMessage::Stage::AwaitPuback) {
                    if (c.version == codec::ProtocolVersion::V5) {
                        send(c, ack<codec::Pubrel>(a.packet_id, ReasonCode::PacketIdentifierNotFound));
                    } else {
                        send(c, ack<codec::Pubrel>(a.packet_id));
                    }
                    return true;
                }
                if (codec::is_error(a.reason)) {
                    if (it->second.done) {
                        it->second.done->set(client::refused(a.reason, PacketType::Pubrec, a.properties.reason_string));
                    }
                    inflight_.erase(it);
                    pump();
                    return true;
                }
                it->second.stage = OutMessage::Stage::AwaitPubcomp;
                it->second.pubrec_reason = static_cast<std::uint8_t>(a.reason);
                it->second.reason_string = opt_string(a.properties.reason_string);
                send(c, ack<codec::Pubrel>(a.packet_id));
                return true;
            }
            case PacketType::Pubcomp: {
                const auto& a = std::get<codec::Pubcomp>(packet);
                auto it = inflight_.find(a.packet_id);
                if (it == inflight_.end() || it->second.stage != OutMessage::Stage::AwaitPubcomp) return true;
                if (it->second.done) {
                    it->second.done->set(PublishResult{it->second.pubrec_reason, it->second.reason_string});
                }
                inflight_.erase(it);
                pump();
                return true;
            }
            case PacketType::Pubrel: {
                const auto& a = std::get<codec::Pubrel>(packet);
                const bool known = inbound_qos2_.erase(a.packet_id) > 0;
                auto comp = ack<codec::Pubcomp>(a.packet_id);
                if (!known && c.version == codec::ProtocolVersion::V5) comp.reason = ReasonCode::PacketIdentifierNotFound;
                send(c, comp);
                return true;
            }
            case PacketType::Suback: {
                const auto& a = std::get<codec::Suback>(packet);
                auto node = sub_pending_.extract(a.packet_id);
                if (node.empty()) return true;
                auto& pending = node.mapped();
                SubscribeResult result;
                bool any_granted = false;
                for (std::size_t i = 0; i < a.reason_codes.size(); ++i) {
                    result.reason_codes.push_back(static_cast<std::uint8_t>(a.reason_codes[i]));
                    if (!codec::is_error(a.reason_codes[i]) && i < pending.subscriptions.size()) {
                        any_granted = true;
                        const auto& s = pending.subscriptions[i];
                        subscriptions_[s.filter] = {s.options, pending.subscription_id};
                    }
                }
                result.reason_string = opt_string(a.properties.reason_string);
                result.user_properties = client::copy_user_properties(a.properties.user_properties);
                if (pending.done) {
                    if (!any_granted && !a.reason_codes.empty()) {
                        pending.done->set(client::refused(a.reason_codes[0], PacketType::Suback,
                                                          a.properties.reason_string));
                    } else {
                        pending.done->set(std::move(result));
                    }
                }
                return true;
            }
            case PacketType::Unsuback: {
                const auto& a = std::get<codec::Unsuback>(packet);
                auto node = unsub_pending_.extract(a.packet_id);
                if (node.empty()) return true;
                UnsubscribeResult result;
                for (auto rc : a.reason_codes) result.reason_codes.push_back(static_cast<std::uint8_t>(rc));
                for (const auto& f : node.mapped().filters) subscriptions_.erase(f);
                if (node.mapped().done) node.mapped().done->set(std::move(result));
                return true;
            }
            case PacketType::Pingresp: c.ping_outstanding = false; return true;
            case PacketType::Disconnect: {
                const auto& d = std::get<codec::Disconnect>(packet);
                auto err = client::refused(d.reason, PacketType::Disconnect, d.properties.reason_string);
                err.message = "disconnected by the broker: " + err.message;
                if (!c.error) c.error = std::move(err);
                return false;
            }
            case PacketType::Auth: return handle_auth(c, std::get<codec::Auth>(packet));
            default:
                fail_connection(c, ReasonCode::ProtocolError,
                                make_error(Error::Kind::Protocol,
                                           "unexpected " + std::string(codec::packet_type_name(codec::packet_type(packet)))));
                return false;
        }
    }

    static std::optional<std::string> opt_string(const std::optional<std::string_view>& s) {
        if (!s) return std::nullopt;
        return std::string(*s);
    }

    bool handle_publish(Connection& c, const codec::Publish& p) {
        std::string topic(p.topic);
        if (p.properties.topic_alias) {
            const auto alias = *p.properties.topic_alias;
            if (alias == 0 || alias > opts_.topic_alias_maximum) {
                fail_connection(c, ReasonCode::TopicAliasInvalid,
                                make_error(Error::Kind::Protocol, "the broker used topic alias " +
                                                                      std::to_string(alias) + " beyond our maximum",
                                           static_cast<std::uint8_t>(ReasonCode::TopicAliasInvalid)));
                return false;
            }
            if (!topic.empty()) {
                c.in_aliases[alias] = topic;
            } else if (auto it = c.in_aliases.find(alias); it != c.in_aliases.end()) {
                topic = it->second;
            } else {
                fail_connection(c, ReasonCode::ProtocolError,
                                make_error(Error::Kind::Protocol,
                                           "the broker used topic alias " + std::to_string(alias) + " before setting it",
                                           static_cast<std::uint8_t>(ReasonCode::ProtocolError)));
                return false;
            }
        } else if (topic.empty()) {
            fail_connection(c, ReasonCode::ProtocolError,
                            make_error(Error::Kind::Protocol, "PUBLISH without a topic",
                                       static_cast<std::uint8_t>(ReasonCode::ProtocolError)));
            return false;
        }
        bool deliver_it = true;
        if (p.qos == codec::QoS::ExactlyOnce) {
            // Delivered once, when first received; a resent PUBLISH with the same id before PUBREL is a duplicate.
            deliver_it = inbound_qos2_.insert(p.packet_id).second;
        }
        if (deliver_it) {
            Message m;
            m.topic = std::move(topic);
            m.payload = client::copy_bytes(p.payload);
            m.qos = static_cast<QoS>(p.qos);
            m.retain = p.retain;
            m.dup = p.dup;
            m.properties = client::copy_message_properties(p.properties);
            deliver(std::move(m));
        }
        if (p.qos == codec::QoS::AtLeastOnce) send(c, ack<codec::Puback>(p.packet_id));
        if (p.qos == codec::QoS::ExactlyOnce) send(c, ack<codec::Pubrec>(p.packet_id));
        return true;
    }

    void deliver(Message m) {
        if (on_message_) {
            on_message_(m);
            return;
        }
        inbox_.push_back(std::move(m));
        receivers_.notify_all();
    }

    bool handle_auth(Connection& c, const codec::Auth& a) {
        if (a.reason == ReasonCode::Success) {
            if (reauth_) {
                reauth_->set(Result<void>());
                reauth_.reset();
            }
            return true;
        }
        if (a.reason != ReasonCode::ContinueAuthentication || !opts_.on_auth) {
            fail_connection(c, ReasonCode::ProtocolError, make_error(Error::Kind::Protocol, "unexpected AUTH"));
            return false;
        }
        auto answer = opts_.on_auth(a.properties.authentication_data.value_or(codec::Bytes{}));
        if (!answer) {
            if (reauth_) {
                reauth_->set(answer.error());
                reauth_.reset();
            }
            fail_connection(c, ReasonCode::NotAuthorized, answer.error());
            return false;
        }
        codec::Auth reply;
        reply.reason = ReasonCode::ContinueAuthentication;
        reply.properties.authentication_method = opts_.authentication_method;
        reply.properties.authentication_data = codec::Bytes(*answer);
        send(c, reply);
        return true;
    }

    // ---- losing a connection ----------------------------------------------------------------------------------

    void lost(const std::shared_ptr<Connection>& c) {
        if (c->closed) return;
        c->closed = true;
        c->stream->cancel();
        c->wake.notify_all();
        if (current_ != c) return;
        current_.reset();
        connected_ = false;
        Error err = c->error.value_or(make_error(Error::Kind::Network, "connection lost"));
        for (auto& [id, p] : sub_pending_) {
            if (p.done) p.done->set(err);
        }
        sub_pending_.clear();
        for (auto& [id, p] : unsub_pending_) {
            if (p.done) p.done->set(err);
        }
        unsub_pending_.clear();
        if (reauth_) {
            reauth_->set(err);
            reauth_.reset();
        }
        const bool taken_over = err.kind == Error::Kind::Refused &&
                                err.reason == static_cast<std::uint8_t>(ReasonCode::SessionTakenOver);
        const bool again = opts_.auto_reconnect && !user_closed_ && !taken_over;
        if (!again) fail_session_waiters(err);
        reconnecting_ = again;
        receivers_.notify_all();
        state_waiters_.notify_all();
        if (on_disconnected_) on_disconnected_(err);
        if (again) asio::co_spawn(ex_, reconnect_loop(shared_from_this()), asio::detached);
    }

    // No reconnect will follow: callers waiting on a publish are told now. Messages already sent stay in the
    // session (resent on the next connect with a persistent session); messages never sent are dropped.
    void fail_session_waiters(const Error& err) {
        for (auto& [id, m] : inflight_) {
            if (m.done) {
                m.done->set(err);
                m.done.reset();
            }
        }
        for (auto& m : queue_) {
            if (m.done) m.done->set(err);
        }
        queue_.clear();
    }

    std::chrono::milliseconds backoff(unsigned attempt) {
        // Exponential growth capped at reconnect_max, full jitter between reconnect_min and the cap.
        const auto lo = std::max<std::int64_t>(0, opts_.reconnect_min.count());
        const auto hi_limit = std::max<std::int64_t>(lo, opts_.reconnect_max.count());
        std::int64_t cap = std::max<std::int64_t>(lo, 1);
        for (unsigned i = 0; i < attempt && cap < hi_limit; ++i) cap *= 2;
        cap = std::min(cap, hi_limit);
        std::uniform_int_distribution<std::int64_t> dist(lo, std::max(lo, cap));
        return std::chrono::milliseconds(dist(rng_));
    }

    asio::awaitable<void> reconnect_loop(std::shared_ptr<Impl> self) {
        for (unsigned n = 0; reconnecting_ && !user_closed_; ++n) {
            const auto deadline = Clock::now() + backoff(n);
            while (reconnecting_ && !user_closed_ && Clock::now() < deadline) {
                const bool woken = co_await state_waiters_.wait_until(deadline);
                if (!woken) break;
            }
            if (!reconnecting_ || user_closed_ || current_ || connecting_) co_return;
            auto r = co_await attempt(self);
            if (r) co_return;
        }
    }

    // ---- operations -------------------------------------------------------------------------------------------

    asio::awaitable<Result<PublishResult>> publish([[maybe_unused]] std::shared_ptr<Impl> self, Message message) {
        if (const auto e = codec::validate_topic_name(message.topic); e != codec::TopicError::None) {
            co_return make_error(Error::Kind::InvalidArgument,
                                 "bad topic \"" + message.topic + "\": " + std::string(codec::topic_error_text(e)));
        }
        if (static_cast<std::uint8_t>(message.qos) > 2) co_return make_error(Error::Kind::InvalidArgument, "bad QoS");
        if (current_) {
            const auto& ack = current_->connack;
            if (static_cast<std::uint8_t>(message.qos) > ack.maximum_qos) {
                co_return make_error(Error::Kind::InvalidArgument,
                                     "QoS " + std::to_string(static_cast<int>(message.qos)) +
                                         " exceeds the broker's Maximum QoS " + std::to_string(ack.maximum_qos));
            }
            if (message.retain && !ack.retain_available) {
                co_return make_error(Error::Kind::InvalidArgument, "the broker does not support retained messages");
            }
        } else {
            const bool buffering = reconnecting_ || (connecting_ && opts_.auto_reconnect);
            if (!buffering || opts_.offline_buffer_limit == 0) {
                co_return make_error(Error::Kind::NotConnected, "not connected");
            }
            if (queue_.size() >= opts_.offline_buffer_limit) {
                auto it = std::find_if(queue_.begin(), queue_.end(),
                                       [](const OutMessage& m) { return m.message.qos == QoS::AtMostOnce; });
                if (it == queue_.end()) {
                    co_return make_error(Error::Kind::NotConnected,
                                         "not connected and the offline buffer is full (" +
                                             std::to_string(opts_.offline_buffer_limit) + " messages)");
                }
                queue_.erase(it);
            }
        }
        OutMessage m;
        m.message = std::move(message);
        m.seq = next_seq_++;
        const bool qos0 = m.message.qos == QoS::AtMostOnce;
        std::shared_ptr<Completion<PublishResult>> done;
        if (!qos0) {
            done = std::make_shared<Completion<PublishResult>>();
            m.done = done;
        }
        if (qos0 && current_ && queue_.empty()) {
            if (auto err = send_publish(*current_, m, false, true)) co_return *err;
            co_return PublishResult{};
        }
        queue_.push_back(std::move(m));
        pump();
        if (qos0) co_return PublishResult{};
        co_return co_await done->wait();
    }

    asio::awaitable<Result<SubscribeResult>> subscribe([[maybe_unused]] std::shared_ptr<Impl> self, std::vector<Subscription> subs,
                                                       std::optional<std::uint32_t> sub_id,
                                                       std::vector<UserProperty> user) {
        if (subs.empty()) co_return make_error(Error::Kind::InvalidArgument, "no topic filter");
        for (const auto& s : subs) {
            if (const auto e = codec::validate_topic_filter(s.filter); e != codec::TopicError::None) {
                co_return make_error(Error::Kind::InvalidArgument,
                                     "bad topic filter \"" + s.filter + "\": " + std::string(codec::topic_error_text(e)));
            }
            if (static_cast<std::uint8_t>(s.options.qos) > 2 || s.options.retain_handling > 2) {
                co_return make_error(Error::Kind::InvalidArgument, "bad subscription options for \"" + s.filter + "\"");
            }
        }
        if (sub_id && (*sub_id == 0 || *sub_id > 268'435'455)) {
            co_return make_error(Error::Kind::InvalidArgument, "subscription identifier out of range 1..268435455");
        }
        auto c = current_;
        if (!c) co_return make_error(Error::Kind::NotConnected, "not connected");
        const auto id = allocate_id();
        if (id == 0) co_return make_error(Error::Kind::InvalidArgument, "no packet identifier available");
        auto done = std::make_shared<Completion<SubscribeResult>>();
        send_subscribe(*c, id, subs, v5() ? sub_id : std::nullopt, v5() ? user : std::vector<UserProperty>{});
        sub_pending_.emplace(id, PendingSubscribe{std::move(subs), sub_id, done});
        co_return co_await done->wait();
    }

    asio::awaitable<Result<UnsubscribeResult>> unsubscribe([[maybe_unused]] std::shared_ptr<Impl> self,
                                                           std::vector<std::string> filters) {
        if (filters.empty()) co_return make_error(Error::Kind::InvalidArgument, "no topic filter");
        for (const auto& f : filters) {
            if (const auto e = codec::validate_topic_filter(f); e != codec::TopicError::None) {
                co_return make_error(Error::Kind::InvalidArgument,
                                     "bad topic filter \"" + f + "\": " + std::string(codec::topic_error_text(e)));
            }
        }
        auto c = current_;
        if (!c) co_return make_error(Error::Kind::NotConnected, "not connected");
        const auto id = allocate_id();
        if (id == 0) co_return make_error(Error::Kind::InvalidArgument, "no packet identifier available");
        std::vector<std::string_view> views(filters.begin(), filters.end());
        send(*c, codec::Unsubscribe{.packet_id = id, .properties = {}, .filters = views});
        auto done = std::make_shared<Completion<UnsubscribeResult>>();
        unsub_pending_.emplace(id, PendingUnsubscribe{std::move(filters), done});
        co_return co_await done->wait();
    }

    asio::awaitable<Result<Message>> receive([[maybe_unused]] std::shared_ptr<Impl> self, Clock::time_point deadline) {
        for (;;) {
            if (!inbox_.empty()) {
                Message m = std::move(inbox_.front());
                inbox_.pop_front();
                co_return m;
            }
            if (!current_ && !reconnecting_ && !connecting_) {
                co_return make_error(Error::Kind::Closed, "the client is not connected");
            }
            const bool woken = co_await receivers_.wait_until(deadline);
            if (!woken) {
                co_return make_error(Error::Kind::Timeout, "no message in time");
            }
        }
    }

    asio::awaitable<void> disconnect([[maybe_unused]] std::shared_ptr<Impl> self, std::uint8_t reason,
                                     std::optional<std::uint32_t> session_expiry) {
        user_closed_ = true;
        reconnecting_ = false;
        state_waiters_.notify_all();
        const Error closed = make_error(Error::Kind::Closed, "disconnected by the client");
        if (auto c = current_) {
            codec::Disconnect d;
            d.reason = static_cast<ReasonCode>(reason);
            d.properties.session_expiry_interval = session_expiry;
            send(*c, d);
            co_await flush(*c, Clock::now() + std::min<std::chrono::milliseconds>(opts_.connect_timeout,
                                                                                 std::chrono::seconds(5)));
            if (!c->error) c->error = closed;
            if (!c->closed) {
                try {
                    co_await c->stream->close();
                } catch (const std::exception&) {  // closing anyway
                }
            }
            lost(c);
        }
        fail_session_waiters(closed);
        receivers_.notify_all();
    }

    asio::awaitable<Result<void>> reauthenticate([[maybe_unused]] std::shared_ptr<Impl> self, std::vector<std::byte> data) {
        if (!v5() || opts_.authentication_method.empty()) {
            co_return make_error(Error::Kind::InvalidArgument, "re-authentication needs MQTT 5.0 and an authentication method");
        }
        auto c = current_;
        if (!c) co_return make_error(Error::Kind::NotConnected, "not connected");
        if (reauth_) co_return make_error(Error::Kind::InvalidArgument, "a re-authentication is already running");
        codec::Auth a;
        a.reason = ReasonCode::ReAuthenticate;
        a.properties.authentication_method = opts_.authentication_method;
        a.properties.authentication_data = codec::Bytes(data);
        send(*c, a);
        auto done = std::make_shared<Completion<void>>();
        reauth_ = done;
        co_return co_await done->wait();
    }

    void shutdown() {
        user_closed_ = true;
        reconnecting_ = false;
        on_message_ = nullptr;
        on_connected_ = nullptr;
        on_disconnected_ = nullptr;
        if (auto c = current_) {
            if (!c->error) c->error = make_error(Error::Kind::Closed, "the client was destroyed");
            lost(c);
        }
        fail_session_waiters(make_error(Error::Kind::Closed, "the client was destroyed"));
        state_waiters_.notify_all();
        receivers_.notify_all();
    }
};

namespace {
asio::awaitable<std::unique_ptr<net::Stream>> default_stream_factory(asio::any_io_executor ex,
                                                                     const net::ConnectSettings& settings) {
    co_return co_await net::connect(std::move(ex), settings);
}
}  // namespace

AsyncClient::AsyncClient(asio::any_io_executor ex, ConnectOptions options)
    : AsyncClient(std::move(ex), std::move(options), default_stream_factory) {}

AsyncClient::AsyncClient(asio::any_io_executor ex, ConnectOptions options, StreamFactory stream_factory)
    : impl_(std::make_shared<Impl>(std::move(ex), std::move(options), std::move(stream_factory))) {}

AsyncClient::~AsyncClient() { impl_->shutdown(); }

asio::awaitable<Result<ConnectResult>> AsyncClient::connect() {
    auto self = impl_;
    co_return co_await self->connect(self);
}

asio::awaitable<Result<PublishResult>> AsyncClient::publish(Message message) {
    auto self = impl_;
    co_return co_await self->publish(self, std::move(message));
}

asio::awaitable<Result<SubscribeResult>> AsyncClient::subscribe(std::vector<Subscription> subscriptions,
                                                                std::optional<std::uint32_t> subscription_id,
                                                                std::vector<UserProperty> user_properties) {
    auto self = impl_;
    co_return co_await self->subscribe(self, std::move(subscriptions), subscription_id, std::move(user_properties));
}

asio::awaitable<Result<UnsubscribeResult>> AsyncClient::unsubscribe(std::vector<std::string> filters) {
    auto self = impl_;
    co_return co_await self->unsubscribe(self, std::move(filters));
}

asio::awaitable<Result<Message>> AsyncClient::receive() {
    auto self = impl_;
    co_return co_await self->receive(self, Clock::time_point::max());
}

asio::awaitable<Result<Message>> AsyncClient::receive(std::chrono::milliseconds timeout) {
    auto self = impl_;
    co_return co_await self->receive(self, Clock::now() + timeout);
}

asio::awaitable<void> AsyncClient::disconnect(std::uint8_t reason, std::optional<std::uint32_t> session_expiry) {
    auto self = impl_;
    co_await self->disconnect(self, reason, session_expiry);
}

asio::awaitable<Result<void>> AsyncClient::reauthenticate(std::vector<std::byte> data) {
    auto self = impl_;
    co_return co_await self->reauthenticate(self, std::move(data));
}

void AsyncClient::on_message(std::function<void(const Message&)> callback) { impl_->on_message_ = std::move(callback); }
void AsyncClient::on_connected(std::function<void(const ConnectResult&)> callback) {
    impl_->on_connected_ = std::move(callback);
}
void AsyncClient::on_disconnected(std::function<void(const Error&)> callback) {
    impl_->on_disconnected_ = std::move(callback);
}
bool AsyncClient::connected() const { return impl_->connected_.load(); }
bool AsyncClient::reconnecting() const { return impl_->reconnecting_; }
std::optional<ConnectResult> AsyncClient::last_connect() const { return impl_->last_connect_; }
const ConnectOptions& AsyncClient::options() const { return impl_->opts_; }

}  // namespace moth
