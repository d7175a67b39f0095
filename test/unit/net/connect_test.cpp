// net::connect over every transport against a real mosquitto (started here), and its failures: refused,
// certificate verification, host name mismatch, handshake timeout, WebSocket upgrade refused.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/system/system_error.hpp>

#include "net/stream.hpp"
#include "unit/net/mosquitto_fixture.hpp"

namespace moth::net {
namespace {

namespace asio = boost::asio;
using boost::system::system_error;
using namespace std::chrono_literals;

// MQTT 3.1.1 CONNECT: clean session, keep alive 60 s, empty client id.
const std::vector<std::byte> kConnect = [] {
    const unsigned char raw[] = {
        0x10, 0x0C,                      // CONNECT, remaining length 12
        0x00, 0x04, 'M', 'Q', 'T', 'T',  // protocol name
        0x04,                            // protocol level 4 (3.1.1)
        0x02,                            // flags: clean session
        0x00, 0x3C,                      // keep alive 60 s
        0x00, 0x00,                      // client id: empty
    };
    std::vector<std::byte> out;
    for (auto b : raw) out.push_back(std::byte{b});
    return out;
}();
const std::vector<std::byte> kConnack = {std::byte{0x20}, std::byte{0x02}, std::byte{0x00}, std::byte{0x00}};

// Runs a coroutine on a fresh io_context to completion (or fails after a deadline) and returns its result.
template <class T, class F>
T run(F make) {
    asio::io_context ioc;
    auto future = asio::co_spawn(ioc, make(ioc.get_executor()), asio::use_future);
    ioc.run_for(30s);
    if (future.wait_for(0s) != std::future_status::ready) throw std::runtime_error("test coroutine did not finish");
    return future.get();
}

// Connects, sends CONNECT, reads the CONNACK `chunk` bytes at a time, closes; returns what was read.
asio::awaitable<std::vector<std::byte>> connect_and_handshake(asio::any_io_executor ex, ConnectSettings settings,
                                                              std::size_t chunk, std::string* remote = nullptr) {
    auto stream = co_await connect(ex, settings);
    if (remote != nullptr) *remote = stream->remote();
    co_await stream->write(kConnect);
    std::vector<std::byte> got;
    std::vector<std::byte> buffer(chunk);
    while (got.size() < kConnack.size()) {
        const auto n = co_await stream->read_some(buffer);
        got.insert(got.end(), buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(n));
    }
    co_await stream->close();
    co_return got;
}

std::vector<std::byte> handshake(const ConnectSettings& settings, std::size_t chunk = 64,
                                 std::string* remote = nullptr) {
    return run<std::vector<std::byte>>(
        [&](asio::any_io_executor ex) { return connect_and_handshake(ex, settings, chunk, remote); });
}

// What connect() failed with, taken while the exception is caught by reference (a copy of a system_error
// would lose the derived what() that net throws).
struct Failure {
    boost::system::error_code code;
    std::string text;
    [[nodiscard]] const char* what() const { return text.c_str(); }
};
Failure failure_of(const system_error& e) {
    return {e.code(), e.what()};
}

// The error connect() fails with; none if it succeeds.
std::optional<Failure> connect_error(const ConnectSettings& settings) {
    return run<std::optional<Failure>>([&](asio::any_io_executor ex) -> asio::awaitable<std::optional<Failure>> {
        try {
            auto stream = co_await connect(ex, settings);
            co_await stream->close();
        } catch (const system_error& e) {
            co_return failure_of(e);
        }
        co_return std::nullopt;
    });
}

ConnectSettings settings_for(const std::string& url) {
    ConnectSettings s;
    const auto parsed = parse_url(url);
    if (!parsed) throw std::runtime_error(parsed.error());
    s.url = *parsed;
    s.timeout = 10s;
    return s;
}

std::string url(const std::string& scheme, const std::string& host, std::uint16_t port) {
    return scheme + "://" + host + ":" + std::to_string(port);
}

class Connect : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        dir_ = new test::TempDir;
        pki_ = new test::TestPki(*dir_);
        broker_ = new test::Mosquitto(*dir_, *pki_);
    }
    static void TearDownTestSuite() {
        delete broker_;
        delete pki_;
        delete dir_;
    }
    static const test::MosquittoPorts& ports() { return broker_->ports(); }
    static const test::TestPki& pki() { return *pki_; }

    static ConnectSettings tls_settings(const std::string& text) {
        auto s = settings_for(text);
        s.tls.ca_file = pki().ca_cert;
        return s;
    }

    static inline test::TempDir* dir_ = nullptr;
    static inline test::TestPki* pki_ = nullptr;
    static inline test::Mosquitto* broker_ = nullptr;
};

TEST_F(Connect, MqttOverTcp) {
    std::string remote;
    EXPECT_EQ(handshake(settings_for(url("mqtt", "127.0.0.1", ports().mqtt)), 64, &remote), kConnack);
    EXPECT_EQ(remote, "127.0.0.1:" + std::to_string(ports().mqtt));
}

TEST_F(Connect, BareHostPortIsMqtt) {
    EXPECT_EQ(handshake(settings_for("127.0.0.1:" + std::to_string(ports().mqtt)), 1), kConnack);
}

TEST_F(Connect, LocalhostTriesEveryAddress) {
    // "localhost" may resolve to ::1 first; mosquitto listens on 127.0.0.1 only.
    EXPECT_EQ(handshake(settings_for(url("mqtt", "localhost", ports().mqtt))), kConnack);
}

TEST_F(Connect, RefusedSaysWhereAndWhy) {
    const auto port = test::free_port();
    const auto e = connect_error(settings_for(url("mqtt", "127.0.0.1", port)));
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->code, asio::error::connection_refused);
    EXPECT_EQ(std::string(e->what()), "connect to 127.0.0.1:" + std::to_string(port) + ": Connection refused");
}

TEST_F(Connect, ReadAfterPeerCloseIsEof) {
    const auto settings = settings_for(url("mqtt", "127.0.0.1", ports().mqtt));
    const auto code =
        run<boost::system::error_code>([&](asio::any_io_executor ex) -> asio::awaitable<boost::system::error_code> {
            auto stream = co_await connect(ex, settings);
            const std::vector<std::byte> garbage = {std::byte{0x00}, std::byte{0x00}};  // reserved packet type
            co_await stream->write(garbage);
            std::vector<std::byte> buffer(16);
            try {
                for (;;) (void)co_await stream->read_some(buffer);
            } catch (const system_error& e) {
                co_return e.code();
            }
        });
    EXPECT_TRUE(code == asio::error::eof || code == asio::error::connection_reset) << code.message();
}

TEST_F(Connect, CancelEndsAPendingRead) {
    const auto settings = settings_for(url("mqtt", "127.0.0.1", ports().mqtt));
    const auto code =
        run<boost::system::error_code>([&](asio::any_io_executor ex) -> asio::awaitable<boost::system::error_code> {
            auto stream = co_await connect(ex, settings);
            asio::steady_timer later(ex, 0ms);
            // cancel() from another coroutine on the same executor while read_some waits for bytes that never come.
            asio::co_spawn(
                ex,
                [&]() -> asio::awaitable<void> {
                    co_await later.async_wait(asio::use_awaitable);
                    stream->cancel();
                    stream->cancel();  // twice is harmless
                },
                asio::detached);
            std::vector<std::byte> buffer(16);
            try {
                (void)co_await stream->read_some(buffer);
            } catch (const system_error& e) {
                co_return e.code();
            }
            co_return boost::system::error_code{};
        });
    EXPECT_TRUE(code.failed());
}

// ---- TLS ----

bool mentions(const Failure& e, const std::string& text) {
    return std::string(e.what()).find(text) != std::string::npos;
}

TEST_F(Connect, MqttOverTls) {
    std::string remote;
    EXPECT_EQ(handshake(tls_settings(url("mqtts", "127.0.0.1", ports().mqtts)), 64, &remote), kConnack);
    EXPECT_EQ(remote, "127.0.0.1:" + std::to_string(ports().mqtts));
}

TEST_F(Connect, TlsByHostNameSendsAndVerifiesIt) {
    // The localhost-only certificate is fine when we connect by that name.
    EXPECT_EQ(handshake(tls_settings(url("mqtts", "localhost", ports().mqtts_localhost))), kConnack);
}

TEST_F(Connect, TlsWithCaPathDirectory) {
    // A hashed CA directory, as `openssl rehash` makes it.
    test::TempDir dir;
    test::run_command("cp " + pki().ca_cert + " " + dir.file("ca.pem") + " && openssl rehash " + dir.path().string());
    auto s = settings_for(url("mqtts", "127.0.0.1", ports().mqtts));
    s.tls.ca_path = dir.path().string();
    EXPECT_EQ(handshake(s), kConnack);
}

TEST_F(Connect, TlsMinimumVersion13) {
    auto s = tls_settings(url("mqtts", "127.0.0.1", ports().mqtts));
    s.tls.version = "tlsv1.3";
    EXPECT_EQ(handshake(s), kConnack);
}

TEST_F(Connect, TlsUnknownVersionIsRefused) {
    auto s = tls_settings(url("mqtts", "127.0.0.1", ports().mqtts));
    s.tls.version = "sslv3";
    const auto e = connect_error(s);
    ASSERT_TRUE(e.has_value());
    EXPECT_TRUE(mentions(*e, "unsupported version 'sslv3'")) << e->what();
}

TEST_F(Connect, TlsMissingCaFileIsNamed) {
    auto s = settings_for(url("mqtts", "127.0.0.1", ports().mqtts));
    s.tls.ca_file = "/nonexistent/ca.crt";
    const auto e = connect_error(s);
    ASSERT_TRUE(e.has_value());
    EXPECT_TRUE(mentions(*e, "/nonexistent/ca.crt")) << e->what();
}

TEST_F(Connect, TlsWrongCaFailsVerification) {
    auto s = settings_for(url("mqtts", "127.0.0.1", ports().mqtts));
    s.tls.ca_file = pki().other_ca_cert;
    const auto e = connect_error(s);
    ASSERT_TRUE(e.has_value());
    EXPECT_TRUE(mentions(*e, "TLS handshake with 127.0.0.1:" + std::to_string(ports().mqtts))) << e->what();
    EXPECT_TRUE(mentions(*e, "certificate verify failed")) << e->what();
}

TEST_F(Connect, TlsSystemDefaultCasDoNotTrustTheTestCa) {
    const auto e = connect_error(settings_for(url("mqtts", "127.0.0.1", ports().mqtts)));
    ASSERT_TRUE(e.has_value());
    EXPECT_TRUE(mentions(*e, "certificate verify failed")) << e->what();
}

TEST_F(Connect, TlsInsecureSkipsVerification) {
    auto s = settings_for(url("mqtts", "127.0.0.1", ports().mqtts_localhost));
    s.tls.ca_file = pki().other_ca_cert;
    s.tls.insecure = true;
    EXPECT_EQ(handshake(s), kConnack);
}

TEST_F(Connect, TlsAddressNotInCertificateFails) {
    // localhost.crt names only DNS:localhost; we connect to the address.
    const auto e = connect_error(tls_settings(url("mqtts", "127.0.0.1", ports().mqtts_localhost)));
    ASSERT_TRUE(e.has_value());
    EXPECT_TRUE(mentions(*e, "certificate verify failed")) << e->what();
    EXPECT_TRUE(mentions(*e, "mismatch")) << e->what();
}

TEST_F(Connect, TlsSniNameNotInCertificateFails) {
    auto s = tls_settings(url("mqtts", "127.0.0.1", ports().mqtts));
    s.tls.sni = "broker.example";
    const auto e = connect_error(s);
    ASSERT_TRUE(e.has_value());
    EXPECT_TRUE(mentions(*e, "certificate verify failed")) << e->what();
    EXPECT_TRUE(mentions(*e, "mismatch")) << e->what();
}

TEST_F(Connect, TlsSniNameInCertificateSucceedsOnAnAddress) {
    auto s = tls_settings(url("mqtts", "127.0.0.1", ports().mqtts_localhost));
    s.tls.sni = "localhost";
    EXPECT_EQ(handshake(s), kConnack);
}

// ---- WebSocket ----

TEST_F(Connect, MqttOverWebSocket) {
    std::string remote;
    EXPECT_EQ(handshake(settings_for(url("ws", "127.0.0.1", ports().ws) + "/mqtt"), 64, &remote), kConnack);
    EXPECT_EQ(remote, "127.0.0.1:" + std::to_string(ports().ws));
}

TEST_F(Connect, WebSocketHandsOutFrameBytesAcrossReads) {
    // The CONNACK arrives in one frame; reading it a byte at a time must return it whole and in order.
    EXPECT_EQ(handshake(settings_for(url("ws", "127.0.0.1", ports().ws)), 1), kConnack);
}

TEST_F(Connect, MqttOverSecureWebSocket) {
    EXPECT_EQ(handshake(tls_settings(url("wss", "127.0.0.1", ports().wss) + "/mqtt")), kConnack);
    EXPECT_EQ(handshake(tls_settings(url("wss", "localhost", ports().wss)), 1), kConnack);
}

TEST_F(Connect, SecureWebSocketVerifiesTheCertificate) {
    auto s = settings_for(url("wss", "127.0.0.1", ports().wss));
    s.tls.ca_file = pki().other_ca_cert;
    const auto e = connect_error(s);
    ASSERT_TRUE(e.has_value());
    EXPECT_TRUE(mentions(*e, "certificate verify failed")) << e->what();
}

TEST_F(Connect, WebSocketUpgradeRefusedSaysSo) {
    // A plain MQTT listener reads the HTTP request as a malformed packet and hangs up.
    const auto e = connect_error(settings_for(url("ws", "127.0.0.1", ports().mqtt)));
    ASSERT_TRUE(e.has_value());
    EXPECT_TRUE(mentions(*e, "WebSocket upgrade to ws://127.0.0.1:" + std::to_string(ports().mqtt) + "/mqtt"))
        << e->what();
}

TEST_F(Connect, WebSocketReadAfterPeerCloseFails) {
    const auto settings = settings_for(url("ws", "127.0.0.1", ports().ws));
    const auto code =
        run<boost::system::error_code>([&](asio::any_io_executor ex) -> asio::awaitable<boost::system::error_code> {
            auto stream = co_await connect(ex, settings);
            const std::vector<std::byte> garbage = {std::byte{0x00}, std::byte{0x00}};
            co_await stream->write(garbage);
            std::vector<std::byte> buffer(16);
            try {
                for (;;) (void)co_await stream->read_some(buffer);
            } catch (const system_error& e) {
                co_return e.code();
            }
        });
    EXPECT_TRUE(code.failed());
}

// The usual way a client ends: its read loop waits in read_some while another coroutine closes the stream.
// close() must finish (orderly where the peer answers) and the pending read must end with an error.
void expect_close_with_pending_read(const ConnectSettings& settings) {
    struct Outcome {
        bool reader_failed = false;
        std::chrono::steady_clock::duration close_took{};
    };
    const auto outcome = run<Outcome>([&](asio::any_io_executor ex) -> asio::awaitable<Outcome> {
        auto stream = co_await connect(ex, settings);
        co_await stream->write(kConnect);
        std::vector<std::byte> got(kConnack.size());
        std::size_t have = 0;
        while (have < got.size()) have += co_await stream->read_some(std::span(got).subspan(have));
        Outcome result;
        bool reader_done = false;
        asio::steady_timer reader_finished(ex, asio::steady_timer::time_point::max());
        asio::co_spawn(
            ex,
            [&]() -> asio::awaitable<void> {
                std::vector<std::byte> buffer(64);
                try {
                    for (;;) (void)co_await stream->read_some(buffer);
                } catch (const system_error&) {
                    result.reader_failed = true;
                }
                reader_done = true;
                reader_finished.cancel();
            },
            asio::detached);
        // Let the reader start waiting first.
        co_await asio::post(ex, asio::use_awaitable);
        const auto start = std::chrono::steady_clock::now();
        co_await stream->close();
        result.close_took = std::chrono::steady_clock::now() - start;
        if (!reader_done) {
            boost::system::error_code ignored;
            co_await reader_finished.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
        }
        co_return result;
    });
    EXPECT_TRUE(outcome.reader_failed);
    EXPECT_LT(outcome.close_took, 5s);
}

TEST_F(Connect, CloseWithPendingReadTcp) {
    expect_close_with_pending_read(settings_for(url("mqtt", "127.0.0.1", ports().mqtt)));
}
TEST_F(Connect, CloseWithPendingReadTls) {
    expect_close_with_pending_read(tls_settings(url("mqtts", "127.0.0.1", ports().mqtts)));
}
TEST_F(Connect, CloseWithPendingReadWs) {
    expect_close_with_pending_read(settings_for(url("ws", "127.0.0.1", ports().ws)));
}
TEST_F(Connect, CloseWithPendingReadWss) {
    expect_close_with_pending_read(tls_settings(url("wss", "127.0.0.1", ports().wss)));
}

// ---- timeouts ----

// A TCP listener that accepts and then says nothing: every handshake on it stalls.
class SilentListener {
public:
    explicit SilentListener(asio::any_io_executor ex)
        : acceptor_(ex, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
        asio::co_spawn(
            ex,
            [this]() -> asio::awaitable<void> {
                for (;;) held_.push_back(co_await acceptor_.async_accept(asio::use_awaitable));
            },
            asio::detached);
    }
    ~SilentListener() {
        boost::system::error_code ignored;
        acceptor_.close(ignored);
    }
    [[nodiscard]] std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

private:
    asio::ip::tcp::acceptor acceptor_;
    std::vector<asio::ip::tcp::socket> held_;
};

// `step`: what the error names as the step that did not finish.
void expect_times_out(const std::string& scheme, const std::string& step) {
    asio::io_context ioc;
    SilentListener silent(ioc.get_executor());
    auto settings = settings_for(url(scheme, "127.0.0.1", silent.port()));
    settings.timeout = 300ms;
    std::optional<Failure> error;
    const auto start = std::chrono::steady_clock::now();
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
            try {
                auto stream = co_await connect(ioc.get_executor(), settings);
            } catch (const system_error& e) {
                error = failure_of(e);
            }
            ioc.stop();  // the silent listener's accept loop would keep run() going
        },
        asio::detached);
    ioc.run_for(20s);
    const auto elapsed = std::chrono::steady_clock::now() - start;
    ASSERT_TRUE(error.has_value()) << scheme << ": connect did not fail";
    EXPECT_EQ(error->code, asio::error::timed_out) << error->what();
    const auto where = step == "WebSocket upgrade to "
                           ? step + scheme + "://127.0.0.1:" + std::to_string(silent.port()) + "/mqtt"
                           : step + "127.0.0.1:" + std::to_string(silent.port());
    EXPECT_EQ(std::string(error->what()), where + ": timed out after 300 ms");
    EXPECT_GE(elapsed, 300ms);
    EXPECT_LT(elapsed, 5s) << scheme;
}

TEST_F(Connect, TlsHandshakeTimesOut) {
    expect_times_out("mqtts", "TLS handshake with ");
}
TEST_F(Connect, WebSocketUpgradeTimesOut) {
    expect_times_out("ws", "WebSocket upgrade to ");
}
TEST_F(Connect, SecureWebSocketTimesOut) {
    expect_times_out("wss", "TLS handshake with ");
}

}  // namespace
}  // namespace moth::net
