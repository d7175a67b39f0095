#pragma once
// Command line of `moth pub`, `moth sub` and `moth rr`: the options of mosquitto_pub, mosquitto_sub and
// mosquitto_rr 2.0.11 that scripts use, with the same defaults (MQTT 3.1.1 for pub/sub, 5.0 for rr), the same
// checks and the same exit code (1) for bad arguments. Parsing is pure: no files are read and nothing connects,
// so it is unit tested directly.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <boost/system/result.hpp>
#include <moth/client.hpp>

#include "format.hpp"

namespace moth::cli {

enum class Tool : std::uint8_t { Pub, Sub, Rr };

[[nodiscard]] std::string_view tool_name(Tool tool);  // "pub", "sub", "rr"

enum class PayloadSource : std::uint8_t { None, Message, File, StdinWhole, StdinLines, Null };

// MQTT 5.0 properties given with -D/--property <command> <name> <value> [<value>].
struct Properties {
    MessageProperties publish;
    std::optional<std::uint16_t> publish_topic_alias;  // accepted; the library assigns aliases itself
    MessageProperties will;
    std::optional<std::uint32_t> will_delay_interval;
    std::optional<std::uint32_t> session_expiry_interval;  // connect
    std::optional<std::uint16_t> receive_maximum;
    std::optional<std::uint32_t> maximum_packet_size;
    std::optional<std::uint16_t> topic_alias_maximum;
    std::optional<bool> request_response_information;
    std::optional<bool> request_problem_information;
    std::string authentication_method;
    std::vector<UserProperty> connect_user_properties;
    std::optional<std::uint32_t> subscription_identifier;
    std::vector<UserProperty> subscribe_user_properties;
    std::vector<UserProperty> unsubscribe_user_properties;  // accepted, not sent: the facade has no field
    std::vector<UserProperty> disconnect_user_properties;   // accepted, not sent: the facade has no field
    std::optional<std::uint32_t> disconnect_session_expiry_interval;  // accepted, not sent
};

// Parses one -D: {command, name, value[, value2]}. Returns the mosquitto-style error text on failure.
[[nodiscard]] std::optional<std::string> add_property(Properties& props, const std::vector<std::string>& words);

struct Options {
    Tool tool = Tool::Sub;
    // Connection
    std::string host = "localhost";
    std::optional<std::uint16_t> port;
    std::string unix_socket;
    std::string url;  // -L as given
    std::string scheme = "mqtt";  // mqtt, mqtts, ws, wss
    std::string ws_path;          // for ws/wss from -L
    ProtocolVersion version = ProtocolVersion::V3_1_1;
    std::string id;
    std::string id_prefix;
    bool clean_session = true;
    std::uint16_t keepalive = 60;
    std::optional<std::uint32_t> session_expiry;  // -x
    std::optional<std::string> username;
    std::optional<std::string> password;
    std::string auth_method;  // --auth-method: "" (plain -u/-P) or "scram-sha-256" (5.0 enhanced authentication)
    std::optional<std::string> will_topic;
    std::optional<std::string> will_payload;
    QoS will_qos = QoS::AtMostOnce;
    bool will_retain = false;
    std::string cafile, capath, cert, key, tls_version;
    bool insecure = false;
    bool tls_use_os_certs = false;
    bool debug = false;
    bool quiet = false;
    // Publishing (pub, rr)
    std::string topic;
    PayloadSource source = PayloadSource::None;
    std::string message;  // -m
    std::string file;     // -f
    QoS qos = QoS::AtMostOnce;  // also the subscription QoS of sub and rr
    bool retain = false;
    long repeat = 1;
    double repeat_delay_s = 0;
    // Receiving (sub, rr)
    std::vector<std::string> topics;      // sub -t
    std::vector<std::string> filter_out;  // -T
    std::vector<std::string> unsubscribe; // -U
    OutputOptions output;
    long count = 0;                       // -C; rr: 1
    std::optional<unsigned> timeout_s;    // -W
    bool exit_after_subscribe = false;    // -E
    bool no_retained = false;             // -R
    bool retained_only = false;           // --retained-only
    bool remove_retained = false;         // --remove-retained
    std::string response_topic;           // rr -e
    Properties props;
};

struct ParseResult {
    std::optional<Options> options;  // nullopt: print out/err and exit with exit_code
    int exit_code = 0;
    std::string out;
    std::string err;
};

// `args` are the words after "moth pub" / "moth sub" / "moth rr".
[[nodiscard]] ParseResult parse(Tool tool, const std::vector<std::string>& args);

// The client id the tool connects with: -i, or -I followed by `pid`, or empty (the broker assigns one) where the
// protocol allows it; MQTT 3.1 requires one, so moth_<tool>_<pid> is used there.
[[nodiscard]] std::string client_id(const Options& options, long pid);

// Library options for the parsed command line; fails (with the text to print) on what the library cannot do.
[[nodiscard]] boost::system::result<ConnectOptions, std::string> to_connect_options(const Options& options,
                                                                                     long pid);

// MQTT topic filter matching (for -T), with the '$' rule: wildcards at the start do not match $SYS topics.
[[nodiscard]] bool topic_matches(std::string_view filter, std::string_view topic);

}  // namespace moth::cli
