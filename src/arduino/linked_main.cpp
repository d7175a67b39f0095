// main() of a program built from one sketch with moth_add_sketch(): the same device options as `moth device`,
// one device (a fleet needs per-device copies of the sketch's globals, which only `moth device` makes).
#include <cstdio>
#include <string>
#include <vector>

#include "Arduino.h"
#include "arduino/device.hpp"
#include "arduino/runner.hpp"

// EspMQTTClient's callback; a sketch that does not define it gets this empty one.
__attribute__((weak)) void onConnectionEstablished() {}

int main(int argc, char** argv) {
    using namespace moth::arduino;
    DeviceOptions options;
    std::vector<std::string> positional;
    const std::vector<std::string> args(argv + 1, argv + argc);
    for (const auto& a : args) {
        if (a == "--help" || a == "-h") {
            std::printf("Usage: %s [options]\n\n%s", argv[0], device_options_help().c_str());
            return 0;
        }
    }
    if (auto err = parse_device_options(args, options, positional); !err.empty()) {
        std::fprintf(stderr, "%s: %s\n", argv[0], err.c_str());
        return 1;
    }
    if (!positional.empty()) {
        std::fprintf(stderr, "%s: unexpected argument '%s'\n", argv[0], positional.front().c_str());
        return 1;
    }
    if (options.count != 1) {
        std::fprintf(stderr, "%s: a program linked with its sketch runs one device; use `moth device` for a fleet\n",
                     argv[0]);
        return 1;
    }
    Device& device = current_device();  // the sketch's globals are already bound to it
    device.set_options(options);
    return run_devices(
        options, [](unsigned) { return SketchEntry{&setup, &loop, &onConnectionEstablished}; }, &device);
}
