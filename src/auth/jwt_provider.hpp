#pragma once
// The "jwt" identity provider ([auth.jwt], docs/security.md "JWT"): a CONNECT whose password (or user name) is a
// signed token is let in as the identity its claims name, with the rules its acl claim carries and until its exp.
// A password that does not look like a token is handed on (Next), so the password file after it can still check it.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "auth/jwt.hpp"
#include "auth/jwt_keys.hpp"
#include "auth/provider.hpp"
#include "config/config.hpp"

namespace moth::auth {

class JwtProvider final : public Provider {
public:
    // Reads the one key file the config names (throws JwtKeyError "file: message") and the algorithms (an unknown
    // name, or a list none of whose algorithms the keys can verify, throws JwtKeyError too). `wall_clock_unix` gives
    // the time exp and nbf are checked against; called from any worker.
    JwtProvider(const config::AuthJwt& config, std::function<std::int64_t()> wall_clock_unix);

    [[nodiscard]] std::string_view name() const override { return "jwt"; }
    // Answers at once, on the caller's thread (a signature check is microseconds; no I/O). Any thread.
    void authenticate(const Credentials& credentials, VerdictCallback done) override;

private:
    [[nodiscard]] Verdict check(const std::string& token) const;

    JwtKeys keys_;
    JwtRules rules_;
    config::JwtFrom from_;
    std::string username_claim_;
    std::string acl_claim_;
    std::function<std::int64_t()> wall_clock_unix_;
};

}  // namespace moth::auth
