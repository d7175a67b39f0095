// mothd's mqtts, ws and wss listeners driven by Moth's own client library (moth::Client), next to a plain mqtt
// listener: one topic space across transports, clients relayed between workers, the development certificate.
//
// Certificates are made by the `openssl` command in the test's temp directory. mothd runs with two workers and
// every listener on 127.0.0.1:0; the test reads the ports back from mothd's ports file.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <moth/client.hpp>

#include "support/mothd_process.hpp"

namespace moth::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

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

void run(const std::string& command) {
    ASSERT_EQ(std::system(("(" + command + ") >/dev/null 2>&1").c_str()), 0) << command;
}

std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

class Transports : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("moth-transports-" + std::to_string(::getpid()) + "-" +
                                            ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_);
    }
    void TearDown() override {
        if (mothd_ && HasFailure()) std::cerr << "---- mothd log ----\n" << mothd_->stderr_text() << '\n';
        stop();
        fs::remove_all(dir_);
    }

    void make_certs() {
        const std::string d = dir_.string();
        run("cd " + d + " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2"
                        " -subj '/CN=moth test CA' -keyout ca.key -out ca.pem"
                        " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign");
        run("cd " + d + " && printf 'basicConstraints=CA:FALSE\\nsubjectAltName=DNS:localhost,IP:127.0.0.1\\n' >"
                        " server.ext && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
                        " -subj /CN=localhost -keyout server.key -out server.csr && openssl x509 -req -in server.csr"
                        " -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile server.ext -out server.pem");
    }

    // Starts mothd with `listeners` (TOML) and waits for its ports file.
    void start(const std::string& listeners) {
        const auto ports = dir_ / "ports";
        fs::remove(ports);
        {
            std::ofstream conf(dir_ / "mothd.toml");
            conf << "auth.allow_anonymous = true\nports_file = \"" << ports.string() << "\"\ndata_dir = \"" << (dir_ / "data").string()
                 << "\"\nworkers = 2\n" << listeners;
        }
        mothd_ = std::make_unique<MothdProcess>(MOTH_MOTHD_PATH,
                                                std::vector<std::string>{"--config", (dir_ / "mothd.toml").string()});
        ports_.clear();
        const bool up = poll_until(
            [&] {
                std::ifstream in(ports);
                std::string line;
                while (std::getline(in, line)) {
                    std::istringstream fields(line);
                    std::string name, kind, address;
                    unsigned port = 0;
                    if (fields >> name >> kind >> address >> port) ports_[name] = static_cast<std::uint16_t>(port);
                }
                return !ports_.empty() || !mothd_->running();
            },
            30s);
        ASSERT_TRUE(up && !ports_.empty()) << "mothd did not start: " << mothd_->stderr_text();
    }

    void stop() {
        if (!mothd_) return;
        if (mothd_->running()) {
            mothd_->send_signal(SIGTERM);
            auto status = mothd_->wait_for_exit(20s);
            EXPECT_TRUE(status && status->success()) << (status ? status->describe() : "still running");
        }
        mothd_.reset();
    }

    std::string tls_listener(const std::string& name, const std::string& kind) const {
        return "[[listener]]\nname = \"" + name + "\"\nkind = \"" + kind + "\"\nbind = \"127.0.0.1\"\nport = 0\n" +
               "cert_file = \"" + (dir_ / "server.pem").string() + "\"\nkey_file = \"" +
               (dir_ / "server.key").string() + "\"\n";
    }
    static std::string plain_listener(const std::string& name, const std::string& kind) {
        return "[[listener]]\nname = \"" + name + "\"\nkind = \"" + kind + "\"\nbind = \"127.0.0.1\"\nport = 0\n";
    }

    std::unique_ptr<Client> connect(const std::string& url, const std::string& id, const std::string& ca_file,
                                    ProtocolVersion version = ProtocolVersion::V5) {
        ConnectOptions o;
        o.url = url;
        o.client_id = id;
        o.version = version;
        o.connect_timeout = 10s;
        o.tls.ca_file = ca_file;
        auto c = std::make_unique<Client>(std::move(o));
        auto r = c->connect();
        EXPECT_TRUE(r) << url << ": " << (r ? "" : r.error().message);
        return c;
    }

    fs::path dir_;
    std::unique_ptr<MothdProcess> mothd_;
    std::map<std::string, std::uint16_t> ports_;
};

// Several clients per transport, so that with two workers some are relayed (their CONNECT hashes to the other
// worker) and some are not; each exchanges messages with a plain TCP client both ways.
TEST_F(Transports, EveryTransportSharesOneTopicSpace) {
    make_certs();
    start(plain_listener("tcp", "mqtt") + tls_listener("tls", "mqtts") + plain_listener("ws", "ws") +
          tls_listener("wss", "wss"));
    const std::string ca = (dir_ / "ca.pem").string();
    auto tcp = connect("mqtt://127.0.0.1:" + std::to_string(ports_["tcp"]), "tcp-peer", "");
    ASSERT_TRUE(tcp->subscribe("up/#", QoS::AtLeastOnce));
    const std::vector<std::pair<std::string, std::string>> urls = {
        {"tls", "mqtts://127.0.0.1:" + std::to_string(ports_["tls"])},
        {"tls-name", "mqtts://localhost:" + std::to_string(ports_["tls"])},
        {"ws", "ws://127.0.0.1:" + std::to_string(ports_["ws"]) + "/mqtt"},
        {"wss", "wss://127.0.0.1:" + std::to_string(ports_["wss"]) + "/mqtt"},
    };
    for (const auto& [name, url] : urls) {
        for (int i = 0; i < 4; ++i) {
            for (auto version : {ProtocolVersion::V5, ProtocolVersion::V3_1_1}) {
                const std::string id = name + "-" + std::to_string(i) + "-v" + std::to_string(static_cast<int>(version));
                SCOPED_TRACE(id);
                auto c = connect(url, id, ca, version);
                ASSERT_TRUE(c->connected());
                ASSERT_TRUE(c->subscribe("down/" + id, QoS::AtLeastOnce));
                const std::string big(200'000, 'x');  // spans many frames and reads
                ASSERT_TRUE(c->publish("up/" + id, "hello from " + id, QoS::AtLeastOnce));
                ASSERT_TRUE(tcp->publish("down/" + id, big, QoS::AtLeastOnce));
                auto up = tcp->receive(10s);
                ASSERT_TRUE(up);
                EXPECT_EQ(up->topic, "up/" + id);
                EXPECT_EQ(up->payload_text(), "hello from " + id);
                auto down = c->receive(10s);
                ASSERT_TRUE(down);
                EXPECT_EQ(down->topic, "down/" + id);
                EXPECT_EQ(down->payload_text(), big);
                // A large upload: on a relayed connection the accepting worker pauses reading while the owner
                // is behind, and resumes; the message arrives whole either way.
                const std::string upload(300'000, 'u');
                ASSERT_TRUE(c->publish("up/" + id + "/big", upload, QoS::AtLeastOnce));
                auto big_up = tcp->receive(10s);
                ASSERT_TRUE(big_up);
                EXPECT_EQ(big_up->topic, "up/" + id + "/big");
                EXPECT_EQ(big_up->payload_text(), upload);
                c->disconnect();
            }
        }
    }
}

// A client that goes away without DISCONNECT (relayed or not): its will reaches the TCP side.
TEST_F(Transports, DroppedStreamConnectionPublishesItsWill) {
    make_certs();
    start(plain_listener("tcp", "mqtt") + tls_listener("wss", "wss"));
    auto tcp = connect("mqtt://127.0.0.1:" + std::to_string(ports_["tcp"]), "watcher", "");
    ASSERT_TRUE(tcp->subscribe("will/#", QoS::AtLeastOnce));
    for (int i = 0; i < 4; ++i) {
        const std::string id = "dying-" + std::to_string(i);
        ConnectOptions o;
        o.url = "wss://127.0.0.1:" + std::to_string(ports_["wss"]) + "/mqtt";
        o.client_id = id;
        o.tls.ca_file = (dir_ / "ca.pem").string();
        Will will;
        will.topic = "will/" + id;
        will.payload = {std::byte{'g'}};
        will.qos = QoS::AtLeastOnce;
        o.will = will;
        {
            auto c = std::make_unique<Client>(std::move(o));
            ASSERT_TRUE(c->connect());
            c->disconnect(0x04);  // Disconnect with Will Message
        }
        auto m = tcp->receive(10s);
        ASSERT_TRUE(m) << id;
        EXPECT_EQ(m->topic, "will/" + id);
    }
}

// No cert_file: mothd makes a development CA and server certificate in data_dir once and reuses them.
TEST_F(Transports, DevelopmentCertificateIsCreatedOnceAndTrusted) {
    start(plain_listener("wss", "wss") + plain_listener("tls", "mqtts"));
    const fs::path ca = dir_ / "data" / "tls" / "moth-dev-ca.pem";
    ASSERT_TRUE(fs::exists(ca)) << mothd_->stderr_text();
    EXPECT_NE(mothd_->stderr_text().find("moth-dev-ca.pem"), std::string::npos) << mothd_->stderr_text();
    for (const auto& url : {"wss://127.0.0.1:" + std::to_string(ports_["wss"]) + "/mqtt",
                            "mqtts://127.0.0.1:" + std::to_string(ports_["tls"])}) {
        auto c = connect(url, "dev-cert", ca.string());
        EXPECT_TRUE(c->connected()) << url;
    }
    const std::string first = read_file(ca);
    const std::string server_first = read_file(dir_ / "data" / "tls" / "moth-dev-server.pem");
    stop();
    start(plain_listener("tls", "mqtts"));
    EXPECT_EQ(read_file(ca), first);
    EXPECT_EQ(read_file(dir_ / "data" / "tls" / "moth-dev-server.pem"), server_first);
    auto c = connect("mqtts://localhost:" + std::to_string(ports_["tls"]), "dev-cert-2", ca.string());
    EXPECT_TRUE(c->connected());
}

// A handshake that never starts is dropped by the timeout without holding anyone else up.
TEST_F(Transports, StalledHandshakeDoesNotBlockOthers) {
    make_certs();
    start(tls_listener("tls", "mqtts") + plain_listener("ws", "ws"));
    // Open sockets that never speak, then connect real clients past them.
    std::vector<int> silent;
    for (const char* name : {"tls", "ws"}) {
        for (int i = 0; i < 4; ++i) {
            const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
            sockaddr_in addr{};
            addr.sin_family = AF_INET;
            addr.sin_port = htons(ports_[name]);
            addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
            silent.push_back(fd);
        }
    }
    auto a = connect("mqtts://127.0.0.1:" + std::to_string(ports_["tls"]), "a", (dir_ / "ca.pem").string());
    auto b = connect("ws://127.0.0.1:" + std::to_string(ports_["ws"]) + "/mqtt", "b", "");
    EXPECT_TRUE(a->connected());
    EXPECT_TRUE(b->connected());
    for (int fd : silent) ::close(fd);
}

}  // namespace
}  // namespace moth::test
