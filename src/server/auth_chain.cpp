// A CONNECT's credentials through the listener's chain of identity providers (docs/security.md "Providers"): each
// allows, denies, or hands them on; the chain's answer comes back at once or later, through AuthRequest::later.
#include <algorithm>
#include <ctime>
#include <mutex>

#include "auth/http_provider.hpp"
#include "server/access_rules.hpp"

namespace moth::server {

using auth::Verdict;
using broker::AuthDecision;
using codec::ReasonCode;

namespace {

std::string protocol_name(codec::ProtocolVersion v) {
    switch (v) {
        case codec::ProtocolVersion::V3_1: return "3.1";
        case codec::ProtocolVersion::V3_1_1: return "3.1.1";
        case codec::ProtocolVersion::V5: return "5.0";
    }
    return "5.0";
}

auth::Credentials credentials_of(const broker::AuthRequest& r) {
    auth::Credentials c;
    c.client_id = std::string(r.client_id);
    if (r.username) c.username = std::string(*r.username);
    if (r.password) c.password = std::string(reinterpret_cast<const char*>(r.password->data()), r.password->size());
    c.remote = std::string(r.remote);
    c.listener = std::string(r.listener);
    c.protocol = protocol_name(r.version);
    if (r.certificate_identity && r.username) c.cert_cn = std::string(*r.username);
    return c;
}

// One CONNECT going through its chain. Shared by the providers' callbacks; answers exactly once.
class ChainRun : public std::enable_shared_from_this<ChainRun> {
public:
    ChainRun(std::shared_ptr<const AccessControl::Rules> rules, std::vector<auth::Provider*> chain,
             auth::Credentials credentials, bool next_allows, std::function<void(AuthDecision)> later,
             AccessControl::Log log)
        : rules_(std::move(rules)),
          chain_(std::move(chain)),
          credentials_(std::move(credentials)),
          next_allows_(next_allows),
          later_(std::move(later)),
          log_(std::move(log)) {}

    // Runs the chain; the decision if it came before returning, else Pending (later_ gets it).
    AuthDecision start() {
        ask(0);
        std::lock_guard lock(mutex_);
        if (now_) return std::move(*now_);
        if (!later_) return AuthDecision::deny(ReasonCode::NotAuthorized);  // a caller that cannot wait
        returned_ = true;
        return AuthDecision::pending();
    }

private:
    void ask(std::size_t i) {
        chain_[i]->authenticate(credentials_, [self = shared_from_this(), i](Verdict v) {
            if (v.kind == Verdict::Kind::Next && i + 1 < self->chain_.size()) {
                self->ask(i + 1);
            } else {
                self->finish(std::move(v));
            }
        });
    }

    void finish(Verdict v) {
        AuthDecision d = decide(std::move(v));
        {
            std::lock_guard lock(mutex_);
            if (!returned_) {
                now_ = std::move(d);
                return;
            }
        }
        later_(std::move(d));
    }

    AuthDecision decide(Verdict v) {
        if (v.kind == Verdict::Kind::Next && next_allows_) return AuthDecision::allow();  // the certificate stands
        if (v.kind != Verdict::Kind::Allow) {
            if (log_) {
                log_(1, "client " + credentials_.client_id + " from " + credentials_.remote +
                            (v.kind == Verdict::Kind::Next ? ": no identity provider accepted it (" + v.why + ")"
                                                           : ": " + v.why));
            }
            return AuthDecision::deny(v.kind == Verdict::Kind::Next ? ReasonCode::BadUserNameOrPassword : v.reason);
        }
        AuthDecision d = AuthDecision::allow();
        d.username = std::move(v.username);
        d.grants = std::move(v.grants);
        if (v.expires_at) {
            // Closed when the token stops being valid: its exp, plus the clock skew allowed when it was checked.
            const std::int64_t left = *v.expires_at + rules_->auth.jwt.leeway_s - std::time(nullptr);
            d.valid_for = std::chrono::seconds(std::max<std::int64_t>(left, 0));
        }
        return d;
    }

    std::shared_ptr<const AccessControl::Rules> rules_;  // keeps the providers alive while answers are out
    std::vector<auth::Provider*> chain_;
    auth::Credentials credentials_;
    bool next_allows_;
    std::function<void(AuthDecision)> later_;
    AccessControl::Log log_;
    std::mutex mutex_;
    bool returned_ = false;  // start() returned Pending: the answer goes through later_
    std::optional<AuthDecision> now_;
};

}  // namespace

AuthDecision AccessControl::authenticate(const broker::AuthRequest& request, unsigned step) {
    const auto rules = rules_.load(std::memory_order_acquire);
    if (!request.method.empty()) return exchange(*rules, request, step);
    if (step != 0) return AuthDecision::deny(ReasonCode::NotAuthorized);
    return run_chain(rules, request);
}

AuthDecision AccessControl::run_chain(const std::shared_ptr<const Rules>& rules, const broker::AuthRequest& request) {
    const auto& chain = rules->chain(request.listener);
    if (request.certificate_identity) {
        // A verified client certificate is the identity (use_cn_as_username): TLS checked it. An HTTP hook in the
        // chain still hears of it (cert_cn) and may refuse it or give it rules; anything else lets it in.
        if (!rules->in_chain(request.listener, "http")) return AuthDecision::allow();
        auto run = std::make_shared<ChainRun>(rules, std::vector<auth::Provider*>{rules->http.get()},
                                              credentials_of(request), true, request.later, log_);
        return run->start();
    }
    const auto it = rules->anonymous.find(std::string(request.listener));
    const bool open = it != rules->anonymous.end() ? it->second : rules->anonymous_default;
    if (!request.username && !request.password) {
        // 5.0 0x87 Not authorized; 3.1/3.1.1 return code 5.
        return open ? AuthDecision::allow() : AuthDecision::deny(ReasonCode::NotAuthorized);
    }
    // No provider: nothing can check credentials, so they count as none at all (the demo accepts the placeholder
    // credentials many sketches send; a closed listener refuses them).
    if (chain.empty()) return open ? AuthDecision::allow() : AuthDecision::deny(ReasonCode::BadUserNameOrPassword);
    auto run = std::make_shared<ChainRun>(rules, chain, credentials_of(request), false, request.later, log_);
    return run->start();
}

}  // namespace moth::server
