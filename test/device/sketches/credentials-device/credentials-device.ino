// A device with its own MQTT user (issue 18): EspMQTTClient's constructor with a user name and password, a DHT11,
// telemetry every 5 seconds on its own topic. Each round it first also publishes on another device's topic, as a
// mistaken or malicious sketch would: the broker's ACL lets the device write only devices/<its user>/..., so that
// message must go nowhere, and because it is sent first, a subscriber that has the round's own reading would have
// had it already.
//
// Arduino IDE: board "ESP32 Dev Module", libraries "EspMQTTClient" and "DHT sensor library" (Adafruit).
// On Linux: `moth device test/device/sketches/credentials-device/credentials-device.ino --broker 127.0.0.1:1883`.
#include "EspMQTTClient.h"
#include "DHT.h"

#define DHTPIN 13
#define DHTTYPE DHT11

DHT dht(DHTPIN, DHTTYPE);

EspMQTTClient client(
  "ssid",              // WiFi network
  "password",          // WiFi password
  "broker.example",    // MQTT broker
  "device01",          // MQTT user name
  "device01-secret",   // MQTT password
  "device01",          // client id
  1883                 // MQTT port
);

unsigned long lastReading = 0;
unsigned int sequence = 0;

void setup() {
  Serial.begin(115200);
  dht.begin();
  client.enableDebuggingMessages();
}

void onConnectionEstablished() {
  client.publish("devices/device01/status", "online");
}

void loop() {
  client.loop();

  if (client.isConnected() && millis() - lastReading >= 5000) {
    lastReading = millis();
    float t = dht.readTemperature();
    if (isnan(t)) {
      Serial.println("Failed to read from DHT sensor!");
      return;
    }
    sequence++;
    char buffer[48];
    snprintf(buffer, sizeof buffer, "{\"seq\":%u,\"temp\":%.2f}", sequence, t);
    client.publish("devices/device02/telemetry", buffer);  // not its topic: the ACL denies it
    client.publish("devices/device01/telemetry", buffer);
    Serial.print("Sent ");
    Serial.println(buffer);
  }
}
