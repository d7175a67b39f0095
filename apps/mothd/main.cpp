// mothd: the Moth MQTT broker. The composition root: flags and config, logging, signals, and the server.
//
// Exit codes: 0 clean shutdown (SIGTERM/SIGINT) or --check-config success; 1 fatal start-up error (the store locked
// by another mothd, ...); 2 bad command line or bad configuration, every problem printed as
// "file:line: key: message" (also what only start-up finds: a port that cannot be bound, a certificate that does
// not load, a data_dir that cannot be created; "<override>" when the value came from --set or -p), or a store
// (<data_dir>/store) that cannot be opened or read (see --store-recover).

#include <sys/resource.h>

#include <algorithm>
#include <csignal>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <fmt/ranges.h>

#include "broker/auth.hpp"
#include "broker/core.hpp"
#include "broker/store.hpp"
#include "common/error_text.hpp"
#include "cluster/nats_bus.hpp"
#include "common/log_limiter.hpp"
#include "config/config.hpp"
#include "server/abuse_gate.hpp"
#include "bridge/manager.hpp"
#include "bridge_wiring.hpp"
#include "server/access_control.hpp"
#include "server/server.hpp"
#include "store/group_commit.hpp"
#include "store/replicated_backend.hpp"
#include "store/rocksdb/rocksdb_store.hpp"

#ifndef MOTH_VERSION
#error "MOTH_VERSION must be defined by the build (project(moth VERSION ...))"
#endif

namespace {

constexpr int kExitUsage = 2;

struct Options {
    std::string config_path;  // empty: embedded defaults
    std::vector<std::string> overrides;
    std::string log_level;
    std::string ports_file;
    int port = -1;
    bool check_config = false;
    bool store_recover = false;
};

std::shared_ptr<spdlog::logger> make_logger() {
    // Colours only when stderr is a terminal; the tests read the log back as plain text.
    auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>(spdlog::color_mode::automatic);
    auto log = std::make_shared<spdlog::logger>("mothd", std::move(sink));
    log->set_pattern("%Y-%m-%d %H:%M:%S.%e [%^%l%$] %v");
    log->flush_on(spdlog::level::trace);  // a broker that dies should not take its last lines with it
    return log;
}

// Loads the file (or the defaults) and applies the flags; every problem goes to `errors`.
moth::config::LoadResult load(const Options& o) {
    moth::config::LoadResult r;
    if (o.config_path.empty()) {
        r.config = moth::config::default_config();
    } else {
        r = moth::config::load_config_file(o.config_path);
    }
    {
        // One batch: checks that tie keys together (cert_file needs key_file) see all the flags at once.
        auto errs = moth::config::apply_overrides(r.config, o.overrides);
        r.errors.insert(r.errors.end(), errs.begin(), errs.end());
    }
    if (o.port >= 0) {
        auto errs = moth::config::apply_override(r.config, "listener.0.port=" + std::to_string(o.port));
        r.errors.insert(r.errors.end(), errs.begin(), errs.end());
    }
    if (!o.ports_file.empty()) r.config.ports_file = o.ports_file;
    if (!o.log_level.empty()) {
        auto errs = moth::config::apply_override(r.config, "log_level=" + o.log_level);
        r.errors.insert(r.errors.end(), errs.begin(), errs.end());
    }
    return r;
}

// The soft descriptor limit goes up to the hard one (Debian's default soft limit, 1,024, is far below what a
// broker needs), and a warning says when limits.max_connections cannot be reached with what is left.
void raise_descriptor_limit(spdlog::logger& log, const moth::config::Config& config) {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
    if (rl.rlim_cur < rl.rlim_max) {
        rlimit raised = rl;
        raised.rlim_cur = rl.rlim_max;
        if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
    }
    // Listeners, the store's files, the log, the reserve descriptor: about this many are not connections.
    constexpr rlim_t kOther = 128;
    const rlim_t usable = rl.rlim_cur > kOther ? rl.rlim_cur - kOther : 0;
    if (config.limits.max_connections > usable) {
        log.warn("limits.max_connections = {} but the descriptor limit is {} (ulimit -n; about {} connections fit): "
                 "clients beyond that are refused and closed; raise the hard limit (ulimit -Hn, LimitNOFILE= in "
                 "systemd) or lower limits.max_connections",
                 config.limits.max_connections, rl.rlim_cur, usable);
    }
}

// data_dir holds the store and the development certificate: it must exist or be creatable, and be writable. Said
// here, as a config error, rather than later as a damaged store with advice that cannot work.
std::optional<moth::config::ConfigError> check_data_dir(const moth::config::Config& config) {
    const bool needed = config.storage.durability != moth::config::Durability::Memory ||
                        std::any_of(config.listeners.begin(), config.listeners.end(), [](const auto& l) {
                            return moth::config::is_tls(l.kind) && l.cert_file.empty();  // the development certificate
                        });
    if (!needed) return std::nullopt;
    std::error_code ec;
    std::filesystem::create_directories(config.data_dir, ec);
    if (ec) {
        return moth::config::source_error(config, "data_dir", "cannot create " + config.data_dir + ": " + ec.message());
    }
    const auto probe = std::filesystem::path(config.data_dir) / ".mothd-write-test";
    {
        std::ofstream out(probe, std::ios::trunc);
        if (!out) {
            return moth::config::source_error(config, "data_dir",
                                              "cannot write in " + config.data_dir + ": " + std::strerror(errno));
        }
    }
    std::filesystem::remove(probe, ec);
    return std::nullopt;
}

// Written to a temporary name and renamed, so a reader never sees a half-written file.
void write_ports_file(const std::string& path, const std::vector<moth::server::BoundListener>& bound) {
    const std::string tmp = path + ".tmp";
    {
        std::ofstream out(tmp, std::ios::trunc);
        for (const auto& b : bound) {
            out << b.name << ' ' << moth::config::to_string(b.kind) << ' ' << b.address << ' ' << b.port << '\n';
        }
        if (!out) throw std::runtime_error("cannot write ports file " + tmp);
    }
    std::filesystem::rename(tmp, path);
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    CLI::App app{"mothd: the Moth MQTT broker", "mothd"};
    app.set_version_flag("--version", "mothd " MOTH_VERSION);
    app.add_option("-c,--config", options.config_path, "TOML config file (default: embedded defaults)");
    app.add_flag("--check-config", options.check_config, "Load and check the configuration, then exit");
    app.add_option("--set", options.overrides,
                   "Override a config key, e.g. --set limits.max_inflight=10 (repeatable, applied in order)");
    app.add_option("-p,--port", options.port, "Port of the first listener (0: any free port)")
        ->check(CLI::Range(0, 65535));
    app.add_option("--ports-file", options.ports_file, "Write the bound listener ports to this file");
    app.add_flag("--store-recover", options.store_recover,
                 "If the store cannot be read, move it aside (renamed with a timestamp) and start empty");
    app.add_option("--log-level", options.log_level, "Log level (trace, debug, info, warn, error, critical, off)");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int code = app.exit(e);  // prints help/version to stdout, errors to stderr
        return code == 0 ? 0 : kExitUsage;
    }

    auto loaded = load(options);
    if (!loaded.ok()) {
        for (const auto& e : loaded.errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
        return kExitUsage;
    }
    if (options.check_config) {
        try {
            moth::server::AccessControl check(loaded.config, {});  // the password and ACL files load too
        } catch (const moth::server::AccessError& e) {
            std::fprintf(stderr, "%s\n", e.what());
            return kExitUsage;
        }
        for (const auto& w : moth::server::anonymous_warnings(loaded.config)) std::fprintf(stderr, "warning: %s\n", w.c_str());
        std::printf("%s: configuration OK\n", loaded.config.source.c_str());
        return 0;
    }
    auto config = std::move(loaded.config);

    try {
        auto log = make_logger();
        log->set_level(spdlog::level::from_str(config.log_level));

        boost::asio::io_context io;
        // Registered before the "starting" line is logged, so whoever waits for that line can signal at once.
        boost::asio::signal_set stop_signals(io, SIGTERM, SIGINT);
        boost::asio::signal_set hup(io, SIGHUP);

        if (options.config_path.empty()) {
            log->info("mothd {} starting (no config file: embedded defaults)", MOTH_VERSION);
        } else {
            log->info("mothd {} starting (config file {})", MOTH_VERSION, options.config_path);
        }
        raise_descriptor_limit(*log, config);
        for (const auto& warning : moth::config::open_websocket_warnings(config)) log->warn("{}", warning);
        static constexpr spdlog::level::level_enum kLevels[] = {spdlog::level::debug, spdlog::level::info,
                                                                spdlog::level::warn, spdlog::level::err};
        const auto level_of = [](int level) { return kLevels[level < 0 ? 0 : (level > 3 ? 3 : level)]; };
        // Every line from the broker goes through one rate limit (a flood of one kind of line is cut to a few
        // lines and a count per 10 s); lines below the log level are dropped before it.
        auto limiter = std::make_shared<moth::common::LogLimiter>(
            [log, level_of](int level, const std::string& line) { log->log(level_of(level), "{}", line); });
        auto sink = [log, limiter, level_of](int level, const std::string& line) {
            if (log->should_log(level_of(level))) limiter->log(level, line, std::chrono::steady_clock::now());
        };
        boost::asio::steady_timer limiter_flush(io);
        std::function<void()> flush_limiter = [&] {
            limiter_flush.expires_after(std::chrono::seconds(1));
            limiter_flush.async_wait([&](const boost::system::error_code& ec) {
                if (ec) return;
                limiter->flush(std::chrono::steady_clock::now());
                flush_limiter();
            });
        };
        flush_limiter();
        // The cluster bus (docs/cluster.md): declared before the server, so it outlives the workers that call it
        // and the store, which hands it the records of persistent sessions (SessionReplica).
        std::unique_ptr<moth::broker::ClusterBus> cluster;
        if (config.cluster.enabled) {
            auto cc = config.cluster;
            cc.node = moth::config::cluster_node_name(cc);
            log->info("cluster: joining as node {} through {}", cc.node, fmt::join(cc.servers, ", "));
            cluster = moth::cluster::make_nats_bus(cc, MOTH_VERSION, sink);
        }
        // Durable state: <data_dir>/store, opened (created on first start) and loaded before any listener opens.
        std::unique_ptr<moth::store::RocksDbBackend> backend;
        std::unique_ptr<moth::store::ReplicatedBackend> replicated;
        std::unique_ptr<moth::store::GroupCommitStore> store;
        std::optional<moth::broker::RestoredState> restored;
        if (auto problem = check_data_dir(config)) {
            std::fprintf(stderr, "%s\n", problem->to_string().c_str());
            return kExitUsage;
        }
        if (config.storage.durability != moth::config::Durability::Memory) {
            const std::filesystem::path dir = std::filesystem::path(config.data_dir) / "store";
            const bool recover =
                options.store_recover || config.storage.on_corruption == moth::config::OnCorruption::MoveAside;
            for (int attempt = 0;; ++attempt) {
                try {
                    const auto t0 = std::chrono::steady_clock::now();
                    backend = std::make_unique<moth::store::RocksDbBackend>(dir);
                    restored = moth::broker::load_state(*backend, moth::broker::Clock::now(),
                                                        config.storage.queue_cache_messages);
                    const auto ms =
                        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
                            .count();
                    std::size_t queued = 0, in_memory = 0, incoming = 0;
                    for (const auto& rs : restored->sessions) {
                        queued += rs.deliveries.size() + rs.spilled;
                        in_memory += rs.deliveries.size();
                        incoming += rs.incoming_qos2.size();
                    }
                    log->info(
                        "store {}: {} sessions, {} queued messages ({} in memory), {} QoS 2 receive states, {} "
                        "retained restored in {} ms ({})",
                        dir.string(), restored->sessions.size(), queued, in_memory, incoming, restored->retained.size(),
                        ms, moth::config::to_string(config.storage.durability));
                    if (restored->orphans != 0) {
                        log->info("store: removed {} records of sessions that had ended", restored->orphans);
                    }
                    if (restored->format == moth::broker::FormatRecord::AddedToOld) {
                        log->info("store {}: written by an earlier mothd (no format version record): read as format "
                                  "{}, which it now records",
                                  dir.string(), moth::broker::kStoreFormatVersion);
                    }
                    break;
                } catch (const moth::broker::StoreFormatTooNew& e) {
                    // Not damage: never moved aside, whatever on_corruption says. The operator's choice, as a
                    // store that cannot be opened.
                    backend.reset();
                    log->critical("{}", e.what());
                    return kExitUsage;
                } catch (const moth::broker::StoreCorrupt& e) {
                    backend.reset();
                    if (!recover || attempt > 0) {
                        log->critical("{}", e.what());
                        log->critical(
                            "the store was left as it is; to start anyway with an empty store and the "
                            "damaged one moved aside, run mothd --store-recover "
                            "(or set storage.on_corruption = \"move-aside\")");
                        return kExitUsage;
                    }
                    log->error("{}", e.what());
                    const auto aside = moth::store::move_aside(dir);
                    log->warn("store: moved the damaged store {} aside to {}; starting with an empty store",
                              dir.string(), aside.string());
                }
            }
            moth::broker::StoreBackend* writes_to = backend.get();
            if (auto* replica = cluster ? cluster->replica() : nullptr) {
                replicated = std::make_unique<moth::store::ReplicatedBackend>(*backend, *replica);
                writes_to = replicated.get();
            }
            store = std::make_unique<moth::store::GroupCommitStore>(
                *writes_to, config.storage.durability, std::chrono::milliseconds(config.storage.flush_interval_ms), sink);
        } else {
            log->info("storage.durability = \"memory\": nothing is persisted");
        }
        std::unique_ptr<moth::server::AccessControl> access;
        try {
            access = std::make_unique<moth::server::AccessControl>(config, sink);
        } catch (const moth::server::AccessError& e) {
            log->critical("{}", e.what());
            return kExitUsage;
        }
        for (const auto& w : moth::server::anonymous_warnings(config)) log->warn("{}", w);
        // Connection rates, flapping and bans (outlives the server's workers, which ask it).
        moth::server::AbuseGate gate(config, sink);
        moth::server::Server server(config, *access, sink, MOTH_VERSION, access.get());
        if (cluster) server.attach_cluster(*cluster);
        // A ban added at run time disconnects the clients it matches.
        gate.attach_store(store.get(), restored ? restored->bans : std::vector<moth::limits::Ban>{});
        gate.on_ban_added([&server] {
            server.each_core([](moth::broker::Core& c, moth::broker::TimePoint t) { c.on_bans_changed(t); });
        });
        server.attach_gate(gate);
        if (store) server.attach_store(*store, std::move(*restored));
        // Declared after the server, so destroyed before it: the store's last completions still find the workers.
        struct CloseStore {
            moth::store::GroupCommitStore* s;
            ~CloseStore() {
                if (s != nullptr) s->close();
            }
        } close_store{store.get()};
        server.start();
        for (const auto& b : server.bound()) {
            log->info("listening: {} {} {}:{}", b.name, moth::config::to_string(b.kind), b.address, b.port);
        }
        if (!config.ports_file.empty()) write_ports_file(config.ports_file, server.bound());
        log->info("{} workers running", server.worker_count());
        // Bridges (docs/bridges.md): after the workers run, since their local sessions connect in-process.
        moth::bridge::BridgeManager bridges(
            [&server](boost::asio::any_io_executor ex, const moth::config::Bridge& b) {
                return server.connect_internal(std::move(ex), moth::mothd::bridge_tag(b));
            },
            sink, [&server](const std::string& name, bool up) { server.publish(moth::mothd::bridge_state(name, up)); });
        server.attach_bridges([&bridges] { return moth::mothd::bridge_infos(bridges.statuses()); });
        bridges.apply(config.bridges);

        stop_signals.async_wait([&](const boost::system::error_code& ec, int signo) {
            if (ec) return;
            log->info("received {}, shutting down", signo == SIGINT ? "SIGINT" : "SIGTERM");
            io.stop();
        });
        std::function<void()> wait_hup = [&] {
            hup.async_wait([&](const boost::system::error_code& ec, int) {
                if (ec) return;
                // SIGHUP: reload what can change safely; the rest is reported and waits for a restart.
                auto again = load(options);
                if (!again.ok()) {
                    for (const auto& e : again.errors) log->error("reload: {}", e.to_string());
                    log->error("reload: configuration has errors; keeping the running one");
                } else {
                    for (const auto& key : moth::config::reload_differences(config, again.config)) {
                        log->warn("reload: {} changed; it takes effect after a restart", key);
                    }
                    log->set_level(spdlog::level::from_str(again.config.log_level));
                    bool acl_changed = false;
                    if (const auto problem = access->reload(again.config, acl_changed); !problem.empty()) {
                        log->error("reload: {}; keeping the running password and ACL rules", problem);
                    } else if (acl_changed) {
                        server.each_core([](moth::broker::Core& c, moth::broker::TimePoint t) { c.on_rules_changed(t); });
                    }
                    gate.reconfigure(again.config);
                    server.reload(again.config);
                    bridges.apply(again.config.bridges);
                    log->info("reload: configuration applied");
                }
                wait_hup();
            });
        };
        wait_hup();

        io.run();
        bridges.stop();  // their local sessions close while the workers still run
        server.stop();
        access->shutdown();  // password checks still waiting are answered before the workers go
        if (store) {
            store->close();  // the last writes of the shutdown, before the workers are destroyed
            const auto n = store->counters();
            log->info("store: {} writes covered {} batches ({} failed)", n.writes, n.batches, n.failures);
        }
        log->info("stopped");
        return 0;
    } catch (const moth::server::ListenerStartError& e) {
        // A port taken, an address that is not local, a certificate that does not load: the config's fault.
        std::fprintf(stderr, "%s\n", moth::config::source_error(config, e.key, e.what(), e.index).to_string().c_str());
        return kExitUsage;
    } catch (const std::exception& e) {
        // Only start-up throws; anything reaching here is fatal.
        std::fprintf(stderr, "mothd: fatal: %s\n", moth::common::error_text(e.what()).c_str());
        return 1;
    }
}
