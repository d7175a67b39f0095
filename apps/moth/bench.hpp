#pragma once
// `moth bench`: the MQTT load generator (see bench_stats.hpp for the options and what is measured).
#include <string>
#include <vector>

namespace moth::cli {

// Parses `args` (the words after "bench"), runs the scenario and prints the result; returns the exit code.
[[nodiscard]] int run_bench(const std::vector<std::string>& args);

}  // namespace moth::cli
