#include "server/access_control.hpp"

#include <mutex>

#include "auth/acl.hpp"
#include "auth/password_file.hpp"
#include "auth/verify_pool.hpp"

namespace moth::server {

using broker::AuthDecision;
using codec::ReasonCode;

struct AccessControl::Rules {
    std::shared_ptr<const auth::PasswordFile> passwords;  // null: no password_file
    std::shared_ptr<const auth::Acl> acl;                 // null: no acl_file
    std::unordered_map<std::string, bool> anonymous;      // by listener name
    bool anonymous_default = true;
};

std::shared_ptr<const AccessControl::Rules> AccessControl::load(const config::Config& config) {
    auto rules = std::make_shared<Rules>();
    try {
        if (!config.auth.password_file.empty()) {
            rules->passwords = std::make_shared<const auth::PasswordFile>(
                auth::PasswordFile::load(config.auth.password_file));
        }
        if (!config.auth.acl_file.empty()) {
            rules->acl = std::make_shared<const auth::Acl>(auth::Acl::load(config.auth.acl_file));
        }
    } catch (const std::exception& e) {
        throw AccessError(e.what());
    }
    rules->anonymous_default = config.auth.allow_anonymous;
    for (const auto& l : config.listeners) rules->anonymous[l.name] = config::anonymous_allowed(l, config.auth);
    return rules;
}

namespace {

std::unique_ptr<auth::VerifyPool> make_pool(const config::Auth& a) {
    auth::VerifyPool::Options o;
    o.threads = a.verify_threads;
    o.max_queued = a.max_pending_verifications;
    // The core closes a CONNECT not authenticated within its connect timeout (10 s, checked on its 250 ms tick): a
    // check that waited longer than that and a margin has nobody left to answer (a skipped check answers "refused",
    // which must never reach a client that is still waiting).
    o.max_wait = std::chrono::seconds(11);
    // Logins yield to the workers: a connect storm slows the logins, not everyone's messages (issue 18's target).
    o.nice = 10;
    return std::make_unique<auth::VerifyPool>(std::move(o));
}

}  // namespace

AccessControl::AccessControl(const config::Config& config, std::function<void(int, const std::string&)> log)
    : log_(std::move(log)), pool_(make_pool(config.auth)) {
    auto rules = load(config);
    generation_ = rules->acl ? last_generation_ : 0;
    rules_.store(std::move(rules));
}

AccessControl::~AccessControl() = default;

void AccessControl::shutdown() {
    std::lock_guard lock(pool_mutex_);
    pool_.reset();
}

std::string AccessControl::reload(const config::Config& config, bool& acl_changed) {
    acl_changed = false;
    std::shared_ptr<const Rules> fresh;
    try {
        fresh = load(config);
    } catch (const AccessError& e) {
        return e.what();
    }
    const auto old = rules_.load();
    acl_changed = fresh->acl != nullptr || old->acl != nullptr;
    const bool had_acl = fresh->acl != nullptr;
    rules_.store(std::move(fresh));
    {
        std::lock_guard lock(pool_mutex_);
        if (pool_) pool_->clear();  // a changed password must not be answered from the cache
    }
    // A new generation makes every worker decide again; 0 means no ACL at all (nothing to check).
    generation_ = had_acl ? ++last_generation_ : 0;
    return {};
}

std::uint64_t AccessControl::generation() const { return generation_.load(std::memory_order_acquire); }

bool AccessControl::allows(const broker::Identity& who, std::string_view topic, broker::Access access) const {
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

AuthDecision AccessControl::authenticate(const broker::AuthRequest& request, unsigned step) {
    if (step != 0) return AuthDecision::deny(ReasonCode::NotAuthorized);  // no enhanced method is supported
    const auto rules = rules_.load(std::memory_order_acquire);
    // A verified client certificate is the identity (use_cn_as_username): TLS checked it, no password is needed.
    if (request.certificate_identity) return AuthDecision::allow();
    const auto it = rules->anonymous.find(std::string(request.listener));
    const bool open = it != rules->anonymous.end() ? it->second : rules->anonymous_default;
    if (!request.username) {
        // 5.0 0x87 Not authorized; 3.1/3.1.1 return code 5.
        return open ? AuthDecision::allow() : AuthDecision::deny(ReasonCode::NotAuthorized);
    }
    // No password file: nothing can check a user name, so it counts as no credentials at all (the demo accepts the
    // placeholder credentials many sketches send; a closed listener refuses them).
    if (!rules->passwords) return open ? AuthDecision::allow() : AuthDecision::deny(ReasonCode::BadUserNameOrPassword);
    return check_password(*rules, request);
}

AuthDecision AccessControl::check_password(const Rules& rules, const broker::AuthRequest& request) {
    // With a password file, a user name is accepted only when the file knows it and the password matches.
    const std::string* hash = rules.passwords->hash_of(*request.username);
    if (hash == nullptr || !request.password) return AuthDecision::deny(ReasonCode::BadUserNameOrPassword);
    const std::string password(reinterpret_cast<const char*>(request.password->data()), request.password->size());
    // The pool answers at once from its cache (a reconnect), or later from one of its threads.
    struct Answer {
        std::mutex m;
        bool returned = false;  // authenticate() returned Pending: later answers go through request.later
        std::optional<bool> now;
    };
    auto answer = std::make_shared<Answer>();
    auto later = request.later;
    std::unique_lock pool_lock(pool_mutex_);
    if (!pool_) return AuthDecision::deny(ReasonCode::ServerUnavailable);  // shutting down
    const bool queued = pool_->submit(std::string(*request.username), password, *hash, [answer, later](bool ok) {
        {
            std::lock_guard lock(answer->m);
            if (!answer->returned) {
                answer->now = ok;
                return;
            }
        }
        later(ok ? AuthDecision::allow() : AuthDecision::deny(ReasonCode::BadUserNameOrPassword));
    });
    pool_lock.unlock();
    if (!queued) {
        if (log_) log_(2, "password checks: too many waiting (auth.max_pending_verifications); refusing a CONNECT");
        return AuthDecision::deny(ReasonCode::ServerBusy);  // 3.x: return code 3, Server unavailable
    }
    std::lock_guard lock(answer->m);
    if (answer->now) {
        return *answer->now ? AuthDecision::allow() : AuthDecision::deny(ReasonCode::BadUserNameOrPassword);
    }
    if (!later) return AuthDecision::deny(ReasonCode::NotAuthorized);  // cannot wait (no such caller today)
    answer->returned = true;
    return AuthDecision::pending();
}

std::vector<std::string> anonymous_warnings(const config::Config& config) {
    std::vector<std::string> out;
    if (!config.auth.acl_file.empty() && config.auth.password_file.empty()) {
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
