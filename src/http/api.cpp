#include "http/api.hpp"

#include <algorithm>
#include <array>
#include <ctime>
#include <filesystem>
#include <memory>
#include <system_error>
#include <tuple>
#include <variant>

#include <nlohmann/json.hpp>

#include "codec/topic.hpp"
#include "common/base64.hpp"
#include "common/utf8.hpp"
#include "http/assets.hpp"
#include "http/origin.hpp"

namespace moth::http {

using nlohmann::json;

namespace {

constexpr std::string_view kJson = "application/json";

std::string dump(const json& j) {
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Response json_response(unsigned status, const json& j) {
    Response r;
    r.status = status;
    r.content_type = std::string(kJson);
    r.body = dump(j) + "\n";
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

// Compares without stopping at the first difference, so the time taken does not tell how much of a guess was right.
// `expected` is the configured secret (never empty here).
bool same_secret(std::string_view given, std::string_view expected) {
    std::size_t diff = given.size() ^ expected.size();
    for (std::size_t i = 0; i < expected.size(); ++i) {
        const char g = i < given.size() ? given[i] : '\0';
        diff |= static_cast<unsigned char>(g ^ expected[i]);
    }
    return diff == 0 && !expected.empty();
}

bool starts_with_ci(std::string_view s, std::string_view prefix) {
    if (s.size() < prefix.size()) return false;
    for (std::size_t i = 0; i < prefix.size(); ++i) {
        const auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
        if (lower(s[i]) != lower(prefix[i])) return false;
    }
    return true;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

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
                {"denied", c.denied}};
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
    const auto payload = j.find("payload");
    const auto payload64 = j.find("payload_base64");
    if (payload != j.end() && payload64 != j.end())
        return std::string("give \"payload\" or \"payload_base64\", not both");
    if (payload != j.end()) {
        if (!payload->is_string()) return std::string("\"payload\" must be a string");
        const auto& s = payload->get_ref<const std::string&>();
        p.payload.resize(s.size());
        std::transform(s.begin(), s.end(), p.payload.begin(), [](char c) { return static_cast<std::byte>(c); });
    } else if (payload64 != j.end()) {
        if (!payload64->is_string()) return std::string("\"payload_base64\" must be a string");
        const auto bytes = common::base64_decode(payload64->get_ref<const std::string&>());
        if (!bytes) return std::string("\"payload_base64\" is not valid base64");
        p.payload.resize(bytes->size());
        std::transform(bytes->begin(), bytes->end(), p.payload.begin(),
                       [](char c) { return static_cast<std::byte>(c); });
    }
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

}  // namespace

bool is_json_media_type(std::string_view content_type) noexcept {
    const std::string_view type = trim(content_type.substr(0, content_type.find(';')));
    return type.size() == kJson.size() && starts_with_ci(type, kJson);
}

Api::Api(Settings settings, Backend& backend) : settings_(std::move(settings)), backend_(backend) {}

bool Api::authorized(const Request& request) const {
    const bool token = !settings_.api_token.empty();
    const bool basic = !settings_.api_username.empty();
    if (!token && !basic) return true;
    const std::string_view auth = trim(request.authorization);
    if (token && starts_with_ci(auth, "bearer ")) {
        return same_secret(trim(auth.substr(7)), settings_.api_token);
    }
    if (basic && starts_with_ci(auth, "basic ")) {
        const auto decoded = common::base64_decode(trim(auth.substr(6)));
        if (!decoded) return false;
        const auto colon = decoded->find(':');
        if (colon == std::string::npos) return false;
        const bool user_ok = same_secret(std::string_view(*decoded).substr(0, colon), settings_.api_username);
        const bool pass_ok = same_secret(std::string_view(*decoded).substr(colon + 1), settings_.api_password);
        return user_ok && pass_ok;
    }
    return false;
}

void Api::handle(const Request& request, std::function<void(Response)> done) {
    const std::string_view target = request.target;
    const auto q = target.find('?');
    const std::string_view raw_path = target.substr(0, q);
    const std::string_view query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
    if (raw_path.empty() || raw_path.front() != '/') {
        done(error(400, "the request target must be an absolute path"));
        return;
    }
    const bool is_api = raw_path == "/api" || raw_path.starts_with("/api/");
    if (is_api || raw_path == "/metrics") {
        // Before the credentials: a page on another site must learn nothing, not even whether they are needed.
        // A browser sends its cookies and cached Basic credentials along, so credentials prove nothing here.
        if (auto why = cross_site_refusal(request.origin, request.sec_fetch_site, request.host)) {
            done(error(403, *why));
            return;
        }
        if (!authorized(request)) {
            Response r = error(401, "authentication required (Authorization: Bearer <token> or Basic)");
            r.headers.emplace_back("WWW-Authenticate", "Basic realm=\"mothd\"");
            done(std::move(r));
            return;
        }
    }
    if (raw_path == "/metrics") {
        if (request.method != "GET" && request.method != "HEAD") {
            done(method_not_allowed("GET, HEAD"));
            return;
        }
        const StatsInfo stats = backend_.stats();
        broker::SnapshotQuery query_all;
        query_all.listeners = true;
        auto names = backend_.listeners();
        backend_.snapshot(query_all, [stats, names = std::move(names), done = std::move(done)](broker::CoreSnapshot s) {
            std::vector<std::pair<std::string, std::size_t>> connections;
            for (const auto& l : names) {
                const auto it = s.connections_by_listener.find(l.name);
                connections.emplace_back(l.name, it == s.connections_by_listener.end() ? 0 : it->second);
            }
            Response r;
            r.content_type = "text/plain; version=0.0.4; charset=utf-8";
            r.body = metrics_text(stats, connections);
            done(std::move(r));
        });
        return;
    }
    // A body the API reads is JSON, and must say so: text/plain, form and multipart bodies are what a page on
    // another site can send without a CORS preflight (a "simple" request).
    const bool has_body =
        request.method == "POST" || request.method == "PUT" || request.method == "PATCH" || !request.body.empty();
    if (is_api && has_body && !is_json_media_type(request.content_type)) {
        done(error(415, "request bodies must be JSON (Content-Type: application/json), got " +
                            (request.content_type.empty() ? std::string("no Content-Type")
                                                          : "Content-Type: " + request.content_type)));
        return;
    }
    if (raw_path.starts_with("/api/v1/")) {
        handle_api(request, raw_path.substr(8), query, std::move(done));
        return;
    }
    if (is_api) {
        done(error(404, "no such API endpoint (the API is under /api/v1/)"));
        return;
    }

    // Static files.
    if (request.method != "GET" && request.method != "HEAD") {
        Response r = method_not_allowed("GET, HEAD");
        r.content_type = "text/plain; charset=utf-8";
        r.body = "405 method not allowed: static files take GET and HEAD\n";
        done(std::move(r));
        return;
    }
    const auto path = percent_decode(raw_path);
    auto not_found = [] {
        Response r;
        r.status = 404;
        r.content_type = "text/html; charset=utf-8";
        r.body =
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>404 Not Found</title></head>"
            "<body><h1>404 Not Found</h1><p>mothd has no file at this address.</p>"
            "<p><a href=\"/\">Start page</a></p></body></html>\n";
        return r;
    };
    if (!path) {
        done(error(400, "malformed percent-encoding in the path"));
        return;
    }
    auto serve = [](std::string_view name, std::string content) {
        Response r;
        r.content_type = std::string(content_type_for(name));
        r.body = std::move(content);
        if (name.ends_with("index.html")) r.headers.emplace_back("Cache-Control", "no-cache");
        return r;
    };
    if (settings_.web_root.empty()) {
        const EmbeddedAsset* a = find_embedded(*path);
        if (a == nullptr) {
            done(not_found());
        } else {
            Response r = serve(a->path, std::string(a->bytes));
            r.content_type = std::string(a->content_type);
            done(std::move(r));
        }
        return;
    }
    backend_.read_static(settings_.web_root, *path,
                         [done = std::move(done), serve, not_found](std::optional<Backend::File> f) {
                             if (!f) {
                                 done(not_found());
                             } else {
                                 done(serve(f->name, std::move(f->content)));
                             }
                         });
}

void Api::handle_api(const Request& request, std::string_view path, std::string_view query,
                     std::function<void(Response)> done) {
    const std::string& method = request.method;
    const auto only = [&](std::string_view allowed) {
        // "GET" also takes HEAD, as everywhere on this server.
        if (method == allowed || (allowed == "GET" && method == "HEAD")) return true;
        done(method_not_allowed(allowed == "GET" ? "GET, HEAD" : allowed));
        return false;
    };
    const auto bad_query = [&](std::string_view key) {
        done(error(400, "malformed query parameter " + std::string(key)));
    };

    if (path == "stats") {
        if (!only("GET")) return;
        const StatsInfo s = backend_.stats();
        done(json_response(200, json{{"version", s.version},
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
        return;
    }
    if (path == "clients") {
        if (!only("GET")) return;
        broker::SnapshotQuery q;
        q.clients = true;
        backend_.snapshot(q, [done = std::move(done)](broker::CoreSnapshot s) {
            sort_by(s.clients, [](const broker::ClientInfo& c) -> const std::string& { return c.client_id; });
            const auto now = std::chrono::system_clock::now();
            json list = json::array();
            for (const auto& c : s.clients) list.push_back(client_json(c, now));
            done(json_response(200, json{{"clients", std::move(list)}}));
        });
        return;
    }
    if (path.starts_with("clients/")) {
        auto id = percent_decode(path.substr(8));
        if (!id) {
            done(error(400, "malformed percent-encoding in the client id"));
            return;
        }
        if (method == "DELETE") {
            backend_.disconnect(*id, [id = *id, done = std::move(done)](bool found) {
                if (found) {
                    done(json_response(200, json{{"disconnected", id}}));
                } else {
                    done(error(404, "no connected client \"" + id + "\""));
                }
            });
            return;
        }
        if (method != "GET" && method != "HEAD") {
            done(method_not_allowed("GET, HEAD, DELETE"));
            return;
        }
        broker::SnapshotQuery q;
        q.clients = true;
        q.client_id = *id;
        backend_.snapshot(q, [id = *id, done = std::move(done)](broker::CoreSnapshot s) {
            if (s.clients.empty()) {
                done(error(404, "no connected client \"" + id + "\""));
            } else {
                done(json_response(200, client_json(s.clients.front(), std::chrono::system_clock::now())));
            }
        });
        return;
    }
    if (path == "sessions") {
        if (!only("GET")) return;
        broker::SnapshotQuery q;
        q.sessions = true;
        backend_.snapshot(q, [done = std::move(done)](broker::CoreSnapshot s) {
            sort_by(s.sessions, [](const broker::SessionInfo& c) -> const std::string& { return c.client_id; });
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
        return;
    }
    if (path == "subscriptions") {
        if (!only("GET")) return;
        broker::SnapshotQuery q;
        q.subscriptions = true;
        if (query.find("client_id") != std::string_view::npos) {
            auto id = query_param(query, "client_id");
            if (!id) {
                bad_query("client_id");
                return;
            }
            q.client_id = std::move(*id);
        }
        backend_.snapshot(q, [done = std::move(done)](broker::CoreSnapshot s) {
            std::sort(s.subscriptions.begin(), s.subscriptions.end(), [](const auto& a, const auto& b) {
                return std::tie(a.client_id, a.shared_group, a.filter) <
                       std::tie(b.client_id, b.shared_group, b.filter);
            });
            json list = json::array();
            for (const auto& x : s.subscriptions) list.push_back(subscription_json(x));
            done(json_response(200, json{{"subscriptions", std::move(list)}}));
        });
        return;
    }
    if (path == "retained") {
        if (!only("GET")) return;
        std::string filter = "#";
        std::size_t limit = kDefaultRetainedLimit;
        if (query.find("filter") != std::string_view::npos) {
            auto f = query_param(query, "filter");
            if (!f) {
                bad_query("filter");
                return;
            }
            filter = std::move(*f);
        }
        if (query.find("limit") != std::string_view::npos) {
            const auto l = query_param(query, "limit");
            if (!l || l->empty() || l->size() > 9 ||
                !std::all_of(l->begin(), l->end(), [](char c) { return c >= '0' && c <= '9'; })) {
                done(error(400, "\"limit\" must be a non-negative integer below 1000000000"));
                return;
            }
            limit = static_cast<std::size_t>(std::stoul(*l));
        }
        if (codec::validate_topic_filter(filter) != codec::TopicError::None || codec::parse_shared_filter(filter)) {
            done(error(400, "\"filter\" is not a valid topic filter: \"" + filter + "\""));
            return;
        }
        bool truncated = false;
        auto list = backend_.retained(filter, limit, truncated);
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
        done(json_response(200, json{{"retained", std::move(out)}, {"truncated", truncated}}));
        return;
    }
    if (path == "listeners") {
        if (!only("GET")) return;
        broker::SnapshotQuery q;
        q.listeners = true;
        backend_.snapshot(q, [listeners = backend_.listeners(), done = std::move(done)](broker::CoreSnapshot s) {
            json list = json::array();
            for (const auto& l : listeners) {
                const auto it = s.connections_by_listener.find(l.name);
                list.push_back(json{{"name", l.name},
                                    {"kind", l.kind},
                                    {"address", l.address},
                                    {"port", l.port},
                                    {"connections", it == s.connections_by_listener.end() ? 0 : it->second}});
            }
            done(json_response(200, json{{"listeners", std::move(list)}}));
        });
        return;
    }
    if (path == "publish") {
        if (!only("POST")) return;
        auto parsed = parse_publish(request.body);
        if (auto* why = std::get_if<std::string>(&parsed)) {
            done(error(400, *why));
            return;
        }
        if (auto refused = backend_.publish(std::move(std::get<broker::BrokerPublish>(parsed)))) {
            done(error(400, *refused));
            return;
        }
        done(json_response(200, json{{"published", true}}));
        return;
    }
    if (path == "dashboard") {
        if (method == "GET" || method == "HEAD") {
            backend_.load_dashboard([done = std::move(done)](std::optional<std::string> doc, std::string why) {
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
            done(method_not_allowed("GET, HEAD, PUT"));
            return;
        }
        if (request.body.size() > kMaxDashboardBytes) {
            done(error(413, "the dashboard document is larger than 256 KiB"));
            return;
        }
        if (!json::accept(request.body)) {
            done(error(400, "body is not valid JSON"));
            return;
        }
        backend_.save_dashboard(request.body, [done = std::move(done)](std::string why) {
            if (!why.empty()) {
                done(error(500, "cannot store the dashboard: " + why));
            } else {
                done(json_response(200, json{{"saved", true}}));
            }
        });
        return;
    }
    done(error(404, "no such API endpoint: /api/v1/" + std::string(path)));
}

// ---- helpers ----

std::string_view content_type_for(std::string_view path) noexcept {
    static constexpr std::array<std::pair<std::string_view, std::string_view>, 12> kTypes{{
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".woff2", "font/woff2"},
        {".map", "application/json"},
        {".txt", "text/plain; charset=utf-8"},
        {".htm", "text/html; charset=utf-8"},
    }};
    const auto slash = path.rfind('/');
    const std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
    const auto dot = name.rfind('.');
    if (dot == std::string_view::npos) return "application/octet-stream";
    const std::string_view ext = name.substr(dot);
    for (const auto& [e, type] : kTypes) {
        if (e.size() == ext.size() && starts_with_ci(ext, e)) return type;
    }
    return "application/octet-stream";
}

}  // namespace moth::http
