// The http listener's front door: the request target, the cross-site check and the credentials for /api and
// /metrics, JSON request bodies, then either a route (routes.cpp) or a static file (web_root or the embedded
// console).
#include "http/api.hpp"

#include <array>
#include <utility>

#include "common/base64.hpp"
#include "http/assets.hpp"
#include "http/origin.hpp"
#include "http/routes.hpp"

namespace moth::http {

using detail::error;
using detail::method_not_allowed;

namespace {

constexpr std::string_view kJson = "application/json";

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

Response not_found_page() {
    Response r;
    r.status = 404;
    r.content_type = "text/html; charset=utf-8";
    r.body =
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>404 Not Found</title></head>"
        "<body><h1>404 Not Found</h1><p>mothd has no file at this address.</p>"
        "<p><a href=\"/\">Start page</a></p></body></html>\n";
    return r;
}

Response file_response(std::string_view name, std::string content) {
    Response r;
    r.content_type = std::string(content_type_for(name));
    r.body = std::move(content);
    if (name.ends_with("index.html")) r.headers.emplace_back("Cache-Control", "no-cache");
    return r;
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

std::optional<Response> Api::refusal(const Request& request, bool is_api) const {
    // Before the credentials: a page on another site must learn nothing, not even whether they are needed.
    // A browser sends its cookies and cached Basic credentials along, so credentials prove nothing here.
    if (auto why = cross_site_refusal(request.origin, request.sec_fetch_site, request.host)) return error(403, *why);
    if (!authorized(request)) {
        Response r = error(401, "authentication required (Authorization: Bearer <token> or Basic)");
        r.headers.emplace_back("WWW-Authenticate", "Basic realm=\"mothd\"");
        return r;
    }
    // A body the API reads is JSON, and must say so: text/plain, form and multipart bodies are what a page on
    // another site can send without a CORS preflight (a "simple" request). (/metrics reads no body.)
    const bool has_body =
        request.method == "POST" || request.method == "PUT" || request.method == "PATCH" || !request.body.empty();
    if (is_api && has_body && !is_json_media_type(request.content_type)) {
        return error(415, "request bodies must be JSON (Content-Type: application/json), got " +
                              (request.content_type.empty() ? std::string("no Content-Type")
                                                            : "Content-Type: " + request.content_type));
    }
    return std::nullopt;
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
    if (!is_api && raw_path != "/metrics") {
        serve_static(request, raw_path, std::move(done));
        return;
    }
    if (auto refused = refusal(request, is_api)) {
        done(std::move(*refused));
    } else if (!is_api) {
        detail::metrics(request, backend_, std::move(done));
    } else if (raw_path.starts_with("/api/v1/")) {
        detail::route_api(detail::Call{request, raw_path.substr(8), query, backend_, std::move(done)});
    } else {
        done(error(404, "no such API endpoint (the API is under /api/v1/)"));
    }
}

void Api::serve_static(const Request& request, std::string_view raw_path, std::function<void(Response)> done) {
    if (request.method != "GET" && request.method != "HEAD") {
        Response r = method_not_allowed("GET, HEAD");
        r.content_type = "text/plain; charset=utf-8";
        r.body = "405 method not allowed: static files take GET and HEAD\n";
        done(std::move(r));
        return;
    }
    const auto path = percent_decode(raw_path);
    if (!path) {
        done(error(400, "malformed percent-encoding in the path"));
        return;
    }
    if (settings_.web_root.empty()) {
        const EmbeddedAsset* a = find_embedded(*path);
        if (a == nullptr) {
            done(not_found_page());
        } else {
            Response r = file_response(a->path, std::string(a->bytes));
            r.content_type = std::string(a->content_type);
            done(std::move(r));
        }
        return;
    }
    backend_.read_static(settings_.web_root, *path, [done = std::move(done)](std::optional<Backend::File> f) {
        done(f ? file_response(f->name, std::move(f->content)) : not_found_page());
    });
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
