#include "bench_stats.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>

#include "options.hpp"

namespace moth::cli::bench {

// ---- payload header ------------------------------------------------------------------------------------------
namespace {
void put_le(std::byte* p, std::uint64_t v, int n) noexcept {
    for (int i = 0; i < n; ++i) p[i] = static_cast<std::byte>((v >> (8 * i)) & 0xffU);
}
std::uint64_t get_le(const std::byte* p, int n) noexcept {
    std::uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= std::uint64_t{std::to_integer<std::uint8_t>(p[i])} << (8 * i);
    return v;
}
}  // namespace

void write_header(std::span<std::byte> payload, const PayloadHeader& h) noexcept {
    put_le(payload.data(), h.send_ns, 8);
    put_le(payload.data() + 8, h.publisher, 4);
    put_le(payload.data() + 12, h.seq, 4);
}

std::optional<PayloadHeader> read_header(std::span<const std::byte> payload) noexcept {
    if (payload.size() < kHeaderSize) return std::nullopt;
    return PayloadHeader{get_le(payload.data(), 8), static_cast<std::uint32_t>(get_le(payload.data() + 8, 4)),
                         static_cast<std::uint32_t>(get_le(payload.data() + 12, 4))};
}

// ---- histogram -------------------------------------------------------------------------------------------------
namespace {
constexpr unsigned kMaxExp = 40;  // values >= 2^40 ns share the last bucket
constexpr std::size_t kSub = std::size_t{1} << Histogram::kSubBits;
constexpr std::size_t kBuckets = kSub + (kMaxExp - Histogram::kSubBits + 1) * kSub;
}  // namespace

Histogram::Histogram() : buckets_(kBuckets, 0) {}

std::size_t Histogram::bucket_of(std::uint64_t ns) noexcept {
    if (ns < kSub) return static_cast<std::size_t>(ns);
    const auto e = static_cast<unsigned>(std::bit_width(ns) - 1);  // >= kSubBits
    if (e > kMaxExp) return kBuckets - 1;
    const unsigned shift = e - kSubBits;
    const auto mantissa = static_cast<std::size_t>(ns >> shift);  // in [kSub, 2 kSub)
    return kSub + shift * kSub + (mantissa - kSub);
}

std::uint64_t Histogram::bucket_upper(std::size_t bucket) noexcept {
    if (bucket < kSub) return bucket;
    const std::size_t shift = (bucket - kSub) / kSub;
    const std::uint64_t mantissa = kSub + (bucket - kSub) % kSub;
    return ((mantissa + 1) << shift) - 1;
}

void Histogram::record(std::uint64_t ns) noexcept {
    ++buckets_[bucket_of(ns)];
    ++count_;
    max_ = std::max(max_, ns);
    min_ = std::min(min_, ns);
}

void Histogram::merge(const Histogram& other) noexcept {
    for (std::size_t i = 0; i < kBuckets; ++i) buckets_[i] += other.buckets_[i];
    count_ += other.count_;
    max_ = std::max(max_, other.max_);
    min_ = std::min(min_, other.min_);
}

std::uint64_t Histogram::percentile(double q) const noexcept {
    if (count_ == 0) return 0;
    q = std::clamp(q, 0.0, 1.0);
    auto target = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
    target = std::clamp<std::uint64_t>(target, 1, count_);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
        seen += buckets_[i];
        if (seen >= target) return std::clamp(bucket_upper(i), min_, max_);
    }
    return max_;
}

// ---- receipts --------------------------------------------------------------------------------------------------
bool Receipts::record(std::uint32_t publisher, std::uint32_t seq) {
    if (publisher >= streams_.size()) streams_.resize(std::size_t{publisher} + 1);
    Stream& s = streams_[publisher];
    const std::size_t word = seq / 64;
    const std::uint64_t bit = std::uint64_t{1} << (seq % 64);
    if (word >= s.bits.size()) s.bits.resize(std::max(word + 1, s.bits.size() * 2), 0);
    ++received_;
    if ((s.bits[word] & bit) != 0) {
        ++duplicates_;
        return false;
    }
    s.bits[word] |= bit;
    ++s.unique;
    if (static_cast<std::int64_t>(seq) < s.last) {
        ++out_of_order_;
    } else {
        s.last = seq;
    }
    return true;
}

namespace {
std::uint64_t count_bits(const std::vector<std::uint64_t>& bits, std::uint64_t from, std::uint64_t to) {
    std::uint64_t n = 0;
    for (std::uint64_t w = from / 64; w < bits.size() && w * 64 < to; ++w) {
        std::uint64_t v = bits[w];
        const std::uint64_t lo = w * 64;
        if (from > lo) v &= ~std::uint64_t{0} << (from - lo);
        if (to < lo + 64) v &= (std::uint64_t{1} << (to - lo)) - 1;
        n += static_cast<std::uint64_t>(std::popcount(v));
    }
    return n;
}
}  // namespace

Accounting account(const std::vector<const Receipts*>& subscribers, const std::vector<std::vector<std::size_t>>& groups,
                   const std::vector<std::vector<std::uint32_t>>& expected, const std::vector<std::uint64_t>& sent) {
    Accounting a;
    for (const Receipts* r : subscribers) {
        a.received += r->received();
        a.out_of_order += r->out_of_order();
    }
    std::vector<std::uint64_t> merged;
    for (std::size_t g = 0; g < groups.size(); ++g) {
        std::vector<bool> wanted(sent.size(), false);
        if (g < expected.size()) {
            for (std::uint32_t p : expected[g]) {
                if (p < sent.size()) {
                    wanted[p] = true;
                    a.expected += sent[p];
                }
            }
        }
        std::uint64_t copies = 0;
        std::size_t npub = sent.size();
        for (std::size_t m : groups[g]) {
            copies += subscribers[m]->received();
            npub = std::max(npub, subscribers[m]->streams().size());
        }
        std::uint64_t distinct = 0;
        for (std::size_t p = 0; p < npub; ++p) {
            const std::vector<std::uint64_t>* bits = nullptr;
            if (groups[g].size() == 1) {
                const auto& streams = subscribers[groups[g][0]]->streams();
                if (p < streams.size()) bits = &streams[p].bits;
            } else {
                merged.clear();
                for (std::size_t m : groups[g]) {
                    const auto& streams = subscribers[m]->streams();
                    if (p >= streams.size()) continue;
                    const auto& b = streams[p].bits;
                    if (merged.size() < b.size()) merged.resize(b.size(), 0);
                    for (std::size_t w = 0; w < b.size(); ++w) merged[w] |= b[w];
                }
                bits = &merged;
            }
            const std::uint64_t total = bits ? count_bits(*bits, 0, ~std::uint64_t{0} >> 1) : 0;
            distinct += total;
            const bool want = p < wanted.size() && wanted[p];
            if (want) {
                const std::uint64_t in_range = bits ? count_bits(*bits, 0, sent[p]) : 0;
                a.lost += sent[p] - in_range;
                a.unexpected += total - in_range;
            } else {
                a.unexpected += total;
            }
        }
        a.unique += distinct;
        a.duplicated += copies - distinct;
    }
    return a;
}

// ---- patterns --------------------------------------------------------------------------------------------------
std::string expand(std::string_view pattern, std::uint64_t index, std::uint64_t seq) {
    std::string out;
    out.reserve(pattern.size() + 8);
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        if (pattern[i] == '%' && i + 1 < pattern.size()) {
            const char c = pattern[i + 1];
            if (c == 'i' || c == 'j' || c == '%') {
                ++i;
                if (c == '%')
                    out += '%';
                else
                    out += std::to_string(c == 'i' ? index : seq);
                continue;
            }
        }
        out += pattern[i];
    }
    return out;
}

bool has_seq(std::string_view pattern) noexcept {
    for (std::size_t i = 0; i + 1 < pattern.size(); ++i) {
        if (pattern[i] == '%') {
            if (pattern[i + 1] == 'j') return true;
            ++i;  // skip "%%" and "%i"
        }
    }
    return false;
}

std::string_view share_group(std::string_view filter) noexcept {
    constexpr std::string_view kShare = "$share/";
    if (!filter.starts_with(kShare)) return {};
    const auto rest = filter.substr(kShare.size());
    const auto slash = rest.find('/');
    return slash == std::string_view::npos ? std::string_view{} : rest.substr(0, slash);
}

bool filter_matches(std::string_view filter, std::string_view topic) {
    const auto group = share_group(filter);
    if (!group.empty()) filter.remove_prefix(std::string_view("$share/").size() + group.size() + 1);
    return topic_matches(filter, topic);
}

// ---- command line ----------------------------------------------------------------------------------------------
namespace {
struct ScenarioName {
    Scenario s;
    std::string_view name;
};
constexpr ScenarioName kScenarios[] = {
    {Scenario::Conn, "conn"},     {Scenario::Pub, "pub"},     {Scenario::Sub, "sub"},       {Scenario::Pairs, "pairs"},
    {Scenario::FanOut, "fanout"}, {Scenario::FanIn, "fanin"}, {Scenario::Shared, "shared"},
};
}  // namespace

std::optional<Scenario> parse_scenario(std::string_view name) noexcept {
    if (name == "pubsub") return Scenario::Pairs;
    if (name == "fan-out") return Scenario::FanOut;
    if (name == "fan-in") return Scenario::FanIn;
    for (const auto& s : kScenarios) {
        if (s.name == name) return s.s;
    }
    return std::nullopt;
}

std::string_view scenario_name(Scenario s) noexcept {
    for (const auto& n : kScenarios) {
        if (n.s == s) return n.name;
    }
    return "?";
}

std::uint32_t Options::num_publishers() const noexcept {
    if (publishers != 0) return publishers;
    switch (scenario) {
        case Scenario::Conn:
        case Scenario::Sub:
            return 0;
        case Scenario::Pub:
            return clients != 0 ? clients : 10;
        case Scenario::Pairs:
            return clients != 0 ? clients : 50;
        case Scenario::FanOut:
            return 1;
        case Scenario::FanIn:
        case Scenario::Shared:
            return clients != 0 ? clients : 200;
    }
    return 0;
}

std::uint32_t Options::num_subscribers() const noexcept {
    if (subscribers != 0) return subscribers;
    switch (scenario) {
        case Scenario::Conn:
        case Scenario::Pub:
            return 0;
        case Scenario::Sub:
            return clients != 0 ? clients : 10;
        case Scenario::Pairs:
            return clients != 0 ? clients : 50;
        case Scenario::FanOut:
            return clients != 0 ? clients : 200;
        case Scenario::FanIn:
            return 1;
        case Scenario::Shared:
            return 10;
    }
    return 0;
}

std::uint32_t Options::effective_window() const noexcept {
    if (window) return *window;
    if (scenario == Scenario::FanIn || scenario == Scenario::Shared) {
        return std::max<std::uint32_t>(1, 1000 * num_subscribers() / std::max<std::uint32_t>(1, num_publishers()) / 2);
    }
    return 1000;
}

std::string Options::topic_pattern() const {
    if (!topic.empty()) return topic;
    return scenario == Scenario::FanOut ? "bench/fanout" : "bench/%i";
}

std::string Options::filter_pattern() const {
    if (!filter.empty()) return filter;
    switch (scenario) {
        case Scenario::Pairs:
            return "bench/%i";
        case Scenario::FanOut:
            return "bench/fanout";
        case Scenario::Shared:
            return "$share/" + group + "/bench/+";
        case Scenario::FanIn:
            return "bench/+";
        default:
            return "bench/#";
    }
}

Credentials credentials(const Options& o, std::uint64_t index) {
    Credentials c;
    if (o.username) c.username = expand(*o.username, index);
    if (o.password) c.password = expand(*o.password, index);
    return c;
}

std::string_view usage() noexcept {
    return "Usage: moth bench SCENARIO [options]\n"
           "\n"
           "Load generator: connects many clients, publishes and receives as fast as asked, and reports throughput,\n"
           "latency percentiles (p50, p99, p99.9, max) and exact lost / duplicated / out-of-order counts. A progress\n"
           "line goes to stderr every second; --json prints the result as one JSON object on stdout.\n"
           "\n"
           "Scenarios:\n"
           "  conn     open --clients connections at --connect-rate and hold them for --duration\n"
           "  pub      --clients publishers (default 10)\n"
           "  sub      --clients subscribers (default 10) on --filter (default bench/#)\n"
           "  pairs    --clients pairs (default 50): publisher i -> subscriber i on bench/%i (alias: pubsub)\n"
           "  fanout   1 publisher -> --clients subscribers (default 200) on bench/fanout\n"
           "  fanin    --clients publishers (default 200) on bench/%i -> 1 subscriber on bench/+\n"
           "  shared   --clients publishers (default 200) -> 10 subscribers of $share/bench/bench/+\n"
           "\n"
           "Options:\n"
           "  -L, --url URL          mqtt://, mqtts://, ws://, wss:// (default mqtt://127.0.0.1:1883)\n"
           "  -V, --mqtt-version V   311 or 5 (default 311)\n"
           "  -c, --clients N        clients of the scenario's main kind (see above)\n"
           "  -P, --publishers N     publishers (overrides the scenario's count)\n"
           "  -S, --subscribers N    subscribers (overrides the scenario's count)\n"
           "  -q, --qos Q            0 or 1 (default 0), for publishing and subscribing\n"
           "  -s, --size BYTES       payload size, at least 16 (the header: send time, publisher, sequence)\n"
           "  -t, --topic PATTERN    publishers' topic; %i is the client index, %j the message's sequence number\n"
           "  -f, --filter PATTERN   subscribers' filter; %i is the client index\n"
           "      --group NAME       shared subscription group of the shared scenario (default bench)\n"
           "  -r, --rate R           messages/s per publisher (default: full speed)\n"
           "  -R, --total-rate R     messages/s over all publishers\n"
           "  -w, --window W         closed loop: a publisher waits while more than W of its messages are\n"
           "                         undelivered (default 1000; fanin, shared: 500 x subscribers / publishers;\n"
           "                         0: open loop)\n"
           "  -n, --count N          pub: messages per publisher, then stop; sub: stop after N messages in total\n"
           "      --retain           publish retained messages\n"
           "      --connect-rate R   new connections per second (default: as fast as they complete)\n"
           "      --max-pending N    connections being set up at once (default 100)\n"
           "  -d, --duration S       seconds of measuring once all clients are connected (default 10)\n"
           "      --drain S          seconds to wait for the last messages after publishing stops (default 2)\n"
           "      --idle-stop S      stop once messages have arrived and then none for S seconds (e.g. retained)\n"
           "      --session-expiry S persistent sessions: 5.0 Session Expiry Interval S, 3.1.1 Clean Session 0\n"
           "  -T, --threads N        generator threads (default 1)\n"
           "  -k, --keepalive S      MQTT keep alive (default 0: no PINGREQ)\n"
           "      --prefix P         client id prefix (default bench)\n"
           "  -u, --username PATTERN user name; %i is the connection's index (0.. over all connections: subscribers,\n"
           "                         then publishers, then idle), so -u user%i gives each its own user\n"
           "      --pw, --password PATTERN\n"
           "                         password; %i as for --username (-P is --publishers here, not mosquitto's -P)\n"
           "      --connect-timeout S  fail a connection whose CONNACK (or SUBACK) has not come in S s (default 60)\n"
           "      --cafile FILE      CA certificate for mqtts:// and wss://\n"
           "      --insecure         do not verify the server's certificate\n"
           "      --bind ADDR        connect from this local IP address (bind before connect; mqtt:// only), e.g.\n"
           "                         127.0.0.2: each source address has its own ~28k ephemeral ports\n"
           "      --broker-pid PID   also report the broker's CPU time per message and memory (/proc/PID)\n"
           "      --json             print the result as JSON on stdout\n"
           "      --quiet            no progress line\n";
}

namespace {
template <class T>
bool to_number(std::string_view s, T& out) {
    if constexpr (std::is_floating_point_v<T>) {
        try {
            std::size_t used = 0;
            const double v = std::stod(std::string(s), &used);
            if (used != s.size() || !std::isfinite(v) || v < 0) return false;
            out = static_cast<T>(v);
            return true;
        } catch (...) {
            return false;
        }
    } else {
        const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
        return ec == std::errc{} && p == s.data() + s.size();
    }
}
// An IPv4 or IPv6 literal (no host names: the source address must be one of this machine's).
bool is_ip_address(const std::string& s) {
    unsigned char buf[sizeof(in6_addr)];
    return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}
}  // namespace

ParseResult parse_options(const std::vector<std::string>& args) {
    ParseResult r;
    auto fail = [&](std::string text) {
        r.exit_code = 1;
        r.text = "Error: " + text + "\n\n" + std::string(usage());
        return r;
    };
    if (args.empty()) return fail("missing scenario");
    if (args[0] == "-h" || args[0] == "--help") {
        r.text = usage();
        return r;
    }
    Options o;
    const auto sc = parse_scenario(args[0]);
    if (!sc) return fail("unknown scenario '" + args[0] + "'");
    o.scenario = *sc;
    for (std::size_t i = 1; i < args.size(); ++i) {
        const std::string& a = args[i];
        auto value = [&](std::string& out) {
            if (i + 1 >= args.size()) return false;
            out = args[++i];
            return true;
        };
        std::string v;
        auto num = [&]<class T>(T& out) {
            if (!value(v)) return false;
            return to_number(v, out);
        };
        bool ok = true;
        if (a == "-h" || a == "--help") {
            r.text = usage();
            return r;
        } else if (a == "-L" || a == "--url")
            ok = value(o.url);
        else if (a == "-V" || a == "--mqtt-version") {
            ok = value(v);
            if (v == "311" || v == "mqttv311" || v == "4")
                o.version = 4;
            else if (v == "5" || v == "mqttv5")
                o.version = 5;
            else
                ok = false;
        } else if (a == "-c" || a == "--clients")
            ok = num(o.clients);
        else if (a == "-P" || a == "--publishers")
            ok = num(o.publishers);
        else if (a == "-S" || a == "--subscribers")
            ok = num(o.subscribers);
        else if (a == "-q" || a == "--qos") {
            unsigned q = 0;
            ok = num(q);
            if (ok && q > 1) return fail("QoS must be 0 or 1 (moth bench does not drive QoS 2)");
            o.qos = static_cast<std::uint8_t>(q);
        } else if (a == "-s" || a == "--size")
            ok = num(o.size);
        else if (a == "-t" || a == "--topic")
            ok = value(o.topic);
        else if (a == "-f" || a == "--filter")
            ok = value(o.filter);
        else if (a == "--group")
            ok = value(o.group);
        else if (a == "-r" || a == "--rate")
            ok = num(o.rate);
        else if (a == "-R" || a == "--total-rate")
            ok = num(o.total_rate);
        else if (a == "-w" || a == "--window") {
            std::uint32_t w = 0;
            ok = num(w);
            o.window = w;
        } else if (a == "-n" || a == "--count")
            ok = num(o.count);
        else if (a == "--retain")
            o.retain = true;
        else if (a == "--connect-rate")
            ok = num(o.connect_rate);
        else if (a == "--max-pending")
            ok = num(o.max_pending) && o.max_pending > 0;
        else if (a == "-d" || a == "--duration")
            ok = num(o.duration_s);
        else if (a == "--drain")
            ok = num(o.drain_s);
        else if (a == "--idle-stop")
            ok = num(o.idle_stop_s);
        else if (a == "--session-expiry")
            ok = num(o.session_expiry_s);
        else if (a == "-T" || a == "--threads")
            ok = num(o.threads) && o.threads > 0 && o.threads <= 256;
        else if (a == "-k" || a == "--keepalive")
            ok = num(o.keepalive);
        else if (a == "--prefix")
            ok = value(o.client_prefix);
        else if (a == "-u" || a == "--username")
            ok = value(o.username.emplace());
        else if (a == "--pw" || a == "--password")
            ok = value(o.password.emplace());
        else if (a == "--connect-timeout")
            ok = num(o.connect_timeout_s) && o.connect_timeout_s > 0;
        else if (a == "--cafile")
            ok = value(o.cafile);
        else if (a == "--insecure")
            o.insecure = true;
        else if (a == "--bind")
            ok = value(o.bind) && is_ip_address(o.bind);
        else if (a == "--broker-pid")
            ok = num(o.broker_pid) && o.broker_pid > 0;
        else if (a == "--json")
            o.json = true;
        else if (a == "--quiet")
            o.quiet = true;
        else
            return fail("unknown option '" + a + "'");
        if (!ok) return fail("bad or missing value for " + a);
    }
    if (o.size < kHeaderSize) return fail("--size must be at least 16 (the payload header)");
    if (o.group.empty() || o.group.find_first_of("/+#") != std::string::npos) return fail("bad --group");
    // [MQTT-3.1.2-22]: in 3.1.1 the Password Flag must be 0 when the User Name Flag is 0 (5.0 allows a password
    // alone).
    if (o.password && !o.username && o.version == 4) return fail("--password needs --username in MQTT 3.1.1");
    // The TLS and WebSocket handshakes live in net::connect(), which binds nothing; plain TCP is what a connection
    // count needs (bench/conn100k.sh).
    if (!o.bind.empty() && o.url.find("://") != std::string::npos && !o.url.starts_with("mqtt://"))
        return fail("--bind works with mqtt:// URLs only");
    if (o.scenario == Scenario::Conn && o.clients == 0) o.clients = 100;
    r.options = std::move(o);
    return r;
}

}  // namespace moth::cli::bench
