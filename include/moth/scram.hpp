#pragma once
// SCRAM-SHA-256 (RFC 5802 with RFC 7677's hash) as MQTT 5.0 enhanced authentication: the password never travels,
// and the broker proves that it knows the user's credential too.
//
//     moth::ConnectOptions o{.url = "mqtts://broker.example", .client_id = "demo"};
//     auto scram = moth::ScramAuthenticator::configure(o, "alice", "secret");
//     moth::AsyncClient client(ex, o);
//     co_await client.connect();                                   // fails unless the broker's proof verifies
//     co_await client.reauthenticate(scram.reauthentication_data());  // AUTH 0x19 ... AUTH 0x00, verified alike
//
// Passwords are used as the UTF-8 bytes given (no SASLprep): ASCII passwords are unaffected; a non-ASCII one must
// be in Unicode NFC to match what another implementation derives. See docs/client.md.
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <moth/client.hpp>

namespace moth {

inline constexpr std::string_view kScramSha256Method = "SCRAM-SHA-256";

// One user's SCRAM state, shared with the ConnectOptions::on_auth that configure() installs (copies of those
// options share it too). Thread-safe: on_auth runs on the client's executor, the calls below may come from anywhere.
class ScramAuthenticator {
public:
    // Sets options.authentication_method ("SCRAM-SHA-256"), options.authentication_data (a client-first message
    // with a fresh nonce), options.on_auth and options.on_auth_complete, and clears options.password so that it is never sent; leaves
    // options.username as it is (the SCRAM user name travels in client-first). options.version must be 5.0 for the
    // broker to see any of it. on_auth answers the broker's server-first with client-final; on_auth_complete
    // verifies the server-final of the CONNACK (or of the AUTH 0x00 that ends a re-authentication): a missing or
    // wrong one fails connect() (or reauthenticate()) with Error::Kind::Protocol and closes the connection. An automatic
    // reconnect repeats the exchange with the same client-first (the broker adds a new nonce of its own).
    // Throws std::runtime_error when the system has no random numbers.
    [[nodiscard]] static ScramAuthenticator configure(ConnectOptions& options, std::string username,
                                                      std::string password);

    // A new client-first message (a new nonce) for AsyncClient::reauthenticate(data); the exchange starts over.
    // Throws std::runtime_error when the system has no random numbers.
    [[nodiscard]] std::vector<std::byte> reauthentication_data();

    // True when the broker's server-final of the latest exchange verified; false during an exchange.
    [[nodiscard]] bool verified() const;

private:
    struct State;
    explicit ScramAuthenticator(std::shared_ptr<State> state) : state_(std::move(state)) {}
    std::shared_ptr<State> state_;
};

}  // namespace moth
