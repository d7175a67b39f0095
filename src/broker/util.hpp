#pragma once
// Small helpers the broker core's rooms share.
#include <cstdint>
#include <string_view>

#include "codec/types.hpp"

namespace moth::broker {

[[nodiscard]] inline bool is_v5(codec::ProtocolVersion v) { return v == codec::ProtocolVersion::V5; }

[[nodiscard]] inline codec::QoS min_qos(codec::QoS a, codec::QoS b) {
    return static_cast<std::uint8_t>(a) < static_cast<std::uint8_t>(b) ? a : b;
}

[[nodiscard]] inline std::string_view as_text(codec::Bytes b) {
    return {reinterpret_cast<const char*>(b.data()), b.size()};
}

}  // namespace moth::broker
