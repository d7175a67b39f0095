// credentials-device.ino's device with a mistyped password (issue 18): the broker refuses the CONNECT (bad user name
// or password), EspMQTTClient says so on the serial monitor and tries again after its reconnection delay.
#include "EspMQTTClient.h"

EspMQTTClient client(
  "ssid",              // WiFi network
  "password",          // WiFi password
  "broker.example",    // MQTT broker
  "device01",          // MQTT user name
  "device01-secreT",   // MQTT password: one letter wrong
  "device01",          // client id
  1883                 // MQTT port
);

void setup() {
  Serial.begin(115200);
  client.enableDebuggingMessages();
}

void onConnectionEstablished() {
  client.publish("devices/device01/status", "online");  // never runs: the broker refuses the password
}

void loop() {
  client.loop();
}
