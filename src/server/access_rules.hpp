#pragma once
// Internal to AccessControl (access_control.cpp, access_rules.cpp, auth_chain.cpp): one snapshot of the access
// rules (password file, ACL, anonymous rules, providers and each listener's chain) and the file provider.
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "auth/provider.hpp"
#include "config/config.hpp"
#include "server/access_control.hpp"

namespace moth::auth {
class Acl;
class HttpProvider;
class PasswordFile;
class VerifyPool;
}  // namespace moth::auth

namespace moth::server {

// The password checks' thread pool, emptied by AccessControl::shutdown() while file providers may still hold it.
struct PoolHandle {
    std::mutex mutex;
    std::unique_ptr<auth::VerifyPool> pool;
};

// "file": the password file. A user it does not know is handed on (Next): another provider may know it. A wrong
// password is refused. The hash is checked on the verify pool, never on the caller's thread.
class FileProvider final : public auth::Provider {
public:
    FileProvider(std::shared_ptr<const auth::PasswordFile> passwords, std::shared_ptr<PoolHandle> pool,
                 AccessControl::Log log);
    [[nodiscard]] std::string_view name() const override { return "file"; }
    void authenticate(const auth::Credentials& credentials, auth::VerdictCallback done) override;

private:
    std::shared_ptr<const auth::PasswordFile> passwords_;
    std::shared_ptr<PoolHandle> pool_;
    AccessControl::Log log_;
};

struct AccessControl::Rules {
    std::shared_ptr<const auth::PasswordFile> passwords;  // null: no password_file
    std::shared_ptr<const auth::Acl> acl;                 // null: no acl_file
    std::unordered_map<std::string, bool> anonymous;      // by listener name
    bool anonymous_default = true;
    config::Auth auth;  // the settings the providers were made from: a reload keeps those whose settings are equal
    std::shared_ptr<auth::Provider> file;
    std::shared_ptr<auth::Provider> jwt;
    std::shared_ptr<auth::HttpProvider> http;
    std::unordered_map<std::string, std::vector<auth::Provider*>> chains;  // by listener name
    std::vector<auth::Provider*> default_chain;  // a listener the config does not name (unit tests)
    bool grants_possible = false;                // a provider may hand out a client's own rules

    [[nodiscard]] const std::vector<auth::Provider*>& chain(std::string_view listener) const;
    [[nodiscard]] bool in_chain(std::string_view listener, std::string_view provider) const;
};

// Builds the rules `config` describes, reusing `old`'s HTTP provider when its settings did not change (its cache and
// connections survive a SIGHUP). Throws AccessError.
[[nodiscard]] std::shared_ptr<const AccessControl::Rules> load_rules(const config::Config& config,
                                                                    const AccessControl::Rules* old,
                                                                    std::shared_ptr<PoolHandle> pool,
                                                                    const AccessControl::Log& log);

}  // namespace moth::server
