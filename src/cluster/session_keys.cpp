#include "cluster/session_keys.hpp"

#include "broker/store.hpp"
#include "cluster/subject.hpp"
#include "common/base64.hpp"

namespace moth::cluster {
namespace {

constexpr char kLowerHex[] = "0123456789abcdef";
constexpr std::string_view kBridgePrefix = "$bridge/";

std::string hex(std::string_view bytes) {
    std::string s;
    s.reserve(bytes.size() * 2);
    for (const char ch : bytes) {
        const auto c = static_cast<unsigned char>(ch);
        s += kLowerHex[c >> 4];
        s += kLowerHex[c & 0xF];
    }
    return s;
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;  // upper case is never written
}

std::optional<std::string> unhex(std::string_view text) {
    if (text.size() % 2 != 0) return std::nullopt;
    std::string out;
    out.reserve(text.size() / 2);
    for (std::size_t i = 0; i < text.size(); i += 2) {
        const int hi = hex_digit(text[i]), lo = hex_digit(text[i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out += static_cast<char>(hi * 16 + lo);
    }
    return out;
}

bool has_suffix(char tag) { return tag == 'q' || tag == 'p' || tag == 'i'; }

std::string client_head(std::string_view client_id) { return "c." + client_token(client_id) + "."; }

}  // namespace

std::string client_token(std::string_view client_id) {
    std::string t = base64url(client_id);
    // An empty id (never stored, but an empty token would be no KV key) is hashed too.
    if (t.empty() || t.size() > kMaxClientToken) return "h" + sha256_hex(client_id);
    return t;
}

std::optional<SessionKey> session_key(std::string_view store_key) {
    if (const auto id = broker::parse_applied_key(store_key)) {
        // "@<consumer>\n<msgid>": the id the bus gave a session consumer's delivery.
        if (id->empty() || id->front() != '@') return std::nullopt;
        const auto nl = id->find('\n');
        if (nl == std::string_view::npos || nl == 1 || nl + 1 == id->size()) return std::nullopt;
        const auto consumer = id->substr(1, nl - 1);
        for (const char c : consumer) {
            // Our consumer names ("ss_<hex>") are single KV tokens; anything else is not ours.
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
                return std::nullopt;
        }
        SessionKey k;
        k.kind = SessionKey::Kind::Applied;
        k.key = "x." + std::string(consumer) + "." + base64url(id->substr(nl + 1));
        return k;
    }
    const auto ck = broker::parse_client_key(store_key);
    if (!ck || ck->client_id.starts_with(kBridgePrefix)) return std::nullopt;
    SessionKey k;
    k.tag = ck->tag;
    k.client_id = std::string(ck->client_id);
    k.key = client_head(ck->client_id) + ck->tag;
    if (!has_suffix(ck->tag)) return k;
    if (ck->prefix) {
        k.kind = SessionKey::Kind::Prefix;
        k.key += ".>";
        return k;
    }
    k.key += "." + hex(ck->suffix);
    return k;
}

std::string owner_key(std::string_view client_id) { return client_head(client_id) + "o"; }

std::string client_keys(std::string_view client_id) { return client_head(client_id) + ">"; }

std::optional<std::string> store_key_of(std::string_view kv_key, std::string_view client_id) {
    const std::string head = client_head(client_id);
    if (!kv_key.starts_with(head)) return std::nullopt;
    const std::string_view rest = kv_key.substr(head.size());
    if (rest.empty()) return std::nullopt;
    const char tag = rest.front();
    broker::ClientKey ck;
    ck.tag = tag;
    ck.client_id = client_id;
    if (tag == 's' || tag == 'w') {
        if (rest.size() != 1) return std::nullopt;
        return broker::make_client_key(ck);
    }
    if (!has_suffix(tag) || rest.size() < 3 || rest[1] != '.') return std::nullopt;
    const auto suffix = unhex(rest.substr(2));
    if (!suffix || suffix->empty()) return std::nullopt;
    ck.suffix = *suffix;
    return broker::make_client_key(ck);
}

std::string applied_keys(std::string_view consumer) { return "x." + std::string(consumer) + ".>"; }

std::optional<std::string> applied_id_of(std::string_view kv_key) {
    if (!kv_key.starts_with("x.")) return std::nullopt;
    kv_key.remove_prefix(2);
    const auto dot = kv_key.find('.');
    if (dot == std::string_view::npos || dot == 0) return std::nullopt;
    const auto encoded = kv_key.substr(dot + 1);
    for (const char c : encoded) {
        if (c == '+' || c == '/' || c == '=' || c == '.') return std::nullopt;  // only base64url is written
    }
    auto msgid = common::base64_decode(encoded);
    if (!msgid) return std::nullopt;
    return "@" + std::string(kv_key.substr(0, dot)) + "\n" + *msgid;
}

std::string session_consumer(std::string_view client_id, std::string_view filter, std::string_view subject) {
    std::string seed;
    seed.reserve(client_id.size() + filter.size() + subject.size() + 2);
    seed.append(client_id).append(1, '\0').append(filter).append(1, '\0').append(subject);
    return "ss_" + hex16(fnv1a64(seed));
}

}  // namespace moth::cluster
