#include "auth/acl_filters.hpp"

#include <vector>

#include "topic/levels.hpp"

namespace moth::auth {
namespace {

using topic::kNoLevel;
using topic::level_at;

bool is_wildcard(std::string_view level) noexcept {
    return level == "+" || level == "#";
}

// [MQTT-4.7.2-1] at the first level: a wildcard there never matches a literal starting with '$'.
bool dollar_clash(std::string_view x, std::string_view y) noexcept {
    const auto dollar = [](std::string_view l) { return !l.empty() && l.front() == '$'; };
    return (is_wildcard(x) && !is_wildcard(y) && dollar(y)) || (is_wildcard(y) && !is_wildcard(x) && dollar(x));
}

// The level after the one at `pos`, "" when there is none (a filter has no empty-named "#" level, so "" is safe
// to compare with "#").
std::string_view next_level(std::string_view f, std::size_t pos) noexcept {
    return pos == kNoLevel ? std::string_view{} : level_at(f, pos).text;
}

}  // namespace

bool filters_intersect(std::string_view a, std::string_view b) noexcept {
    std::size_t pa = 0;
    std::size_t pb = 0;
    for (bool first = true;; first = false) {
        if (pa == kNoLevel && pb == kNoLevel) return true;
        // "x" and "x/#": '#' also matches its parent level, so both match "x".
        if (pa == kNoLevel) return next_level(b, pb) == "#";
        if (pb == kNoLevel) return next_level(a, pa) == "#";
        const auto la = level_at(a, pa);
        const auto lb = level_at(b, pb);
        if (first && dollar_clash(la.text, lb.text)) return false;
        if (la.text == "#" || lb.text == "#") return true;
        if (!is_wildcard(la.text) && !is_wildcard(lb.text) && la.text != lb.text) return false;
        pa = la.next;
        pb = lb.next;
    }
}

bool filter_covers(std::string_view general, std::string_view specific) noexcept {
    std::size_t pg = 0;
    std::size_t ps = 0;
    for (bool first = true;; first = false) {
        if (pg == kNoLevel) return ps == kNoLevel;
        const auto lg = level_at(general, pg);
        // "a/#" covers "a": '#' matches the parent level.
        if (ps == kNoLevel) return lg.text == "#";
        const auto ls = level_at(specific, ps);
        if (first && dollar_clash(lg.text, ls.text)) return false;
        if (lg.text == "#") return true;
        if (ls.text == "#") {
            // '#' here matches every continuation, even none (the parent) unless it is the first level. Only
            // "+/#" at the first level matches them all besides '#' itself: every topic has a first level.
            return first && lg.text == "+" && lg.next != kNoLevel && level_at(general, lg.next).text == "#" &&
                   level_at(general, lg.next).next == kNoLevel;
        }
        if (lg.text != "+" && (ls.text == "+" || lg.text != ls.text)) return false;
        pg = lg.next;
        ps = ls.next;
    }
}

std::optional<std::string> filter_intersection(std::string_view a, std::string_view b) {
    std::vector<std::string_view> out;
    std::optional<std::string_view> tail;  // the rest of one filter (maybe an empty level), when the other has '#'
    std::size_t pa = 0;
    std::size_t pb = 0;
    for (bool first = true;; first = false) {
        if (pa == kNoLevel && pb == kNoLevel) break;
        if (pa == kNoLevel || pb == kNoLevel) {
            if (next_level(pa == kNoLevel ? b : a, pa == kNoLevel ? pb : pa) != "#") return std::nullopt;
            break;  // only the parent level of that '#' is common
        }
        const auto la = level_at(a, pa);
        const auto lb = level_at(b, pb);
        if (first && dollar_clash(la.text, lb.text)) return std::nullopt;
        if (la.text == "#") {
            tail = b.substr(pb);
            break;
        }
        if (lb.text == "#") {
            tail = a.substr(pa);
            break;
        }
        if (la.text == "+") {
            out.push_back(lb.text);
        } else if (lb.text == "+" || la.text == lb.text) {
            out.push_back(la.text);
        } else {
            return std::nullopt;
        }
        pa = la.next;
        pb = lb.next;
    }
    std::string result;
    for (std::size_t i = 0; i < out.size(); ++i) {
        if (i > 0) result += '/';
        result += out[i];
    }
    if (tail) {
        if (!out.empty()) result += '/';
        result += *tail;
    }
    return result;
}

}  // namespace moth::auth
