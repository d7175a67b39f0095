#pragma once
// Authentication hook: CONNECT credentials and the MQTT 5.0 enhanced authentication exchange
// (CONNECT / AUTH 0x18 Continue authentication / ... / CONNACK, and re-authentication with AUTH 0x19).
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "codec/reason_code.hpp"
#include "codec/types.hpp"

namespace moth::broker {

struct AuthRequest {
    std::string_view client_id;
    std::optional<std::string_view> username;
    std::optional<codec::Bytes> password;
    std::string_view method;  // empty: no enhanced authentication requested
    std::optional<codec::Bytes> data;
    std::string_view remote;  // peer address, for logs and allow-lists
};

struct AuthDecision {
    enum class Kind { Allow, Deny, Continue } kind = Kind::Allow;
    codec::ReasonCode reason = codec::ReasonCode::Success;  // Deny: e.g. NotAuthorized, BadUserNameOrPassword
    std::optional<std::vector<std::byte>> data;             // Continue/Allow: Authentication Data to send

    static AuthDecision allow() { return {}; }
    static AuthDecision deny(codec::ReasonCode r) { return {Kind::Deny, r, std::nullopt}; }
};

// Called on the worker thread that owns the session. Implementations must not block.
class Authenticator {
public:
    virtual ~Authenticator() = default;
    // Whether `method` is supported at all; an unsupported one gets CONNACK 0x8C Bad authentication method.
    [[nodiscard]] virtual bool supports_method(std::string_view method) const = 0;
    // CONNECT, and every AUTH 0x18 that continues the exchange (step counts from 0).
    [[nodiscard]] virtual AuthDecision authenticate(const AuthRequest& request, unsigned step) = 0;
};

// The default: everyone is allowed, no enhanced authentication method is supported.
class AllowAll final : public Authenticator {
public:
    [[nodiscard]] bool supports_method(std::string_view) const override { return false; }
    [[nodiscard]] AuthDecision authenticate(const AuthRequest&, unsigned) override { return AuthDecision::allow(); }
};

}  // namespace moth::broker
