#include "server/access_control.hpp"

#include <openssl/rand.h>

#include "auth/acl.hpp"
#include "auth/http_provider.hpp"
#include "auth/verify_pool.hpp"
#include "server/access_rules.hpp"

namespace moth::server {

using broker::AuthDecision;
using codec::ReasonCode;

namespace {

std::shared_ptr<PoolHandle> make_pool(const config::Auth& a) {
    auth::VerifyPool::Options o;
    o.threads = a.verify_threads;
    o.max_queued = a.max_pending_verifications;
    // The core closes a CONNECT not authenticated within its connect timeout (10 s, checked on its 250 ms tick): a
    // check that waited longer than that and a margin has nobody left to answer (a skipped check answers "refused",
    // which must never reach a client that is still waiting).
    o.max_wait = std::chrono::seconds(11);
    // Logins yield to the workers: a connect storm slows the logins, not everyone's messages (issue 18's target).
    o.nice = 10;
    auto handle = std::make_shared<PoolHandle>();
    handle->pool = std::make_unique<auth::VerifyPool>(std::move(o));
    return handle;
}

std::string random_secret() {
    std::string s(32, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(s.data()), static_cast<int>(s.size())) != 1) {
        throw AccessError("cannot draw random bytes for SCRAM (OpenSSL RAND_bytes)");
    }
    return s;
}

// Authorization has something to check: an ACL, or providers that hand out a client's own rules.
bool has_rules(const AccessControl::Rules& r) { return r.acl != nullptr || r.grants_possible; }

auth::GrantAccess grant_access(broker::Access a) {
    switch (a) {
        case broker::Access::Read: return auth::GrantAccess::Read;
        case broker::Access::Write: return auth::GrantAccess::Write;
        case broker::Access::Subscribe: return auth::GrantAccess::Subscribe;
    }
    return auth::GrantAccess::Read;
}

}  // namespace

AccessControl::AccessControl(const config::Config& config, Log log)
    : log_(std::move(log)), pool_(make_pool(config.auth)), scram_secret_(random_secret()) {
    auto rules = load_rules(config, nullptr, pool_, log_);
    generation_ = has_rules(*rules) ? last_generation_ : 0;
    rules_.store(std::move(rules));
}

// The pool joins its threads here, on the caller's thread: were it left to the last reference, that could be a
// pool thread finishing a chain, joining itself.
AccessControl::~AccessControl() { shutdown(); }

void AccessControl::shutdown() {
    std::lock_guard lock(pool_->mutex);
    pool_->pool.reset();
}

std::string AccessControl::reload(const config::Config& config, bool& acl_changed) {
    acl_changed = false;
    std::shared_ptr<const Rules> fresh;
    const auto old = rules_.load();
    try {
        fresh = load_rules(config, old.get(), pool_, log_);
    } catch (const AccessError& e) {
        return e.what();
    }
    acl_changed = has_rules(*fresh) || has_rules(*old);
    const bool checks = has_rules(*fresh);
    rules_.store(std::move(fresh));
    {
        std::lock_guard lock(pool_->mutex);
        if (pool_->pool) pool_->pool->clear();  // a changed password must not be answered from the cache
    }
    // A new generation makes every worker decide again; 0 means nothing to check at all.
    generation_ = checks ? ++last_generation_ : 0;
    return {};
}

std::uint64_t AccessControl::generation() const { return generation_.load(std::memory_order_acquire); }

bool AccessControl::allows(const broker::Identity& who, std::string_view topic, broker::Access access) const {
    // The rules a provider gave the client replace the ACL for it.
    if (who.grants) return auth::grants_allow(*who.grants, who.client_id, who.username, topic, grant_access(access));
    const auto rules = rules_.load(std::memory_order_acquire);
    if (!rules->acl) return true;
    auth::AclSubject subject{who.client_id, std::nullopt};
    if (!who.anonymous) subject.username = who.username;
    switch (access) {
        case broker::Access::Read: return rules->acl->allows(subject, topic, auth::Access::Read);
        case broker::Access::Write: return rules->acl->allows(subject, topic, auth::Access::Write);
        case broker::Access::Subscribe: return rules->acl->may_subscribe(subject, topic);
    }
    return false;
}

bool AccessControl::has_hook() const {
    const auto rules = rules_.load(std::memory_order_acquire);
    return rules->http && !rules->auth.http.authorize_url.empty();
}

std::optional<bool> AccessControl::check_hook(const broker::Identity& who, const broker::HookCheck& check,
                                              std::function<void(bool)> later) const {
    const auto rules = rules_.load(std::memory_order_acquire);
    // A client with its own rules was decided by them alone (allows()); so is a superuser.
    if (!rules->http || who.grants) return true;
    auth::AccessRequest r;
    r.action = check.access == broker::Access::Subscribe ? auth::AccessRequest::Action::Subscribe
                                                         : auth::AccessRequest::Action::Publish;
    r.client_id = who.client_id;
    if (!who.anonymous) r.username = who.username;
    r.remote = std::string(check.remote);
    r.listener = who.listener;
    r.topic = std::string(check.topic);
    r.qos = static_cast<std::uint8_t>(check.qos);
    r.retain = check.retain;
    // Next ("ignore", or a failure with on_error = "next"): the ACL's yes, already given, stands.
    auto answer = rules->http->authorize(r, [later = std::move(later), rules](auth::HookAnswer a) {
        later(a != auth::HookAnswer::Deny);
    });
    if (!answer) return std::nullopt;
    return *answer != auth::HookAnswer::Deny;
}


std::vector<std::string> anonymous_warnings(const config::Config& config) {
    std::vector<std::string> out;
    if (!config.auth.acl_file.empty() && config.auth.password_file.empty() && !config.auth.jwt.enabled() &&
        config.auth.http.url.empty()) {
        out.push_back("auth.acl_file without auth.password_file: the ACL's user sections trust whatever user name a "
                      "client claims (docs/security.md)");
    }
    for (const auto& l : config.listeners) {
        if (!config::anonymous_allowed(l, config.auth)) continue;
        const bool loopback = l.bind.starts_with("127.") || l.bind == "::1" || l.bind == "localhost";
        if (loopback) continue;
        out.push_back("anonymous access on " + l.bind + ":" + std::to_string(l.port) + " (listener " + l.name +
                      "): any client on the network may connect, read and write; set auth.password_file and "
                      "auth.allow_anonymous = false (docs/security.md)");
    }
    return out;
}

}  // namespace moth::server
