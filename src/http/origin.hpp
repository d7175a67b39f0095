#pragma once
// Cross-site request checks for the http listener (docs/security.md): which Origin is the listener's own, and
// whether a request to the API shows that a web page on another site made the visitor's browser send it.
// Pure functions on header values: no I/O, shared by the API (src/http/api.cpp) and the /mqtt WebSocket upgrade
// (src/server/ws_handshake.cpp).
#include <optional>
#include <string>
#include <string_view>

namespace moth::http {

// Whether the Origin header value `origin` names the server that the request was sent to, as its Host header
// `host` names it: the same host (case-insensitive) and port, the port of either being its scheme's default when
// left out. The scheme may be http or https: one host and port serves one site, and behind a TLS proxy (or from
// paho-mqtt, which says https on plain WebSocket connections) the page's scheme is not the listener's. "null" (an
// opaque origin), a missing or malformed Host, and anything that is not scheme://host[:port] are not the own origin.
[[nodiscard]] bool same_origin_as_host(std::string_view origin, std::string_view host);

// Why an API request must be refused as cross-site, or nullopt when it may go on. `origin`: the Origin header
// (nullopt when absent); `sec_fetch_site`: the Sec-Fetch-Site header ("" when absent); `host`: the Host header.
// Refused: an Origin that is not same_origin_as_host, Sec-Fetch-Site "cross-site", and Sec-Fetch-Site "same-site"
// without an Origin naming this listener (a sibling subdomain is another origin). Requests with neither header
// (curl, scripts) and Sec-Fetch-Site "same-origin" or "none" (typed into the address bar) go on.
[[nodiscard]] std::optional<std::string> cross_site_refusal(const std::optional<std::string>& origin,
                                                            std::string_view sec_fetch_site, std::string_view host);

}  // namespace moth::http
