#include "bridge/bridge.hpp"

#include <algorithm>
#include <random>

#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "broker/admin.hpp"
#include "net/stream.hpp"

namespace moth::bridge {

namespace asio = boost::asio;

namespace {

std::string host_name() {
    char buf[256] = {};
    if (gethostname(buf, sizeof(buf) - 1) != 0) return {};
    return buf;
}

std::int64_t unix_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// What goes on with a message: its properties except the receiver's own (subscription identifiers).
MessageProperties carried(const MessageProperties& p) {
    MessageProperties out = p;
    out.subscription_identifiers.clear();
    return out;
}

std::vector<moth::Subscription> subscriptions(const std::vector<Subscription>& filters, bool no_local,
                                              std::uint8_t min_qos) {
    std::vector<moth::Subscription> out;
    for (const auto& f : filters) {
        moth::Subscription s;
        s.filter = f.filter;
        s.options.qos = static_cast<QoS>(std::max(f.qos, min_qos));
        s.options.no_local = no_local;        // our own messages never come back to us
        s.options.retain_as_published = true;  // the retain flag goes on as published
        out.push_back(std::move(s));
    }
    return out;
}

}  // namespace

Bridge::Bridge(asio::any_io_executor ex, config::Bridge config, LocalConnector local, Log log, StateSink state)
    : ex_(ex),
      config_(std::move(config)),
      map_(config_.topics),
      connect_local_(std::move(local)),
      log_(std::move(log)),
      state_(std::move(state)),
      wake_(ex) {}

Bridge::~Bridge() = default;

void Bridge::start() {
    asio::co_spawn(ex_, [self = shared_from_this()]() -> asio::awaitable<void> { co_await self->run(); },
                   asio::detached);
}

void Bridge::stop(std::function<void()> done, bool forget) {
    stopping_ = true;
    forget_ = forget;
    stopped_ = std::move(done);
    wake_.cancel();
}

BridgeStatus Bridge::status() const {
    BridgeStatus s;
    s.name = config_.name;
    s.connected = connected_.load();
    {
        std::lock_guard lock(mutex_);
        s.address = address_;
        s.last_error = last_error_;
    }
    s.sent = sent_.load();
    s.received = received_.load();
    s.refused = refused_.load();
    s.reconnects = reconnects_.load();
    s.connected_since_unix_ms = connected_since_.load();
    return s;
}

void Bridge::set_error(std::string why) {
    if (log_) log_(2, "bridge " + config_.name + ": " + why);
    std::lock_guard lock(mutex_);
    last_error_ = std::move(why);
}

std::chrono::milliseconds Bridge::jittered(std::chrono::milliseconds ceiling) {
    // Between the minimum and the current ceiling, at random: brokers restarted together are not all hit at once.
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    const auto low = std::min<std::int64_t>(config_.reconnect_min_ms, ceiling.count());
    std::uniform_int_distribution<std::int64_t> pick(low, ceiling.count());
    return std::chrono::milliseconds(pick(rng));
}

asio::awaitable<void> Bridge::run() {
    auto self = shared_from_this();
    const std::chrono::milliseconds floor(config_.reconnect_min_ms);
    const std::chrono::milliseconds cap(config_.reconnect_max_ms);
    auto ceiling = floor;
    if (state_) state_(config_.name, false);
    co_await prime_local_session();
    for (bool first = true; !stopping_; first = false) {
        if (!first) ++reconnects_;
        if (co_await session()) ceiling = floor;  // it was up: start the back-off over
        if (stopping_) break;
        wake_.expires_after(jittered(ceiling));
        boost::system::error_code ec;
        co_await wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        ceiling = std::min(ceiling * 2, cap);
    }
    if (state_) state_(config_.name, false);
    if (forget_) co_await end_local_session();
    if (stopped_) asio::post(ex_, std::exchange(stopped_, nullptr));
}

asio::awaitable<void> Bridge::prime_local_session() {
    // The local session and its subscriptions exist from the start, so that what is published before the remote
    // was ever reached is queued too. Messages delivered meanwhile stay unacknowledged: they come again later.
    AsyncClient local(ex_, local_options(), [connect = connect_local_](asio::any_io_executor ex,
                                                                        const net::ConnectSettings&)
                                                -> asio::awaitable<std::unique_ptr<net::Stream>> { co_return connect(ex); });
    if (auto r = co_await local.connect(); !r) {
        set_error("local session: " + r.error().message);
        co_return;
    }
    co_await subscribe_local(local);
    co_await local.disconnect();
}

asio::awaitable<void> Bridge::end_local_session() {
    // A bridge taken out of the config: its session (subscriptions, backlog) would otherwise stay, filling up.
    auto o = local_options();
    o.clean_start = true;
    o.session_expiry_interval = 0;
    AsyncClient local(ex_, o, [connect = connect_local_](asio::any_io_executor ex, const net::ConnectSettings&)
                                  -> asio::awaitable<std::unique_ptr<net::Stream>> { co_return connect(ex); });
    if (auto r = co_await local.connect(); r) {
        co_await local.disconnect();
        if (log_) log_(1, "bridge " + config_.name + ": its local session and backlog are discarded");
    }
}

ConnectOptions Bridge::remote_options(const std::string& url) const {
    ConnectOptions o;
    o.url = url;
    o.version = config_.protocol == config::BridgeProtocol::V5 ? ProtocolVersion::V5 : ProtocolVersion::V3_1_1;
    o.client_id = config::bridge_client_id(config_, host_name());
    o.clean_start = config_.clean_start;
    o.keep_alive_s = config_.keepalive_s;
    o.session_expiry_interval = config_.session_expiry_s;
    o.username = config_.username;
    o.password = config_.password;
    o.receive_maximum = config_.max_inflight;
    o.tls.ca_file = config_.ca_file;
    o.tls.cert_file = config_.cert_file;
    o.tls.key_file = config_.key_file;
    o.tls.sni = config_.sni;
    o.tls.insecure = config_.tls_insecure;
    o.connect_timeout = std::chrono::seconds(5);
    o.bridge = config_.try_private;  // 3.1.1 only: the remote neither echoes nor clears our retain flags
    o.manual_ack = true;             // acknowledged once this broker has the message
    o.offline_buffer_limit = 0;
    return o;
}

ConnectOptions Bridge::local_options() const {
    ConnectOptions o;
    o.url = "mqtt://bridge." + config_.name;  // only named: the connection is in-process
    o.version = ProtocolVersion::V5;
    o.client_id = std::string(broker::kBridgeClientPrefix) + config_.name;
    o.clean_start = false;                     // the session is the store-and-forward queue
    o.session_expiry_interval = 0xFFFFFFFF;    // kept however long the link is down
    o.keep_alive_s = 0;
    o.receive_maximum = config_.max_inflight;  // at most this many on their way out at once
    o.use_topic_aliases = false;
    o.manual_ack = true;  // acknowledged once the remote has the message
    o.offline_buffer_limit = 0;
    return o;
}

asio::awaitable<bool> Bridge::session() {
    const std::string url = config_.addresses[next_address_ % config_.addresses.size()];
    {
        std::lock_guard lock(mutex_);
        address_ = url;
    }
    link_lost_ = false;
    const auto generation = ++generation_;
    const std::weak_ptr<Bridge> weak = weak_from_this();
    auto lost = [weak, generation](std::string side) {
        return [weak, generation, side](const Error& e) {
            if (auto b = weak.lock(); b && b->generation_ == generation) b->ended(side + e.message);
        };
    };
    remote_ = std::make_shared<AsyncClient>(ex_, remote_options(url));
    remote_->on_message([weak](const Message& m) {
        if (auto b = weak.lock()) b->forward_in(m);
    });
    remote_->on_disconnected(lost("remote " + url + ": "));
    auto remote = remote_;
    if (auto r = co_await remote->connect(); !r) {
        set_error("remote " + url + ": " + r.error().message);
        remote_.reset();
        ++next_address_;  // failover: the next address next time
        co_return false;
    }
    local_ = std::make_shared<AsyncClient>(
        ex_, local_options(),
        [connect = connect_local_](asio::any_io_executor ex,
                                   const net::ConnectSettings&) -> asio::awaitable<std::unique_ptr<net::Stream>> {
            co_return connect(ex);
        });
    local_->on_message([weak](const Message& m) {
        if (auto b = weak.lock()) b->forward_out(m);
    });
    local_->on_disconnected(lost("local session: "));
    auto local = local_;
    if (auto r = co_await local->connect(); !r) {
        set_error("local session: " + r.error().message);
    } else if (!stopping_ && !link_lost_) {
        co_await subscribe_remote(*remote);
        if (!stopping_ && !link_lost_) co_await subscribe_local(*local);
    }
    if (!stopping_ && !link_lost_ && local->connected() && remote->connected()) {
        connected_ = true;
        connected_since_ = unix_ms();
        if (state_) state_(config_.name, true);
        if (log_) log_(1, "bridge " + config_.name + ": connected to " + url);
        while (!stopping_ && !link_lost_) {
            wake_.expires_at(asio::steady_timer::time_point::max());
            boost::system::error_code ec;
            co_await wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        }
        connected_ = false;
        connected_since_ = 0;
        if (state_) state_(config_.name, false);
    }
    ++generation_;  // what the clients report from now on is about a session that is over
    if (remote->connected()) co_await remote->disconnect();
    if (local->connected()) co_await local->disconnect();
    remote_.reset();
    local_.reset();
    co_return true;
}

asio::awaitable<void> Bridge::subscribe_remote(AsyncClient& remote) {
    const bool v5 = config_.protocol == config::BridgeProtocol::V5;
    if (auto in = map_.remote_filters(); !in.empty()) {
        auto r = co_await remote.subscribe(subscriptions(in, v5, 0));
        if (!r) {
            set_error("remote refused the subscriptions: " + r.error().message);
        } else {
            for (std::size_t i = 0; i < r->reason_codes.size() && i < in.size(); ++i) {
                if (r->reason_codes[i] >= 0x80) set_error("remote refused " + in[i].filter + ": " +
                                                          std::string(reason_name(r->reason_codes[i])));
            }
        }
    }
}

asio::awaitable<void> Bridge::subscribe_local(AsyncClient& local) {
    auto out = map_.local_filters();
    std::set<std::string> wanted;
    for (const auto& f : out) wanted.insert(f.filter);
    std::vector<std::string> gone;
    for (const auto& f : local_filters_) {
        if (wanted.count(f) == 0) gone.push_back(f);
    }
    if (!gone.empty()) (void)co_await local.unsubscribe(gone);  // rules removed by a reload
    if (!out.empty()) {
        // queue_qos0: the local subscription is QoS 1 at least, so QoS 0 messages are queued too.
        auto r = co_await local.subscribe(subscriptions(out, true, config_.queue_qos0 ? 1 : 0));
        if (!r) set_error("local subscriptions: " + r.error().message);
    }
    local_filters_ = std::move(wanted);
}

void Bridge::ended(const std::string& why) {
    if (link_lost_) return;
    link_lost_ = true;
    set_error(why);
    wake_.cancel();
}

void Bridge::forward_out(const Message& m) {
    auto local = local_;
    auto remote = remote_;
    if (!local) return;
    const auto mapped = map_.outbound(m.topic, static_cast<std::uint8_t>(m.qos));
    if (!mapped || !remote) {
        // No rule covers it (a subscription left from an older config): acknowledged and dropped. No remote: left
        // unacknowledged; the local session sends it again when the link is back.
        if (!mapped) local->ack(m);
        return;
    }
    Message out;
    out.topic = mapped->topic;
    out.payload = m.payload;
    out.qos = static_cast<QoS>(mapped->qos);
    out.retain = config_.keep_retain && m.retain;
    out.properties = carried(m.properties);
    asio::co_spawn(
        ex_,
        [self = shared_from_this(), local, remote, out = std::move(out), m]() mutable -> asio::awaitable<void> {
            auto r = co_await remote->publish(std::move(out));
            if (!r && r.error().kind != Error::Kind::Refused) co_return;  // the link went: sent again later
            if (!r) {
                ++self->refused_;
                self->set_error("remote refused a message on " + m.topic + ": " + r.error().message);
            } else {
                ++self->sent_;
            }
            local->ack(m);
        },
        asio::detached);
}

void Bridge::forward_in(const Message& m) {
    auto local = local_;
    auto remote = remote_;
    if (!remote) return;
    const auto mapped = map_.inbound(m.topic, static_cast<std::uint8_t>(m.qos));
    if (!mapped || !local || !local->connected()) {
        if (!mapped) remote->ack(m);  // not ours to take (an old subscription): dropped
        return;                       // no local session yet: the remote sends it again
    }
    Message in;
    in.topic = mapped->topic;
    in.payload = m.payload;
    in.qos = static_cast<QoS>(mapped->qos);
    in.retain = config_.keep_retain && m.retain;
    in.properties = carried(m.properties);
    asio::co_spawn(
        ex_,
        [self = shared_from_this(), local, remote, in = std::move(in), m]() mutable -> asio::awaitable<void> {
            auto r = co_await local->publish(std::move(in));
            if (!r && r.error().kind != Error::Kind::Refused) co_return;  // not taken: the remote sends it again
            if (!r) {
                ++self->refused_;
                self->set_error("this broker refused a message on " + m.topic + ": " + r.error().message);
            } else {
                ++self->received_;
            }
            remote->ack(m);
        },
        asio::detached);
}

}  // namespace moth::bridge
