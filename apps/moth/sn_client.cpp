// The MQTT-SN client on one UDP socket (sn_client.hpp).
#include "sn_client.hpp"

#include <array>
#include <type_traits>

#include <boost/asio/append.hpp>
#include <boost/asio/post.hpp>

namespace moth::cli::sn {
namespace {

using Clock = std::chrono::steady_clock;

std::string_view rc_text(mqttsn::ReturnCode rc) {
    switch (rc) {
        case mqttsn::ReturnCode::Accepted:
            return "accepted";
        case mqttsn::ReturnCode::Congestion:
            return "congestion";
        case mqttsn::ReturnCode::InvalidTopicId:
            return "invalid topic id";
        case mqttsn::ReturnCode::NotSupported:
            return "not supported";
    }
    return "unknown return code";
}

// The return code carried by an answer, when it has one.
std::optional<mqttsn::ReturnCode> rc_of(const mqttsn::Packet& p) {
    return std::visit(
        [](const auto& m) -> std::optional<mqttsn::ReturnCode> {
            if constexpr (requires { m.rc; })
                return m.rc;
            else
                return std::nullopt;
        },
        p);
}

// One receive buffer for every client on the thread: a datagram is read only when its socket is readable, and
// handled before the next is read.
std::array<std::byte, 65536>& shared_buffer() {
    thread_local std::array<std::byte, 65536> buffer;
    return buffer;
}

}  // namespace

SnClient::SnClient(asio::any_io_executor ex, ClientConfig config)
    : ex_(ex),
      config_(std::move(config)),
      gateway_text_(endpoint_text(config_.gateway.address().to_string(), config_.gateway.port())),
      socket_(ex),
      timer_(ex),
      book_(config_.retry, config_.tries) {}

SnClient::~SnClient() = default;

std::string SnClient::open() {
    boost::system::error_code ec;
    socket_.open(config_.gateway.protocol(), ec);
    if (!ec) socket_.non_blocking(true, ec);
    if (!ec) socket_.connect(config_.gateway, ec);
    if (ec) return "cannot open a UDP socket to " + gateway_text_ + ": " + ec.message();
    open_ = true;
    if (config_.dtls) {
        // The ClientHello goes now; requests sent before the handshake completes wait inside the peer.
        dtls_ = net::DtlsPeer::client(config_.dtls, config_.server_name);
        net::Datagrams wire;
        const bool ok = dtls_->start(wire);
        send_wire(wire);
        if (!ok) return "DTLS with " + gateway_text_ + " failed: " + dtls_->error();
        arm_timer();
    }
    wait_readable();
    return {};
}

void SnClient::close(const std::string& why) {
    if (!open_) return;
    open_ = false;
    boost::system::error_code ignored;
    socket_.close(ignored);
    timer_.cancel();
    armed_.reset();
    book_.clear([this, &why](auto& e) { complete(e.handler.take(), why, mqttsn::Packet{}); });
}

void SnClient::lose(const std::string& why) {
    if (!open_) return;
    close(why);
    if (on_lost) on_lost(why);
}

void SnClient::set_keepalive(std::chrono::seconds period) {
    keepalive_ = period;
    next_ping_ = Clock::now() + period;
    arm_timer();
}

// ---- requests ------------------------------------------------------------------------------------------------------

void SnClient::start_connect(ConnectParams p, Done h) {
    mqttsn::Connect c;
    c.flags.clean_session = p.clean;
    c.flags.will = p.will_topic.has_value();
    c.duration_s = p.duration_s;
    c.client_id = config_.client_id;
    connecting_ = std::move(p);
    disconnected_ = false;
    request(Await::Connack, 0, mqttsn::Packet{std::move(c)}, std::move(h));
}

void SnClient::start_register(std::string topic, Done h) {
    const auto id = new_msg_id();
    request(Await::Regack, id, mqttsn::Packet{mqttsn::Register{0, id, std::move(topic)}}, std::move(h));
}

void SnClient::start_publish(mqttsn::Publish p, Done h) {
    if (p.flags.qos <= 0) {
        p.msg_id = 0;
        send(mqttsn::Packet{p});
        complete(std::move(h), {}, mqttsn::Packet{std::move(p)});
        return;
    }
    p.msg_id = new_msg_id();
    const auto id = p.msg_id;
    const auto await = p.flags.qos == 1 ? Await::Puback : Await::Pubrec;
    request(await, id, mqttsn::Packet{std::move(p)}, std::move(h));
}

void SnClient::start_subscribe(mqttsn::Subscribe s, Done h) {
    s.msg_id = new_msg_id();
    const auto id = s.msg_id;
    request(Await::Suback, id, mqttsn::Packet{std::move(s)}, std::move(h));
}

void SnClient::start_ping(std::string client_id, Done h) {
    request(Await::PingResp, 0, mqttsn::Packet{mqttsn::PingReq{std::move(client_id)}}, std::move(h));
}

void SnClient::start_disconnect(std::optional<std::uint16_t> duration_s, Done h) {
    keepalive_ = std::chrono::seconds(0);
    request(Await::Disconnect, 0, mqttsn::Packet{mqttsn::Disconnect{duration_s}}, std::move(h));
}

void SnClient::send_disconnect() {
    keepalive_ = std::chrono::seconds(0);
    send(mqttsn::Packet{mqttsn::Disconnect{}});
}

void SnClient::request(Await a, std::uint16_t msg_id, const mqttsn::Packet& p, Done h) {
    if (!open_) {
        complete(std::move(h), "closed", mqttsn::Packet{});
        return;
    }
    auto datagram = mqttsn::encode(p);
    send_raw(datagram);
    book_.add(a, msg_id, std::move(datagram), Clock::now(), std::move(h));
    arm_timer();
}

void SnClient::send(const mqttsn::Packet& p) {
    send_raw(mqttsn::encode(p));
}

void SnClient::send_raw(const mqttsn::Buffer& datagram) {
    if (!open_) return;
    if (dtls_) {
        net::Datagrams wire;
        dtls_->send(datagram, wire);
        return send_wire(wire);
    }
    boost::system::error_code ec;
    // A full send buffer (would_block) or a pending ICMP error (connection_refused: nothing listens yet) loses
    // this datagram only; retransmission covers it, as it covers loss on the network.
    (void)socket_.send(asio::buffer(datagram.data(), datagram.size()), 0, ec);
}

void SnClient::send_wire(const net::Datagrams& wire) {
    for (const auto& d : wire) {
        boost::system::error_code ec;
        (void)socket_.send(asio::buffer(d.data(), d.size()), 0, ec);  // lost ones: DTLS and MQTT-SN both resend
    }
}

void SnClient::complete(Done h, std::string error, mqttsn::Packet answer) {
    // Posted, never called inline: a coroutine resumed from inside the receive handler could close this client
    // while it is still walking its state.
    asio::post(ex_, asio::append(std::move(h), std::move(error), std::move(answer)));
}

std::uint16_t SnClient::new_msg_id() {
    last_msg_id_ = next_msg_id(last_msg_id_, book_);
    return last_msg_id_;
}

// ---- receiving -----------------------------------------------------------------------------------------------------

void SnClient::wait_readable() {
    socket_.async_wait(asio::ip::udp::socket::wait_read, [this](const boost::system::error_code& ec) {
        if (ec == asio::error::operation_aborted || !open_) return;
        auto& buffer = shared_buffer();
        for (int i = 0; i < 64 && open_; ++i) {  // a bounded batch, so one busy socket does not starve the others
            boost::system::error_code rec;
            const auto n = socket_.receive(asio::buffer(buffer), 0, rec);
            if (rec == asio::error::would_block) break;
            if (rec) continue;  // connection_refused (ICMP port unreachable): the gateway is not there yet
            on_wire_datagram(mqttsn::Bytes(buffer.data(), n));
        }
        if (open_) wait_readable();
    });
}

void SnClient::on_wire_datagram(mqttsn::Bytes datagram) {
    if (!dtls_) return on_datagram(datagram);
    net::Datagrams app, wire;
    const bool ok = dtls_->on_datagram(datagram, app, wire);
    send_wire(wire);
    for (const auto& a : app) {
        if (open_) on_datagram(a);
    }
    if (!ok) return lose("DTLS with " + gateway_text_ + " ended: " + dtls_->error());
    arm_timer();  // the handshake's retransmission timer may have moved
}

void SnClient::on_datagram(mqttsn::Bytes datagram) {
    auto r = mqttsn::decode(datagram);
    if (r.status != mqttsn::DecodeStatus::Ok) {
        ++counters_.malformed;
        return;
    }
    const auto& p = r.packet;
    if (const auto* pub = std::get_if<mqttsn::Publish>(&p)) return on_publish(*pub);
    if (const auto* reg = std::get_if<mqttsn::Register>(&p)) {
        // The gateway names a topic id before it publishes with it (a wildcard subscription, section 6.10).
        topics_.learn(reg->topic_id, reg->topic_name);
        return send(mqttsn::Packet{mqttsn::Regack{reg->topic_id, reg->msg_id, mqttsn::ReturnCode::Accepted}});
    }
    if (const auto* rel = std::get_if<mqttsn::Pubrel>(&p)) {
        qos2_.released(rel->msg_id);
        return send(mqttsn::Packet{mqttsn::Pubcomp{rel->msg_id}});
    }
    if (std::holds_alternative<mqttsn::WillTopicReq>(p)) return on_will_request(true);
    if (std::holds_alternative<mqttsn::WillMsgReq>(p)) return on_will_request(false);
    if (const auto key = answer_key(p)) on_answer(*key, p);
}

void SnClient::on_will_request(bool topic) {
    auto* e = book_.find(Await::Connack, 0);
    if (e == nullptr || !connecting_) return;
    book_.progress(*e, Clock::now());  // the gateway is answering: CONNECT's tries start again
    if (topic) {
        send(mqttsn::Packet{connecting_->will_topic.value_or(mqttsn::WillTopic{{}, {}, true})});
    } else {
        send(mqttsn::Packet{mqttsn::WillMsg{connecting_->will_message}});
    }
    arm_timer();
}

void SnClient::on_answer(const AnswerKey& key, const mqttsn::Packet& p) {
    auto entry = book_.take(key.await, key.msg_id);
    if (!entry && key.await == Await::Puback) entry = book_.take(Await::Pubrec, key.msg_id);  // a refused QoS 2
    if (!entry) {
        if (key.await == Await::Pubrec && book_.find(Await::Pubcomp, key.msg_id)) {
            send(mqttsn::Packet{mqttsn::Pubrel{key.msg_id}});  // PUBREC again: our PUBREL was lost
        } else if (key.await == Await::Disconnect && !(disconnected_ && !book_.find(Await::PingResp, 0))) {
            // Not a late copy of the answer to our own DISCONNECT (ours was resent): the gateway ended the session.
            lose("the gateway " + gateway_text_ + " sent DISCONNECT");
        }
        return;  // a late answer to a request already answered or given up
    }
    if (key.await == Await::Connack) connecting_.reset();
    if (key.await == Await::Disconnect) disconnected_ = true;
    const auto rc = rc_of(p);
    if (rc && *rc != mqttsn::ReturnCode::Accepted) {
        auto what = std::string(key.await == Await::Connack  ? "CONNECT"
                                : key.await == Await::Regack ? "REGISTER"
                                : key.await == Await::Suback ? "SUBSCRIBE"
                                                             : "PUBLISH");
        return complete(entry->handler.take(),
                        what + " rejected by " + gateway_text_ + ": " + std::string(rc_text(*rc)), p);
    }
    if (key.await == Await::Pubrec) {
        // QoS 2, second half: PUBREL until PUBCOMP, resent as the PUBLISH was.
        auto rel = mqttsn::encode(mqttsn::Packet{mqttsn::Pubrel{key.msg_id}});
        send_raw(rel);
        book_.add(Await::Pubcomp, key.msg_id, std::move(rel), Clock::now(), entry->handler.take());
        return arm_timer();
    }
    if (const auto* reg = std::get_if<mqttsn::Regack>(&p)) {
        // our REGISTER's topic name is in the datagram we kept
        auto r = mqttsn::decode(entry->datagram);
        if (const auto* mine = std::get_if<mqttsn::Register>(&r.packet)) topics_.learn(reg->topic_id, mine->topic_name);
    }
    complete(entry->handler.take(), {}, p);
}

void SnClient::on_publish(const mqttsn::Publish& p) {
    const auto topic = topics_.resolve(p.flags.topic_id_type, p.topic_id);
    if (!topic) {
        // Section 6.7: an unknown topic id is refused, so the gateway can REGISTER it again.
        if (p.flags.qos > 0) {
            send(mqttsn::Packet{mqttsn::Puback{p.topic_id, p.msg_id, mqttsn::ReturnCode::InvalidTopicId}});
        }
        return;
    }
    bool deliver = true;
    if (p.flags.qos == 1) {
        if (recent_qos1_.seen(p.msg_id)) ++counters_.qos1_duplicates;
        send(mqttsn::Packet{mqttsn::Puback{p.topic_id, p.msg_id, mqttsn::ReturnCode::Accepted}});
    } else if (p.flags.qos == 2) {
        deliver = qos2_.first_arrival(p.msg_id);
        if (!deliver) ++counters_.qos2_duplicates;
        send(mqttsn::Packet{mqttsn::Pubrec{p.msg_id}});
    }
    if (deliver && on_message) on_message(Incoming{*topic, p});
}

// ---- time ----------------------------------------------------------------------------------------------------------

void SnClient::arm_timer() {
    if (!open_) return;
    auto next = book_.next_deadline();
    if (keepalive_.count() > 0 && (!next || next_ping_ < *next)) next = next_ping_;
    if (auto d = dtls_ ? dtls_->next_timer() : std::nullopt) {
        // OpenSSL's own clock decides when a flight is due: never wake for it sooner than 1 ms from now, so a
        // timer that has not moved yet is not polled in a loop.
        d = std::max(*d, Clock::now() + std::chrono::milliseconds(1));
        if (!next || *d < *next) next = *d;
    }
    if (!next || (armed_ && *armed_ <= *next)) return;  // the armed wait comes first; it re-arms when it fires
    armed_ = *next;
    timer_.expires_at(*next);
    const auto generation = ++timer_generation_;
    timer_.async_wait([this, generation](const boost::system::error_code& ec) {
        if (ec || generation != timer_generation_ || !open_) return;
        armed_.reset();
        on_timer();
    });
}

void SnClient::on_timer() {
    const auto now = Clock::now();
    if (const auto d = dtls_ ? dtls_->next_timer() : std::nullopt; d && *d <= now) {
        net::Datagrams wire;
        const bool ok = dtls_->on_timer(wire);
        send_wire(wire);
        if (!ok) return lose("DTLS handshake with " + gateway_text_ + " failed: " + dtls_->error());
    }
    counters_.resent += book_.expire(
        now, [this](const mqttsn::Buffer& d) { send_raw(d); },
        [this](auto& e) {
            auto why = "no " + std::string(await_name(e.await)) + " from " + gateway_text_ + " after " +
                       std::to_string(e.sends) + (e.sends == 1 ? " try" : " tries");
            if (dtls_ && !dtls_->established()) why += " (the DTLS handshake did not complete)";
            complete(e.handler.take(), std::move(why), mqttsn::Packet{});
        });
    if (keepalive_.count() > 0 && now >= next_ping_) {
        next_ping_ = now + keepalive_;
        if (!book_.find(Await::PingResp, 0)) {
            start_ping({}, Done([this](std::string error, mqttsn::Packet) {
                           if (!error.empty() && error != "closed") lose(error);
                       }));
        }
    }
    arm_timer();
}

}  // namespace moth::cli::sn
