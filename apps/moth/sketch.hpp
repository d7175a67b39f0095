#pragma once
// What `moth device` does to a sketch before compiling it; pure functions, unit tested (test/unit/cli).
#include <cstdint>
#include <string>
#include <string_view>

namespace moth::cli {

// Arduino's sketch preprocessing, the part sketches rely on: prototypes for the functions a sketch defines,
// inserted before the first definition (so a callback may be defined after the code that names it). Functions
// with default arguments get none (a prototype would repeat the default). Returns the text to compile, with
// #line directives pointing back at `path`.
[[nodiscard]] std::string preprocess_sketch(std::string_view text, const std::string& path);

// FNV-1a, for cache keys.
[[nodiscard]] std::uint64_t fnv1a(std::string_view data, std::uint64_t h = 14695981039346656037ULL);

}  // namespace moth::cli
