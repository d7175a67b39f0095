#pragma once
// Who the client really is when it connects through a proxy or a browser: the PROXY protocol header (v1 text,
// v2 binary) a load balancer puts in front of the stream, the X-Forwarded-For / Forwarded header of a WebSocket
// upgrade, and the Origin allow-list of an upgrade. Pure functions and a byte-driven parser: no I/O, no Asio, so
// the unit tests feed them bytes directly (test/unit/server) and any listener kind can reuse them.
//
// Addresses are written as the server writes a socket's peer: "<address>:<port>" with the address in its usual
// text form (IPv6 without brackets: "2001:db8::1:4711"), or the bare address when no port is known.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace moth::server {

// The PROXY protocol header (https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt), v1 or v2, detected
// from its first bytes. Feed it bytes as they arrive; it never consumes a byte past the header, so what follows
// (a ClientHello, an HTTP upgrade, a CONNECT) stays for the next layer.
class ProxyHeaderParser {
public:
    enum class Status : std::uint8_t { NeedMore, Done, Error };
    struct Result {
        Status status = Status::NeedMore;
        std::size_t consumed = 0;  // bytes of `in` that belong to the header (all of them while NeedMore)
    };
    // v2 headers may carry TLVs; a header longer than this is refused rather than buffered.
    static constexpr std::size_t kMaxV2Length = 16 * 1024;

    Result feed(std::span<const std::byte> in);

    [[nodiscard]] Status status() const { return status_; }
    // Done: the client's address ("1.2.3.4:5678"), or nullopt when the header says to keep the socket's address
    // (v1 UNKNOWN, v2 LOCAL, v2 PROXY with an unspecified or non-IP family).
    [[nodiscard]] const std::optional<std::string>& source() const { return source_; }
    [[nodiscard]] int version() const { return version_; }  // 1 or 2 once detected, else 0
    // Error: why, for the log line.
    [[nodiscard]] const std::string& error() const { return error_; }

private:
    Result fail(std::string why, std::size_t consumed);
    Status parse_v1();
    Status parse_v2();

    Status status_ = Status::NeedMore;
    int version_ = 0;
    std::vector<std::uint8_t> buf_;
    std::size_t v2_total_ = 0;  // v2: 16 + length, once the fixed part is in
    std::optional<std::string> source_;
    std::string error_;
};

// The client named by an upgrade request's headers, for listeners with trust_x_forwarded_for: the first address
// of X-Forwarded-For (all such headers joined in order), else the `for=` of the first element of Forwarded
// (RFC 7239: quoted, bracketed IPv6, optional port). nullopt when neither names an IP address ("unknown",
// obfuscated identifiers, garbage): the socket's address is kept.
[[nodiscard]] std::optional<std::string> forwarded_client(std::span<const std::string_view> x_forwarded_for,
                                                          std::span<const std::string_view> forwarded);

// Whether a WebSocket upgrade's Origin header value may connect, given a listener's allowed_origins. An empty
// list allows any origin; "*" allows any; "https://example.com:8443" allows exactly that origin (scheme and host
// compared case-insensitively, a scheme's default port may be written or left out); "https://*.example.com"
// allows every subdomain of example.com (not example.com itself) with that scheme and port. A request without
// Origin is not a browser's and is not checked (the caller does not call this).
[[nodiscard]] bool origin_allowed(std::string_view origin, std::span<const std::string> allowed);

}  // namespace moth::server
