#pragma once
// The virtual device behind the Arduino API: one Device per simulated board, holding what a board has once
// (its clock, serial monitor, pins, WiFi state, random generator, sockets) so that a fleet of sketches can run in
// one process, each device on its own thread.
//
// Which device an Arduino free function (millis(), Serial.print(), random(), ...) acts on is a thread-local
// "current device": the runner sets it on each device's thread, and on the main thread while that device's copy
// of the sketch is loaded, so the sketch's global objects (EspMQTTClient, DHT, WiFiClient) remember their device
// when they are constructed. A program linked with one sketch (moth_add_sketch) uses a default device.
//
// Thread affinity: a Device is used by its own thread only, except request_stop()/stopping() (any thread) and the
// shared standard output, which is locked per line.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

class PubSubClient;

namespace moth::arduino {

// What drives the simulated DHT sensors (`--sensor key=value`).
struct SensorOptions {
    double temperature = 22.0;    // mean, °C
    double humidity = 45.0;       // mean, %RH
    double noise = 0.3;           // standard deviation of the per-read noise, °C (humidity: 3x in %RH)
    double drift = 1.0;           // standard deviation of the slow drift, °C (humidity: 3x in %RH)
    double drift_period_s = 600;  // time constant of the drift (simulated seconds)
    double failure_rate = 0.0;    // probability that a read fails (NaN)
    std::string csv;              // replay file: seconds,temperature,humidity per line (empty/nan field: failed read)
};

struct DeviceOptions {
    std::string broker_host;  // non-empty: every TCP connection of the sketch goes to broker_host:broker_port
    std::uint16_t broker_port = 1883;
    std::string client_id;  // non-empty: replaces the sketch's MQTT client id
    unsigned count = 1;     // devices in the fleet; ids get "-0001", "-0002", ... when count > 1
    double speed = 1.0;     // simulated time runs this many times faster than real time
    double duration_s = 0;  // > 0: stop after this many real seconds
    SensorOptions sensor;
    std::uint64_t seed = 0;           // random generators: seed + device index (0: from the clock)
    bool disconnect_on_exit = false;  // stop sends DISCONNECT (a clean exit) instead of cutting power
    bool log_pins = true;             // pinMode/digitalWrite/analogWrite lines on standard error
    unsigned stack_kib = 0;           // per-device thread stack (0: default)
};

// Parses moth device's options (everything but the sketch path and the build options). Returns an error text, or
// an empty string on success. `positional` receives the words that are not options.
[[nodiscard]] std::string parse_device_options(const std::vector<std::string>& args, DeviceOptions& options,
                                               std::vector<std::string>& positional);
[[nodiscard]] std::string device_options_help();

// Thrown out of delay() and the loop runner when a clean stop (--disconnect-on-exit) is under way.
struct DeviceStopped {};

class Device {
public:
    using Clock = std::chrono::steady_clock;

    Device(const DeviceOptions& options, unsigned index);
    Device(const Device&) = delete;
    Device& operator=(const Device&) = delete;

    [[nodiscard]] const DeviceOptions& options() const { return options_; }
    // For the default device of a linked sketch: options arrive after its globals were constructed.
    void set_options(const DeviceOptions& options);
    [[nodiscard]] unsigned index() const { return index_; }
    [[nodiscard]] bool in_fleet() const { return options_.count > 1; }

    // Simulated time since the device started, in milliseconds and microseconds.
    [[nodiscard]] std::uint64_t millis() const;
    [[nodiscard]] std::uint64_t micros() const;
    // Moves the device's clock forward by `ms` of simulated time (unit tests: no waiting on the real clock).
    void advance(double ms);
    // Stops the clock where it is: from now on only advance() moves it (unit tests that count milliseconds, so a
    // slow or loaded machine cannot move time between two calls).
    void freeze();
    // Sleeps `ms` of simulated time. Throws DeviceStopped when a clean stop is requested.
    void delay(double ms);
    // Between two loop() calls: waits until a socket of this device is readable or one tick has passed.
    void idle();
    // Real-time wait for `fd` to become readable, at most timeout_ms; true when readable.
    bool wait_readable(int fd, int timeout_ms);
    [[nodiscard]] int tick_ms() const { return tick_ms_; }

    // MQTT client ids: the id the device connects with for the sketch's `sketch_id`.
    [[nodiscard]] std::string client_id_for(const char* sketch_id);
    // The serial monitor's prefix: fixed by the first client id the sketch names (or --client-id).
    void name_from(const char* sketch_id);
    [[nodiscard]] const std::string& label() const { return label_; }

    // Where the sketch's TCP connections go.
    void remap(std::string& host, std::uint16_t& port);

    // Serial monitor
    void serial_write(const std::uint8_t* data, std::size_t size);
    void serial_flush(bool partial_line);
    // Moth's own messages about this device, on standard error.
    void log(std::string_view message);

    // Sockets (for idle()) and MQTT clients (for a clean stop).
    void add_socket(int fd);
    void remove_socket(int fd);
    void note_received() { ++received_; }
    void add_mqtt(PubSubClient* client);
    void remove_mqtt(PubSubClient* client);
    void disconnect_all();

    // WiFi
    int wifi_status = 6;  // WL_DISCONNECTED
    int wifi_mode = 0;
    std::string hostname;
    std::string ssid;

    // Pins
    struct Pin {
        int mode = -1;
        int value = 0;
        double analog = -1;
    };
    std::map<int, Pin> pins;
    int analog_bits = 12;

    std::mt19937_64& rng() { return rng_; }

    // The sketch's onConnectionEstablished(), once the runner has looked it up (EspMQTTClient's default callback).
    void (*on_connection_established)() = nullptr;

private:
    DeviceOptions options_;
    unsigned index_;
    Clock::time_point start_;
    std::optional<Clock::time_point> frozen_at_;  // set by freeze(): the clock reads this instead of now()
    std::string label_;
    bool named_ = false;
    bool remap_logged_ = false;
    std::string line_;
    std::vector<int> sockets_;
    std::vector<PubSubClient*> mqtt_;
    std::mt19937_64 rng_;
    int tick_ms_;
    std::uint64_t received_ = 0;
    std::uint64_t received_at_last_idle_ = 0;
    bool last_idle_was_readable_ = false;
};

// The device the calling thread acts for (a default single device if none was set).
[[nodiscard]] Device& current_device();
void set_current_device(Device* device);

// Process-wide stop: set by the runner on SIGINT/SIGTERM or --duration with --disconnect-on-exit.
void request_stop();
[[nodiscard]] bool stopping();

// Standard output, shared by all devices: whole lines, never interleaved.
void write_stdout(std::string_view text);
void flush_stdout_and_lock();  // before _exit(): the lock is never released

}  // namespace moth::arduino
