// moth: the Moth command line. `moth pub`, `moth sub` and `moth rr` take mosquitto_pub's, mosquitto_sub's and
// mosquitto_rr's options and print the same output; see README.md ("Command line").
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "bench.hpp"
#include "commands.hpp"
#include "device.hpp"
#include "passwd.hpp"
#include "sn_commands.hpp"

namespace {

constexpr std::string_view kUsage =
    "moth " MOTH_VERSION
    " - the Moth MQTT command line\n"
    "\n"
    "Usage: moth <command> [options]\n"
    "\n"
    "Commands:\n"
    "  pub   publish messages (mosquitto_pub's options)\n"
    "  sub   subscribe and print messages (mosquitto_sub's options, plus --json)\n"
    "  rr    publish a request and print the response (mosquitto_rr's options)\n"
    "  bench load generator: connections, publishers, subscribers; throughput, latency, loss\n"
    "  device  build an Arduino sketch and run it as a virtual ESP32 (or a fleet of them)\n"
    "  passwd  manage password files (mosquitto_passwd's options; argon2id by default; --check)\n"
    "  sn    MQTT-SN 1.2 over UDP: 'moth sn pub', 'moth sn sub', 'moth sn bench'\n"
    "\n"
    "'moth <command> --help' lists a command's options.\n";

}  // namespace

int main(int argc, char** argv) {
    const std::vector<std::string> words(argv + 1, argv + argc);
    if (words.empty()) {
        std::fputs(kUsage.data(), stderr);
        return 1;
    }
    const std::string& command = words.front();
    const std::vector<std::string> rest(words.begin() + 1, words.end());
    if (command == "pub") return moth::cli::run(moth::cli::Tool::Pub, rest);
    if (command == "sub") return moth::cli::run(moth::cli::Tool::Sub, rest);
    if (command == "rr") return moth::cli::run(moth::cli::Tool::Rr, rest);
    if (command == "bench") return moth::cli::run_bench(rest);
    if (command == "device") return moth::cli::run_device(rest);
    if (command == "passwd") return moth::cli::run_passwd(rest);
    if (command == "sn") return moth::cli::sn::run_sn(rest);
    if (command == "--help" || command == "-h" || command == "help") {
        std::fputs(kUsage.data(), stdout);
        return 0;
    }
    if (command == "--version") {
        std::puts("moth " MOTH_VERSION);
        return 0;
    }
    std::fprintf(stderr, "Error: unknown command '%s'.\n\n%s", command.c_str(), kUsage.data());
    return 1;
}
