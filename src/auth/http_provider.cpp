// HttpProvider: the request bodies, the answers' parsing, and the decision cache with coalescing of identical
// requests in flight. The state the callbacks touch lives in a shared State, so an answer arriving while the
// provider is destroyed (the client's shutdown answers "shutting down") finds it still there.
#include "auth/http_provider.hpp"

#include <algorithm>
#include <array>
#include <mutex>
#include <stdexcept>
#include <unordered_map>
#include <utility>
#include <vector>

#include <openssl/evp.h>
#include <nlohmann/json.hpp>

#include "auth/grants_json.hpp"
#include "common/base64.hpp"
#include "common/log_limiter.hpp"
#include "common/utf8.hpp"

namespace moth::auth {
namespace {

using Json = nlohmann::ordered_json;  // members in the documented order
using TimePoint = std::chrono::steady_clock::time_point;

// Decisions for one kind of request, by key; also the requests in flight, with whoever waits for them.
// Not locked itself: State::mutex guards both caches.
template <class Answer>
class DecisionCache {
public:
    using Waiter = std::function<void(Answer)>;

    [[nodiscard]] std::optional<Answer> find(const std::string& key, TimePoint now) const {
        const auto it = entries_.find(key);
        if (it == entries_.end() || it->second.expires <= now) return std::nullopt;
        return it->second.answer;
    }
    // True: the same request is in flight and `waiter` (moved from) will get its answer. False: the caller sends
    // it, and must call complete() with its outcome.
    bool join(const std::string& key, Waiter& waiter) {
        const auto [it, inserted] = in_flight_.try_emplace(key);
        if (inserted) return false;
        it->second.push_back(std::move(waiter));
        return true;
    }
    // Stores `answer` (nullopt: a failure, never kept) until now + ttl and hands back the waiters to call, outside
    // the lock.
    std::vector<Waiter> complete(const std::string& key, const std::optional<Answer>& answer, TimePoint now,
                                 std::chrono::seconds ttl) {
        if (answer) store(key, *answer, now, now + ttl);
        std::vector<Waiter> waiters;
        if (auto node = in_flight_.extract(key)) waiters = std::move(node.mapped());
        return waiters;
    }

private:
    struct Entry {
        Answer answer;
        TimePoint expires;
    };
    void store(const std::string& key, const Answer& answer, TimePoint now, TimePoint expires) {
        if (entries_.size() >= HttpProvider::kMaxCacheEntries && !entries_.contains(key)) {
            std::erase_if(entries_, [&](const auto& e) { return e.second.expires <= now; });
            if (entries_.size() >= HttpProvider::kMaxCacheEntries) entries_.clear();
        }
        entries_.insert_or_assign(key, Entry{answer, expires});
    }

    std::unordered_map<std::string, Entry> entries_;
    std::unordered_map<std::string, std::vector<Waiter>> in_flight_;
};

// Length-prefixed fields: no two different tuples give the same key.
void append_field(std::string& key, std::string_view field) {
    key += std::to_string(field.size());
    key += ':';
    key += field;
}

void append_optional(std::string& key, const std::optional<std::string>& field) {
    if (field) {
        append_field(key, *field);
    } else {
        key += '-';
    }
}

std::string sha256(std::string_view data) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned length = 0;
    if (EVP_Digest(data.data(), data.size(), digest.data(), &length, EVP_sha256(), nullptr) != 1) {
        throw std::runtime_error("SHA-256 failed");  // out of memory in OpenSSL: nothing to fall back to
    }
    return std::string(reinterpret_cast<const char*>(digest.data()), length);
}

// The authentication cache key. Deliberately NOT the client id or the peer: a fleet of devices sharing one user
// name and password costs one request per cache_ttl_s, not one per device. With the cache on, the hook's answer
// therefore must not depend on the client id (nor the peer): the first device's answer is every device's. Grants
// keep their %c and %u templates, which the broker fills in per client, so per-device topics still work. The
// password is kept only as its SHA-256, never in the clear.
std::string authentication_key(const Credentials& c) {
    std::string key;
    append_optional(key, c.username);
    append_optional(key, c.password ? std::optional<std::string>(sha256(*c.password)) : std::nullopt);
    append_field(key, c.listener);
    append_field(key, c.cert_cn);
    append_field(key, c.protocol);
    return key;
}

// The authorization cache key: the whole request but the peer.
std::string authorization_key(const AccessRequest& r) {
    std::string key;
    key += r.action == AccessRequest::Action::Publish ? 'p' : 's';
    key += static_cast<char>('0' + r.qos);
    key += r.retain ? 'r' : '-';
    append_field(key, r.client_id);
    append_optional(key, r.username);
    append_field(key, r.listener);
    append_field(key, r.topic);
    return key;
}

Json optional_string(const std::optional<std::string>& value) {
    return value ? Json(*value) : Json(nullptr);
}

std::string dump(const Json& json) {
    // Replace, not throw: a string the codec let through must not turn into an exception on a worker.
    return json.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// The answer's JSON object, or nullopt with `why` set: an error, a status that is not 2xx, or another body.
std::optional<Json> answer_object(const HttpResponse& response, std::string& why) {
    if (!response.error.empty()) {
        why = "http: " + response.error;
        return std::nullopt;
    }
    if (response.status < 200 || response.status > 299) {
        why = "http: status " + std::to_string(response.status);
        return std::nullopt;
    }
    auto json = Json::parse(response.body, nullptr, false);
    if (json.is_discarded() || !json.is_object()) {
        why = "http: status " + std::to_string(response.status) + " without a JSON object";
        return std::nullopt;
    }
    const auto result = json.find("result");
    if (result == json.end() || !result->is_string()) {
        why = "http: the answer has no \"result\" string";
        return std::nullopt;
    }
    const auto& text = result->get_ref<const std::string&>();
    if (text != "allow" && text != "deny" && text != "ignore") {
        why = "http: unknown result '" + text + "'";
        return std::nullopt;
    }
    return json;
}

// An allow's grants: null without superuser and acl (the acl_file then applies to the client).
std::optional<std::shared_ptr<const Grants>> grants_of(const Json& answer, std::string& why) {
    const auto superuser = answer.find("superuser");
    const auto acl = answer.find("acl");
    const bool has_superuser = superuser != answer.end() && !superuser->is_null();
    const bool has_acl = acl != answer.end() && !acl->is_null();
    if (!has_superuser && !has_acl) return std::shared_ptr<const Grants>{};
    if (has_superuser && !superuser->is_boolean()) {
        why = "http: \"superuser\" is not true or false";
        return std::nullopt;
    }
    Grants grants;
    if (has_acl) {
        std::string error;
        // grants_from_json reads plain nlohmann::json; the ordered copy converts member by member.
        auto parsed = grants_from_json(nlohmann::json::parse(acl->dump()), error);
        if (!parsed) {
            why = "http: acl: " + error;
            return std::nullopt;
        }
        grants = std::move(*parsed);
    }
    grants.superuser = has_superuser && superuser->get<bool>();
    return std::make_shared<const Grants>(std::move(grants));
}

std::optional<Verdict> parse_authentication(const HttpResponse& response, std::string& why) {
    if (response.error.empty() && response.status == 204) return Verdict::allow();
    const auto answer = answer_object(response, why);
    if (!answer) return std::nullopt;
    const auto& result = (*answer)["result"].get_ref<const std::string&>();
    if (result == "deny") return Verdict::deny(codec::ReasonCode::BadUserNameOrPassword, "http: denied");
    if (result == "ignore") return Verdict::next("http: ignored");
    auto grants = grants_of(*answer, why);
    if (!grants) return std::nullopt;
    Verdict verdict = Verdict::allow();
    verdict.grants = std::move(*grants);
    return verdict;
}

std::optional<HookAnswer> parse_authorization(const HttpResponse& response, std::string& why) {
    if (response.error.empty() && response.status == 204) return HookAnswer::Allow;
    const auto answer = answer_object(response, why);
    if (!answer) return std::nullopt;
    const auto& result = (*answer)["result"].get_ref<const std::string&>();
    if (result == "allow") return HookAnswer::Allow;
    return result == "deny" ? HookAnswer::Deny : HookAnswer::Next;
}

std::optional<HttpUrl> parse_url(const std::string& text, const char* key) {
    if (text.empty()) return std::nullopt;
    std::string error;
    auto url = HttpUrl::parse(text, error);
    if (!url) throw std::runtime_error(std::string("auth.http.") + key + ": " + error);
    return url;
}

std::string url_text(const HttpUrl& url) {
    return (url.tls ? "https://" : "http://") + url.authority() + url.target;
}

}  // namespace

struct HttpProvider::State {
    State(const config::AuthHttp& c, Log l, Clock k)
        : config(c),
          log(l ? std::move(l) : Log([](int, const std::string&) {})),
          clock(k ? std::move(k) : Clock([] { return std::chrono::steady_clock::now(); })),
          limiter([this](int level, const std::string& line) { log(level, line); }) {}
    [[nodiscard]] bool caching() const { return config.cache_ttl_s > 0; }
    [[nodiscard]] std::chrono::seconds ttl() const { return std::chrono::seconds(config.cache_ttl_s); }
    // A failed hook: logged with the URL and what on_error makes of it; a storm of them is rate-limited.
    void failed(const HttpUrl& url, const std::string& why) {
        const TimePoint now = clock();
        limiter.flush(now);
        limiter.log(2,
                    "auth.http: POST " + url_text(url) + " failed (" + why +
                        "); on_error = " + (config.on_error == config::OnError::Deny ? "deny" : "next"),
                    now);
    }

    config::AuthHttp config;
    std::optional<HttpUrl> authentication_url;
    std::optional<HttpUrl> authorization_url;
    Log log;
    Clock clock;
    common::LogLimiter limiter;
    std::mutex mutex;
    DecisionCache<Verdict> authentication;
    DecisionCache<HookAnswer> authorization;
};

HttpProvider::HttpProvider(const config::AuthHttp& config, std::shared_ptr<HttpPoster> poster, Log log, Clock clock)
    : state_(std::make_shared<State>(config, std::move(log), std::move(clock))), poster_(std::move(poster)) {
    state_->authentication_url = parse_url(config.url, "url");
    state_->authorization_url = parse_url(config.authorize_url, "authorize_url");
    if (!poster_) {
        HttpClient::Options options;
        options.ca_file = config.ca_file;
        options.cert_file = config.cert_file;
        options.key_file = config.key_file;
        options.timeout = std::chrono::milliseconds(config.timeout_ms);
        options.max_connections = std::max<std::size_t>(1, config.max_connections);
        poster_ = std::make_shared<HttpClient>(std::move(options));
    }
}

HttpProvider::~HttpProvider() = default;

std::string HttpProvider::authentication_body(const Credentials& c) {
    Json body = {{"client_id", c.client_id}, {"username", optional_string(c.username)}};
    const auto utf8 = c.password ? common::validate_utf8(*c.password) : common::Utf8Status::Ok;
    if (utf8 == common::Utf8Status::Ok || utf8 == common::Utf8Status::NullCharacter) {
        body["password"] = optional_string(c.password);  // JSON escapes U+0000 as \u0000
    } else {
        body["password_base64"] = common::base64_encode(*c.password);
    }
    body["peer"] = c.remote;
    body["listener"] = c.listener;
    body["protocol"] = c.protocol;
    body["cert_cn"] = c.cert_cn.empty() ? Json(nullptr) : Json(c.cert_cn);
    return dump(body);
}

std::string HttpProvider::authorization_body(const AccessRequest& r) {
    const Json body = {{"client_id", r.client_id},
                       {"username", optional_string(r.username)},
                       {"peer", r.remote},
                       {"listener", r.listener},
                       {"action", r.action == AccessRequest::Action::Publish ? "publish" : "subscribe"},
                       {"topic", r.topic},
                       {"qos", r.qos},
                       {"retain", r.retain}};
    return dump(body);
}

void HttpProvider::authenticate(const Credentials& credentials, VerdictCallback done) {
    if (!state_->authentication_url) {
        done(Verdict::next("http: no url"));
        return;
    }
    std::string key;
    if (state_->caching()) {
        key = authentication_key(credentials);
        std::unique_lock lock(state_->mutex);
        if (auto hit = state_->authentication.find(key, state_->clock())) {
            lock.unlock();
            done(std::move(*hit));
            return;
        }
        if (state_->authentication.join(key, done)) return;  // the same credentials are being asked about
    }
    poster_->post(*state_->authentication_url, authentication_body(credentials),
                  [state = state_, key = std::move(key), done = std::move(done)](HttpResponse response) {
                      std::string why;
                      const auto answer = parse_authentication(response, why);
                      if (!answer) state->failed(*state->authentication_url, why);
                      const Verdict verdict = answer ? *answer
                                              : state->config.on_error == config::OnError::Deny
                                                  ? Verdict::deny(codec::ReasonCode::ServerUnavailable, why)
                                                  : Verdict::next(why);
                      std::vector<DecisionCache<Verdict>::Waiter> waiters;
                      if (state->caching()) {
                          const std::lock_guard lock(state->mutex);
                          waiters = state->authentication.complete(key, answer, state->clock(), state->ttl());
                      }
                      done(verdict);
                      for (auto& waiter : waiters) waiter(verdict);
                  });
}

std::optional<HookAnswer> HttpProvider::authorize(const AccessRequest& request, std::function<void(HookAnswer)> later) {
    if (!state_->authorization_url) return HookAnswer::Next;
    std::string key;
    if (state_->caching()) {
        key = authorization_key(request);
        const std::lock_guard lock(state_->mutex);
        if (auto hit = state_->authorization.find(key, state_->clock())) return hit;
        if (state_->authorization.join(key, later)) return std::nullopt;
    }
    poster_->post(*state_->authorization_url, authorization_body(request),
                  [state = state_, key = std::move(key), later = std::move(later)](HttpResponse response) {
                      std::string why;
                      const auto answer = parse_authorization(response, why);
                      if (!answer) state->failed(*state->authorization_url, why);
                      const HookAnswer result = answer                                            ? *answer
                                                : state->config.on_error == config::OnError::Deny ? HookAnswer::Deny
                                                                                                  : HookAnswer::Next;
                      std::vector<DecisionCache<HookAnswer>::Waiter> waiters;
                      if (state->caching()) {
                          const std::lock_guard lock(state->mutex);
                          waiters = state->authorization.complete(key, answer, state->clock(), state->ttl());
                      }
                      later(result);
                      for (auto& waiter : waiters) waiter(result);
                  });
    return std::nullopt;
}

}  // namespace moth::auth
