#pragma once
// Inside the option parser: -L/--url.
#include <optional>
#include <string>
#include <string_view>

#include "options.hpp"

namespace moth::cli {

// -L mqtt(s)://[username[:password]@]host[:port]/topic, and ws(s)://...[/path] (moth's addition): sets the
// scheme, credentials, host, port and topic (or WebSocket path) in `o`. Returns mosquitto's error text on failure.
[[nodiscard]] std::optional<std::string> apply_url(Options& o, std::string_view url);

}  // namespace moth::cli
