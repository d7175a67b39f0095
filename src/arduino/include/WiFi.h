// WiFi for a virtual ESP32: the "network" is the host's, so WiFi.begin() connects at once. Each device has its own
// status and address (10.77.x.y by device index).
#ifndef MOTH_ARDUINO_WIFI_H
#define MOTH_ARDUINO_WIFI_H

#include "Arduino.h"
#include "WiFiClient.h"

typedef enum {
    WL_NO_SHIELD = 255,
    WL_IDLE_STATUS = 0,
    WL_NO_SSID_AVAIL = 1,
    WL_SCAN_COMPLETED = 2,
    WL_CONNECTED = 3,
    WL_CONNECT_FAILED = 4,
    WL_CONNECTION_LOST = 5,
    WL_DISCONNECTED = 6
} wl_status_t;

typedef enum { WIFI_OFF = 0, WIFI_STA = 1, WIFI_AP = 2, WIFI_AP_STA = 3 } wifi_mode_t;
#define WIFI_MODE_NULL WIFI_OFF
#define WIFI_MODE_STA WIFI_STA

class WiFiClass {
public:
    wl_status_t begin(const char* ssid, const char* passphrase = nullptr, int32_t channel = 0,
                      const uint8_t* bssid = nullptr, bool connect = true);
    wl_status_t begin();
    bool disconnect(bool wifioff = false, bool eraseap = false);
    bool reconnect();
    wl_status_t status();
    bool isConnected() { return status() == WL_CONNECTED; }
    bool mode(wifi_mode_t mode);
    wifi_mode_t getMode();
    bool setHostname(const char* hostname);
    const char* getHostname();
    bool hostname(const String& name) { return setHostname(name.c_str()); }
    bool setAutoReconnect(bool) { return true; }
    bool setAutoConnect(bool) { return true; }
    bool setSleep(bool) { return true; }
    IPAddress localIP();
    IPAddress gatewayIP();
    IPAddress subnetMask();
    IPAddress dnsIP(uint8_t = 0);
    String macAddress();
    String SSID();
    int32_t RSSI();
    uint8_t waitForConnectResult(unsigned long timeout_ms = 60000);
    int hostByName(const char* host, IPAddress& result);
};

extern WiFiClass WiFi;

#endif
