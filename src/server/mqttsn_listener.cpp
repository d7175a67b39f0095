#include "server/mqttsn_listener.hpp"

#include <sys/socket.h>

#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>

#include "broker/ids.hpp"
#include "common/error_text.hpp"
#include "net/dtls.hpp"
#include "server/mqttsn_sessions.hpp"
#include "server/server.hpp"
#include "server/tls.hpp"
#include "server/worker.hpp"

namespace moth::server::detail {

namespace asio = boost::asio;
using udp = asio::ip::udp;

namespace {

constexpr std::size_t kMaxDatagram = 65'535;
constexpr std::size_t kMaxHandshakes = 1'000;            // DTLS associations not yet established, at once
constexpr auto kSweep = std::chrono::milliseconds(500);  // DTLS handshake timers and stale peers
constexpr auto kHandshakeLimit = std::chrono::seconds(30);
constexpr auto kIdleAssociation = std::chrono::seconds(60);  // established, yet no CONNECT
constexpr int kReceiveBuffer = 4 * 1024 * 1024;  // bursts of thousands of clients' datagrams between two reads
constexpr int kDrainPerWakeup = 64;

asio::ip::address unmapped(const asio::ip::address& a) {
    if (a.is_v6() && a.to_v6().is_v4_mapped()) return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
    return a;
}

bool glob_match(std::string_view pattern, std::string_view text) {
    // '*' matches any run of characters; iterative with one backtrack point.
    std::size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
    while (t < text.size()) {
        if (p < pattern.size() && pattern[p] == '*') {
            star = p++;
            mark = t;
        } else if (p < pattern.size() && pattern[p] == text[t]) {
            ++p, ++t;
        } else if (star != std::string_view::npos) {
            p = star + 1;
            t = ++mark;
        } else {
            return false;
        }
    }
    while (p < pattern.size() && pattern[p] == '*') ++p;
    return p == pattern.size();
}

udp::endpoint bind_endpoint(const config::Listener& l, std::size_t index, const std::string& name) {
    boost::system::error_code ec;
    const auto address = asio::ip::make_address(l.bind, ec);
    if (!ec) return {address, l.port};
    asio::io_context ioc;
    udp::resolver resolver(ioc);
    const auto results = resolver.resolve(l.bind, std::to_string(l.port), ec);
    if (ec || results.empty()) {
        throw ListenerStartError(index, "bind", "listener " + name + ": cannot resolve " + l.bind + ": " + ec.message());
    }
    return results.begin()->endpoint();
}

}  // namespace

std::string endpoint_key(const udp::endpoint& e) {
    const auto a = unmapped(e.address());
    if (a.is_v6()) return "[" + a.to_string() + "]:" + std::to_string(e.port());
    return a.to_string() + ":" + std::to_string(e.port());
}

struct SnListener::Peer {
    std::optional<unsigned> owner;  // the worker of its session, once a CONNECT was admitted
    std::uint64_t epoch = 0;        // which admission (a later CONNECT routes the address anew)
    std::unique_ptr<net::DtlsPeer> dtls;
    std::chrono::steady_clock::time_point since;
    udp::endpoint endpoint;
};

SnListener::SnListener(std::string name, std::size_t index, const config::Listener& listener,
                       const config::Config& config, std::vector<Worker*> workers, unsigned reader,
                       const broker::Authorizer* authorizer)
    : name_(std::move(name)),
      cfg_(listener),
      sn_(config.mqttsn),
      allow_anonymous_(config::anonymous_allowed(listener, config.auth)),
      workers_(std::move(workers)),
      reader_(reader),
      socket_(workers_.at(reader)->ioc()),
      buffer_(kMaxDatagram),
      sweep_timer_(workers_.at(reader)->ioc()),
      advertise_timer_(workers_.at(reader)->ioc()),
      authorizer_(authorizer) {
    tag_ = std::make_shared<const broker::ListenerTag>(
        broker::ListenerTag{name_, std::string(config::to_string(listener.kind)), nullptr});
    auto predefined = std::make_shared<mqttsn::PredefinedTopics>();
    for (const auto& [id, topic] : sn_.predefined) {
        predefined->by_id.emplace(id, topic);
        predefined->by_name.emplace(topic, id);
    }
    settings_.predefined = std::move(predefined);
    settings_.retry_interval = std::chrono::milliseconds(sn_.retry_interval_ms);
    settings_.max_retries = sn_.max_retries;
    settings_.sleep_buffer = sn_.sleep_buffer;
    settings_.max_inflight = static_cast<std::uint16_t>(sn_.max_inflight);
    settings_.max_registrations = static_cast<std::uint16_t>(sn_.max_registrations);
    settings_.session_expiry_s = sn_.session_expiry_s;
    settings_.max_datagram = sn_.max_datagram;
    if (listener.kind == config::ListenerKind::MqttSns) {
        settings_.max_datagram = std::min<std::size_t>(settings_.max_datagram, net::kDtlsMaxPlaintext);
    }
    if (!sn_.username.empty()) username_ = sn_.username;
    for (const auto& a : sn_.allow_addresses) {
        if (auto range = parse_cidr(a)) allowed_.push_back(*range);
    }

    const auto at = bind_endpoint(listener, index, name_);
    boost::system::error_code ec;
    socket_.open(at.protocol(), ec);
    if (!ec && at.address().is_v6()) socket_.set_option(asio::ip::v6_only(false), ec);  // "::" takes IPv4 too
    if (!ec) socket_.bind(at, ec);
    if (ec) {
        throw ListenerStartError(index, "port",
                                 "listener " + name_ + ": cannot bind UDP " + listener.bind + " port " +
                                     std::to_string(listener.port) + ": " + ec.message());
    }
    socket_.non_blocking(true, ec);
    socket_.set_option(asio::socket_base::receive_buffer_size(kReceiveBuffer), ec);
    socket_.set_option(asio::socket_base::send_buffer_size(kReceiveBuffer), ec);

    if (listener.kind == config::ListenerKind::MqttSns) {
        std::string cert = listener.cert_file, key = listener.key_file;
        try {
            if (cert.empty() && key.empty()) {
                const auto dev = ensure_dev_certificate(config.data_dir);
                cert = dev.cert_file;
                key = dev.key_file;
            }
            dtls_ = net::make_dtls_server_context(cert, key, listener.ca_file, listener.require_client_cert);
        } catch (const std::exception& e) {
            throw ListenerStartError(index, "cert_file", "listener " + name_ + ": " + common::error_text(e.what()));
        }
    }
    for (auto* w : workers_) sessions_.push_back(std::make_unique<SnSessions>(*w, *this));
}

SnListener::~SnListener() = default;

udp::endpoint SnListener::local_endpoint() const {
    boost::system::error_code ec;
    return socket_.local_endpoint(ec);
}

void SnListener::start() {
    asio::post(workers_[reader_]->ioc(), [this] {
        receive();
        if (dtls_) sweep();
        const auto local = unmapped(local_endpoint().address());
        // Loopback-only listeners do not advertise unless told where to (advertise_address).
        const bool quiet = local.is_loopback() && sn_.advertise_address.empty();
        if (sn_.advertise_interval_s > 0 && !quiet) advertise();
    });
}

void SnListener::stop() {
    asio::post(workers_[reader_]->ioc(), [this] {
        stopped_ = true;
        boost::system::error_code ec;
        socket_.cancel(ec);
        sweep_timer_.cancel();
        advertise_timer_.cancel();
    });
    for (std::size_t i = 0; i < workers_.size(); ++i) {
        asio::post(workers_[i]->ioc(), [s = sessions_[i].get()] { s->stop(); });
    }
}

void SnListener::receive() {
    socket_.async_receive_from(asio::buffer(buffer_), from_, [this](const boost::system::error_code& ec, std::size_t n) {
        if (stopped_ || ec == asio::error::operation_aborted) return;
        if (!ec) on_datagram(from_, std::span(buffer_).first(n));
        // Whatever else is waiting is read now, in the same wake-up.
        for (int i = 0; i < kDrainPerWakeup && !stopped_; ++i) {
            boost::system::error_code e;
            udp::endpoint from;
            const std::size_t got = socket_.receive_from(asio::buffer(buffer_), from, 0, e);
            if (e) break;
            on_datagram(from, std::span(buffer_).first(got));
        }
        workers_[reader_]->schedule_flush();  // a QoS -1 publish went through this worker's core
        if (!stopped_) receive();
    });
}

bool SnListener::address_allowed(const asio::ip::address& a) const {
    if (allowed_.empty()) return true;
    const auto plain = unmapped(a);
    for (const auto& range : allowed_) {
        if (cidr_contains(range, plain.to_string())) return true;
    }
    return false;
}

bool SnListener::client_id_allowed(const std::string& id) const {
    if (sn_.client_ids.empty()) return true;
    for (const auto& pattern : sn_.client_ids) {
        if (glob_match(pattern, id)) return true;
    }
    return false;
}

void SnListener::on_datagram(const udp::endpoint& from, std::span<const std::byte> bytes) {
    counters_.datagrams_in.fetch_add(1, std::memory_order_relaxed);
    if (!address_allowed(from.address())) {
        counters_.refused.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    const std::string key = endpoint_key(from);
    if (dtls_) {
        on_dtls(from, key, bytes);
    } else {
        on_message(from, key, bytes);
    }
}

void SnListener::on_dtls(const udp::endpoint& from, const std::string& key, std::span<const std::byte> bytes) {
    auto it = peers_.find(key);
    if (it == peers_.end() || !it->second->dtls) {
        if (!net::DtlsPeer::looks_like_handshake(bytes) || handshaking_ >= kMaxHandshakes) {
            counters_.malformed.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        if (it == peers_.end()) it = peers_.emplace(key, std::make_unique<Peer>()).first;
        it->second->endpoint = from;
        it->second->dtls = net::DtlsPeer::server(dtls_, key);
        it->second->since = std::chrono::steady_clock::now();
        ++handshaking_;
    }
    net::Datagrams app, wire;
    const bool was_established = it->second->dtls->established();
    const bool ok = it->second->dtls->on_datagram(bytes, app, wire);
    if (!was_established && it->second->dtls->established()) --handshaking_;
    send_wire(from, wire);
    if (!ok) {
        if (const auto owner = it->second->owner) {
            asio::post(workers_[*owner]->ioc(), [s = sessions_[*owner].get(), key] { s->on_gone(key); });
            counters_.clients.fetch_sub(1, std::memory_order_relaxed);
        }
        erase_peer(it);
        return;
    }
    for (const auto& plain : app) on_message(from, key, plain);
}

void SnListener::on_message(const udp::endpoint& from, const std::string& key, std::span<const std::byte> bytes) {
    auto r = mqttsn::decode(bytes);
    if (r.status != mqttsn::DecodeStatus::Ok) {
        counters_.malformed.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    dispatch(from, key, std::move(r));
}

void SnListener::dispatch(const udp::endpoint& from, const std::string& address_key, mqttsn::DecodeResult r) {
    // Behind a forwarder (5.5), each radio node is its own client: the node id joins the key.
    std::string key = address_key;
    if (r.forwarder) {
        static constexpr char kHex[] = "0123456789abcdef";
        key += '/';
        for (const auto b : r.forwarder->node_id) {
            key += kHex[std::to_integer<unsigned>(b) >> 4U];
            key += kHex[std::to_integer<unsigned>(b) & 15U];
        }
    }
    auto& p = r.packet;
    switch (mqttsn::msg_type(p)) {
        case mqttsn::MsgType::SearchGw:
            reply(from, mqttsn::GwInfo{static_cast<std::uint8_t>(sn_.gateway_id), {}}, r.forwarder);
            return;
        case mqttsn::MsgType::Advertise:
        case mqttsn::MsgType::GwInfo:
            return;  // another gateway's, or a client answering for one: nothing for us
        case mqttsn::MsgType::Connect:
            if (!admit_connect(from, key, std::get<mqttsn::Connect>(p), r.forwarder)) return;
            break;
        default:
            break;
    }
    const auto it = peers_.find(key);
    const bool routed = it != peers_.end() && it->second->owner;
    if (!routed) {
        if (const auto* pub = std::get_if<mqttsn::Publish>(&p); pub != nullptr && pub->flags.qos == -1) {
            publish_unconnected(*pub);
        } else if (!std::holds_alternative<mqttsn::PingResp>(p)) {
            // Not connected (the gateway restarted, or the session ended): DISCONNECT tells the client to connect.
            // A DISCONNECT too: it is a client's resend whose answer was lost, and it waits for one (6.13).
            reply(from, mqttsn::Disconnect{}, r.forwarder);
        }
        return;
    }
    const unsigned owner = *it->second->owner;
    asio::post(workers_[owner]->ioc(), [s = sessions_[owner].get(), from, key, epoch = it->second->epoch,
                                        packet = std::move(p), fwd = std::move(r.forwarder)] {
        s->on_packet(from, key, epoch, packet, fwd);
    });
}

bool SnListener::admit_connect(const udp::endpoint& from, const std::string& key, const mqttsn::Connect& c,
                               const std::optional<mqttsn::Forwarder>& fwd) {
    auto it = peers_.find(key);
    const bool routed = it != peers_.end() && it->second->owner;
    const bool full = cfg_.max_connections != 0 &&
                      counters_.clients.load(std::memory_order_relaxed) >= cfg_.max_connections && !routed;
    if (c.client_id.empty() || !client_id_allowed(c.client_id) || full) {
        counters_.refused.fetch_add(1, std::memory_order_relaxed);
        reply(from, mqttsn::Connack{full ? mqttsn::ReturnCode::Congestion : mqttsn::ReturnCode::NotSupported}, fwd);
        return false;
    }
    const unsigned owner = broker::owner_worker(c.client_id, static_cast<unsigned>(workers_.size()));
    if (it == peers_.end()) {
        it = peers_.emplace(key, std::make_unique<Peer>()).first;
        it->second->since = std::chrono::steady_clock::now();
        it->second->endpoint = from;
    }
    Peer& peer = *it->second;
    if (!peer.owner) {
        counters_.clients.fetch_add(1, std::memory_order_relaxed);
    } else if (*peer.owner != owner) {
        // Another client id from the same address: the old session's client is gone.
        asio::post(workers_[*peer.owner]->ioc(), [s = sessions_[*peer.owner].get(), key] { s->on_gone(key); });
    }
    if (!peer.owner || *peer.owner != owner) peer.epoch = next_epoch_++;
    peer.owner = owner;
    return true;
}

void SnListener::publish_unconnected(const mqttsn::Publish& p) {
    const auto refuse = [this] { counters_.refused.fetch_add(1, std::memory_order_relaxed); };
    if (!sn_.qos_minus_one || (!username_ && !allow_anonymous_)) return refuse();
    const auto topic = mqttsn::qos_minus_one_topic(p, settings_.predefined.get());
    if (!topic) return refuse();
    if (authorizer_ != nullptr) {
        broker::Identity who;
        who.username = username_.value_or("");
        who.anonymous = !username_;
        who.listener = name_;
        if (!authorizer_->allows(who, *topic, broker::Access::Write)) return refuse();
    }
    broker::BrokerPublish bp;
    bp.topic = *topic;
    bp.payload = p.data;
    bp.retain = p.flags.retain;
    auto& core = workers_[reader_]->core();
    if (core.refuse_publish(bp)) return refuse();
    core.publish(bp, std::chrono::steady_clock::now());
    counters_.qos_minus_one.fetch_add(1, std::memory_order_relaxed);
}

void SnListener::reply(const udp::endpoint& to, const mqttsn::Packet& p, const std::optional<mqttsn::Forwarder>& fwd) {
    auto datagram = mqttsn::encode(p, fwd);
    if (!dtls_) return send_now(to, datagram);
    const auto it = peers_.find(endpoint_key(to));
    if (it == peers_.end() || !it->second->dtls) return;
    net::Datagrams wire;
    it->second->dtls->send(datagram, wire);
    send_wire(to, wire);
}

void SnListener::send(const udp::endpoint& to, mqttsn::Buffer datagram) {
    if (!dtls_) return send_now(to, datagram);
    asio::post(workers_[reader_]->ioc(), [this, to, datagram = std::move(datagram)] {
        const auto it = peers_.find(endpoint_key(to));
        if (it == peers_.end() || !it->second->dtls) return;
        net::Datagrams wire;
        it->second->dtls->send(datagram, wire);
        send_wire(to, wire);
    });
}

void SnListener::send_now(const udp::endpoint& to, std::span<const std::byte> datagram) {
    // Any thread: one sendto on the shared descriptor (the kernel keeps datagrams whole); a full buffer drops it,
    // as the network could, and the gateway's retransmission covers what needs it.
    const auto n = ::sendto(const_cast<udp::socket&>(socket_).native_handle(), datagram.data(), datagram.size(),
                            MSG_DONTWAIT | MSG_NOSIGNAL, to.data(), static_cast<socklen_t>(to.size()));
    (n < 0 ? counters_.send_failures : counters_.datagrams_out).fetch_add(1, std::memory_order_relaxed);
}

void SnListener::send_wire(const udp::endpoint& to, std::vector<std::vector<std::byte>>& wire) {
    for (const auto& d : wire) send_now(to, d);
    wire.clear();
}

void SnListener::forget(const std::string& key, unsigned owner, std::uint64_t epoch) {
    asio::post(workers_[reader_]->ioc(), [this, key, owner, epoch] {
        const auto it = peers_.find(key);
        if (it == peers_.end() || it->second->owner != owner || it->second->epoch != epoch) return;
        counters_.clients.fetch_sub(1, std::memory_order_relaxed);
        if (it->second->dtls) {
            // The association stays for a while (the client may connect again at once); sweep() ends it.
            it->second->owner.reset();
            it->second->since = std::chrono::steady_clock::now();
            return;
        }
        erase_peer(it);
    });
}

SnListener::Peers::iterator SnListener::erase_peer(Peers::iterator it) {
    if (it->second->dtls && !it->second->dtls->established()) --handshaking_;
    return peers_.erase(it);
}

void SnListener::sweep() {
    const auto now = std::chrono::steady_clock::now();
    for (auto it = peers_.begin(); it != peers_.end();) {
        Peer& p = *it->second;
        bool drop = false;
        if (p.dtls) {
            net::Datagrams wire;
            if (const auto t = p.dtls->next_timer(); t && *t <= now) drop = !p.dtls->on_timer(wire);
            drop = drop || (!p.dtls->established() && now - p.since > kHandshakeLimit) ||
                   (p.dtls->established() && !p.owner && now - p.since > kIdleAssociation);
            send_wire(p.endpoint, wire);
        }
        if (drop) {
            if (p.owner) {
                asio::post(workers_[*p.owner]->ioc(), [s = sessions_[*p.owner].get(), key = it->first] {
                    s->on_gone(key);
                });
                counters_.clients.fetch_sub(1, std::memory_order_relaxed);
            }
            it = erase_peer(it);
        } else {
            ++it;
        }
    }
    if (stopped_) return;
    sweep_timer_.expires_after(kSweep);
    sweep_timer_.async_wait([this](const boost::system::error_code& ec) {
        if (!ec && !stopped_) sweep();
    });
}

void SnListener::advertise() {
    boost::system::error_code ec;
    const auto local = local_endpoint();
    udp::endpoint to(local.address().is_v6() ? asio::ip::address(asio::ip::make_address_v6("ff02::1"))
                                             : asio::ip::address(asio::ip::address_v4::broadcast()),
                     local.port());
    if (const auto target = config::advertise_target(sn_.advertise_address)) {
        to = udp::endpoint(asio::ip::make_address(target->ip, ec), target->port != 0 ? target->port : local.port());
    }
    socket_.set_option(asio::socket_base::broadcast(true), ec);
    const auto datagram = mqttsn::encode(mqttsn::Advertise{static_cast<std::uint8_t>(sn_.gateway_id),
                                                           static_cast<std::uint16_t>(sn_.advertise_interval_s)});
    if (!dtls_) send_now(to, datagram);  // DTLS: no unencrypted broadcast
    advertise_timer_.expires_after(std::chrono::seconds(sn_.advertise_interval_s));
    advertise_timer_.async_wait([this](const boost::system::error_code& e) {
        if (!e && !stopped_) advertise();
    });
}

}  // namespace moth::server::detail
