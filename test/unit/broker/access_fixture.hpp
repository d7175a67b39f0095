// The access-control test fixture of the broker core (access_test.cpp, bridge_core_test.cpp): a core with an
// authenticator that answers later (as the password pool does) and an authorizer with a fixed table, driven
// without sockets.
#pragma once

#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "broker/core.hpp"
#include "codec/encoder.hpp"
#include "core_test_support.hpp"

namespace moth::broker::test {

using codec::ProtocolVersion;
using codec::QoS;
using codec::ReasonCode;

// Answers every CONNECT later: the test calls answer().
class LaterAuthenticator final : public Authenticator {
public:
    bool supports_method(std::string_view, std::string_view) const override { return false; }
    AuthDecision authenticate(const AuthRequest& r, unsigned) override {
        if (!r.username) return AuthDecision::allow();
        waiting.push_back(r.later);
        users.emplace_back(*r.username);
        return AuthDecision::pending();
    }
    void answer(std::size_t i, AuthDecision d) { waiting.at(i)(std::move(d)); }
    std::vector<std::function<void(AuthDecision)>> waiting;
    std::vector<std::string> users;
};

// "alice" reads and writes a/#; everybody reads public/#; nobody writes elsewhere.
class TableAuthorizer final : public Authorizer {
public:
    bool allows(const Identity& who, std::string_view topic, Access access) const override {
        ++calls;
        if (who.grants && who.grants->superuser) return true;  // as AccessControl: a provider's (or mothd's) word
        const bool alice = !who.anonymous && who.username == "alice" && !revoked;
        const auto under = [&](std::string_view prefix) { return topic == prefix || topic.starts_with(std::string(prefix) + "/"); };
        switch (access) {
            case Access::Write: return alice && (under("a") || under("public"));
            case Access::Read: return (under("public") && !hide_public) || (alice && under("a"));
            case Access::Subscribe:
                return under("public") || topic == "public/#" || (alice && (under("a") || topic == "#"));
        }
        return false;
    }
    std::uint64_t generation() const override { return gen; }
    mutable int calls = 0;
    bool revoked = false;
    bool hide_public = false;  // public/# may still be subscribed to, but nothing under it read
    std::uint64_t gen = 1;
};

class AccessTest : public ::testing::Test {
protected:
    AccessTest() : shared_(config::default_config(), 1, TimePoint{}) {
        shared_.authenticator = &auth_;
        shared_.authorizer = &acl_;
        core_ = std::make_unique<Core>(0, shared_, host_);
    }

    Peer open(ProtocolVersion v, std::shared_ptr<const ListenerTag> tag = nullptr) {
        const ConnectionId id = next_id_++;
        core_->on_open(id, "test", now_, std::move(tag));
        return {id, v};
    }
    // Encodes packets into the connection's pending input and feeds what the core takes.
    void send(const Peer& p, const std::vector<codec::Packet>& packets) {
        auto& in = input_.pending(p.id);
        for (const auto& packet : packets) ASSERT_TRUE(codec::encode_append(packet, p.version, in));
        input_.feed(*core_, host_, p.id, now_);
        core_->flush();
    }
    // Runs what the core posted to itself (the authenticator's answers), then the input it resumed.
    void run_posts() {
        for (auto& fn : host_.take_posts_to(0)) fn(*core_, now_);
        input_.feed_resumed(*core_, host_, now_);
        core_->flush();
    }
    std::vector<codec::Packet> received(const Peer& p) { return reader_.decode(host_.take(p.id), p.version); }

    codec::Connect connect_packet(ProtocolVersion v, std::string id, std::optional<std::string> user) {
        ids_.push_back(std::move(id));
        codec::Connect c;
        c.version = v;
        c.client_id = ids_.back();
        c.clean_start = true;
        if (user) {
            ids_.push_back(*user);
            c.username = ids_.back();
            c.password = codec::Bytes(reinterpret_cast<const std::byte*>("pw"), 2);
        }
        return c;
    }
    // Connects and answers the authenticator at once (Allow) for a named user.
    Peer connect(ProtocolVersion v, std::string id, std::optional<std::string> user) {
        Peer p = open(v);
        send(p, {connect_packet(v, std::move(id), user)});
        if (user) {
            auth_.answer(auth_.waiting.size() - 1, AuthDecision::allow());
        }
        run_posts();  // the answer,
        run_posts();  // and in a cluster the session taken from the bus (FakeBus::take), posted by the answer
        auto got = received(p);
        EXPECT_EQ(got.size(), 1U);
        if (!got.empty()) {
            EXPECT_EQ(std::get<codec::Connack>(got[0]).reason, ReasonCode::Success);
        }
        return p;
    }
    codec::Subscribe subscribe_packet(std::string_view filter, QoS qos, std::uint16_t id = 1) {
        filters_.emplace_back(filter);
        subs_.push_back({{filters_.back(), {qos}}});
        codec::Subscribe s;
        s.packet_id = id;
        s.subscriptions = subs_.back();
        return s;
    }
    codec::Publish publish_packet(std::string_view topic, QoS qos, std::uint16_t id = 0, bool retain = false) {
        codec::Publish p;
        p.topic = topic;
        p.qos = qos;
        p.packet_id = id;
        p.retain = retain;
        static const std::byte payload[] = {std::byte{'x'}};
        p.payload = payload;  // not empty: an empty retained payload deletes [MQTT-3.3.1-6]
        return p;
    }

    FakeHost host_{true, 1};
    LaterAuthenticator auth_;
    TableAuthorizer acl_;
    Shared shared_;
    std::unique_ptr<Core> core_;
    test::PausableInput input_;
    TimePoint now_{};
    ConnectionId next_id_ = 1;
    std::deque<std::string> ids_;
    std::deque<std::string> filters_;
    std::deque<std::vector<codec::Subscription>> subs_;
    test::PacketReader reader_;
};

}  // namespace moth::broker::test
