#pragma once
// Filter-against-filter questions, for checking a SUBSCRIBE against ACL rules (Acl::may_subscribe). A filter
// stands for the set of topic names it matches (MQTT 5.0 section 4.7), the '$' rule included: a filter whose
// first level is '+' or '#' matches no topic starting with '$' [MQTT-4.7.2-1].
//
// Preconditions: both arguments are valid, non-shared topic filters (codec::validate_topic_filter; a shared
// subscription is asked about the filter after "$share/<group>/"). On other input the answers are unspecified,
// but the functions never read out of bounds. Pure, allocation-free (filter_intersection excepted), any thread.
#include <optional>
#include <string>
#include <string_view>

namespace moth::auth {

// Whether some topic name matches both filters. Level by level: '#' matches the rest (the parent level
// included), '+' matches exactly one level, literals must be equal.
[[nodiscard]] bool filters_intersect(std::string_view a, std::string_view b) noexcept;

// Whether every topic name matched by `specific` is also matched by `general` (general is at least as general).
// A filter covers itself; "a/#" covers "a", "a/+" and "a/b/#"; "a/+" does not cover "a/#" (which matches "a").
[[nodiscard]] bool filter_covers(std::string_view general, std::string_view specific) noexcept;

// The filter matching exactly the topic names both filters match, or nullopt when there is none: MQTT filters
// are closed under intersection ("a/+/c" and "a/b/#" give "a/b/c"; "+/#" and "x" give "x").
[[nodiscard]] std::optional<std::string> filter_intersection(std::string_view a, std::string_view b);

}  // namespace moth::auth
