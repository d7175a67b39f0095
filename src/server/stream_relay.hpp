#pragma once
// Inside the server: serving a TLS or WebSocket stream whose handshake is done (stream_relay.cpp). The
// connection stays on the worker that accepted it; when its CONNECT belongs to another worker's core, that core
// serves it through a relay entry (stream_connection.hpp, docs/architecture.md "TLS and WebSocket connections").
#include <memory>
#include <optional>
#include <string>

#include "net/stream.hpp"
#include "server/stream_connection.hpp"
#include "server/worker.hpp"

namespace moth::server::detail {

// On worker `w`'s thread: registers `stream` with w's core as a connection of the listener `tag` (holding `slot`,
// `username` from the client certificate with use_cn_as_username) and starts reading it. When the core's
// on_open throws, the connection is closed already and nothing is started.
void serve_stream(Worker& w, std::shared_ptr<net::Stream> stream, std::string remote,
                  std::optional<std::string> username, std::shared_ptr<ConnectionSlot> slot,
                  std::shared_ptr<const broker::ListenerTag> tag);

}  // namespace moth::server::detail
