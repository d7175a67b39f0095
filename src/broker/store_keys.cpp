// Client record keys taken apart and put together again (store.hpp, "ClientKey"), for the cluster's copy of
// sessions; the layout itself is store.cpp's (docs/architecture.md, "Durable state").
#include "broker/store.hpp"

namespace moth::broker {
namespace {

constexpr char kSession = 's', kDelivery = 'q', kMark = 'p', kIncoming = 'i', kWill = 'w', kApplied = 'x';

}  // namespace

std::optional<ClientKey> parse_client_key(std::string_view key) {
    if (key.empty()) return std::nullopt;
    ClientKey k;
    k.tag = key.front();
    const std::string_view rest = key.substr(1);
    if (k.tag == kSession || k.tag == kWill) {
        k.client_id = rest;
        return k;
    }
    if (k.tag != kDelivery && k.tag != kMark && k.tag != kIncoming) return std::nullopt;
    const auto nul = rest.find('\0');
    if (nul == std::string_view::npos) return std::nullopt;
    k.client_id = rest.substr(0, nul);
    k.suffix = rest.substr(nul + 1);
    k.prefix = k.suffix.empty();
    return k;
}

std::string make_client_key(const ClientKey& k) {
    if (k.tag == kSession || k.tag == kWill) return std::string(1, k.tag).append(k.client_id);
    return std::string(1, k.tag).append(k.client_id).append(1, '\0').append(k.suffix);
}

std::string applied_key(std::string_view id) { return std::string(1, kApplied).append(id); }

std::optional<std::string_view> parse_applied_key(std::string_view key) {
    if (key.empty() || key.front() != kApplied) return std::nullopt;
    return key.substr(1);
}

}  // namespace moth::broker
