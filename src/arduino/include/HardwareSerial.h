// Serial: the serial monitor is the process's standard output. In a fleet every line carries the device's name,
// "[TEST-0001] Humidity : 40.00". Reading returns nothing (no one types into a virtual board).
#ifndef MOTH_ARDUINO_HARDWARE_SERIAL_H
#define MOTH_ARDUINO_HARDWARE_SERIAL_H

#include "Stream.h"

#define SERIAL_8N1 0x800001c

class HardwareSerial : public Stream {
public:
    void begin(unsigned long baud, uint32_t config = SERIAL_8N1, int8_t rx_pin = -1, int8_t tx_pin = -1);
    void end() {}
    void setDebugOutput(bool) {}
    int available() override { return 0; }
    int read() override { return -1; }
    int peek() override { return -1; }
    int availableForWrite() override { return 128; }
    void flush() override;
    size_t write(uint8_t c) override;
    size_t write(const uint8_t* buffer, size_t size) override;
    using Print::write;
    operator bool() const { return true; }
    unsigned long baudRate() const;
};

extern HardwareSerial Serial;

#endif
