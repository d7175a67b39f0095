// Adafruit DHT sensor library API, simulated: readings drift slowly and carry noise around configurable means
// (`moth device --sensor temperature=24 --sensor humidity=40 ...`), or are replayed from a CSV file. DHT11 reads
// in steps of 1 °C / 1 %RH, DHT22/DHT21 in steps of 0.1. Like the real library, a read less than 2 s (of
// millis()) after the previous one returns the cached values, and a failed read gives NaN.
#ifndef MOTH_ARDUINO_DHT_H
#define MOTH_ARDUINO_DHT_H

#include "Arduino.h"

#define DHT11 11
#define DHT12 12
#define DHT22 22
#define DHT21 21
#define AM2301 21

#define MIN_INTERVAL 2000

class DHT {
public:
    DHT(uint8_t pin, uint8_t type, uint8_t count = 6);
    ~DHT();
    DHT(const DHT&) = delete;
    DHT& operator=(const DHT&) = delete;
    void begin(uint8_t usec = 55);
    float readTemperature(bool S = false, bool force = false);
    float convertCtoF(float c);
    float convertFtoC(float f);
    float computeHeatIndex(bool isFahrenheit = true);
    float computeHeatIndex(float temperature, float percentHumidity, bool isFahrenheit = true);
    float readHumidity(bool force = false);
    bool read(bool force = false);

private:
    void* device_;
    void* sim_;  // moth::arduino::DhtSimulation
    uint8_t pin_;
    uint8_t type_;
    unsigned long last_read_time_ = 0;
    bool last_result_ = false;
    float temperature_ = NAN;
    float humidity_ = NAN;
};

#endif
