#pragma once
// Debian's mosquitto, started by a test with a generated configuration: plain MQTT, MQTT over TLS (two server
// certificates), WebSocket and secure WebSocket listeners on 127.0.0.1, with a test CA made by the openssl
// command line. Only loopback; stopped with SIGTERM when the fixture goes away.
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

extern char** environ;

namespace moth::net::test {

// A scratch directory removed with its contents at the end.
class TempDir {
public:
    TempDir() {
        std::string pattern = (std::filesystem::temp_directory_path() / "moth-net-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
        path_ = pattern;
    }
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    [[nodiscard]] const std::filesystem::path& path() const { return path_; }
    [[nodiscard]] std::string file(const std::string& name) const { return (path_ / name).string(); }

private:
    std::filesystem::path path_;
};

inline void write_file(const std::string& path, const std::string& text) {
    std::ofstream out(path);
    out << text;
    if (!out) throw std::runtime_error("cannot write " + path);
}

inline std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// A port nobody listens on right now (bound to 127.0.0.1:0, then released).
inline std::uint16_t free_port() {
    boost::asio::io_context ioc;
    boost::asio::ip::tcp::acceptor acceptor(
        ioc, boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
    return acceptor.local_endpoint().port();
}

// Whether something accepts TCP connections on 127.0.0.1:port now.
inline bool accepts(std::uint16_t port) {
    boost::asio::io_context ioc;
    boost::asio::ip::tcp::socket socket(ioc);
    boost::system::error_code ec;
    socket.connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port), ec);
    return !ec;
}

inline void run_command(const std::string& command) {
    const int rc = std::system((command + " >/dev/null 2>&1").c_str());
    if (rc != 0) throw std::runtime_error("command failed (" + std::to_string(rc) + "): " + command);
}

// The test PKI: a CA; a server certificate for localhost and 127.0.0.1; one for localhost only; and an
// unrelated CA that signed nothing here (to fail verification with).
struct TestPki {
    explicit TestPki(const TempDir& dir) {
        const auto f = [&](const std::string& name) { return dir.file(name); };
        ca_cert = f("ca.crt");
        other_ca_cert = f("other-ca.crt");
        server_cert = f("server.crt");
        server_key = f("server.key");
        localhost_cert = f("localhost.crt");
        localhost_key = f("localhost.key");
        write_file(f("ca.cnf"),
                   "[req]\ndistinguished_name = dn\nprompt = no\nx509_extensions = v3_ca\n"
                   "[dn]\nCN = Moth Test CA\n"
                   "[v3_ca]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n"
                   "subjectKeyIdentifier = hash\n");
        const std::string key = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
        run_command("openssl req -x509 -config " + f("ca.cnf") + key + " -keyout " + f("ca.key") + " -out " + ca_cert +
                    " -days 2");
        run_command("openssl req -x509 -config " + f("ca.cnf") + " -subj '/CN=Moth Other CA'" + key + " -keyout " +
                    f("other-ca.key") + " -out " + other_ca_cert + " -days 2");
        const auto leaf = [&](const std::string& name, const std::string& san) {
            write_file(f(name + ".ext"),
                       "basicConstraints = CA:FALSE\nkeyUsage = critical,digitalSignature,keyEncipherment\n"
                       "extendedKeyUsage = serverAuth\nsubjectAltName = " +
                           san + "\nauthorityKeyIdentifier = keyid\n");
            run_command("openssl req -new" + key + " -subj /CN=localhost -keyout " + f(name + ".key") + " -out " +
                        f(name + ".csr"));
            run_command("openssl x509 -req -in " + f(name + ".csr") + " -CA " + ca_cert + " -CAkey " + f("ca.key") +
                        " -CAcreateserial -days 2 -extfile " + f(name + ".ext") + " -out " + f(name + ".crt"));
        };
        leaf("server", "DNS:localhost,IP:127.0.0.1");
        leaf("localhost", "DNS:localhost");
    }
    std::string ca_cert, other_ca_cert, server_cert, server_key, localhost_cert, localhost_key;
};

struct MosquittoPorts {
    std::uint16_t mqtt = 0;
    std::uint16_t mqtts = 0;            // server.crt: localhost and 127.0.0.1
    std::uint16_t mqtts_localhost = 0;  // localhost.crt: localhost only
    std::uint16_t ws = 0;
    std::uint16_t wss = 0;  // server.crt
};

// Runs mosquitto until destroyed. Ports are reserved by binding port 0 and released before mosquitto binds
// them (mosquitto cannot report a port-0 bind); if another process takes one in between, mosquitto exits and
// the start is retried with fresh ports.
class Mosquitto {
public:
    Mosquitto(const TempDir& dir, const TestPki& pki) {
        for (int attempt = 0; attempt < 5; ++attempt) {
            if (start(dir, pki)) return;
        }
        throw std::runtime_error("mosquitto did not start; last log:\n" + read_file(dir.file("mosquitto.log")));
    }
    ~Mosquitto() { stop(); }
    Mosquitto(const Mosquitto&) = delete;
    Mosquitto& operator=(const Mosquitto&) = delete;

    [[nodiscard]] const MosquittoPorts& ports() const { return ports_; }

private:
    bool start(const TempDir& dir, const TestPki& pki) {
        ports_ = {free_port(), free_port(), free_port(), free_port(), free_port()};
        const passwd* pw = ::getpwuid(::geteuid());
        std::ostringstream conf;
        // Run as ourselves: as root mosquitto would switch to the "mosquitto" user, who cannot read the keys.
        if (pw != nullptr) conf << "user " << pw->pw_name << "\n";
        conf << "allow_anonymous true\npersistence false\n"
             << "log_dest file " << dir.file("mosquitto.log") << "\nlog_type all\n"
             << "listener " << ports_.mqtt << " 127.0.0.1\n"
             << "listener " << ports_.mqtts << " 127.0.0.1\n"
             << "cafile " << pki.ca_cert << "\ncertfile " << pki.server_cert << "\nkeyfile " << pki.server_key << "\n"
             << "listener " << ports_.mqtts_localhost << " 127.0.0.1\n"
             << "cafile " << pki.ca_cert << "\ncertfile " << pki.localhost_cert << "\nkeyfile " << pki.localhost_key
             << "\n"
             // mosquitto 2.0.11 ignores a websockets listener's bind address unless the domain is given.
             << "listener " << ports_.ws << " 127.0.0.1\nprotocol websockets\nsocket_domain ipv4\n"
             << "listener " << ports_.wss << " 127.0.0.1\nprotocol websockets\nsocket_domain ipv4\n"
             << "cafile " << pki.ca_cert << "\ncertfile " << pki.server_cert << "\nkeyfile " << pki.server_key << "\n";
        const auto conf_path = dir.file("mosquitto.conf");
        write_file(conf_path, conf.str());
        const auto log_path = dir.file("mosquitto.log");
        std::error_code ignored;
        std::filesystem::remove(log_path, ignored);  // this attempt's log only (the readiness check below reads it)

        std::vector<std::string> args = {"/usr/sbin/mosquitto", "-c", conf_path};
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        if (::posix_spawn(&pid_, argv[0], nullptr, nullptr, argv.data(), environ) != 0)
            throw std::runtime_error("cannot run /usr/sbin/mosquitto");

        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
        const std::uint16_t all[] = {ports_.mqtt, ports_.mqtts, ports_.mqtts_localhost, ports_.ws, ports_.wss};
        for (const auto port : all) {
            while (!accepts(port)) {
                int status = 0;
                if (::waitpid(pid_, &status, WNOHANG) == pid_) {  // exited: most likely a port was taken
                    pid_ = -1;
                    return false;
                }
                if (std::chrono::steady_clock::now() > deadline) {
                    stop();
                    return false;
                }
                // Polling a condition with a deadline: mosquitto offers no readiness signal.
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            }
        }
        // A port released by free_port() may have been taken by another test's process, which then answered the
        // check above while mosquitto failed to bind it and exits. Mosquitto logs "running" once every listener of
        // its own is open; until then, or if it exits, this start does not count.
        while (read_file(log_path).find(" running") == std::string::npos) {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                return false;
            }
            if (std::chrono::steady_clock::now() > deadline) {
                stop();
                return false;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            return false;
        }
        return true;
    }

    void stop() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGTERM);
        int status = 0;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (::waitpid(pid_, &status, WNOHANG) == 0) {
            if (std::chrono::steady_clock::now() > deadline) {
                ::kill(pid_, SIGKILL);
                ::waitpid(pid_, &status, 0);
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        pid_ = -1;
    }

    pid_t pid_ = -1;
    MosquittoPorts ports_;
};

}  // namespace moth::net::test
