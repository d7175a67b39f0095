// Acl's decisions. The order is Mosquitto 2.0's (mosquitto_acl_check_default), and it matters: the client's own
// section (its user's, or the anonymous one) first, deny rules before grants; then, only if nothing there decided,
// the patterns, deny before grant. So a user's grant beats a pattern's deny, and a user's deny beats everything.
#include "auth/acl.hpp"

#include "auth/acl_filters.hpp"
#include "codec/topic.hpp"

namespace moth::auth {
namespace {

using topic::kNoLevel;
using topic::level_at;

bool starts_with(std::string_view s, std::string_view prefix) noexcept {
    return s.substr(0, prefix.size()) == prefix;
}

// What %c or %u at tmpl[i] stands for; nullopt when it is not a placeholder there. Mosquitto leaves %u unreplaced
// for an anonymous client (and skips such patterns before), and a '%' ending the pattern is a plain character.
std::optional<std::string_view> placeholder(std::string_view tmpl, std::size_t i, const AclSubject& s) noexcept {
    if (tmpl[i] != '%' || i + 1 >= tmpl.size()) return std::nullopt;
    if (tmpl[i + 1] == 'c') return s.client_id;
    if (tmpl[i + 1] == 'u') return s.username;
    return std::nullopt;
}

// Whether one level of a pattern, with its placeholders replaced left to right in one pass (as Mosquitto does;
// replaced text is not scanned again), equals `level`. Compares in place instead of building the replaced text.
bool template_equals(std::string_view tmpl, std::string_view level, const AclSubject& s) noexcept {
    std::size_t p = 0;
    std::size_t i = 0;
    while (i < tmpl.size()) {
        if (const auto value = placeholder(tmpl, i, s)) {
            if (level.substr(p, value->size()) != *value) return false;
            p += value->size();
            i += 2;
            continue;
        }
        if (p >= level.size() || level[p] != tmpl[i]) return false;
        ++p;
        ++i;
    }
    return p == level.size();
}

std::string substitute(std::string_view tmpl, const AclSubject& s) {
    std::string out;
    std::size_t i = 0;
    while (i < tmpl.size()) {
        if (const auto value = placeholder(tmpl, i, s)) {
            out += *value;
            i += 2;
        } else {
            out += tmpl[i++];
        }
    }
    return out;
}

// The first character of the pattern once replaced ('\0' if it is empty), for Mosquitto's '$' rule.
char first_char(std::string_view tmpl, const AclSubject& s) noexcept {
    for (std::size_t i = 0; i < tmpl.size(); i += 2) {
        const auto value = placeholder(tmpl, i, s);
        if (!value) return tmpl[i];
        if (!value->empty()) return value->front();
    }
    return '\0';
}

// mosquitto_topic_matches_sub over the rule's pre-split levels, placeholders replaced when `subject` is given.
// Its '$' rule: a topic starting with '$' only matches a filter starting with '$', and the other way round.
bool rule_matches(const Acl::Rule& rule, std::string_view topic, const AclSubject* subject) noexcept {
    const char f0 = subject != nullptr ? first_char(rule.filter, *subject) : rule.filter.front();
    if ((f0 == '$') != (topic.front() == '$')) return false;
    std::size_t t = 0;
    for (const auto& level : rule.levels) {
        if (level == "#") return true;
        if (t == kNoLevel) return false;
        const auto tl = level_at(topic, t);
        if (level != "+" && !(subject != nullptr ? template_equals(level, tl.text, *subject) : level == tl.text)) {
            return false;
        }
        t = tl.next;
    }
    return t == kNoLevel;
}

// A client id or username holding '/' moves level boundaries once replaced: match the replaced text instead.
bool pattern_matches(const Acl::Rule& rule, std::string_view topic, const AclSubject& s, bool slash) {
    if (!slash) return rule_matches(rule, topic, &s);
    return topic::topic_matches(substitute(rule.filter, s), topic);
}

bool applies(const Acl::Rule& pattern, const AclSubject& s) noexcept {
    return !pattern.names_username || s.username;
}

// Mosquitto refuses pattern checks for a client id or username with '+' or '#': replaced into a pattern they
// would widen it.
bool dangerous(const AclSubject& s) noexcept {
    return codec::has_wildcard(s.client_id) || (s.username && codec::has_wildcard(*s.username));
}

// Whether `grant` gives the subscriber of `filter` a topic to read that none of the denies taking precedence over
// the grant takes away entirely.
bool readable_part(std::string_view filter, std::string_view grant, const std::vector<Acl::Rule>* own_denies,
                   const std::vector<std::string>& pattern_denies) {
    const auto common = filter_intersection(filter, grant);
    if (!common || starts_with(*common, "$share")) return false;
    if (own_denies != nullptr) {
        for (const auto& d : *own_denies) {
            if (filter_covers(d.filter, *common)) return false;
        }
    }
    for (const auto& d : pattern_denies) {
        if (filter_covers(d, *common)) return false;
    }
    return true;
}

}  // namespace

const Acl::Section* Acl::section_of(const AclSubject& subject) const {
    if (!subject.username) return &anonymous_;
    const auto it = users_.find(*subject.username);
    return it == users_.end() ? nullptr : &it->second;
}

bool Acl::allows(const AclSubject& subject, std::string_view topic, Access access) const {
    if (topic.empty() || starts_with(topic, "$share")) return false;
    if (access == Access::Write && starts_with(topic, "$SYS") &&
        !topic::topic_matches("$SYS/broker/connection/+/state", topic)) {
        return false;
    }
    const auto bits = static_cast<std::uint8_t>(access);
    if (const Section* own = section_of(subject)) {
        for (const auto& d : own->denies) {
            if (rule_matches(d, topic, nullptr)) return false;
        }
        for (const auto& g : own->grants) {
            if ((g.access & bits) != 0 && rule_matches(g, topic, nullptr)) return true;
        }
    }
    if (patterns_.empty() || dangerous(subject)) return false;
    const bool slash = subject.client_id.find('/') != std::string_view::npos ||
                       (subject.username && subject.username->find('/') != std::string_view::npos);
    for (const auto& d : patterns_.denies) {
        if (applies(d, subject) && pattern_matches(d, topic, subject, slash)) return false;
    }
    for (const auto& g : patterns_.grants) {
        if ((g.access & bits) != 0 && applies(g, subject) && pattern_matches(g, topic, subject, slash)) return true;
    }
    return false;
}

bool Acl::may_subscribe(const AclSubject& subject, std::string_view filter) const {
    if (filter.empty()) return false;
    constexpr auto kRead = static_cast<std::uint8_t>(Access::Read);
    const Section* own = section_of(subject);
    const std::vector<std::string> none;
    if (own != nullptr) {
        for (const auto& g : own->grants) {
            if ((g.access & kRead) != 0 && readable_part(filter, g.filter, &own->denies, none)) return true;
        }
    }
    if (patterns_.empty() || dangerous(subject)) return false;
    std::vector<std::string> pattern_denies;
    for (const auto& d : patterns_.denies) {
        if (applies(d, subject)) pattern_denies.push_back(substitute(d.filter, subject));
    }
    for (const auto& g : patterns_.grants) {
        if ((g.access & kRead) == 0 || !applies(g, subject)) continue;
        if (readable_part(filter, substitute(g.filter, subject), own != nullptr ? &own->denies : nullptr,
                          pattern_denies)) {
            return true;
        }
    }
    return false;
}

}  // namespace moth::auth
