#include "server/connection_guard.hpp"

#include "common/error_text.hpp"

namespace moth::server {

namespace {

// Runs one step of the failure handling; a throw there costs only what that step would have given.
template <class Step>
bool attempt(Step&& step, std::string* error = nullptr) noexcept {
    try {
        std::forward<Step>(step)();
        return true;
    } catch (const std::exception& e) {
        if (error != nullptr) *error = e.what();
    } catch (...) {
        if (error != nullptr) *error = "an exception not derived from std::exception";
    }
    return false;
}

}  // namespace

std::string_view core_call_name(CoreCall call) {
    switch (call) {
        case CoreCall::Open:
            return "Core::on_open";
        case CoreCall::Data:
            return "Core::on_data";
        case CoreCall::Drained:
            return "Core::on_drained";
        case CoreCall::Closed:
            return "Core::on_closed";
    }
    return "Core";
}

void ConnectionGuard::failed(broker::ConnectionId id, CoreCall what, std::string_view error,
                             std::string_view remote) noexcept {
    // Who it was, before the core is told and forgets the connection.
    std::optional<std::string> client_id;
    std::optional<std::string> address;
    if (hooks_.client_id) attempt([&] { client_id = hooks_.client_id(id); });
    if (!remote.empty()) {
        attempt([&] { address = std::string(remote); });
    } else if (hooks_.remote) {
        attempt([&] { address = hooks_.remote(id); });
    }
    if (hooks_.close) attempt([&] { hooks_.close(id); });
    // A failing on_closed is not called again: the core already had its one chance to end the connection.
    std::string closed_error;
    const bool closed_failed =
        what != CoreCall::Closed && hooks_.closed && !attempt([&] { hooks_.closed(id); }, &closed_error);
    // Single writer (this worker's thread), as broker::Stats::add.
    failures_.store(failures_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    if (!hooks_.log) return;
    attempt([&] {
        std::string line = "closing " + (address ? *address : std::string("an unknown address"));
        if (client_id) line += " (" + *client_id + ")";
        line += ": internal error in ";
        line += core_call_name(what);
        line += ": " + common::error_text(error);
        if (closed_failed) line += "; Core::on_closed failed too: " + common::error_text(closed_error);
        line += " (closed as for a network failure; the worker serves its other connections)";
        hooks_.log(3, line);
    });
}

}  // namespace moth::server
