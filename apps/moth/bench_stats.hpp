#pragma once
// The measuring half of `moth bench`, free of I/O so that it is unit tested directly: the payload header that
// every benchmark message starts with, the latency histogram and its percentiles, the per-subscriber accounting of
// lost, duplicated and out-of-order messages, topic patterns, and the command line.
//
// Thread affinity: none of these types is thread safe. The generator gives each thread its own Histogram and each
// subscriber connection its own Receipts; they are merged after the threads have stopped.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/system/result.hpp>

namespace moth::cli::bench {

// ---- payload header ------------------------------------------------------------------------------------------
// The first 16 bytes of every payload, little endian: send time (steady clock, ns), publisher id, sequence number
// (0, 1, 2, ... per publisher). Payloads are at least this long; the rest is filler.
inline constexpr std::size_t kHeaderSize = 16;

struct PayloadHeader {
    std::uint64_t send_ns = 0;
    std::uint32_t publisher = 0;
    std::uint32_t seq = 0;
    friend bool operator==(const PayloadHeader&, const PayloadHeader&) = default;
};

void write_header(std::span<std::byte> payload, const PayloadHeader& h) noexcept;  // payload.size() >= kHeaderSize
// nullopt when the payload is shorter than the header (a message the benchmark did not send).
[[nodiscard]] std::optional<PayloadHeader> read_header(std::span<const std::byte> payload) noexcept;

// ---- latency histogram ---------------------------------------------------------------------------------------
// Log-linear buckets over nanoseconds: exact below 2^kSubBits ns, then 2^kSubBits buckets per power of two
// (relative error under 1/256). Values above about 18 minutes land in the last bucket. max() is exact.
class Histogram {
public:
    static constexpr unsigned kSubBits = 8;
    Histogram();
    void record(std::uint64_t ns) noexcept;
    void merge(const Histogram& other) noexcept;
    [[nodiscard]] std::uint64_t count() const noexcept { return count_; }
    [[nodiscard]] std::uint64_t max() const noexcept { return max_; }
    [[nodiscard]] std::uint64_t min() const noexcept { return count_ == 0 ? 0 : min_; }
    // The smallest recorded value v such that at least q (0..1] of the values are <= v, to the bucket's
    // precision (the bucket's upper bound, never above max()); 0 when empty.
    [[nodiscard]] std::uint64_t percentile(double q) const noexcept;

    [[nodiscard]] static std::size_t bucket_of(std::uint64_t ns) noexcept;
    [[nodiscard]] static std::uint64_t bucket_upper(std::size_t bucket) noexcept;

private:
    std::vector<std::uint64_t> buckets_;
    std::uint64_t count_ = 0;
    std::uint64_t max_ = 0;
    std::uint64_t min_ = ~std::uint64_t{0};
};

// ---- delivery accounting -------------------------------------------------------------------------------------
// What one subscriber connection received, per publisher: a bitmap of sequence numbers (for duplicates and, after
// the run, for loss) and the last sequence number (a smaller one arriving later is out of order).
class Receipts {
public:
    // Records one message; returns false if it is a duplicate (already received on this connection).
    bool record(std::uint32_t publisher, std::uint32_t seq);
    [[nodiscard]] std::uint64_t received() const noexcept { return received_; }
    [[nodiscard]] std::uint64_t duplicates() const noexcept { return duplicates_; }
    [[nodiscard]] std::uint64_t out_of_order() const noexcept { return out_of_order_; }

    struct Stream {
        std::vector<std::uint64_t> bits;  // bit s: seq s received
        std::uint64_t unique = 0;
        std::int64_t last = -1;
    };
    [[nodiscard]] const std::vector<Stream>& streams() const noexcept { return streams_; }  // index: publisher

private:
    std::vector<Stream> streams_;
    std::uint64_t received_ = 0;
    std::uint64_t duplicates_ = 0;
    std::uint64_t out_of_order_ = 0;
};

// Exact totals for a run. `groups[g]` are the subscriber connections that share deliveries (a shared
// subscription group; every other subscriber is a group of its own); `expected[g]` the publishers whose messages
// group g must receive; `sent[p]` how many messages publisher p sent. A message counts as lost when no member of
// a group that expects it received it, and as duplicated for every copy beyond the first within a group.
struct Accounting {
    std::uint64_t expected = 0;  // sum over groups of the messages their publishers sent
    std::uint64_t received = 0;  // every copy received
    std::uint64_t unique = 0;    // distinct (group, publisher, seq) received, expected or not
    std::uint64_t lost = 0;
    std::uint64_t duplicated = 0;
    std::uint64_t out_of_order = 0;
    std::uint64_t unexpected = 0;  // received by a group that does not expect that publisher
};
[[nodiscard]] Accounting account(const std::vector<const Receipts*>& subscribers,
                                 const std::vector<std::vector<std::size_t>>& groups,
                                 const std::vector<std::vector<std::uint32_t>>& expected,
                                 const std::vector<std::uint64_t>& sent);

// ---- patterns --------------------------------------------------------------------------------------------------
// "%i" becomes the client index, "%j" the message's sequence number (topics only), "%%" a '%'.
[[nodiscard]] std::string expand(std::string_view pattern, std::uint64_t index, std::uint64_t seq = 0);
[[nodiscard]] bool has_seq(std::string_view pattern) noexcept;  // contains %j

// MQTT filter matching including shared subscriptions: "$share/<group>/<filter>" matches as <filter>.
[[nodiscard]] bool filter_matches(std::string_view filter, std::string_view topic);
// The group name of a shared subscription filter, empty for an ordinary one.
[[nodiscard]] std::string_view share_group(std::string_view filter) noexcept;

// ---- command line ----------------------------------------------------------------------------------------------
enum class Scenario : std::uint8_t { Conn, Pub, Sub, Pairs, FanOut, FanIn, Shared };
[[nodiscard]] std::optional<Scenario> parse_scenario(std::string_view name) noexcept;
[[nodiscard]] std::string_view scenario_name(Scenario s) noexcept;

struct Options {
    Scenario scenario = Scenario::Pairs;
    std::string url = "mqtt://127.0.0.1:1883";
    std::uint8_t version = 4;       // 4 = MQTT 3.1.1, 5 = 5.0
    std::uint32_t clients = 0;      // conn/pub/sub; pairs: pairs (0: the scenario's default)
    std::uint32_t publishers = 0;   // 0: the scenario's default
    std::uint32_t subscribers = 0;  // 0: the scenario's default
    std::uint8_t qos = 0;
    std::size_t size = 64;        // payload bytes, >= kHeaderSize
    std::string topic;            // publishers' topic pattern; empty: the scenario's default
    std::string filter;           // subscribers' filter pattern; empty: the scenario's default
    std::string group = "bench";  // shared: the group name
    double rate = 0;              // messages/s per publisher; 0: see total_rate
    double total_rate = 0;        // messages/s over all publishers; both 0: full speed
    // Closed loop: a publisher waits while more than this many of its messages are undelivered (not yet received
    // by every subscriber group that expects them); 0: open loop. Unset: 1000 divided over the publishers that
    // share one subscriber (fan-in, shared), so that the broker's queues (1000 messages) are not what is measured.
    std::optional<std::uint32_t> window;
    std::uint64_t count = 0;  // pub: messages per publisher, then stop; sub: stop after this many in total
    bool retain = false;
    double connect_rate = 0;          // new connections/s over all threads; 0: as fast as they complete
    std::uint32_t max_pending = 100;  // connections being set up at once
    double duration_s = 10;           // measuring time once everything is connected (conn: holding time)
    double drain_s = 2;               // after publishing: how long to wait for the last messages
    double idle_stop_s = 0;           // stop once messages have arrived and then none for this long; 0: never
    unsigned threads = 1;
    std::uint16_t keepalive = 0;  // 0: no PINGREQ, connections stay open as long as the run
    std::string client_prefix = "bench";
    // Non-zero: persistent sessions (5.0 Session Expiry Interval; 3.1.1 Clean Session 0), so that QoS 1 messages
    // are stored for them (the broker's store, a cluster's copy of sessions). 0: clean sessions.
    std::uint32_t session_expiry_s = 0;
    // CONNECT's user name and password patterns, %i the connection's index (see credentials()); nullopt: not sent.
    std::optional<std::string> username;
    std::optional<std::string> password;
    // A connection whose CONNACK (and SUBACK) has not come this long after the TCP/TLS/WebSocket connect fails, so
    // that a broker that never answers (or a password check queue that never drains) ends the run, not hangs it.
    double connect_timeout_s = 60;
    std::string cafile;
    bool insecure = false;
    // Local IP address every connection binds to before connecting (mqtt:// only); empty: the kernel's choice. One
    // source address gives at most about 28,000 connections towards one broker port (the ephemeral port range), so
    // more connections than that come from several addresses (127.0.0.2, 127.0.0.3, ...: bench/conn100k.sh).
    std::string bind;
    long broker_pid = 0;  // read the broker's CPU time and memory from /proc/<pid>
    bool json = false;
    bool quiet = false;  // no progress line

    // Effective values after the scenario's defaults.
    [[nodiscard]] std::uint32_t num_publishers() const noexcept;
    [[nodiscard]] std::uint32_t num_subscribers() const noexcept;
    [[nodiscard]] std::uint32_t effective_window() const noexcept;
    [[nodiscard]] std::string topic_pattern() const;
    [[nodiscard]] std::string filter_pattern() const;
};

// The user name and password that connection `index` sends: Options' patterns with %i (and %%) expanded. Indices
// count every connection of the run, subscribers first, then publishers, then idle ones, so "-u user%i" gives each
// connection its own user (in conn: user0 .. user<clients-1>).
struct Credentials {
    std::optional<std::string> username;
    std::optional<std::string> password;
};
[[nodiscard]] Credentials credentials(const Options& o, std::uint64_t index);

struct ParseResult {
    std::optional<Options> options;  // nullopt: print `text` (usage or error) and exit with `exit_code`
    int exit_code = 0;
    std::string text;
};
[[nodiscard]] ParseResult parse_options(const std::vector<std::string>& args);
[[nodiscard]] std::string_view usage() noexcept;

}  // namespace moth::cli::bench
