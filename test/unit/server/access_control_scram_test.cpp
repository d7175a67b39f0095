// SCRAM-SHA-256 enhanced authentication through AccessControl (MQTT 5.0 section 4.12): offered where the listener's
// chain includes "file" and there is a password file; CONNECT (client-first) -> Continue with server-first ->
// client-final -> Allow with server-final, driven by the project's own client side (auth::ScramClient).
#include <gtest/gtest.h>

#include "access_control_fixture.hpp"
#include "auth/scram.hpp"

namespace moth::server::test {
namespace {

using auth::ScramClient;
using auth::test::TempFile;

std::vector<std::byte> bytes(std::string_view s) {
    const auto* b = reinterpret_cast<const std::byte*>(s.data());
    return {b, b + s.size()};
}
std::string text(const std::optional<std::vector<std::byte>>& data) {
    if (!data) return {};
    return {reinterpret_cast<const char*>(data->data()), data->size()};
}

class ScramTest : public ::testing::Test {
protected:
    ScramTest() {
        config_.auth.allow_anonymous = false;
        config_.auth.password_file = passwords_.path();
        config_.auth.jwt.secret_file = secret_.path();
        config_.auth.providers = {"file", "jwt"};
        config_.listeners = {listener("mqtt"), listener("tokens", std::nullopt, std::vector<std::string>{"jwt"})};
    }

    // One step of the exchange on `listener`: what the broker core hands authenticate() for a CONNECT (step 0)
    // or an AUTH 0x18 (step 1). `exchange_` carries the server's state between the steps.
    AuthDecision step(AccessControl& ac, unsigned n, std::string_view message, std::string_view listener = "mqtt",
                      std::optional<std::string_view> connect_username = std::nullopt) {
        const auto data = bytes(message);
        AuthRequest r;
        r.client_id = "s1";
        r.username = connect_username;
        r.method = auth::kScramSha256;
        r.data = codec::Bytes(data);
        r.remote = "192.0.2.1:5000";
        r.listener = listener;
        r.exchange = &exchange_;
        return ac.authenticate(r, n);
    }

    // A SCRAM user, a user with a PBKDF2 hash (cannot use SCRAM: the broker never sees their password).
    TempFile passwords_{password_lines({{"carol", "c4r0l pass"}}, auth::HashKind::ScramSha256) +
                        password_lines({{"alice", "wonderland"}})};
    TempFile secret_{kSecret};
    config::Config config_;
    std::unique_ptr<broker::AuthExchange> exchange_;
};

TEST_F(ScramTest, OfferedWhereTheChainIncludesTheFile) {
    Running running(config_, nullptr);
    AccessControl& ac = running.ac;
    EXPECT_TRUE(ac.supports_method("SCRAM-SHA-256", "mqtt"));
    EXPECT_FALSE(ac.supports_method("SCRAM-SHA-256", "tokens")) << "auth_providers = [\"jwt\"]";
    EXPECT_FALSE(ac.supports_method("SCRAM-SHA-1", "mqtt"));
    EXPECT_FALSE(ac.supports_method("scram-sha-256", "mqtt")) << "method names are compared exactly";

    // On a listener without it, the exchange is refused at once: CONNACK 0x8C Bad authentication method.
    ScramClient client("carol", "c4r0l pass");
    const auto d = step(ac, 0, client.first(), "tokens");
    EXPECT_EQ(d.kind, Kind::Deny);
    EXPECT_EQ(d.reason, ReasonCode::BadAuthenticationMethod);

    // Without a password file there is nothing to check against.
    config_.auth.password_file.clear();
    config_.auth.providers = {"jwt"};
    Running running_no_file(config_, nullptr);
    AccessControl& no_file = running_no_file.ac;
    EXPECT_FALSE(no_file.supports_method("SCRAM-SHA-256", "mqtt"));
}

TEST_F(ScramTest, FullExchangeProvesBothEnds) {
    Running running(config_, nullptr);
    AccessControl& ac = running.ac;
    ScramClient client("carol", "c4r0l pass");
    const auto first = step(ac, 0, client.first());
    ASSERT_EQ(first.kind, Kind::Continue) << "AUTH 0x18 with server-first";
    ASSERT_NE(exchange_, nullptr);
    const auto final = client.final(text(first.data));
    ASSERT_TRUE(final.ok) << final.message;

    const auto done = step(ac, 1, final.message);
    ASSERT_EQ(done.kind, Kind::Allow);
    EXPECT_EQ(done.username, "carol");
    EXPECT_TRUE(client.verify(text(done.data))) << "the CONNACK's server-final proves the broker knows carol";
    EXPECT_EQ(exchange_, nullptr) << "the exchange's state is dropped once decided";
}

TEST_F(ScramTest, ConnectUserNameMustBeTheScramUser) {
    Running running(config_, nullptr);
    AccessControl& ac = running.ac;
    ScramClient client("carol", "c4r0l pass");
    EXPECT_EQ(step(ac, 0, client.first(), "mqtt", "carol").kind, Kind::Continue);
    const auto other = step(ac, 0, client.first(), "mqtt", "alice");
    EXPECT_EQ(other.kind, Kind::Deny);
    EXPECT_EQ(other.reason, ReasonCode::BadUserNameOrPassword);
}

TEST_F(ScramTest, WrongPasswordIsRefusedAtTheProof) {
    Running running(config_, nullptr);
    AccessControl& ac = running.ac;
    ScramClient client("carol", "not carol's");
    const auto first = step(ac, 0, client.first());
    ASSERT_EQ(first.kind, Kind::Continue);
    const auto final = client.final(text(first.data));
    ASSERT_TRUE(final.ok) << final.message;
    const auto done = step(ac, 1, final.message);
    EXPECT_EQ(done.kind, Kind::Deny);
    EXPECT_EQ(done.reason, ReasonCode::BadUserNameOrPassword);
}

TEST_F(ScramTest, UnknownUserIsRefusedAtTheProofNotBefore) {
    Running running(config_, nullptr);
    AccessControl& ac = running.ac;
    // RFC 5802 section 5.1: server-first must not tell that the user does not exist. "alice" exists but has no SCRAM
    // credential: the same for her.
    for (const char* name : {"mallory", "alice"}) {
        ScramClient client(name, "wonderland");
        const auto first = step(ac, 0, client.first());
        ASSERT_EQ(first.kind, Kind::Continue) << name;
        const auto final = client.final(text(first.data));
        ASSERT_TRUE(final.ok) << name << ": " << final.message;
        const auto done = step(ac, 1, final.message);
        EXPECT_EQ(done.kind, Kind::Deny) << name;
        EXPECT_EQ(done.reason, ReasonCode::BadUserNameOrPassword) << name;
    }
}

TEST_F(ScramTest, ScramUserMayAlsoSendAPlainPassword) {
    Running running(config_, nullptr);
    AccessControl& ac = running.ac;
    EXPECT_EQ(connect(ac, {.username = "carol", .password = "c4r0l pass"}).kind, Kind::Allow);
    EXPECT_EQ(connect(ac, {.username = "carol", .password = "wrong"}).kind, Kind::Deny);
}

}  // namespace
}  // namespace moth::server::test
