#pragma once
// The simulated DHT sensor: a mean, a slow drift (an Ornstein-Uhlenbeck process with the configured standard
// deviation and time constant) and per-read Gaussian noise; or values replayed from a CSV file. Time is the
// device's simulated time in seconds. Pure: no clock or globals, so it is unit tested directly.
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "arduino/device.hpp"

namespace moth::arduino {

struct DhtReading {
    bool ok = false;
    double temperature = 0;  // °C
    double humidity = 0;     // %RH
};

class DhtSimulation {
public:
    // `type` is 11 (DHT11: 1 °C / 1 %RH steps) or 12, 21, 22 (0.1 steps). Throws std::runtime_error when the CSV
    // file cannot be read or has no valid row.
    DhtSimulation(const SensorOptions& options, int type, std::uint64_t seed);

    [[nodiscard]] DhtReading read(double t_s);
    // Rounds to the sensor's resolution.
    [[nodiscard]] static double quantize(double value, int type);

    struct Row {
        double t_s;
        std::optional<double> temperature;
        std::optional<double> humidity;
    };
    // Parses "seconds,temperature,humidity" lines; a first line that is not numeric is a header; '#' comments.
    [[nodiscard]] static std::vector<Row> parse_csv(const std::string& text);

private:
    SensorOptions options_;
    int type_;
    std::mt19937_64 rng_;
    std::vector<Row> rows_;
    double last_t_s_ = -1;
    double drift_t_ = 0;  // drift state, in units of the configured standard deviation
    double drift_h_ = 0;
};

}  // namespace moth::arduino
