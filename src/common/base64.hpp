#pragma once
// Base64 (RFC 4648), shared by the HTTP API (payload_base64, Basic auth) and moth --json.
#include <optional>
#include <string>
#include <string_view>

namespace moth::common {

// Standard alphabet, with padding.
[[nodiscard]] std::string base64_encode(std::string_view bytes);
// Accepts the standard and the URL-safe alphabet, with or without padding; nullopt for any other character or a
// length that cannot be base64.
[[nodiscard]] std::optional<std::string> base64_decode(std::string_view text);

}  // namespace moth::common
