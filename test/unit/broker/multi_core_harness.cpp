#include "multi_core_harness.hpp"

#include <algorithm>
#include <utility>
#include <variant>

#include "broker/ids.hpp"
#include "codec/encoder.hpp"
#include "codec/types.hpp"

namespace moth::broker::test {

MultiCoreHarness::MultiCoreHarness(unsigned cores, config::Config config, Store* store)
    : shared_(std::move(config), cores, TimePoint{}), next_serial_(cores, 1) {
    shared_.authenticator = &allow_;
    shared_.store = store;
    for (unsigned w = 0; w < cores; ++w) {
        hosts_.push_back(std::make_unique<FakeHost>(/*keeps_posts=*/true, cores));
        hosts_.back()->on_hand_off = [this, w](ConnectionId id, unsigned to, std::span<const std::byte> unread) {
            hand_off(w, id, to, unread);
        };
        cores_.push_back(std::make_unique<Core>(w, shared_, *hosts_.back()));
    }
}

// The cores go before their hosts (members are destroyed in reverse order, but be explicit: a core's destructor
// may still reach its host).
MultiCoreHarness::~MultiCoreHarness() { cores_.clear(); }

std::string MultiCoreHarness::id_on(unsigned worker, std::string_view prefix) const {
    for (unsigned i = 0;; ++i) {
        std::string id = std::string(prefix) + "-" + std::to_string(i);
        if (owner_worker(id, cores()) == worker) return id;
    }
}

ConnectionId MultiCoreHarness::next_connection_id(unsigned worker) {
    return (static_cast<ConnectionId>(worker) << 48) | next_serial_[worker]++;
}

MultiCoreHarness::Client MultiCoreHarness::open(unsigned worker, codec::ProtocolVersion version, std::string remote,
                                                std::shared_ptr<const ListenerTag> listener) {
    const ConnectionId id = next_connection_id(worker);
    conns_.push_back({worker, id, version});
    by_id_[id] = conns_.size() - 1;
    core(worker).on_open(id, std::move(remote), now_, std::move(listener));
    return Client{conns_.size() - 1};
}

MultiCoreHarness::Client MultiCoreHarness::connect(std::string_view client_id, codec::ProtocolVersion version,
                                                   ConnectOptions options) {
    const unsigned worker = options.core.value_or(next_accept_++ % cores());
    const Client c = open(worker, version, "test-peer", options.listener);
    codec::Connect pk;
    pk.version = version;
    pk.client_id = client_id;
    pk.clean_start = options.clean_start;
    pk.keep_alive_s = options.keep_alive_s;
    if (options.session_expiry_s != 0) pk.properties.session_expiry_interval = options.session_expiry_s;
    static constexpr std::string_view kWillPayload = "will";
    if (options.will_topic) {
        pk.will.emplace();
        pk.will->topic = *options.will_topic;
        pk.will->payload = std::as_bytes(std::span(kWillPayload.data(), kWillPayload.size()));
    }
    send(c, pk);
    run_until_idle();
    return c;
}

MultiCoreHarness::Client MultiCoreHarness::connect_ok(std::string_view client_id, codec::ProtocolVersion version,
                                                      ConnectOptions options, bool* session_present) {
    const Client c = connect(client_id, version, options);
    const auto got = received(c);
    EXPECT_EQ(got.size(), 1U) << "CONNECT of " << client_id << ": one CONNACK and nothing else";
    const auto* ack = got.empty() ? nullptr : std::get_if<codec::Connack>(&got[0]);
    EXPECT_NE(ack, nullptr) << "CONNECT of " << client_id << ": no CONNACK";
    if (ack != nullptr) {
        EXPECT_EQ(ack->reason, codec::ReasonCode::Success) << "CONNECT of " << client_id;
        if (session_present != nullptr) *session_present = ack->session_present;
    }
    return c;
}

void MultiCoreHarness::send(Client c, const codec::Packet& packet, Flush flush) {
    send(c, std::span(&packet, 1), flush);
}

void MultiCoreHarness::send(Client c, std::span<const codec::Packet> packets, Flush flush) {
    const Conn& conn = conns_.at(c.index);
    for (const auto& packet : packets) {
        ASSERT_TRUE(codec::encode_append(packet, conn.version, input_.pending(conn.id)));
    }
    // A hand-off during this call changes conns_[c.index]; the core and id it was fed to are these.
    const unsigned worker = conn.worker;
    input_.feed(core(worker), host(worker), conn.id, now_);
    if (flush == Flush::Yes) core(worker).flush();
}

void MultiCoreHarness::subscribe(Client c, std::uint16_t packet_id, std::string_view filter, codec::QoS qos) {
    const codec::Subscription sub{filter, {qos}};
    codec::Subscribe s;
    s.packet_id = packet_id;
    s.subscriptions = std::span(&sub, 1);
    send(c, s);
}

void MultiCoreHarness::unsubscribe(Client c, std::uint16_t packet_id, std::string_view filter) {
    codec::Unsubscribe u;
    u.packet_id = packet_id;
    u.filters = std::span(&filter, 1);
    send(c, u);
}

void MultiCoreHarness::publish(Client c, std::string_view topic, std::string_view payload, codec::QoS qos,
                               std::uint16_t packet_id, Flush flush) {
    codec::Publish m;
    m.topic = topic;
    m.qos = qos;
    m.packet_id = packet_id;
    m.payload = std::as_bytes(std::span(payload.data(), payload.size()));
    send(c, m, flush);
}

void MultiCoreHarness::drop(Client c) {
    const Conn& conn = conns_.at(c.index);
    core(conn.worker).on_closed(conn.id, now_);
    core(conn.worker).flush();
}

std::vector<codec::Packet> MultiCoreHarness::received(Client c) {
    const Conn& conn = conns_.at(c.index);
    return reader_.decode(host(conn.worker).take(conn.id), conn.version);
}

std::vector<std::string> MultiCoreHarness::kinds(Client c) {
    std::vector<std::string> out;
    for (const auto& p : received(c)) {
        std::string kind(codec::packet_type_name(codec::packet_type(p)));
        if (const auto* m = std::get_if<codec::Publish>(&p)) kind += " " + std::string(m->topic);
        out.push_back(std::move(kind));
    }
    return out;
}

bool MultiCoreHarness::closed(Client c) const {
    const Conn& conn = conns_.at(c.index);
    return hosts_.at(conn.worker)->closed(conn.id);
}

std::optional<unsigned> MultiCoreHarness::session_core(std::string_view client_id) const {
    std::optional<unsigned> found;
    for (unsigned w = 0; w < cores(); ++w) {
        if (cores_[w]->session_id(client_id) == 0) continue;
        EXPECT_FALSE(found.has_value()) << client_id << " has a session on core " << *found << " and on core " << w;
        found = w;
    }
    return found;
}

std::size_t MultiCoreHarness::queued(unsigned from, unsigned to) const {
    const auto& h = *hosts_.at(from);
    return static_cast<std::size_t>(std::count(h.posted_to.begin(), h.posted_to.end(), to));
}

std::size_t MultiCoreHarness::run_posts_to(unsigned worker) {
    std::size_t n = 0;
    for (auto& h : hosts_) {
        for (auto& fn : h->take_posts_to(worker)) {
            fn(core(worker), now_);
            ++n;
        }
    }
    const std::size_t resumed = host(worker).resumed.size();
    input_.feed_resumed(core(worker), host(worker), now_);
    if (n + resumed != 0) core(worker).flush();
    return n;
}

bool MultiCoreHarness::idle() const {
    for (const auto& h : hosts_) {
        if (!h->posted.empty() || !h->resumed.empty()) return false;
    }
    return true;
}

std::size_t MultiCoreHarness::run_until_idle() {
    std::size_t steps = 0;
    while (!idle()) {
        for (unsigned w = 0; w < cores(); ++w) steps += run_posts_to(w);
        if (steps > kMaxSteps) {
            ADD_FAILURE() << "run_until_idle: still busy after " << kMaxSteps << " steps (a loop of posts?)";
            break;
        }
    }
    return steps;
}

void MultiCoreHarness::advance(std::chrono::nanoseconds d) {
    now_ += d;
    for (auto& c : cores_) {
        c->on_tick(now_);
        c->flush();
    }
}

void MultiCoreHarness::hand_off(unsigned from, ConnectionId id, unsigned to, std::span<const std::byte> unread) {
    const auto it = by_id_.find(id);
    if (it == by_id_.end()) {
        ADD_FAILURE() << "hand-off of connection " << id << ", which no test opened";
        return;
    }
    const std::size_t conn = it->second;
    EXPECT_LT(to, cores());
    EXPECT_NE(to, from) << "hand-off to the core the connection is on";
    // The socket is released here (TcpConnection::hand_off): anything the core had queued for it would be lost.
    EXPECT_TRUE(host(from).take(id).empty()) << "output queued on a connection being handed off";
    // As TcpConnection::hand_off: the origin is read now, while the source core still has the connection.
    std::string remote;
    std::shared_ptr<const ListenerTag> tag;
    EXPECT_TRUE(core(from).origin(id, remote, tag)) << "the core forgot the connection before handing it off";
    host(from).post(to, [this, conn, remote = std::move(remote), tag = std::move(tag),
                         bytes = std::vector<std::byte>(unread.begin(), unread.end())](Core& target,
                                                                                        TimePoint now) mutable {
        adopt(target, conn, std::move(remote), std::move(tag), std::move(bytes), now);
    });
}

void MultiCoreHarness::adopt(Core& target, std::size_t conn, std::string remote, std::shared_ptr<const ListenerTag> tag,
                             std::vector<std::byte> unread, TimePoint now) {
    // Worker::adopt -> Worker::open (a new id on this worker, Core::on_open) -> TcpConnection::start (on_data).
    Conn& c = conns_.at(conn);
    by_id_.erase(c.id);
    c.worker = target.index();
    c.id = next_connection_id(c.worker);
    ++c.hand_offs;
    by_id_[c.id] = conn;
    target.on_open(c.id, std::move(remote), now, std::move(tag));
    input_.pending(c.id) = std::move(unread);
    input_.feed(target, host(c.worker), c.id, now);
}

}  // namespace moth::broker::test
