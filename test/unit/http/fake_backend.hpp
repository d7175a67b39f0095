#pragma once
// The http unit tests' fakes: a Backend whose callbacks run at once, a Gate holding a real limits::BanList with a
// clock the test sets, and requests as curl or a script sends them.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "broker/gate.hpp"
#include "http/api.hpp"
#include "limits/ban_list.hpp"

namespace moth::http {

// The ban list as mothd's AbuseGate keeps it (source api and created now on add), without persistence or
// disconnects.
class FakeGate final : public broker::Gate {
public:
    broker::GateVerdict on_connect(const broker::ConnectAttempt&, broker::TimePoint) override { return {}; }
    [[nodiscard]] std::optional<std::string> banned(std::string_view, std::optional<std::string_view>,
                                                    std::string_view) const override {
        return std::nullopt;
    }
    [[nodiscard]] std::uint64_t flapping_bans() const override { return 0; }
    [[nodiscard]] std::vector<limits::Ban> bans() const override { return list.list(now); }
    void add_ban(limits::Ban ban) override {
        ban.source = limits::Ban::Source::Api;
        ban.created = now;
        list.add(std::move(ban));
    }
    bool remove_ban(limits::Ban::Kind kind, std::string_view value) override { return list.remove(kind, value); }
    [[nodiscard]] std::int64_t wall_now() const override { return now; }

    limits::BanList list;
    std::int64_t now = 1'700'000'000;  // 2023-11-14T22:13:20Z
};

class FakeBackend : public Backend {
public:
    StatsInfo stats() override {
        StatsInfo s;
        s.version = "test";
        s.workers = 2;
        s.retained = 1;
        return s;
    }
    void snapshot(broker::SnapshotQuery query, std::function<void(broker::CoreSnapshot)> done) override {
        queries.push_back(query);
        // As the cores do for sessions: only the asked-for client's (the bridges' queues are asked for so).
        broker::CoreSnapshot part = snap;
        if (query.client_id) {
            std::erase_if(part.sessions, [&](const broker::SessionInfo& s) { return s.client_id != *query.client_id; });
        }
        done(std::move(part));
    }
    std::vector<RetainedInfo> retained(std::string_view filter, std::size_t limit, bool& truncated) override {
        last_filter = std::string(filter);
        last_limit = limit;
        truncated = false;
        return {};
    }
    std::vector<ListenerInfo> listeners() override {
        return {{"mqtt-0", "mqtt", "0.0.0.0", 1883, true}, {"http-1", "http", "127.0.0.1", 8080, false}};
    }
    void disconnect(std::string client_id, std::function<void(bool)> done) override { done(client_id == "known"); }
    std::optional<std::string> publish(broker::BrokerPublish m) override {
        if (refuse) return refuse;
        published.push_back(std::move(m));
        return std::nullopt;
    }
    std::optional<std::string> refuse;  // what publish() answers, when set
    void load_dashboard(std::function<void(std::optional<std::string>, std::string)> done) override {
        done(dashboard, {});
    }
    void save_dashboard(std::string doc, std::function<void(std::string)> done) override {
        dashboard = std::move(doc);
        done({});
    }
    void read_static(std::string, std::string, std::function<void(std::optional<File>)> done) override {
        done(std::nullopt);
    }
    broker::Gate* gate() override { return gate_; }
    std::vector<BridgeInfo> bridges() override { return links; }

    broker::CoreSnapshot snap;
    std::vector<broker::SnapshotQuery> queries;
    std::vector<broker::BrokerPublish> published;
    std::optional<std::string> dashboard;
    std::string last_filter;
    std::size_t last_limit = 0;
    broker::Gate* gate_ = nullptr;  // none, as in a broker without abuse limits
    std::vector<BridgeInfo> links;  // what bridges() answers: none, as in a broker without bridges
};

inline Request make(std::string method, std::string target, std::string auth = {}, std::string body = {}) {
    Request r;
    r.method = std::move(method);
    r.target = std::move(target);
    r.authorization = std::move(auth);
    r.body = std::move(body);
    return r;
}

inline Response send(Api& api, const Request& request) {
    std::optional<Response> out;
    api.handle(request, [&](Response r) { out = std::move(r); });
    EXPECT_TRUE(out.has_value());  // the fake answers at once
    return out.value_or(Response{});
}

// A request as curl or a script sends it: JSON bodies say so, no Origin, no Sec-Fetch-Site.
inline Response call(Api& api, std::string method, std::string target, std::string body = {}, std::string auth = {}) {
    Request r = make(std::move(method), std::move(target), std::move(auth), std::move(body));
    r.content_type = "application/json";
    r.host = "127.0.0.1:8080";
    return send(api, r);
}

}  // namespace moth::http
