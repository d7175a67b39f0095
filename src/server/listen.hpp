#pragma once
// Opening a listener's socket: resolve, bind, listen. Start-up only (the main thread, before the workers run).
#include <cstddef>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "config/config.hpp"

namespace moth::server::detail {

// A listening, non-blocking socket for `lc` (listener number `index`, named `name`). Throws ListenerStartError
// (server.hpp) naming `bind` when the address does not resolve and `port` when it cannot be bound (taken,
// privileged, not a local address).
[[nodiscard]] std::unique_ptr<boost::asio::ip::tcp::acceptor> open_acceptor(boost::asio::io_context& ioc,
                                                                           const config::Listener& lc,
                                                                           std::size_t index, const std::string& name);

}  // namespace moth::server::detail
