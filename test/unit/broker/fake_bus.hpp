// FakeBus: a ClusterBus for the broker core tests (docs/cluster.md). It records what the core asks of the cluster
// and keeps each `done`, so the test decides when (and whether) JetStream "stored" a message or a subscription took.
#pragma once

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
