// AccessControl (src/server/access_control.hpp) built from a config::Config over real temp files: anonymous access
// per listener, the chain of identity providers ("file", "jwt") per listener, certificate identities, the rules a
// JWT's acl claim carries (they replace the ACL file for that client), generation() and reload().
// The "http" provider is not covered here: access_rules.cpp builds it with its own HttpClient (no poster can be
// injected), and a test HTTP server is not wanted in a unit test; test/unit/auth/http_provider_test.cpp covers it.
#include <gtest/gtest.h>

#include <ctime>

#include "access_control_fixture.hpp"

namespace moth::server::test {
namespace {

using auth::test::hs256;
using auth::test::TempFile;
using broker::Access;
using broker::Identity;
using nlohmann::json;

// --- anonymous access with no provider at all ---------------------------------------------------------------------

class AnonymousTest : public ::testing::Test {
protected:
    AnonymousTest() {
        config_.auth.allow_anonymous = false;  // what a config file that does not say gets
        config_.listeners = {listener("open", true), listener("closed", false), listener("default")};
    }
    config::Config config_;
};

TEST_F(AnonymousTest, PerListenerAllowAnonymousOverridesTheAuthDefault) {
    Running running(config_, nullptr);
    AccessControl& ac = running.ac;
    // MQTT-3.1.4-2 / 5.0 CONNACK 0x87: a server may refuse a client it does not authorize.
    EXPECT_EQ(connect(ac, {.listener = "open"}).kind, Kind::Allow);
    const auto closed = connect(ac, {.listener = "closed"});
    EXPECT_EQ(closed.kind, Kind::Deny);
    EXPECT_EQ(closed.reason, ReasonCode::NotAuthorized);
    EXPECT_EQ(connect(ac, {.listener = "default"}).kind, Kind::Deny) << "[auth] allow_anonymous = false applies";
    EXPECT_EQ(connect(ac, {.listener = "unnamed"}).kind, Kind::Deny) << "a listener the config does not name";

    config_.auth.allow_anonymous = true;
    Running running_open_default(config_, nullptr);
    AccessControl& open_default = running_open_default.ac;
    EXPECT_EQ(connect(open_default, {.listener = "default"}).kind, Kind::Allow);
    EXPECT_EQ(connect(open_default, {.listener = "closed"}).kind, Kind::Deny) << "the listener's false still wins";
}

TEST_F(AnonymousTest, CredentialsWithoutAnyProviderCountAsNone) {
    Running running(config_, nullptr);
    AccessControl& ac = running.ac;
    // Nothing can check them: an open listener lets the placeholder credentials of a sketch in, a closed one refuses.
    EXPECT_EQ(connect(ac, {.username = "u", .password = "p", .listener = "open"}).kind, Kind::Allow);
    const auto closed = connect(ac, {.username = "u", .password = "p", .listener = "closed"});
    EXPECT_EQ(closed.kind, Kind::Deny);
    EXPECT_EQ(closed.reason, ReasonCode::BadUserNameOrPassword);
    EXPECT_FALSE(ac.supports_method("SCRAM-SHA-256", "open"));
}

// --- providers = ["file", "jwt"], and a second listener with only "jwt" --------------------------------------------

class ChainTest : public ::testing::Test {
protected:
    ChainTest() {
        config_.auth.allow_anonymous = false;
        config_.auth.password_file = passwords_.path();
        config_.auth.jwt.secret_file = secret_.path();
        config_.auth.providers = {"file", "jwt"};
        config_.listeners = {listener("mqtt"), listener("tokens", std::nullopt, std::vector<std::string>{"jwt"})};
    }
    static std::int64_t now() { return static_cast<std::int64_t>(std::time(nullptr)); }

    TempFile passwords_{password_lines({{"alice", "wonderland"}, {"bob", "builder"}})};
    TempFile secret_{kSecret + "\n"};
    auth::test::Signer signer_ = hs256(kSecret);
    config::Config config_;
    LogLines log_;
};

TEST_F(ChainTest, PasswordUserConnectsThroughTheFile) {
    Running running(config_, log_.sink());
    AccessControl& ac = running.ac;
    const auto d = connect(ac, {.username = "alice", .password = "wonderland"});
    EXPECT_EQ(d.kind, Kind::Allow);
    EXPECT_FALSE(d.username) << "the CONNECT's User Name stands";
    EXPECT_EQ(d.grants, nullptr);
    EXPECT_FALSE(d.valid_for) << "a password does not expire";
    // Again: the pool may answer from its cache now, inside authenticate().
    EXPECT_EQ(connect(ac, {.username = "alice", .password = "wonderland"}).kind, Kind::Allow);
}

TEST_F(ChainTest, TokenUserIsNamedByTheClaimAndExpiresWithTheToken) {
    config_.auth.jwt.leeway_s = 30;
    Running running(config_, nullptr);
    AccessControl& ac = running.ac;
    const std::int64_t before = now();
    // The CONNECT's User Name is not in the password file: "file" hands it on, "jwt" checks the password.
    const auto d =
        connect(ac, {.username = "whoever", .password = signer_.token({{"sub", "sensor-1"}, {"exp", before + 600}})});
    ASSERT_EQ(d.kind, Kind::Allow);
    EXPECT_EQ(d.username, "sensor-1");
    ASSERT_TRUE(d.valid_for);
    // exp + leeway - now, in whole seconds; a slow machine may have let a few seconds pass.
    EXPECT_LE(*d.valid_for, std::chrono::seconds(630));
    EXPECT_GE(*d.valid_for, std::chrono::seconds(620));

    const auto forever = connect(ac, {.username = "whoever", .password = signer_.token({{"sub", "sensor-2"}})});
    ASSERT_EQ(forever.kind, Kind::Allow);
    EXPECT_EQ(forever.username, "sensor-2");
    EXPECT_FALSE(forever.valid_for) << "a token without exp";
}

TEST_F(ChainTest, GarbageIsRefusedWithBadUserNameOrPassword) {
    Running running(config_, log_.sink());
    AccessControl& ac = running.ac;
    // Unknown user, a password that is no token: every provider says Next. 5.0 CONNACK 0x86.
    const auto garbage = connect(ac, {.username = "mallory", .password = "letmein"});
    EXPECT_EQ(garbage.kind, Kind::Deny);
    EXPECT_EQ(garbage.reason, ReasonCode::BadUserNameOrPassword);
    EXPECT_TRUE(log_.contains("no identity provider accepted it"));

    // A token with a forged signature, an expired one: "jwt" refuses them.
    const auto forged = connect(ac, {.username = "m", .password = hs256(kOtherSecret).token({{"sub", "root"}})});
    EXPECT_EQ(forged.kind, Kind::Deny);
    EXPECT_EQ(forged.reason, ReasonCode::BadUserNameOrPassword);
    const auto expired = connect(ac, {.username = "m", .password = signer_.token({{"sub", "x"}, {"exp", now() - 60}})});
    EXPECT_EQ(expired.kind, Kind::Deny);
    EXPECT_EQ(expired.reason, ReasonCode::BadUserNameOrPassword);

    // A user name without password, of a known user: the file refuses it.
    const auto no_password = connect(ac, {.username = "alice"});
    EXPECT_EQ(no_password.kind, Kind::Deny);
    EXPECT_EQ(no_password.reason, ReasonCode::BadUserNameOrPassword);
}

TEST_F(ChainTest, WrongPasswordOfAFileUserIsRefusedWithoutAskingJwt) {
    Running running(config_, log_.sink());
    AccessControl& ac = running.ac;
    // The password is a valid token: had "jwt" been asked after the file's refusal, it would have let alice in.
    const auto d = connect(ac, {.username = "alice", .password = signer_.token({{"sub", "alice"}})});
    EXPECT_EQ(d.kind, Kind::Deny);
    EXPECT_EQ(d.reason, ReasonCode::BadUserNameOrPassword);
    EXPECT_TRUE(log_.contains("file: wrong password"));

    const auto wrong = connect(ac, {.username = "bob", .password = "wonderland"});
    EXPECT_EQ(wrong.kind, Kind::Deny);
    EXPECT_EQ(wrong.reason, ReasonCode::BadUserNameOrPassword);
}

TEST_F(ChainTest, ListenerWithOnlyJwtRefusesTheFileUser) {
    Running running(config_, nullptr);
    AccessControl& ac = running.ac;
    const auto file_user = connect(ac, {.username = "alice", .password = "wonderland", .listener = "tokens"});
    EXPECT_EQ(file_user.kind, Kind::Deny);
    EXPECT_EQ(file_user.reason, ReasonCode::BadUserNameOrPassword);
    const auto token_user =
        connect(ac, {.username = "t", .password = signer_.token({{"sub", "tok"}}), .listener = "tokens"});
    EXPECT_EQ(token_user.kind, Kind::Allow);
    EXPECT_EQ(token_user.username, "tok");
    // Anonymous stays refused there too ([auth] allow_anonymous = false).
    EXPECT_EQ(connect(ac, {.listener = "tokens"}).reason, ReasonCode::NotAuthorized);
}

TEST_F(ChainTest, CertificateIdentityIsAllowedWithoutAProvider) {
    Running running(config_, nullptr);
    AccessControl& ac = running.ac;
    // use_cn_as_username: TLS verified the certificate; no password, not in the password file, on closed listeners.
    for (const char* l : {"mqtt", "tokens"}) {
        const auto d = connect(ac, {.username = "device-7", .listener = l, .certificate = true});
        EXPECT_EQ(d.kind, Kind::Allow) << l;
        EXPECT_FALSE(d.username) << "the CN stays the identity";
    }
}

TEST_F(ChainTest, ShutdownRefusesPasswordClients) {
    Running running(config_, nullptr);
    AccessControl& ac = running.ac;
    ac.shutdown();
    const auto d = connect(ac, {.username = "bob", .password = "builder"});
    EXPECT_EQ(d.kind, Kind::Deny);
    EXPECT_EQ(d.reason, ReasonCode::ServerUnavailable);
    EXPECT_EQ(connect(ac, {.username = "t", .password = signer_.token({{"sub", "tok"}})}).kind, Kind::Allow)
        << "a token needs no password check";
}

// mothd calls shutdown() before dropping its AccessControl, but nothing in access_control.hpp asks for it: destroying
// one right after a password check answered must not end the process. The pool thread that answered still holds the
// chain's run (and through it the rules snapshot, the file provider and the verify pool) while it unwinds; when the
// AccessControl is gone by then, that thread drops the last reference and ~VerifyPool joins its own thread.
TEST_F(ChainTest, DestroyWithoutShutdownRightAfterAnAnswer) {
    rewrite(passwords_.path(), password_lines({{"dora", "explorer"}}, auth::HashKind::Argon2id));  // slow: Pending
    struct Sync {
        std::mutex mutex;
        std::condition_variable cv;
        bool entered = false, go = false, released = false;
        std::optional<AuthDecision> decision;
    };
    struct Release {  // destroyed with the last copy of `later`, i.e. with the chain's run
        std::shared_ptr<Sync> sync;
        ~Release() {
            const std::lock_guard lock(sync->mutex);
            sync->released = true;
            sync->cv.notify_all();
        }
    };
    auto sync = std::make_shared<Sync>();
    auto ac = std::make_unique<AccessControl>(config_, nullptr);
    {
        auto release = std::make_shared<Release>();
        release->sync = sync;
        const std::string password = "explorer";
        AuthRequest r;
        r.client_id = "c1";
        r.username = "dora";
        r.password = codec::Bytes(reinterpret_cast<const std::byte*>(password.data()), password.size());
        r.listener = "mqtt";
        r.later = [sync, release](AuthDecision d) {
            std::unique_lock lock(sync->mutex);
            sync->decision = std::move(d);
            sync->entered = true;
            sync->cv.notify_all();
            sync->cv.wait_for(lock, std::chrono::seconds(10), [&] { return sync->go; });
        };
        ASSERT_EQ(ac->authenticate(r, 0).kind, Kind::Pending) << "an argon2id check runs on the pool";
    }
    std::unique_lock lock(sync->mutex);
    ASSERT_TRUE(sync->cv.wait_for(lock, std::chrono::seconds(10), [&] { return sync->entered; }));
    EXPECT_EQ(sync->decision->kind, Kind::Allow);
    // Let the pool thread return and destroy the AccessControl meanwhile (a destructor that waits for the pool
    // thread must not wait for this test).
    sync->go = true;
    sync->cv.notify_all();
    lock.unlock();
    ac.reset();
    lock.lock();
    EXPECT_TRUE(sync->cv.wait_for(lock, std::chrono::seconds(10), [&] { return sync->released; }));
}

// --- rules from a JWT acl claim against the ACL file --------------------------------------------------------------

class GrantsTest : public ChainTest {
protected:
    GrantsTest() {
        config_.auth.acl_file = acl_.path();
        config_.auth.jwt.acl_claim = "acl";
    }
    // The identity the core would build from the decision for a CONNECT with `username` and client id c1.
    static Identity identity(const AuthDecision& d, const std::string& username) {
        Identity who;
        who.client_id = "c1";
        who.username = d.username.value_or(username);
        who.anonymous = false;
        who.listener = "mqtt";
        who.grants = d.grants;
        return who;
    }
    TempFile acl_{"user dev\ntopic readwrite acl/#\n"};
};

TEST_F(GrantsTest, GrantsFromTheAclClaimReplaceTheAclFile) {
    Running running(config_, nullptr);
    AccessControl& ac = running.ac;
    const json rules = {{"pub", json::array({"devices/%c/#"})}, {"sub", json::array({"cmd/%c"})}};
    const auto d = connect(ac, {.username = "x", .password = signer_.token({{"sub", "dev"}, {"acl", rules}})});
    ASSERT_EQ(d.kind, Kind::Allow);
    ASSERT_NE(d.grants, nullptr);
    const Identity who = identity(d, "x");
    ASSERT_EQ(who.username, "dev");
    EXPECT_TRUE(ac.allows(who, "devices/c1/temp", Access::Write));
    EXPECT_FALSE(ac.allows(who, "devices/c2/temp", Access::Write)) << "%c is the client's own id";
    EXPECT_FALSE(ac.allows(who, "cmd/c1", Access::Write)) << "sub only";
    EXPECT_TRUE(ac.allows(who, "cmd/c1", Access::Read));
    EXPECT_TRUE(ac.allows(who, "cmd/c1", Access::Subscribe));
    EXPECT_FALSE(ac.allows(who, "cmd/#", Access::Subscribe)) << "a wider filter than granted";
    // The ACL file's rules for user "dev" do not apply to it.
    EXPECT_FALSE(ac.allows(who, "acl/x", Access::Write));
    EXPECT_FALSE(ac.allows(who, "acl/x", Access::Read));
    broker::HookCheck publish;
    publish.topic = "devices/c1/temp";
    EXPECT_TRUE(ac.check_hook(who, publish, [](bool) {}).value_or(false)) << "no hook is asked for it";
}

TEST_F(GrantsTest, ClientWithoutGrantsFollowsTheAclFile) {
    Running running(config_, nullptr);
    AccessControl& ac = running.ac;
    // A token without the claim gives no grants.
    const auto d = connect(ac, {.username = "x", .password = signer_.token({{"sub", "dev"}})});
    ASSERT_EQ(d.kind, Kind::Allow);
    EXPECT_EQ(d.grants, nullptr);
    const Identity who = identity(d, "x");
    EXPECT_TRUE(ac.allows(who, "acl/x", Access::Write));
    EXPECT_TRUE(ac.allows(who, "acl/x", Access::Read));
    EXPECT_FALSE(ac.allows(who, "devices/c1/temp", Access::Write));
    // A file user follows it as well: "alice" has no section, so nothing is allowed.
    const auto alice = connect(ac, {.username = "alice", .password = "wonderland"});
    ASSERT_EQ(alice.kind, Kind::Allow);
    EXPECT_FALSE(ac.allows(identity(alice, "alice"), "acl/x", Access::Write));
}

TEST_F(GrantsTest, SuperuserGrantAllowsEverything) {
    Running running(config_, nullptr);
    AccessControl& ac = running.ac;
    Identity who = identity(AuthDecision::allow(), "nobody");
    auto grants = std::make_shared<auth::Grants>();
    grants->superuser = true;
    who.grants = grants;
    for (const char* topic : {"acl/x", "devices/c2/temp", "$SYS/broker/uptime", "anything"}) {
        EXPECT_TRUE(ac.allows(who, topic, Access::Write)) << topic;
        EXPECT_TRUE(ac.allows(who, topic, Access::Read)) << topic;
    }
    EXPECT_TRUE(ac.allows(who, "#", Access::Subscribe));
}

TEST_F(GrantsTest, AnInvalidAclClaimRefusesTheToken) {
    Running running(config_, nullptr);
    AccessControl& ac = running.ac;
    const auto d = connect(
        ac, {.username = "x", .password = signer_.token({{"sub", "dev"}, {"acl", {{"pub", json::array({"a/#/b"})}}}})});
    EXPECT_EQ(d.kind, Kind::Deny);
    EXPECT_EQ(d.reason, ReasonCode::NotAuthorized);
}

}  // namespace
}  // namespace moth::server::test
