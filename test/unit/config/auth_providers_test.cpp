// Issue 20's keys: [auth] providers, [auth.http], [auth.jwt] and a listener's auth_providers: parsing, each error
// with its line, the checks across keys, --set, differences, and the chain a listener gets.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/config.hpp"

namespace moth::config {
namespace {

using Strings = std::vector<std::string>;

Strings parse_errors(std::string_view text) {
    Strings out;
    for (const auto& e : parse_config(text, "t.toml").errors) out.push_back(e.to_string());
    return out;
}

Config parse_ok(std::string_view text) {
    LoadResult r = parse_config(text, "t.toml");
    Strings errors;
    for (const auto& e : r.errors) errors.push_back(e.to_string());
    EXPECT_TRUE(r.ok()) << testing::PrintToString(errors);
    return r.config;
}

TEST(ConfigProviders, ReadsHttpAndJwtTables) {
    const Config c = parse_ok(R"(
[auth]
password_file = "/etc/moth/passwd"
providers = ["jwt", "file", "http"]
[auth.http]
url = "https://hooks.example:8443/mqtt/auth"
authorize_url = "http://127.0.0.1:9000/acl"
ca_file = "ca.pem"
cert_file = "c.pem"
key_file = "k.pem"
timeout_ms = 250
cache_ttl_s = 0
max_connections = 2
on_error = "next"
[auth.jwt]
jwks_file = "keys.json"
algorithms = ["RS256", "ES256"]
from = "username"
issuer = "https://id.example"
audience = "moth"
username_claim = "preferred_username"
acl_claim = "acl"
leeway_s = 30
[[listener]]
port = 0
auth_providers = ["jwt"]
)");
    EXPECT_EQ(c.auth.providers, (Strings{"jwt", "file", "http"}));
    EXPECT_EQ(c.auth.http.url, "https://hooks.example:8443/mqtt/auth");
    EXPECT_EQ(c.auth.http.authorize_url, "http://127.0.0.1:9000/acl");
    EXPECT_EQ(c.auth.http.timeout_ms, 250u);
    EXPECT_EQ(c.auth.http.cache_ttl_s, 0u);
    EXPECT_EQ(c.auth.http.max_connections, 2u);
    EXPECT_EQ(c.auth.http.on_error, OnError::Next);
    EXPECT_EQ(c.auth.jwt.jwks_file, "keys.json");
    EXPECT_EQ(c.auth.jwt.algorithms, (Strings{"RS256", "ES256"}));
    EXPECT_EQ(c.auth.jwt.from, JwtFrom::Username);
    EXPECT_EQ(c.auth.jwt.username_claim, "preferred_username");
    EXPECT_EQ(c.auth.jwt.leeway_s, 30u);
    ASSERT_EQ(c.listeners.size(), 1u);
    EXPECT_EQ(provider_chain(c.listeners[0], c.auth), (Strings{"jwt"}));
}

TEST(ConfigProviders, TheDefaultChainIsWhatIsConfigured) {
    Config c = parse_ok("[auth]\npassword_file = \"p\"\n[auth.jwt]\nsecret_file = \"s\"\n");
    Listener l;
    EXPECT_EQ(provider_chain(l, c.auth), (Strings{"file", "jwt"}));
    c.auth.http.url = "http://h/a";
    EXPECT_EQ(provider_chain(l, c.auth), (Strings{"file", "jwt", "http"}));
    c.auth.providers = {"http"};
    EXPECT_EQ(provider_chain(l, c.auth), (Strings{"http"}));
    EXPECT_TRUE(provider_chain(l, Auth{}).empty());  // nothing configured: the anonymous rules alone
}

TEST(ConfigProviders, BadValuesNameTheirLine) {
    EXPECT_EQ(parse_errors("[auth]\nproviders = [\"ldap\"]\n"),
              (Strings{"t.toml:2: auth.providers: element 0: must be one of \"file\", \"jwt\", \"http\", got \"ldap\""}));
    EXPECT_EQ(parse_errors("[auth]\npassword_file = \"p\"\nproviders = [\"file\", \"file\"]\n"),
              (Strings{"t.toml:3: auth.providers: element 1: \"file\" is listed twice"}));
    EXPECT_EQ(parse_errors("[auth.http]\nurl = \"ftp://x/y\"\n"),
              (Strings{"t.toml:2: auth.http.url: must start with http:// or https://, got \"ftp://x/y\""}));
    EXPECT_EQ(parse_errors("[auth.http]\non_error = \"allow\"\n"),
              (Strings{"t.toml:2: auth.http.on_error: must be one of \"deny\", \"next\", got \"allow\""}));
    EXPECT_EQ(parse_errors("[auth.jwt]\nalgorithms = [\"none\"]\n"),
              (Strings{"t.toml:2: auth.jwt.algorithms: element 0: \"none\" (an unsigned token) is never accepted"}));
    EXPECT_EQ(parse_errors("[auth.jwt]\nsecrets = \"x\"\n").size(), 1u);
    EXPECT_EQ(parse_errors("[auth.http]\ntimeout_ms = 0\n"),
              (Strings{"t.toml:2: auth.http.timeout_ms: must be between 1 and 600000, got 0"}));
}

TEST(ConfigProviders, AChainNamesOnlyConfiguredProviders) {
    EXPECT_EQ(parse_errors("[auth]\nproviders = [\"file\", \"jwt\", \"http\"]\n"),
              (Strings{"t.toml:2: auth.providers: \"file\" needs auth.password_file",
                       "t.toml:2: auth.providers: \"jwt\" needs [auth.jwt] with secret_file, public_key_file or "
                       "jwks_file",
                       "t.toml:2: auth.providers: \"http\" needs auth.http.url"}));
    EXPECT_EQ(parse_errors("[[listener]]\nport = 0\nauth_providers = [\"http\"]\n"),
              (Strings{"t.toml:3: listener.0.auth_providers: \"http\" needs auth.http.url"}));
    EXPECT_EQ(parse_errors("[auth.jwt]\nsecret_file = \"s\"\njwks_file = \"j\"\n"),
              (Strings{"t.toml:1: auth.jwt: set exactly one of secret_file, public_key_file and jwks_file"}));
    EXPECT_EQ(parse_errors("[auth.http]\nurl = \"http://h/\"\ncert_file = \"c\"\n"),
              (Strings{"t.toml:3: auth.http.cert_file: cert_file and key_file go together (the client certificate "
                       "mothd presents to the hook)"}));
}

TEST(ConfigProviders, OverridesAndDifferences) {
    Config c = parse_ok("[auth]\npassword_file = \"p\"\n");
    const Config before = c;
    EXPECT_TRUE(apply_overrides(c, std::vector<std::string>{"auth.http.url=http://127.0.0.1:1/a",
                                                             "auth.http.on_error=next", "auth.jwt.leeway_s=5"})
                    .empty());
    EXPECT_EQ(c.auth.http.url, "http://127.0.0.1:1/a");
    EXPECT_EQ(c.auth.http.on_error, OnError::Next);
    EXPECT_EQ(differences(before, c), (Strings{"auth.http.url", "auth.http.on_error", "auth.jwt.leeway_s"}));
    EXPECT_TRUE(reload_differences(before, c).empty()) << "providers are rebuilt on SIGHUP";
    Config bad = before;
    const auto errors = apply_overrides(bad, std::vector<std::string>{"auth.providers=[\"http\"]"});
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0].to_string(), "<override>: auth.providers: \"http\" needs auth.http.url");
}

}  // namespace
}  // namespace moth::config
