#include "config/tls_names.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <memory>

namespace moth::config {

namespace {

struct CtxFree {
    void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
using Ctx = std::unique_ptr<SSL_CTX, CtxFree>;

Ctx new_ctx() {
    return Ctx(SSL_CTX_new(TLS_server_method()));
}

std::string quote(std::string_view s) {
    return "\"" + std::string(s) + "\"";
}

// Whether OpenSSL turns `list` into a non-empty TLS <= 1.2 cipher list.
bool selects_something(const std::string& list) {
    Ctx ctx = new_ctx();
    const bool ok = ctx && SSL_CTX_set_cipher_list(ctx.get(), list.c_str()) == 1;
    ERR_clear_error();
    return ok;
}

}  // namespace

std::optional<std::string> tls_cipher_list_problem(std::string_view list) {
    if (list.empty()) return std::nullopt;
    if (!selects_something(std::string(list))) {
        return "OpenSSL selects no cipher from " + quote(list) + " (see `openssl ciphers -v '<list>'`)";
    }
    // OpenSSL skips names it does not know as long as something else matched; a typo would go unnoticed. So each
    // name that adds ciphers must select some on its own. ('!'/'-'/'+' entries and "@STRENGTH"/"@SECLEVEL=n" are
    // not checked: "!RC4" names ciphers this OpenSSL may not have at all, which is what the user wants.)
    std::size_t start = 0;
    while (start <= list.size()) {
        std::size_t end = list.find_first_of(": ,;", start);
        if (end == std::string_view::npos) end = list.size();
        const std::string_view item = list.substr(start, end - start);
        start = end + 1;
        if (item.empty() || item.front() == '!' || item.front() == '-' || item.front() == '+' || item.front() == '@')
            continue;
        if (!selects_something(std::string(item))) {
            return "unknown cipher or cipher group " + quote(item) + " (see `openssl ciphers -v ALL`)";
        }
    }
    return std::nullopt;
}

std::optional<std::string> tls_ciphersuites_problem(std::string_view list) {
    if (list.empty()) return std::nullopt;
    std::size_t start = 0;
    while (start <= list.size()) {
        std::size_t end = list.find(':', start);
        if (end == std::string_view::npos) end = list.size();
        const std::string item(list.substr(start, end - start));
        start = end + 1;
        if (item.empty()) return "empty suite name in " + quote(list);
        // OpenSSL ignores unknown names in a suite list; asking for one name at a time and looking at what it
        // selected tells a typo apart.
        Ctx ctx = new_ctx();
        bool known = false;
        if (ctx && SSL_CTX_set_ciphersuites(ctx.get(), item.c_str()) == 1) {
            const STACK_OF(SSL_CIPHER)* selected = SSL_CTX_get_ciphers(ctx.get());
            for (int i = 0; selected != nullptr && i < sk_SSL_CIPHER_num(selected); ++i) {
                if (item == SSL_CIPHER_get_name(sk_SSL_CIPHER_value(selected, i))) known = true;
            }
        }
        ERR_clear_error();
        if (!known) {
            return "unknown TLS 1.3 cipher suite " + quote(item) +
                   " (known: TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256, "
                   "TLS_AES_128_CCM_SHA256, TLS_AES_128_CCM_8_SHA256)";
        }
    }
    return std::nullopt;
}

}  // namespace moth::config
