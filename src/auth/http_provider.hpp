#pragma once
// The HTTP hook ([auth.http], docs/security.md "HTTP hook"): an identity provider that POSTs each CONNECT's
// credentials to `url`, and an authorization hook that POSTs each PUBLISH and SUBSCRIBE to `authorize_url`.
//
// Authentication request (application/json):
//   {"client_id": "c1", "username": "u" | null, "password": "p" | null, "peer": "192.0.2.1:5000",
//    "listener": "mqtt-0", "protocol": "5.0", "cert_cn": "cn" | null}
//   A password that is not valid UTF-8 goes as "password_base64": "<base64>" instead of "password".
// Answer: 204 = allow; 2xx with {"result": "allow" | "deny" | "ignore", "superuser": bool, "acl": {"pub": [..],
//   "sub": [..], "all": [..]}} (superuser and acl optional; either one gives the client its own grants).
// Authorization request: {"client_id", "username", "peer", "listener", "action": "publish" | "subscribe", "topic",
//   "qos", "retain"}; answer 204 = allow or {"result": "allow" | "deny" | "ignore"}.
// Anything else (another status, no answer within timeout_ms, another body) is a failure: logged (rate-limited) and
// answered as on_error says.
//
// Thread safety: authenticate() and authorize() may be called from every worker at once; they never block. Answers
// come at once (from the cache) or later on the HTTP client's thread.
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "auth/http_client.hpp"
#include "auth/provider.hpp"
#include "config/config.hpp"

namespace moth::auth {

class HttpProvider final : public Provider, public AccessHook {
public:
    using Log = std::function<void(int level, const std::string& line)>;  // 0 debug, 1 info, 2 warning
    using Clock = std::function<std::chrono::steady_clock::time_point()>;

    static constexpr std::size_t kMaxCacheEntries = 100'000;  // per kind; when full: expired ones, then all, go

    // `poster` null: an HttpClient made from the configuration (its TLS files, timeout_ms, max_connections).
    // Throws std::runtime_error for a url or authorize_url that is not an http(s) URL, or a TLS file that cannot
    // be loaded.
    HttpProvider(const config::AuthHttp& config, std::shared_ptr<HttpPoster> poster, Log log, Clock clock);
    ~HttpProvider() override;
    HttpProvider(const HttpProvider&) = delete;
    HttpProvider& operator=(const HttpProvider&) = delete;

    [[nodiscard]] std::string_view name() const override { return "http"; }
    void authenticate(const Credentials& credentials, VerdictCallback done) override;
    [[nodiscard]] std::optional<HookAnswer> authorize(const AccessRequest& request,
                                                      std::function<void(HookAnswer)> later) override;

    // The request bodies, as sent (exposed for tests and the documentation's examples).
    [[nodiscard]] static std::string authentication_body(const Credentials& credentials);
    [[nodiscard]] static std::string authorization_body(const AccessRequest& request);

    struct State;  // http_provider.cpp: shared with the callbacks in flight, so they outlive the provider safely

private:
    std::shared_ptr<State> state_;
    std::shared_ptr<HttpPoster> poster_;  // destroyed first: its shutdown answers still find state_
};

}  // namespace moth::auth
