// mothd's life cycle as a process: it starts with embedded defaults, stops cleanly on SIGTERM and SIGINT,
// prints its version, and rejects unknown flags with exit code 2.

#include <signal.h>

#include <chrono>
#include <string>

#include <gtest/gtest.h>

#include "support/mothd_process.hpp"

namespace moth::test {
namespace {

using namespace std::chrono_literals;

// Generous: the CI build runs under ASan on a loaded 2-core machine.
constexpr auto kStartTimeout = 10s;
constexpr auto kExitTimeout = 10s;
const std::string kStartingLine = "mothd " MOTH_VERSION " starting (no config file: embedded defaults)";

class MothdStopSignalTest : public ::testing::TestWithParam<int> {};

TEST_P(MothdStopSignalTest, StartsWithEmbeddedDefaultsAndExitsZeroOnSignal) {
    MothdProcess mothd(MOTH_MOTHD_PATH);
    ASSERT_TRUE(mothd.wait_for_log(kStartingLine, kStartTimeout)) << "stderr:\n" << mothd.stderr_text();
    EXPECT_NE(mothd.stderr_text().find("[info]"), std::string::npos) << mothd.stderr_text();

    mothd.send_signal(GetParam());
    const auto status = mothd.wait_for_exit(kExitTimeout);
    ASSERT_TRUE(status.has_value()) << "mothd still running " << kExitTimeout.count() << " s after the signal";
    EXPECT_TRUE(status->success()) << status->describe() << "\nstderr:\n" << mothd.stderr_text();
    EXPECT_NE(mothd.stderr_text().find("shutting down"), std::string::npos) << mothd.stderr_text();
}

INSTANTIATE_TEST_SUITE_P(Signals, MothdStopSignalTest, ::testing::Values(SIGTERM, SIGINT),
                         [](const ::testing::TestParamInfo<int>& param_info) {
                             return param_info.param == SIGTERM ? std::string("Sigterm") : std::string("Sigint");
                         });

TEST(MothdLifecycleTest, VersionFlagPrintsVersionAndExitsZero) {
    MothdProcess mothd(MOTH_MOTHD_PATH, {"--version"});
    const auto status = mothd.wait_for_exit(kExitTimeout);
    ASSERT_TRUE(status.has_value());
    EXPECT_TRUE(status->success()) << status->describe() << "\nstderr:\n" << mothd.stderr_text();
    EXPECT_NE(mothd.stdout_text().find("mothd " MOTH_VERSION), std::string::npos) << mothd.stdout_text();
}

TEST(MothdLifecycleTest, UnknownFlagExitsWithUsageError) {
    MothdProcess mothd(MOTH_MOTHD_PATH, {"--no-such-flag"});
    const auto status = mothd.wait_for_exit(kExitTimeout);
    ASSERT_TRUE(status.has_value());
    EXPECT_TRUE(status->exited) << status->describe();
    EXPECT_EQ(status->code, 2);
    EXPECT_NE(mothd.stderr_text().find("--no-such-flag"), std::string::npos) << mothd.stderr_text();
}

TEST(MothdLifecycleTest, InvalidLogLevelExitsWithUsageError) {
    MothdProcess mothd(MOTH_MOTHD_PATH, {"--log-level", "loud"});
    const auto status = mothd.wait_for_exit(kExitTimeout);
    ASSERT_TRUE(status.has_value());
    EXPECT_TRUE(status->exited) << status->describe();
    EXPECT_EQ(status->code, 2);
    EXPECT_NE(mothd.stderr_text().find("loud"), std::string::npos) << mothd.stderr_text();
}

TEST(MothdLifecycleTest, ConfigFlagIsAcceptedAndReported) {
    MothdProcess mothd(MOTH_MOTHD_PATH, {"--config", "/nonexistent/mothd.toml", "--log-level", "debug"});
    ASSERT_TRUE(mothd.wait_for_log("starting (config file /nonexistent/mothd.toml", kStartTimeout))
        << mothd.stderr_text();
    mothd.send_signal(SIGTERM);
    const auto status = mothd.wait_for_exit(kExitTimeout);
    ASSERT_TRUE(status.has_value());
    EXPECT_TRUE(status->success()) << status->describe();
}

}  // namespace
}  // namespace moth::test
