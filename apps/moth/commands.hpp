#pragma once
// Running `moth pub`, `moth sub` and `moth rr` against a broker with the blocking moth::Client.
#include <string>
#include <vector>

#include "options.hpp"

namespace moth::cli {

// Parses `args` (the words after the subcommand) and runs the tool; returns the process exit code, which is
// mosquitto's: 0 done, 1 bad arguments or no connection, the CONNACK reason code (3.x return code with 3.1/3.1.1)
// when the broker refuses the connection, 27 when -W expires.
[[nodiscard]] int run(Tool tool, const std::vector<std::string>& args);

// The exit code and message for a failed connect, as mosquitto's clients report it.
struct ConnectFailure {
    int exit_code = 1;
    std::string message;  // without newline
};
[[nodiscard]] ConnectFailure describe_connect_error(ProtocolVersion version, const Error& error);

inline constexpr int kExitTimedOut = 27;  // MOSQ_ERR_TIMEOUT, what mosquitto_sub -W exits with

}  // namespace moth::cli
