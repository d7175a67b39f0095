// -D/--property COMMAND NAME VALUE [VALUE]: the MQTT 5.0 properties mosquitto's clients accept, with their error
// texts (options.hpp, add_property). Each property name has a setter that checks the command it may go with and
// parses its value; the order of the checks is mosquitto's, so the same bad words give the same error.
#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "option_values.hpp"
#include "options.hpp"

namespace moth::cli {
namespace {

// One -D's words.
struct Property {
    const std::string& cmd;
    const std::string& name;
    const std::string& value;
};

using Error = std::optional<std::string>;

std::string not_allowed(const Property& p) {
    return "Error: " + p.name + " property not allowed for " + p.cmd + " in --property argument.";
}
std::string bad_value(const Property& p) {
    return "Error: Invalid value '" + p.value + "' for " + p.name + " in --property argument.";
}

template <class T>
Error number(const Property& p, std::optional<T>& out) {
    T v = 0;
    if (!parse_number(p.value, v)) return bad_value(p);
    out = v;
    return std::nullopt;
}

Error flag(const Property& p, std::optional<bool>& out) {
    if (p.value != "0" && p.value != "1") return bad_value(p);
    out = p.value == "1";
    return std::nullopt;
}

// Properties of a PUBLISH: for "publish" the message's, for "will" the will's.
bool message_like(const Property& p) { return p.cmd == "publish" || p.cmd == "will"; }
MessageProperties& message(Properties& props, const Property& p) {
    return p.cmd == "will" ? props.will : props.publish;
}

Error user_property(Properties& props, const Property& p, const std::vector<std::string>& words) {
    if (words.size() < 4) return std::string("Error: -D argument given but not enough arguments specified.");
    UserProperty up{p.value, words[3]};
    const auto& cmd = p.cmd;
    if (cmd == "connect") props.connect_user_properties.push_back(up);
    else if (cmd == "publish") props.publish.user_properties.push_back(up);
    else if (cmd == "will") props.will.user_properties.push_back(up);
    else if (cmd == "subscribe") props.subscribe_user_properties.push_back(up);
    else if (cmd == "unsubscribe") props.unsubscribe_user_properties.push_back(up);
    else if (cmd == "disconnect") props.disconnect_user_properties.push_back(up);
    else return "Error: user-property for " + cmd + " is not supported by moth.";
    return std::nullopt;
}

using Setter = Error (*)(Properties&, const Property&);

// The message's properties (publish, will).
const std::map<std::string_view, Setter>& message_setters() {
    static const std::map<std::string_view, Setter> m = {
        {"payload-format-indicator",
         [](Properties& props, const Property& p) -> Error {
             if (!message_like(p)) return not_allowed(p);
             return number(p, message(props, p).payload_format_indicator);
         }},
        {"message-expiry-interval",
         [](Properties& props, const Property& p) -> Error {
             if (!message_like(p)) return not_allowed(p);
             return number(p, message(props, p).message_expiry_interval);
         }},
        {"content-type",
         [](Properties& props, const Property& p) -> Error {
             if (!message_like(p)) return not_allowed(p);
             message(props, p).content_type = p.value;
             return std::nullopt;
         }},
        {"response-topic",
         [](Properties& props, const Property& p) -> Error {
             if (!message_like(p)) return not_allowed(p);
             if (!valid_topic_name(p.value)) return bad_value(p);
             message(props, p).response_topic = p.value;
             return std::nullopt;
         }},
        {"correlation-data",
         [](Properties& props, const Property& p) -> Error {
             if (!message_like(p)) return not_allowed(p);
             message(props, p).correlation_data = to_bytes(p.value);
             return std::nullopt;
         }},
        {"topic-alias",
         [](Properties& props, const Property& p) -> Error {
             if (p.cmd != "publish") return not_allowed(p);
             return number(p, props.publish_topic_alias);
         }},
        {"will-delay-interval",
         [](Properties& props, const Property& p) -> Error {
             if (p.cmd != "will") return not_allowed(p);
             return number(p, props.will_delay_interval);
         }},
    };
    return m;
}

// The session's properties (connect, disconnect, subscribe).
const std::map<std::string_view, Setter>& session_setters() {
    static const std::map<std::string_view, Setter> m = {
        {"session-expiry-interval",
         [](Properties& props, const Property& p) -> Error {
             if (p.cmd == "connect") return number(p, props.session_expiry_interval);
             if (p.cmd == "disconnect") return number(p, props.disconnect_session_expiry_interval);
             return not_allowed(p);
         }},
        {"receive-maximum",
         [](Properties& props, const Property& p) -> Error {
             if (p.cmd != "connect") return not_allowed(p);
             return number(p, props.receive_maximum);
         }},
        {"maximum-packet-size",
         [](Properties& props, const Property& p) -> Error {
             if (p.cmd != "connect") return not_allowed(p);
             return number(p, props.maximum_packet_size);
         }},
        {"topic-alias-maximum",
         [](Properties& props, const Property& p) -> Error {
             if (p.cmd != "connect") return not_allowed(p);
             return number(p, props.topic_alias_maximum);
         }},
        {"request-response-information",
         [](Properties& props, const Property& p) -> Error {
             if (p.cmd != "connect") return not_allowed(p);
             return flag(p, props.request_response_information);
         }},
        {"request-problem-information",
         [](Properties& props, const Property& p) -> Error {
             if (p.cmd != "connect") return not_allowed(p);
             return flag(p, props.request_problem_information);
         }},
        {"authentication-method",
         [](Properties& props, const Property& p) -> Error {
             if (p.cmd != "connect") return not_allowed(p);
             props.authentication_method = p.value;
             return std::nullopt;
         }},
        {"subscription-identifier",
         [](Properties& props, const Property& p) -> Error {
             if (p.cmd != "subscribe") return not_allowed(p);
             std::uint32_t v = 0;
             if (!parse_number(p.value, v) || v == 0 || v > 268'435'455) return bad_value(p);
             props.subscription_identifier = v;
             return std::nullopt;
         }},
    };
    return m;
}

}  // namespace

std::optional<std::string> add_property(Properties& props, const std::vector<std::string>& words) {
    if (words.size() < 3) return std::string("Error: -D argument given but not enough arguments specified.");
    const Property p{words[0], words[1], words[2]};
    static const std::vector<std::string> kCommands = {"connect", "publish", "subscribe", "unsubscribe",
                                                       "disconnect", "will", "auth", "puback", "pubrec",
                                                       "pubrel", "pubcomp"};
    if (std::find(kCommands.begin(), kCommands.end(), p.cmd) == kCommands.end()) {
        return "Error: Invalid command " + p.cmd + " given in --property argument.";
    }
    if (p.name == "user-property") return user_property(props, p, words);
    if (words.size() != 3) return std::string("Error: -D argument given with too many arguments.");
    for (const auto* setters : {&message_setters(), &session_setters()}) {
        if (const auto it = setters->find(p.name); it != setters->end()) return it->second(props, p);
    }
    // Properties that exist in MQTT 5.0 but that a client does not send.
    static const std::vector<std::string> kKnownOther = {
        "authentication-data", "reason-string", "server-reference", "response-information",
        "assigned-client-identifier", "server-keep-alive", "maximum-qos", "retain-available",
        "wildcard-subscription-available", "subscription-identifier-available",
        "shared-subscription-available"};
    if (std::find(kKnownOther.begin(), kKnownOther.end(), p.name) != kKnownOther.end()) {
        return not_allowed(p);
    }
    return "Error: Invalid property name " + p.name + " in --property argument.";
}

}  // namespace moth::cli
