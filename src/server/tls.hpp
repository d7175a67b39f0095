#pragma once
// TLS for the mqtts and wss listeners: the server context, and the development certificate mothd makes for
// itself when a TLS listener has no certificate configured. Start-up only: these throw std::runtime_error.
#include <memory>
#include <string>

#include <boost/asio/ssl/context.hpp>

#include "config/config.hpp"

namespace moth::server::detail {

// TLS 1.2 and 1.3 (tls_min_version, tls_max_version, ciphers, ciphersuites); the certificate chain and key from
// `cert_file`/`key_file`. With the listener's ca_file, client certificates are asked for and must chain to it;
// require_client_cert refuses clients without one.
[[nodiscard]] std::shared_ptr<boost::asio::ssl::context> make_server_tls_context(const config::Listener& listener,
                                                                                 const std::string& cert_file,
                                                                                 const std::string& key_file);

// The subject CN of the verified client certificate of a finished handshake; empty when there is none.
[[nodiscard]] std::string peer_common_name(SSL* ssl);

struct DevCertificate {
    std::string ca_file;    // the development CA's certificate: what clients and browsers are told to trust
    std::string cert_file;  // server certificate (localhost, 127.0.0.1, ::1) followed by the CA
    std::string key_file;   // the server certificate's key
    bool created = false;   // false: found from an earlier start and reused
};

// The development CA and server certificate in `dir` (created if missing), made on first use and reused after.
[[nodiscard]] DevCertificate ensure_dev_certificate(const std::string& dir);

}  // namespace moth::server::detail
