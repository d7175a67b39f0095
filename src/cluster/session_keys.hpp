#pragma once
// How the store's records of persistent sessions are named in the cluster's copy, the KV bucket
// "<prefix>_sessions" (docs/cluster.md, "Sessions and take-over"). Pure functions: no libnats here, so the mapping is
// unit-tested on its own.
//
// KV keys allow [-/_=.a-zA-Z0-9] and dots separate tokens, so a client id becomes one token, its "client token":
// base64url of the id without padding (at most kMaxClientToken characters), else "h" + lower-case hex SHA-256 of the
// id (65 characters: never the length of an unpadded base64 text, so the two never meet; an empty id too).
//
//   store key                      KV key
//   s<id>                          c.<ctok>.s
//   w<id>                          c.<ctok>.w
//   q<id>\0<seq>, p.., i..         c.<ctok>.<tag>.<lower-case hex of what follows the \0>
//   (none: the owner mark)         c.<ctok>.o                     value: the owning node's name
//   x@<consumer>\n<msgid>          x.<consumer>.<base64url msgid>  (a session consumer's delivery applied)
//
// Hex of a fixed-width big-endian number keeps the KV keys of one client in the store keys' order.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace moth::cluster {

inline constexpr std::size_t kMaxClientToken = 200;

[[nodiscard]] std::string client_token(std::string_view client_id);

// What a store key is in the sessions bucket.
struct SessionKey {
    enum class Kind : unsigned char {
        Record,   // one client record: `key` is its KV key
        Prefix,   // every record of one tag of a client (a store key without its suffix): `key` is the filter
                  // "c.<ctok>.<tag>.>"
        Applied,  // a session consumer's delivery applied ("x@..."): `key` is its KV key
    };
    Kind kind = Kind::Record;
    char tag = 0;           // 's', 'w', 'q', 'p', 'i'; 0 for Applied
    std::string client_id;  // empty for Applied
    std::string key;
};

// nullopt for every key the cluster's copy does not keep: other records (retained, totals, bans, format), "x"
// records of other paths (not starting with '@', or without the '\n' after the consumer), and the clients of
// bridges ("$bridge/...": each node keeps its own).
[[nodiscard]] std::optional<SessionKey> session_key(std::string_view store_key);

[[nodiscard]] std::string owner_key(std::string_view client_id);   // c.<ctok>.o
[[nodiscard]] std::string client_keys(std::string_view client_id);  // c.<ctok>.>  (owner mark included)

// The store key of one of `client_id`'s KV keys; nullopt for the owner mark, another client's key, or anything this
// mapping does not write.
[[nodiscard]] std::optional<std::string> store_key_of(std::string_view kv_key, std::string_view client_id);

// The applied ids of one session consumer: the filter "x.<consumer>.>", and a key of it back to the id the bus
// gives its deliveries (ClusterDelivery::id, "@<consumer>\n<msgid>"); nullopt for anything else.
[[nodiscard]] std::string applied_keys(std::string_view consumer);
[[nodiscard]] std::optional<std::string> applied_id_of(std::string_view kv_key);

// The durable consumer of a persistent session's own interest: one per client, filter (as subscribed) and subject.
[[nodiscard]] std::string session_consumer(std::string_view client_id, std::string_view filter,
                                           std::string_view subject);

}  // namespace moth::cluster
