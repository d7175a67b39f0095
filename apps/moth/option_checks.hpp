#pragma once
// Inside the option parser (options.cpp), step 3: checking and converting the raw command line into Options,
// with mosquitto's error texts and in the order mosquitto checks, since scripts and tests compare the first error.
#include <optional>
#include <string>

#include "option_table.hpp"
#include "options.hpp"

namespace moth::cli {

// Why the command line is refused: `message` goes to stderr, followed by the usage hint when `hint`, or by the
// whole --help text (on stdout) when `help`.
struct Failure {
    std::string message;
    bool hint = true;
    bool help = false;
};

// Host, port, -L, client id, credentials, keep alive, protocol version and session.
[[nodiscard]] std::optional<Failure> check_connection(const RawOptions& r, Options& o);
// The will, the TLS files and version, the QoS.
[[nodiscard]] std::optional<Failure> check_will_tls_qos(const RawOptions& r, Options& o);
// What the tool sends and receives: topics, payload source, repeats, response topic, output format and timeout.
[[nodiscard]] std::optional<Failure> check_messages(const RawOptions& r, Options& o);
// The checks across options (mosquitto's client_config_load), last.
[[nodiscard]] std::optional<Failure> cross_check(const RawOptions& r, Options& o);

}  // namespace moth::cli
