// The course's device: an ESP32 with a DHT11 on GPIO13 publishing humidity and temperature every 5 seconds.
//
// Arduino IDE: board "ESP32 Dev Module", libraries "EspMQTTClient" (with its PubSubClient) and "DHT sensor library"
// (Adafruit). On Linux: `moth device examples/esp32-dht11/esp32-dht11.ino --broker 127.0.0.1:1883`.
#include "EspMQTTClient.h"
#include "DHT.h"

#define DHTPIN 13      // GPIO13
#define DHTTYPE DHT11

DHT dht(DHTPIN, DHTTYPE);

EspMQTTClient client(
  "ssid",              // WiFi network
  "password",          // WiFi password
  "broker.hivemq.com", // MQTT broker
  "TEST",              // client id
  1883                 // MQTT port
);

unsigned long lastReading = 0;

void setup() {
  Serial.begin(115200);
  dht.begin();
  client.enableDebuggingMessages();  // debugging messages on the serial monitor
  client.enableLastWillMessage("TestClient/lastwill", "I am going offline");
}

// Called once WiFi and MQTT are connected (and again after every reconnection).
void onConnectionEstablished() {
}

void loop() {
  client.loop();

  if (millis() - lastReading >= 5000) {
    lastReading = millis();

    float h = dht.readHumidity();
    float t = dht.readTemperature();
    if (isnan(h) || isnan(t)) {
      Serial.println("Failed to read from DHT sensor!");
      return;
    }

    Serial.print("Humidity : ");
    Serial.println(h);
    Serial.print("Temperature : ");
    Serial.println(t);

    char buffer[16];
    sprintf(buffer, "%.2f", t);
    client.publish("mytopic/temp", buffer);
    sprintf(buffer, "%.2f", h);
    client.publish("mytopic/humid", buffer);
  }
}
