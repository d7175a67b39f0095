// %j and %J of mosquitto_sub's -F (mosquitto_json.hpp): the message as mosquitto_sub 2.0.11 prints it with
// cJSON, number formats and layout included.
#include "mosquitto_json.hpp"

#include <array>
#include <cstdint>
#include <cstdio>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "format_fields.hpp"

namespace moth::cli {
namespace {

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

// The message's MQTT 5.0 properties, when it has any. mosquitto_sub prints them in wire order, which the library
// does not keep; this is the order mothd (and most brokers) send them in: by identifier, user properties last.
void write_properties(CJsonWriter& w, const MessageProperties& p) {
    const bool any_property = p.payload_format_indicator || p.message_expiry_interval || p.content_type ||
                              p.response_topic || p.correlation_data || !p.subscription_identifiers.empty() ||
                              !p.user_properties.empty();
    if (!any_property) return;
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

}  // namespace

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
    write_properties(w, m.properties);
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

}  // namespace moth::cli
