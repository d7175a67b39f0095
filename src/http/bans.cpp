// The ban list's routes (issue 19; docs/http-api.md is the contract): GET and POST /api/v1/bans, DELETE
// /api/v1/bans/<kind>/<value>. The list lives in the broker's Gate (mothd's AbuseGate: shared by every worker,
// thread-safe, persisted in the store), so these routes call it directly on the HTTP worker's thread. Adding a ban
// disconnects the connected clients it matches by itself: nothing here talks to the cores.
#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <variant>

#include <nlohmann/json.hpp>

#include "broker/gate.hpp"
#include "http/routes.hpp"

namespace moth::http::detail {

using nlohmann::json;

namespace {

// The longest ban the API takes (100 years): with it, now + duration never overflows, and every time shown stays
// within what system_clock and RFC 3339 can print.
constexpr std::int64_t kMaxBanSeconds = std::int64_t{100} * 366 * 24 * 3600;

Response no_gate() {
    return error(503, "this broker keeps no ban list (it runs without abuse limits)");
}

json ban_json(const limits::Ban& b) {
    json j{{"kind", std::string(to_string(b.kind))},
           {"value", b.value},
           {"reason", b.reason},
           {"until", nullptr},
           {"until_text", nullptr},
           {"source", std::string(to_string(b.source))},
           {"created", b.created}};
    if (b.until) {
        j["until"] = *b.until;
        if (auto text = rfc3339_seconds(*b.until); !text.empty()) j["until_text"] = std::move(text);
    }
    return j;
}

// A JSON integer as an int64 (nullopt for anything else: fractions, strings, numbers beyond int64).
std::optional<std::int64_t> whole_number(const json& v) {
    if (!v.is_number_integer()) return std::nullopt;
    if (v.is_number_unsigned() && v.get<std::uint64_t>() > std::uint64_t{std::numeric_limits<std::int64_t>::max()})
        return std::nullopt;
    return v.get<std::int64_t>();
}

// The expiry a POST body asks for ("duration_s" from now, or "until" as Unix seconds; neither: until removed), or
// why not.
std::variant<std::optional<std::int64_t>, std::string> parse_expiry(const json& j, std::int64_t now) {
    const auto duration = j.find("duration_s");
    const auto until = j.find("until");
    const bool has_duration = duration != j.end() && !duration->is_null();
    const bool has_until = until != j.end() && !until->is_null();
    if (has_duration && has_until) return std::string("give \"duration_s\" or \"until\", not both");
    if (has_duration) {
        const auto s = whole_number(*duration);
        if (!s || *s <= 0 || *s > kMaxBanSeconds) {
            return "\"duration_s\" must be a whole number of seconds from 1 to " + std::to_string(kMaxBanSeconds) +
                   " (100 years)";
        }
        return std::optional<std::int64_t>(now + *s);
    }
    if (has_until) {
        const auto t = whole_number(*until);
        if (!t || *t <= now || *t > now + kMaxBanSeconds) {
            return std::string("\"until\" must be a Unix time in seconds, in the future and within 100 years");
        }
        return std::optional<std::int64_t>(*t);
    }
    return std::optional<std::int64_t>();
}

// POST /api/v1/bans: the ban the body asks for (its value made canonical by make_ban), or why not.
std::variant<limits::Ban, std::string> parse_ban(const std::string& body, std::int64_t now) {
    const json j = json::parse(body, nullptr, false);
    if (j.is_discarded()) return std::string("body is not valid JSON");
    if (!j.is_object()) return std::string("body must be a JSON object");
    const auto kind = j.find("kind");
    const auto k =
        kind != j.end() && kind->is_string() ? limits::ban_kind(kind->get_ref<const std::string&>()) : std::nullopt;
    if (!k) return std::string(R"("kind" must be "client_id", "username" or "address")");
    const auto value = j.find("value");
    if (value == j.end() || !value->is_string()) return std::string("\"value\" (a string) is required");
    std::string why;
    auto ban = limits::make_ban(*k, value->get_ref<const std::string&>(), &why);
    if (!ban) return why;
    if (const auto reason = j.find("reason"); reason != j.end() && !reason->is_null()) {
        if (!reason->is_string()) return std::string("\"reason\" must be a string");
        ban->reason = reason->get<std::string>();
    }
    auto expiry = parse_expiry(j, now);
    if (auto* bad = std::get_if<std::string>(&expiry)) return std::move(*bad);
    ban->until = std::get<std::optional<std::int64_t>>(expiry);
    return std::move(*ban);
}

void add_ban(Call& c, broker::Gate& gate) {
    auto parsed = parse_ban(c.request.body, gate.wall_now());
    if (auto* why = std::get_if<std::string>(&parsed)) {
        c.done(error(400, *why));
        return;
    }
    limits::Ban ban = std::move(std::get<limits::Ban>(parsed));
    // What the gate makes of it (source api, created now), in case the list no longer holds it when read back.
    limits::Ban stored = ban;
    stored.source = limits::Ban::Source::Api;
    stored.created = gate.wall_now();
    gate.add_ban(std::move(ban));
    for (auto& b : gate.bans()) {
        if (b.kind == stored.kind && b.value == stored.value) {
            stored = std::move(b);
            break;
        }
    }
    c.done(json_response(201, ban_json(stored)));
}

}  // namespace

// GET, HEAD or POST /api/v1/bans.
void bans(Call& c) {
    const std::string& method = c.request.method;
    if (method != "GET" && method != "HEAD" && method != "POST") {
        c.done(method_not_allowed("GET, HEAD, POST"));
        return;
    }
    broker::Gate* gate = c.backend.gate();
    if (gate == nullptr) {
        c.done(no_gate());
        return;
    }
    if (method == "POST") {
        add_ban(c, *gate);
        return;
    }
    json list = json::array();
    for (const auto& b : gate->bans()) list.push_back(ban_json(b));
    c.done(json_response(200, json{{"bans", std::move(list)}}));
}

// DELETE /api/v1/bans/<kind>/<percent-encoded value>. The value is everything after the kind's slash, so an
// unencoded CIDR ("10.0.0.0/8") works as well as "fd00%3A%3A%2F8".
void ban(Call& c) {
    if (c.request.method != "DELETE") {
        c.done(method_not_allowed("DELETE"));
        return;
    }
    broker::Gate* gate = c.backend.gate();
    if (gate == nullptr) {
        c.done(no_gate());
        return;
    }
    const std::string_view rest = c.path.substr(std::string_view("bans/").size());
    const auto slash = rest.find('/');
    const auto kind_name = percent_decode(rest.substr(0, slash));
    const auto kind = kind_name ? limits::ban_kind(*kind_name) : std::nullopt;
    if (!kind || slash == std::string_view::npos) {
        c.done(error(400, "the path must be /api/v1/bans/<kind>/<value>, kind client_id, username or address"));
        return;
    }
    const auto value = percent_decode(rest.substr(slash + 1));
    if (!value || value->empty()) {
        c.done(error(400, value ? "the ban's value is missing" : "malformed percent-encoding in the ban's value"));
        return;
    }
    // Any spelling of an address names its ban ("FD00:0::/8" is "fd00::/8"); other values are taken as they are.
    const std::string key = limits::canonical_value(*kind, *value);
    if (!gate->remove_ban(*kind, key)) {
        c.done(error(404, "no ban of " + std::string(to_string(*kind)) + " \"" + key + "\""));
        return;
    }
    Response r;
    r.status = 204;
    r.content_type.clear();
    c.done(std::move(r));
}

}  // namespace moth::http::detail
