// FakeBus: a ClusterBus for the broker core tests (docs/cluster.md). It records what the core asks of the cluster
// and keeps each `done`, so the test decides when (and whether) JetStream "stored" a message or a subscription took.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "broker/cluster.hpp"

namespace moth::broker::test {

using codec::QoS;

class FakeBus final : public ClusterBus {
public:
    const std::string& node() const override { return node_; }
    void start(ClusterEvents&) override {}
    void stop() override {}
    void publish(const MessagePtr& m, Done done) override { published.push_back({m, std::move(done)}); }
    void subscribe(const std::string& filter, QoS qos, Done done) override {
        subscribed.push_back({filter, qos, std::move(done)});
    }
    void unsubscribe(const std::string& filter, QoS qos) override { unsubscribed.emplace_back(filter, qos); }
    void claim(const std::string& client_id, std::int64_t at_unix_ms, Done) override {
        claimed.push_back(client_id);
        claimed_at.push_back(at_unix_ms);
    }
    void take(const std::string& client_id, std::int64_t at_unix_ms, bool want_records, Taken done) override {
        // Answered at once (nothing elsewhere, or `records_of`'s) unless the test holds takes to answer them itself.
        if (!hold_takes) {
            auto it = records_of.find(client_id);
            done(true, want_records && it != records_of.end() ? it->second : SessionRecords{});
            done = nullptr;
        }
        taken.push_back({client_id, at_unix_ms, want_records, std::move(done)});
    }
    void attach(const std::string& client_id, const std::string& filter, std::uint32_t expiry_s, Done done) override {
        attached.push_back({client_id, filter, expiry_s, std::move(done)});
    }
    void detach(const std::string& client_id, const std::string& filter, bool remove) override {
        detached.push_back({client_id, filter, remove});
    }
    std::vector<std::string> not_owned(const std::vector<std::string>& client_ids) override {
        std::vector<std::string> out;
        for (const auto& id : client_ids) {
            for (const auto& elsewhere : owned_elsewhere) {
                if (id == elsewhere) out.push_back(id);
            }
        }
        return out;
    }
    void report(const NodeReport& r) override { reports.push_back(r); }
    void seen(const std::vector<std::string>& ids) override { seen_ids.insert(seen_ids.end(), ids.begin(), ids.end()); }
    ClusterStatus status() const override { return {}; }

    struct Published {
        MessagePtr message;
        Done done;
    };
    struct Subscribed {
        std::string filter;
        QoS qos;
        Done done;
    };
    struct Taken_ {
        std::string client_id;
        std::int64_t at_unix_ms;
        bool want_records;
        Taken done;
    };
    struct Attached {
        std::string client_id, filter;
        std::uint32_t expiry_s;
        Done done;
    };
    struct Detached {
        std::string client_id, filter;
        bool remove;
    };
    std::vector<Taken_> taken;
    std::vector<Attached> attached;
    std::vector<Detached> detached;
    std::vector<std::string> owned_elsewhere;  // what not_owned() answers
    bool hold_takes = false;                   // take() keeps `done` for the test instead of answering at once
    std::map<std::string, SessionRecords> records_of;  // the cluster's copy take() answers with
    std::vector<Published> published;
    std::vector<Subscribed> subscribed;
    std::vector<std::pair<std::string, QoS>> unsubscribed;
    std::vector<std::string> claimed;
    std::vector<std::int64_t> claimed_at;
    std::vector<NodeReport> reports;
    std::vector<std::string> seen_ids;

private:
    std::string node_ = "n1";
};

}  // namespace moth::broker::test
