// The four SCRAM messages of RFC 5802 section 7, parsed strictly: a message is split at ',' into attributes
// (`a=value`, a a letter) and each is checked against the grammar. Unknown optional extensions after the mandatory
// attributes are skipped, as section 5.1 asks; the mandatory-extension attribute "m=" is refused. Nothing here
// throws on input or reads outside it (std::string_view only).
#include <charconv>
#include <vector>

#include "auth/scram.hpp"
#include "common/base64.hpp"
#include "common/utf8.hpp"

namespace moth::auth {
namespace {

std::vector<std::string_view> split_commas(std::string_view s) {
    std::vector<std::string_view> parts;
    for (;;) {
        const auto at = s.find(',');
        parts.push_back(s.substr(0, at));
        if (at == std::string_view::npos) return parts;
        s.remove_prefix(at + 1);
    }
}

bool is_alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// The value of attribute `name` ("r" for "r=..."), nullopt when `field` is another attribute or malformed.
std::optional<std::string_view> value_of(std::string_view field, char name) {
    if (field.size() < 2 || field[0] != name || field[1] != '=') return std::nullopt;
    return field.substr(2);
}

// extensions = attr-val *("," attr-val); attr-val = ALPHA "=" value; value = 1*value-char (no ',' or NUL).
// "m" is the reserved mandatory extension: refused wherever it appears.
bool valid_extensions(const std::vector<std::string_view>& fields, std::size_t from, std::size_t to) {
    for (std::size_t i = from; i < to; ++i) {
        const std::string_view f = fields[i];
        if (f.size() < 3 || !is_alpha(f[0]) || f[1] != '=' || f[0] == 'm') return false;
        if (f.find('\0') != std::string_view::npos || !common::is_valid_mqtt_utf8(f.substr(2))) return false;
    }
    return true;
}

// printable = %x21-2B / %x2D-7E: no ',' (already split away), no space, no control characters, ASCII only.
bool valid_nonce(std::string_view nonce) {
    if (nonce.empty()) return false;
    for (const char c : nonce) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x21 || u > 0x7e || c == ',') return false;
    }
    return true;
}

// saslname = 1*(value-safe-char / "=2C" / "=3D"), UTF-8 without NUL; decoded.
std::optional<std::string> decode_name(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '=') {
            out += s[i];
            continue;
        }
        const std::string_view esc = s.substr(i + 1, 2);
        if (esc == "2C")
            out += ',';
        else if (esc == "3D")
            out += '=';
        else
            return std::nullopt;
        i += 2;
    }
    if (out.empty() || !common::is_valid_mqtt_utf8(out)) return std::nullopt;
    return out;
}

// posit-number = %x31-39 *DIGIT, within 32 bits.
std::optional<std::uint32_t> positive_number(std::string_view s) {
    if (s.empty() || s.size() > 10 || s[0] < '1' || s[0] > '9') return std::nullopt;
    std::uint32_t n = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
    return n;
}

}  // namespace

namespace scram_detail {

std::optional<std::string> strict_base64_decode(std::string_view text) {
    if (text.size() % 4 != 0) return std::nullopt;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        const bool alphabet = is_alpha(c) || (c >= '0' && c <= '9') || c == '+' || c == '/';
        const bool padding = c == '=' && i + 2 >= text.size() && (i + 1 == text.size() || text[i + 1] == '=');
        if (!alphabet && !padding) return std::nullopt;
    }
    auto bytes = common::base64_decode(text);
    // Canonical only: the unused bits of the last character are zero, so one text means one byte string.
    if (!bytes || common::base64_encode(*bytes) != text) return std::nullopt;
    return bytes;
}

std::string escape_name(std::string_view name) {
    std::string out;
    for (const char c : name) {
        if (c == ',')
            out += "=2C";
        else if (c == '=')
            out += "=3D";
        else
            out += c;
    }
    return out;
}

}  // namespace scram_detail

std::optional<ScramClientFirst> parse_client_first(std::string_view message) {
    // gs2-header = gs2-cbind-flag "," [authzid] ",": only "n,," and "y,,"; "p=..." and "a=..." are refused.
    if (message.size() < 3 || (message[0] != 'n' && message[0] != 'y') || message[1] != ',' || message[2] != ',') {
        return std::nullopt;
    }
    ScramClientFirst out;
    out.gs2_header = std::string(message.substr(0, 3));
    out.bare = std::string(message.substr(3));
    const auto fields = split_commas(out.bare);
    if (fields.size() < 2) return std::nullopt;
    const auto name = value_of(fields[0], 'n');  // a leading "m=" (reserved-mext) fails here too
    const auto nonce = value_of(fields[1], 'r');
    if (!name || !nonce || !valid_nonce(*nonce) || !valid_extensions(fields, 2, fields.size())) return std::nullopt;
    auto user = decode_name(*name);
    if (!user) return std::nullopt;
    out.username = std::move(*user);
    out.nonce = std::string(*nonce);
    return out;
}

std::optional<ScramServerFirst> parse_server_first(std::string_view message) {
    const auto fields = split_commas(message);
    if (fields.size() < 3) return std::nullopt;
    const auto nonce = value_of(fields[0], 'r');
    const auto salt = value_of(fields[1], 's');
    const auto iterations = value_of(fields[2], 'i');
    if (!nonce || !salt || !iterations || !valid_nonce(*nonce) || !valid_extensions(fields, 3, fields.size())) {
        return std::nullopt;
    }
    auto salt_bytes = scram_detail::strict_base64_decode(*salt);
    const auto count = positive_number(*iterations);
    if (!salt_bytes || salt_bytes->empty() || !count) return std::nullopt;
    return ScramServerFirst{std::string(*nonce), std::move(*salt_bytes), *count};
}

std::optional<ScramClientFinal> parse_client_final(std::string_view message) {
    // channel-binding "," nonce ["," extensions] "," proof: the proof is the last attribute.
    const auto fields = split_commas(message);
    if (fields.size() < 3) return std::nullopt;
    const auto binding = value_of(fields[0], 'c');
    const auto nonce = value_of(fields[1], 'r');
    const auto proof = value_of(fields.back(), 'p');
    if (!binding || !nonce || !proof || !valid_nonce(*nonce) || !valid_extensions(fields, 2, fields.size() - 1)) {
        return std::nullopt;
    }
    for (std::size_t i = 2; i + 1 < fields.size(); ++i) {
        if (fields[i][0] == 'p') return std::nullopt;  // one proof, last
    }
    auto cb = scram_detail::strict_base64_decode(*binding);
    auto proof_bytes = scram_detail::strict_base64_decode(*proof);
    if (!cb || cb->empty() || !proof_bytes || proof_bytes->empty()) return std::nullopt;
    ScramClientFinal out;
    out.channel_binding = std::move(*cb);
    out.nonce = std::string(*nonce);
    out.proof = std::move(*proof_bytes);
    out.without_proof = std::string(message.substr(0, message.size() - fields.back().size() - 1));
    return out;
}

std::optional<ScramServerFinal> parse_server_final(std::string_view message) {
    const auto fields = split_commas(message);
    if (!valid_extensions(fields, 1, fields.size())) return std::nullopt;
    ScramServerFinal out;
    if (const auto error = value_of(fields[0], 'e')) {
        if (error->empty() || !common::is_valid_mqtt_utf8(*error)) return std::nullopt;
        out.error = std::string(*error);
        return out;
    }
    const auto verifier = value_of(fields[0], 'v');
    if (!verifier) return std::nullopt;
    auto bytes = scram_detail::strict_base64_decode(*verifier);
    if (!bytes || bytes->empty()) return std::nullopt;
    out.verifier = std::move(*bytes);
    return out;
}

}  // namespace moth::auth
