// mothd's life cycle as a process: it starts with embedded defaults, stops cleanly on SIGTERM and SIGINT,
// prints its version, rejects unknown flags and bad configuration with exit code 2, checks a configuration
// without starting, and reloads on SIGHUP.

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "broker/store.hpp"
#include "store/rocksdb/rocksdb_store.hpp"
#include "support/mothd_process.hpp"

namespace moth::test {
namespace {

using namespace std::chrono_literals;

// Generous: the CI build runs under ASan on a loaded 2-core machine.
constexpr auto kStartTimeout = 10s;
constexpr auto kExitTimeout = 10s;
const std::string kStartingLine = "mothd " MOTH_VERSION " starting (no config file: embedded defaults)";

class MothdStopSignalTest : public ::testing::TestWithParam<int> {};

// A config file in a directory of its own, removed with the test.
class TempConfig {
public:
    explicit TempConfig(const std::string& text) {
        static std::atomic<int> counter{0};
        dir_ = std::filesystem::temp_directory_path() /
               ("moth-lifecycle-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
        std::filesystem::create_directories(dir_);
        write(text);
    }
    ~TempConfig() {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    // A config that starts a broker (it has a listener) and names no data_dir gets one inside the temporary
    // directory, as its first line: the store (<data_dir>/store) allows one mothd at a time, so tests running side
    // by side must not share the default ./moth-data. Configs without a listener keep their line numbers.
    void write(const std::string& text) const {
        std::ofstream out(path());
        if (text.find("[[listener]]") != std::string::npos && text.find("data_dir") == std::string::npos) {
            out << "data_dir = \"" << (dir_ / "data").string() << "\"\n";
            if (text.find("allow_anonymous") == std::string::npos) out << "auth.allow_anonymous = true\n";
        }
        out << text;
    }
    [[nodiscard]] std::string path() const { return (dir_ / "mothd.toml").string(); }

private:
    std::filesystem::path dir_;
};

// Embedded defaults (mqtt, mqtts, ws, wss, http, mqttsn) except the ports and addresses (no fixed ports in tests): -p 0 for the
// first listener, port 0 and a loopback bind for every listener, and a temporary data directory for the
// development certificate the TLS listeners make.
TEST_P(MothdStopSignalTest, StartsWithEmbeddedDefaultsAndExitsZeroOnSignal) {
    TempConfig data("");
    const std::string data_dir = (std::filesystem::path(data.path()).parent_path() / "data").string();
    MothdProcess mothd(MOTH_MOTHD_PATH, {"-p", "0", "--set", "data_dir=" + data_dir,
                                         "--set", "listener.0.bind=127.0.0.1",
                                         "--set", "listener.1.bind=127.0.0.1", "--set", "listener.1.port=0",
                                         "--set", "listener.2.bind=127.0.0.1", "--set", "listener.2.port=0",
                                         "--set", "listener.3.bind=127.0.0.1", "--set", "listener.3.port=0",
                                         "--set", "listener.4.port=0",
                                         "--set", "listener.5.bind=127.0.0.1", "--set", "listener.5.port=0"});
    ASSERT_TRUE(mothd.wait_for_log(kStartingLine, kStartTimeout)) << "stderr:\n" << mothd.stderr_text();
    // The last one logged: the others are in the log before it.
    ASSERT_TRUE(mothd.wait_for_log("listening: mqttsn-5 mqttsn 127.0.0.1:", kStartTimeout)) << mothd.stderr_text();
    for (const char* line : {"listening: mqtt-0 mqtt 127.0.0.1:", "listening: mqtts-1 mqtts 127.0.0.1:",
                             "listening: ws-2 ws 127.0.0.1:", "listening: wss-3 wss 127.0.0.1:",
                             "listening: http-4 http 127.0.0.1:"}) {
        EXPECT_NE(mothd.stderr_text().find(line), std::string::npos) << line << "\n" << mothd.stderr_text();
    }
    EXPECT_TRUE(std::filesystem::exists(std::filesystem::path(data_dir) / "tls" / "moth-dev-ca.pem"));
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

TEST(MothdLifecycleTest, UnreadableConfigFileExitsWithConfigError) {
    MothdProcess mothd(MOTH_MOTHD_PATH, {"--config", "/nonexistent/mothd.toml"});
    const auto status = mothd.wait_for_exit(kExitTimeout);
    ASSERT_TRUE(status.has_value());
    EXPECT_TRUE(status->exited) << status->describe();
    EXPECT_EQ(status->code, 2);
    EXPECT_NE(mothd.stderr_text().find("/nonexistent/mothd.toml: cannot read:"), std::string::npos)
        << mothd.stderr_text();
}

// Every problem in the file is reported as file:line: key: message, then exit code 2.
TEST(MothdLifecycleTest, BadConfigReportsEveryProblemWithFileAndLine) {
    TempConfig cfg("workers = \"two\"\n[limits]\nmax_inflight = 0\nno_such_key = 1\n");
    MothdProcess mothd(MOTH_MOTHD_PATH, {"--config", cfg.path()});
    const auto status = mothd.wait_for_exit(kExitTimeout);
    ASSERT_TRUE(status.has_value());
    EXPECT_TRUE(status->exited) << status->describe();
    EXPECT_EQ(status->code, 2);
    const auto err = mothd.stderr_text();
    EXPECT_NE(err.find(cfg.path() + ":1: workers: "), std::string::npos) << err;
    EXPECT_NE(err.find(cfg.path() + ":3: limits.max_inflight: "), std::string::npos) << err;
    EXPECT_NE(err.find(cfg.path() + ":4: limits.no_such_key: "), std::string::npos) << err;
}

TEST(MothdLifecycleTest, CheckConfigValidatesWithoutStarting) {
    TempConfig cfg("[[listener]]\nkind = \"mqtt\"\nbind = \"127.0.0.1\"\nport = 0\n");
    MothdProcess mothd(MOTH_MOTHD_PATH, {"--config", cfg.path(), "--check-config"});
    const auto status = mothd.wait_for_exit(kExitTimeout);
    ASSERT_TRUE(status.has_value());
    EXPECT_TRUE(status->success()) << status->describe() << mothd.stderr_text();
    EXPECT_NE(mothd.stdout_text().find("configuration OK"), std::string::npos) << mothd.stdout_text();
    EXPECT_EQ(mothd.stderr_text().find("listening"), std::string::npos) << "--check-config must not start";
}

TEST(MothdLifecycleTest, OverrideErrorsNameTheOverride) {
    MothdProcess mothd(MOTH_MOTHD_PATH, {"--set", "limits.max_inflight=-3"});
    const auto status = mothd.wait_for_exit(kExitTimeout);
    ASSERT_TRUE(status.has_value());
    EXPECT_EQ(status->code, 2);
    EXPECT_NE(mothd.stderr_text().find("<override>: limits.max_inflight:"), std::string::npos) << mothd.stderr_text();
}

// SIGHUP reloads: what can change live is applied; a listener change is reported as needing a restart; a file
// with errors is refused and the running configuration kept.
TEST(MothdLifecycleTest, SighupReloadsTheConfiguration) {
    const std::string listener = "[[listener]]\nkind = \"mqtt\"\nbind = \"127.0.0.1\"\nport = 0\n";
    TempConfig cfg("log_level = \"info\"\n" + listener);
    MothdProcess mothd(MOTH_MOTHD_PATH, {"--config", cfg.path()});
    ASSERT_TRUE(mothd.wait_for_log("listening: ", kStartTimeout)) << mothd.stderr_text();

    cfg.write("log_level = \"debug\"\n[limits]\nmax_inflight = 7\n" + listener + "name = \"renamed\"\n");
    mothd.send_signal(SIGHUP);
    ASSERT_TRUE(mothd.wait_for_log("reload: configuration applied", kStartTimeout)) << mothd.stderr_text();
    EXPECT_NE(mothd.stderr_text().find("reload: listener.0.name changed; it takes effect after a restart"),
              std::string::npos)
        << mothd.stderr_text();

    cfg.write("workers = -1\n" + listener);
    mothd.send_signal(SIGHUP);
    ASSERT_TRUE(mothd.wait_for_log("keeping the running one", kStartTimeout)) << mothd.stderr_text();

    mothd.send_signal(SIGTERM);
    const auto status = mothd.wait_for_exit(kExitTimeout);
    ASSERT_TRUE(status.has_value());
    EXPECT_TRUE(status->success()) << status->describe() << mothd.stderr_text();
}

// A port that cannot be bound is a start-up error naming the listener and the key to change, as a config error
// (exit 2, "source: listener.N.port: ...").
TEST(MothdLifecycleTest, PortInUseIsAFatalStartupError) {
    TempConfig cfg("[[listener]]\nkind = \"mqtt\"\nbind = \"127.0.0.1\"\nport = 0\n");
    const std::string ports = cfg.path() + ".ports";
    MothdProcess first(MOTH_MOTHD_PATH, {"--config", cfg.path(), "--ports-file", ports});
    ASSERT_TRUE(first.wait_for_log("listening: ", kStartTimeout)) << first.stderr_text();
    std::string name, kind, address, port;
    std::ifstream(ports) >> name >> kind >> address >> port;
    ASSERT_FALSE(port.empty());
    // Its own data directory: the same one would be refused first, for the store's lock.
    const std::string data2 = (std::filesystem::path(cfg.path()).parent_path() / "data2").string();
    MothdProcess second(MOTH_MOTHD_PATH, {"--config", cfg.path(), "-p", port, "--set", "data_dir=" + data2});
    const auto status = second.wait_for_exit(kExitTimeout);
    ASSERT_TRUE(status.has_value());
    // The config's fault, said as one: the port came from -p, so the error names the command line.
    EXPECT_EQ(status->code, 2);
    EXPECT_NE(second.stderr_text().find("<override>: listener.0.port: listener mqtt-0: cannot listen on 127.0.0.1:" +
                                        port + ": Address already in use"),
              std::string::npos)
        << second.stderr_text();
    first.send_signal(SIGTERM);
    ASSERT_TRUE(first.wait_for_exit(kExitTimeout).has_value());
}

// Two mothd on one data directory: the second is refused with the store's path, before it touches anything.
TEST(MothdLifecycleTest, SecondMothdOnTheSameDataDirIsRefused) {
    TempConfig cfg("[[listener]]\nkind = \"mqtt\"\nbind = \"127.0.0.1\"\nport = 0\n");
    MothdProcess first(MOTH_MOTHD_PATH, {"--config", cfg.path()});
    ASSERT_TRUE(first.wait_for_log("listening: ", kStartTimeout)) << first.stderr_text();
    MothdProcess second(MOTH_MOTHD_PATH, {"--config", cfg.path()});
    const auto status = second.wait_for_exit(kExitTimeout);
    ASSERT_TRUE(status.has_value());
    EXPECT_EQ(status->code, 1);
    EXPECT_NE(second.stderr_text().find("is in use"), std::string::npos) << second.stderr_text();
    first.send_signal(SIGTERM);
    const auto first_status = first.wait_for_exit(kExitTimeout);
    ASSERT_TRUE(first_status.has_value());
    EXPECT_EQ(first_status->code, 0);
}

// A store written by a newer mothd (its format version record above what this build reads) is refused at start-up
// naming the path and both versions, exit 2, and left alone: not damage, so --store-recover does not move it aside.
TEST(MothdLifecycleTest, StoreOfANewerFormatIsRefusedAndLeftAlone) {
    TempConfig cfg("[[listener]]\nkind = \"mqtt\"\nbind = \"127.0.0.1\"\nport = 0\n");
    const auto data = std::filesystem::path(cfg.path()).parent_path() / "data";
    const auto store = data / "store";
    const std::uint32_t newer = broker::kStoreFormatVersion + 6;
    {
        store::RocksDbBackend db(store);
        broker::StoreBatch b{broker::Clock::now()};
        b.put_format_version(newer);
        auto ops = b.take();
        ASSERT_TRUE(db.write({&ops}, true));
    }
    MothdProcess mothd(MOTH_MOTHD_PATH, {"--config", cfg.path(), "--store-recover"});
    const auto status = mothd.wait_for_exit(kExitTimeout);
    ASSERT_TRUE(status.has_value());
    EXPECT_TRUE(status->exited) << status->describe();
    EXPECT_EQ(status->code, 2);
    EXPECT_NE(mothd.stderr_text().find("store " + store.string() + ": format version " + std::to_string(newer) +
                                       " is newer than this mothd reads (" +
                                       std::to_string(broker::kStoreFormatVersion) +
                                       "); use a newer mothd or move the directory away"),
              std::string::npos)
        << mothd.stderr_text();
    for (const auto& e : std::filesystem::directory_iterator(data)) {
        EXPECT_EQ(e.path().filename().string().find("damaged"), std::string::npos) << e.path();
    }
    EXPECT_TRUE(std::filesystem::exists(store));
}

}  // namespace
}  // namespace moth::test
