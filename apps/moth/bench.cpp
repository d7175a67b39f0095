// `moth bench`: the load generator's controller (main thread): parses the options, plans which subscriber expects
// which publisher, starts the worker threads (bench_run.hpp: the shared state; bench_conn.cpp: the connections),
// then connects, measures, drains, stops and reports. Measuring (histograms, receipts) is in bench_stats.cpp, the
// broker's CPU and memory in bench_proc.cpp.
#include "bench.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <map>
#include <memory>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>

#include "bench_proc.hpp"
#include "bench_run.hpp"
#include "bench_stats.hpp"

namespace moth::cli {
namespace {

using namespace bench;

std::atomic<bool> g_interrupted{false};
extern "C" void on_bench_signal(int) {
    g_interrupted.store(true);
}

std::string fmt_us(std::uint64_t ns) {
    char b[32];
    std::snprintf(b, sizeof b, "%.1f", static_cast<double>(ns) / 1e3);
    return b;
}

}  // namespace

int run_bench(const std::vector<std::string>& args) {
    auto parsed = parse_options(args);
    if (!parsed.options) {
        std::fputs(parsed.text.c_str(), parsed.exit_code == 0 ? stdout : stderr);
        return parsed.exit_code;
    }
    auto run = std::make_unique<Run>();
    run->o = std::move(*parsed.options);
    const Options& o = run->o;
    auto url = net::parse_url(o.url);
    if (!url) {
        std::fprintf(stderr, "Error: %s\n", url.error().c_str());
        return 1;
    }
    run->settings.url = *url;
    run->settings.tls.insecure = o.insecure;
    run->settings.tls.ca_file = o.cafile;
    run->settings.timeout = std::chrono::seconds(30);
    run->version = o.version == 5 ? codec::ProtocolVersion::V5 : codec::ProtocolVersion::V3_1_1;
    run->npub = o.num_publishers();
    run->nsub = o.num_subscribers();
    run->nidle = o.scenario == Scenario::Conn ? o.clients : 0;
    run->pubs = std::vector<PublisherState>(run->npub);
    const std::string tp = o.topic_pattern();
    for (std::uint32_t p = 0; p < run->npub; ++p)
        run->topics.push_back([&] {
            // %i expanded now, %j (and %%) left for each message
            std::string t;
            for (std::size_t i = 0; i < tp.size(); ++i) {
                if (tp[i] == '%' && i + 1 < tp.size() && tp[i + 1] == 'i') {
                    t += std::to_string(p);
                    ++i;
                } else if (tp[i] == '%' && i + 1 < tp.size()) {
                    t += tp.substr(i, 2);
                    ++i;
                } else {
                    t += tp[i];
                }
            }
            return t;
        }());
    // Which subscriber expects which publisher (by matching), and the groups that share deliveries.
    const bool known_topics = !has_seq(tp);
    std::vector<std::vector<std::size_t>> groups;
    std::map<std::string, std::size_t> shared_groups;
    const std::string fp = o.filter_pattern();
    for (std::uint32_t s = 0; s < run->nsub; ++s) {
        const std::string filter = expand(fp, s);
        std::vector<std::uint32_t> expects;
        if (known_topics) {
            for (std::uint32_t p = 0; p < run->npub; ++p) {
                if (filter_matches(filter, run->topics[p])) expects.push_back(p);
            }
        }
        run->sub_expects.push_back(expects);
        const auto group = share_group(filter);
        if (!group.empty()) {
            const std::string key = std::string(group) + "\n" + filter.substr(7 + group.size() + 1);
            auto [it, fresh] = shared_groups.emplace(key, groups.size());
            if (fresh) groups.emplace_back();
            groups[it->second].push_back(s);
        } else {
            groups.push_back({s});
        }
    }
    std::vector<std::vector<std::uint32_t>> group_expects;
    std::vector<std::vector<std::uint32_t>> sub_slots(run->nsub, std::vector<std::uint32_t>(run->npub, kNoSlot));
    for (const auto& g : groups) {
        group_expects.push_back(run->sub_expects[g.front()]);
        for (std::uint32_t p : group_expects.back()) {
            for (std::size_t m : g) sub_slots[m][p] = run->pubs[p].fan;
            ++run->pubs[p].fan;
        }
    }
    for (auto& p : run->pubs) {
        p.delivered = std::make_unique<std::atomic<std::uint64_t>[]>(p.fan);
        for (std::uint32_t g = 0; g < p.fan; ++g) p.delivered[g].store(0);
    }

    // Workers and connections: subscribers first (so they are subscribed before anyone publishes), then publishers.
    std::vector<std::unique_ptr<Worker>> workers;
    for (unsigned i = 0; i < o.threads; ++i) workers.push_back(std::make_unique<Worker>());
    std::vector<Conn*> subs, pubs, all;
    std::size_t next = 0;
    auto add = [&](Role role, std::uint32_t id) {
        Worker& w = *workers[next++ % workers.size()];
        w.conns.push_back(std::make_unique<Conn>(w, *run, role, id, all.size()));
        all.push_back(w.conns.back().get());
        return w.conns.back().get();
    };
    for (std::uint32_t s = 0; s < run->nsub; ++s) {
        subs.push_back(add(Role::Subscriber, s));
        subs.back()->slot = std::move(sub_slots[s]);
    }
    for (std::uint32_t p = 0; p < run->npub; ++p) pubs.push_back(add(Role::Publisher, p));
    for (std::uint32_t i = 0; i < run->nidle; ++i) add(Role::Idle, i);

    struct sigaction sa {};
    sa.sa_handler = on_bench_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    const ProcSample broker_before_connect = sample_process(o.broker_pid);
    const auto t_start = Clock::now();
    std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
    for (auto& w : workers) {
        guards.push_back(asio::make_work_guard(w->ioc));
        // Subscribers first: publishers are queued after them in each worker's list.
        asio::co_spawn(w->ioc, launcher(*w, *run), asio::detached);
        w->thread = std::thread([&ioc = w->ioc] { ioc.run(); });
    }

    const std::uint64_t total_conns = all.size();
    auto received_total = [&] {
        std::uint64_t n = 0;
        for (Conn* s : subs) n += s->received.load(std::memory_order_relaxed);
        return n;
    };
    auto sent_total = [&] {
        std::uint64_t n = 0;
        for (auto& p : run->pubs) n += p.sent.load(std::memory_order_relaxed);
        return n;
    };
    auto progress = [&](const char* phase, double secs, std::uint64_t ds, std::uint64_t dr, double dt) {
        if (o.quiet) return;
        std::fprintf(stderr, "[%6.1fs] %-8s conn %llu/%llu fail %llu  sent %llu (%.0f/s)  recv %llu (%.0f/s)\n", secs,
                     phase, static_cast<unsigned long long>(run->connected.load()),
                     static_cast<unsigned long long>(total_conns), static_cast<unsigned long long>(run->failed.load()),
                     static_cast<unsigned long long>(sent_total()), static_cast<double>(ds) / dt,
                     static_cast<unsigned long long>(received_total()), static_cast<double>(dr) / dt);
    };
    auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - t_start).count(); };

    // 1. Connect (and subscribe) everyone.
    {
        auto last = Clock::now();
        while (run->setup_done.load() < total_conns && !g_interrupted.load()) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling the workers' counters
            if (Clock::now() - last >= std::chrono::seconds(1)) {
                last = Clock::now();
                progress("connect", elapsed(), 0, 0, 1);
            }
        }
    }
    // First connect attempt to the last CONNACK; 0 when nobody connected (no last CONNACK).
    const std::uint64_t first_ns = run->first_connect_ns.load(), last_ns = run->last_connect_ns.load();
    const double connect_s = last_ns > first_ns ? static_cast<double>(last_ns - first_ns) / 1e9 : 0;
    // Memory held by the idle connections, after a short settle for the broker to finish its bookkeeping.
    ProcSample broker_connected;
    if (o.broker_pid > 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        broker_connected = sample_process(o.broker_pid);
    }

    // 2. Measure: publishers go; progress every second.
    const ProcSample b0 = sample_process(o.broker_pid);
    const double g0 = self_cpu_s();
    const std::uint64_t r0 = received_total();
    const auto m0 = Clock::now();
    run->go.store(true);
    auto publishers_done = [&] {
        if (run->npub == 0) return false;
        for (auto& p : run->pubs) {
            if (!p.done.load()) return false;
        }
        return true;
    };
    auto count_done = [&] { return o.scenario == Scenario::Sub && o.count > 0 && received_total() >= o.count; };
    std::uint64_t count_done_ns = 0;
    {
        auto last = m0;
        std::uint64_t ls = sent_total(), lr = received_total();
        const auto end = m0 + std::chrono::duration<double>(o.duration_s);
        std::uint64_t idle_r = lr;
        auto idle_since = Clock::now();
        auto went_idle = [&] {
            if (o.idle_stop_s <= 0) return false;
            const std::uint64_t r = received_total();
            if (r != idle_r) {
                idle_r = r;
                idle_since = Clock::now();
                return false;
            }
            return r > 0 && Clock::now() - idle_since >= std::chrono::duration<double>(o.idle_stop_s);
        };
        while (Clock::now() < end && !g_interrupted.load() && !publishers_done() && !count_done() && !went_idle()) {
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
            const auto now = Clock::now();
            if (now - last >= std::chrono::seconds(1)) {
                const std::uint64_t s = sent_total(), r = received_total();
                progress("run", elapsed(), s - ls, r - lr, std::chrono::duration<double>(now - last).count());
                ls = s;
                lr = r;
                last = now;
            }
        }
        if (count_done()) count_done_ns = now_ns();
    }
    const auto m1 = Clock::now();
    const std::uint64_t r1 = received_total();
    const std::uint64_t s1 = sent_total();
    const ProcSample b1 = sample_process(o.broker_pid);
    const double g1 = self_cpu_s();
    run->stop_publishing.store(true);

    // 3. Drain: wait for the expected copies, or until nothing arrives for --drain seconds.
    std::uint64_t expected_copies = 0;
    auto expected_now = [&] {
        std::uint64_t n = 0;
        for (auto& p : run->pubs) n += p.sent.load() * p.fan;
        return n;
    };
    {
        auto last_change = Clock::now();
        std::uint64_t last_r = received_total();
        while (!g_interrupted.load()) {
            const bool all_done = publishers_done() || run->npub == 0;
            expected_copies = expected_now();
            const std::uint64_t r = received_total();
            if (all_done && known_topics && r >= expected_copies && run->npub > 0) break;
            if (r != last_r) {
                last_r = r;
                last_change = Clock::now();
            }
            if (Clock::now() - last_change >= std::chrono::duration<double>(o.drain_s)) break;
            if (run->npub == 0) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    }
    const ProcSample b2 = sample_process(o.broker_pid);

    // 4. Disconnect and stop the threads.
    for (auto& w : workers) {
        asio::post(w->ioc, [&w = *w] {
            for (auto& c : w.conns) asio::co_spawn(w.ioc, disconnect(*c), asio::detached);
        });
    }
    for (auto& g : guards) g.reset();
    for (auto& w : workers) w->thread.join();

    // 5. Results.
    Histogram latency, connect_latency;
    for (auto& w : workers) {
        latency.merge(w->latency);
        connect_latency.merge(w->connect_latency);
    }
    std::vector<const Receipts*> receipts;
    for (Conn* s : subs) receipts.push_back(&s->receipts);
    std::vector<std::uint64_t> sent;
    for (auto& p : run->pubs) sent.push_back(p.sent.load());
    const Accounting acc = account(receipts, groups, group_expects, sent);
    const double window_s = std::chrono::duration<double>(m1 - m0).count();
    const std::uint64_t delivered = r1 - r0;

    nlohmann::json j;
    j["scenario"] = std::string(scenario_name(o.scenario));
    j["url"] = o.url;
    j["mqtt_version"] = o.version == 5 ? "5.0" : "3.1.1";
    j["qos"] = o.qos;
    j["size"] = o.size;
    j["publishers"] = run->npub;
    j["subscribers"] = run->nsub;
    j["connections"] = total_conns;
    j["threads"] = o.threads;
    if (!o.bind.empty()) j["bind"] = o.bind;
    j["window"] = o.effective_window();
    j["rate_per_publisher"] = o.rate > 0 ? o.rate : o.total_rate > 0 ? o.total_rate / std::max(1u, run->npub) : 0;
    j["duration_s"] = window_s;
    j["connect"] = {{"connected", run->connected.load()},
                    {"failed", run->failed.load()},
                    {"refused", run->refused.load()},
                    {"dropped", run->dropped.load()},
                    {"seconds", connect_s},
                    {"rate_per_s", connect_s > 0 ? static_cast<double>(run->connected.load()) / connect_s : 0},
                    {"latency_ms_p50", static_cast<double>(connect_latency.percentile(0.5)) / 1e6},
                    {"latency_ms_p99", static_cast<double>(connect_latency.percentile(0.99)) / 1e6}};
    j["sent"] = sent_total();
    j["sent_in_window"] = s1;
    j["received"] = acc.received;
    j["delivered_in_window"] = delivered;
    j["sent_rate"] = window_s > 0 ? static_cast<double>(s1) / window_s : 0;
    j["delivered_rate"] = window_s > 0 ? static_cast<double>(delivered) / window_s : 0;
    // Without this run's publishers (sub) or with a topic per message (%j), nobody knows what was expected.
    const bool exact = known_topics && run->npub > 0 && run->nsub > 0;
    j["expected"] = exact ? nlohmann::json(acc.expected) : nlohmann::json(nullptr);
    j["lost"] = exact ? nlohmann::json(acc.lost) : nlohmann::json(nullptr);
    j["unexpected"] = exact ? nlohmann::json(acc.unexpected) : nlohmann::json(nullptr);
    j["duplicated"] = acc.duplicated;
    j["out_of_order"] = acc.out_of_order;
    j["window_resets"] = run->window_resets.load();
    std::uint64_t last_message_ns = 0;
    for (auto& w : workers) last_message_ns = std::max(last_message_ns, w->last_message_ns);
    if (last_message_ns != 0 && run->first_subscribe_ns.load() != 0 &&
        last_message_ns > run->first_subscribe_ns.load()) {
        // From the first SUBSCRIBE to the last message received (a retained storm's delivery time).
        j["last_message_s"] = static_cast<double>(last_message_ns - run->first_subscribe_ns.load()) / 1e9;
    }
    if (count_done_ns != 0 && run->first_subscribe_ns.load() != 0) {
        j["seconds_to_count"] = static_cast<double>(count_done_ns - run->first_subscribe_ns.load()) / 1e9;
    }
    j["latency_us"] = {{"count", latency.count()},
                       {"p50", static_cast<double>(latency.percentile(0.5)) / 1e3},
                       {"p99", static_cast<double>(latency.percentile(0.99)) / 1e3},
                       {"p999", static_cast<double>(latency.percentile(0.999)) / 1e3},
                       {"max", static_cast<double>(latency.max()) / 1e3}};
    j["generator_cpu_percent"] = window_s > 0 ? 100.0 * (g1 - g0) / window_s : 0;
    if (o.broker_pid > 0 && b0.ok && b1.ok) {
        const double cpu_us = (b1.cpu_s - b0.cpu_s) * 1e6;
        j["broker"] = {{"pid", o.broker_pid},
                       {"cpu_percent", window_s > 0 ? cpu_us / 1e4 / window_s : 0},
                       {"cpu_us_per_delivered", delivered > 0 ? cpu_us / static_cast<double>(delivered) : 0},
                       {"rss_kb", b2.ok ? b2.rss_kb : b1.rss_kb},
                       {"hwm_kb", b2.ok ? b2.hwm_kb : b1.hwm_kb},
                       {"rss_kb_before_connect", broker_before_connect.rss_kb},
                       {"rss_kb_connected", broker_connected.rss_kb},
                       {"rss_bytes_per_connection", total_conns > 0 && broker_connected.ok && broker_before_connect.ok
                                                        ? (static_cast<double>(broker_connected.rss_kb) -
                                                           static_cast<double>(broker_before_connect.rss_kb)) *
                                                              1024.0 / static_cast<double>(total_conns)
                                                        : 0}};
    }
    if (!run->first_error.empty()) j["first_error"] = run->first_error;

    if (o.json) {
        std::puts(j.dump().c_str());
    } else {
        std::printf("%s: %llu connections (%llu failed, %llu of them refused by the broker), %.1f s\n",
                    std::string(scenario_name(o.scenario)).c_str(),
                    static_cast<unsigned long long>(run->connected.load()),
                    static_cast<unsigned long long>(run->failed.load()),
                    static_cast<unsigned long long>(run->refused.load()), window_s);
        std::printf("  sent %llu (%.0f msg/s), delivered %llu in the window (%.0f msg/s), received %llu in all\n",
                    static_cast<unsigned long long>(s1), j["sent_rate"].get<double>(),
                    static_cast<unsigned long long>(delivered), j["delivered_rate"].get<double>(),
                    static_cast<unsigned long long>(acc.received));
        if (known_topics && run->npub > 0 && run->nsub > 0) {
            std::printf("  expected %llu, lost %llu, duplicated %llu, out of order %llu\n",
                        static_cast<unsigned long long>(acc.expected), static_cast<unsigned long long>(acc.lost),
                        static_cast<unsigned long long>(acc.duplicated),
                        static_cast<unsigned long long>(acc.out_of_order));
        }
        if (latency.count() > 0) {
            std::printf("  latency us: p50 %s  p99 %s  p99.9 %s  max %s\n", fmt_us(latency.percentile(0.5)).c_str(),
                        fmt_us(latency.percentile(0.99)).c_str(), fmt_us(latency.percentile(0.999)).c_str(),
                        fmt_us(latency.max()).c_str());
        }
        std::printf("  connect: %.0f/s, p50 %.2f ms, p99 %.2f ms; generator CPU %.0f%%\n",
                    j["connect"]["rate_per_s"].get<double>(), j["connect"]["latency_ms_p50"].get<double>(),
                    j["connect"]["latency_ms_p99"].get<double>(), j["generator_cpu_percent"].get<double>());
        if (j.contains("broker")) std::printf("  broker: %s\n", j["broker"].dump().c_str());
        if (!run->first_error.empty()) std::printf("  first error: %s\n", run->first_error.c_str());
    }
    if (run->refused.load() > 0) {
        // On stderr even with --json: a refusal is a setup error (user name, password, ACL), not a measurement.
        std::fprintf(stderr, "Error: the broker refused %llu of %llu connections; first error: %s\n",
                     static_cast<unsigned long long>(run->refused.load()), static_cast<unsigned long long>(total_conns),
                     run->first_error.c_str());
    }
    if (run->connected.load() == 0 && total_conns > 0) {
        if (run->refused.load() == 0) std::fprintf(stderr, "Error: no connection: %s\n", run->first_error.c_str());
        return 1;
    }
    return g_interrupted.load() ? 130 : 0;
}

}  // namespace moth::cli
