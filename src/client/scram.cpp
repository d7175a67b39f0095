// ScramAuthenticator (include/moth/scram.hpp): ConnectOptions::on_auth for SCRAM-SHA-256 over auth::ScramClient.
// on_auth cannot tell a CONNECT exchange from a re-authentication, so the message itself decides: "r=..." is a
// server-first (answered by the client whose nonce it extends), anything else is the broker's final word.
#include <moth/scram.hpp>

#include <mutex>
#include <optional>
#include <utility>

#include "auth/scram.hpp"

namespace moth {

struct ScramAuthenticator::State {
    State(std::string u, std::string p) : username(std::move(u)), password(std::move(p)), connect(username, password) {}

    Result<std::vector<std::byte>> step(std::span<const std::byte> data);

    mutable std::mutex mutex;
    std::string username;
    std::string password;
    auth::ScramClient connect;                // its client-first goes in every CONNECT, reconnects included
    std::optional<auth::ScramClient> reauth;  // the latest reauthentication_data()
    auth::ScramClient* pending = nullptr;     // sent client-final, awaits server-final
    bool verified = false;
};

namespace {

Error scram_error(std::string message) {
    return Error{Error::Kind::Protocol, 0, "SCRAM-SHA-256: " + std::move(message)};
}

std::vector<std::byte> to_bytes(std::string_view s) {
    const auto* p = reinterpret_cast<const std::byte*>(s.data());
    return {p, p + s.size()};
}

}  // namespace

Result<std::vector<std::byte>> ScramAuthenticator::State::step(std::span<const std::byte> data) {
    const std::string_view text(reinterpret_cast<const char*>(data.data()), data.size());
    std::lock_guard lock(mutex);
    if (text.starts_with("r=")) {
        const auto first = auth::parse_server_first(text);
        auth::ScramClient* client = &connect;
        if (reauth && first && first->nonce.starts_with(reauth->nonce())) client = &*reauth;
        auto answer = client->final(text);
        if (!answer.ok) return scram_error(answer.message);
        pending = client;
        verified = false;
        return to_bytes(answer.message);
    }
    auth::ScramClient* client = std::exchange(pending, nullptr);
    if (client == nullptr) return scram_error("the broker accepted without a SCRAM exchange (no server-first)");
    if (text.empty()) return scram_error("the broker sent no server-final message: it did not prove itself");
    if (text.starts_with("e=")) return scram_error("the broker refused: " + std::string(text));
    if (!client->verify(text)) return scram_error("the broker's server signature does not verify");
    verified = true;
    return std::vector<std::byte>{};
}

ScramAuthenticator ScramAuthenticator::configure(ConnectOptions& options, std::string username, std::string password) {
    auto state = std::make_shared<State>(std::move(username), std::move(password));
    options.authentication_method = std::string(kScramSha256Method);
    options.authentication_data = to_bytes(state->connect.first());
    options.password.reset();
    options.on_auth = [state](std::span<const std::byte> data) { return state->step(data); };
    return ScramAuthenticator(state);
}

std::vector<std::byte> ScramAuthenticator::reauthentication_data() {
    std::lock_guard lock(state_->mutex);
    state_->reauth.emplace(state_->username, state_->password);
    state_->pending = nullptr;
    state_->verified = false;
    return to_bytes(state_->reauth->first());
}

bool ScramAuthenticator::verified() const {
    std::lock_guard lock(state_->mutex);
    return state_->verified;
}

}  // namespace moth
