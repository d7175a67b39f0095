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

}  // namespace moth::cli
