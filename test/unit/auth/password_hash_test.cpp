// verify_password and hash_password: the three schemes against fixed vectors from other tools, and round trips.
#include <gtest/gtest.h>

#include <string>

#include "auth/password_file.hpp"
#include "vectors.hpp"

namespace moth::auth {
namespace {

using namespace moth::auth::test;

TEST(VerifyPassword, MosquittoPbkdf2Vector) {
    EXPECT_TRUE(verify_password(kPbkdf2Alice, kPbkdf2AlicePassword));
    EXPECT_FALSE(verify_password(kPbkdf2Alice, "correct horse "));
    EXPECT_FALSE(verify_password(kPbkdf2Alice, ""));
}

TEST(VerifyPassword, MosquittoSha512Vector) {
    EXPECT_TRUE(verify_password(kSha512Bob, kSha512BobPassword));
    EXPECT_FALSE(verify_password(kSha512Bob, "battery stapl"));
}

TEST(VerifyPassword, Argon2idVector) {
    EXPECT_TRUE(verify_password(kArgon2Carol, kArgon2CarolPassword));
    EXPECT_FALSE(verify_password(kArgon2Carol, "tr0ub4dor&3"));
}

TEST(VerifyPassword, UnknownOrMalformedIsFalse) {
    EXPECT_FALSE(verify_password("correct horse", "correct horse"));  // plain text is never accepted
    EXPECT_FALSE(verify_password("$5$abc$def", "x"));
    EXPECT_FALSE(verify_password("$argon2i$v=19$m=1024,t=2,p=1$bW90aC1zYWx0LTE2Ynl0ZQ$N6Io", "x"));
    EXPECT_FALSE(verify_password("$7$0$plk0NDjp3Vgb8QKF$yfW1", kPbkdf2AlicePassword));        // no iterations
    EXPECT_FALSE(verify_password("$7$101$plk0NDjp3Vgb8QKF$c2hvcnQ=", kPbkdf2AlicePassword));  // hash not 64 bytes
    EXPECT_FALSE(verify_password("$7$101$!!!$yfW1", kPbkdf2AlicePassword));
    EXPECT_FALSE(verify_password("", ""));
}

TEST(VerifyPassword, Argon2CostsOutOfBoundsAreRefusedWithoutHashing) {
    // 4 GiB would be allocated if the bound did not hold; the answer must be a quick false.
    EXPECT_FALSE(verify_password(
        "$argon2id$v=19$m=4194304,t=2,p=1$bW90aC1zYWx0LTE2Ynl0ZQ$N6Io+mz9A5y/iIxQk2244mNJ5rqmlyuWZ0n+41Vi0t0", "x"));
    EXPECT_FALSE(verify_password(
        "$argon2id$v=19$m=1024,t=1000,p=1$bW90aC1zYWx0LTE2Ynl0ZQ$N6Io+mz9A5y/iIxQk2244mNJ5rqmlyuWZ0n+41Vi0t0", "x"));
    EXPECT_FALSE(verify_password(
        "$argon2id$v=16$m=1024,t=2,p=1$bW90aC1zYWx0LTE2Ynl0ZQ$N6Io+mz9A5y/iIxQk2244mNJ5rqmlyuWZ0n+41Vi0t0",
        kArgon2CarolPassword));
}

TEST(HashKind, RecognisesWellFormedEntries) {
    EXPECT_EQ(hash_kind(kPbkdf2Alice), HashKind::Sha512Pbkdf2);
    EXPECT_EQ(hash_kind(kSha512Bob), HashKind::Sha512);
    EXPECT_EQ(hash_kind(kArgon2Carol), HashKind::Argon2id);
    EXPECT_EQ(hash_kind("secret"), std::nullopt);
    EXPECT_EQ(hash_kind("$7$x$plk0NDjp3Vgb8QKF$yfW1"), std::nullopt);
}

class RoundTrip : public ::testing::TestWithParam<HashKind> {};

TEST_P(RoundTrip, NewHashVerifiesAndOnlyWithItsPassword) {
    const std::string password = "p\xC3\xA4ssw\xC3\xB6rd with spaces";
    const std::string a = hash_password(password, GetParam());
    const std::string b = hash_password(password, GetParam());
    EXPECT_NE(a, b) << "fresh random salt per hash";
    EXPECT_EQ(hash_kind(a), GetParam());
    EXPECT_TRUE(verify_password(a, password));
    EXPECT_TRUE(verify_password(b, password));
    EXPECT_FALSE(verify_password(a, password.substr(1)));
    EXPECT_TRUE(verify_password(hash_password("", GetParam()), ""));
}

INSTANTIATE_TEST_SUITE_P(EveryKind, RoundTrip,
                         ::testing::Values(HashKind::Sha512Pbkdf2, HashKind::Sha512, HashKind::Argon2id,
                                           HashKind::ScramSha256));

TEST(HashPassword, WritesWhatMosquittoAndArgon2Expect) {
    const std::string pbkdf2 = hash_password("x", HashKind::Sha512Pbkdf2);
    EXPECT_TRUE(pbkdf2.starts_with("$7$101$")) << pbkdf2;  // mosquitto_passwd 2.0's PW_DEFAULT_ITERATIONS
    EXPECT_EQ(pbkdf2.size(), 7 + 16 + 1 + 88u) << "12-byte salt and 64-byte hash in padded base64";
    EXPECT_TRUE(hash_password("x", HashKind::Sha512Pbkdf2, 1000).starts_with("$7$1000$"));
    EXPECT_TRUE(hash_password("x", HashKind::Sha512).starts_with("$6$"));
    EXPECT_TRUE(hash_password("x", HashKind::Argon2id).starts_with("$argon2id$v=19$m=65536,t=3,p=1$"));
    EXPECT_THROW((void)hash_password("x", HashKind::Sha512Pbkdf2, 0), std::invalid_argument);
}

TEST(HashPassword, ScramSha256UsesRfc7677sMinimumByDefault) {
    const std::string scram = hash_password("x", HashKind::ScramSha256);
    EXPECT_TRUE(scram.starts_with("$scram-sha-256$4096$")) << scram;
    EXPECT_EQ(scram_decode(scram)->salt.size(), 16u);
    EXPECT_TRUE(hash_password("x", HashKind::ScramSha256, 5000).starts_with("$scram-sha-256$5000$"));
    EXPECT_THROW((void)hash_password("x", HashKind::ScramSha256, 4095), std::invalid_argument);
    EXPECT_THROW((void)hash_password("x", HashKind::ScramSha256, 10'000'001), std::invalid_argument);
}

TEST(VerifyPassword, ScramEntryAgainstRfc7677Vector) {
    EXPECT_EQ(hash_kind(kScramDave), HashKind::ScramSha256);
    EXPECT_TRUE(verify_password(kScramDave, kScramDavePassword));
    EXPECT_FALSE(verify_password(kScramDave, "Pencil"));
    EXPECT_FALSE(verify_password("$scram-sha-256$4096$W22ZaJ0SNY7soEsUEjb6gQ==$AAAA$AAAA", "pencil"));
}

}  // namespace
}  // namespace moth::auth
