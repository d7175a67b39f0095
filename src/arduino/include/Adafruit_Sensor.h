// Adafruit Unified Sensor: included by DHT sketches; nothing of it is needed by the simulated DHT.
#ifndef MOTH_ARDUINO_ADAFRUIT_SENSOR_H
#define MOTH_ARDUINO_ADAFRUIT_SENSOR_H
#include "Arduino.h"
#endif
