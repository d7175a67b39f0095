#include "auth/jwt_provider.hpp"

#include <memory>
#include <utility>

#include "auth/grants_json.hpp"

namespace moth::auth {

namespace {

JwtKeys load_keys(const config::AuthJwt& config) {
    if (!config.secret_file.empty()) return JwtKeys::from_secret_file(config.secret_file);
    if (!config.public_key_file.empty()) return JwtKeys::from_public_key_file(config.public_key_file);
    if (!config.jwks_file.empty()) return JwtKeys::from_jwks_file(config.jwks_file);
    throw JwtKeyError("[auth.jwt]: no secret_file, public_key_file or jwks_file");
}

const std::string& key_file(const config::AuthJwt& config) {
    if (!config.secret_file.empty()) return config.secret_file;
    return config.public_key_file.empty() ? config.jwks_file : config.public_key_file;
}

// config.algorithms as JwtAlg. Listing only algorithms the keys cannot verify would refuse every token: an error
// at start-up (or SIGHUP) rather than a broker that silently lets nobody in.
std::vector<JwtAlg> algorithms(const config::AuthJwt& config, const JwtKeys& keys) {
    std::vector<JwtAlg> out;
    bool usable = config.algorithms.empty();
    for (const auto& name : config.algorithms) {
        const auto alg = jwt_alg_from_name(name);
        if (!alg) throw JwtKeyError(key_file(config) + ": algorithm " + name + " is not HS256, RS256 or ES256");
        usable = usable || keys.has_alg(*alg);
        out.push_back(*alg);
    }
    if (!usable) throw JwtKeyError(key_file(config) + ": no key for any of the algorithms accepted");
    return out;
}

}  // namespace

JwtProvider::JwtProvider(const config::AuthJwt& config, std::function<std::int64_t()> wall_clock_unix)
    : keys_(load_keys(config)),
      rules_{algorithms(config, keys_), config.issuer, config.audience, config.leeway_s},
      from_(config.from),
      username_claim_(config.username_claim),
      acl_claim_(config.acl_claim),
      wall_clock_unix_(std::move(wall_clock_unix)) {}

void JwtProvider::authenticate(const Credentials& credentials, VerdictCallback done) {
    const auto& field = from_ == config::JwtFrom::Password ? credentials.password : credentials.username;
    if (!field || !looks_like_jwt(*field)) {
        done(Verdict::next("jwt: no token"));
        return;
    }
    done(check(*field));
}

Verdict JwtProvider::check(const std::string& token) const {
    auto result = verify_jwt(token, keys_, rules_, wall_clock_unix_());
    if (!result.token) {
        std::string why = "jwt: " + std::string(to_string(result.error));
        if (!result.detail.empty()) why += ": " + result.detail;
        return Verdict::deny(codec::ReasonCode::BadUserNameOrPassword, std::move(why));
    }
    const auto& claims = result.token->claims;
    Verdict verdict = Verdict::allow();
    if (!username_claim_.empty()) {
        const auto it = claims.find(username_claim_);
        if (it == claims.end() || !it->is_string() || it->get_ref<const std::string&>().empty()) {
            return Verdict::deny(codec::ReasonCode::BadUserNameOrPassword, "jwt: no " + username_claim_ + " claim");
        }
        verdict.username = it->get<std::string>();
    }
    if (!acl_claim_.empty()) {
        if (const auto it = claims.find(acl_claim_); it != claims.end()) {
            std::string error;
            auto grants = grants_from_json(*it, error);
            if (!grants) return Verdict::deny(codec::ReasonCode::NotAuthorized, "jwt: " + acl_claim_ + ": " + error);
            verdict.grants = std::make_shared<const Grants>(std::move(*grants));
        }
    }
    verdict.expires_at = result.token->exp;
    verdict.why = "jwt: valid token";
    return verdict;
}

}  // namespace moth::auth
