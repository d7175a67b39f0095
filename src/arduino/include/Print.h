// Arduino's Print: text and number formatting shared by Serial, String conversions and network clients.
#ifndef MOTH_ARDUINO_PRINT_H
#define MOTH_ARDUINO_PRINT_H

#include <stddef.h>
#include <stdint.h>

#include "WString.h"

#define DEC 10
#define HEX 16
#define OCT 8
#define BIN 2

class Printable;

class Print {
public:
    virtual ~Print() = default;
    virtual size_t write(uint8_t c) = 0;
    virtual size_t write(const uint8_t* buffer, size_t size);
    size_t write(const char* str);
    size_t write(const char* buffer, size_t size) { return write(reinterpret_cast<const uint8_t*>(buffer), size); }
    virtual int availableForWrite() { return 0; }
    virtual void flush() {}

    size_t printf(const char* format, ...) __attribute__((format(printf, 2, 3)));

    size_t print(const String& s);
    size_t print(const char str[]);
    size_t print(char c);
    size_t print(unsigned char n, int base = DEC);
    size_t print(int n, int base = DEC);
    size_t print(unsigned int n, int base = DEC);
    size_t print(long n, int base = DEC);
    size_t print(unsigned long n, int base = DEC);
    size_t print(long long n, int base = DEC);
    size_t print(unsigned long long n, int base = DEC);
    size_t print(double n, int digits = 2);
    size_t print(const Printable& p);

    size_t println(const String& s);
    size_t println(const char str[]);
    size_t println(char c);
    size_t println(unsigned char n, int base = DEC);
    size_t println(int n, int base = DEC);
    size_t println(unsigned int n, int base = DEC);
    size_t println(long n, int base = DEC);
    size_t println(unsigned long n, int base = DEC);
    size_t println(long long n, int base = DEC);
    size_t println(unsigned long long n, int base = DEC);
    size_t println(double n, int digits = 2);
    size_t println(const Printable& p);
    size_t println();

private:
    size_t print_number(unsigned long long n, int base);
    size_t print_float(double number, int digits);
};

class Printable {
public:
    virtual ~Printable() = default;
    virtual size_t printTo(Print& p) const = 0;
};

#endif
