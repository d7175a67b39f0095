// EspMQTTClient's features: plain and topic-aware subscriptions (with wildcards), a delayed publish, a last will
// and the library's debugging messages. Commands sent to mytopic/led switch the built-in LED.
//
// Arduino IDE: board "ESP32 Dev Module", library "EspMQTTClient". On Linux:
//   moth device examples/esp-mqtt-client/esp-mqtt-client.ino --broker 127.0.0.1:1883
#include "EspMQTTClient.h"

EspMQTTClient client(
  "ssid",
  "password",
  "broker.hivemq.com",
  "EspMqttDemo",
  1883
);

void setup() {
  Serial.begin(115200);
  pinMode(LED_BUILTIN, OUTPUT);

  client.enableDebuggingMessages();
  client.enableLastWillMessage("mytopic/status", "offline", true);  // retained: who looks later still sees it
  client.setMaxPacketSize(512);
  client.setKeepAlive(30);
}

void onLed(const String& payload) {
  digitalWrite(LED_BUILTIN, payload == "on" ? HIGH : LOW);
  Serial.println("LED is " + String(payload == "on" ? "on" : "off"));
}

void onConnectionEstablished() {
  // A plain callback: the payload only.
  client.subscribe("mytopic/led", onLed);

  client.subscribe("mytopic/test", [](const String& payload) {
    Serial.println("test says: " + payload);
  });

  // Topic-aware callbacks, with a single-level and a multi-level wildcard.
  client.subscribe("mytopic/room/+/command", [](const String& topic, const String& payload) {
    Serial.println("command for " + topic + ": " + payload);
  });
  client.subscribe("mytopic/config/#", [](const String& topic, const String& payload) {
    Serial.println("config " + topic + " = " + payload);
  });

  client.publish("mytopic/status", "online", true);

  // Five seconds later, without blocking loop().
  client.executeDelayed(5 * 1000, []() {
    client.publish("mytopic/delayed", "This message was published 5 seconds after connecting");
  });
}

void loop() {
  client.loop();
}
