// IPv4 address as Arduino's IPAddress.
#ifndef MOTH_ARDUINO_IP_ADDRESS_H
#define MOTH_ARDUINO_IP_ADDRESS_H

#include <stdint.h>

#include "Print.h"
#include "WString.h"

class IPAddress : public Printable {
public:
    IPAddress() = default;
    IPAddress(uint8_t a, uint8_t b, uint8_t c, uint8_t d) : bytes_{a, b, c, d} {}
    explicit IPAddress(uint32_t address);  // network byte order, as on the ESP32
    explicit IPAddress(const uint8_t* address) : bytes_{address[0], address[1], address[2], address[3]} {}
    bool fromString(const char* address);
    bool fromString(const String& address) { return fromString(address.c_str()); }
    String toString() const;
    operator uint32_t() const;
    uint8_t operator[](int index) const { return bytes_[index]; }
    uint8_t& operator[](int index) { return bytes_[index]; }
    bool operator==(const IPAddress& other) const;
    bool operator!=(const IPAddress& other) const { return !(*this == other); }
    size_t printTo(Print& p) const override { return p.print(toString()); }

private:
    uint8_t bytes_[4] = {0, 0, 0, 0};
};

#endif
