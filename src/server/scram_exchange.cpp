// MQTT 5.0 enhanced authentication with SCRAM-SHA-256 (RFC 5802/7677) against the password file's SCRAM entries:
// CONNECT (client-first) -> AUTH 0x18 (server-first) -> AUTH 0x18 (client-final) -> CONNACK with server-final; a
// re-authentication (AUTH 0x19) runs the same exchange again on the connected client.
#include "auth/password_file.hpp"
#include "auth/scram.hpp"
#include "server/access_rules.hpp"

namespace moth::server {

using broker::AuthDecision;
using codec::ReasonCode;

namespace {

// The connection's exchange: the server's state between AUTH steps, and the password file it looks users up in
// (kept alive across a reload that happens mid-exchange).
struct ScramExchange final : broker::AuthExchange {
    ScramExchange(std::shared_ptr<const auth::PasswordFile> file, std::string_view secret)
        : passwords(std::move(file)),
          server([p = passwords.get()](std::string_view user) { return p->scram_of(user); }, secret) {}
    std::shared_ptr<const auth::PasswordFile> passwords;
    auth::ScramServer server;
};

std::string_view text(const std::optional<codec::Bytes>& data) {
    if (!data) return {};
    return {reinterpret_cast<const char*>(data->data()), data->size()};
}

std::vector<std::byte> bytes(std::string_view s) {
    const auto* b = reinterpret_cast<const std::byte*>(s.data());
    return {b, b + s.size()};
}

}  // namespace

bool AccessControl::supports_method(std::string_view method, std::string_view listener) const {
    const auto rules = rules_.load(std::memory_order_acquire);
    // SCRAM checks the password file: offered where the file is in the listener's chain.
    return method == auth::kScramSha256 && rules->passwords && rules->in_chain(listener, "file");
}

AuthDecision AccessControl::exchange(const Rules& rules, const broker::AuthRequest& request, unsigned step) {
    if (request.method != auth::kScramSha256 || request.exchange == nullptr || !rules.passwords ||
        !rules.in_chain(request.listener, "file")) {
        return AuthDecision::deny(ReasonCode::BadAuthenticationMethod);
    }
    auto& slot = *request.exchange;
    if (step == 0) {
        auto ex = std::make_unique<ScramExchange>(rules.passwords, scram_secret_);
        const auto s = ex->server.first(text(request.data));
        if (s.status != auth::ScramServer::Status::Continue) {
            if (log_) log_(1, "client " + std::string(request.client_id) + " from " + std::string(request.remote) +
                                  ": SCRAM client-first refused (" + s.message + ")");
            return AuthDecision::deny(ReasonCode::BadUserNameOrPassword);
        }
        // A CONNECT's User Name, when given, must be the user the exchange proves.
        if (!request.reauthenticating && request.username && *request.username != ex->server.username()) {
            return AuthDecision::deny(ReasonCode::BadUserNameOrPassword);
        }
        slot = std::move(ex);
        return AuthDecision::more(bytes(s.message));
    }
    auto* ex = dynamic_cast<ScramExchange*>(slot.get());
    if (step != 1 || ex == nullptr) return AuthDecision::deny(ReasonCode::ProtocolError);
    const auto s = ex->server.final(text(request.data));
    if (s.status != auth::ScramServer::Status::Success) {
        if (log_) log_(1, "client " + std::string(request.client_id) + " from " + std::string(request.remote) +
                              ": SCRAM proof refused for user " + ex->server.username() + " (" + s.message + ")");
        slot.reset();
        return AuthDecision::deny(ReasonCode::BadUserNameOrPassword);
    }
    AuthDecision d = AuthDecision::allow(bytes(s.message));  // server-final: the client checks the server too
    d.username = ex->server.username();
    slot.reset();
    return d;
}

}  // namespace moth::server
