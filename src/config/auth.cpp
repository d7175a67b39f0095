// [auth.http], [auth.jwt] and the provider chains ([auth] providers, a listener's auth_providers): their keys, and
// the checks that span several keys (docs/security.md "Providers").
#include <algorithm>
#include <array>

#include "config/fields.hpp"

namespace moth::config {

namespace detail {

namespace {

inline constexpr std::array<EnumName<OnError>, 2> kOnErrors{{{"deny", OnError::Deny}, {"next", OnError::Next}}};
inline constexpr std::array<EnumName<JwtFrom>, 2> kJwtFroms{{{"password", JwtFrom::Password},
                                                             {"username", JwtFrom::Username}}};
inline constexpr std::array<std::string_view, 3> kProviders{"file", "jwt", "http"};
inline constexpr std::array<std::string_view, 3> kJwtAlgorithms{"HS256", "RS256", "ES256"};

std::optional<std::string> http_url(std::string_view s) {
    if (s.empty()) return std::nullopt;  // not asked
    const bool http = s.starts_with("http://");
    const bool https = s.starts_with("https://");
    if (!http && !https) return "must start with http:// or https://, got " + quote(s);
    const std::string_view rest = s.substr(http ? 7 : 8);
    if (rest.empty() || rest.front() == '/') return "has no host: " + quote(s);
    if (rest.find_first_of(" \t\r\n") != std::string_view::npos) return "contains white space: " + quote(s);
    return std::nullopt;
}

std::optional<std::string> provider_name(std::string_view s) {
    if (std::find(kProviders.begin(), kProviders.end(), s) != kProviders.end()) return std::nullopt;
    return "must be one of " + list_choices(kProviders) + ", got " + quote(s);
}

std::optional<std::string> jwt_algorithm(std::string_view s) {
    if (std::find(kJwtAlgorithms.begin(), kJwtAlgorithms.end(), s) != kJwtAlgorithms.end()) return std::nullopt;
    if (s == "none") return "\"none\" (an unsigned token) is never accepted";
    return "must be one of " + list_choices(kJwtAlgorithms) + ", got " + quote(s);
}

std::optional<std::string> check_chain(const std::vector<std::string>& chain) {
    for (std::size_t i = 0; i < chain.size(); ++i) {
        if (auto problem = provider_name(chain[i])) return "element " + std::to_string(i) + ": " + *problem;
        if (std::find(chain.begin(), chain.begin() + static_cast<std::ptrdiff_t>(i), chain[i]) !=
            chain.begin() + static_cast<std::ptrdiff_t>(i)) {
            return "element " + std::to_string(i) + ": " + quote(chain[i]) + " is listed twice";
        }
    }
    return std::nullopt;
}

}  // namespace

Field<Auth> providers_field() {
    Reader<Auth> read = [](Auth& target, const toml::node& node) -> std::optional<std::string> {
        Auth scratch;
        auto field = string_list_field("providers", &Auth::providers, any_string);
        if (auto problem = field.read(scratch, node)) return problem;
        if (auto problem = check_chain(scratch.providers)) return problem;
        target.providers = std::move(scratch.providers);
        return std::nullopt;
    };
    return {"providers", false, std::move(read), member_equal(&Auth::providers)};
}

Field<Listener> auth_providers_field() {
    Reader<Listener> read = [](Listener& target, const toml::node& node) -> std::optional<std::string> {
        Auth scratch;
        auto field = providers_field();
        if (auto problem = field.read(scratch, node)) return problem;
        target.auth_providers = std::move(scratch.providers);
        return std::nullopt;
    };
    return {"auth_providers", false, std::move(read), member_equal(&Listener::auth_providers)};
}

const std::vector<Field<AuthHttp>>& auth_http_fields() {
    static const std::vector<Field<AuthHttp>> fields{
        string_field("url", &AuthHttp::url, http_url),
        string_field("authorize_url", &AuthHttp::authorize_url, http_url),
        string_field("ca_file", &AuthHttp::ca_file, any_string),
        string_field("cert_file", &AuthHttp::cert_file, any_string),
        string_field("key_file", &AuthHttp::key_file, any_string),
        integer_field("timeout_ms", &AuthHttp::timeout_ms, 1, 600000),
        integer_field("cache_ttl_s", &AuthHttp::cache_ttl_s, 0, 86400),
        integer_field("max_connections", &AuthHttp::max_connections, 1, 1024),
        enum_field("on_error", &AuthHttp::on_error, kOnErrors),
    };
    return fields;
}

const std::vector<Field<AuthJwt>>& auth_jwt_fields() {
    static const std::vector<Field<AuthJwt>> fields{
        string_field("secret_file", &AuthJwt::secret_file, any_string),
        string_field("public_key_file", &AuthJwt::public_key_file, any_string),
        string_field("jwks_file", &AuthJwt::jwks_file, any_string),
        string_list_field("algorithms", &AuthJwt::algorithms, jwt_algorithm),
        enum_field("from", &AuthJwt::from, kJwtFroms),
        string_field("issuer", &AuthJwt::issuer, any_string),
        string_field("audience", &AuthJwt::audience, any_string),
        string_field("username_claim", &AuthJwt::username_claim, any_string),
        string_field("acl_claim", &AuthJwt::acl_claim, any_string),
        integer_field("leeway_s", &AuthJwt::leeway_s, 0, 3600),
    };
    return fields;
}

std::vector<AuthProblem> auth_problems(const Config& config) {
    std::vector<AuthProblem> out;
    const Auth& a = config.auth;
    const int key_sources = int(!a.jwt.secret_file.empty()) + int(!a.jwt.public_key_file.empty()) +
                            int(!a.jwt.jwks_file.empty());
    if (key_sources > 1) {
        out.push_back({"auth.jwt", "set exactly one of secret_file, public_key_file and jwks_file"});
    }
    if (a.http.cert_file.empty() != a.http.key_file.empty()) {
        out.push_back({"auth.http." + std::string(a.http.cert_file.empty() ? "key_file" : "cert_file"),
                       "cert_file and key_file go together (the client certificate mothd presents to the hook)"});
    }
    const auto check = [&](const std::vector<std::string>& chain, const std::string& key) {
        for (const auto& p : chain) {
            if (p == "file" && a.password_file.empty()) {
                out.push_back({key, "\"file\" needs auth.password_file"});
            } else if (p == "jwt" && !a.jwt.enabled()) {
                out.push_back({key, "\"jwt\" needs [auth.jwt] with secret_file, public_key_file or jwks_file"});
            } else if (p == "http" && a.http.url.empty()) {
                out.push_back({key, "\"http\" needs auth.http.url"});
            }
        }
    };
    check(a.providers, "auth.providers");
    for (std::size_t i = 0; i < config.listeners.size(); ++i) {
        if (config.listeners[i].auth_providers) check(*config.listeners[i].auth_providers, listener_key(i, "auth_providers"));
    }
    return out;
}

void read_auth(const toml::node& node, std::size_t line, Config& config, Collector& errors) {
    const toml::table* table = node.as_table();
    if (table == nullptr) {
        errors.add(line, "auth", "expected a table ([auth]), got " + describe(node));
        return;
    }
    // [auth.http] and [auth.jwt] are tables inside [auth]: read apart, the rest with [auth]'s own keys.
    toml::table rest = *table;
    for (const std::string_view sub : {"http", "jwt"}) {
        const toml::node* inner = table->get(sub);
        if (inner == nullptr) continue;
        const std::string name = "auth." + std::string(sub);
        const std::size_t inner_line = line_of(inner->source());
        if (sub == "http") {
            read_sub_table(name, auth_http_fields(), config.auth.http, *inner, inner_line, errors, config.lines);
        } else {
            read_sub_table(name, auth_jwt_fields(), config.auth.jwt, *inner, inner_line, errors, config.lines);
        }
        rest.erase(sub);
    }
    read_sub_table("auth", auth_fields(), config.auth, rest, line, errors, config.lines);
}

}  // namespace detail

std::string_view to_string(OnError e) noexcept { return detail::enum_name(detail::kOnErrors, e); }
std::string_view to_string(JwtFrom f) noexcept { return detail::enum_name(detail::kJwtFroms, f); }

std::vector<std::string> provider_chain(const Listener& l, const Auth& a) {
    if (l.auth_providers) return *l.auth_providers;
    if (!a.providers.empty()) return a.providers;
    std::vector<std::string> chain;
    if (!a.password_file.empty()) chain.emplace_back("file");
    if (a.jwt.enabled()) chain.emplace_back("jwt");
    if (!a.http.url.empty()) chain.emplace_back("http");
    return chain;
}

}  // namespace moth::config
