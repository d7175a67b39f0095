#pragma once
// DTLS 1.2 (RFC 6347) for the MQTT-SN gateway (listener kind mqttsns) and `moth sn`: one endpoint per peer that owns
// no socket. Datagrams go in and come out as byte vectors, so the owner keeps its own UDP I/O and one socket serves
// many peers. OpenSSL 3 underneath, on BIOs that keep datagram boundaries (one datagram per BIO read or write).
//
// Threads: a DtlsPeer is not thread-safe; call it from the thread that owns it (a worker). The contexts made below
// may be shared by peers on every thread (OpenSSL's SSL_CTX is thread-safe once set up).
#include <chrono>
#include <cstddef>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <openssl/ssl.h>

namespace moth::net {

using Datagrams = std::vector<std::vector<std::byte>>;

// The largest DTLS datagram either side sends: fits the IPv6 minimum MTU (1280) less IP and UDP headers, so handshake
// flights cross the Internet without IP fragmentation. Application datagrams are one record each, whatever their size.
inline constexpr long kDtlsMtu = 1200;
// The largest plaintext datagram send() takes (one DTLS record, TLS's limit).
inline constexpr std::size_t kDtlsMaxPlaintext = 16384;
// Plaintext datagrams send() keeps while the handshake runs; more are dropped (datagram semantics: MQTT-SN retries).
inline constexpr std::size_t kDtlsMaxPending = 32;

// Start-up only: these throw std::runtime_error naming the file and OpenSSL's reason.
//
// Server: the certificate chain and key (e.g. server::detail::ensure_dev_certificate's files). With `ca_file`, client
// certificates are asked for and must chain to it; `require_client_cert` refuses clients without one. Cookie exchange
// (HelloVerifyRequest, RFC 6347 4.2.1) is on, with an HMAC secret drawn at random for this context.
[[nodiscard]] std::shared_ptr<SSL_CTX> make_dtls_server_context(const std::string& cert_file,
                                                                const std::string& key_file, const std::string& ca_file,
                                                                bool require_client_cert);
// Client: verifies the server against `ca_file` (empty: the system's default CA paths) unless `verify` is false;
// presents `cert_file`/`key_file` when both are given.
[[nodiscard]] std::shared_ptr<SSL_CTX> make_dtls_client_context(const std::string& ca_file, bool verify,
                                                                const std::string& cert_file,
                                                                const std::string& key_file);

// The subject CN of the peer's certificate when OpenSSL verified it; nullopt when there is none or it failed.
[[nodiscard]] std::optional<std::string> verified_peer_common_name(const SSL* ssl);

// One side of one DTLS 1.2 association. Every call that can produce datagrams appends them to `wire`, each element
// one UDP datagram for the peer, in order; the owner sends them even when the call returns false (they may carry
// the alert that tells the peer why).
class DtlsPeer {
public:
    // `peer_address` is the peer's transport address as the owner keys it (e.g. "192.0.2.1:5000"): the cookie is
    // bound to it. `ctx` must come from make_dtls_server_context (it holds the cookie secret).
    [[nodiscard]] static std::unique_ptr<DtlsPeer> server(std::shared_ptr<SSL_CTX> ctx, std::string peer_address);
    // `server_name` is sent as SNI (host names only) and verified against the server's certificate (host name or
    // IP address) when the context verifies. Call start() to get the ClientHello.
    [[nodiscard]] static std::unique_ptr<DtlsPeer> client(std::shared_ptr<SSL_CTX> ctx, std::string server_name);

    DtlsPeer(const DtlsPeer&) = delete;
    DtlsPeer& operator=(const DtlsPeer&) = delete;
    ~DtlsPeer();

    // Client: sends the ClientHello. Server: nothing (it waits for one). Returns false when the association failed.
    bool start(Datagrams& wire);

    // One datagram from the peer. Plaintext datagrams it carried go to `app`, in order; handshake flights and alerts
    // to `wire`. Returns false when the association failed (error() says why) or the peer closed it (close_notify):
    // the owner sends `wire` and drops this peer. Datagrams that are not valid DTLS records for this association
    // (garbage, forged or replayed records) are discarded silently as RFC 6347 4.1.2.7 asks: the call returns true
    // with nothing added, so a spoofed datagram cannot tear down an association. A ClientHello whose cookie was not
    // made for this peer's address fails the (new) association.
    bool on_datagram(std::span<const std::byte> in, Datagrams& app, Datagrams& wire);

    // Encrypts one plaintext datagram into one record. Before the handshake completes it is queued (up to
    // kDtlsMaxPending, more dropped) and sent when it does. Larger than kDtlsMaxPlaintext, or after a failure or
    // close: dropped (error() says why for the size).
    void send(std::span<const std::byte> plaintext, Datagrams& wire);

    // Handshake retransmission (RFC 6347 4.2.4): when the owner should call on_timer, if a timer runs. On OpenSSL's
    // clock (wall time), converted to steady_clock at the call.
    [[nodiscard]] std::optional<std::chrono::steady_clock::time_point> next_timer() const;
    // Resends the last flight if the timer has expired (nothing otherwise). Returns false when the handshake gave
    // up (too many retransmissions).
    bool on_timer(Datagrams& wire);

    // Sends close_notify; the peer is closed afterwards (send() drops, on_datagram returns false).
    void close(Datagrams& wire);

    [[nodiscard]] bool established() const { return established_; }
    [[nodiscard]] bool closed() const { return failed_; }
    [[nodiscard]] const std::string& error() const { return error_; }  // last failure, for logs
    [[nodiscard]] const std::string& peer_address() const { return peer_address_; }
    // The CN of the peer's verified certificate (a client's, on the server), if any.
    [[nodiscard]] std::optional<std::string> peer_certificate_cn() const;

    // For tuning and tests (e.g. DTLS_set_timer_cb): the OpenSSL object. Do not do I/O on it.
    [[nodiscard]] SSL* native_handle() const { return ssl_; }

    // True when `in` starts like a DTLS handshake record (content type 22, a DTLS version): a cheap test an owner can
    // make before creating a server peer for an unknown address, so garbage costs no SSL object.
    [[nodiscard]] static bool looks_like_handshake(std::span<const std::byte> in);

    // Used by the BIO callbacks in dtls.cpp.
    struct Io {
        std::span<const std::byte> in;  // the datagram being read; emptied by the read
        Datagrams* out = nullptr;       // where writes go; null outside a call
    };

private:
    DtlsPeer(std::shared_ptr<SSL_CTX> ctx, std::string peer_address, bool is_server);
    // These run inside a public call, with io_ pointing at its datagram and its `wire`.
    bool admit_during_handshake(std::span<const std::byte> in);
    bool admit_protected(std::span<const std::byte> in);
    bool drive(Datagrams& app);
    bool handshake();
    bool read_all(Datagrams& app);
    void write_record(std::span<const std::byte> plaintext);
    // Marks the peer failed or closed (answering close_notify into io_.out); always false.
    bool fail(int ssl_error, const char* what);

    std::shared_ptr<SSL_CTX> ctx_;
    SSL* ssl_ = nullptr;
    Io io_;
    std::string peer_address_;
    std::deque<std::vector<std::byte>> pending_;
    std::string error_;
    bool established_ = false;
    bool failed_ = false;
    bool seen_change_cipher_spec_ = false;
};

}  // namespace moth::net
