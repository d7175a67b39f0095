#pragma once
// What mothd gives the broker to decide who may connect and what each client may read and write (docs/security.md):
// per listener, a chain of identity providers (the [auth] password file, JWT, an HTTP hook: src/auth) asked in
// turn; SCRAM-SHA-256 enhanced authentication against the password file's SCRAM entries; per-listener anonymous
// access; client certificates as identity; the ACL file (Mosquitto's acl_file format), replaced for a client by the
// rules its provider gave it; and the HTTP authorization hook at PUBLISH and SUBSCRIBE.
//
// Thread affinity: authenticate(), check_hook() on any worker; allows() and generation() on any thread, concurrently
// (the rules and providers are an immutable snapshot swapped whole by reload()); reload() on the main thread.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "broker/auth.hpp"
#include "config/config.hpp"

namespace moth::server {

struct PoolHandle;  // access_rules.hpp: the password verify pool, shared with the file provider

// A password, ACL or key file that cannot be used, or a provider that cannot start: what() is "file:line: message"
// (or "file: message").
class AccessError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class AccessControl final : public broker::Authenticator, public broker::Authorizer {
public:
    using Log = std::function<void(int, const std::string&)>;
    // Loads the files the config names and starts its providers; throws AccessError.
    AccessControl(const config::Config& config, Log log);
    ~AccessControl() override;
    AccessControl(const AccessControl&) = delete;
    AccessControl& operator=(const AccessControl&) = delete;

    // SIGHUP: loads the files (password, ACL, JWT keys) again, rebuilds the providers whose settings changed and
    // takes the new listeners' chains and anonymous rules. On an error the running rules stay and the error is
    // returned; else empty. Says whether authorization may have changed in `acl_changed`.
    [[nodiscard]] std::string reload(const config::Config& config, bool& acl_changed);

    // Stops the password checks (those waiting are answered "refused"): after the workers stopped, before they are
    // destroyed. authenticate() refuses password clients from then on.
    void shutdown();

    [[nodiscard]] bool supports_method(std::string_view method, std::string_view listener) const override;
    [[nodiscard]] broker::AuthDecision authenticate(const broker::AuthRequest& request, unsigned step) override;

    [[nodiscard]] bool allows(const broker::Identity& who, std::string_view topic,
                              broker::Access access) const override;
    [[nodiscard]] std::uint64_t generation() const override;
    [[nodiscard]] bool has_hook() const override;
    [[nodiscard]] std::optional<bool> check_hook(const broker::Identity& who, const broker::HookCheck& check,
                                                 std::function<void(bool)> later) const override;

    struct Rules;  // access_rules.cpp: one snapshot of files, providers and chains

private:
    [[nodiscard]] broker::AuthDecision run_chain(const std::shared_ptr<const Rules>& rules,
                                                 const broker::AuthRequest& request);
    [[nodiscard]] broker::AuthDecision exchange(const Rules& rules, const broker::AuthRequest& request, unsigned step);

    Log log_;
    std::atomic<std::shared_ptr<const Rules>> rules_;
    std::atomic<std::uint64_t> generation_{0};
    std::uint64_t last_generation_ = 1;  // the newest generation handed out (reload() runs on one thread)
    std::shared_ptr<PoolHandle> pool_;  // shared with the file provider; emptied by shutdown()
    // SCRAM's made-up salts for unknown users come from it (RFC 5802 section 5.1): random per process, so a client
    // cannot tell which users exist from server-first (only that the broker restarted).
    std::string scram_secret_;
};

// Listeners open to anonymous clients on an address other than loopback: one warning line each (mothd logs them at
// start-up; --check-config prints them).
[[nodiscard]] std::vector<std::string> anonymous_warnings(const config::Config& config);

}  // namespace moth::server
