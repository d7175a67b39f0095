// The server's TLS context and its self-made development certificate (OpenSSL 3 API, no `openssl` command).
#include "server/tls.hpp"

#include "net/dtls.hpp"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <stdexcept>

namespace moth::server::detail {

namespace ssl = boost::asio::ssl;
namespace fs = std::filesystem;

std::shared_ptr<ssl::context> make_server_tls_context(const config::Listener& listener, const std::string& cert_file,
                                                      const std::string& key_file) {
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
    ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                     ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
    SSL_CTX* native = ctx->native_handle();
    SSL_CTX_set_min_proto_version(native, listener.tls_min_version == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION);
    if (!listener.tls_max_version.empty())
        SSL_CTX_set_max_proto_version(native, listener.tls_max_version == "1.2" ? TLS1_2_VERSION : TLS1_3_VERSION);
    // The config loader has checked both lists with OpenSSL already; these fail only if a different OpenSSL runs.
    if (!listener.ciphers.empty() && SSL_CTX_set_cipher_list(native, listener.ciphers.c_str()) != 1)
        throw std::runtime_error("ciphers: OpenSSL selects no cipher from \"" + listener.ciphers + "\"");
    if (!listener.ciphersuites.empty() && SSL_CTX_set_ciphersuites(native, listener.ciphersuites.c_str()) != 1)
        throw std::runtime_error("ciphersuites: OpenSSL refuses \"" + listener.ciphersuites + "\"");
    auto load = [&](const std::string& what, const std::string& file, auto&& fn) {
        boost::system::error_code ec;
        fn(ec);
        if (ec) throw std::runtime_error(what + " " + file + ": " + ec.message());
    };
    load("cert_file", cert_file, [&](auto& ec) { ctx->use_certificate_chain_file(cert_file, ec); });
    load("key_file", key_file, [&](auto& ec) { ctx->use_private_key_file(key_file, ssl::context::pem, ec); });
    if (SSL_CTX_check_private_key(ctx->native_handle()) != 1)
        throw std::runtime_error("key_file " + key_file + " does not belong to cert_file " + cert_file);
    if (!listener.ca_file.empty()) {
        load("ca_file", listener.ca_file, [&](auto& ec) { ctx->load_verify_file(listener.ca_file, ec); });
        // Tell clients which CAs their certificate should come from.
        if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(listener.ca_file.c_str()))
            SSL_CTX_set_client_CA_list(ctx->native_handle(), names);
    }
    if (listener.require_client_cert) {
        ctx->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
    } else if (!listener.ca_file.empty()) {
        ctx->set_verify_mode(ssl::verify_peer);  // asked for, verified when given, not required
    } else {
        ctx->set_verify_mode(ssl::verify_none);
    }
    return ctx;
}

std::string peer_common_name(SSL* ssl) {
    // One reading of a certificate's CN for TLS and DTLS (src/net/dtls.hpp); "" when there is none.
    return net::verified_peer_common_name(ssl).value_or(std::string());
}

namespace {

struct Free {
    void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
    void operator()(X509* p) const { X509_free(p); }
    void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
    void operator()(FILE* p) const { std::fclose(p); }
};
using Key = std::unique_ptr<EVP_PKEY, Free>;
using Cert = std::unique_ptr<X509, Free>;

[[noreturn]] void fail(const std::string& what) {
    char buf[256] = {};
    ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
    throw std::runtime_error("development certificate: " + what + ": " + buf);
}

void check(int ok, const char* what) {
    if (ok != 1) fail(what);
}

Key new_key() {
    Key key(EVP_EC_gen("P-256"));
    if (!key) fail("generate key");
    return key;
}

void add_ext(X509* cert, X509* issuer, int nid, const char* value) {
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, issuer, cert, nullptr, nullptr, 0);
    std::unique_ptr<X509_EXTENSION, Free> ext(X509V3_EXT_conf_nid(nullptr, &v3, nid, value));
    if (!ext) fail(std::string("extension ") + value);
    check(X509_add_ext(cert, ext.get(), -1), "add extension");
}

// `issuer`/`issuer_key` null: self-signed.
Cert make_cert(EVP_PKEY* key, const char* common_name, long serial, X509* issuer, EVP_PKEY* issuer_key, bool ca) {
    Cert cert(X509_new());
    if (!cert) fail("X509_new");
    check(X509_set_version(cert.get(), 2), "set version");
    check(ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial), "set serial");
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), ca ? 10L * 365 * 86400 : 825L * 86400);
    check(X509_set_pubkey(cert.get(), key), "set public key");
    X509_NAME* name = X509_get_subject_name(cert.get());
    check(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("Moth development"),
                                     -1, -1, 0),
          "set O");
    check(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(common_name), -1,
                                     -1, 0),
          "set CN");
    X509* signer = issuer != nullptr ? issuer : cert.get();
    check(X509_set_issuer_name(cert.get(), X509_get_subject_name(signer)), "set issuer");
    add_ext(cert.get(), signer, NID_subject_key_identifier, "hash");
    if (ca) {
        add_ext(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
        add_ext(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        add_ext(cert.get(), signer, NID_authority_key_identifier, "keyid:always");
        add_ext(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE");
        add_ext(cert.get(), signer, NID_key_usage, "critical,digitalSignature,keyEncipherment");
        add_ext(cert.get(), signer, NID_ext_key_usage, "serverAuth");
        add_ext(cert.get(), signer, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1");
    }
    if (X509_sign(cert.get(), issuer_key != nullptr ? issuer_key : key, EVP_sha256()) <= 0) fail("sign");
    return cert;
}

// Written to a temporary name and renamed, so a crash never leaves half a file that a later start would reuse.
template <class Fn>
void write_pem(const fs::path& path, bool secret, Fn&& fn) {
    const fs::path tmp = path.string() + ".tmp";
    std::unique_ptr<FILE, Free> f(std::fopen(tmp.c_str(), "wb"));
    if (!f) throw std::runtime_error("development certificate: cannot write " + tmp.string());
    if (secret) ::chmod(tmp.c_str(), 0600);
    if (fn(f.get()) != 1) fail("write " + path.string());
    if (std::fclose(f.release()) != 0) throw std::runtime_error("development certificate: cannot write " + tmp.string());
    fs::rename(tmp, path);
}

}  // namespace

DevCertificate ensure_dev_certificate(const std::string& dir) {
    const fs::path base = fs::path(dir) / "tls";
    DevCertificate out{(base / "moth-dev-ca.pem").string(), (base / "moth-dev-server.pem").string(),
                       (base / "moth-dev-server.key").string(), false};
    if (fs::exists(out.ca_file) && fs::exists(out.cert_file) && fs::exists(out.key_file)) return out;
    fs::create_directories(base);
    Key ca_key = new_key();
    Cert ca = make_cert(ca_key.get(), "Moth development CA", 1, nullptr, nullptr, true);
    Key key = new_key();
    Cert cert = make_cert(key.get(), "localhost", 2, ca.get(), ca_key.get(), false);
    // The CA's key is written too, next to the CA, so that a developer can issue client certificates with it.
    write_pem(base / "moth-dev-ca.key", true, [&](FILE* f) {
        return PEM_write_PrivateKey(f, ca_key.get(), nullptr, nullptr, 0, nullptr, nullptr);
    });
    write_pem(out.key_file, true, [&](FILE* f) {
        return PEM_write_PrivateKey(f, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
    });
    write_pem(out.cert_file, false, [&](FILE* f) {
        return PEM_write_X509(f, cert.get()) == 1 && PEM_write_X509(f, ca.get()) == 1 ? 1 : 0;
    });
    write_pem(out.ca_file, false, [&](FILE* f) { return PEM_write_X509(f, ca.get()); });  // last: marks completion
    out.created = true;
    return out;
}

}  // namespace moth::server::detail
