#pragma once
// Command lines of `moth sn pub`, `moth sn sub` and `moth sn bench` (the MQTT-SN 1.2 client side, issue 22).
// Parsing is pure: nothing is resolved or sent, so it is unit tested directly. Flags follow mosquitto_pub/sub
// where they mean the same thing (-h -p -i -t -m -q -r -k -C -W -v); exit code 2 for bad options, as the other
// `moth sn` failures (1) must stay distinguishable from a usage error in scripts.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace moth::cli::sn {

enum class SnTool : std::uint8_t { Pub, Sub, Bench };

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // protocol or network failure (message on stderr)
inline constexpr int kExitBadOptions = 2;
inline constexpr int kExitTimedOut = 27;  // sub -W expired before -C messages: mosquitto_sub's (and moth sub's) code

// How a PUBLISH or SUBSCRIBE names its topic: a name (REGISTERed for PUBLISH; a filter for SUBSCRIBE), a
// two-character short name, or a predefined topic id the gateway's configuration knows.
enum class TopicKind : std::uint8_t { Name, Short, Predefined };

struct Will {
    std::string topic;
    std::string payload;
    std::uint8_t qos = 0;
    bool retain = false;
};

// What pub, sub and bench share: where the gateway is and how patiently to talk to it.
struct Endpoint {
    std::string host = "localhost";
    std::uint16_t port = 1884;      // 1885 with --dtls unless -p is given (the mqttsns listener's default)
    bool ipv6 = false;              // -6: resolve to an IPv6 address only
    std::uint32_t retry_ms = 1000;  // Tretry; the spec's default is 10-15 s, too slow for a person at a terminal
    std::uint32_t tries = 5;        // --retries: sends of one message in all before giving up
    // DTLS 1.2 (RFC 6347) to an mqttsns listener: the gateway's certificate is verified against cafile (empty:
    // the system's CAs) unless insecure; cert/key are presented when both are given.
    bool dtls = false;
    std::string cafile;
    std::string cert;
    std::string key;
    bool insecure = false;
};

struct SnOptions {
    SnTool tool = SnTool::Pub;
    Endpoint gateway;
    std::string id;                  // -i; empty: moth-sn-<pid>
    std::uint16_t keepalive_s = 60;  // CONNECT's Duration
    bool clean = true;
    std::optional<Will> will;
    TopicKind topic_kind = TopicKind::Name;
    std::string topic;                     // -t (pub: a name; sub: a filter) or --short's two characters
    std::uint16_t topic_id = 0;            // --predefined
    std::int8_t qos = 0;                   // pub: -1..2; sub: 0..2
    bool verbose = false;                  // sub -v
    std::optional<std::uint16_t> sleep_s;  // --sleep: DISCONNECT with this duration (pub: after publishing)
    // pub
    std::string message;  // -m
    bool retain = false;
    std::uint32_t count = 1;
    std::uint32_t interval_ms = 0;
    // sub
    std::uint64_t max_messages = 0;          // -C; 0: no limit
    std::optional<std::uint32_t> timeout_s;  // -W
    std::uint32_t wake_every_ms = 0;         // --wake-every-ms: a sleeping subscriber's PINGREQ period
};

struct BenchOptions {
    Endpoint gateway;
    std::uint32_t clients = 1;
    double rate_per_client = 1;  // PUBLISHes per second per client
    double duration_s = 10;
    std::int8_t qos = 1;
    std::string prefix = "bench/sn";
    bool subscribe = false;
    double connect_rate = 500;  // new clients per second
    std::uint16_t keepalive_s = 60;
    std::uint32_t payload_size = 16;  // >= the 16-byte benchmark header
    double drain_s = 0;               // after publishing; 0: long enough for every retransmission
    std::string id_prefix = "snbench-";
    long broker_pid = 0;
};

struct ParseResult {
    std::optional<SnOptions> options;  // nullopt: print out (stdout) / err (stderr) and exit with exit_code
    std::optional<BenchOptions> bench;
    int exit_code = 0;
    std::string out;
    std::string err;
};

// `args` are the words after "moth sn pub" / "moth sn sub" / "moth sn bench".
[[nodiscard]] ParseResult parse(SnTool tool, const std::vector<std::string>& args);

// The client id used when -i is not given.
[[nodiscard]] std::string default_client_id(SnTool tool, long pid);

}  // namespace moth::cli::sn
