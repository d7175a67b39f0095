// The simulated DHT sensor: resolution, the 2 s minimum interval, failed reads, CSV replay.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include "DHT.h"
#include "arduino/device.hpp"
#include "arduino/dht_simulation.hpp"

namespace {

using moth::arduino::Device;
using moth::arduino::DeviceOptions;
using moth::arduino::DhtSimulation;
using moth::arduino::SensorOptions;

TEST(DhtSimulation, Dht11ReadsWholeDegreesAndPercents) {
    SensorOptions o;
    o.temperature = 24.3;
    o.humidity = 40.6;
    o.noise = 0.8;
    DhtSimulation sim(o, DHT11, 1);
    std::set<double> temperatures;
    for (int i = 0; i < 200; ++i) {
        const auto r = sim.read(i * 2.0);
        ASSERT_TRUE(r.ok);
        EXPECT_EQ(r.temperature, std::round(r.temperature));
        EXPECT_EQ(r.humidity, std::round(r.humidity));
        temperatures.insert(r.temperature);
    }
    EXPECT_GT(temperatures.size(), 1u);  // noise moves it
}

TEST(DhtSimulation, Dht22ReadsTenths) {
    SensorOptions o;
    o.noise = 0.5;
    DhtSimulation sim(o, DHT22, 2);
    bool saw_fraction = false;
    for (int i = 0; i < 100; ++i) {
        const auto r = sim.read(i * 2.0);
        EXPECT_NEAR(r.temperature * 10, std::round(r.temperature * 10), 1e-9);
        saw_fraction = saw_fraction || r.temperature != std::round(r.temperature);
    }
    EXPECT_TRUE(saw_fraction);
}

TEST(DhtSimulation, StaysAroundTheMeansWithoutNoiseOrDrift) {
    SensorOptions o;
    o.temperature = 24;
    o.humidity = 40;
    o.noise = 0;
    o.drift = 0;
    DhtSimulation sim(o, DHT11, 3);
    for (int i = 0; i < 10; ++i) {
        const auto r = sim.read(i * 5.0);
        EXPECT_EQ(r.temperature, 24);
        EXPECT_EQ(r.humidity, 40);
    }
}

TEST(DhtSimulation, DriftIsSlowAndBounded) {
    SensorOptions o;
    o.noise = 0;
    o.drift = 1.0;
    DhtSimulation sim(o, DHT22, 4);
    double previous = sim.read(0).temperature;
    double lo = previous;
    double hi = previous;
    for (int i = 1; i < 2000; ++i) {
        const double t = sim.read(i * 2.0).temperature;
        EXPECT_LE(std::abs(t - previous), 0.6);  // 2 s of a 600 s time constant: small steps
        lo = std::min(lo, t);
        hi = std::max(hi, t);
        previous = t;
    }
    EXPECT_GT(hi - lo, 0.5);  // it does wander
    EXPECT_LT(hi - lo, 8.0);  // around the mean (22 °C), not away from it
    EXPECT_GT(lo, 22 - 5.0);
    EXPECT_LT(hi, 22 + 5.0);
}

TEST(DhtSimulation, FailureRateGivesFailedReads) {
    SensorOptions o;
    o.failure_rate = 0.25;
    DhtSimulation sim(o, DHT11, 5);
    int failed = 0;
    for (int i = 0; i < 4000; ++i) failed += sim.read(i * 2.0).ok ? 0 : 1;
    EXPECT_GT(failed, 800);
    EXPECT_LT(failed, 1200);
}

TEST(DhtSimulation, CsvIsReplayedByTimeAndRepeats) {
    const auto rows =
        DhtSimulation::parse_csv("seconds,temperature,humidity\n0,20.4,50\n10,21,nan\n# comment\n20,22,55\n");
    ASSERT_EQ(rows.size(), 3u);
    EXPECT_FALSE(rows[1].humidity.has_value());

    const auto path = std::filesystem::temp_directory_path() / ("moth-dht-" + std::to_string(::getpid()) + ".csv");
    std::ofstream(path) << "seconds,temperature,humidity\n0,20.4,50\n10,21,nan\n20,22.25,55\n";
    SensorOptions o;
    o.csv = path.string();
    DhtSimulation sim(o, DHT11, 6);
    DhtSimulation sim22(o, DHT22, 6);
    std::filesystem::remove(path);
    EXPECT_EQ(sim.read(0).temperature, 20);  // DHT11 resolution applies to replayed values
    EXPECT_EQ(sim22.read(0).temperature, 20.4);
    EXPECT_EQ(sim.read(9.9).humidity, 50);
    EXPECT_FALSE(sim.read(10).ok);  // an empty/nan field is a failed read
    EXPECT_EQ(sim22.read(25).temperature, 22.3);
    EXPECT_EQ(sim.read(30).temperature, 20);  // span 30 s (last row + last step): starts over
}

class DhtDevice : public testing::Test {
protected:
    void SetUp() override {
        options_.sensor.noise = 2.0;
        options_.sensor.drift = 2.0;
        options_.seed = 9;
        device_ = std::make_unique<Device>(options_, 0);
        device_->freeze();  // only advance() moves the clock
        moth::arduino::set_current_device(device_.get());
    }
    void TearDown() override { moth::arduino::set_current_device(nullptr); }
    DeviceOptions options_;
    std::unique_ptr<Device> device_;
};

TEST_F(DhtDevice, ReadsWithinTwoSecondsReturnTheCachedValues) {
    DHT dht(13, DHT22);
    dht.begin();
    const float t0 = dht.readTemperature();
    const float h0 = dht.readHumidity();
    ASSERT_FALSE(std::isnan(t0));
    for (int i = 0; i < 19; ++i) {
        device_->advance(100);  // 1.9 s in all: still the first reading
        EXPECT_EQ(dht.readTemperature(), t0);
        EXPECT_EQ(dht.readHumidity(), h0);
    }
    // From 2 s on, new readings (with this much noise, 20 of them cannot all equal the first).
    bool changed = false;
    for (int i = 0; i < 20 && !changed; ++i) {
        device_->advance(2000);
        changed = dht.readTemperature() != t0;
    }
    EXPECT_TRUE(changed);
    EXPECT_FLOAT_EQ(dht.readTemperature(true), dht.convertCtoF(dht.readTemperature()));
}

TEST_F(DhtDevice, FailedReadIsNanUntilTheNextRead) {
    options_.sensor.failure_rate = 1.0;
    device_->set_options(options_);
    DHT dht(13, DHT11);
    dht.begin();
    EXPECT_TRUE(std::isnan(dht.readTemperature()));
    EXPECT_TRUE(std::isnan(dht.readHumidity()));
    EXPECT_FALSE(dht.read());
}

TEST(DhtHeatIndex, MatchesTheLibraryFormula) {
    DHT dht(13, DHT11);
    EXPECT_NEAR(dht.computeHeatIndex(30.0f, 70.0f, false), 35.1f, 0.2f);    // hot and humid: Rothfusz
    EXPECT_NEAR(dht.computeHeatIndex(20.0f, 50.0f, false), 19.36f, 0.02f);  // mild: Steadman, 66.85 °F
    EXPECT_NEAR(dht.convertCtoF(24.0f), 75.2f, 1e-4f);
    EXPECT_NEAR(dht.convertFtoC(75.2f), 24.0f, 1e-3f);
}

}  // namespace
