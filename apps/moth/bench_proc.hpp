#pragma once
// `moth bench --broker-pid`: the broker's CPU time and memory read from /proc, and the generator's own CPU time, so
// that a result says whether the broker or the generator was the limit. Linux only; every call is cheap enough for
// the controller thread to make between phases.
#include <cstdint>

namespace moth::cli::bench {

struct ProcSample {
    bool ok = false;
    double cpu_s = 0;          // utime + stime
    std::uint64_t rss_kb = 0;  // VmRSS
    std::uint64_t hwm_kb = 0;  // VmHWM
};

// ok = false when `pid` is not positive or its /proc entry cannot be read (the process is gone).
[[nodiscard]] ProcSample sample_process(long pid);
// This process's user + system CPU seconds.
[[nodiscard]] double self_cpu_s();

}  // namespace moth::cli::bench
