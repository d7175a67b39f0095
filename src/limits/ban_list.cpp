#include "limits/ban_list.hpp"

#include <algorithm>
#include <array>
#include <tuple>
#include <mutex>

namespace moth::limits {

namespace {
constexpr std::array<std::string_view, 3> kKinds{"client_id", "username", "address"};
constexpr std::array<std::string_view, 3> kSources{"config", "api", "flapping"};
}  // namespace

std::string_view to_string(Ban::Kind k) noexcept { return kKinds.at(static_cast<std::size_t>(k)); }
std::string_view to_string(Ban::Source s) noexcept { return kSources.at(static_cast<std::size_t>(s)); }

std::optional<Ban::Kind> ban_kind(std::string_view name) noexcept {
    for (std::size_t i = 0; i < kKinds.size(); ++i) {
        if (kKinds[i] == name) return static_cast<Ban::Kind>(i);
    }
    return std::nullopt;
}

std::optional<Ban::Source> ban_source(std::string_view name) noexcept {
    for (std::size_t i = 0; i < kSources.size(); ++i) {
        if (kSources[i] == name) return static_cast<Ban::Source>(i);
    }
    return std::nullopt;
}

std::optional<Ban> make_ban(Ban::Kind kind, std::string_view value, std::string* error) {
    auto fail = [&](std::string why) -> std::optional<Ban> {
        if (error != nullptr) *error = std::move(why);
        return std::nullopt;
    };
    if (value.empty()) return fail(std::string(to_string(kind)) + " must not be empty");
    Ban b;
    b.kind = kind;
    if (kind == Ban::Kind::Address) {
        b.range = parse_cidr(value);
        if (!b.range) {
            return fail("\"" + std::string(value) +
                        "\" is not an IPv4 or IPv6 address or a CIDR range with zero host bits (\"10.0.0.0/8\")");
        }
        b.value = to_string(*b.range);
    } else {
        b.value = std::string(value);
    }
    return b;
}

std::string canonical_value(Ban::Kind kind, std::string_view value) {
    if (kind == Ban::Kind::Address) {
        if (auto r = parse_cidr(value)) return to_string(*r);
    }
    return std::string(value);
}

bool BanList::add(Ban ban) {
    std::unique_lock lock(mutex_);
    ++generation_;
    auto& m = map_for(ban.kind);
    std::string key = ban.value;
    return m.insert_or_assign(std::move(key), std::move(ban)).second;
}

bool BanList::remove(Ban::Kind kind, std::string_view value) {
    std::unique_lock lock(mutex_);
    const std::string key = canonical_value(kind, value);
    if (map_for(kind).erase(key) == 0) return false;
    ++generation_;
    return true;
}

void BanList::set_config_bans(const std::vector<Ban>& bans) {
    std::unique_lock lock(mutex_);
    ++generation_;
    for (Map* m : {&ids_, &users_, &ranges_}) {
        std::erase_if(*m, [](const auto& kv) { return kv.second.source == Ban::Source::Config; });
    }
    for (const Ban& b : bans) {
        Ban c = b;
        c.source = Ban::Source::Config;
        map_for(c.kind).insert_or_assign(c.value, std::move(c));
    }
}

std::optional<Ban> BanList::match(std::string_view client_id, std::optional<std::string_view> username,
                                  std::string_view remote, std::int64_t now) const {
    std::shared_lock lock(mutex_);
    auto in_force = [&](const Map& m, std::string_view key) -> const Ban* {
        if (m.empty()) return nullptr;
        auto it = m.find(std::string(key));
        return it != m.end() && !it->second.expired(now) ? &it->second : nullptr;
    };
    if (const Ban* b = in_force(ids_, client_id)) return *b;
    if (username) {
        if (const Ban* b = in_force(users_, *username)) return *b;
    }
    for (const auto& [key, b] : ranges_) {
        if (!b.expired(now) && b.range && cidr_contains(*b.range, remote)) return b;
    }
    return std::nullopt;
}

std::vector<Ban> BanList::list(std::int64_t now) const {
    std::shared_lock lock(mutex_);
    std::vector<Ban> out;
    for (const Map* m : {&ids_, &users_, &ranges_}) {
        for (const auto& [key, b] : *m) {
            if (!b.expired(now)) out.push_back(b);
        }
    }
    std::sort(out.begin(), out.end(),
              [](const Ban& a, const Ban& b) { return std::tie(a.kind, a.value) < std::tie(b.kind, b.value); });
    return out;
}

std::vector<Ban> BanList::purge_expired(std::int64_t now) {
    std::unique_lock lock(mutex_);
    std::vector<Ban> gone;
    for (Map* m : {&ids_, &users_, &ranges_}) {
        std::erase_if(*m, [&](const auto& kv) {
            if (!kv.second.expired(now)) return false;
            gone.push_back(kv.second);
            return true;
        });
    }
    if (!gone.empty()) ++generation_;
    return gone;
}

std::uint64_t BanList::generation() const {
    std::shared_lock lock(mutex_);
    return generation_;
}

bool BanList::empty() const {
    std::shared_lock lock(mutex_);
    return ids_.empty() && users_.empty() && ranges_.empty();
}

}  // namespace moth::limits
