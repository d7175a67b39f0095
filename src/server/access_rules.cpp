// One snapshot of the access rules: the files, the providers and each listener's chain; and the file provider.
#include "server/access_rules.hpp"

#include <ctime>

#include "auth/acl.hpp"
#include "auth/http_provider.hpp"
#include "auth/jwt_keys.hpp"
#include "auth/jwt_provider.hpp"
#include "auth/password_file.hpp"
#include "auth/verify_pool.hpp"

namespace moth::server {

using auth::Verdict;
using codec::ReasonCode;

FileProvider::FileProvider(std::shared_ptr<const auth::PasswordFile> passwords, std::shared_ptr<PoolHandle> pool,
                           AccessControl::Log log)
    : passwords_(std::move(passwords)), pool_(std::move(pool)), log_(std::move(log)) {}

void FileProvider::authenticate(const auth::Credentials& credentials, auth::VerdictCallback done) {
    if (!credentials.username) return done(Verdict::next("file: no user name"));
    const std::string* hash = passwords_->hash_of(*credentials.username);
    if (hash == nullptr) return done(Verdict::next("file: unknown user"));
    if (!credentials.password) return done(Verdict::deny(ReasonCode::BadUserNameOrPassword, "file: no password"));
    std::unique_lock lock(pool_->mutex);
    if (!pool_->pool) return done(Verdict::deny(ReasonCode::ServerUnavailable, "file: shutting down"));
    // The pool answers inside submit() from its cache (a reconnect), or later from one of its threads.
    const bool queued = pool_->pool->submit(*credentials.username, *credentials.password, *hash, [done](bool ok) {
        done(ok ? Verdict::allow() : Verdict::deny(ReasonCode::BadUserNameOrPassword, "file: wrong password"));
    });
    lock.unlock();
    if (!queued) {
        if (log_) log_(2, "password checks: too many waiting (auth.max_pending_verifications); refusing a CONNECT");
        done(Verdict::deny(ReasonCode::ServerBusy, "file: too many password checks waiting"));  // 3.x: rc 3
    }
}

const std::vector<auth::Provider*>& AccessControl::Rules::chain(std::string_view listener) const {
    const auto it = chains.find(std::string(listener));
    return it != chains.end() ? it->second : default_chain;
}

bool AccessControl::Rules::in_chain(std::string_view listener, std::string_view provider) const {
    for (const auth::Provider* p : chain(listener)) {
        if (p->name() == provider) return true;
    }
    return false;
}

namespace {

void load_files(const config::Config& config, AccessControl::Rules& rules) {
    try {
        if (!config.auth.password_file.empty()) {
            rules.passwords = std::make_shared<const auth::PasswordFile>(
                auth::PasswordFile::load(config.auth.password_file));
        }
        if (!config.auth.acl_file.empty()) {
            rules.acl = std::make_shared<const auth::Acl>(auth::Acl::load(config.auth.acl_file));
        }
    } catch (const std::exception& e) {
        throw AccessError(e.what());
    }
}

void make_providers(const config::Config& config, const AccessControl::Rules* old, std::shared_ptr<PoolHandle> pool,
                    const AccessControl::Log& log, AccessControl::Rules& rules) {
    if (rules.passwords) rules.file = std::make_shared<FileProvider>(rules.passwords, std::move(pool), log);
    if (config.auth.jwt.enabled()) {
        try {
            rules.jwt = std::make_shared<auth::JwtProvider>(config.auth.jwt,
                                                            [] { return static_cast<std::int64_t>(std::time(nullptr)); });
        } catch (const std::exception& e) {
            throw AccessError(std::string("auth.jwt: ") + e.what());
        }
    }
    if (config.auth.http.enabled()) {
        if (old != nullptr && old->http && old->auth.http == config.auth.http) {
            rules.http = old->http;
        } else {
            try {
                rules.http = std::make_shared<auth::HttpProvider>(config.auth.http, nullptr, log,
                                                                  [] { return std::chrono::steady_clock::now(); });
            } catch (const std::exception& e) {
                throw AccessError(std::string("auth.http: ") + e.what());
            }
        }
    }
    rules.grants_possible = rules.http != nullptr || (rules.jwt != nullptr && !config.auth.jwt.acl_claim.empty());
}

std::vector<auth::Provider*> resolve(const std::vector<std::string>& names, const AccessControl::Rules& rules) {
    std::vector<auth::Provider*> chain;
    for (const auto& name : names) {
        // The config module refuses chains naming a provider that is not configured.
        auth::Provider* p = name == "file" ? rules.file.get() : name == "jwt" ? rules.jwt.get() : rules.http.get();
        if (p != nullptr) chain.push_back(p);
    }
    return chain;
}

}  // namespace

std::shared_ptr<const AccessControl::Rules> load_rules(const config::Config& config, const AccessControl::Rules* old,
                                                       std::shared_ptr<PoolHandle> pool,
                                                       const AccessControl::Log& log) {
    auto rules = std::make_shared<AccessControl::Rules>();
    load_files(config, *rules);
    make_providers(config, old, std::move(pool), log, *rules);
    rules->auth = config.auth;
    rules->anonymous_default = config.auth.allow_anonymous;
    rules->default_chain = resolve(config::provider_chain(config::Listener{}, config.auth), *rules);
    for (const auto& l : config.listeners) {
        rules->anonymous[l.name] = config::anonymous_allowed(l, config.auth);
        rules->chains[l.name] = resolve(config::provider_chain(l, config.auth), *rules);
    }
    return rules;
}

}  // namespace moth::server
