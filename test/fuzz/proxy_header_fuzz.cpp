// libFuzzer target for the PROXY protocol header parser (v1 text, v2 binary; src/server/client_address.hpp).
// Oracles beyond "does not crash": the verdict, the consumed count and the address are the same whether the input
// arrives whole or one byte at a time; a header never claims more bytes than it was given.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "server/client_address.hpp"

using moth::server::ProxyHeaderParser;

namespace {

struct Outcome {
    ProxyHeaderParser::Status status = ProxyHeaderParser::Status::NeedMore;
    std::size_t consumed = 0;
    ProxyHeaderParser parser;
};

// Feeds `in` in pieces of `step` bytes, as the server does (it peeks, then takes what the parser consumed).
void feed(std::span<const std::byte> in, std::size_t step, Outcome& o) {
    std::size_t at = 0;
    while (at < in.size() && o.parser.status() == ProxyHeaderParser::Status::NeedMore) {
        const auto piece = in.subspan(at, std::min(step, in.size() - at));
        const auto r = o.parser.feed(piece);
        if (r.consumed > piece.size()) std::abort();
        o.consumed += r.consumed;
        at += piece.size();
        if (r.status == ProxyHeaderParser::Status::NeedMore && r.consumed != piece.size()) std::abort();
    }
    o.status = o.parser.status();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::byte> in(reinterpret_cast<const std::byte*>(data), size);
    Outcome whole;
    Outcome bytewise;
    feed(in, in.size() == 0 ? 1 : in.size(), whole);
    feed(in, 1, bytewise);
    if (whole.status != bytewise.status) std::abort();
    if (whole.status == ProxyHeaderParser::Status::Done) {
        if (whole.consumed != bytewise.consumed || whole.consumed > size) std::abort();
        if (whole.parser.source() != bytewise.parser.source()) std::abort();
    }
    return 0;
}
