// The DHT library's API over DhtSimulation.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "DHT.h"
#include "arduino/device.hpp"
#include "arduino/dht_simulation.hpp"

namespace moth::arduino {

DhtSimulation::DhtSimulation(const SensorOptions& options, int type, std::uint64_t seed)
    : options_(options), type_(type), rng_(seed) {
    if (!options_.csv.empty()) {
        std::ifstream in(options_.csv);
        if (!in) throw std::runtime_error("cannot read sensor CSV file " + options_.csv);
        std::stringstream text;
        text << in.rdbuf();
        rows_ = parse_csv(text.str());
        if (rows_.empty()) throw std::runtime_error("no readings in sensor CSV file " + options_.csv);
    }
    // Start the drift somewhere in its stationary distribution, so devices of a fleet differ from the start.
    std::normal_distribution<double> normal(0.0, 1.0);
    drift_t_ = normal(rng_);
    drift_h_ = normal(rng_);
}

double DhtSimulation::quantize(double value, int type) {
    if (type == 11) return std::round(value);
    return std::round(value * 10.0) / 10.0;
}

std::vector<DhtSimulation::Row> DhtSimulation::parse_csv(const std::string& text) {
    std::vector<Row> rows;
    std::istringstream in(text);
    std::string line;
    const auto field = [](const std::string& s) -> std::optional<double> {
        std::size_t b = s.find_first_not_of(" \t\r");
        if (b == std::string::npos) return std::nullopt;
        const std::string v = s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
        char* end = nullptr;
        const double d = std::strtod(v.c_str(), &end);
        if (end == v.c_str() || *end != '\0' || std::isnan(d)) return std::nullopt;
        return d;
    };
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::vector<std::string> parts;
        std::stringstream ss(line);
        for (std::string part; std::getline(ss, part, ',');) parts.push_back(part);
        if (parts.size() < 3) continue;
        const auto t = field(parts[0]);
        if (!t) continue;  // header or malformed
        rows.push_back(Row{*t, field(parts[1]), field(parts[2])});
    }
    std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.t_s < b.t_s; });
    return rows;
}

DhtReading DhtSimulation::read(double t_s) {
    std::uniform_real_distribution<double> uniform(0.0, 1.0);
    std::normal_distribution<double> normal(0.0, 1.0);
    const bool fails = options_.failure_rate > 0 && uniform(rng_) < options_.failure_rate;

    double temperature = 0;
    double humidity = 0;
    if (!rows_.empty()) {
        // The row in force at t: the last one at or before it; after the last row the file starts over.
        const double span = rows_.back().t_s + (rows_.size() > 1 ? rows_.back().t_s - rows_[rows_.size() - 2].t_s : 1.0);
        const double t = span > 0 ? std::fmod(std::max(t_s, 0.0), span) : 0.0;
        const Row* row = &rows_.front();
        for (const Row& r : rows_) {
            if (r.t_s <= t) row = &r;
        }
        if (fails || !row->temperature || !row->humidity) return {};
        temperature = *row->temperature;
        humidity = *row->humidity;
    } else {
        // Ornstein-Uhlenbeck step over the time since the last read: exact discretisation.
        if (last_t_s_ >= 0 && t_s > last_t_s_ && options_.drift_period_s > 0) {
            const double a = std::exp(-(t_s - last_t_s_) / options_.drift_period_s);
            const double s = std::sqrt(1 - a * a);
            drift_t_ = a * drift_t_ + s * normal(rng_);
            drift_h_ = a * drift_h_ + s * normal(rng_);
        }
        last_t_s_ = t_s;
        if (fails) return {};
        temperature = options_.temperature + options_.drift * drift_t_ + options_.noise * normal(rng_);
        humidity = options_.humidity + 3 * options_.drift * drift_h_ + 3 * options_.noise * normal(rng_);
    }
    humidity = std::clamp(humidity, 0.0, 100.0);
    return DhtReading{true, quantize(temperature, type_), quantize(humidity, type_)};
}

}  // namespace moth::arduino

using moth::arduino::current_device;
using moth::arduino::Device;
using moth::arduino::DhtSimulation;

DHT::DHT(uint8_t pin, uint8_t type, uint8_t) : device_(&current_device()), sim_(nullptr), pin_(pin), type_(type) {}

DHT::~DHT() { delete static_cast<DhtSimulation*>(sim_); }

void DHT::begin(uint8_t) {
    auto& device = *static_cast<Device*>(device_);
    if (sim_ == nullptr) {
        try {
            sim_ = new DhtSimulation(device.options().sensor, type_, device.rng()() ^ (pin_ * 0x9E3779B97F4A7C15ULL));
        } catch (const std::exception& e) {
            device.log(std::string("DHT: ") + e.what() + "; every read fails");
        }
    }
    // Like the library: the first read() happens at once.
    last_read_time_ = millis() - MIN_INTERVAL;
}

bool DHT::read(bool force) {
    const unsigned long now = millis();
    if (!force && (now - last_read_time_) < MIN_INTERVAL) return last_result_;  // too soon: the cached result
    last_read_time_ = now;
    auto* sim = static_cast<DhtSimulation*>(sim_);
    const auto reading = sim != nullptr ? sim->read(static_cast<double>(now) / 1000.0) : moth::arduino::DhtReading{};
    last_result_ = reading.ok;
    temperature_ = reading.ok ? static_cast<float>(reading.temperature) : NAN;
    humidity_ = reading.ok ? static_cast<float>(reading.humidity) : NAN;
    return last_result_;
}

float DHT::readTemperature(bool S, bool force) {
    if (!read(force)) return NAN;
    return S ? convertCtoF(temperature_) : temperature_;
}

float DHT::readHumidity(bool force) {
    if (!read(force)) return NAN;
    return humidity_;
}

float DHT::convertCtoF(float c) { return c * 1.8f + 32; }

float DHT::convertFtoC(float f) { return (f - 32) * 0.55555f; }

float DHT::computeHeatIndex(bool isFahrenheit) {
    return computeHeatIndex(readTemperature(isFahrenheit), readHumidity(), isFahrenheit);
}

// The library's formula (Rothfusz regression with Steadman's simple formula below 80 °F, and its adjustments).
float DHT::computeHeatIndex(float temperature, float percentHumidity, bool isFahrenheit) {
    float hi;
    if (!isFahrenheit) temperature = convertCtoF(temperature);
    hi = 0.5f * (temperature + 61.0f + ((temperature - 68.0f) * 1.2f) + (percentHumidity * 0.094f));
    if (hi > 79) {
        hi = -42.379f + 2.04901523f * temperature + 10.14333127f * percentHumidity +
             -0.22475541f * temperature * percentHumidity + -0.00683783f * std::pow(temperature, 2.0f) +
             -0.05481717f * std::pow(percentHumidity, 2.0f) +
             0.00122874f * std::pow(temperature, 2.0f) * percentHumidity +
             0.00085282f * temperature * std::pow(percentHumidity, 2.0f) +
             -0.00000199f * std::pow(temperature, 2.0f) * std::pow(percentHumidity, 2.0f);
        if ((percentHumidity < 13) && (temperature >= 80.0f) && (temperature <= 112.0f)) {
            hi -= ((13.0f - percentHumidity) * 0.25f) * std::sqrt((17.0f - std::abs(temperature - 95.0f)) * 0.05882f);
        } else if ((percentHumidity > 85.0f) && (temperature >= 80.0f) && (temperature <= 87.0f)) {
            hi += ((percentHumidity - 85.0f) * 0.1f) * ((87.0f - temperature) * 0.2f);
        }
    }
    return isFahrenheit ? hi : convertFtoC(hi);
}
