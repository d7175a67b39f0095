// DTLS 1.2 peers over memory (src/net/dtls.hpp): a client and a server wired to each other in the test, no sockets.
// Handshake with cookie exchange (RFC 6347 4.2.1), application datagrams, retransmission (4.2.4), verification,
// garbage, close_notify. Certificates are made here with OpenSSL, like mothd's development certificate.
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <cstdlib>
#include <chrono>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "net/dtls.hpp"

namespace moth::net {
namespace {

namespace fs = std::filesystem;

// ---- certificates ----

struct Free {
    void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
    void operator()(X509* p) const { X509_free(p); }
    void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
    void operator()(FILE* p) const { std::fclose(p); }
};
using Key = std::unique_ptr<EVP_PKEY, Free>;
using Cert = std::unique_ptr<X509, Free>;

void check(bool ok, const char* what) {
    if (!ok) throw std::runtime_error(std::string("test certificate: ") + what);
}

Key new_key() {
    Key key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    check(key != nullptr, "key");
    return key;
}

void add_ext(X509* cert, X509* issuer, int nid, const char* value) {
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, issuer, cert, nullptr, nullptr, 0);
    std::unique_ptr<X509_EXTENSION, Free> ext(X509V3_EXT_conf_nid(nullptr, &v3, nid, value));
    check(ext != nullptr && X509_add_ext(cert, ext.get(), -1) == 1, value);
}

// `issuer` null: a self-signed CA. Otherwise an end-entity certificate for `usage` (serverAuth or clientAuth).
Cert make_cert(EVP_PKEY* key, const char* cn, X509* issuer, EVP_PKEY* issuer_key, const char* usage) {
    static long serial = 1;
    Cert cert(X509_new());
    check(cert != nullptr && X509_set_version(cert.get(), 2) == 1, "version");
    check(ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial++) == 1, "serial");
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400);
    check(X509_set_pubkey(cert.get(), key) == 1, "public key");
    X509_NAME* name = X509_get_subject_name(cert.get());
    check(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn), -1, -1,
                                     0) == 1,
          "CN");
    X509* signer = issuer != nullptr ? issuer : cert.get();
    check(X509_set_issuer_name(cert.get(), X509_get_subject_name(signer)) == 1, "issuer");
    add_ext(cert.get(), signer, NID_subject_key_identifier, "hash");
    if (issuer == nullptr) {
        add_ext(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
        add_ext(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        add_ext(cert.get(), signer, NID_authority_key_identifier, "keyid:always");
        add_ext(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE");
        add_ext(cert.get(), signer, NID_key_usage, "critical,digitalSignature");
        add_ext(cert.get(), signer, NID_ext_key_usage, usage);
        add_ext(cert.get(), signer, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
    }
    check(X509_sign(cert.get(), issuer_key != nullptr ? issuer_key : key, EVP_sha256()) > 0, "sign");
    return cert;
}

void write_pem(const fs::path& path, X509* cert, EVP_PKEY* key) {
    std::unique_ptr<FILE, Free> f(std::fopen(path.c_str(), "wb"));
    check(f != nullptr, "open");
    if (cert != nullptr) check(PEM_write_X509(f.get(), cert) == 1, "write certificate");
    if (key != nullptr)
        check(PEM_write_PrivateKey(f.get(), key, nullptr, nullptr, 0, nullptr, nullptr) == 1, "write key");
}

// A CA, a server certificate for localhost/127.0.0.1, a client certificate (CN sensor-1), and another CA.
struct Pki {
    fs::path dir;
    std::string ca, other_ca, server_cert, server_key, client_cert, client_key;

    Pki() {
        std::string pattern = (fs::temp_directory_path() / "moth-dtls-XXXXXX").string();
        check(::mkdtemp(pattern.data()) != nullptr, "mkdtemp");
        dir = pattern;
        const auto file = [&](const char* name) { return (dir / name).string(); };
        ca = file("ca.pem"), other_ca = file("other-ca.pem");
        server_cert = file("server.pem"), server_key = file("server.key");
        client_cert = file("client.pem"), client_key = file("client.key");
        Key ca_key = new_key(), other_key = new_key(), server_k = new_key(), client_k = new_key();
        Cert ca_cert = make_cert(ca_key.get(), "Moth test CA", nullptr, nullptr, nullptr);
        Cert other = make_cert(other_key.get(), "Moth other CA", nullptr, nullptr, nullptr);
        write_pem(ca, ca_cert.get(), nullptr);
        write_pem(other_ca, other.get(), nullptr);
        write_pem(server_cert, make_cert(server_k.get(), "localhost", ca_cert.get(), ca_key.get(), "serverAuth").get(),
                  nullptr);
        write_pem(server_key, nullptr, server_k.get());
        write_pem(client_cert, make_cert(client_k.get(), "sensor-1", ca_cert.get(), ca_key.get(), "clientAuth").get(),
                  nullptr);
        write_pem(client_key, nullptr, client_k.get());
    }
    ~Pki() {
        std::error_code ignored;
        fs::remove_all(dir, ignored);
    }
};

// ---- records ----

std::vector<std::byte> bytes(const std::string& text) {
    std::vector<std::byte> out;
    for (const char c : text) out.push_back(static_cast<std::byte>(c));
    return out;
}

unsigned at(const std::vector<std::byte>& d, std::size_t i) {
    return i < d.size() ? std::to_integer<unsigned>(d[i]) : 0x100;
}
std::size_t at_(const std::vector<std::byte>& d, std::size_t i) {
    return i < d.size() ? std::to_integer<std::size_t>(d[i]) : 0;
}
// RFC 6347 4.1: content type at 0 (20 change_cipher_spec, 21 alert, 22 handshake, 23 application data), epoch at 3.
unsigned content_type(const std::vector<std::byte>& d) { return at(d, 0); }
// The handshake message type of a plaintext (epoch 0) handshake record: 1 ClientHello, 2 ServerHello,
// 3 HelloVerifyRequest, 11 Certificate; after the 13-byte record header.
unsigned handshake_type(const std::vector<std::byte>& d) {
    return content_type(d) == 22 && at(d, 3) == 0 && at(d, 4) == 0 ? at(d, 13) : 0x100;
}
// The handshake message types of every plaintext record of a datagram (OpenSSL may pack a flight into one datagram,
// and send each record alone when it retransmits).
std::vector<unsigned> handshake_types(const Datagrams& datagrams) {
    std::vector<unsigned> out;
    for (const auto& d : datagrams) {
        for (std::size_t r = 0; r + 14 <= d.size(); r += 13 + (at_(d, r + 11) << 8 | at_(d, r + 12))) {
            if (at_(d, r) == 22 && at_(d, r + 3) == 0 && at_(d, r + 4) == 0) out.push_back(at(d, r + 13));
        }
    }
    return out;
}
// ClientHello body (after the 12-byte handshake header): version 2, random 32, session id (length + bytes), then
// the cookie's length.
unsigned client_hello_cookie_length(const std::vector<std::byte>& d) {
    const std::size_t session_id = 13 + 12 + 2 + 32;
    return at(d, session_id + 1 + at(d, session_id));
}

// ---- the two peers and the wire between them ----

class DtlsTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() { pki_ = new Pki(); }
    static void TearDownTestSuite() {
        delete pki_;
        pki_ = nullptr;
    }
    static const Pki& pki() { return *pki_; }

    void make_peers(std::shared_ptr<SSL_CTX> server_ctx, std::shared_ptr<SSL_CTX> client_ctx,
                    const std::string& name = "localhost") {
        server_ = DtlsPeer::server(std::move(server_ctx), "127.0.0.1:40000");
        client_ = DtlsPeer::client(std::move(client_ctx), name);
    }
    void make_peers() {
        make_peers(make_dtls_server_context(pki().server_cert, pki().server_key, "", false),
                   make_dtls_client_context(pki().ca, true, "", ""));
    }

    // Delivers what is in flight, both ways, until neither side has anything to say.
    void pump() {
        while (!to_server_.empty() || !to_client_.empty()) {
            for (const auto& d : std::exchange(to_server_, {})) {
                if (content_type(d) == 22) {
                    EXPECT_LE(d.size(), static_cast<std::size_t>(kDtlsMtu)) << "flights fit the MTU";
                }
                server_ok_ = server_->on_datagram(d, server_app_, to_client_) && server_ok_;
            }
            for (const auto& d : std::exchange(to_client_, {})) {
                if (content_type(d) == 22) {
                    EXPECT_LE(d.size(), static_cast<std::size_t>(kDtlsMtu));
                }
                client_ok_ = client_->on_datagram(d, client_app_, to_server_) && client_ok_;
            }
        }
    }
    void handshake() {
        ASSERT_TRUE(client_->start(to_server_));
        pump();
        ASSERT_TRUE(client_->established()) << client_->error();
        ASSERT_TRUE(server_->established()) << server_->error();
    }

    static Pki* pki_;
    std::unique_ptr<DtlsPeer> server_, client_;
    Datagrams to_server_, to_client_, server_app_, client_app_;
    bool server_ok_ = true, client_ok_ = true;
};

Pki* DtlsTest::pki_ = nullptr;

TEST_F(DtlsTest, HandshakeStartsWithAStatelessCookieExchange) {
    make_peers();
    ASSERT_TRUE(client_->start(to_server_));
    ASSERT_EQ(to_server_.size(), 1u);
    EXPECT_EQ(handshake_type(to_server_[0]), 1u);  // ClientHello
    EXPECT_EQ(client_hello_cookie_length(to_server_[0]), 0u);
    EXPECT_TRUE(DtlsPeer::looks_like_handshake(to_server_[0]));

    // RFC 6347 4.2.1: the server answers a ClientHello without a cookie with a HelloVerifyRequest only.
    ASSERT_TRUE(server_->on_datagram(to_server_[0], server_app_, to_client_));
    to_server_.clear();
    ASSERT_EQ(to_client_.size(), 1u);
    EXPECT_EQ(handshake_type(to_client_[0]), 3u);
    EXPECT_FALSE(server_->next_timer()) << "no retransmission state for a HelloVerifyRequest";

    // The client repeats its ClientHello with the cookie (an HMAC-SHA256: 32 bytes).
    ASSERT_TRUE(client_->on_datagram(to_client_[0], client_app_, to_server_));
    to_client_.clear();
    ASSERT_EQ(to_server_.size(), 1u);
    EXPECT_EQ(handshake_type(to_server_[0]), 1u);
    EXPECT_EQ(client_hello_cookie_length(to_server_[0]), 32u);

    pump();
    EXPECT_TRUE(server_ok_ && client_ok_);
    EXPECT_TRUE(client_->established()) << client_->error();
    EXPECT_TRUE(server_->established()) << server_->error();
    EXPECT_EQ(server_->peer_certificate_cn(), std::nullopt) << "no client certificate asked for";
    EXPECT_EQ(client_->peer_certificate_cn(), "localhost");
    EXPECT_TRUE(server_app_.empty() && client_app_.empty());
}

TEST_F(DtlsTest, CookieIsBoundToThePeerAddress) {
    auto server_ctx = make_dtls_server_context(pki().server_cert, pki().server_key, "", false);
    make_peers(server_ctx, make_dtls_client_context(pki().ca, true, "", ""));
    ASSERT_TRUE(client_->start(to_server_));
    ASSERT_TRUE(server_->on_datagram(to_server_[0], server_app_, to_client_));
    to_server_.clear();
    ASSERT_TRUE(client_->on_datagram(to_client_[0], client_app_, to_server_));
    ASSERT_EQ(to_server_.size(), 1u);
    const auto hello_with_cookie = to_server_[0];

    // The same ClientHello from another address (a spoofer replaying it) fails the cookie check.
    auto other = DtlsPeer::server(server_ctx, "198.51.100.7:40000");
    Datagrams app, wire;
    ASSERT_TRUE(other->on_datagram(to_server_.front(), app, wire) == false || wire.empty());
    EXPECT_FALSE(other->established());
    EXPECT_TRUE(app.empty());

    // From the address it was made for, the server goes on to its ServerHello.
    to_client_.clear();
    ASSERT_TRUE(server_->on_datagram(hello_with_cookie, server_app_, to_client_)) << server_->error();
    ASSERT_FALSE(to_client_.empty());
    EXPECT_EQ(handshake_type(to_client_[0]), 2u);  // ServerHello
}

TEST_F(DtlsTest, ApplicationDatagramsGoBothWaysInOrderOneRecordEach) {
    make_peers();
    // Sent before the handshake: queued, then sent when it completes.
    client_->send(bytes("early"), to_server_);
    EXPECT_TRUE(to_server_.empty());
    handshake();
    ASSERT_EQ(server_app_.size(), 1u);
    EXPECT_EQ(server_app_[0], bytes("early"));
    server_app_.clear();

    const std::vector<std::string> up = {"a", "second datagram", std::string(1500, 'x'), "", "last"};
    for (const auto& text : up) client_->send(bytes(text), to_server_);
    ASSERT_EQ(to_server_.size(), 4u) << "one datagram per non-empty plaintext (the empty one is not sent)";
    for (const auto& d : to_server_) EXPECT_EQ(content_type(d), 23u);
    pump();
    ASSERT_EQ(server_app_.size(), 4u);
    EXPECT_EQ(server_app_[0], bytes("a"));
    EXPECT_EQ(server_app_[1], bytes("second datagram"));
    EXPECT_EQ(server_app_[2], bytes(std::string(1500, 'x')));
    EXPECT_EQ(server_app_[3], bytes("last"));

    for (int i = 0; i < 3; ++i) server_->send(bytes("down " + std::to_string(i)), to_client_);
    ASSERT_EQ(to_client_.size(), 3u);
    pump();
    ASSERT_EQ(client_app_.size(), 3u);
    for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(client_app_[i], bytes("down " + std::to_string(i)));
    EXPECT_TRUE(server_ok_ && client_ok_);

    // Too large for one record: dropped, said so, the association goes on.
    client_->send(std::vector<std::byte>(kDtlsMaxPlaintext + 1), to_server_);
    EXPECT_TRUE(to_server_.empty());
    EXPECT_FALSE(client_->error().empty());
    EXPECT_FALSE(client_->closed());
}

// 30 ms instead of 1 s, so the test waits briefly for the deadline next_timer() gives. (OpenSSL counts a timer with
// under 15 ms left as expired, and its own reads retransmit on expiry: a shorter timer would fire inside on_datagram.)
unsigned int thirty_milliseconds(SSL* /*ssl*/, unsigned int /*previous_us*/) {
    return 30'000;
}

TEST_F(DtlsTest, LostFlightIsResentWhenTheTimerFires) {
    make_peers();
    DTLS_set_timer_cb(server_->native_handle(), thirty_milliseconds);
    ASSERT_TRUE(client_->start(to_server_));
    ASSERT_TRUE(server_->on_datagram(to_server_[0], server_app_, to_client_));  // HelloVerifyRequest
    to_server_.clear();
    ASSERT_TRUE(client_->on_datagram(to_client_[0], client_app_, to_server_));  // ClientHello + cookie
    to_client_.clear();
    ASSERT_TRUE(server_->on_datagram(to_server_[0], server_app_, to_client_)) << server_->error();  // flight 4
    to_server_.clear();
    const std::vector<unsigned> lost = handshake_types(to_client_);
    // ServerHello, Certificate, ServerKeyExchange, ServerHelloDone
    EXPECT_EQ(lost, (std::vector<unsigned>{2, 11, 12, 14}));
    to_client_.clear();  // the whole flight is lost

    ASSERT_TRUE(server_->next_timer().has_value());
    ASSERT_TRUE(client_->next_timer().has_value()) << "the client waits for the flight too";
    const auto due = *server_->next_timer();
    while (std::chrono::steady_clock::now() < due) {
        // the timer under test runs on the real clock; at most ~15 ms here
    }
    ASSERT_TRUE(server_->on_timer(to_client_));
    EXPECT_EQ(handshake_types(to_client_), lost);

    pump();
    EXPECT_TRUE(client_->established()) << client_->error();
    EXPECT_TRUE(server_->established()) << server_->error();
}

TEST_F(DtlsTest, ClientRefusesAServerFromAnotherCa) {
    make_peers(make_dtls_server_context(pki().server_cert, pki().server_key, "", false),
               make_dtls_client_context(pki().other_ca, true, "", ""));
    ASSERT_TRUE(client_->start(to_server_));
    pump();
    EXPECT_FALSE(client_ok_);
    EXPECT_FALSE(client_->established());
    EXPECT_NE(client_->error().find("certificate"), std::string::npos) << client_->error();
    EXPECT_FALSE(server_ok_) << "the client's alert ends the server's side too";
    EXPECT_FALSE(server_->established());
    Datagrams wire;
    client_->send(bytes("never"), wire);
    EXPECT_TRUE(wire.empty());
}

TEST_F(DtlsTest, ClientRefusesACertificateForAnotherName) {
    make_peers(make_dtls_server_context(pki().server_cert, pki().server_key, "", false),
               make_dtls_client_context(pki().ca, true, "", ""), "broker.example.com");
    ASSERT_TRUE(client_->start(to_server_));
    pump();
    EXPECT_FALSE(client_->established());
    EXPECT_NE(client_->error().find("hostname mismatch"), std::string::npos) << client_->error();
}

TEST_F(DtlsTest, ClientVerifiesAnAddressAgainstTheIpSans) {
    make_peers(make_dtls_server_context(pki().server_cert, pki().server_key, "", false),
               make_dtls_client_context(pki().ca, true, "", ""), "127.0.0.1");
    handshake();
}

TEST_F(DtlsTest, ServerReportsTheVerifiedClientCertificateCn) {
    make_peers(make_dtls_server_context(pki().server_cert, pki().server_key, pki().ca, true),
               make_dtls_client_context(pki().ca, true, pki().client_cert, pki().client_key));
    handshake();
    EXPECT_EQ(server_->peer_certificate_cn(), "sensor-1");
}

TEST_F(DtlsTest, ServerRequiringACertificateRefusesAClientWithout) {
    make_peers(make_dtls_server_context(pki().server_cert, pki().server_key, pki().ca, true),
               make_dtls_client_context(pki().ca, true, "", ""));
    ASSERT_TRUE(client_->start(to_server_));
    pump();
    EXPECT_FALSE(server_ok_);
    EXPECT_FALSE(server_->established());
    EXPECT_FALSE(server_->error().empty());
}

// Garbage is discarded without output (RFC 6347 4.1.2.7), before and after the handshake: a spoofed datagram can
// neither make the server talk nor end an association.
TEST_F(DtlsTest, GarbageIsDiscardedSilently) {
    make_peers();
    const std::vector<std::vector<std::byte>> garbage = {
        {},
        bytes("x"),
        bytes("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"),
        std::vector<std::byte>(2000, std::byte{0xff}),
        // A record header claiming DTLS 1.2 application data in epoch 1, then noise.
        {std::byte{23}, std::byte{254}, std::byte{253}, std::byte{0}, std::byte{1}, std::byte{0}, std::byte{0},
         std::byte{0}, std::byte{0}, std::byte{0}, std::byte{9}, std::byte{0}, std::byte{4}, std::byte{1},
         std::byte{2}, std::byte{3}, std::byte{4}},
    };
    for (const auto& d : garbage) {
        EXPECT_FALSE(DtlsPeer::looks_like_handshake(d));
        Datagrams app, wire;
        EXPECT_TRUE(server_->on_datagram(d, app, wire)) << server_->error();
        EXPECT_TRUE(app.empty());
        EXPECT_TRUE(wire.empty());
    }
    handshake();  // the same server object still accepts a real client
    for (const auto& d : garbage) {
        Datagrams app, wire;
        EXPECT_TRUE(server_->on_datagram(d, app, wire)) << server_->error();
        EXPECT_TRUE(app.empty());
        EXPECT_TRUE(wire.empty());
    }
    // A genuine record replayed is dropped too (DTLS replay detection), and real data still flows.
    client_->send(bytes("once"), to_server_);
    ASSERT_EQ(to_server_.size(), 1u) << client_->error();
    const auto record = to_server_.at(0);
    pump();
    Datagrams app, wire;
    EXPECT_TRUE(server_->on_datagram(record, app, wire));
    EXPECT_TRUE(app.empty());
    client_->send(bytes("after"), to_server_);
    pump();
    ASSERT_EQ(server_app_.size(), 2u);
    EXPECT_EQ(server_app_[1], bytes("after"));
    EXPECT_TRUE(server_ok_);
}

TEST_F(DtlsTest, CloseNotifyEndsTheAssociation) {
    make_peers();
    handshake();
    client_->close(to_server_);
    ASSERT_EQ(to_server_.size(), 1u);
    EXPECT_EQ(content_type(to_server_[0]), 21u);  // alert (encrypted: close_notify)
    EXPECT_TRUE(client_->closed());

    Datagrams app, answer;
    EXPECT_FALSE(server_->on_datagram(to_server_[0], app, answer));
    EXPECT_TRUE(server_->closed());
    EXPECT_NE(server_->error().find("close_notify"), std::string::npos) << server_->error();
    ASSERT_EQ(answer.size(), 1u) << "the server answers with its own close_notify";
    EXPECT_EQ(content_type(answer[0]), 21u);

    Datagrams wire;
    client_->send(bytes("late"), wire);
    server_->send(bytes("late"), wire);
    EXPECT_TRUE(wire.empty());
    EXPECT_FALSE(client_->on_datagram(answer[0], app, wire));
    EXPECT_FALSE(client_->next_timer());
}

TEST(DtlsContext, BadFilesThrowWithTheFileName) {
    const Pki pki;
    const auto message = [](auto&& make) {
        try {
            make();
        } catch (const std::runtime_error& e) {
            return std::string(e.what());
        }
        return std::string("no exception");
    };
    EXPECT_NE(message([&] { (void)make_dtls_server_context("/nonexistent/cert.pem", pki.server_key, "", false); })
                  .find("/nonexistent/cert.pem"),
              std::string::npos);
    EXPECT_NE(message([&] { (void)make_dtls_server_context(pki.server_cert, pki.client_key, "", false); })
                  .find(pki.client_key),
              std::string::npos);
    EXPECT_NE(message([&] { (void)make_dtls_server_context(pki.server_cert, pki.server_key, "/nonexistent/ca", true); })
                  .find("/nonexistent/ca"),
              std::string::npos);
    EXPECT_NE(message([&] { (void)make_dtls_client_context("/nonexistent/ca", true, "", ""); }).find("/nonexistent/ca"),
              std::string::npos);
    EXPECT_NE(message([&] { (void)make_dtls_client_context(pki.ca, true, pki.client_cert, ""); }).find("both"),
              std::string::npos);
}

}  // namespace
}  // namespace moth::net
