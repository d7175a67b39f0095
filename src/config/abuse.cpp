// The abuse limits' settings that are more than one key each: the [[ban]] tables, and the effective rates a listener
// gets from its own values and [limits] (publish_rate(), connection_rate(), ...).
#include <algorithm>
#include <array>
#include <string>

#include "config/fields.hpp"

namespace moth::config {

namespace detail {

namespace {

constexpr std::array<std::string_view, 3> kBanKindKeys{"client_id", "username", "address"};

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
    y -= m <= 2 ? 1 : 0;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

// A TOML date-time with an offset as Unix seconds; nullopt for a local one (it names no instant).
std::optional<std::int64_t> unix_seconds(const toml::date_time& t) {
    if (!t.offset) {
        return std::nullopt;
    }
    const std::int64_t days = days_from_civil(t.date.year, t.date.month, t.date.day);
    return days * 86400 + t.time.hour * 3600 + t.time.minute * 60 + t.time.second - t.offset->minutes * 60;
}

// `until`: the text "2027-01-31T12:00:00Z" (RFC 3339, as the brief and most people write it), or the TOML
// date-time 2027-01-31T12:00:00Z unquoted; both need a UTC offset ("Z" or "+01:00").
std::optional<std::string> read_until(Ban& ban, const toml::node& node) {
    const std::string problem =
        "expected an RFC 3339 date-time with a UTC offset such as \"2027-01-31T12:00:00Z\", got ";
    if (const auto* value = node.as_date_time()) {
        ban.until = unix_seconds(value->get());
        return ban.until ? std::nullopt : std::optional(problem + "a date-time without an offset");
    }
    const auto* text = node.as_string();
    if (text == nullptr) {
        return problem + describe(node);
    }
    // TOML's date-time syntax is RFC 3339's (with ' ' allowed for 'T'): let the TOML parser check the text.
    const std::string& s = text->get();
    if (s.find_first_of("\n\r#=\"'") == std::string::npos) {
        try {
            const toml::table parsed = toml::parse("v = " + s);
            const auto* value = parsed.get("v");
            if (parsed.size() == 1 && value != nullptr && value->is_date_time()) {
                ban.until = unix_seconds(value->as_date_time()->get());
                if (ban.until) {
                    return std::nullopt;
                }
            }
        } catch (const toml::parse_error&) {
            // Reported below.
        }
    }
    return problem + describe(node);
}

// client_id, username or address: which kind of ban this is, and its value.
Reader<Ban> kind_reader(Ban::Kind kind) {
    return [kind](Ban& ban, const toml::node& node) -> std::optional<std::string> {
        const auto* value = node.as_string();
        if (value == nullptr) {
            return "expected a string, got " + describe(node);
        }
        const std::string& s = value->get();
        if (kind == Ban::Kind::Address) {
            auto range = parse_cidr(s);
            if (!range) {
                return "expected an IPv4 or IPv6 address or range such as \"192.0.2.7\", \"10.0.0.0/8\" or "
                       "\"2001:db8::/32\" (no host bits past the prefix), got " +
                       quote(s);
            }
            ban.range = range;
            ban.kind = kind;
            ban.value = to_string(*range);  // canonical, as the ban list keys it
            return std::nullopt;
        } else if (auto problem = non_empty(s)) {
            return problem;
        } else if (auto bad = mqtt_string(s)) {
            return bad;
        }
        ban.kind = kind;
        ban.value = s;
        return std::nullopt;
    };
}

const std::vector<Field<Ban>>& ban_fields() {
    static const std::vector<Field<Ban>> fields{
        {"client_id", true, kind_reader(Ban::Kind::ClientId), member_equal(&Ban::value)},
        {"username", true, kind_reader(Ban::Kind::Username), member_equal(&Ban::value)},
        {"address", true, kind_reader(Ban::Kind::Address), member_equal(&Ban::value)},
        string_field("reason", &Ban::reason, mqtt_string),
        {"until", false, read_until, member_equal(&Ban::until)},
    };
    return fields;
}

}  // namespace

std::string ban_key(std::size_t index, std::string_view field) {
    std::string key = "ban." + std::to_string(index);
    if (!field.empty()) {
        key += '.';
        key += field;
    }
    return key;
}

void read_bans(const toml::node& node, std::size_t line, Config& config, Collector& errors) {
    config.bans.clear();
    const toml::array* array = node.as_array();
    if (array == nullptr) {
        errors.add(line, "ban", "expected an array of tables ([[ban]]), got " + describe(node));
        return;
    }
    for (std::size_t i = 0; i < array->size(); ++i) {
        const toml::node& element = *array->get(i);
        const toml::table* table = element.as_table();
        if (table == nullptr) {
            errors.add(line_of(element.source()), ban_key(i), "expected a table, got " + describe(element));
            continue;
        }
        const std::size_t table_line = line_of(table->source());
        std::map<std::string, std::size_t, std::less<>> key_lines;
        Ban ban;
        read_table(ban_fields(), ban, *table, ban_key(i) + ".", errors, &key_lines);
        config.lines.keys[ban_key(i)] = table_line;
        for (const auto& [key, key_line] : key_lines) {
            config.lines.keys[ban_key(i, key)] = key_line;
        }
        std::vector<std::string_view> kinds;
        for (const auto key : kBanKindKeys) {
            if (key_lines.contains(key)) {
                kinds.push_back(key);
            }
        }
        if (kinds.empty()) {
            errors.add(table_line, ban_key(i), "needs one of client_id, username, address");
        } else if (kinds.size() > 1) {
            errors.add(table_line, ban_key(i),
                       "has both " + std::string(kinds[0]) + " and " + std::string(kinds[1]) +
                           ": give exactly one of client_id, username, address (one [[ban]] each)");
        }
        config.bans.push_back(std::move(ban));
    }
}

}  // namespace detail

namespace {

// A configured burst, or its default when 0: max(1, rate), so that a rate below one per second still lets one
// through.
Rate resolve(double rate, double burst) {
    return {rate, burst != 0 ? burst : std::max(1.0, rate)};
}

}  // namespace

Rate publish_rate(const Listener& l, const Limits& limits) {
    return resolve(l.publish_rate.value_or(limits.publish_rate), l.publish_burst.value_or(limits.publish_burst));
}

Rate publish_byte_rate(const Listener& l, const Limits& limits) {
    return resolve(l.publish_byte_rate.value_or(limits.publish_byte_rate),
                   l.publish_byte_burst.value_or(limits.publish_byte_burst));
}

Rate connection_rate(const Listener& l, const Limits& limits) {
    return resolve(l.connection_rate.value_or(limits.connection_rate),
                   l.connection_burst.value_or(limits.connection_burst));
}

Rate connection_rate_per_address(const Limits& limits) {
    return resolve(limits.connection_rate_per_address, limits.connection_burst_per_address);
}

}  // namespace moth::config
