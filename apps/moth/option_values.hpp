#pragma once
// Inside the option parser (options.cpp and its parts): the word-to-value conversions that mosquitto's clients
// apply, shared by the flag checks, -L and -D.
#include <charconv>
#include <cstddef>
#include <optional>
#include <string_view>
#include <system_error>
#include <vector>

#include <moth/client.hpp>

#include "codec/topic.hpp"

namespace moth::cli {

// The whole of `s` as a number of type T (no sign for unsigned types, no spaces, no trailing text).
template <class T>
bool parse_number(std::string_view s, T& out) {
    if (s.empty()) return false;
    const auto* end = s.data() + s.size();
    const auto r = std::from_chars(s.data(), end, out);
    return r.ec == std::errc() && r.ptr == end;
}

inline std::optional<QoS> parse_qos(std::string_view s) {
    if (s == "0") return QoS::AtMostOnce;
    if (s == "1") return QoS::AtLeastOnce;
    if (s == "2") return QoS::ExactlyOnce;
    return std::nullopt;
}

// The topic rules are the codec's, the same the client library applies before it sends (MQTT 5.0 section 4.7);
// only the error messages are the CLI's own, worded as mosquitto_pub/sub word them.
inline bool valid_topic_name(std::string_view topic) {
    return codec::validate_topic_name(topic) == codec::TopicError::None;
}
inline bool valid_filter(std::string_view filter) {
    return codec::validate_topic_filter(filter) == codec::TopicError::None;
}

inline std::vector<std::byte> to_bytes(std::string_view s) {
    std::vector<std::byte> out(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) out[i] = static_cast<std::byte>(s[i]);
    return out;
}

}  // namespace moth::cli
