#pragma once
// `moth sn pub|sub|bench`: the MQTT-SN client commands (options in sn_options.hpp, the client in sn_client.hpp).
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <openssl/ssl.h>
#include <boost/asio/ip/udp.hpp>

#include "sn_options.hpp"

namespace moth::cli::sn {

// `args` are the words after "moth sn". Returns the exit code: 0 done, 1 protocol or network failure (a line
// "moth sn: ..." on stderr), 2 bad options, 27 (sub) -W expired before -C messages.
[[nodiscard]] int run_sn(const std::vector<std::string>& args);

// The gateway's address for `e` (-6: IPv6 only; otherwise IPv4 first). Sets `error` and returns nullopt on failure.
[[nodiscard]] std::optional<boost::asio::ip::udp::endpoint> resolve_gateway(const Endpoint& e, std::string& error);

// The DTLS client context for `e` (null without --dtls). Sets `error` and returns null when the files do not load.
[[nodiscard]] std::shared_ptr<SSL_CTX> dtls_context(const Endpoint& e, std::string& error);

// `moth sn bench` (sn_bench.cpp).
[[nodiscard]] int run_bench(const BenchOptions& o);

}  // namespace moth::cli::sn
