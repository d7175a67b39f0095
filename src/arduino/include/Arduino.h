// Arduino core subset for Moth's virtual device: what ESP32 sketches built on EspMQTTClient, PubSubClient and the
// Adafruit DHT library use. Sketches compile against these headers unchanged; the implementation lives in
// src/arduino (libmoth_arduino) and runs each device's setup()/loop() on its own thread, with its own clock,
// serial monitor, pins and random generator (see src/arduino/device.hpp).
#ifndef MOTH_ARDUINO_H
#define MOTH_ARDUINO_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <functional>

#include "HardwareSerial.h"
#include "IPAddress.h"
#include "Print.h"
#include "Stream.h"
#include "WString.h"

#ifndef ARDUINO
#define ARDUINO 10819
#endif
#ifndef ESP32
#define ESP32 1
#endif
#ifndef ARDUINO_ARCH_ESP32
#define ARDUINO_ARCH_ESP32 1
#endif
#define MOTH_VIRTUAL_DEVICE 1

#define HIGH 0x1
#define LOW 0x0

#define INPUT 0x01
#define OUTPUT 0x03
#define PULLUP 0x04
#define INPUT_PULLUP 0x05
#define PULLDOWN 0x08
#define INPUT_PULLDOWN 0x09
#define OPEN_DRAIN 0x10
#define OUTPUT_OPEN_DRAIN 0x13
#define ANALOG 0xC0

#define LED_BUILTIN 2

#define PI 3.1415926535897932384626433832795
#define HALF_PI 1.5707963267948966192313216916398
#define TWO_PI 6.283185307179586476925286766559
#define DEG_TO_RAD 0.017453292519943295769236907684886
#define RAD_TO_DEG 57.295779513082320876798154814105

#define LSBFIRST 0
#define MSBFIRST 1

#define CHANGE 0x03
#define FALLING 0x02
#define RISING 0x01

typedef bool boolean;
typedef uint8_t byte;
typedef uint16_t word;

#define constrain(amt, low, high) ((amt) < (low) ? (low) : ((amt) > (high) ? (high) : (amt)))
#define radians(deg) ((deg) * DEG_TO_RAD)
#define degrees(rad) ((rad) * RAD_TO_DEG)
#define sq(x) ((x) * (x))
#define lowByte(w) ((uint8_t)((w) & 0xff))
#define highByte(w) ((uint8_t)((w) >> 8))
#define bitRead(value, bit) (((value) >> (bit)) & 0x01)
#define bitSet(value, bit) ((value) |= (1UL << (bit)))
#define bitClear(value, bit) ((value) &= ~(1UL << (bit)))
#define bitWrite(value, bit, bitvalue) ((bitvalue) ? bitSet(value, bit) : bitClear(value, bit))
#define bit(b) (1UL << (b))

using std::max;
using std::min;

// The sketch's entry points.
void setup();
void loop();

// Time: milliseconds since the device started, scaled by `moth device --speed`.
unsigned long millis();
unsigned long micros();
void delay(unsigned long ms);
void delayMicroseconds(unsigned int us);
void yield();

// Pins: simulated and logged on standard error. digitalRead() returns what was last written (HIGH for
// INPUT_PULLUP), analogRead() a slowly wandering 12-bit value.
void pinMode(uint8_t pin, uint8_t mode);
void digitalWrite(uint8_t pin, uint8_t val);
int digitalRead(uint8_t pin);
uint16_t analogRead(uint8_t pin);
void analogWrite(uint8_t pin, int value);
void analogReadResolution(uint8_t bits);
unsigned long pulseIn(uint8_t pin, uint8_t state, unsigned long timeout = 1000000UL);
void attachInterrupt(uint8_t pin, void (*handler)(), int mode);
void detachInterrupt(uint8_t pin);
#define digitalPinToInterrupt(p) (p)
void noInterrupts();
void interrupts();

// Random numbers: one generator per device, seeded by `moth device --seed` and the device's index.
long random(long howbig);
long random(long howsmall, long howbig);
void randomSeed(unsigned long seed);
long map(long x, long in_min, long in_max, long out_min, long out_max);

uint32_t esp_random();

// The ESP object: what sketches ask of the chip.
class EspClass {
public:
    void restart();  // logged; the device stops (a Linux process cannot reset a board)
    uint32_t getFreeHeap();
    uint32_t getHeapSize();
    uint64_t getEfuseMac();
    const char* getChipModel();
    uint8_t getChipRevision();
    uint32_t getCpuFreqMHz();
    const char* getSdkVersion();
    void deepSleep(uint64_t time_us);
};
extern EspClass ESP;

#endif
