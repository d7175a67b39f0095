// What the broker core tests share: FakeHost, the Host a test drives a Core with (it records what the core
// sends and closes, and either keeps what the core posts, to run when the test says (a store's completions, the
// other workers' subscription changes), or fails the test on a post: one worker and no store, nothing should be
// posted), Peer and PacketReader.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <functional>
#include <memory>
#include <map>
#include <set>
#include <span>
#include <utility>
#include <vector>

#include "broker/core.hpp"
#include "codec/decoder.hpp"

namespace moth::broker::test {

class FakeHost final : public Host {
public:
    // `workers`: how many cores the test runs (posts to any of them are kept, with their target in posted_to).
    explicit FakeHost(bool keeps_posts = false, unsigned workers = 1) : keeps_posts_(keeps_posts), workers_(workers) {}

    bool send(ConnectionId id, std::span<const std::byte> bytes, std::size_t limit) override {
        if (refuses(id, bytes.size(), limit)) return false;
        auto& out = out_[id];
        out.insert(out.end(), bytes.begin(), bytes.end());
        return true;
    }
    std::span<std::byte> append(ConnectionId id, std::size_t size, std::size_t limit) override {
        if (refuses(id, size, limit)) return {};
        auto& out = out_[id];
        out.resize(out.size() + size);
        return std::span(out).last(size);
    }
    std::size_t pending_bytes(ConnectionId id) const override {
        const auto it = pending_.find(id);
        return it == pending_.end() ? 0 : it->second;
    }
    // With models_pending: what is sent stays waiting (pending_bytes) until the test calls written(), and a send past
    // its limit is refused, as by the server's connections. Without (the default), nothing ever waits.
    void model_pending(bool on) { models_pending_ = on; }
    void written(ConnectionId id) { pending_.erase(id); }
    void close(ConnectionId id) override { closed_.push_back(id); }
    void pause_input(ConnectionId id) override { paused.insert(id); }
    void resume_input(ConnectionId id) override {
        EXPECT_TRUE(paused.erase(id) == 1) << "resume_input without pause_input";
        resumed.push_back(id);
    }
    // Without on_hand_off (one worker), a hand-off fails the test; MultiCoreHarness sets it to move the connection.
    void hand_off(ConnectionId id, unsigned worker, std::span<const std::byte> unread) override {
        if (!on_hand_off) {
            FAIL() << "one worker: no hand-off";
            return;
        }
        on_hand_off(id, worker, unread);
    }
    void post(unsigned worker, std::function<void(Core&, TimePoint)> fn) override {
        if (!keeps_posts_) {
            FAIL() << "one worker: nothing to post";
            return;
        }
        EXPECT_LT(worker, workers_);
        posted.push_back(std::move(fn));
        posted_to.push_back(worker);
    }

    bool closed(ConnectionId id) const { return std::find(closed_.begin(), closed_.end(), id) != closed_.end(); }
    std::vector<std::byte> take(ConnectionId id) { return std::exchange(out_[id], {}); }
    // What was posted to `worker` so far, in post order; the posts to other workers stay.
    std::vector<std::function<void(Core&, TimePoint)>> take_posts_to(unsigned worker) {
        std::vector<std::function<void(Core&, TimePoint)>> taken;
        std::size_t kept = 0;
        for (std::size_t i = 0; i < posted.size(); ++i) {
            if (posted_to[i] == worker) {
                taken.push_back(std::move(posted[i]));
            } else {
                posted[kept] = std::move(posted[i]);
                posted_to[kept++] = posted_to[i];
            }
        }
        posted.resize(kept);
        posted_to.resize(kept);
        return taken;
    }
    std::vector<std::function<void(Core&, TimePoint)>> posted;  // with keeps_posts, in the order they were posted
    std::vector<unsigned> posted_to;                 // the worker each of `posted` is for
    std::function<void(ConnectionId, unsigned, std::span<const std::byte>)> on_hand_off;
    std::set<ConnectionId> paused;                   // connections whose input the core paused (not resumed yet)
    std::vector<ConnectionId> resumed;               // resume_input calls, in order

private:
    bool refuses(ConnectionId id, std::size_t size, std::size_t limit) {
        if (!models_pending_) return false;
        auto& pending = pending_[id];
        if (pending > limit) return true;
        pending += size;
        return false;
    }

    bool keeps_posts_;
    bool models_pending_ = false;
    std::map<ConnectionId, std::size_t> pending_;
    unsigned workers_;
    std::map<ConnectionId, std::vector<std::byte>> out_;
    std::vector<ConnectionId> closed_;
};

// One connection as the test sees it: encodes what it sends, decodes what the core sent back.
struct Peer {
    ConnectionId id;
    codec::ProtocolVersion version;
};

// Decodes what the core sent to a peer. Packets hold views into their bytes and their decoder's scratch lists,
// so both are kept for the reader's lifetime (one decoder per packet).
class PacketReader {
public:
    std::vector<codec::Packet> decode(std::vector<std::byte> bytes, codec::ProtocolVersion version) {
        raw_.push_back(std::move(bytes));
        std::vector<codec::Packet> out;
        codec::Bytes in = raw_.back();
        while (!in.empty()) {
            auto& d = *decoders_.emplace_back(
                std::make_unique<codec::Decoder>(codec::DecoderOptions{codec::Role::Client}));
            d.set_version(version);
            auto r = d.decode(in);
            EXPECT_EQ(r.status, codec::DecodeStatus::Ok) << r.message;
            if (r.status != codec::DecodeStatus::Ok) break;
            out.push_back(r.packet);
            in = in.subspan(r.consumed);
        }
        return out;
    }

private:
    std::deque<std::vector<std::byte>> raw_;
    std::vector<std::unique_ptr<codec::Decoder>> decoders_;
};

// The input side of a server connection: what the core leaves unconsumed while it has paused the connection's
// input (a SUBACK waiting for the other workers or the store) is kept and fed again once the host was told to
// resume (Host::pause_input / resume_input).
class PausableInput {
public:
    // Where a test encodes what the connection sends next.
    std::vector<std::byte>& pending(ConnectionId id) { return input_[id]; }
    // Gives the connection's pending bytes to `core` unless its input is paused.
    void feed(Core& core, const FakeHost& host, ConnectionId id, TimePoint now) {
        auto& in = input_[id];
        if (host.paused.count(id) != 0 || in.empty()) return;
        const auto n = core.on_data(id, in, now);
        in.erase(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(n));
        if (host.paused.count(id) == 0) {
            EXPECT_TRUE(in.empty()) << "a whole packet left unconsumed";
        }
    }
    // Feeds every connection `host` was told to resume since the last call.
    void feed_resumed(Core& core, FakeHost& host, TimePoint now) {
        for (const auto id : std::exchange(host.resumed, {})) feed(core, host, id, now);
    }

private:
    std::map<ConnectionId, std::vector<std::byte>> input_;
};

}  // namespace moth::broker::test
