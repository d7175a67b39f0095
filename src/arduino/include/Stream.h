// Arduino's Stream: a Print that can also be read.
#ifndef MOTH_ARDUINO_STREAM_H
#define MOTH_ARDUINO_STREAM_H

#include "Print.h"

class Stream : public Print {
public:
    virtual int available() = 0;
    virtual int read() = 0;
    virtual int peek() = 0;
    void setTimeout(unsigned long timeout_ms) { timeout_ms_ = timeout_ms; }
    unsigned long getTimeout() const { return timeout_ms_; }
    size_t readBytes(char* buffer, size_t length);
    size_t readBytes(uint8_t* buffer, size_t length) { return readBytes(reinterpret_cast<char*>(buffer), length); }
    String readString();
    String readStringUntil(char terminator);

protected:
    int timed_read();
    unsigned long timeout_ms_ = 1000;
};

#endif
