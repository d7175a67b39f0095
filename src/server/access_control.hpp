#pragma once
// What mothd gives the broker to decide who may connect and what each client may read and write: the [auth] table's
// password file (Mosquitto's format, checked on a small pool of threads, never on a worker) and ACL file
// (Mosquitto's acl_file format), per-listener anonymous access, and client certificates as identity.
// docs/security.md describes the model.
//
// Thread affinity: authenticate() on any worker; allows() and generation() on any thread, concurrently (the rules are
// an immutable snapshot swapped whole by reload()); reload() on the main thread.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "broker/auth.hpp"
#include "config/config.hpp"

namespace moth::auth {
class Acl;
class PasswordFile;
class VerifyPool;
}  // namespace moth::auth

namespace moth::server {

// A password or ACL file that cannot be used: what() is "file:line: message".
class AccessError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class AccessControl final : public broker::Authenticator, public broker::Authorizer {
public:
    // Loads the files the config names; throws AccessError.
    AccessControl(const config::Config& config, std::function<void(int, const std::string&)> log);
    ~AccessControl() override;
    AccessControl(const AccessControl&) = delete;
    AccessControl& operator=(const AccessControl&) = delete;

    // SIGHUP: loads the files again and takes the new listeners' anonymous rules. On an error the running rules stay
    // and the error is returned ("file:line: message"); else empty. Returns whether the ACL changed in `acl_changed`.
    [[nodiscard]] std::string reload(const config::Config& config, bool& acl_changed);

    // Stops the password checks (those waiting are answered "refused"): after the workers stopped, before they are
    // destroyed. authenticate() refuses password clients from then on.
    void shutdown();

    [[nodiscard]] bool supports_method(std::string_view, std::string_view) const override { return false; }
    [[nodiscard]] broker::AuthDecision authenticate(const broker::AuthRequest& request, unsigned step) override;

    [[nodiscard]] bool allows(const broker::Identity& who, std::string_view topic,
                              broker::Access access) const override;
    [[nodiscard]] std::uint64_t generation() const override;

private:
    struct Rules;
    static std::shared_ptr<const Rules> load(const config::Config& config);
    [[nodiscard]] broker::AuthDecision check_password(const Rules& rules, const broker::AuthRequest& request);

    std::function<void(int, const std::string&)> log_;
    std::atomic<std::shared_ptr<const Rules>> rules_;
    std::atomic<std::uint64_t> generation_{0};
    std::uint64_t last_generation_ = 1;  // the newest generation handed out (reload() runs on one thread)
    std::mutex pool_mutex_;  // guards pool_ against shutdown() only
    std::unique_ptr<auth::VerifyPool> pool_;
};

// Listeners open to anonymous clients on an address other than loopback: one warning line each (mothd logs them at
// start-up; --check-config prints them).
[[nodiscard]] std::vector<std::string> anonymous_warnings(const config::Config& config);

}  // namespace moth::server
