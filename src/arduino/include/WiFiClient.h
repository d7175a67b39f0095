// WiFiClient: Arduino's TCP client over a POSIX socket. `moth device --broker HOST:PORT` redirects its connections
// (the sketch's hard-coded broker becomes HOST:PORT).
#ifndef MOTH_ARDUINO_WIFI_CLIENT_H
#define MOTH_ARDUINO_WIFI_CLIENT_H

#include "Client.h"

class WiFiClient : public Client {
public:
    WiFiClient();
    ~WiFiClient() override;
    WiFiClient(const WiFiClient&) = delete;
    WiFiClient& operator=(const WiFiClient&) = delete;

    int connect(IPAddress ip, uint16_t port) override;
    int connect(const char* host, uint16_t port) override;
    int connect(const char* host, uint16_t port, int32_t timeout_ms);
    size_t write(uint8_t c) override;
    size_t write(const uint8_t* buf, size_t size) override;
    using Print::write;
    int available() override;
    int read() override;
    int read(uint8_t* buf, size_t size) override;
    int peek() override;
    void flush() override {}
    void stop() override;
    uint8_t connected() override;
    operator bool() override { return connected() != 0; }
    void setNoDelay(bool) {}
    int fd() const { return fd_; }                // Moth extension
    int wait_readable(int timeout_ms);            // Moth extension: real-time wait for data, 1 when readable

private:

    void* device_;  // moth::arduino::Device that created it
    int fd_ = -1;
    int peeked_ = -1;
    bool peer_closed_ = false;
};

#endif
