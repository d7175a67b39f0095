#pragma once
// Internal to src/http: the JSON API's routes under /api/v1 and /metrics, one function each (routes.cpp), and the
// response helpers that api.cpp's front door (target, cross-site check, credentials, body type, static files)
// shares with them. Api::handle has checked all of that before a route runs.
//
// Thread affinity: as Api (one worker thread; the Backend's callbacks run on it).
#include <functional>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "http/api.hpp"

namespace moth::http::detail {

// `j` as the JSON body of a response with `status`.
[[nodiscard]] Response json_response(unsigned status, const nlohmann::json& j);
// A JSON body {"error": why} with `status`.
[[nodiscard]] Response error(unsigned status, std::string_view why);
// 405 with an Allow header listing `allow`.
[[nodiscard]] Response method_not_allowed(std::string_view allow);

// One API request on its way through a route. `done` runs exactly once (a route moves it into the Backend's
// callback when it answers later).
struct Call {
    const Request& request;
    std::string_view path;   // after "/api/v1/": "clients/a%2Fb", still percent-encoded
    std::string_view query;  // after '?', "" when none
    Backend& backend;
    std::function<void(Response)> done;

    // Whether the method is `allowed` ("GET" also takes HEAD, as everywhere on this server); answers 405 if not.
    [[nodiscard]] bool only(std::string_view allowed);
};

// The ban list (bans.cpp): GET, HEAD and POST /api/v1/bans; DELETE /api/v1/bans/<kind>/<value>.
void bans(Call& c);
void ban(Call& c);

// The bridges (Backend::bridges()) sorted by name, each with its queue from a snapshot of the session
// "$bridge/<name>"; `done` once every snapshot answered (at once without bridges). Everything is asked of the
// Backend before this returns: the answers may come after the HTTP connection, and its Backend, are gone.
void bridge_views(Backend& backend, std::function<void(std::vector<BridgeView>)> done);

// Answers /api/v1/<call.path> by the route for that path; 404 when there is none.
void route_api(Call call);
// GET /metrics: the Prometheus text of the stats and the per-listener connection counts.
void metrics(const Request& request, Backend& backend, std::function<void(Response)> done);

}  // namespace moth::http::detail
