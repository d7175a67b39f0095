#pragma once
// Who may connect (Authenticator: CONNECT credentials and the MQTT 5.0 enhanced authentication exchange) and what
// each client may read and write (Authorizer). The broker core asks; implementations live outside it (src/server's
// AccessControl over the password and ACL files of src/auth, tests' fakes).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/identity.hpp"
#include "codec/reason_code.hpp"
#include "codec/types.hpp"

namespace moth::broker {

struct AuthDecision {
    // Pending: the decision comes later through AuthRequest::later (a password hash on another thread).
    enum class Kind { Allow, Deny, Continue, Pending } kind = Kind::Allow;
    codec::ReasonCode reason = codec::ReasonCode::Success;  // Deny: e.g. NotAuthorized, BadUserNameOrPassword
    std::optional<std::vector<std::byte>> data;             // Continue/Allow: Authentication Data to send
    // Allow: who the client is, when the authenticator knows better than the CONNECT's User Name (a JWT claim, the
    // SCRAM user), its own rules (replace the ACL for it), and how long the identity holds (a token's expiry: the
    // connection is closed then, 5.0 with DISCONNECT 0x87).
    std::optional<std::string> username;
    std::shared_ptr<const auth::Grants> grants;
    std::optional<std::chrono::milliseconds> valid_for;

    static AuthDecision allow() { return {}; }
    static AuthDecision allow(std::vector<std::byte> data) {
        AuthDecision d;
        d.data = std::move(data);
        return d;
    }
    static AuthDecision more(std::vector<std::byte> data) {  // Continue: send AUTH 0x18 with this data
        AuthDecision d = allow(std::move(data));
        d.kind = Kind::Continue;
        return d;
    }
    static AuthDecision deny(codec::ReasonCode r) { return {Kind::Deny, r, std::nullopt, {}, {}, {}}; }
    static AuthDecision pending() { return {Kind::Pending, codec::ReasonCode::Success, std::nullopt, {}, {}, {}}; }
};

// What an authenticator keeps between the steps of one enhanced authentication exchange (a SCRAM nonce): owned by
// the connection, created by the authenticator at step 0, handed back at each later step.
class AuthExchange {
public:
    virtual ~AuthExchange() = default;
};

struct AuthRequest {
    std::string_view client_id;
    std::optional<std::string_view> username;
    std::optional<codec::Bytes> password;
    std::string_view method;  // empty: no enhanced authentication requested
    std::optional<codec::Bytes> data;
    std::string_view remote;    // peer address, for logs and allow-lists
    std::string_view listener;  // the listener's name, for per-listener rules; empty in unit tests
    bool certificate_identity = false;  // `username` is the subject CN of a verified client certificate
    codec::ProtocolVersion version = codec::ProtocolVersion::V5;
    // Enhanced authentication: the connection's exchange state (never null when `method` is set); a
    // re-authentication (AUTH 0x19) starts again at step 0 with `reauthenticating` set and `username` the identity's.
    std::unique_ptr<AuthExchange>* exchange = nullptr;
    bool reauthenticating = false;
    // Set on a CONNECT (step 0): an authenticator whose answer takes time returns AuthDecision::pending() and calls
    // `later` once, from any thread, with the decision (Allow or Deny). The CONNECT waits meanwhile (its connect
    // timeout still runs). Empty for AUTH steps: no Pending then.
    std::function<void(AuthDecision)> later;
};

// Called on the worker thread that owns the session. Implementations must not block.
class Authenticator {
public:
    virtual ~Authenticator() = default;
    // Whether `method` is supported on this listener; an unsupported one gets CONNACK 0x8C Bad authentication method.
    [[nodiscard]] virtual bool supports_method(std::string_view method, std::string_view listener) const = 0;
    // CONNECT, and every AUTH 0x18 that continues the exchange (step counts from 0).
    [[nodiscard]] virtual AuthDecision authenticate(const AuthRequest& request, unsigned step) = 0;
};

// The default: everyone is allowed, no enhanced authentication method is supported.
class AllowAll final : public Authenticator {
public:
    [[nodiscard]] bool supports_method(std::string_view, std::string_view) const override { return false; }
    [[nodiscard]] AuthDecision authenticate(const AuthRequest&, unsigned) override { return AuthDecision::allow(); }
};

enum class Access : std::uint8_t {
    Read,       // a message on this topic name may be delivered to the client
    Write,      // the client may publish on this topic name (its will included)
    Subscribe,  // the client may subscribe to this filter (without "$share/<group>/"): it may read something it matches
};

// A PUBLISH or SUBSCRIBE put to an authorization hook.
struct HookCheck {
    std::string_view topic;  // the PUBLISH's topic name, or the SUBSCRIBE's filter without "$share/<group>/"
    Access access = Access::Write;  // Write or Subscribe
    codec::QoS qos = codec::QoS::AtMostOnce;
    bool retain = false;
    std::string_view remote;
};

// What a client may read and write. Called from any worker's thread, concurrently, on the hot path (every delivery
// is checked for Read): implementations are immutable or synchronize themselves, and answer fast. The core caches
// Read decisions per worker, keyed by identity and topic, for as long as generation() does not change.
class Authorizer {
public:
    virtual ~Authorizer() = default;
    [[nodiscard]] virtual bool allows(const Identity& who, std::string_view topic, Access access) const = 0;
    // Changes whenever the rules do (a reload): decisions taken under another generation are stale. 0: there are no
    // rules at all (everything is allowed): the core skips its per-delivery checks.
    [[nodiscard]] virtual std::uint64_t generation() const = 0;

    // A hook that answers in its own time (an HTTP authorization URL), asked at each PUBLISH and SUBSCRIBE that
    // allows() let through, when has_hook() says there is one: the answer now (a cached one), or nullopt and then
    // `later` is called exactly once, from any thread. The packet waits meanwhile (the connection's input is paused).
    [[nodiscard]] virtual bool has_hook() const { return false; }
    [[nodiscard]] virtual std::optional<bool> check_hook(const Identity& who, const HookCheck& check,
                                                         std::function<void(bool)> later) const {
        (void)who, (void)check, (void)later;
        return true;
    }
};

}  // namespace moth::broker
