// AccessControl's generation() (0: nothing to check, so the core skips its per-delivery checks) and reload() (SIGHUP:
// the files are read again; a file that cannot be used keeps the running rules and says why).
#include <gtest/gtest.h>

#include "access_control_fixture.hpp"

namespace moth::server::test {
namespace {

using auth::test::hs256;
using auth::test::TempFile;
using broker::Access;
using broker::Identity;

Identity user(std::string name) {
    Identity who;
    who.client_id = "c1";
    who.username = std::move(name);
    who.anonymous = false;
    return who;
}

class ReloadTest : public ::testing::Test {
protected:
    ReloadTest() {
        config_.auth.allow_anonymous = false;
        config_.listeners = {listener("mqtt")};
    }
    TempFile passwords_{password_lines({{"alice", "wonderland"}})};
    TempFile secret_{kSecret};
    TempFile acl_{"user alice\ntopic readwrite alice/#\n"};
    config::Config config_;
};

TEST_F(ReloadTest, GenerationIsZeroWithoutAnyRules) {
    // No ACL, and no provider that hands out rules: a password file and a JWT key without acl_claim.
    config_.auth.password_file = passwords_.path();
    config_.auth.jwt.secret_file = secret_.path();
    Running running(config_, nullptr);
    AccessControl& ac = running.ac;
    EXPECT_EQ(ac.generation(), 0U);
    EXPECT_TRUE(ac.allows(user("anyone"), "any/topic", Access::Write));
    bool changed = true;
    EXPECT_EQ(ac.reload(config_, changed), "");
    EXPECT_FALSE(changed);
    EXPECT_EQ(ac.generation(), 0U);
}

TEST_F(ReloadTest, GenerationIsNonZeroWithAnAclAndChangesOnReload) {
    config_.auth.acl_file = acl_.path();
    Running running(config_, nullptr);
    AccessControl& ac = running.ac;
    const auto first = ac.generation();
    EXPECT_NE(first, 0U);
    bool changed = false;
    EXPECT_EQ(ac.reload(config_, changed), "");
    EXPECT_TRUE(changed);
    const auto second = ac.generation();
    EXPECT_NE(second, 0U);
    EXPECT_NE(second, first) << "decisions cached under the old rules are stale";

    // The ACL goes away: nothing to check any more, and the core must hear that authorization changed.
    config_.auth.acl_file.clear();
    EXPECT_EQ(ac.reload(config_, changed), "");
    EXPECT_TRUE(changed);
    EXPECT_EQ(ac.generation(), 0U);
    EXPECT_TRUE(ac.allows(user("bob"), "alice/x", Access::Write));
}

TEST_F(ReloadTest, GenerationIsNonZeroWhenJwtMayHandOutRules) {
    config_.auth.jwt.secret_file = secret_.path();
    config_.auth.jwt.acl_claim = "acl";
    Running running(config_, nullptr);
    AccessControl& ac = running.ac;
    const auto first = ac.generation();
    EXPECT_NE(first, 0U);
    bool changed = false;
    EXPECT_EQ(ac.reload(config_, changed), "");
    EXPECT_TRUE(changed);
    EXPECT_NE(ac.generation(), 0U);
    EXPECT_NE(ac.generation(), first);
}

TEST_F(ReloadTest, NewJwtSecretTakesEffect) {
    config_.auth.jwt.secret_file = secret_.path();
    Running running(config_, nullptr);
    AccessControl& ac = running.ac;
    const std::string old_token = hs256(kSecret).token({{"sub", "t"}});
    const std::string new_token = hs256(kOtherSecret).token({{"sub", "t"}});
    EXPECT_EQ(connect(ac, {.username = "t", .password = old_token}).kind, Kind::Allow);
    EXPECT_EQ(connect(ac, {.username = "t", .password = new_token}).kind, Kind::Deny);

    rewrite(secret_.path(), kOtherSecret + "\n");
    bool changed = true;
    ASSERT_EQ(ac.reload(config_, changed), "");
    const auto old_after = connect(ac, {.username = "t", .password = old_token});
    EXPECT_EQ(old_after.kind, Kind::Deny);
    EXPECT_EQ(old_after.reason, ReasonCode::BadUserNameOrPassword);
    EXPECT_EQ(connect(ac, {.username = "t", .password = new_token}).kind, Kind::Allow);
}

TEST_F(ReloadTest, UnusableFilesKeepTheRunningRules) {
    config_.auth.password_file = passwords_.path();
    config_.auth.acl_file = acl_.path();
    config_.auth.jwt.secret_file = secret_.path();
    Running running(config_, nullptr);
    AccessControl& ac = running.ac;
    const auto generation = ac.generation();
    const std::string token = hs256(kSecret).token({{"sub", "t"}});

    // A password line whose hash is plain text: the whole file is refused, with its path and line.
    rewrite(passwords_.path(), "alice:wonderland\n");
    rewrite(secret_.path(), kOtherSecret);
    bool changed = true;
    const std::string error = ac.reload(config_, changed);
    EXPECT_NE(error.find(passwords_.path() + ":1"), std::string::npos) << error;
    EXPECT_FALSE(changed);
    EXPECT_EQ(ac.generation(), generation);
    EXPECT_EQ(connect(ac, {.username = "alice", .password = "wonderland"}).kind, Kind::Allow);
    EXPECT_EQ(connect(ac, {.username = "t", .password = token}).kind, Kind::Allow) << "the old key stays";
    EXPECT_TRUE(ac.allows(user("alice"), "alice/x", Access::Write));
    EXPECT_FALSE(ac.allows(user("bob"), "alice/x", Access::Write));

    // An ACL file that is gone.
    rewrite(passwords_.path(), password_lines({{"alice", "wonderland"}}));
    config_.auth.acl_file = acl_.path() + ".missing";
    const std::string missing = ac.reload(config_, changed);
    EXPECT_NE(missing.find(config_.auth.acl_file), std::string::npos) << missing;
    EXPECT_FALSE(changed);
    EXPECT_EQ(ac.generation(), generation);
    EXPECT_FALSE(ac.allows(user("bob"), "alice/x", Access::Write)) << "the old ACL still applies";
}

}  // namespace
}  // namespace moth::server::test
