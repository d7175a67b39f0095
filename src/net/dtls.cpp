// DTLS 1.2 over a datagram-preserving BIO (no socket), the contexts, and stateless cookies (RFC 6347 4.2.1).
#include "net/dtls.hpp"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/time.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <new>
#include <stdexcept>

namespace moth::net {

namespace {

// ---- errors ----

// OpenSSL's error queue as one line ("certificate verify failed"), emptied. The queue is per thread and shared by
// every peer on it, so each call into OpenSSL starts with ERR_clear_error().
std::string drain_errors() {
    std::string out;
    while (const unsigned long e = ERR_get_error()) {
        char buf[256] = {};
        ERR_error_string_n(e, buf, sizeof buf);
        const char* reason = ERR_reason_error_string(e);
        if (!out.empty()) out += "; ";
        out += reason != nullptr ? reason : buf;
    }
    return out;
}

[[noreturn]] void fail_setup(const std::string& what) {
    const std::string why = drain_errors();
    throw std::runtime_error("DTLS: " + what + (why.empty() ? "" : ": " + why));
}

// ---- the datagram BIO: one read returns the one datagram being processed, each write is one datagram ----

int bio_write(BIO* bio, const char* data, int len) {
    auto* io = static_cast<DtlsPeer::Io*>(BIO_get_data(bio));
    BIO_clear_retry_flags(bio);
    // Outside a call (nothing should write then) the bytes are dropped: datagrams may be lost anyway.
    if (io->out != nullptr && len > 0) {
        const auto* p = reinterpret_cast<const std::byte*>(data);
        io->out->emplace_back(p, p + len);
    }
    return len;
}

int bio_read(BIO* bio, char* data, int len) {
    auto* io = static_cast<DtlsPeer::Io*>(BIO_get_data(bio));
    BIO_clear_retry_flags(bio);
    if (io->in.empty()) {
        BIO_set_retry_read(bio);  // SSL_ERROR_WANT_READ: wait for the next datagram
        return -1;
    }
    // Like recvfrom: a datagram larger than the buffer is truncated (its record then fails and is discarded).
    const std::size_t n = std::min(io->in.size(), static_cast<std::size_t>(std::max(len, 0)));
    std::memcpy(data, io->in.data(), n);
    io->in = {};
    return static_cast<int>(n);
}

long bio_ctrl(BIO* bio, int cmd, long /*num*/, void* /*ptr*/) {
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1;  // every write is already out
    case BIO_CTRL_PENDING:
        return static_cast<long>(static_cast<DtlsPeer::Io*>(BIO_get_data(bio))->in.size());
    default:
        // MTU queries (the MTU is set, SSL_OP_NO_QUERY_MTU), peer address, receive timeouts, WPENDING: none apply;
        // 0 is "not supported" / "nothing", which OpenSSL's DTLS code handles.
        return 0;
    }
}

int bio_create(BIO* bio) {
    BIO_set_init(bio, 1);
    return 1;
}

const BIO_METHOD* datagram_method() {
    static BIO_METHOD* method = [] {
        BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "moth datagram");
        if (m == nullptr || BIO_meth_set_write(m, bio_write) != 1 || BIO_meth_set_read(m, bio_read) != 1 ||
            BIO_meth_set_ctrl(m, bio_ctrl) != 1 || BIO_meth_set_create(m, bio_create) != 1)
            throw std::bad_alloc();
        return m;
    }();
    return method;
}

// ---- cookies: HMAC-SHA256(context secret, peer address) ----

struct CookieSecret {
    std::array<unsigned char, 32> key{};
};

void free_secret(void* /*parent*/, void* ptr, CRYPTO_EX_DATA* /*ad*/, int /*idx*/, long /*argl*/, void* /*argp*/) {
    if (ptr != nullptr) OPENSSL_cleanse(ptr, sizeof(CookieSecret));
    delete static_cast<CookieSecret*>(ptr);
}

int secret_index() {
    static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, free_secret);
    return index;
}

int peer_index() {
    static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

bool compute_cookie(SSL* ssl, unsigned char* out, unsigned int* out_len) {
    const auto* peer = static_cast<const DtlsPeer*>(SSL_get_ex_data(ssl, peer_index()));
    const auto* secret = static_cast<const CookieSecret*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), secret_index()));
    if (peer == nullptr || secret == nullptr) return false;
    const std::string& address = peer->peer_address();
    return HMAC(EVP_sha256(), secret->key.data(), static_cast<int>(secret->key.size()),
                reinterpret_cast<const unsigned char*>(address.data()), address.size(), out, out_len) != nullptr;
}

// OpenSSL gives a buffer of DTLS1_COOKIE_LENGTH (255) bytes; the HMAC is 32.
int generate_cookie(SSL* ssl, unsigned char* cookie, unsigned int* cookie_len) {
    return compute_cookie(ssl, cookie, cookie_len) ? 1 : 0;
}

int verify_cookie(SSL* ssl, const unsigned char* cookie, unsigned int cookie_len) {
    unsigned char expected[EVP_MAX_MD_SIZE];
    unsigned int expected_len = 0;
    if (!compute_cookie(ssl, expected, &expected_len)) return 0;
    return cookie_len == expected_len && CRYPTO_memcmp(cookie, expected, expected_len) == 0 ? 1 : 0;
}

// ---- contexts ----

std::shared_ptr<SSL_CTX> new_context() {
    std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(DTLS_method()), SSL_CTX_free);
    if (!ctx) fail_setup("SSL_CTX_new");
    if (SSL_CTX_set_min_proto_version(ctx.get(), DTLS1_2_VERSION) != 1 ||
        SSL_CTX_set_max_proto_version(ctx.get(), DTLS1_2_VERSION) != 1)
        fail_setup("restrict to DTLS 1.2");
    // The MTU is set per SSL (no socket to ask); renegotiation is a cost a peer could impose at will.
    SSL_CTX_set_options(ctx.get(), SSL_OP_NO_QUERY_MTU | SSL_OP_NO_RENEGOTIATION);
    return ctx;
}

void load_chain(SSL_CTX* ctx, const std::string& cert_file, const std::string& key_file) {
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file.c_str()) != 1) fail_setup("cert_file " + cert_file);
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file.c_str(), SSL_FILETYPE_PEM) != 1) fail_setup("key_file " + key_file);
    if (SSL_CTX_check_private_key(ctx) != 1)
        fail_setup("key_file " + key_file + " does not belong to cert_file " + cert_file);
}

bool set_verify_name(SSL* ssl, const std::string& name) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    // An address literal is checked against the certificate's IP SANs; anything else as a host name.
    if (X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str()) == 1) return true;
    ERR_clear_error();
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    return X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size()) == 1;
}

bool is_address_literal(const std::string& name) {
    std::unique_ptr<ASN1_OCTET_STRING, decltype(&ASN1_OCTET_STRING_free)> ip(a2i_IPADDRESS(name.c_str()),
                                                                            ASN1_OCTET_STRING_free);
    ERR_clear_error();
    return ip != nullptr;
}

}  // namespace

std::shared_ptr<SSL_CTX> make_dtls_server_context(const std::string& cert_file, const std::string& key_file,
                                                  const std::string& ca_file, bool require_client_cert) {
    auto ctx = new_context();
    load_chain(ctx.get(), cert_file, key_file);
    if (!ca_file.empty()) {
        if (SSL_CTX_load_verify_locations(ctx.get(), ca_file.c_str(), nullptr) != 1) fail_setup("ca_file " + ca_file);
        // Tell clients which CAs their certificate should come from.
        if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(ca_file.c_str()))
            SSL_CTX_set_client_CA_list(ctx.get(), names);
    }
    int mode = SSL_VERIFY_NONE;
    if (require_client_cert) {
        mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    } else if (!ca_file.empty()) {
        mode = SSL_VERIFY_PEER;  // asked for, verified when given, not required
    }
    SSL_CTX_set_verify(ctx.get(), mode, nullptr);
    // Resumed sessions keep the client's verified identity; OpenSSL refuses to resume without a context id.
    static constexpr unsigned char kSessionContext[] = "moth-mqttsns";
    if (SSL_CTX_set_session_id_context(ctx.get(), kSessionContext, sizeof kSessionContext - 1) != 1)
        fail_setup("session id context");

    auto secret = std::make_unique<CookieSecret>();
    if (RAND_bytes(secret->key.data(), static_cast<int>(secret->key.size())) != 1) fail_setup("cookie secret");
    if (SSL_CTX_set_ex_data(ctx.get(), secret_index(), secret.get()) != 1) fail_setup("cookie secret");
    (void)secret.release();  // owned by the context now (free_secret)
    SSL_CTX_set_cookie_generate_cb(ctx.get(), generate_cookie);
    SSL_CTX_set_cookie_verify_cb(ctx.get(), verify_cookie);
    SSL_CTX_set_options(ctx.get(), SSL_OP_COOKIE_EXCHANGE);
    return ctx;
}

std::shared_ptr<SSL_CTX> make_dtls_client_context(const std::string& ca_file, bool verify,
                                                  const std::string& cert_file, const std::string& key_file) {
    auto ctx = new_context();
    if (!ca_file.empty()) {
        if (SSL_CTX_load_verify_locations(ctx.get(), ca_file.c_str(), nullptr) != 1) fail_setup("ca_file " + ca_file);
    } else if (verify && SSL_CTX_set_default_verify_paths(ctx.get()) != 1) {
        fail_setup("system CA paths");
    }
    if (cert_file.empty() != key_file.empty())
        throw std::runtime_error("DTLS: a client certificate needs both cert_file and key_file");
    if (!cert_file.empty()) load_chain(ctx.get(), cert_file, key_file);
    SSL_CTX_set_verify(ctx.get(), verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
    return ctx;
}

std::optional<std::string> verified_peer_common_name(const SSL* ssl) {
    X509* cert = SSL_get0_peer_certificate(ssl);
    if (cert == nullptr || SSL_get_verify_result(ssl) != X509_V_OK) return std::nullopt;
    X509_NAME* subject = X509_get_subject_name(cert);
    const int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (index < 0) return std::nullopt;
    unsigned char* utf8 = nullptr;
    const int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index)));
    std::optional<std::string> out;
    if (n >= 0) out.emplace(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(n));
    OPENSSL_free(utf8);
    return out;
}

// ---- DtlsPeer ----

DtlsPeer::DtlsPeer(std::shared_ptr<SSL_CTX> ctx, std::string peer_address, bool is_server)
    : ctx_(std::move(ctx)), peer_address_(std::move(peer_address)) {
    ssl_ = SSL_new(ctx_.get());
    BIO* bio = BIO_new(datagram_method());
    if (ssl_ == nullptr || bio == nullptr) {
        BIO_free(bio);
        SSL_free(ssl_);
        throw std::bad_alloc();
    }
    BIO_set_data(bio, &io_);
    SSL_set_bio(ssl_, bio, bio);  // one BIO both ways; the SSL owns it
    SSL_set_ex_data(ssl_, peer_index(), this);
    // After SSL_set_bio: OpenSSL checks the MTU against the BIO's overhead (0 here: records are the datagrams).
    SSL_ctrl(ssl_, SSL_CTRL_SET_MTU, kDtlsMtu, nullptr);
    if (is_server) {
        SSL_set_accept_state(ssl_);
    } else {
        SSL_set_connect_state(ssl_);
    }
}

DtlsPeer::~DtlsPeer() {
    SSL_free(ssl_);
}

std::unique_ptr<DtlsPeer> DtlsPeer::server(std::shared_ptr<SSL_CTX> ctx, std::string peer_address) {
    if (SSL_CTX_get_ex_data(ctx.get(), secret_index()) == nullptr)
        throw std::invalid_argument("DtlsPeer::server: the context has no cookie secret (use make_dtls_server_context)");
    return std::unique_ptr<DtlsPeer>(new DtlsPeer(std::move(ctx), std::move(peer_address), true));
}

std::unique_ptr<DtlsPeer> DtlsPeer::client(std::shared_ptr<SSL_CTX> ctx, std::string server_name) {
    std::unique_ptr<DtlsPeer> peer(new DtlsPeer(std::move(ctx), server_name, false));
    SSL* ssl = peer->ssl_;
    ERR_clear_error();
    // SNI carries host names only (RFC 6066 section 3), never address literals.
    if (!server_name.empty() && !is_address_literal(server_name) &&
        SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, server_name.data()) != 1)
        fail_setup("server name '" + server_name + "'");
    if ((SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER) != 0 && !server_name.empty() &&
        !set_verify_name(ssl, server_name))
        fail_setup("the name to verify '" + server_name + "'");
    return peer;
}

bool DtlsPeer::start(Datagrams& wire) {
    if (failed_) return false;
    if (SSL_is_server(ssl_) == 1 || established_) return true;
    io_.out = &wire;
    const bool ok = handshake();
    io_.out = nullptr;
    return ok;
}

bool DtlsPeer::on_datagram(std::span<const std::byte> in, Datagrams& app, Datagrams& wire) {
    if (failed_) return false;
    if (!established_ && !admit_during_handshake(in)) return true;
    if (established_ && !admit_protected(in)) return true;
    io_.in = in;
    io_.out = &wire;
    const bool ok = drive(app);
    io_.in = {};
    io_.out = nullptr;
    return ok;
}

// OpenSSL 3.0 keeps a record of the next epoch that arrives before the ChangeCipherSpec, and when it later fails to
// decrypt (a forged one) ends the association with internal_error. So until this side has seen a ChangeCipherSpec,
// a datagram with a record past epoch 0 is dropped here: a forged one costs nothing, a genuine one that overtook the
// ChangeCipherSpec is retransmitted by its sender's timer.
bool DtlsPeer::admit_during_handshake(std::span<const std::byte> in) {
    std::size_t at = 0;
    while (!seen_change_cipher_spec_ && at + 13 <= in.size()) {
        const auto byte = [&](std::size_t i) { return std::to_integer<unsigned>(in[at + i]); };
        if (byte(0) == 20) {
            seen_change_cipher_spec_ = true;  // records after it, in this datagram or later, may be epoch 1
        } else if (byte(3) != 0 || byte(4) != 0) {
            return false;
        }
        at += 13 + (byte(11) << 8 | byte(12));
    }
    return true;
}

// OpenSSL 3.0 ends an established association (internal_error) on a protected record too short to hold the AEAD
// nonce and tag, which anyone who knows the addresses can forge. Such a datagram is dropped before it gets there.
bool DtlsPeer::admit_protected(std::span<const std::byte> in) {
    constexpr std::size_t kMinProtected = 24;  // AES-GCM: 8-byte explicit nonce + 16-byte tag (ChaCha20: 16 + data)
    std::size_t at = 0;
    while (at + 13 <= in.size()) {
        const auto byte = [&](std::size_t i) { return std::to_integer<unsigned>(in[at + i]); };
        const std::size_t length = byte(11) << 8 | byte(12);
        if ((byte(3) != 0 || byte(4) != 0) && length < kMinProtected) return false;
        at += 13 + length;
    }
    return true;
}

bool DtlsPeer::drive(Datagrams& app) {
    if (!established_ && !handshake()) return false;
    // Records after the last handshake message, in the same datagram or later ones, are application data.
    return !established_ || read_all(app);
}

bool DtlsPeer::handshake() {
    ERR_clear_error();
    const int r = SSL_do_handshake(ssl_);
    if (r != 1) {
        const int err = SSL_get_error(ssl_, r);
        if (err == SSL_ERROR_WANT_READ) return true;
        return fail(err, "handshake");
    }
    established_ = true;
    while (!pending_.empty()) {
        write_record(pending_.front());
        pending_.pop_front();
    }
    return !failed_;
}

bool DtlsPeer::read_all(Datagrams& app) {
    // One record is one datagram; a record's plaintext is at most kDtlsMaxPlaintext, so one read takes it whole.
    thread_local std::array<std::byte, kDtlsMaxPlaintext> buffer;
    for (;;) {
        ERR_clear_error();
        const int n = SSL_read(ssl_, buffer.data(), static_cast<int>(buffer.size()));
        if (n > 0) {
            app.emplace_back(buffer.begin(), buffer.begin() + n);
            continue;
        }
        const int err = SSL_get_error(ssl_, n);
        if (err == SSL_ERROR_WANT_READ) return true;
        return fail(err, "read");
    }
}

void DtlsPeer::send(std::span<const std::byte> plaintext, Datagrams& wire) {
    if (failed_ || plaintext.empty()) return;
    if (plaintext.size() > kDtlsMaxPlaintext) {
        error_ = "datagram of " + std::to_string(plaintext.size()) + " bytes dropped (more than one DTLS record)";
        return;
    }
    if (!established_) {
        if (pending_.size() < kDtlsMaxPending) pending_.emplace_back(plaintext.begin(), plaintext.end());
        return;
    }
    io_.out = &wire;
    write_record(plaintext);
    io_.out = nullptr;
}

void DtlsPeer::write_record(std::span<const std::byte> plaintext) {
    ERR_clear_error();
    const int n = SSL_write(ssl_, plaintext.data(), static_cast<int>(plaintext.size()));
    if (n <= 0) (void)fail(SSL_get_error(ssl_, n), "write");
}

std::optional<std::chrono::steady_clock::time_point> DtlsPeer::next_timer() const {
    timeval left{};
    if (failed_ || SSL_ctrl(ssl_, DTLS_CTRL_GET_TIMEOUT, 0, &left) != 1) return std::nullopt;
    return std::chrono::steady_clock::now() + std::chrono::seconds(left.tv_sec) +
           std::chrono::microseconds(left.tv_usec);
}

bool DtlsPeer::on_timer(Datagrams& wire) {
    if (failed_) return false;
    io_.out = &wire;
    ERR_clear_error();
    const long r = SSL_ctrl(ssl_, DTLS_CTRL_HANDLE_TIMEOUT, 0, nullptr);
    io_.out = nullptr;
    if (r >= 0) return true;
    failed_ = true;
    const std::string why = drain_errors();
    error_ = "handshake timed out" + (why.empty() ? "" : ": " + why);
    return false;
}

void DtlsPeer::close(Datagrams& wire) {
    if (failed_) return;
    io_.out = &wire;
    ERR_clear_error();
    if (established_) (void)SSL_shutdown(ssl_);  // writes close_notify; no need to wait for the peer's
    ERR_clear_error();
    io_.out = nullptr;
    failed_ = true;
    error_ = "closed";
}

std::optional<std::string> DtlsPeer::peer_certificate_cn() const {
    return verified_peer_common_name(ssl_);
}

bool DtlsPeer::fail(int ssl_error, const char* what) {
    failed_ = true;
    if (ssl_error == SSL_ERROR_ZERO_RETURN) {
        error_ = "closed by the peer (close_notify)";
        ERR_clear_error();
        (void)SSL_shutdown(ssl_);  // answers with our close_notify, into the owner's wire (io_.out is set)
        ERR_clear_error();
        return false;
    }
    error_ = std::string("DTLS ") + what + " failed (SSL error " + std::to_string(ssl_error) + ")";
    const long verify = SSL_get_verify_result(ssl_);
    if (verify != X509_V_OK) {
        error_ += ": ";
        error_ += X509_verify_cert_error_string(verify);
    }
    const std::string why = drain_errors();
    if (!why.empty()) error_ += ": " + why;
    return false;
}

bool DtlsPeer::looks_like_handshake(std::span<const std::byte> in) {
    // Record header (RFC 6347 4.1): type 22 (handshake), version 254.255 (DTLS 1.0) or 254.253 (DTLS 1.2),
    // epoch 0, 6-byte sequence number, 2-byte length; 13 bytes in all.
    if (in.size() < 13) return false;
    const auto byte = [&](std::size_t i) { return std::to_integer<unsigned>(in[i]); };
    return byte(0) == 22 && byte(1) == 254 && (byte(2) == 255 || byte(2) == 253) && byte(3) == 0 && byte(4) == 0;
}

}  // namespace moth::net
