#pragma once
// Conversions between the public client types (owning strings and vectors) and the codec's view types, and the
// construction of moth::Error values.
#include <exception>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <moth/client.hpp>

#include "codec/packets.hpp"

namespace moth::client {

[[nodiscard]] inline codec::Bytes as_bytes(std::string_view s) noexcept {
    return std::as_bytes(std::span<const char>(s.data(), s.size()));
}
[[nodiscard]] inline std::string_view as_text(codec::Bytes b) noexcept {
    return {reinterpret_cast<const char*>(b.data()), b.size()};
}
[[nodiscard]] inline std::vector<std::byte> copy_bytes(codec::Bytes b) { return {b.begin(), b.end()}; }

[[nodiscard]] std::vector<UserProperty> copy_user_properties(std::span<const codec::UserProperty> in);
// Views of `in` (which must outlive the result); `storage` backs the user property list.
[[nodiscard]] std::span<const codec::UserProperty> view_user_properties(const std::vector<UserProperty>& in,
                                                                        std::vector<codec::UserProperty>& storage);
[[nodiscard]] codec::Properties view_message_properties(const MessageProperties& in,
                                                        std::vector<codec::UserProperty>& storage);
[[nodiscard]] MessageProperties copy_message_properties(const codec::Properties& in);

[[nodiscard]] Error make_error(Error::Kind kind, std::string message, std::uint8_t reason = 0);
// "Not authorized" or "Not authorized: <reason string>", kind Refused.
[[nodiscard]] Error refused(codec::ReasonCode code, codec::PacketType packet,
                            std::optional<std::string_view> reason_string = {});
// From an exception the transport threw.
[[nodiscard]] Error network_error(const std::exception& e, std::string_view context);

}  // namespace moth::client
