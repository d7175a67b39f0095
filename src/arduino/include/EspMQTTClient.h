// EspMQTTClient (plapointe6/EspMQTTClient 1.13) API for the virtual device: WiFi and MQTT connection handling
// with the library's timings (WiFi attempt 500 ms after the first loop(), MQTT 500 ms after WiFi, a new MQTT
// attempt every 15 s), its debugging messages, subscriptions with plain and topic-aware callbacks (with + and #
// wildcards), delayed execution and the last will. Built on PubSubClient with its 256-byte buffer and 15 s
// keepalive. The web updater and OTA are accepted and reported as not available on Linux.
#ifndef MOTH_ARDUINO_ESP_MQTT_CLIENT_H
#define MOTH_ARDUINO_ESP_MQTT_CLIENT_H

#include <functional>
#include <vector>

#include "Arduino.h"
#include "PubSubClient.h"
#include "WiFi.h"
#include "WiFiClient.h"

#define DEFAULT_MQTT_CLIENT_NAME "ESP32"

void onConnectionEstablished();  // MUST be implemented in your sketch; called on every (re)connection.

typedef std::function<void()> ConnectionEstablishedCallback;
typedef std::function<void(const String& message)> MessageReceivedCallback;
typedef std::function<void(const String& topicStr, const String& message)> MessageReceivedCallbackWithTopic;
typedef std::function<void()> DelayedExecutionCallback;

class EspMQTTClient {
public:
    // MQTT only (no WiFi handling), port first: the default constructor.
    EspMQTTClient(const short mqttServerPort = 1883, const char* mqttClientName = DEFAULT_MQTT_CLIENT_NAME);
    // WiFi + MQTT without credentials.
    EspMQTTClient(const char* wifiSsid, const char* wifiPassword, const char* mqttServerIp,
                  const char* mqttClientName = DEFAULT_MQTT_CLIENT_NAME, const short mqttServerPort = 1883);
    // WiFi + MQTT with credentials.
    EspMQTTClient(const char* wifiSsid, const char* wifiPassword, const char* mqttServerIp, const char* mqttUsername,
                  const char* mqttPassword, const char* mqttClientName = DEFAULT_MQTT_CLIENT_NAME,
                  const short mqttServerPort = 1883);
    // MQTT only, with credentials.
    EspMQTTClient(const char* mqttServerIp, const short mqttServerPort, const char* mqttUsername,
                  const char* mqttPassword, const char* mqttClientName = DEFAULT_MQTT_CLIENT_NAME);
    // MQTT only, without credentials.
    EspMQTTClient(const char* mqttServerIp, const short mqttServerPort,
                  const char* mqttClientName = DEFAULT_MQTT_CLIENT_NAME);
    ~EspMQTTClient();
    EspMQTTClient(const EspMQTTClient&) = delete;
    EspMQTTClient& operator=(const EspMQTTClient&) = delete;

    // Optional functionality (before the first loop() call)
    void enableDebuggingMessages(const bool enabled = true);
    void enableHTTPWebUpdater(const char* username, const char* password, const char* address = "/");
    void enableHTTPWebUpdater(const char* address = "/");
    void enableOTA(const char* password = NULL, const uint16_t port = 0);
    void enableMQTTPersistence();
    void enableLastWillMessage(const char* topic, const char* message, const bool retain = false);
    void enableDrasticResetOnConnectionFailures() { _drasticResetOnConnectionFailures = true; }

    void loop();

    // MQTT
    bool setMaxPacketSize(const uint16_t size);  // PubSubClient's buffer, 256 bytes by default
    bool publish(const String& topic, const String& payload, bool retain = false);
    bool publish(const String& topic, const uint8_t* payload, unsigned int plength, bool retain = false);
    bool subscribe(const String& topic, MessageReceivedCallback messageReceivedCallback, uint8_t qos = 0);
    bool subscribe(const String& topic, MessageReceivedCallbackWithTopic messageReceivedCallback, uint8_t qos = 0);
    bool unsubscribe(const String& topic);
    void setKeepAlive(uint16_t keepAliveSeconds);  // 15 seconds by default
    inline void setMqttReconnectionAttemptDelay(const unsigned int milliseconds) {
        _mqttReconnectionAttemptDelay = milliseconds;
    }
    inline void setWifiReconnectionAttemptDelay(const unsigned int milliseconds) {
        _wifiReconnectionAttemptDelay = milliseconds;
    }
    void setMqttClientName(const char* name);
    void setMqttServer(const char* server, const char* username = "", const char* password = "",
                       const short port = 1883);
    void setWifiCredentials(const char* wifiSsid, const char* wifiPassword);

    // Other
    void executeDelayed(const unsigned long delay, DelayedExecutionCallback callback);

    inline bool isConnected() const { return isWifiConnected() && isMqttConnected(); }
    inline bool isWifiConnected() const { return _wifiConnected; }
    inline bool isMqttConnected() const { return _mqttConnected; }
    inline unsigned int getConnectionEstablishedCount() const { return _connectionEstablishedCount; }
    inline const char* getMqttClientName() { return _mqttClientName; }
    inline const char* getMqttServerIp() { return _mqttServerIp; }
    inline short getMqttServerPort() { return _mqttServerPort; }
    inline void setOnConnectionEstablishedCallback(ConnectionEstablishedCallback callback) {
        _connectionEstablishedCallback = callback;
    }

    // Moth extensions, for tests: the current settings.
    unsigned int mqttReconnectionAttemptDelay() const { return _mqttReconnectionAttemptDelay; }
    unsigned int wifiReconnectionAttemptDelay() const { return _wifiReconnectionAttemptDelay; }
    PubSubClient& pubSubClient() { return _mqttClient; }

private:
    bool handleWiFi();
    bool handleMQTT();
    void onWiFiConnectionEstablished();
    void onWiFiConnectionLost();
    void onMQTTConnectionEstablished();
    void onMQTTConnectionLost();
    void connectToWifi();
    bool connectToMqttBroker();
    void processDelayedExecutionRequests();
    bool mqttTopicMatch(const String& topic1, const String& topic2);
    void mqttMessageReceivedCallback(char* topic, uint8_t* payload, unsigned int length);

    void* _device;
    bool _handleWiFi = false;
    bool _firstLoopCall = true;
    bool _wifiConnected = false;
    bool _connectingToWifi = false;
    unsigned long _lastWifiConnectionAttemptMillis = 0;
    unsigned long _nextWifiConnectionAttemptMillis = 500;
    unsigned int _wifiReconnectionAttemptDelay = 60 * 1000;
    const char* _wifiSsid = nullptr;
    const char* _wifiPassword = nullptr;
    WiFiClient _wifiClient;

    const char* _mqttServerIp = nullptr;
    const char* _mqttUsername = nullptr;
    const char* _mqttPassword = nullptr;
    const char* _mqttClientName = DEFAULT_MQTT_CLIENT_NAME;
    short _mqttServerPort = 1883;
    bool _mqttConnected = false;
    unsigned long _nextMqttConnectionAttemptMillis = 0;
    unsigned int _mqttReconnectionAttemptDelay = 15 * 1000;
    const char* _mqttLastWillTopic = nullptr;
    const char* _mqttLastWillMessage = nullptr;
    bool _mqttLastWillRetain = false;
    bool _mqttCleanSession = true;
    unsigned int _failedMQTTConnectionAttemptCount = 0;
    PubSubClient _mqttClient;

    struct TopicSubscriptionRecord {
        String topic;
        MessageReceivedCallback callback;
        MessageReceivedCallbackWithTopic callbackWithTopic;
    };
    std::vector<TopicSubscriptionRecord> _topicSubscriptionList;

    struct DelayedExecutionRecord {
        unsigned long targetMillis;
        DelayedExecutionCallback callback;
    };
    std::vector<DelayedExecutionRecord> _delayedExecutionList;

    ConnectionEstablishedCallback _connectionEstablishedCallback;
    bool _enableSerialLogs = false;
    bool _drasticResetOnConnectionFailures = false;
    bool _webUpdaterRequested = false;
    unsigned int _connectionEstablishedCount = 0;
};

#endif
