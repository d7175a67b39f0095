#pragma once
// The text of an exception for a log line or an error message. Boost.System's what() ends with the error's
// category, value and source location ("bind: Address already in use [system:98 at /usr/include/boost/asio/
// detail/reactive_socket_service.hpp:161:5 in function 'bind']"), which tells an operator nothing and makes
// every line of one kind different. This keeps the readable part.
#include <regex>
#include <string>
#include <string_view>

namespace moth::common {

[[nodiscard]] inline std::string error_text(std::string_view what) {
    static const std::regex kBoostSuffix(R"( \[[A-Za-z0-9_.\-]+:-?[0-9]+( at [^\]]*)?.*\]$)");
    std::string text(what);
    std::smatch m;
    if (std::regex_search(text, m, kBoostSuffix)) text.erase(static_cast<std::size_t>(m.position(0)));
    return text;
}

}  // namespace moth::common
