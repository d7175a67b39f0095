// DurableCoreTest: one core with a fake store (fake_store.hpp) that keeps each batch and its completion until the
// test completes it; connections are fed through PausableInput as a server connection feeds them.
#pragma once

#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "broker/core.hpp"
#include "codec/decoder.hpp"
#include "codec/encoder.hpp"
#include "core_test_support.hpp"
#include "fake_store.hpp"

namespace moth::broker::test {

using codec::ProtocolVersion;
using codec::QoS;
using codec::ReasonCode;

class DurableCoreTest : public ::testing::Test {
protected:
    explicit DurableCoreTest(bool wait = true) : store_(wait), shared_(config::default_config(), 1, TimePoint{}) {
        shared_.authenticator = &allow_;
        shared_.store = &store_;
        core_ = std::make_unique<Core>(0, shared_, host_);
    }

    // The store finishes its pending writes; their completions run on the core as Host::post would.
    void complete(bool ok = true) {
        store_.complete(ok);
        auto fns = host_.take_posts_to(0);
        for (auto& fn : fns) fn(*core_, now_);
        input_.feed_resumed(*core_, host_, now_);
        core_->flush();
    }

    // As a server connection does: what the core leaves while its input is paused (a SUBACK waiting for the
    // store) waits for resume_input().
    void send(const Peer& p, const codec::Packet& packet) {
        ASSERT_TRUE(codec::encode_append(packet, p.version, input_.pending(p.id)));
        input_.feed(*core_, host_, p.id, now_);
        core_->flush();
    }
    test::PausableInput input_;

    std::vector<codec::Packet> received(const Peer& p) { return reader_.decode(host_.take(p.id), p.version); }

    Peer connect(std::string client_id, bool clean, std::uint32_t expiry, ProtocolVersion v = ProtocolVersion::V5) {
        Peer p{next_id_++, v};
        core_->on_open(p.id, "test", now_);
        ids_.push_back(std::move(client_id));
        codec::Connect c;
        c.version = v;
        c.client_id = ids_.back();
        c.clean_start = clean;
        if (expiry != 0) c.properties.session_expiry_interval = expiry;
        send(p, c);
        return p;
    }

    void subscribe(const Peer& p, std::string filter, QoS qos) {
        filters_.push_back(std::move(filter));
        subs_.push_back({codec::Subscription{filters_.back(), {qos}}});
        codec::Subscribe s;
        s.packet_id = 1;
        s.subscriptions = subs_.back();
        send(p, s);
    }

    void publish(const Peer& p, std::string topic, QoS qos, std::uint16_t id, bool retain = false) {
        topics_.push_back(std::move(topic));
        codec::Publish m;
        m.topic = topics_.back();
        m.qos = qos;
        m.packet_id = id;
        m.retain = retain;
        static const std::byte payload[] = {std::byte{'x'}};
        m.payload = payload;
        send(p, m);
    }

    // A crash now: the writes still queued are lost; a new core restores what the store holds, as a restart does.
    void crash_and_restore() {
        store_.pending.clear();
        host_.posted.clear();
        auto state = load_state(store_.backend, now_);
        shared_.next_seq = next_seq_counter(state.next_seq - 1);
        shared_.first_seq = make_seq(shared_.next_seq.load(), 0);
        core_ = std::make_unique<Core>(0, shared_, host_);
        for (auto& rs : state.sessions) (void)core_->restore(rs, now_);
    }

    template <class T>
    static std::vector<T> only(const std::vector<codec::Packet>& got) {
        std::vector<T> out;
        for (const auto& p : got) {
            if (const auto* t = std::get_if<T>(&p)) out.push_back(*t);
        }
        return out;
    }

    FakeStore store_;
    FakeHost host_{true};
    AllowAll allow_;
    Shared shared_;
    std::unique_ptr<Core> core_;
    TimePoint now_{};
    ConnectionId next_id_ = 1;
    std::deque<std::string> ids_, filters_, topics_;
    std::deque<std::vector<codec::Subscription>> subs_;
    test::PacketReader reader_;
};

}  // namespace moth::broker::test
