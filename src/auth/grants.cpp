#include "auth/grants.hpp"

#include <optional>

#include "auth/acl_filters.hpp"

namespace moth::auth {

namespace {

// The filter with %c and %u replaced, or nullopt when a replacement would change its meaning (a '+', '#' or '/' in
// the client id or user name, or %u for a client without one).
std::optional<std::string> substitute(std::string_view filter, std::string_view client_id, std::string_view username) {
    if (filter.find('%') == std::string_view::npos) return std::string(filter);
    std::string out;
    out.reserve(filter.size() + client_id.size());
    for (std::size_t i = 0; i < filter.size(); ++i) {
        if (filter[i] != '%' || i + 1 == filter.size() || (filter[i + 1] != 'c' && filter[i + 1] != 'u')) {
            out.push_back(filter[i]);
            continue;
        }
        const std::string_view value = filter[i + 1] == 'c' ? client_id : username;
        if (value.empty() || value.find_first_of("+#/") != std::string_view::npos) return std::nullopt;
        out.append(value);
        ++i;
    }
    return out;
}

bool any_allows(const std::vector<std::string>& filters, std::string_view client_id, std::string_view username,
                std::string_view topic) {
    for (const auto& f : filters) {
        const auto filter = substitute(f, client_id, username);
        if (!filter) continue;
        // A topic name is the filter matching just itself: covering it is matching it.
        if (filter_covers(*filter, topic)) return true;
    }
    return false;
}

}  // namespace

bool grants_allow(const Grants& grants, std::string_view client_id, std::string_view username, std::string_view topic,
                  GrantAccess access) {
    if (grants.superuser) return true;
    if (any_allows(grants.all, client_id, username, topic)) return true;
    return any_allows(access == GrantAccess::Write ? grants.publish : grants.subscribe, client_id, username, topic);
}

}  // namespace moth::auth
