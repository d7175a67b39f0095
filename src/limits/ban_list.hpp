#pragma once
// The ban list: client ids, user names and source addresses (single addresses or CIDR ranges) refused at CONNECT,
// each with an optional expiry. Entries come from the config file ([[ban]]), the HTTP API and flapping detection;
// the server persists the API's and flapping's in the store so they survive a restart. Thread-safe: every worker
// asks it on each CONNECT (a shared lock), the API and the flapping detector change it (an exclusive one).
// Times are Unix seconds (bans are persisted and shown to people, so they are wall-clock times).
#include <cstdint>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/cidr.hpp"

namespace moth::limits {

struct Ban {
    enum class Kind : std::uint8_t { ClientId, Username, Address };
    enum class Source : std::uint8_t { Config, Api, Flapping };
    Kind kind = Kind::ClientId;
    std::string value;         // Address: the range's canonical text (to_string(Cidr))
    std::optional<Cidr> range;  // Address only
    std::string reason;
    std::optional<std::int64_t> until;  // none: until removed
    Source source = Source::Config;  // the API and flapping detection set theirs
    std::int64_t created = 0;

    [[nodiscard]] bool expired(std::int64_t now) const { return until && now >= *until; }
    bool operator==(const Ban&) const = default;
};

[[nodiscard]] std::string_view to_string(Ban::Kind k) noexcept;    // "client_id", "username", "address"
[[nodiscard]] std::string_view to_string(Ban::Source s) noexcept;  // "config", "api", "flapping"
[[nodiscard]] std::optional<Ban::Kind> ban_kind(std::string_view name) noexcept;
[[nodiscard]] std::optional<Ban::Source> ban_source(std::string_view name) noexcept;

// A ban from its parts, `value` checked and made canonical (an address parsed as a CIDR range); nullopt with
// `error` set when the value is not valid for the kind (empty, or not an address / range).
[[nodiscard]] std::optional<Ban> make_ban(Ban::Kind kind, std::string_view value, std::string* error = nullptr);
// The text a ban of `kind` is keyed by: an address range's canonical form, other values as they are.
[[nodiscard]] std::string canonical_value(Ban::Kind kind, std::string_view value);

class BanList {
public:
    // Adds or replaces the ban of (kind, value). True when it was new.
    bool add(Ban ban);
    // Removes the ban of (kind, value), whatever its source. False when there was none.
    bool remove(Ban::Kind kind, std::string_view value);
    // Replaces every ban whose source is Config (a reload); others are kept.
    void set_config_bans(const std::vector<Ban>& bans);
    // The first ban in force that matches the CONNECT (the client id, its user name if any, its address as the
    // connection prints it: "ip:port", "[v6]:port"). Expired bans never match.
    [[nodiscard]] std::optional<Ban> match(std::string_view client_id, std::optional<std::string_view> username,
                                           std::string_view remote, std::int64_t now) const;
    // Bans in force, in kind then value order.
    [[nodiscard]] std::vector<Ban> list(std::int64_t now) const;
    // Removes expired bans and returns them (so the store forgets them too).
    std::vector<Ban> purge_expired(std::int64_t now);
    // Changes on every add, remove or replace: connected clients are checked again against a new generation.
    [[nodiscard]] std::uint64_t generation() const;
    [[nodiscard]] bool empty() const;

private:
    using Map = std::unordered_map<std::string, Ban>;
    Map& map_for(Ban::Kind k) { return k == Ban::Kind::ClientId ? ids_ : k == Ban::Kind::Username ? users_ : ranges_; }
    mutable std::shared_mutex mutex_;
    Map ids_, users_, ranges_;
    std::uint64_t generation_ = 1;
};

}  // namespace moth::limits
