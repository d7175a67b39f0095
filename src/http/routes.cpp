// The JSON API's routes (docs/http-api.md is the contract): a table from path to one function per route, each
// checking its method and query and answering through the Backend (split from Api::handle, issue 18).
#include "http/routes.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "codec/topic.hpp"
#include "common/base64.hpp"
#include "common/utf8.hpp"

namespace moth::http::detail {

using nlohmann::json;

namespace {

json client_json(const broker::ClientInfo& c, std::chrono::system_clock::time_point now) {
    return json{{"client_id", c.client_id},
                {"username", c.username},
                {"address", c.address},
                {"listener", c.listener},
                {"transport", c.transport},
                {"protocol_version", c.protocol_version},
                {"connected_since",
                 rfc3339(now - std::chrono::duration_cast<std::chrono::system_clock::duration>(c.connected_for))},
                {"keepalive_s", c.keepalive_s},
                {"clean_start", c.clean_start},
                {"subscriptions", c.subscriptions},
                {"inflight", c.inflight},
                {"queued", c.queued},
                {"denied", c.denied},
                {"throttled", c.throttled},
                {"publish_rate", c.publish_rate ? json(*c.publish_rate) : json(nullptr)}};
}

json subscription_json(const broker::SubscriptionInfo& s) {
    json j{{"client_id", s.client_id},
           {"filter", s.filter},
           {"qos", s.qos},
           {"no_local", s.no_local},
           {"retain_as_published", s.retain_as_published},
           {"retain_handling", s.retain_handling}};
    if (s.identifier != 0) j["identifier"] = s.identifier;
    if (!s.shared_group.empty()) j["shared_group"] = s.shared_group;
    return j;
}

template <class T, class Key>
void sort_by(std::vector<T>& v, Key key) {
    std::sort(v.begin(), v.end(), [&](const T& a, const T& b) { return key(a) < key(b); });
}

std::vector<std::byte> to_bytes(const std::string& s) {
    std::vector<std::byte> out(s.size());
    std::transform(s.begin(), s.end(), out.begin(), [](char c) { return static_cast<std::byte>(c); });
    return out;
}

// The payload of a POST /api/v1/publish body ("payload" as text, or "payload_base64"); why not, as a string.
std::variant<std::vector<std::byte>, std::string> parse_payload(const json& j) {
    const auto payload = j.find("payload");
    const auto payload64 = j.find("payload_base64");
    if (payload != j.end() && payload64 != j.end())
        return std::string("give \"payload\" or \"payload_base64\", not both");
    if (payload != j.end()) {
        if (!payload->is_string()) return std::string("\"payload\" must be a string");
        return to_bytes(payload->get_ref<const std::string&>());
    }
    if (payload64 != j.end()) {
        if (!payload64->is_string()) return std::string("\"payload_base64\" must be a string");
        const auto bytes = common::base64_decode(payload64->get_ref<const std::string&>());
        if (!bytes) return std::string("\"payload_base64\" is not valid base64");
        return to_bytes(*bytes);
    }
    return std::vector<std::byte>{};
}

// POST /api/v1/publish: the body as a message, or why not.
std::variant<broker::BrokerPublish, std::string> parse_publish(const std::string& body) {
    const json j = json::parse(body, nullptr, false);
    if (j.is_discarded()) return std::string("body is not valid JSON");
    if (!j.is_object()) return std::string("body must be a JSON object");
    broker::BrokerPublish p;
    const auto topic = j.find("topic");
    if (topic == j.end() || !topic->is_string()) return std::string("\"topic\" (a string) is required");
    p.topic = topic->get<std::string>();
    if (codec::validate_topic_name(p.topic) != codec::TopicError::None)
        return "\"topic\" is not a valid topic name: \"" + p.topic + "\"";
    if (p.topic.starts_with('$')) return std::string("\"topic\" must not start with '$' (reserved for the broker)");
    auto payload = parse_payload(j);
    if (auto* why = std::get_if<std::string>(&payload)) return std::move(*why);
    p.payload = std::move(std::get<std::vector<std::byte>>(payload));
    if (const auto qos = j.find("qos"); qos != j.end()) {
        if (!qos->is_number_integer() || qos->get<std::int64_t>() < 0 || qos->get<std::int64_t>() > 2)
            return std::string("\"qos\" must be 0, 1 or 2");
        p.qos = static_cast<codec::QoS>(qos->get<int>());
    }
    if (const auto retain = j.find("retain"); retain != j.end()) {
        if (!retain->is_boolean()) return std::string("\"retain\" must be true or false");
        p.retain = retain->get<bool>();
    }
    if (const auto ct = j.find("content_type"); ct != j.end()) {
        if (!ct->is_string()) return std::string("\"content_type\" must be a string");
        p.content_type = ct->get<std::string>();
    }
    if (const auto up = j.find("user_properties"); up != j.end()) {
        if (!up->is_object()) return std::string("\"user_properties\" must be an object of strings");
        for (const auto& [k, v] : up->items()) {
            if (!v.is_string()) return "user property \"" + k + "\" must be a string";
            p.user_properties.emplace_back(k, v.get<std::string>());
        }
    }
    return p;
}

// ---- the routes, in the order of docs/http-api.md ----

void stats(Call& c) {
    if (!c.only("GET")) return;
    const StatsInfo s = c.backend.stats();
    c.done(json_response(200, json{{"version", s.version},
                                   {"uptime_s", s.uptime_s},
                                   {"workers", s.workers},
                                   {"clients_connected", s.clients_connected},
                                   {"sessions", s.sessions},
                                   {"subscriptions", s.subscriptions},
                                   {"retained", s.retained},
                                   {"messages_received", s.messages_received},
                                   {"messages_sent", s.messages_sent},
                                   {"bytes_received", s.bytes_received},
                                   {"bytes_sent", s.bytes_sent},
                                   {"messages_dropped", s.messages_dropped}}));
}

void clients(Call& c) {
    if (!c.only("GET")) return;
    broker::SnapshotQuery q;
    q.clients = true;
    c.backend.snapshot(q, [done = std::move(c.done)](broker::CoreSnapshot s) {
        sort_by(s.clients, [](const broker::ClientInfo& x) -> const std::string& { return x.client_id; });
        const auto now = std::chrono::system_clock::now();
        json list = json::array();
        for (const auto& x : s.clients) list.push_back(client_json(x, now));
        done(json_response(200, json{{"clients", std::move(list)}}));
    });
}

// GET or DELETE /api/v1/clients/<percent-encoded id>.
void client(Call& c) {
    auto id = percent_decode(c.path.substr(std::string_view("clients/").size()));
    if (!id) {
        c.done(error(400, "malformed percent-encoding in the client id"));
        return;
    }
    const std::string& method = c.request.method;
    if (method == "DELETE") {
        c.backend.disconnect(*id, [id = *id, done = std::move(c.done)](bool found) {
            if (found) {
                done(json_response(200, json{{"disconnected", id}}));
            } else {
                done(error(404, "no connected client \"" + id + "\""));
            }
        });
        return;
    }
    if (method != "GET" && method != "HEAD") {
        c.done(method_not_allowed("GET, HEAD, DELETE"));
        return;
    }
    broker::SnapshotQuery q;
    q.clients = true;
    q.client_id = *id;
    c.backend.snapshot(q, [id = *id, done = std::move(c.done)](broker::CoreSnapshot s) {
        if (s.clients.empty()) {
            done(error(404, "no connected client \"" + id + "\""));
        } else {
            done(json_response(200, client_json(s.clients.front(), std::chrono::system_clock::now())));
        }
    });
}

void sessions(Call& c) {
    if (!c.only("GET")) return;
    broker::SnapshotQuery q;
    q.sessions = true;
    c.backend.snapshot(q, [done = std::move(c.done)](broker::CoreSnapshot s) {
        sort_by(s.sessions, [](const broker::SessionInfo& x) -> const std::string& { return x.client_id; });
        json list = json::array();
        for (const auto& x : s.sessions) {
            list.push_back(json{{"client_id", x.client_id},
                                {"connected", x.connected},
                                {"expiry_interval_s", x.expiry_interval_s},
                                {"subscriptions", x.subscriptions},
                                {"inflight", x.inflight},
                                {"queued", x.queued}});
        }
        done(json_response(200, json{{"sessions", std::move(list)}}));
    });
}

void subscriptions(Call& c) {
    if (!c.only("GET")) return;
    broker::SnapshotQuery q;
    q.subscriptions = true;
    if (c.query.find("client_id") != std::string_view::npos) {
        auto id = query_param(c.query, "client_id");
        if (!id) {
            c.done(error(400, "malformed query parameter client_id"));
            return;
        }
        q.client_id = std::move(*id);
    }
    c.backend.snapshot(q, [done = std::move(c.done)](broker::CoreSnapshot s) {
        std::sort(s.subscriptions.begin(), s.subscriptions.end(), [](const auto& a, const auto& b) {
            return std::tie(a.client_id, a.shared_group, a.filter) < std::tie(b.client_id, b.shared_group, b.filter);
        });
        json list = json::array();
        for (const auto& x : s.subscriptions) list.push_back(subscription_json(x));
        done(json_response(200, json{{"subscriptions", std::move(list)}}));
    });
}

// The filter and limit of GET /api/v1/retained (defaults "#" and kDefaultRetainedLimit), or the 400 to answer.
std::variant<std::pair<std::string, std::size_t>, Response> retained_query(std::string_view query) {
    std::string filter = "#";
    std::size_t limit = kDefaultRetainedLimit;
    if (query.find("filter") != std::string_view::npos) {
        auto f = query_param(query, "filter");
        if (!f) return error(400, "malformed query parameter filter");
        filter = std::move(*f);
    }
    if (query.find("limit") != std::string_view::npos) {
        const auto l = query_param(query, "limit");
        if (!l || l->empty() || l->size() > 9 ||
            !std::all_of(l->begin(), l->end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
            return error(400, "\"limit\" must be a non-negative integer below 1000000000");
        }
        limit = static_cast<std::size_t>(std::stoul(*l));
    }
    if (codec::validate_topic_filter(filter) != codec::TopicError::None || codec::parse_shared_filter(filter)) {
        return error(400, "\"filter\" is not a valid topic filter: \"" + filter + "\"");
    }
    return std::pair{std::move(filter), limit};
}

void retained(Call& c) {
    if (!c.only("GET")) return;
    auto parsed = retained_query(c.query);
    if (auto* refusal = std::get_if<Response>(&parsed)) {
        c.done(std::move(*refusal));
        return;
    }
    const auto& [filter, limit] = std::get<std::pair<std::string, std::size_t>>(parsed);
    bool truncated = false;
    auto list = c.backend.retained(filter, limit, truncated);
    sort_by(list, [](const RetainedInfo& r) -> const std::string& { return r.topic; });
    json out = json::array();
    for (const auto& r : list) {
        const std::string_view bytes(reinterpret_cast<const char*>(r.payload.data()), r.payload.size());
        json j{{"topic", r.topic}, {"qos", r.qos}, {"size", r.payload.size()}};
        if (common::is_valid_mqtt_utf8(bytes)) j["payload"] = std::string(bytes);
        j["payload_base64"] = common::base64_encode(bytes);
        if (r.content_type) j["content_type"] = *r.content_type;
        out.push_back(std::move(j));
    }
    c.done(json_response(200, json{{"retained", std::move(out)}, {"truncated", truncated}}));
}

void listeners(Call& c) {
    if (!c.only("GET")) return;
    broker::SnapshotQuery q;
    q.listeners = true;
    c.backend.snapshot(q, [listeners = c.backend.listeners(), done = std::move(c.done)](broker::CoreSnapshot s) {
        json list = json::array();
        for (const auto& l : listeners) {
            const auto it = s.connections_by_listener.find(l.name);
            list.push_back(json{{"name", l.name},
                                {"kind", l.kind},
                                {"address", l.address},
                                {"port", l.port},
                                {"anonymous", l.anonymous},
                                {"connections", it == s.connections_by_listener.end() ? 0 : it->second}});
        }
        done(json_response(200, json{{"listeners", std::move(list)}}));
    });
}

json bridge_json(const BridgeView& b) {
    const BridgeInfo& l = b.link;
    const std::string since = l.connected && l.connected_since_unix_ms > 0
                                  ? rfc3339_seconds(l.connected_since_unix_ms / 1000)
                                  : std::string();
    return json{{"name", l.name},
                {"connected", l.connected},
                {"address", l.address},
                {"last_error", l.last_error.empty() ? json(nullptr) : json(l.last_error)},
                {"connected_since", since.empty() ? json(nullptr) : json(since)},
                {"sent", l.sent},
                {"received", l.received},
                {"refused", l.refused},
                {"reconnects", l.reconnects},
                {"queued_messages", b.queued_messages},
                {"queued_bytes", b.queued_bytes},
                {"dropped", b.dropped}};
}

void bridges(Call& c) {
    if (!c.only("GET")) return;
    bridge_views(c.backend, [done = std::move(c.done)](std::vector<BridgeView> views) {
        json list = json::array();
        for (const auto& b : views) list.push_back(bridge_json(b));
        done(json_response(200, json{{"bridges", std::move(list)}}));
    });
}

// GET /api/v1/cluster: this node, its link to NATS and the nodes it hears from (docs/cluster.md).
void cluster(Call& c) {
    if (!c.only("GET")) return;
    const auto status = c.backend.cluster();
    if (!status) {
        c.done(json_response(200, json{{"enabled", false}, {"nodes", json::array()}}));
        return;
    }
    json nodes = json::array();
    for (const auto& n : status->nodes) {
        const auto& r = n.report;
        nodes.push_back({{"name", r.node},
                         {"self", n.self},
                         {"alive", n.alive},
                         {"last_seen", n.last_seen_unix_ms > 0 ? json(rfc3339_seconds(n.last_seen_unix_ms / 1000))
                                                               : json(nullptr)},
                         {"version", r.version},
                         {"started", r.started_unix_ms > 0 ? json(rfc3339_seconds(r.started_unix_ms / 1000))
                                                           : json(nullptr)},
                         {"clients_connected", r.connections},
                         {"sessions", r.sessions},
                         {"subscriptions", r.subscriptions},
                         {"messages_received", r.messages_received},
                         {"messages_sent", r.messages_sent},
                         {"retained", r.retained}});
    }
    c.done(json_response(200, json{{"enabled", true},
                                   {"node", status->node},
                                   {"link", {{"connected", status->connected},
                                             {"server", status->server},
                                             {"last_error", status->last_error.empty() ? json(nullptr)
                                                                                        : json(status->last_error)},
                                             {"reconnects", status->reconnects}}},
                                   {"published", status->published},
                                   {"received", status->received},
                                   {"duplicates", status->duplicates},
                                   {"publish_failures", status->publish_failures},
                                   {"interests", status->interests},
                                   {"nodes", std::move(nodes)}}));
}

void publish(Call& c) {
    if (!c.only("POST")) return;
    auto parsed = parse_publish(c.request.body);
    if (auto* why = std::get_if<std::string>(&parsed)) {
        c.done(error(400, *why));
        return;
    }
    if (auto refused = c.backend.publish(std::move(std::get<broker::BrokerPublish>(parsed)))) {
        c.done(error(400, *refused));
        return;
    }
    c.done(json_response(200, json{{"published", true}}));
}

// GET, HEAD or PUT /api/v1/dashboard: the console's stored layout, a JSON document the API does not interpret.
void dashboard(Call& c) {
    const std::string& method = c.request.method;
    if (method == "GET" || method == "HEAD") {
        c.backend.load_dashboard([done = std::move(c.done)](std::optional<std::string> doc, std::string why) {
            if (!why.empty()) {
                done(error(500, "cannot read the stored dashboard: " + why));
            } else if (!doc) {
                done(error(404, "no dashboard stored yet"));
            } else {
                Response r;
                r.body = std::move(*doc);
                done(std::move(r));
            }
        });
        return;
    }
    if (method != "PUT") {
        c.done(method_not_allowed("GET, HEAD, PUT"));
        return;
    }
    if (c.request.body.size() > kMaxDashboardBytes) {
        c.done(error(413, "the dashboard document is larger than 256 KiB"));
        return;
    }
    if (!json::accept(c.request.body)) {
        c.done(error(400, "body is not valid JSON"));
        return;
    }
    c.backend.save_dashboard(c.request.body, [done = std::move(c.done)](std::string why) {
        if (!why.empty()) {
            done(error(500, "cannot store the dashboard: " + why));
        } else {
            done(json_response(200, json{{"saved", true}}));
        }
    });
}

struct Route {
    std::string_view path;  // the whole path after /api/v1/, or its prefix when it ends in '/'
    void (*handler)(Call&);
};

constexpr std::array<Route, 13> kRoutes{{
    {"stats", stats},
    {"clients", clients},
    {"clients/", client},
    {"sessions", sessions},
    {"subscriptions", subscriptions},
    {"retained", retained},
    {"listeners", listeners},
    {"bridges", bridges},
    {"cluster", cluster},
    {"publish", publish},
    {"dashboard", dashboard},
    {"bans", bans},
    {"bans/", ban},
}};

}  // namespace

Response json_response(unsigned status, const json& j) {
    Response r;
    r.status = status;
    r.content_type = "application/json";
    r.body = j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
    return r;
}

Response error(unsigned status, std::string_view why) {
    return json_response(status, json{{"error", why}});
}

Response method_not_allowed(std::string_view allow) {
    Response r = error(405, "method not allowed here (allowed: " + std::string(allow) + ")");
    r.headers.emplace_back("Allow", std::string(allow));
    return r;
}

bool Call::only(std::string_view allowed) {
    const std::string& method = request.method;
    if (method == allowed || (allowed == "GET" && method == "HEAD")) return true;
    done(method_not_allowed(allowed == "GET" ? "GET, HEAD" : allowed));
    return false;
}

void route_api(Call call) {
    for (const Route& r : kRoutes) {
        if (r.path.ends_with('/') ? call.path.starts_with(r.path) : call.path == r.path) {
            r.handler(call);
            return;
        }
    }
    call.done(error(404, "no such API endpoint: /api/v1/" + std::string(call.path)));
}

void bridge_views(Backend& backend, std::function<void(std::vector<BridgeView>)> done) {
    std::vector<BridgeInfo> links = backend.bridges();
    if (links.empty()) {
        done({});
        return;
    }
    sort_by(links, [](const BridgeInfo& b) -> const std::string& { return b.name; });
    struct Gather {
        std::vector<BridgeView> views;
        std::size_t remaining = 0;
        std::function<void(std::vector<BridgeView>)> done;
    };
    auto g = std::make_shared<Gather>();
    std::vector<broker::SnapshotQuery> queries;
    for (auto& l : links) {
        broker::SnapshotQuery q;
        q.sessions = true;
        q.client_id = std::string(broker::kBridgeClientPrefix) + l.name;
        queries.push_back(std::move(q));
        g->views.push_back(BridgeView{std::move(l)});
    }
    g->remaining = queries.size();
    g->done = std::move(done);
    // One query per bridge, for its queue's client id only: a snapshot of every session would copy them all.
    for (std::size_t i = 0; i < queries.size(); ++i) {
        backend.snapshot(queries[i], [g, i, id = *queries[i].client_id](broker::CoreSnapshot s) {
            for (const auto& x : s.sessions) {
                if (x.client_id != id) continue;
                g->views[i].queued_messages = x.queued;
                g->views[i].queued_bytes = x.queued_bytes;
                g->views[i].dropped = x.dropped;
            }
            if (--g->remaining == 0) g->done(std::move(g->views));
        });
    }
}

void metrics(const Request& request, Backend& backend, std::function<void(Response)> done) {
    if (request.method != "GET" && request.method != "HEAD") {
        done(method_not_allowed("GET, HEAD"));
        return;
    }
    // Two answers to wait for, both asked for now: the listeners' connection counts and the bridges' queues.
    struct Gather {
        StatsInfo stats;
        std::vector<std::pair<std::string, std::size_t>> connections;
        std::vector<BridgeView> bridges;
        std::vector<GatewayInfo> gateways;
        std::optional<broker::ClusterStatus> cluster;
        int remaining = 2;
        std::function<void(Response)> done;

        void part_done() {
            if (--remaining != 0) return;
            Response r;
            r.content_type = "text/plain; version=0.0.4; charset=utf-8";
            r.body = metrics_text(stats, connections, bridges, gateways, cluster);
            done(std::move(r));
        }
    };
    auto g = std::make_shared<Gather>();
    g->stats = backend.stats();
    g->gateways = backend.gateways();
    g->cluster = backend.cluster();
    g->done = std::move(done);
    broker::SnapshotQuery query_all;
    query_all.listeners = true;
    backend.snapshot(query_all, [g, names = backend.listeners()](broker::CoreSnapshot s) {
        for (const auto& l : names) {
            const auto it = s.connections_by_listener.find(l.name);
            g->connections.emplace_back(l.name, it == s.connections_by_listener.end() ? 0 : it->second);
        }
        g->part_done();
    });
    bridge_views(backend, [g](std::vector<BridgeView> views) {
        g->bridges = std::move(views);
        g->part_done();
    });
}

}  // namespace moth::http::detail
