#pragma once
// How MQTT topics, filters and retained topics are named on NATS (docs/cluster.md). Pure functions: no libnats
// here, so the mapping is unit-tested and fuzzed on its own.
//
// A topic level becomes one subject token. NATS tokens cannot hold '.', whitespace or control bytes, and '*' and
// '>' are its wildcards, so those bytes (and '~', the escape itself) are written "~XX" (two upper-case hex digits);
// an empty level is the token "~" alone, so that a '+' (mapped to '*') still matches it. Everything else, UTF-8
// included, passes as it is.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace moth::cluster {

// NATS servers refuse very long subjects; topics whose subject would be longer travel on long_subject() instead.
inline constexpr std::size_t kMaxSubject = 2048;
// A JetStream KV key may be at most this long (our own bound: keys are subjects inside the bucket's stream).
inline constexpr std::size_t kMaxRetainedKey = 1024;

[[nodiscard]] std::string topic_token(std::string_view level);
// "<prefix>.<kind>.<token>...": kind is "q0" or "q1". Over kMaxSubject: long_subject(prefix, kind).
[[nodiscard]] std::string topic_subject(std::string_view prefix, std::string_view kind, std::string_view topic);
// "<prefix>.<kind>.~long": where topics with over-long subjects are published. Every node with any interest
// subscribes to it as well; the receiving router filters those messages by their topic.
[[nodiscard]] std::string long_subject(std::string_view prefix, std::string_view kind);
// The subjects that carry what `filter` matches: '+' -> '*', '#' -> '>'; "a/#" gives "...a.>" and "...a" (MQTT's
// a/# also matches a); "#" alone gives "...>". A filter whose subject would be over kMaxSubject can only match
// topics that travel on long_subject(), which is then the one subject returned.
// filter_subjects() and the subject of over-long topics, which whoever has interest in a filter listens to too.
[[nodiscard]] std::vector<std::string> carried_subjects(std::string_view prefix, std::string_view kind,
                                                        std::string_view filter);
[[nodiscard]] std::vector<std::string> filter_subjects(std::string_view prefix, std::string_view kind,
                                                       std::string_view filter);
// The inverse of topic_subject: the topic of `subject` after its first `skip_tokens` tokens; nullopt for a bad escape,
// a byte that must have been escaped, a wildcard token, or fewer tokens than skipped.
[[nodiscard]] std::optional<std::string> topic_from_subject(std::string_view subject, std::size_t skip_tokens);

// The KV key of a retained topic (keys allow [-/_=.a-zA-Z0-9]): "r." + base64url(topic) without padding; when that
// is over kMaxRetainedKey, "h." + lower-case hex SHA-256 of the topic (the value carries the full topic anyway).
[[nodiscard]] std::string retained_key(std::string_view topic);
// The topic of an "r." key; nullopt for "h." keys (not reversible) and anything malformed.
[[nodiscard]] std::optional<std::string> topic_from_retained_key(std::string_view key);

// Base64url (RFC 4648 section 5) without padding, and lower-case hex SHA-256: KV keys from arbitrary bytes.
[[nodiscard]] std::string base64url(std::string_view bytes);
[[nodiscard]] std::string sha256_hex(std::string_view bytes);

// FNV-1a 64 as 16 lower-case hex digits: short, stable names for consumers derived from long subjects.
[[nodiscard]] std::uint64_t fnv1a64(std::string_view bytes);
[[nodiscard]] std::string hex16(std::uint64_t v);

}  // namespace moth::cluster
