// The Arduino core subset: time, pins, random numbers, the ESP object, Print/Stream/Serial and IPAddress.
#include <arpa/inet.h>

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <string>

#include "Arduino.h"
#include "arduino/device.hpp"

using moth::arduino::current_device;

unsigned long millis() { return static_cast<unsigned long>(current_device().millis()); }

unsigned long micros() { return static_cast<unsigned long>(current_device().micros()); }

void delay(unsigned long ms) { current_device().delay(static_cast<double>(ms)); }

void delayMicroseconds(unsigned int us) { current_device().delay(us / 1000.0); }

void yield() {}

namespace {

const char* mode_name(uint8_t mode) {
    switch (mode) {
        case INPUT: return "INPUT";
        case OUTPUT: return "OUTPUT";
        case INPUT_PULLUP: return "INPUT_PULLUP";
        case INPUT_PULLDOWN: return "INPUT_PULLDOWN";
        case OUTPUT_OPEN_DRAIN: return "OUTPUT_OPEN_DRAIN";
        case ANALOG: return "ANALOG";
        default: return "?";
    }
}

void log_pin(const std::string& text) {
    auto& device = current_device();
    if (device.options().log_pins) device.log(text);
}

}  // namespace

void pinMode(uint8_t pin, uint8_t mode) {
    auto& p = current_device().pins[pin];
    p.mode = mode;
    if (mode == INPUT_PULLUP) p.value = HIGH;
    if (mode == INPUT_PULLDOWN) p.value = LOW;
    log_pin("pinMode(" + std::to_string(pin) + ", " + mode_name(mode) + ")");
}

void digitalWrite(uint8_t pin, uint8_t val) {
    auto& p = current_device().pins[pin];
    const int v = val != 0 ? HIGH : LOW;
    if (p.value == v && p.mode != -1) return;  // log changes only
    p.value = v;
    log_pin("digitalWrite(" + std::to_string(pin) + ", " + (v == HIGH ? "HIGH" : "LOW") + ")");
}

int digitalRead(uint8_t pin) { return current_device().pins[pin].value; }

uint16_t analogRead(uint8_t pin) {
    auto& device = current_device();
    auto& p = device.pins[pin];
    const double full = (1 << device.analog_bits) - 1;
    if (p.analog < 0) p.analog = std::uniform_real_distribution<double>(0.3, 0.7)(device.rng());
    p.analog = std::clamp(p.analog + std::normal_distribution<double>(0.0, 0.005)(device.rng()), 0.0, 1.0);
    return static_cast<uint16_t>(p.analog * full + 0.5);
}

void analogWrite(uint8_t pin, int value) {
    current_device().pins[pin].value = value;
    log_pin("analogWrite(" + std::to_string(pin) + ", " + std::to_string(value) + ")");
}

void analogReadResolution(uint8_t bits) { current_device().analog_bits = std::clamp<int>(bits, 1, 16); }

unsigned long pulseIn(uint8_t, uint8_t, unsigned long) { return 0; }
void attachInterrupt(uint8_t pin, void (*)(), int) { log_pin("attachInterrupt(" + std::to_string(pin) + ") ignored"); }
void detachInterrupt(uint8_t) {}
void noInterrupts() {}
void interrupts() {}

long random(long howbig) {
    if (howbig <= 0) return 0;
    return std::uniform_int_distribution<long>(0, howbig - 1)(current_device().rng());
}

long random(long howsmall, long howbig) {
    if (howsmall >= howbig) return howsmall;
    return howsmall + random(howbig - howsmall);
}

void randomSeed(unsigned long seed) {
    if (seed != 0) current_device().rng().seed(seed);
}

long map(long x, long in_min, long in_max, long out_min, long out_max) {
    if (in_max == in_min) return out_min;
    return (x - in_min) * (out_max - out_min) / (in_max - in_min) + out_min;
}

uint32_t esp_random() { return static_cast<uint32_t>(current_device().rng()()); }

EspClass ESP;

void EspClass::restart() {
    current_device().log("ESP.restart(): a virtual board cannot reset; the device stops");
    throw moth::arduino::DeviceStopped{};
}
uint32_t EspClass::getFreeHeap() { return 250000; }
uint32_t EspClass::getHeapSize() { return 327680; }
uint64_t EspClass::getEfuseMac() { return 0x24'0a'c4'00'00'00ULL + current_device().index(); }
const char* EspClass::getChipModel() { return "ESP32-D0WDQ6 (Moth virtual device)"; }
uint8_t EspClass::getChipRevision() { return 1; }
uint32_t EspClass::getCpuFreqMHz() { return 240; }
const char* EspClass::getSdkVersion() { return "moth"; }
void EspClass::deepSleep(uint64_t time_us) { current_device().delay(static_cast<double>(time_us) / 1000.0); }

// ---- Print -------------------------------------------------------------------------------------------------------

size_t Print::write(const uint8_t* buffer, size_t size) {
    size_t n = 0;
    while (size-- > 0) {
        if (write(*buffer++) == 0) break;
        ++n;
    }
    return n;
}

size_t Print::write(const char* str) {
    if (str == nullptr) return 0;
    return write(reinterpret_cast<const uint8_t*>(str), strlen(str));
}

size_t Print::printf(const char* format, ...) {
    char small[128];
    va_list args;
    va_start(args, format);
    va_list copy;
    va_copy(copy, args);
    const int len = vsnprintf(small, sizeof small, format, copy);
    va_end(copy);
    if (len < 0) {
        va_end(args);
        return 0;
    }
    if (static_cast<size_t>(len) < sizeof small) {
        va_end(args);
        return write(reinterpret_cast<const uint8_t*>(small), static_cast<size_t>(len));
    }
    std::string big(static_cast<size_t>(len) + 1, '\0');
    vsnprintf(big.data(), big.size(), format, args);
    va_end(args);
    return write(reinterpret_cast<const uint8_t*>(big.data()), static_cast<size_t>(len));
}

size_t Print::print(const String& s) { return write(reinterpret_cast<const uint8_t*>(s.c_str()), s.length()); }
size_t Print::print(const char str[]) { return write(str); }
size_t Print::print(char c) { return write(static_cast<uint8_t>(c)); }
size_t Print::print(unsigned char n, int base) { return print(static_cast<unsigned long long>(n), base); }
size_t Print::print(int n, int base) { return print(static_cast<long long>(n), base); }
size_t Print::print(unsigned int n, int base) { return print(static_cast<unsigned long long>(n), base); }
size_t Print::print(long n, int base) { return print(static_cast<long long>(n), base); }
size_t Print::print(unsigned long n, int base) { return print(static_cast<unsigned long long>(n), base); }

size_t Print::print(long long n, int base) {
    if (base == 0) return write(static_cast<uint8_t>(n));
    if (base == 10 && n < 0) {
        const size_t t = print('-');
        return t + print_number(0ULL - static_cast<unsigned long long>(n), 10);
    }
    // Other bases print the two's complement, as Arduino does.
    return print_number(static_cast<unsigned long long>(n), base);
}

size_t Print::print(unsigned long long n, int base) {
    if (base == 0) return write(static_cast<uint8_t>(n));
    return print_number(n, base);
}

size_t Print::print(double n, int digits) { return print_float(n, digits); }
size_t Print::print(const Printable& p) { return p.printTo(*this); }

size_t Print::println() { return write(reinterpret_cast<const uint8_t*>("\r\n"), 2); }
size_t Print::println(const String& s) { return print(s) + println(); }
size_t Print::println(const char str[]) { return print(str) + println(); }
size_t Print::println(char c) { return print(c) + println(); }
size_t Print::println(unsigned char n, int base) { return print(n, base) + println(); }
size_t Print::println(int n, int base) { return print(n, base) + println(); }
size_t Print::println(unsigned int n, int base) { return print(n, base) + println(); }
size_t Print::println(long n, int base) { return print(n, base) + println(); }
size_t Print::println(unsigned long n, int base) { return print(n, base) + println(); }
size_t Print::println(long long n, int base) { return print(n, base) + println(); }
size_t Print::println(unsigned long long n, int base) { return print(n, base) + println(); }
size_t Print::println(double n, int digits) { return print(n, digits) + println(); }
size_t Print::println(const Printable& p) { return print(p) + println(); }

size_t Print::print_number(unsigned long long n, int base) {
    if (base < 2) base = 10;
    char buf[8 * sizeof(unsigned long long) + 1];
    char* str = &buf[sizeof(buf) - 1];
    *str = '\0';
    do {
        const auto digit = static_cast<char>(n % static_cast<unsigned>(base));
        n /= static_cast<unsigned>(base);
        *--str = static_cast<char>(digit < 10 ? digit + '0' : digit + 'A' - 10);
    } while (n != 0);
    return write(str);
}

// Arduino's printFloat: "nan", "inf", "ovf" beyond 32 bits; rounds half up at `digits` decimals.
size_t Print::print_float(double number, int digits) {
    if (std::isnan(number)) return print("nan");
    if (std::isinf(number)) return print("inf");
    if (number > 4294967040.0) return print("ovf");
    if (number < -4294967040.0) return print("ovf");
    size_t n = 0;
    if (number < 0.0) {
        n += print('-');
        number = -number;
    }
    if (digits < 0) digits = 2;
    double rounding = 0.5;
    for (int i = 0; i < digits; ++i) rounding /= 10.0;
    number += rounding;
    const auto int_part = static_cast<unsigned long>(number);
    double remainder = number - static_cast<double>(int_part);
    n += print(int_part);
    if (digits > 0) n += print('.');
    while (digits-- > 0) {
        remainder *= 10.0;
        const auto to_print = static_cast<unsigned int>(remainder);
        n += print(to_print);
        remainder -= to_print;
    }
    return n;
}

// ---- Stream ------------------------------------------------------------------------------------------------------

int Stream::timed_read() {
    const unsigned long start = millis();
    do {
        const int c = read();
        if (c >= 0) return c;
        delay(1);
    } while (millis() - start < timeout_ms_);
    return -1;
}

size_t Stream::readBytes(char* buffer, size_t length) {
    size_t count = 0;
    while (count < length) {
        const int c = timed_read();
        if (c < 0) break;
        buffer[count++] = static_cast<char>(c);
    }
    return count;
}

String Stream::readString() {
    std::string s;
    for (int c = timed_read(); c >= 0; c = timed_read()) s.push_back(static_cast<char>(c));
    return String(s);
}

String Stream::readStringUntil(char terminator) {
    std::string s;
    for (int c = timed_read(); c >= 0 && c != terminator; c = timed_read()) s.push_back(static_cast<char>(c));
    return String(s);
}

// ---- Serial ------------------------------------------------------------------------------------------------------

HardwareSerial Serial;

void HardwareSerial::begin(unsigned long, uint32_t, int8_t, int8_t) {}

void HardwareSerial::flush() { current_device().serial_flush(true); }

size_t HardwareSerial::write(uint8_t c) {
    current_device().serial_write(&c, 1);
    return 1;
}

size_t HardwareSerial::write(const uint8_t* buffer, size_t size) {
    current_device().serial_write(buffer, size);
    return size;
}

unsigned long HardwareSerial::baudRate() const { return 115200; }

// ---- IPAddress ---------------------------------------------------------------------------------------------------

IPAddress::IPAddress(uint32_t address) { memcpy(bytes_, &address, 4); }

bool IPAddress::fromString(const char* address) {
    in_addr a{};
    if (address == nullptr || inet_pton(AF_INET, address, &a) != 1) return false;
    memcpy(bytes_, &a, 4);
    return true;
}

String IPAddress::toString() const {
    char buf[16];
    snprintf(buf, sizeof buf, "%u.%u.%u.%u", bytes_[0], bytes_[1], bytes_[2], bytes_[3]);
    return String(buf);
}

IPAddress::operator uint32_t() const {
    uint32_t v = 0;
    memcpy(&v, bytes_, 4);
    return v;
}

bool IPAddress::operator==(const IPAddress& other) const { return memcmp(bytes_, other.bytes_, 4) == 0; }
