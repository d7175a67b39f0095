// The -F interpreter follows mosquitto_sub 2.0.11 (client/sub_client_output.c) byte for byte, including its
// quirks, because scripts parse this output: a field width truncates %p/%x/%X, the hex forms halve the byte count
// when a width is given, a '-' flag without width still pads %p with spaces, and %j/%J are printed the way cJSON
// prints them. Tests in test/unit/cli pin each of these against output captured from the real mosquitto_sub.
// Field printing is in format_fields.cpp, %j/%J in mosquitto_json.cpp; moth's own --json is here.
#include "format.hpp"

#include <array>
#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/base64.hpp"
#include "format_fields.hpp"
#include "mosquitto_json.hpp"

namespace moth::cli {
namespace {

// %U: seconds since the epoch, a dot, and nanoseconds.
void put_unix_time(std::string& out, const Timestamp& when) {
    const auto s = strftime_string("%s", local_tm(when));
    if (s.empty()) return;
    std::array<char, 16> ns{};
    std::snprintf(ns.data(), ns.size(), "%09ld", when.nanoseconds);
    out += s;
    out += '.';
    out += ns.data();
}

void render_percent(std::string& out, std::string& err, const OutputOptions& o, const Message& m,
                    const Timestamp& when, char spec, char align, char pad, int width, int precision) {
    const auto& p = m.properties;
    switch (spec) {
        case '%': out += '%'; break;
        case 'A': put_blank(out, pad, width); break;  // topic aliases are resolved by the library
        case 'C':
            if (p.content_type) put_str(out, *p.content_type, align, width, precision);
            else put_blank(out, ' ', width);
            break;
        case 'D':
            if (p.correlation_data) out.append(as_text(*p.correlation_data));
            break;
        case 'E':
            if (p.message_expiry_interval) {
                put_int(out, static_cast<std::int32_t>(*p.message_expiry_interval), align, pad, width);
            } else {
                put_blank(out, pad, width);
            }
            break;
        case 'F':
            if (p.payload_format_indicator) put_int(out, *p.payload_format_indicator, align, pad, width);
            else put_blank(out, pad, width);
            break;
        case 'I': {
            const auto s = strftime_string("%FT%T%z", local_tm(when));
            if (!s.empty()) put_str(out, s, align, width, precision);
            else put_blank(out, ' ', width);
            break;
        }
        case 'j':
            mosquitto_json(out, m, when, true, o.pretty);
            break;
        case 'J':
            if (!mosquitto_json(out, m, when, false, o.pretty)) {
                err += "Error: Message payload is not valid JSON on topic " + m.topic + ".\n";
            }
            break;
        case 'l': put_int(out, static_cast<long long>(m.payload.size()), align, pad, width); break;
        case 'm': put_int(out, 0, align, pad, width); break;  // packet identifiers are not exposed
        case 'P': {
            bool first = true;
            for (const auto& up : p.user_properties) {
                if (!first) out += ' ';
                first = false;
                out += up.key;
                out += ':';
                out += up.value;
            }
            break;
        }
        case 'p': put_payload(out, m.payload_text(), 0, align, pad, width); break;
        case 'q': out += static_cast<char>('0' + static_cast<int>(m.qos)); break;
        case 'R':
            if (p.response_topic) put_str(out, *p.response_topic, align, width, precision);
            break;
        case 'r': out += m.retain ? '1' : '0'; break;
        case 'S':
            if (!p.subscription_identifiers.empty()) {
                put_int(out, static_cast<std::int32_t>(p.subscription_identifiers.front()), align, pad, width);
            } else {
                put_blank(out, pad, width);
            }
            break;
        case 't': put_str(out, m.topic, align, width, precision); break;
        case 'U': put_unix_time(out, when); break;
        case 'x': put_payload(out, m.payload_text(), 1, align, pad, width); break;
        case 'X': put_payload(out, m.payload_text(), 2, align, pad, width); break;
        default: break;
    }
}

void render_format(const OutputOptions& o, const Message& m, const Timestamp& when, std::string& out,
                   std::string& err) {
    const std::string_view f = o.format;
    const std::size_t len = f.size();
    for (std::size_t i = 0; i < len; ++i) {
        if (f[i] == '%') {
            char align = 0;
            char pad = ' ';
            int width = 0;
            int precision = -1;
            if (i < len - 1) {
                ++i;
                if (f[i] == '-') {
                    align = '-';
                    if (i < len - 1) ++i;
                }
                if (f[i] == '0') {
                    pad = '0';
                    if (i < len - 1) ++i;
                }
                while (i < len - 1 && is_digit(f[i])) {
                    width = width * 10 + (f[i] - '0');
                    ++i;
                }
                if (f[i] == '.' && i < len - 1) {
                    ++i;
                    precision = 0;
                    while (i < len - 1 && is_digit(f[i])) {
                        precision = precision * 10 + (f[i] - '0');
                        ++i;
                    }
                }
                if (i < len) render_percent(out, err, o, m, when, f[i], align, pad, width, precision);
            }
        } else if (f[i] == '@') {
            if (i < len - 1) {
                ++i;
                if (f[i] == '@') {
                    out += '@';
                } else if (f[i] == 'N') {
                    std::array<char, 16> ns{};
                    std::snprintf(ns.data(), ns.size(), "%09ld", when.nanoseconds);
                    out += ns.data();
                } else {
                    const std::array<char, 3> spec{'%', f[i], '\0'};
                    out += strftime_string(spec.data(), local_tm(when));
                }
            }
        } else if (f[i] == '\\') {
            if (i < len - 1) {
                ++i;
                switch (f[i]) {
                    case '\\': out += '\\'; break;
                    case '0': out += '\0'; break;
                    case 'a': out += '\a'; break;
                    case 'e': out += '\033'; break;
                    case 'n': out += '\n'; break;
                    case 'r': out += '\r'; break;
                    case 't': out += '\t'; break;
                    case 'v': out += '\v'; break;
                    default: break;
                }
            }
        } else {
            out += f[i];
        }
    }
    if (o.eol) out += '\n';
}

constexpr std::string_view kSpecifiers = "%ACDEFIlmPpqRSrtjJUxX";

}  // namespace

Timestamp Timestamp::now() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return {ts.tv_sec, ts.tv_nsec};
}

std::optional<std::string> check_format(std::string_view f) {
    const std::size_t len = f.size();
    const auto at = [&](std::size_t i) { return i < len ? f[i] : '\0'; };
    const std::string incomplete = "Incomplete format specifier.";
    for (std::size_t i = 0; i < len; ++i) {
        if (f[i] == '%') {
            if (i == len - 1) return incomplete;
            if (at(i + 1) == '0' || at(i + 1) == '-') {
                ++i;
                if (i == len - 1) return incomplete;
            }
            while (is_digit(at(i + 1))) {
                ++i;
                if (i == len - 1) return incomplete;
            }
            if (at(i + 1) == '.') {
                ++i;
                if (i == len - 1) return incomplete;
                while (is_digit(at(i + 1))) {
                    ++i;
                    if (i == len - 1) return incomplete;
                }
            }
            const char spec = at(i + 1);
            if (kSpecifiers.find(spec) == std::string_view::npos) {
                return std::string("Invalid format specifier '") + spec + "'.";
            }
            ++i;
        } else if (f[i] == '@') {
            if (i == len - 1) return incomplete;
            ++i;
        } else if (f[i] == '\\') {
            if (i == len - 1) return std::string("Incomplete escape specifier.");
            switch (f[i + 1]) {
                case '\\': case '0': case 'a': case 'e': case 'n': case 'r': case 't': case 'v': break;
                default: return std::string("Invalid escape specifier '") + f[i + 1] + "'.";
            }
            ++i;
        }
    }
    return std::nullopt;
}

void render(const OutputOptions& o, const Message& m, const Timestamp& when, std::string& out, std::string& err) {
    const auto payload = m.payload_text();
    switch (o.mode) {
        case OutputMode::Format: render_format(o, m, when, out, err); break;
        case OutputMode::Verbose:
            if (!payload.empty()) {
                out += m.topic;
                out += ' ';
                out += payload;
                if (o.eol) out += '\n';
            } else if (o.eol) {
                out += m.topic;
                out += " (null)\n";
            }
            break;
        case OutputMode::Payload:
            if (!payload.empty()) {
                out += payload;
                if (o.eol) out += '\n';
            }
            break;
        case OutputMode::Json:
            out += to_json(m, o.pretty);
            out += '\n';
            break;
    }
}

std::string to_json(const Message& m, bool pretty) {
    nlohmann::ordered_json j;
    j["topic"] = m.topic;
    const auto payload = m.payload_text();
    if (valid_utf8(payload)) {
        j["payload"] = std::string(payload);
    } else {
        j["payload"] = common::base64_encode(payload);
        j["encoding"] = "base64";
    }
    j["qos"] = static_cast<int>(m.qos);
    j["retain"] = m.retain;
    const auto& p = m.properties;
    nlohmann::ordered_json props = nlohmann::ordered_json::object();
    if (p.payload_format_indicator) props["payload-format-indicator"] = *p.payload_format_indicator;
    if (p.message_expiry_interval) props["message-expiry-interval"] = *p.message_expiry_interval;
    if (p.content_type) props["content-type"] = *p.content_type;
    if (p.response_topic) props["response-topic"] = *p.response_topic;
    if (p.correlation_data) {
        const auto data = as_text(*p.correlation_data);
        if (valid_utf8(data)) {
            props["correlation-data"] = std::string(data);
        } else {
            props["correlation-data"] = common::base64_encode(data);
            props["correlation-data-encoding"] = "base64";
        }
    }
    if (!p.subscription_identifiers.empty()) props["subscription-identifiers"] = p.subscription_identifiers;
    if (!p.user_properties.empty()) {
        auto list = nlohmann::ordered_json::array();
        for (const auto& up : p.user_properties) list.push_back({up.key, up.value});
        props["user-properties"] = list;
    }
    if (!props.empty()) j["properties"] = props;
    // Strings reaching here are valid UTF-8 (MQTT requires it of topics and properties; payloads were checked),
    // "replace" only guards against a broker that sends otherwise.
    return j.dump(pretty ? 2 : -1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace moth::cli
