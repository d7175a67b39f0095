#include "support/nats_server.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

namespace moth::test {
namespace fs = std::filesystem;

NatsServer::NatsServer() {
    char tmpl[] = "/tmp/moth-nats-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    const char* env = std::getenv("NATS_SERVER");
    // Debian installs it in /usr/sbin.
    std::string bin = env != nullptr && *env != '\0' ? env : "/usr/bin/nats-server";
    if ((env == nullptr || *env == '\0') && !fs::exists(bin)) bin = "/usr/sbin/nats-server";
    const std::string store = dir_ + "/js", log = dir_ + "/server.log";
    std::vector<std::string> args{bin, "-a", "127.0.0.1", "-p", "-1", "-js", "-sd", store, "--ports_file_dir", dir_,
                                  "-l", log};
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        execv(argv[0], argv.data());
        _exit(127);
    }
    // The ports file appears once the listener is bound: {"client":["nats://127.0.0.1:40123"], ...}
    const auto ports = fs::path(dir_) / ("nats-server_" + std::to_string(pid_) + ".ports");
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
        std::ifstream in(ports);
        std::stringstream ss;
        ss << in.rdbuf();
        const auto text = ss.str();
        const auto at = text.find("nats://");
        if (at != std::string::npos) {
            const auto end = text.find('"', at);
            if (end != std::string::npos) {
                url_ = text.substr(at, end - at);
                return;
            }
        }
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            std::error_code ec;
            fs::remove_all(dir_, ec);
            throw std::runtime_error("nats-server exited at start (" + bin + ", log " + log + ")");
        }
        // Polling a file the server writes once: there is no event to wait on.
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    kill();
    throw std::runtime_error("nats-server did not write its ports file within 10 s");
}

NatsServer::~NatsServer() {
    stop();
    std::error_code ec;
    fs::remove_all(dir_, ec);
}

void NatsServer::kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
}

bool NatsServer::stop() {
    if (pid_ <= 0) return false;
    ::kill(pid_, SIGTERM);
    int status = 0;
    const bool ok = waitpid(pid_, &status, 0) == pid_;
    pid_ = -1;
    return ok;
}

}  // namespace moth::test
