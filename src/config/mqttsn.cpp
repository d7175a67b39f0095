// [mqttsn]: the MQTT-SN gateway's settings (docs/mqtt-sn.md), shared by every mqttsn/mqttsns listener.
#include <arpa/inet.h>

#include "codec/topic.hpp"
#include "config/fields.hpp"

namespace moth::config::detail {

namespace {

std::optional<std::string> address_range(std::string_view s) {
    if (parse_cidr(s)) return std::nullopt;
    return "expected an IPv4 or IPv6 address or range such as \"192.0.2.7\" or \"10.0.0.0/8\", got " + quote(s);
}

std::optional<std::string> ip_literal(std::string_view s) {
    if (s.empty() || advertise_target(s)) return std::nullopt;
    return "expected an IPv4 or IPv6 address, with a port or not (\"255.255.255.255\", \"10.0.0.255:1884\", "
           "\"[ff02::1]:1884\"), got " +
           quote(s);
}

// [mqttsn.predefined]: "1" = "mytopic/temp". Ids 1..65535 as keys (TOML keys are strings), topic names as values.
Field<MqttSn> predefined_field() {
    Reader<MqttSn> read = [](MqttSn& target, const toml::node& node) -> std::optional<std::string> {
        const auto* table = node.as_table();
        if (table == nullptr) return "expected a table of topic id = \"topic name\", got " + describe(node);
        std::map<std::uint16_t, std::string> out;
        for (auto&& [k, v] : *table) {
            const std::string key(k.str());
            std::size_t used = 0;
            unsigned long id = 0;
            try {
                id = std::stoul(key, &used);
            } catch (const std::exception&) {
                used = 0;
            }
            if (used != key.size() || id < 1 || id > 65535) {
                return "key " + quote(key) + ": expected a topic id from 1 to 65535";
            }
            const auto* name = v.as_string();
            if (name == nullptr) return "key " + quote(key) + ": expected a topic name, got " + describe(v);
            if (const auto e = codec::validate_topic_name(name->get()); e != codec::TopicError::None) {
                return "key " + quote(key) + ": " + quote(name->get()) + ": " +
                       std::string(codec::topic_error_text(e));
            }
            for (const auto& [other, topic] : out) {
                if (topic == name->get()) {
                    return "key " + quote(key) + ": " + quote(topic) + " already has id " + std::to_string(other);
                }
            }
            out.emplace(static_cast<std::uint16_t>(id), name->get());
        }
        target.predefined = std::move(out);
        return std::nullopt;
    };
    return {"predefined", false, std::move(read), member_equal(&MqttSn::predefined)};
}

}  // namespace

const std::vector<Field<MqttSn>>& mqttsn_fields() {
    static const std::vector<Field<MqttSn>> fields{
        integer_field("gateway_id", &MqttSn::gateway_id, 1, 255),
        integer_field("advertise_interval_s", &MqttSn::advertise_interval_s, 0, 65535),
        string_field("advertise_address", &MqttSn::advertise_address, ip_literal),
        integer_field("retry_interval_ms", &MqttSn::retry_interval_ms, 10, 3'600'000),
        integer_field("max_retries", &MqttSn::max_retries, 0, 100),
        integer_field("sleep_buffer", &MqttSn::sleep_buffer, 0, 1'000'000),
        integer_field("max_inflight", &MqttSn::max_inflight, 1, 65535),
        integer_field("max_registrations", &MqttSn::max_registrations, 1, 65535),
        integer_field("session_expiry_s", &MqttSn::session_expiry_s, 0, kU32Max),
        integer_field("max_datagram", &MqttSn::max_datagram, 64, 65507),
        bool_field("qos_minus_one", &MqttSn::qos_minus_one),
        string_field("username", &MqttSn::username, mqtt_string),
        string_list_field("client_ids", &MqttSn::client_ids, non_empty),
        string_list_field("allow_addresses", &MqttSn::allow_addresses, address_range),
        predefined_field(),
    };
    return fields;
}

}  // namespace moth::config::detail

namespace moth::config {

std::optional<AdvertiseTarget> advertise_target(std::string_view text) {
    const auto is_ip = [](const std::string& ip, int family) {
        unsigned char buf[16];
        return ::inet_pton(family, ip.c_str(), buf) == 1;
    };
    AdvertiseTarget t;
    std::string_view port;
    if (text.starts_with('[')) {
        const auto close = text.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        t.ip = std::string(text.substr(1, close - 1));
        if (!is_ip(t.ip, AF_INET6)) return std::nullopt;
        if (close + 1 < text.size()) {
            if (text[close + 1] != ':') return std::nullopt;
            port = text.substr(close + 2);
        }
    } else if (is_ip(std::string(text), AF_INET6) || is_ip(std::string(text), AF_INET)) {
        t.ip = std::string(text);
    } else {
        const auto colon = text.rfind(':');
        if (colon == std::string_view::npos) return std::nullopt;
        t.ip = std::string(text.substr(0, colon));
        if (!is_ip(t.ip, AF_INET)) return std::nullopt;
        port = text.substr(colon + 1);
    }
    if (!port.empty() || text.ends_with(':')) {
        unsigned long p = 0;
        for (const char c : port) {
            if (c < '0' || c > '9' || p > 65535) return std::nullopt;
            p = p * 10 + static_cast<unsigned long>(c - '0');
        }
        if (port.empty() || p == 0 || p > 65535) return std::nullopt;
        t.port = static_cast<std::uint16_t>(p);
    }
    return t;
}

}  // namespace moth::config
