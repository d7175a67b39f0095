#pragma once
// Runs devices: each on its own thread, setup() once then loop() forever, until SIGINT/SIGTERM or --duration.
//
// Stopping is a power cut by default: the process ends without sending DISCONNECT, so the broker publishes each
// device's last will, as it would for a board that lost power. With --disconnect-on-exit every device leaves
// cleanly (DISCONNECT, no will) at its next delay() or loop() boundary.
#include <functional>

#include "arduino/device.hpp"

namespace moth::arduino {

struct SketchEntry {
    void (*setup)() = nullptr;
    void (*loop)() = nullptr;
    void (*on_connection_established)() = nullptr;
};

// `load(index)` is called on the main thread with that device current, so that the sketch's global objects
// bind to it; it returns the entry points of that device's copy of the sketch, or throws std::runtime_error.
// `single` (optional) is the device to use when options.count == 1 (a linked program's default device).
// Returns the process exit code; on a stop it does not return: it flushes the output and calls _exit(0).
[[nodiscard]] int run_devices(const DeviceOptions& options, const std::function<SketchEntry(unsigned)>& load,
                              Device* single = nullptr);

}  // namespace moth::arduino
