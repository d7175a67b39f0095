// ScramAuthenticator (include/moth/scram.hpp): ConnectOptions::on_auth (server-first -> client-final) and
// on_auth_complete (server-final, verified) for SCRAM-SHA-256 over auth::ScramClient. on_auth cannot tell a CONNECT
// exchange from a re-authentication, so the nonce decides which client answers: the one whose nonce it extends.
#include <moth/scram.hpp>

#include <mutex>
#include <optional>
#include <utility>

#include "auth/scram.hpp"

namespace moth {

struct ScramAuthenticator::State {
    State(std::string u, std::string p) : username(std::move(u)), password(std::move(p)), connect(username, password) {}

    Result<std::vector<std::byte>> answer(std::span<const std::byte> server_first);
    Result<void> complete(std::span<const std::byte> server_final);

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

Result<std::vector<std::byte>> ScramAuthenticator::State::answer(std::span<const std::byte> server_first) {
    const std::string_view text(reinterpret_cast<const char*>(server_first.data()), server_first.size());
    std::lock_guard lock(mutex);
    pending = nullptr;
    verified = false;
    const auto parsed = auth::parse_server_first(text);
    auth::ScramClient* client = &connect;
    if (reauth && parsed && parsed->nonce.starts_with(reauth->nonce())) client = &*reauth;
    auto reply = client->final(text);
    if (!reply.ok) return scram_error(reply.message);
    pending = client;
    return to_bytes(reply.message);
}

Result<void> ScramAuthenticator::State::complete(std::span<const std::byte> server_final) {
    const std::string_view text(reinterpret_cast<const char*>(server_final.data()), server_final.size());
    std::lock_guard lock(mutex);
    auth::ScramClient* client = std::exchange(pending, nullptr);
    if (client == nullptr) return scram_error("the broker accepted without completing the exchange");
    if (text.empty()) return scram_error("the broker sent no server-final message: it did not prove itself");
    if (text.starts_with("e=")) return scram_error("the broker refused: " + std::string(text));
    if (!client->verify(text)) return scram_error("the broker's server signature does not verify");
    verified = true;
    return {};
}

ScramAuthenticator ScramAuthenticator::configure(ConnectOptions& options, std::string username, std::string password) {
    auto state = std::make_shared<State>(std::move(username), std::move(password));
    options.authentication_method = std::string(kScramSha256Method);
    options.authentication_data = to_bytes(state->connect.first());
    options.password.reset();
    options.on_auth = [state](std::span<const std::byte> data) { return state->answer(data); };
    options.on_auth_complete = [state](std::span<const std::byte> data) { return state->complete(data); };
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
