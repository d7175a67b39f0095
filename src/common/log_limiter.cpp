#include "common/log_limiter.hpp"

#include <cctype>
#include <vector>

namespace moth::common {

std::string LogLimiter::shape(std::string_view line) {
    std::string out;
    out.reserve(line.size());
    bool in_digits = false;
    for (const char c : line) {
        const bool digit = std::isdigit(static_cast<unsigned char>(c)) != 0;
        if (digit && !in_digits) out.push_back('#');
        if (!digit) out.push_back(c);
        in_digits = digit;
    }
    return out;
}

void LogLimiter::close_window(Entry& e, Clock::time_point now) {
    if (e.left_out != 0) {
        out_(e.level, std::to_string(e.left_out) + " more line" + (e.left_out == 1 ? "" : "s") + " like this in " +
                          std::to_string(settings_.interval.count()) + " s left out (at most " +
                          std::to_string(settings_.burst) + " per interval), the last: " + e.last);
    }
    e.window_start = now;
    e.written = 0;
    e.left_out = 0;
    e.last.clear();
}

void LogLimiter::log(int level, const std::string& line, Clock::time_point now) {
    std::lock_guard lock(mutex_);
    if (shapes_.size() >= settings_.max_shapes) shapes_.clear();
    auto [it, fresh] = shapes_.try_emplace(shape(line));
    Entry& e = it->second;
    if (fresh) e.window_start = now;
    if (now - e.window_start >= settings_.interval) close_window(e, now);
    if (e.written < settings_.burst) {
        ++e.written;
        out_(level, line);
        return;
    }
    ++e.left_out;
    e.level = level;
    e.last = line;
}

void LogLimiter::flush(Clock::time_point now) {
    std::lock_guard lock(mutex_);
    std::vector<std::string> idle;
    for (auto& [key, e] : shapes_) {
        if (now - e.window_start < settings_.interval) continue;
        if (e.left_out == 0 && e.written == 0) {
            idle.push_back(key);  // a whole interval without a line of this shape
            continue;
        }
        close_window(e, now);
    }
    for (const auto& key : idle) shapes_.erase(key);
}

}  // namespace moth::common
