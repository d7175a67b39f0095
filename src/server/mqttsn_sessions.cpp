#include "server/mqttsn_sessions.hpp"

#include <boost/asio/post.hpp>

#include "server/mqttsn_listener.hpp"

namespace moth::server::detail {

namespace asio = boost::asio;

// ---- SnSessions ------------------------------------------------------------------------------------------------

SnSessions::SnSessions(Worker& w, SnListener& listener) : w_(w), listener_(listener), timer_(w.ioc()) {}

SnSessions::~SnSessions() = default;

SnSessions::Client* SnSessions::find(const std::string& key) {
    const auto it = clients_.find(key);
    return it == clients_.end() ? nullptr : it->second.get();
}

void SnSessions::stop() {
    stopped_ = true;
    timer_.cancel();
}

void SnSessions::on_packet(const asio::ip::udp::endpoint& from, const std::string& key, std::uint64_t epoch,
                           const mqttsn::Packet& p, const std::optional<mqttsn::Forwarder>& fwd) {
    const auto now = Clock::now();
    Client* c = find(key);
    const bool connect = std::holds_alternative<mqttsn::Connect>(p);
    if (c == nullptr) {
        if (!connect) {
            // The session ended while this datagram was on its way: the client hears it is not connected.
            listener_.send(from, mqttsn::encode(mqttsn::Disconnect{}, fwd));
            listener_.forget(key, w_.index(), epoch);
            return;
        }
        auto made = std::make_unique<Client>(listener_.settings(), now);
        made->key = key;
        c = clients_.emplace(key, std::move(made)).first->second.get();
    }
    if (connect) c->epoch = epoch;
    c->peer = from;
    c->fwd = fwd;
    mqttsn::Actions a;
    c->session.on_packet(p, now, a);
    apply(*c, a, now);
}

void SnSessions::on_gone(const std::string& key) {
    Client* c = find(key);
    if (c == nullptr) return;
    end_link(*c);
    clients_.erase(key);
    w_.schedule_flush();
}

void SnSessions::on_broker(SnLink& link, std::span<const std::byte> bytes) {
    Client* c = find(link.key());
    if (c == nullptr || c->link.get() != &link) return;
    const auto now = Clock::now();
    mqttsn::Actions a;
    c->session.on_broker(bytes, now, a);
    apply(*c, a, now);
}

void SnSessions::on_broker_closed(SnLink& link) {
    Client* c = find(link.key());
    if (c == nullptr || c->link.get() != &link) return;
    c->link.reset();
    const auto now = Clock::now();
    mqttsn::Actions a;
    c->session.on_broker_closed(now, a);
    apply(*c, a, now);
}

void SnSessions::apply(Client& c, mqttsn::Actions& a, mqttsn::TimePoint now) {
    for (const auto& p : a.to_client) listener_.send(c.peer, mqttsn::encode(p, c.fwd));
    if (a.end_lost) end_link(c);
    if (a.will && c.link && !c.link->closing()) {
        codec::Publish will;
        will.topic = a.will->topic;
        will.payload = a.will->message;
        will.qos = static_cast<codec::QoS>(a.will->qos);
        will.retain = a.will->retain;
        const auto id = c.link->id();
        w_.guarded(id, CoreCall::Data, [&] { w_.core().replace_will(id, a.will->remove ? nullptr : &will, now); });
    }
    if (!a.to_broker.empty()) {
        if (!c.link || c.link->closing()) open_link(c);
        if (c.link) c.link->feed(a.to_broker);
    }
    if (a.forget) {
        if (c.link) end_link(c);  // still open after its DISCONNECT was fed: the core did not end it
        listener_.forget(c.key, w_.index(), c.epoch);
        clients_.erase(std::string(c.key));
        return;
    }
    schedule(c);
}

void SnSessions::end_link(Client& c) {
    auto link = std::move(c.link);
    if (!link) return;
    link->detach();
    if (link->closing()) return;  // the core closes it (or did): its close is ignored now
    const auto id = link->id();
    w_.guarded(id, CoreCall::Closed, [&] { w_.core().on_closed(id, Clock::now()); });
    link->finish_quietly();
}

void SnSessions::open_link(Client& c) {
    if (c.link) end_link(c);
    auto link = std::make_shared<SnLink>(w_, *this, c.key);
    const ConnectionId id = w_.open(link, c.key, listener_.tag(), listener_.username());
    if (id == 0) return;  // on_open failed (logged by the guard): the session's keep-alive ends it
    link->start(id);
    c.link = std::move(link);
}

void SnSessions::schedule(Client& c) {
    const auto t = c.session.next_timer();
    if (!t) {
        c.scheduled.reset();
        return;
    }
    if (c.scheduled && *c.scheduled <= *t) return;  // an earlier entry is queued; it reschedules when it fires
    c.scheduled = t;
    due_.emplace(*t, c.key);
    arm();
}

void SnSessions::arm() {
    if (stopped_ || due_.empty()) return;
    const auto t = due_.top().first;
    if (armed_ && *armed_ <= t) return;
    armed_ = t;
    timer_.expires_at(t);
    timer_.async_wait([this](const boost::system::error_code& ec) {
        if (ec) return;  // cancelled: re-armed earlier, or stopping
        armed_.reset();
        on_timer();
    });
}

void SnSessions::on_timer() {
    const auto now = Clock::now();
    while (!due_.empty() && due_.top().first <= now) {
        const auto [t, key] = due_.top();
        due_.pop();
        Client* c = find(key);
        if (c == nullptr || !c->scheduled || *c->scheduled != t) continue;  // superseded or gone
        c->scheduled.reset();
        mqttsn::Actions a;
        c->session.on_tick(now, a);
        apply(*c, a, now);
    }
    arm();
    w_.schedule_flush();
}

// ---- SnLink -------------------------------------------------------------------------------------------------------

void SnLink::feed(std::span<const std::byte> bytes) {
    if (finished_) return;
    in_.insert(in_.end(), bytes.begin(), bytes.end());
    drain();
}

void SnLink::drain() {
    if (paused_ || closing_ || finished_ || in_.empty()) return;
    const auto self = shared_from_this();
    std::size_t consumed = in_.size();
    if (!w_.guarded(id_, CoreCall::Data,
                    [&] { consumed = std::min(w_.core().on_data(id_, in_, Clock::now()), in_.size()); })) {
        return;
    }
    in_.erase(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(consumed));
    w_.schedule_flush();
}

void SnLink::resume_input() {
    paused_ = false;
    asio::post(w_.ioc(), [self = shared_from_this()] { self->drain(); });
}

void SnLink::flush() {
    const auto self = shared_from_this();
    if (finished_) {
        out_.clear();
        return;
    }
    if (!out_.empty()) {
        auto bytes = std::move(out_);
        out_.clear();
        if (!detached_) owner_.on_broker(*this, bytes);
        // The session took it all: the core may send what it held back for a slow consumer.
        if (!closing_ && !finished_ && !detached_) {
            w_.guarded(id_, CoreCall::Drained, [&] { w_.core().on_drained(id_, Clock::now()); });
        }
    }
    if (closing_) finish();
}

void SnLink::close_after_flush() {
    closing_ = true;
    w_.mark_dirty(shared_from_this());
}

void SnLink::force_close() {
    closing_ = true;
    flush();
}

void SnLink::hand_off(unsigned target, std::span<const std::byte> unread) {
    // The gateway opens a client's internal connection on the worker that owns its client id, so the core never
    // moves one; if it did, the session could not follow: end it as a failed connection.
    (void)target, (void)unread;
    w_.log(3, "mqttsn: internal connection " + key_ + " handed to another worker; closing it");
    closing_ = true;
    finish();
}

void SnLink::finish() {
    if (finished_) return;
    const auto self = shared_from_this();
    finished_ = true;
    if (!detached_) owner_.on_broker_closed(*this);
    w_.forget(id_);
}

void SnLink::finish_quietly() {
    if (finished_) return;
    const auto self = shared_from_this();
    finished_ = true;
    w_.forget(id_);
}

}  // namespace moth::server::detail
