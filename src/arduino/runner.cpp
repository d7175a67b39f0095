#include "arduino/runner.hpp"

#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace moth::arduino {
namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr unsigned kDefaultStackKib = 1024;  // ASan's redzones make frames bigger
#else
constexpr unsigned kDefaultStackKib = 256;  // an ESP32 loop task has 8 KiB; glibc's resolver wants more
#endif

struct DeviceThread {
    Device* device = nullptr;
    SketchEntry entry;
    std::atomic<bool>* finished = nullptr;
    std::atomic<unsigned>* finished_count = nullptr;
};

void* device_main(void* arg) {
    auto* t = static_cast<DeviceThread*>(arg);
    Device& device = *t->device;
    set_current_device(&device);
    try {
        t->entry.setup();
        for (;;) {
            t->entry.loop();
            device.idle();
        }
    } catch (const DeviceStopped&) {
    } catch (const std::exception& e) {
        device.log(std::string("the sketch stopped: ") + e.what());
    } catch (...) {
        device.log("the sketch stopped: unknown exception");
    }
    if (stopping() && device.options().disconnect_on_exit) device.disconnect_all();
    device.serial_flush(true);
    t->finished->store(true);
    t->finished_count->fetch_add(1);
    return nullptr;
}

void raise_fd_limit(unsigned count) {
    rlimit lim{};
    if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return;
    if (lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &lim);
    }
    if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < count * 2ULL + 64) {
        std::fprintf(stderr, "[moth] warning: %u devices need about %u file descriptors; the limit is %llu\n", count,
                     count * 2 + 64, static_cast<unsigned long long>(lim.rlim_cur));
    }
}

[[noreturn]] void finish(int code) {
    flush_stdout_and_lock();
    _exit(code);
}

}  // namespace

int run_devices(const DeviceOptions& options, const std::function<SketchEntry(unsigned)>& load, Device* single) {
    raise_fd_limit(options.count);

    // SIGINT/SIGTERM are taken by this thread with sigtimedwait; device threads inherit the mask.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    const auto start = std::chrono::steady_clock::now();
    std::vector<std::unique_ptr<Device>> owned;
    std::vector<std::unique_ptr<DeviceThread>> threads;
    std::vector<std::unique_ptr<std::atomic<bool>>> finished;
    std::atomic<unsigned> finished_count{0};
    std::vector<pthread_t> handles;

    pthread_attr_t attr;
    pthread_attr_init(&attr);
    const unsigned stack_kib = options.stack_kib != 0 ? options.stack_kib : kDefaultStackKib;
    pthread_attr_setstacksize(&attr, static_cast<size_t>(stack_kib) * 1024);

    unsigned started = 0;
    for (unsigned i = 0; i < options.count; ++i) {
        Device* device = nullptr;
        if (options.count == 1 && single != nullptr) {
            device = single;
        } else {
            owned.push_back(std::make_unique<Device>(options, i));
            device = owned.back().get();
        }
        SketchEntry entry;
        set_current_device(device);
        try {
            entry = load(i);
        } catch (const std::exception& e) {
            set_current_device(nullptr);
            std::fprintf(stderr, "moth device: %s\n", e.what());
            if (started == 0) return 1;
            std::fprintf(stderr, "moth device: running the %u devices loaded so far\n", started);
            break;
        }
        set_current_device(nullptr);
        device->on_connection_established = entry.on_connection_established;

        finished.push_back(std::make_unique<std::atomic<bool>>(false));
        auto t = std::make_unique<DeviceThread>();
        t->device = device;
        t->entry = entry;
        t->finished = finished.back().get();
        t->finished_count = &finished_count;
        pthread_t handle{};
        if (const int rc = pthread_create(&handle, &attr, device_main, t.get()); rc != 0) {
            std::fprintf(stderr, "moth device: cannot start device %u's thread: %s\n", i + 1, std::strerror(rc));
            finished.pop_back();
            break;
        }
        threads.push_back(std::move(t));
        handles.push_back(handle);
        ++started;
    }
    pthread_attr_destroy(&attr);
    if (started == 0) return 1;
    if (options.count > 1) {
        std::fprintf(stderr, "[moth] %u devices running\n", started);
    }

    // Wait for a stop signal, the end of --duration, or every device having stopped by itself.
    for (;;) {
        int wait_ms = 200;
        if (options.duration_s > 0) {
            const double left_ms =
                options.duration_s * 1000 -
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
            if (left_ms <= 0) break;
            wait_ms = static_cast<int>(std::min(left_ms, 200.0)) + 1;
        }
        if (finished_count.load() == started) finish(0);
        timespec ts{wait_ms / 1000, static_cast<long>(wait_ms % 1000) * 1000000L};
        const int sig = sigtimedwait(&stop_signals, nullptr, &ts);
        if (sig == SIGINT || sig == SIGTERM) break;
    }

    if (options.disconnect_on_exit) {
        request_stop();
        // Each device sends DISCONNECT at its next delay() or loop() boundary; a device blocked in a connect
        // attempt is not waited for longer than a few seconds.
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (finished_count.load() < started && std::chrono::steady_clock::now() < deadline) {
            timespec ts{0, 10'000'000};
            sigtimedwait(&stop_signals, nullptr, &ts);  // a second Ctrl-C does not abort the clean stop
        }
    }
    finish(0);
}

}  // namespace moth::arduino
