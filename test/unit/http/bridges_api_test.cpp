// GET /api/v1/bridges and the moth_bridge_* metrics (issue 21): the bridges' links from Backend::bridges(), their
// queues from the sessions "$bridge/<name>" of a snapshot, through a fake Backend.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "fake_backend.hpp"
#include "http/api.hpp"

namespace moth::http {
namespace {

using nlohmann::json;

// 2023-11-14T22:13:20Z
constexpr std::int64_t kSinceMs = 1'700'000'000'000;

// "lab" is down (no session yet), "cloud" up with a backlog; listed out of order, as a config may have them.
FakeBackend two_bridges() {
    FakeBackend b;
    b.links.push_back(BridgeInfo{"lab", false, "mqtt://10.0.0.9:1883", "connection refused", 0, 0, 0, 14, 0});
    b.links.push_back(BridgeInfo{"cloud", true, "mqtts://cloud.example:8883", "", 5210, 12, 3, 1, kSinceMs});
    broker::SessionInfo queue;
    queue.client_id = "$bridge/cloud";
    queue.queued = 7;
    queue.queued_bytes = 7000;
    queue.dropped = 2;
    broker::SessionInfo look_alike;  // a client that merely shares the bridge's name: not its queue
    look_alike.client_id = "cloud";
    look_alike.queued = 99;
    look_alike.queued_bytes = 99;
    b.snap.sessions = {queue, look_alike};
    return b;
}

TEST(HttpBridges, NoBridgesIsAnEmptyListWithoutAskingTheCores) {
    FakeBackend b;
    Api api({}, b);
    const Response r = call(api, "GET", "/api/v1/bridges");
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(json::parse(r.body), json::parse(R"({"bridges":[]})"));
    EXPECT_TRUE(b.queries.empty());
}

TEST(HttpBridges, LinksAndQueuesSortedByName) {
    FakeBackend b = two_bridges();
    Api api({}, b);
    const Response r = call(api, "GET", "/api/v1/bridges");
    ASSERT_EQ(r.status, 200u);
    const json expected = json::parse(R"({"bridges":[
        {"name":"cloud","connected":true,"address":"mqtts://cloud.example:8883","last_error":null,"sent":5210,
         "received":12,"refused":3,"reconnects":1,"connected_since":"2023-11-14T22:13:20Z","queued_messages":7,
         "queued_bytes":7000,"dropped":2},
        {"name":"lab","connected":false,"address":"mqtt://10.0.0.9:1883","last_error":"connection refused","sent":0,
         "received":0,"refused":0,"reconnects":14,"connected_since":null,"queued_messages":0,"queued_bytes":0,
         "dropped":0}]})");
    EXPECT_EQ(json::parse(r.body), expected);
    // One session query per bridge (in name order), for exactly its queue's client id.
    ASSERT_EQ(b.queries.size(), 2u);
    for (const auto& q : b.queries) {
        EXPECT_TRUE(q.sessions);
        EXPECT_FALSE(q.clients);
        EXPECT_FALSE(q.subscriptions);
    }
    EXPECT_EQ(b.queries[0].client_id, "$bridge/cloud");
    EXPECT_EQ(b.queries[1].client_id, "$bridge/lab");
}

TEST(HttpBridges, SameAuthAndMethodsAsTheOtherRoutes) {
    FakeBackend b = two_bridges();
    Settings s;
    s.api_token = "sesame";
    Api api(s, b);
    EXPECT_EQ(call(api, "GET", "/api/v1/bridges").status, 401u);
    EXPECT_EQ(call(api, "GET", "/metrics").status, 401u);
    EXPECT_TRUE(b.queries.empty());
    EXPECT_EQ(call(api, "GET", "/api/v1/bridges", {}, "Bearer sesame").status, 200u);
    EXPECT_EQ(call(api, "HEAD", "/api/v1/bridges", {}, "Bearer sesame").status, 200u);
    const Response post = call(api, "POST", "/api/v1/bridges", "{}", "Bearer sesame");
    EXPECT_EQ(post.status, 405u);
    ASSERT_EQ(post.headers.size(), 1u);
    EXPECT_EQ(post.headers[0], (std::pair<std::string, std::string>{"Allow", "GET, HEAD"}));
}

TEST(HttpBridges, MetricsTextHasOneLabelledSamplePerBridge) {
    BridgeView cloud{BridgeInfo{"cloud", true, "", "", 5, 6, 1, 2, kSinceMs}, 7, 700, 3};
    BridgeView odd{BridgeInfo{"a\"b\\c", false, "", "boom", 0, 0, 0, 9, 0}, 0, 0, 0};
    const std::string text = metrics_text(StatsInfo{}, {}, {cloud, odd});
    const auto family = [&](const std::string& name, const std::string& type, const std::string& cloud_value,
                            const std::string& odd_value) {
        const std::string lines = "# TYPE " + name + " " + type + "\n" + name + "{bridge=\"cloud\"} " + cloud_value +
                                  "\n" + name + "{bridge=\"a\\\"b\\\\c\"} " + odd_value + "\n";
        EXPECT_NE(text.find("# HELP " + name + " "), std::string::npos) << name;
        EXPECT_NE(text.find(lines), std::string::npos) << name << " in\n" << text;
    };
    family("moth_bridge_connected", "gauge", "1", "0");
    family("moth_bridge_sent_total", "counter", "5", "0");
    family("moth_bridge_received_total", "counter", "6", "0");
    family("moth_bridge_refused_total", "counter", "1", "0");
    family("moth_bridge_reconnects_total", "counter", "2", "9");
    family("moth_bridge_queued_messages", "gauge", "7", "0");
    family("moth_bridge_queued_bytes", "gauge", "700", "0");
    family("moth_bridge_dropped_total", "counter", "3", "0");
    // Without bridges the families are left out altogether.
    EXPECT_EQ(metrics_text(StatsInfo{}, {}, {}).find("moth_bridge_"), std::string::npos);
}

TEST(HttpBridges, MetricsTakeTheQueuesFromTheSnapshot) {
    FakeBackend b = two_bridges();
    Api api({}, b);
    const Response r = call(api, "GET", "/metrics");
    ASSERT_EQ(r.status, 200u);
    EXPECT_EQ(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
    EXPECT_NE(r.body.find("moth_bridge_connected{bridge=\"cloud\"} 1\nmoth_bridge_connected{bridge=\"lab\"} 0\n"),
              std::string::npos);
    EXPECT_NE(r.body.find("moth_bridge_queued_messages{bridge=\"cloud\"} 7\n"), std::string::npos);
    EXPECT_NE(r.body.find("moth_bridge_queued_bytes{bridge=\"cloud\"} 7000\n"), std::string::npos);
    EXPECT_NE(r.body.find("moth_bridge_dropped_total{bridge=\"cloud\"} 2\n"), std::string::npos);
    EXPECT_NE(r.body.find("moth_bridge_queued_messages{bridge=\"lab\"} 0\n"), std::string::npos);
    EXPECT_NE(r.body.find("moth_connections{listener=\"mqtt-0\"}"), std::string::npos);  // still there
}

// A Backend whose snapshots answer later, as the workers do, and which counts every call made of it: the answer
// must wait for every part, and nothing may touch the Backend once handle() has returned (the HTTP connection, which
// owns it, may be gone by the time the cores answer).
class LaterBackend : public FakeBackend {
public:
    StatsInfo stats() override {
        ++calls;
        return FakeBackend::stats();
    }
    void snapshot(broker::SnapshotQuery query, std::function<void(broker::CoreSnapshot)> done) override {
        ++calls;
        queries.push_back(query);
        auto part = snap;
        if (query.client_id)
            std::erase_if(part.sessions, [&](const auto& s) { return s.client_id != *query.client_id; });
        pending.emplace_back([done = std::move(done), part = std::move(part)] { done(part); });
    }
    std::vector<ListenerInfo> listeners() override {
        ++calls;
        return FakeBackend::listeners();
    }
    std::vector<BridgeInfo> bridges() override {
        ++calls;
        return links;
    }

    int calls = 0;
    std::vector<std::function<void()>> pending;
};

TEST(HttpBridges, AnswersOnceEveryPartIsInAndNeverCallsTheBackendAfterHandleReturned) {
    for (const std::string target : {"/api/v1/bridges", "/metrics"}) {
        LaterBackend b;
        FakeBackend shape = two_bridges();
        b.links = shape.links;
        b.snap = shape.snap;
        Api api({}, b);
        std::optional<Response> out;
        api.handle(make("GET", target), [&](Response r) { out = std::move(r); });
        const int calls = b.calls;
        ASSERT_GE(b.pending.size(), 2u) << target;
        for (std::size_t i = 0; i < b.pending.size(); ++i) {
            EXPECT_FALSE(out) << target << ": answered before part " << i << " came in";
            b.pending[i]();
        }
        ASSERT_TRUE(out) << target;
        EXPECT_EQ(out->status, 200u);
        EXPECT_NE(out->body.find("7000"), std::string::npos) << out->body;
        EXPECT_EQ(b.calls, calls) << target;
    }
}

}  // namespace
}  // namespace moth::http
