// ESP8266 sketches: the same virtual WiFi.
#ifndef MOTH_ARDUINO_ESP8266WIFI_H
#define MOTH_ARDUINO_ESP8266WIFI_H
#include "WiFi.h"
#endif
