#pragma once
// Identity providers and authorization hooks, as the listener's chain asks them (src/server/access_control.cpp,
// docs/security.md "Providers"): the password file, an HTTP hook, JWT. The chain asks each provider in turn until one
// allows or denies; Next hands the credentials on (a user the provider does not know, a password that is not a
// token, an HTTP hook that failed with on_error = "next"). When every provider says Next, the client is refused
// (Bad User Name or Password).
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "auth/grants.hpp"
#include "codec/reason_code.hpp"

namespace moth::auth {

// One CONNECT's credentials, owned: a provider may answer on another thread after the CONNECT's buffers are gone.
struct Credentials {
    std::string client_id;                // as the CONNECT gave it (empty: the broker assigns one afterwards)
    std::optional<std::string> username;  // the CONNECT's User Name
    std::optional<std::string> password;  // the CONNECT's Password: binary data as sent
    std::string remote;                   // the peer: "192.0.2.1:5000", "[2001:db8::1]:5000"
    std::string listener;                 // the listener's name ("mqtt-0"); empty in unit tests
    std::string protocol;                 // "3.1", "3.1.1" or "5.0"
    std::string cert_cn;                  // a verified client certificate's subject CN; empty without one
};

struct Verdict {
    enum class Kind : std::uint8_t { Allow, Deny, Next } kind = Kind::Next;
    // Deny: what the client is told (5.0 reason code; a 3.x client gets the nearest return code):
    // BadUserNameOrPassword for wrong credentials (a bad token too), NotAuthorized for an identity refused,
    // ServerUnavailable when the provider could not answer (an HTTP hook down with on_error = "deny").
    codec::ReasonCode reason = codec::ReasonCode::NotAuthorized;
    std::optional<std::string> username;    // Allow: the identity's user name when the provider names it (JWT claim)
    std::shared_ptr<const Grants> grants;   // Allow: this client's own rules (replace the acl_file); null: none
    std::optional<std::int64_t> expires_at;  // Allow: Unix seconds; the connection is closed then (a JWT's exp)
    std::string why;                        // for the log: "jwt: token expired", "http: status 500"

    static Verdict allow() { return Verdict{Kind::Allow, codec::ReasonCode::Success, {}, {}, {}, {}}; }
    static Verdict deny(codec::ReasonCode reason, std::string why) {
        return Verdict{Kind::Deny, reason, {}, {}, {}, std::move(why)};
    }
    static Verdict next(std::string why) {
        return Verdict{Kind::Next, codec::ReasonCode::Success, {}, {}, {}, std::move(why)};
    }
};

using VerdictCallback = std::function<void(Verdict)>;

class Provider {
public:
    virtual ~Provider() = default;
    [[nodiscard]] virtual std::string_view name() const = 0;  // "file", "http", "jwt": in logs and the config
    // Calls `done` exactly once: before returning (a cached answer, a token checked at once) or later from any
    // thread (an HTTP request, a password hash). Never blocks the caller. Called from every worker at once.
    virtual void authenticate(const Credentials& credentials, VerdictCallback done) = 0;
};

// A PUBLISH or SUBSCRIBE an authorization hook is asked about.
struct AccessRequest {
    enum class Action : std::uint8_t { Publish, Subscribe } action = Action::Publish;
    std::string client_id;
    std::optional<std::string> username;  // nullopt: an anonymous client
    std::string remote;
    std::string listener;
    std::string topic;  // Publish: the topic name; Subscribe: the filter (without "$share/<group>/")
    std::uint8_t qos = 0;
    bool retain = false;  // Publish only
};

// Next: the hook had no answer ("ignore", or it failed with on_error = "next"): the acl_file's answer stands.
enum class HookAnswer : std::uint8_t { Allow, Deny, Next };

class AccessHook {
public:
    virtual ~AccessHook() = default;
    // An answer at once (from the cache) or nullopt, and then `later` is called exactly once from another thread.
    // Never blocks; called from every worker at once.
    [[nodiscard]] virtual std::optional<HookAnswer> authorize(const AccessRequest& request,
                                                              std::function<void(HookAnswer)> later) = 0;
};

}  // namespace moth::auth
