#pragma once
// BrokerFixture: a GoogleTest fixture that runs the real mothd for one test.
//
// start() writes a TOML config into a private temp directory (one MQTT listener on 127.0.0.1 port 0, a ports
// file, two workers, $SYS every second, plus whatever the test adds), starts mothd with `--config`, and waits,
// with a deadline, for mothd to write its ports file; port() is then the listener's port. stop() sends SIGTERM
// and expects exit code 0; TearDown() does it for a test that did not. When a test fails, TearDown() prints
// the config and the end of mothd's log.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "support/mothd_process.hpp"
#include "support/mqtt_test_client.hpp"

namespace moth::test {

inline constexpr auto kBrokerStartTimeout = 15s;  // ASan start-up on a loaded 2-core machine
inline constexpr auto kBrokerExitTimeout = 10s;

class BrokerFixture : public ::testing::Test {
protected:
    BrokerFixture();
    ~BrokerFixture() override;
    void TearDown() override;

    // Starts mothd. `extra_toml` is placed after the fixture's top-level keys and before the [[listener]]:
    // top-level keys first, then tables ([limits], [features]). Throws TestFailure if mothd does not come up.
    void start(std::string_view extra_toml = {});
    // SIGTERM, then expects exit code 0 within kBrokerExitTimeout.
    void stop();
    [[nodiscard]] std::uint16_t port() const;
    [[nodiscard]] MothdProcess& mothd();
    [[nodiscard]] const std::string& config_text() const { return config_text_; }

    // A client with a TCP connection to the broker, no CONNECT sent yet.
    std::unique_ptr<MqttTestClient> tcp_client(codec::ProtocolVersion version, std::string name = "client");
    // A client that has connected (CONNECT, CONNACK Success).
    std::unique_ptr<MqttTestClient> connected_client(codec::ProtocolVersion version, const ConnectOptions& options);
    std::unique_ptr<MqttTestClient> connected_client(codec::ProtocolVersion version, std::string client_id);

    // Set before start().
    unsigned workers_ = 2;
    unsigned sys_interval_s_ = 1;
    std::string log_level_ = "info";

private:
    std::filesystem::path dir_;
    std::string config_text_;
    std::unique_ptr<MothdProcess> mothd_;
    std::optional<std::uint16_t> port_;
};

}  // namespace moth::test
