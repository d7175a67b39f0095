// The blocking Client over every transport against Debian's mosquitto (started here with mqtt, mqtts, ws and
// wss listeners and a test CA made with the openssl command line, as in test/unit/net/connect_test.cpp), and
// MQTT 3.1 over plain TCP.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include <moth/client.hpp>

#include "unit/net/mosquitto_fixture.hpp"

namespace moth::test {
namespace {

using namespace std::chrono_literals;

class ClientTransport : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        dir_ = new net::test::TempDir;
        pki_ = new net::test::TestPki(*dir_);
        broker_ = new net::test::Mosquitto(*dir_, *pki_);
    }
    static void TearDownTestSuite() {
        delete broker_;
        delete pki_;
        delete dir_;
    }
    static const net::test::MosquittoPorts& ports() { return broker_->ports(); }

    static ConnectOptions options(const std::string& url, std::string id, ProtocolVersion v = ProtocolVersion::V5) {
        ConnectOptions o;
        o.url = url;
        o.version = v;
        o.client_id = std::move(id);
        o.connect_timeout = 10s;
        o.tls.ca_file = pki_->ca_cert;
        return o;
    }

    // Connects, subscribes at QoS 1, publishes at QoS 1 to itself and receives the message back.
    static void round_trip(const ConnectOptions& o, const std::string& topic) {
        Client c(o);
        auto r = c.connect();
        ASSERT_TRUE(r) << r.error().message;
        auto s = c.subscribe(topic, QoS::AtLeastOnce);
        ASSERT_TRUE(s) << s.error().message;
        EXPECT_EQ(s->reason_codes, (std::vector<std::uint8_t>{1}));
        auto p = c.publish(topic, "over " + o.url, QoS::AtLeastOnce);
        ASSERT_TRUE(p) << p.error().message;
        auto m = c.receive(10s);
        ASSERT_TRUE(m) << "no message back over " << o.url;
        EXPECT_EQ(m->topic, topic);
        EXPECT_EQ(m->payload_text(), "over " + o.url);
        EXPECT_EQ(m->qos, QoS::AtLeastOnce);
        c.disconnect();
    }

    static std::string url(const std::string& scheme, std::uint16_t port, const std::string& path = "") {
        return scheme + "://127.0.0.1:" + std::to_string(port) + path;
    }

    static inline net::test::TempDir* dir_ = nullptr;
    static inline net::test::TestPki* pki_ = nullptr;
    static inline net::test::Mosquitto* broker_ = nullptr;
};

TEST_F(ClientTransport, MqttOverTls) { round_trip(options(url("mqtts", ports().mqtts), "tls"), "tr/tls"); }

TEST_F(ClientTransport, MqttOverWebSocket) {
    round_trip(options(url("ws", ports().ws, "/mqtt"), "ws"), "tr/ws");
}

TEST_F(ClientTransport, MqttOverWebSocketDefaultPath) { round_trip(options(url("ws", ports().ws), "ws2"), "tr/ws2"); }

TEST_F(ClientTransport, MqttOverSecureWebSocket) {
    round_trip(options(url("wss", ports().wss, "/mqtt"), "wss"), "tr/wss");
}

TEST_F(ClientTransport, Mqtt311OverSecureWebSocket) {
    round_trip(options(url("wss", ports().wss), "wss311", ProtocolVersion::V3_1_1), "tr/wss311");
}

TEST_F(ClientTransport, Mqtt31OverTcpAndTls) {
    round_trip(options(url("mqtt", ports().mqtt), "v31", ProtocolVersion::V3_1), "tr/v31");
    round_trip(options(url("mqtts", ports().mqtts), "v31tls", ProtocolVersion::V3_1), "tr/v31tls");
}

TEST_F(ClientTransport, WrongCaFailsCertificateVerification) {
    for (const auto& u : {url("mqtts", ports().mqtts), url("wss", ports().wss)}) {
        auto o = options(u, "wrong-ca");
        o.tls.ca_file = pki_->other_ca_cert;
        Client c(o);
        auto r = c.connect();
        ASSERT_FALSE(r) << u;
        EXPECT_EQ(r.error().kind, Error::Kind::Network) << r.error().message;
        EXPECT_NE(r.error().message.find("certificate verify failed"), std::string::npos) << r.error().message;
        EXPECT_FALSE(c.connected());
    }
}

TEST_F(ClientTransport, InsecureSkipsVerification) {
    auto o = options(url("mqtts", ports().mqtts), "insecure");
    o.tls.ca_file = pki_->other_ca_cert;
    o.tls.insecure = true;
    round_trip(o, "tr/insecure");
}

}  // namespace
}  // namespace moth::test
