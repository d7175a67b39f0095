#include "arduino/device.hpp"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

#include "PubSubClient.h"

namespace moth::arduino {
namespace {

std::atomic<bool> g_stop{false};
std::mutex g_stop_mutex;
std::condition_variable g_stop_cv;

std::mutex g_out_mutex;

thread_local Device* t_current = nullptr;

Device& default_device() {
    static Device device(DeviceOptions{}, 0);
    return device;
}

int tick_for(unsigned count) {
    // One device: a sketch spinning in loop() wakes every 2 ms (or at once when data arrives). A fleet of N
    // wakes less often, so that 1,000 devices cost a few percent of a core: N/20 ms, at most 50 ms.
    return static_cast<int>(std::clamp(count / 20u, 2u, 50u));
}

std::string fleet_suffix(unsigned index, unsigned count) {
    int width = 4;
    for (unsigned n = count; n >= 10000; n /= 10) ++width;
    char buf[32];
    std::snprintf(buf, sizeof buf, "-%0*u", width, index + 1);
    return buf;
}

}  // namespace

Device::Device(const DeviceOptions& options, unsigned index)
    : options_(options), index_(index), start_(Clock::now()), tick_ms_(tick_for(options.count)) {
    std::uint64_t seed =
        options.seed != 0 ? options.seed : static_cast<std::uint64_t>(start_.time_since_epoch().count());
    rng_.seed(seed + index);
    if (!options_.client_id.empty()) {
        name_from(options_.client_id.c_str());
    } else {
        label_ = in_fleet() ? "device" + fleet_suffix(index_, options_.count) : "device";
    }
}

void Device::set_options(const DeviceOptions& options) {
    options_ = options;
    tick_ms_ = tick_for(options.count);
    if (options.seed != 0) rng_.seed(options.seed + index_);
    if (!options_.client_id.empty()) {
        named_ = false;
        name_from(options_.client_id.c_str());
    }
}

std::uint64_t Device::millis() const {
    return micros() / 1000;
}

std::uint64_t Device::micros() const {
    const auto now = frozen_at_.value_or(Clock::now());
    const auto real = std::chrono::duration<double, std::micro>(now - start_).count();
    return static_cast<std::uint64_t>(real * options_.speed);
}

void Device::advance(double ms) {
    start_ -=
        std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double, std::milli>(ms / options_.speed));
}

void Device::freeze() {
    frozen_at_ = Clock::now();
}

void Device::delay(double ms) {
    serial_flush(true);
    if (g_stop.load()) throw DeviceStopped{};
    if (ms <= 0) return;
    const auto real = std::chrono::duration<double, std::milli>(ms / options_.speed);
    std::unique_lock lock(g_stop_mutex);
    g_stop_cv.wait_for(lock, real, [] { return g_stop.load(); });
    if (g_stop.load()) throw DeviceStopped{};
}

void Device::idle() {
    serial_flush(true);
    if (g_stop.load()) throw DeviceStopped{};
    // Poll the sockets, unless the last wake-up was for data the sketch has not read since (it does not call
    // client.loop() at all, or not yet): then a plain tick, or the device would spin.
    const bool stale = last_idle_was_readable_ && received_ == received_at_last_idle_;
    received_at_last_idle_ = received_;
    last_idle_was_readable_ = false;
    if (!sockets_.empty() && !stale) {
        std::vector<pollfd> fds;
        fds.reserve(sockets_.size());
        for (int fd : sockets_) fds.push_back(pollfd{fd, POLLIN, 0});
        const int n = ::poll(fds.data(), fds.size(), tick_ms_);
        last_idle_was_readable_ = n > 0;
        return;
    }
    std::unique_lock lock(g_stop_mutex);
    g_stop_cv.wait_for(lock, std::chrono::milliseconds(tick_ms_), [] { return g_stop.load(); });
}

bool Device::wait_readable(int fd, int timeout_ms) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, timeout_ms) > 0;
}

std::string Device::client_id_for(const char* sketch_id) {
    std::string id = !options_.client_id.empty() ? options_.client_id : (sketch_id != nullptr ? sketch_id : "");
    if (in_fleet()) id += fleet_suffix(index_, options_.count);
    return id;
}

void Device::name_from(const char* sketch_id) {
    if (named_) return;
    named_ = true;
    label_ = client_id_for(sketch_id);
}

void Device::remap(std::string& host, std::uint16_t& port) {
    if (options_.broker_host.empty()) return;
    if (!remap_logged_ && index_ == 0) {  // once, not a thousand times for a fleet
        remap_logged_ = true;
        log("connections to " + host + ":" + std::to_string(port) + " go to " + options_.broker_host + ":" +
            std::to_string(options_.broker_port) + " (--broker)");
    }
    host = options_.broker_host;
    port = options_.broker_port;
}

void Device::serial_write(const std::uint8_t* data, std::size_t size) {
    for (std::size_t i = 0; i < size; ++i) {
        const char c = static_cast<char>(data[i]);
        if (c == '\r') continue;  // "\r\n" from println(): the terminal gets "\n"
        line_.push_back(c);
        if (c == '\n') serial_flush(false);
    }
}

void Device::serial_flush(bool partial_line) {
    if (line_.empty()) return;
    const bool complete = line_.back() == '\n';
    if (!complete && (!partial_line || in_fleet())) return;  // a fleet only prints whole, prefixed lines
    if (in_fleet()) {
        write_stdout("[" + label_ + "] " + line_);
    } else {
        write_stdout(line_);
    }
    line_.clear();
}

void Device::log(std::string_view message) {
    std::string text = "[moth] ";
    if (in_fleet() || named_) text += label_ + ": ";
    text += message;
    text += '\n';
    std::lock_guard lock(g_out_mutex);
    std::fwrite(text.data(), 1, text.size(), stderr);
}

void Device::add_socket(int fd) {
    sockets_.push_back(fd);
}

void Device::remove_socket(int fd) {
    std::erase(sockets_, fd);
}

void Device::add_mqtt(PubSubClient* client) {
    mqtt_.push_back(client);
}

void Device::remove_mqtt(PubSubClient* client) {
    std::erase(mqtt_, client);
}

void Device::disconnect_all() {
    for (PubSubClient* client : mqtt_) {
        if (client->connected()) client->disconnect();
    }
}

Device& current_device() {
    return t_current != nullptr ? *t_current : default_device();
}

void set_current_device(Device* device) {
    t_current = device;
}

void request_stop() {
    {
        std::lock_guard lock(g_stop_mutex);
        g_stop.store(true);
    }
    g_stop_cv.notify_all();
}

bool stopping() {
    return g_stop.load();
}

void write_stdout(std::string_view text) {
    std::lock_guard lock(g_out_mutex);
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
}

void flush_stdout_and_lock() {
    g_out_mutex.lock();
    std::fflush(stdout);
    std::fflush(stderr);
}

}  // namespace moth::arduino
