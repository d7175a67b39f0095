// /proc sampling for `moth bench` (see bench_proc.hpp).
#include "bench_proc.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

namespace moth::cli::bench {

ProcSample sample_process(long pid) {
    ProcSample s;
    if (pid <= 0) return s;
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) return s;
    const auto close = line.rfind(')');
    if (close == std::string::npos) return s;
    std::istringstream in(line.substr(close + 2));
    std::string field;
    unsigned long long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && in >> field; ++i) {
        if (i == 14) utime = std::stoull(field);
        if (i == 15) stime = std::stoull(field);
    }
    const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
    s.cpu_s = static_cast<double>(utime + stime) / tick;
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    while (std::getline(status, line)) {
        if (line.starts_with("VmRSS:")) s.rss_kb = std::stoull(line.substr(6));
        if (line.starts_with("VmHWM:")) s.hwm_kb = std::stoull(line.substr(6));
    }
    s.ok = true;
    return s;
}

double self_cpu_s() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

}  // namespace moth::cli::bench
