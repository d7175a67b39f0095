// -L/--url, as mosquitto's clients read it (option_url.hpp).
#include "option_url.hpp"

#include <cstdint>

#include "option_values.hpp"

namespace moth::cli {

std::optional<std::string> apply_url(Options& o, std::string_view url) {
    o.url = std::string(url);
    const auto sep = url.find("://");
    if (sep == std::string_view::npos) return std::string("Error: unsupported URL scheme.");
    const auto scheme = url.substr(0, sep);
    if (scheme != "mqtt" && scheme != "mqtts" && scheme != "ws" && scheme != "wss") {
        return std::string("Error: unsupported URL scheme.");
    }
    o.scheme = std::string(scheme);
    auto rest = url.substr(sep + 3);
    const auto slash = rest.find('/');
    std::string_view path;
    if (slash != std::string_view::npos) {
        path = rest.substr(slash);
        rest = rest.substr(0, slash);
    }
    if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
        const auto cred = rest.substr(0, at);
        rest = rest.substr(at + 1);
        if (const auto colon = cred.find(':'); colon != std::string_view::npos) {
            o.username = std::string(cred.substr(0, colon));
            o.password = std::string(cred.substr(colon + 1));
        } else {
            o.username = std::string(cred);
        }
    }
    std::string_view host = rest;
    std::string_view port;
    if (!rest.empty() && rest.front() == '[') {
        const auto close = rest.find(']');
        if (close == std::string_view::npos) return std::string("Error: Invalid URL for -L argument specified.");
        host = rest.substr(1, close - 1);
        if (close + 1 < rest.size()) {
            if (rest[close + 1] != ':') return std::string("Error: Invalid URL for -L argument specified.");
            port = rest.substr(close + 2);
        }
    } else if (const auto colon = rest.rfind(':'); colon != std::string_view::npos) {
        host = rest.substr(0, colon);
        port = rest.substr(colon + 1);
    }
    if (host.empty()) return std::string("Error: Invalid URL for -L argument specified - no host given.");
    o.host = std::string(host);
    if (!port.empty()) {
        std::uint16_t p = 0;
        if (!parse_number(port, p) || p == 0) return std::string("Error: Invalid port given: ") + std::string(port);
        o.port = p;
    }
    if (o.scheme == "ws" || o.scheme == "wss") {
        o.ws_path = path.empty() ? "/mqtt" : std::string(path);
    } else {
        if (path.size() <= 1) return std::string("Error: Invalid URL for -L argument specified - topic missing.");
        const auto topic = path.substr(1);
        if (o.tool == Tool::Sub) o.topics.emplace_back(topic);
        else o.topic = std::string(topic);
    }
    return std::nullopt;
}

}  // namespace moth::cli
