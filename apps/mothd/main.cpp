// mothd: the Moth MQTT broker.
//
// For now main parses its flags, sets up logging, and waits for SIGTERM or SIGINT, on which it exits 0.
// Listeners, workers and the broker core are wired in here as they land; main stays the composition root.

#include <csignal>
#include <cstdio>
#include <exception>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#ifndef MOTH_VERSION
#error "MOTH_VERSION must be defined by the build (project(moth VERSION ...))"
#endif

namespace {

// Flags are parse errors, not usage errors, whatever CLI11's own exit code for that error is: scripts and
// the tests rely on "2 means bad command line".
constexpr int kExitUsage = 2;

struct Options {
    std::string config_path;  // empty: embedded defaults
    std::string log_level = "info";
};

std::shared_ptr<spdlog::logger> make_logger(const std::string& level) {
    // Colours only when stderr is a terminal; the tests read the log back as plain text.
    auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>(spdlog::color_mode::automatic);
    auto log = std::make_shared<spdlog::logger>("mothd", std::move(sink));
    log->set_pattern("%Y-%m-%d %H:%M:%S.%e [%^%l%$] %v");
    log->set_level(spdlog::level::from_str(level));
    log->flush_on(spdlog::level::trace);  // a broker that dies should not take its last lines with it
    return log;
}

const char* signal_name(int signo) {
    switch (signo) {
    case SIGTERM:
        return "SIGTERM";
    case SIGINT:
        return "SIGINT";
    default:
        return "signal";
    }
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    CLI::App app{"mothd: the Moth MQTT broker", "mothd"};
    app.set_version_flag("--version", "mothd " MOTH_VERSION);
    app.add_option("-c,--config", options.config_path, "TOML config file (default: embedded defaults)");
    app.add_option("--log-level", options.log_level, "Log level")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
        ->capture_default_str();
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int code = app.exit(e);  // prints help/version to stdout, errors to stderr
        return code == 0 ? 0 : kExitUsage;
    }

    try {
        auto log = make_logger(options.log_level);

        boost::asio::io_context io;
        // Registered before the "starting" line is logged, so whoever waits for that line can signal at once.
        boost::asio::signal_set stop_signals(io, SIGTERM, SIGINT);
        stop_signals.async_wait([&](const boost::system::error_code& ec, int signo) {
            if (ec) {
                return;
            }
            log->info("received {}, shutting down", signal_name(signo));
            io.stop();
        });

        if (options.config_path.empty()) {
            log->info("mothd {} starting (no config file: embedded defaults)", MOTH_VERSION);
        } else {
            log->info("mothd {} starting (config file {}: not loaded yet, embedded defaults in use)", MOTH_VERSION,
                      options.config_path);
        }
        log->info("no listeners yet; waiting for SIGTERM or SIGINT");

        io.run();
        log->info("stopped");
        return 0;
    } catch (const std::exception& e) {
        // Only start-up throws; anything reaching here is fatal.
        std::fprintf(stderr, "mothd: fatal: %s\n", e.what());
        return 1;
    }
}
