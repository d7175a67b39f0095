// The -F interpreter follows mosquitto_sub 2.0.11 (client/sub_client_output.c) byte for byte, including its
// quirks, because scripts parse this output: a field width truncates %p/%x/%X, the hex forms halve the byte count
// when a width is given, a '-' flag without width still pads %p with spaces, and %j/%J are printed the way cJSON
// prints them. Tests in test/unit/cli pin each of these against output captured from the real mosquitto_sub.
#include "format.hpp"

#include <array>
#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/base64.hpp"

namespace moth::cli {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Plain UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF; NUL is allowed.
bool valid_utf8(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size()) {
        const auto b = static_cast<unsigned char>(s[i]);
        std::size_t n = 0;
        std::uint32_t cp = 0;
        if (b < 0x80) {
            ++i;
            continue;
        } else if ((b & 0xE0) == 0xC0) {
            n = 1;
            cp = b & 0x1Fu;
        } else if ((b & 0xF0) == 0xE0) {
            n = 2;
            cp = b & 0x0Fu;
        } else if ((b & 0xF8) == 0xF0) {
            n = 3;
            cp = b & 0x07u;
        } else {
            return false;
        }
        if (i + n >= s.size()) return false;
        for (std::size_t k = 1; k <= n; ++k) {
            const auto c = static_cast<unsigned char>(s[i + k]);
            if ((c & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (c & 0x3Fu);
        }
        static constexpr std::array<std::uint32_t, 4> kMin{0, 0x80, 0x800, 0x10000};
        if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += n + 1;
    }
    return true;
}

std::string_view as_text(const std::vector<std::byte>& bytes) {
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

// printf("%d"/"%-*d"/"%0*d"/"%*d") as formatted_print_int does it.
void put_int(std::string& out, long long value, char align, char pad, int width) {
    if (width == 0) {
        out += std::to_string(value);
        return;
    }
    const char* spec = align == '-' ? "%-*lld" : pad == '0' ? "%0*lld" : "%*lld";
    const int n = std::snprintf(nullptr, 0, spec, width, value);
    if (n <= 0) return;
    std::vector<char> buf(static_cast<std::size_t>(n) + 1);
    std::snprintf(buf.data(), buf.size(), spec, width, value);
    out.append(buf.data(), static_cast<std::size_t>(n));
}

void put_blank(std::string& out, char pad, int width) {
    if (width > 0) out.append(static_cast<std::size_t>(width), pad);
}

// printf("%s") with optional width and precision (formatted_print_str); precision -1 means none. Like printf on
// a C string, the value ends at its first NUL.
void put_str(std::string& out, std::string_view value, char align, int width, int precision) {
    if (const auto nul = value.find('\0'); nul != std::string_view::npos) value = value.substr(0, nul);
    if (precision >= 0 && value.size() > static_cast<std::size_t>(precision)) {
        value = value.substr(0, static_cast<std::size_t>(precision));
    }
    const std::size_t w = width > 0 ? static_cast<std::size_t>(width) : 0;
    const std::size_t pad = w > value.size() ? w - value.size() : 0;
    if (align != '-') out.append(pad, ' ');
    out.append(value);
    if (align == '-') out.append(pad, ' ');
}

// write_payload: hex 0 raw, 1 lower case, 2 upper case.
void put_payload(std::string& out, std::string_view payload, int hex, char align, char pad, int width) {
    long long len = static_cast<long long>(payload.size());
    long long padlen = 0;
    if (width > 0) {
        if (len > width) len = width;
        if (hex > 0) {
            len /= 2;
            padlen = width - len * 2;
        } else {
            padlen = width - len;
        }
    } else {
        padlen = width - len;
    }
    if (align != '-') {
        for (long long i = 0; i < padlen; ++i) out += pad;
    }
    const auto bytes = payload.substr(0, static_cast<std::size_t>(len));
    if (hex == 0) {
        out.append(bytes);
    } else {
        static constexpr char kLower[] = "0123456789abcdef";
        static constexpr char kUpper[] = "0123456789ABCDEF";
        const char* digits = hex == 1 ? kLower : kUpper;
        for (const char c : bytes) {
            const auto b = static_cast<unsigned char>(c);
            out += digits[b >> 4];
            out += digits[b & 0x0F];
        }
    }
    // printf("%*s", padlen, ""): a negative width left-justifies, so it pads too.
    if (align == '-') out.append(static_cast<std::size_t>(padlen < 0 ? -padlen : padlen), ' ');
}

std::tm local_tm(const Timestamp& when) {
    std::tm tm{};
    const std::time_t s = when.seconds;
    localtime_r(&s, &tm);
    return tm;
}

std::string strftime_string(const char* format, const std::tm& tm) {
    std::array<char, 100> buf{};
    const std::size_t n = std::strftime(buf.data(), buf.size(), format, &tm);
    return {buf.data(), n};
}

// ---- cJSON-compatible printing (what mosquitto_sub links for %j and %J) ----------------------------------

void cjson_string(std::string& out, std::string_view s) {
    out += '"';
    for (const char c : s) {
        const auto b = static_cast<unsigned char>(c);
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (b < 32) {
                    std::array<char, 8> buf{};
                    std::snprintf(buf.data(), buf.size(), "\\u%04x", static_cast<unsigned>(b));
                    out += buf.data();
                } else {
                    out += c;
                }
        }
    }
    out += '"';
}

void cjson_number(std::string& out, double d) {
    std::array<char, 64> buf{};
    if (d != d || d > 1.7976931348623157e308 || d < -1.7976931348623157e308) {
        out += "null";
        return;
    }
    // cJSON keeps an int copy clamped to INT_MIN..INT_MAX and prints it when it equals the double.
    int as_int = 0;
    if (d >= 2147483647.0) as_int = 2147483647;
    else if (d <= -2147483648.0) as_int = -2147483647 - 1;
    else as_int = static_cast<int>(d);
    if (d == static_cast<double>(as_int)) {
        std::snprintf(buf.data(), buf.size(), "%d", as_int);
    } else {
        std::snprintf(buf.data(), buf.size(), "%1.15g", d);
        double back = 0;
        if (std::sscanf(buf.data(), "%lg", &back) != 1 || back != d) {
            std::snprintf(buf.data(), buf.size(), "%1.17g", d);
        }
    }
    out += buf.data();
}

// Objects and arrays laid out as cJSON_PrintUnformatted / cJSON_Print do.
class CJsonWriter {
public:
    CJsonWriter(std::string& out, bool pretty) : out_(out), pretty_(pretty) {}
    void begin_object() {
        out_ += '{';
        ++depth_;
        if (pretty_) out_ += '\n';
        first_.push_back(true);
    }
    void key(std::string_view k) {
        separate();
        if (pretty_) out_.append(static_cast<std::size_t>(depth_), '\t');
        cjson_string(out_, k);
        out_ += ':';
        if (pretty_) out_ += '\t';
    }
    void end_object() {
        if (pretty_) {
            if (!first_.back()) out_ += '\n';
            out_.append(static_cast<std::size_t>(depth_ - 1), '\t');
        }
        --depth_;
        first_.pop_back();
        out_ += '}';
    }
    void begin_array() {
        out_ += '[';
        ++depth_;
        first_.push_back(true);
    }
    void element() {
        if (!first_.back()) {
            out_ += ',';
            if (pretty_) out_ += ' ';
        }
        first_.back() = false;
    }
    void end_array() {
        --depth_;
        first_.pop_back();
        out_ += ']';
    }
    void string(std::string_view s) { cjson_string(out_, s); }
    void number(double d) { cjson_number(out_, d); }
    void raw(std::string_view s) { out_ += s; }
    void value(const nlohmann::ordered_json& v) {
        switch (v.type()) {
            case nlohmann::ordered_json::value_t::object:
                begin_object();
                for (const auto& [k, item] : v.items()) {
                    key(k);
                    value(item);
                }
                end_object();
                break;
            case nlohmann::ordered_json::value_t::array:
                begin_array();
                for (const auto& item : v) {
                    element();
                    value(item);
                }
                end_array();
                break;
            case nlohmann::ordered_json::value_t::string: string(v.get_ref<const std::string&>()); break;
            case nlohmann::ordered_json::value_t::boolean: raw(v.get<bool>() ? "true" : "false"); break;
            case nlohmann::ordered_json::value_t::number_integer:
                number(static_cast<double>(v.get<std::int64_t>()));
                break;
            case nlohmann::ordered_json::value_t::number_unsigned:
                number(static_cast<double>(v.get<std::uint64_t>()));
                break;
            case nlohmann::ordered_json::value_t::number_float: number(v.get<double>()); break;
            default: raw("null"); break;
        }
    }

private:
    void separate() {
        if (!first_.back()) {
            out_ += ',';
            if (pretty_) out_ += '\n';
        }
        first_.back() = false;
    }
    std::string& out_;
    bool pretty_;
    int depth_ = 0;
    std::vector<bool> first_;
};

// %j / %J. Returns false when the payload is not JSON (%J only).
bool mosquitto_json(std::string& out, const Message& m, const Timestamp& when, bool escaped, bool pretty) {
    const std::tm tm = local_tm(when);
    std::array<char, 16> micros{};
    std::snprintf(micros.data(), micros.size(), "%06d", static_cast<int>(when.nanoseconds / 1000));
    const std::string tst =
        strftime_string("%Y-%m-%dT%H:%M:%S", tm) + "." + micros.data() + "Z" + strftime_string("%z", tm);

    nlohmann::ordered_json parsed;
    const auto payload = m.payload_text();
    if (!escaped && !payload.empty()) {
        parsed = nlohmann::ordered_json::parse(payload, nullptr, false);
        if (parsed.is_discarded()) return false;
    }

    std::string text;
    CJsonWriter w(text, pretty);
    w.begin_object();
    w.key("tst");
    w.string(tst);
    w.key("topic");
    w.string(m.topic);
    w.key("qos");
    w.number(static_cast<double>(m.qos));
    w.key("retain");
    w.number(m.retain ? 1 : 0);
    w.key("payloadlen");
    w.number(static_cast<double>(payload.size()));
    // "mid" (QoS > 0) is left out: the client library does not expose packet identifiers.
    const auto& p = m.properties;
    const bool any_property = p.payload_format_indicator || p.message_expiry_interval || p.content_type ||
                              p.response_topic || p.correlation_data || !p.subscription_identifiers.empty() ||
                              !p.user_properties.empty();
    if (any_property) {
        // mosquitto_sub prints properties in wire order, which the library does not keep; this is the order
        // mothd (and most brokers) send them in: by identifier, user properties last.
        w.key("properties");
        w.begin_object();
        if (p.payload_format_indicator) {
            w.key("payload-format-indicator");
            w.number(*p.payload_format_indicator);
        }
        if (p.message_expiry_interval) {
            w.key("message-expiry-interval");
            w.number(*p.message_expiry_interval);
        }
        if (p.content_type) {
            w.key("content-type");
            w.string(*p.content_type);
        }
        if (p.response_topic) {
            w.key("response-topic");
            w.string(*p.response_topic);
        }
        if (p.correlation_data) {
            auto data = as_text(*p.correlation_data);
            if (const auto nul = data.find('\0'); nul != std::string_view::npos) data = data.substr(0, nul);
            w.key("correlation-data");
            w.string(data);
        }
        for (const auto id : p.subscription_identifiers) {
            w.key("subscription-identifier");
            w.number(id);
        }
        if (!p.user_properties.empty()) {
            w.key("user-properties");
            w.begin_object();
            for (const auto& up : p.user_properties) {
                w.key(up.key);
                w.string(up.value);
            }
            w.end_object();
        }
        w.end_object();
    }
    w.key("payload");
    if (payload.empty()) {
        w.raw("null");  // libmosquitto hands an empty payload over as NULL
    } else if (escaped) {
        auto s = payload;
        if (const auto nul = s.find('\0'); nul != std::string_view::npos) s = s.substr(0, nul);
        w.string(s);
    } else {
        w.value(parsed);
    }
    w.end_object();
    out += text;
    return true;
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
        case 'U': {
            const auto s = strftime_string("%s", local_tm(when));
            if (!s.empty()) {
                std::array<char, 16> ns{};
                std::snprintf(ns.data(), ns.size(), "%09ld", when.nanoseconds);
                out += s;
                out += '.';
                out += ns.data();
            }
            break;
        }
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
