#pragma once
// `moth device SKETCH.ino [options]`: builds an Arduino sketch against Moth's virtual device layer (src/arduino)
// with the C++ compiler on the machine, caches the result, and runs it as one device or a fleet.
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace moth::cli {

[[nodiscard]] int run_device(const std::vector<std::string>& args);

// Arduino's sketch preprocessing, the part sketches rely on: prototypes for the functions a sketch defines,
// inserted before the first definition (so a callback may be defined after the code that names it). Returns the
// text to compile, with #line directives pointing back at `path`.
[[nodiscard]] std::string preprocess_sketch(std::string_view text, const std::string& path);

// FNV-1a, for cache keys.
[[nodiscard]] std::uint64_t fnv1a(std::string_view data, std::uint64_t h = 14695981039346656037ULL);

}  // namespace moth::cli
