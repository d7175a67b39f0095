#pragma once
// Real brokers for the client's interop tests: Debian's mosquitto and the project's mothd, each run as a child
// process in a private temp directory, killed with SIGKILL and restarted on the same port for the reconnect
// tests. Waits poll a condition with a deadline; nothing sleeps as synchronisation.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

#include "support/mothd_process.hpp"

namespace moth::test {

inline bool tcp_accepts(std::uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return false;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return ok;
}

// A port that was free a moment ago: bind 127.0.0.1:0, read it back, close.
inline std::uint16_t reserve_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) throw std::runtime_error("socket failed");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        ::close(fd);
        throw std::runtime_error("bind failed");
    }
    ::close(fd);
    return ntohs(addr.sin_port);
}

template <class Pred>
bool poll_until(Pred pred, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    auto step = std::chrono::milliseconds(5);
    while (!pred()) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(step);  // polling back-off, not synchronisation
        step = std::min(step * 2, std::chrono::milliseconds(100));
    }
    return true;
}

class BrokerProcess {
public:
    virtual ~BrokerProcess() {
        process_.reset();
        std::error_code ignored;
        if (!dir_.empty() && std::getenv("MOTH_KEEP_TEST_LOGS") == nullptr) std::filesystem::remove_all(dir_, ignored);
    }
    virtual void start() = 0;
    [[nodiscard]] virtual std::string name() const = 0;
    [[nodiscard]] virtual bool keeps_sessions_across_restart() const = 0;

    // SIGKILL, then start again on the same port.
    void kill() {
        process_->send_signal(SIGKILL);
        (void)process_->wait_for_exit(std::chrono::seconds(10));
        process_.reset();
    }
    void restart() { start(); }
    [[nodiscard]] std::uint16_t port() const { return port_; }
    [[nodiscard]] std::string url() const { return "mqtt://127.0.0.1:" + std::to_string(port_); }
    [[nodiscard]] std::string log() const { return process_ ? process_->stderr_text() + process_->stdout_text() : ""; }

protected:
    BrokerProcess() {
        std::string pattern = (std::filesystem::temp_directory_path() / "moth-client-it-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
        dir_ = pattern;
    }
    std::filesystem::path dir_;
    std::uint16_t port_ = 0;
    std::unique_ptr<MothdProcess> process_;
};

// mosquitto cannot listen on port 0 and report the port: reserve one, start on it, retry when taken.
class Mosquitto final : public BrokerProcess {
public:
    [[nodiscard]] std::string name() const override { return "mosquitto"; }
    [[nodiscard]] bool keeps_sessions_across_restart() const override { return true; }
    void start() override {
        for (int attempt = 0; attempt < 10; ++attempt) {
            // A restart needs the same port (it may be held for a moment); a first start moves on when taken.
            if (!restarting_) port_ = reserve_port();
            write_config();
            process_ = std::make_unique<MothdProcess>("/usr/sbin/mosquitto",
                                                      std::vector<std::string>{"-c", (dir_ / "mosquitto.conf").string()});
            if (poll_until([&] { return tcp_accepts(port_) || !process_->running(); }, std::chrono::seconds(10)) &&
                process_->running()) {
                restarting_ = true;
                return;
            }
            process_.reset();
        }
        throw std::runtime_error("mosquitto did not start");
    }

private:
    void write_config() {
        std::ofstream conf(dir_ / "mosquitto.conf");
        conf << "listener " << port_ << " 127.0.0.1\n"
             << "allow_anonymous true\n"
             << "persistence true\n"
             << "persistence_location " << (dir_ / "").string() << "\n"
             << "autosave_interval 1\n"
             << "autosave_on_changes true\n"
             << "max_queued_messages 1000\n"
             << "log_dest stderr\n";
        if (::geteuid() == 0) conf << "user root\n";
    }
    bool restarting_ = false;
};

// mothd: the first start listens on port 0 and reports the port in its ports file; restarts use that port.
class Mothd final : public BrokerProcess {
public:
    [[nodiscard]] std::string name() const override { return "mothd"; }
    // The store in <data_dir>/store (durability "sync" by default) keeps persistent sessions across a restart.
    [[nodiscard]] bool keeps_sessions_across_restart() const override { return true; }
    void start() override {
        const auto ports = dir_ / "ports";
        std::filesystem::remove(ports);
        {
            std::ofstream conf(dir_ / "mothd.toml");
            conf << "auth.allow_anonymous = true\nports_file = \"" << ports.string() << "\"\ndata_dir = \"" << (dir_ / "data").string()
                 << "\"\n[[listener]]\nkind = \"mqtt\"\nbind = \"127.0.0.1\"\nport = " << port_ << "\n";
        }
        process_ = std::make_unique<MothdProcess>(MOTH_MOTHD_PATH,
                                                  std::vector<std::string>{"--config", (dir_ / "mothd.toml").string()});
        std::uint16_t found = 0;
        const bool up = poll_until(
            [&] {
                std::ifstream in(ports);
                std::string line;
                while (std::getline(in, line)) {
                    std::istringstream fields(line);
                    std::string name, kind, address;
                    unsigned port = 0;
                    if (fields >> name >> kind >> address >> port && kind == "mqtt") found = static_cast<std::uint16_t>(port);
                }
                return found != 0 || !process_->running();
            },
            std::chrono::seconds(15));
        if (!up || found == 0) throw std::runtime_error("mothd did not start: " + log());
        port_ = found;
    }
};

}  // namespace moth::test
