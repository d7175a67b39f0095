// libFuzzer target for SCRAM-SHA-256 (src/auth/scram.hpp): the four message parsers, the password-file form, and
// a ScramServer (and ScramClient) driven by what a peer could send. The input is split at its first '\n': the
// first part is client-first for the server (and server-first for the client), the rest client-final (and
// server-final). Oracles beyond "does not crash or read out of bounds": what decodes re-encodes to the same text,
// a server never succeeds on a proof that does not verify on the client's side of the RFC 7677 vector, and every
// step's message is what the grammar says.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "auth/scram.hpp"
#include "common/base64.hpp"

namespace {

using namespace moth::auth;

const ScramCredential& pencil() {
    // RFC 7677 section 3's user: derived once, so that each input costs HMACs, not PBKDF2.
    static const ScramCredential c =
        scram_credential("pencil", *moth::common::base64_decode("W22ZaJ0SNY7soEsUEjb6gQ=="), 4096);
    return c;
}

void check(bool invariant) {
    if (!invariant) std::abort();
}

void parsers(std::string_view text) {
    if (const auto cf = parse_client_first(text)) {
        check(!cf->nonce.empty() && !cf->username.empty() && cf->gs2_header.size() == 3);
        check(text.substr(3) == cf->bare);
    }
    if (const auto sf = parse_server_first(text)) {
        check(!sf->nonce.empty() && !sf->salt.empty() && sf->iterations > 0);
    }
    if (const auto cf = parse_client_final(text)) {
        check(!cf->proof.empty() && text.starts_with(cf->without_proof));
        check(text.size() > cf->without_proof.size() && text.substr(cf->without_proof.size()).starts_with(",p="));
    }
    if (const auto sf = parse_server_final(text)) check(sf->error.empty() != sf->verifier.empty());
    if (const auto c = scram_decode(text)) check(scram_encode(*c) == text);
}

void server(std::string_view first, std::string_view final) {
    ScramServer s([](std::string_view user) { return user == "user" ? std::optional(pencil()) : std::nullopt; },
                  "fuzz secret", "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
    const auto a = s.first(first);
    if (a.status == ScramServer::Status::Failure) {
        check(a.message.starts_with("e="));
        check(s.final(final).status == ScramServer::Status::Failure);
        return;
    }
    check(a.status == ScramServer::Status::Continue && parse_server_first(a.message).has_value());
    const auto b = s.final(final);
    if (b.status == ScramServer::Status::Success) {
        const auto sf = parse_server_final(b.message);
        check(sf && sf->verifier.size() == 32 && s.username() == "user");
    } else {
        check(b.status == ScramServer::Status::Failure && b.message.starts_with("e="));
    }
}

void client(std::string_view server_first, std::string_view server_final) {
    const auto sf = parse_server_first(server_first);
    if (!sf || sf->iterations != 4096) return;  // higher counts only cost time; the parser has been fed already
    ScramClient c("user", "pencil", "rOprNGfwEbeRWgbNEkqO");
    const auto r = c.final(server_first);
    if (!r.ok) {
        check(!c.verify(server_final));
        return;
    }
    check(parse_client_final(r.message).has_value());
    (void)c.verify(server_final);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto newline = text.find('\n');
    const std::string_view first = text.substr(0, newline);
    const std::string_view rest = newline == std::string_view::npos ? std::string_view{} : text.substr(newline + 1);
    parsers(text);
    parsers(first);
    parsers(rest);
    server(first, rest);
    client(first, rest);
    return 0;
}
