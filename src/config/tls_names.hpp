#pragma once
// Checks of the TLS cipher settings of a listener, asked of OpenSSL itself so that a typo in `ciphers` or
// `ciphersuites` is a config error (file:line: key: message) at load time rather than a failed handshake later.
// The only part of the config module that touches OpenSSL (in its .cpp; this header includes none of it).
#include <optional>
#include <string>
#include <string_view>

namespace moth::config {

// `ciphers` (OpenSSL cipher list for TLS 1.2 and below): nullopt when OpenSSL accepts it and every name it lists
// without a '!', '-' or '+' prefix selects at least one cipher; otherwise what is wrong. Empty is fine (default).
[[nodiscard]] std::optional<std::string> tls_cipher_list_problem(std::string_view list);
// `ciphersuites` (TLS 1.3, ':'-separated suite names such as TLS_AES_128_GCM_SHA256): nullopt when every name
// is one OpenSSL knows. Empty is fine (OpenSSL's default suites).
[[nodiscard]] std::optional<std::string> tls_ciphersuites_problem(std::string_view list);

}  // namespace moth::config
