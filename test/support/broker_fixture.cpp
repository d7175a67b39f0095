#include "support/broker_fixture.hpp"

#include <signal.h>
#include <stdlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <system_error>
#include <thread>

#ifndef MOTH_MOTHD_PATH
#error "MOTH_MOTHD_PATH must name the mothd binary (see test/integration/CMakeLists.txt)"
#endif

namespace moth::test {
namespace {

std::string read_text(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

// The port of the first "mqtt" listener in a ports file ("<name> <kind> <address> <port>" per line).
std::optional<std::uint16_t> mqtt_port(const std::string& text) {
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
        std::istringstream fields(line);
        std::string name, kind, address;
        long port = 0;
        if (fields >> name >> kind >> address >> port && kind == "mqtt" && port > 0 && port < 65536) {
            return static_cast<std::uint16_t>(port);
        }
    }
    return std::nullopt;
}

std::string toml_string(const std::filesystem::path& p) {
    std::string out = "\"";
    for (const char c : p.string()) {
        if (c == '"' || c == '\\') out.push_back('\\');
        out.push_back(c);
    }
    return out + "\"";
}

}  // namespace

BrokerFixture::BrokerFixture() {
    std::string pattern = (std::filesystem::temp_directory_path() / "moth-itest-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
        throw std::system_error(errno, std::generic_category(), "mkdtemp " + pattern);
    }
    dir_ = pattern;
}

BrokerFixture::~BrokerFixture() {
    mothd_.reset();  // kills a broker still running (SIGKILL) before its directory goes
    if (std::getenv("MOTH_KEEP_TEST_LOGS") == nullptr) {
        std::error_code ignored;
        std::filesystem::remove_all(dir_, ignored);
    }
}

void BrokerFixture::start(std::string_view extra_toml) {
    if (mothd_) fail("start(): mothd is already running");
    const auto ports_file = dir_ / "ports";
    std::ostringstream config;
    config << "# written by BrokerFixture for " << ::testing::UnitTest::GetInstance()->current_test_info()->name()
           << (extra_toml.find("allow_anonymous") == std::string_view::npos ? "\nauth.allow_anonymous = true" : "")
           << "\nports_file = " << toml_string(ports_file) << "\ndata_dir = " << toml_string(dir_ / "data")
           << "\nworkers = " << workers_ << "\nsys_interval_s = " << sys_interval_s_ << "\nlog_level = \"" << log_level_
           << "\"\n"
           << extra_toml << "\n\n[[listener]]\nkind = \"mqtt\"\nbind = \"127.0.0.1\"\nport = 0\n";
    config_text_ = config.str();
    const auto config_path = dir_ / "mothd.toml";
    {
        std::ofstream out(config_path, std::ios::binary);
        out << config_text_;
        if (!out) fail("cannot write " + config_path.string());
    }
    mothd_ =
        std::make_unique<MothdProcess>(MOTH_MOTHD_PATH, std::vector<std::string>{"--config", config_path.string()});

    // Poll for the ports file (written atomically, temp + rename) with a short back-off, until the deadline.
    const auto deadline = TestClock::now() + kBrokerStartTimeout;
    auto pause = 1ms;
    while (true) {
        std::error_code ec;
        if (std::filesystem::exists(ports_file, ec)) {
            port_ = mqtt_port(read_text(ports_file));
            if (!port_) fail("mothd's ports file has no mqtt listener:\n" + read_text(ports_file));
            break;
        }
        if (!mothd_->running()) {
            fail("mothd exited before writing its ports file: " + mothd_->wait_for_exit(0ms)->describe() +
                 "\nconfig:\n" + config_text_ + "\nstderr:\n" + mothd_->stderr_text());
        }
        const auto now = TestClock::now();
        if (now >= deadline) {
            fail("mothd wrote no ports file within " + std::to_string(kBrokerStartTimeout.count()) + " s\nconfig:\n" +
                 config_text_ + "\nstderr:\n" + mothd_->stderr_text());
        }
        std::this_thread::sleep_for(std::min<TestClock::duration>(pause, deadline - now));
        pause = std::min(pause * 2, 50ms);
    }
    EXPECT_TRUE(mothd_->wait_for_log("listening", 5s)) << "no \"listening\" line in mothd's log:\n"
                                                       << mothd_->stderr_text();
}

void BrokerFixture::stop() {
    if (!mothd_) fail("stop(): mothd was not started");
    if (!mothd_->running()) {
        ADD_FAILURE() << "mothd exited before stop(): " << mothd_->wait_for_exit(0ms)->describe() << "\nstderr:\n"
                      << mothd_->stderr_text();
        return;
    }
    mothd_->send_signal(SIGTERM);
    const auto status = mothd_->wait_for_exit(kBrokerExitTimeout);
    ASSERT_TRUE(status.has_value()) << "mothd still running " << kBrokerExitTimeout.count()
                                    << " s after SIGTERM\nstderr:\n"
                                    << mothd_->stderr_text();
    EXPECT_TRUE(status->success()) << "mothd after SIGTERM: " << status->describe() << "\nstderr:\n"
                                   << mothd_->stderr_text();
}

void BrokerFixture::TearDown() {
    if (mothd_ && mothd_->running()) stop();
    if (HasFailure() && mothd_) {
        const std::string log = mothd_->stderr_text();
        constexpr std::size_t kTail = 8000;
        std::cerr << "---- mothd config ----\n"
                  << config_text_ << "---- mothd stderr (last " << kTail << " bytes) ----\n"
                  << (log.size() > kTail ? log.substr(log.size() - kTail) : log) << "---- end of mothd stderr ----\n";
    }
}

std::uint16_t BrokerFixture::port() const {
    if (!port_) fail("port(): mothd was not started");
    return *port_;
}

MothdProcess& BrokerFixture::mothd() {
    if (!mothd_) fail("mothd(): mothd was not started");
    return *mothd_;
}

std::unique_ptr<MqttTestClient> BrokerFixture::tcp_client(codec::ProtocolVersion version, std::string name) {
    auto c = std::make_unique<MqttTestClient>(version, std::move(name));
    c->connect_tcp(port());
    return c;
}

std::unique_ptr<MqttTestClient> BrokerFixture::connected_client(codec::ProtocolVersion version,
                                                                const ConnectOptions& options) {
    auto c = tcp_client(version, options.client_id.empty() ? std::string("client") : options.client_id);
    c->connect(options);
    return c;
}

std::unique_ptr<MqttTestClient> BrokerFixture::connected_client(codec::ProtocolVersion version, std::string client_id) {
    ConnectOptions options;
    options.client_id = std::move(client_id);
    return connected_client(version, options);
}

}  // namespace moth::test
