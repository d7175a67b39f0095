#pragma once
// Rate limit for log lines, broker-wide: a flood of the same kind of line (a failing accept, a storm of malformed
// connections) must not fill the disk or use a core. Lines of the same shape (the text with every run of digits
// read as one placeholder, so addresses and counts do not make lines different) pass `burst` times per
// `interval`; the rest are counted, and one summary line per interval says how many were left out.
//
// Thread safety: every member may be called from any thread (one mutex; callers filter by level first, so only
// lines that would be written come here).
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace moth::common {

class LogLimiter {
public:
    using Clock = std::chrono::steady_clock;
    using Sink = std::function<void(int level, const std::string& line)>;
    struct Settings {
        std::chrono::seconds interval{10};
        unsigned burst = 5;            // lines of one shape written per interval before the rest are counted
        std::size_t max_shapes = 4096;  // shapes remembered; past it the table starts afresh
    };

    explicit LogLimiter(Sink out) : LogLimiter(std::move(out), Settings{}) {}
    LogLimiter(Sink out, Settings settings) : out_(std::move(out)), settings_(settings) {}

    void log(int level, const std::string& line, Clock::time_point now);
    // Writes the summary of every interval that has ended with lines left out; forgets idle shapes. Call it
    // about once a second so that the summary of a flood that stopped still appears.
    void flush(Clock::time_point now);

    // The line with each run of decimal digits replaced by '#': the key lines are limited by.
    [[nodiscard]] static std::string shape(std::string_view line);

private:
    struct Entry {
        Clock::time_point window_start;
        unsigned written = 0;
        std::uint64_t left_out = 0;
        int level = 0;
        std::string last;  // the last line left out, quoted in the summary
    };
    // Ends the entry's interval: the summary when lines were left out. Called with mutex_ held.
    void close_window(Entry& e, Clock::time_point now);

    Sink out_;
    Settings settings_;
    std::mutex mutex_;
    std::unordered_map<std::string, Entry> shapes_;
};

}  // namespace moth::common
