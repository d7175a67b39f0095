// EspMQTTClient 1.13's connection handling, messages and timings, on the virtual device.
#include "EspMQTTClient.h"

#include <cstring>

#include "arduino/device.hpp"

using moth::arduino::current_device;
using moth::arduino::Device;

namespace {

Device& dev(void* p) { return *static_cast<Device*>(p); }

double seconds_now() { return static_cast<double>(millis()) / 1000.0; }

}  // namespace

EspMQTTClient::EspMQTTClient(const short mqttServerPort, const char* mqttClientName)
    : EspMQTTClient(nullptr, nullptr, nullptr, nullptr, nullptr, mqttClientName, mqttServerPort) {}

EspMQTTClient::EspMQTTClient(const char* wifiSsid, const char* wifiPassword, const char* mqttServerIp,
                             const char* mqttClientName, const short mqttServerPort)
    : EspMQTTClient(wifiSsid, wifiPassword, mqttServerIp, nullptr, nullptr, mqttClientName, mqttServerPort) {}

EspMQTTClient::EspMQTTClient(const char* mqttServerIp, const short mqttServerPort, const char* mqttUsername,
                             const char* mqttPassword, const char* mqttClientName)
    : EspMQTTClient(nullptr, nullptr, mqttServerIp, mqttUsername, mqttPassword, mqttClientName, mqttServerPort) {}

EspMQTTClient::EspMQTTClient(const char* mqttServerIp, const short mqttServerPort, const char* mqttClientName)
    : EspMQTTClient(nullptr, nullptr, mqttServerIp, nullptr, nullptr, mqttClientName, mqttServerPort) {}

EspMQTTClient::EspMQTTClient(const char* wifiSsid, const char* wifiPassword, const char* mqttServerIp,
                             const char* mqttUsername, const char* mqttPassword, const char* mqttClientName,
                             const short mqttServerPort)
    : _device(&current_device()),
      _wifiSsid(wifiSsid),
      _wifiPassword(wifiPassword),
      _mqttServerIp(mqttServerIp),
      _mqttUsername(mqttUsername),
      _mqttPassword(mqttPassword),
      _mqttClientName(mqttClientName),
      _mqttServerPort(mqttServerPort),
      _mqttClient(mqttServerIp, static_cast<uint16_t>(mqttServerPort), _wifiClient) {
    _handleWiFi = (wifiSsid != nullptr);
    _mqttClient.setCallback(
        [this](char* topic, uint8_t* payload, unsigned int length) { mqttMessageReceivedCallback(topic, payload, length); });
    // The default callback is the sketch's onConnectionEstablished(): the runner finds it in this device's copy
    // of the sketch (see onMQTTConnectionEstablished).
    dev(_device).name_from(mqttClientName);
}

EspMQTTClient::~EspMQTTClient() = default;

void EspMQTTClient::enableDebuggingMessages(const bool enabled) { _enableSerialLogs = enabled; }

void EspMQTTClient::enableHTTPWebUpdater(const char* username, const char* password, const char* address) {
    (void)username;
    (void)password;
    if (_webUpdaterRequested) {
        if (_enableSerialLogs) Serial.print("SYS! You can't call enableHTTPWebUpdater() more than once !\n");
        return;
    }
    _webUpdaterRequested = true;
    dev(_device).log(std::string("enableHTTPWebUpdater(\"") + (address != nullptr ? address : "/") +
                     "\"): the web updater is not available on Linux");
}

void EspMQTTClient::enableHTTPWebUpdater(const char* address) {
    if (_mqttUsername == nullptr || _mqttPassword == nullptr) {
        enableHTTPWebUpdater("", "", address);
    } else {
        enableHTTPWebUpdater(_mqttUsername, _mqttPassword, address);
    }
}

void EspMQTTClient::enableOTA(const char* password, const uint16_t port) {
    (void)password;
    dev(_device).log("enableOTA(port " + std::to_string(port == 0 ? 3232 : port) + "): OTA is not available on Linux");
}

void EspMQTTClient::enableMQTTPersistence() { _mqttCleanSession = false; }

void EspMQTTClient::enableLastWillMessage(const char* topic, const char* message, const bool retain) {
    _mqttLastWillTopic = topic;
    _mqttLastWillMessage = message;
    _mqttLastWillRetain = retain;
}

void EspMQTTClient::setMqttClientName(const char* name) {
    _mqttClientName = name;
    dev(_device).name_from(name);
}

void EspMQTTClient::setMqttServer(const char* server, const char* username, const char* password, const short port) {
    _mqttServerIp = server;
    _mqttUsername = username;
    _mqttPassword = password;
    _mqttServerPort = port;
    _mqttClient.setServer(server, static_cast<uint16_t>(port));
}

void EspMQTTClient::setWifiCredentials(const char* wifiSsid, const char* wifiPassword) {
    _wifiSsid = wifiSsid;
    _wifiPassword = wifiPassword;
    _handleWiFi = true;
}

void EspMQTTClient::loop() {
    // A change of the WiFi or MQTT state ends this call; the next one goes on (as the library does, to keep each
    // loop() call short).
    if (handleWiFi()) return;
    if (handleMQTT()) return;
    processDelayedExecutionRequests();
}

bool EspMQTTClient::handleWiFi() {
    if (_handleWiFi && _firstLoopCall) {
        WiFi.disconnect(true);
        _nextWifiConnectionAttemptMillis = millis() + 500;
        _firstLoopCall = false;
        return true;
    }

    const bool isWifiConnected = (WiFi.status() == WL_CONNECTED);

    if (isWifiConnected && !_wifiConnected) {
        onWiFiConnectionEstablished();
        _connectingToWifi = false;
        // At least 500 ms between WiFi and the first MQTT attempt, as the library does.
        _nextMqttConnectionAttemptMillis = millis() + 500;
    } else if (_connectingToWifi) {
        if (WiFi.status() == WL_CONNECT_FAILED ||
            millis() - _lastWifiConnectionAttemptMillis >= _wifiReconnectionAttemptDelay) {
            if (_enableSerialLogs)
                Serial.printf("WiFi! Connection attempt failed, delay expired. (%fs). \n", seconds_now());
            WiFi.disconnect(true);
            _nextWifiConnectionAttemptMillis = millis() + 500;
            _connectingToWifi = false;
        }
    } else if (!isWifiConnected && _wifiConnected) {
        onWiFiConnectionLost();
        if (_handleWiFi) _nextWifiConnectionAttemptMillis = millis() + 500;
    } else if (isWifiConnected && _wifiConnected) {
        // connected since at least one loop() call: nothing to do (no web updater here)
    } else if (_handleWiFi && _nextWifiConnectionAttemptMillis > 0 && millis() >= _nextWifiConnectionAttemptMillis) {
        connectToWifi();
        _nextWifiConnectionAttemptMillis = 0;
        _connectingToWifi = true;
        _lastWifiConnectionAttemptMillis = millis();
    }

    if (!_handleWiFi && !isWifiConnected && !_wifiConnected) {
        // MQTT only: the sketch manages WiFi itself (or, on Linux, there is nothing to manage).
        if (WiFi.status() != WL_CONNECTED) WiFi.begin();
        _wifiConnected = true;
        _nextMqttConnectionAttemptMillis = millis() + 500;
        return true;
    }

    if (isWifiConnected != _wifiConnected) {
        _wifiConnected = isWifiConnected;
        return true;
    }
    return false;
}

bool EspMQTTClient::handleMQTT() {
    _mqttClient.loop();
    const bool isMqttConnected = (isWifiConnected() && _mqttClient.connected());

    if (isMqttConnected && !_mqttConnected) {
        _mqttConnected = true;
        onMQTTConnectionEstablished();
    } else if (!isMqttConnected && _mqttConnected) {
        onMQTTConnectionLost();
        _nextMqttConnectionAttemptMillis = millis() + _mqttReconnectionAttemptDelay;
    } else if (isWifiConnected() && _nextMqttConnectionAttemptMillis > 0 && millis() >= _nextMqttConnectionAttemptMillis) {
        if (connectToMqttBroker()) {
            _failedMQTTConnectionAttemptCount = 0;
            _nextMqttConnectionAttemptMillis = 0;
        } else {
            _nextMqttConnectionAttemptMillis = millis() + _mqttReconnectionAttemptDelay;
            _mqttClient.disconnect();
            _failedMQTTConnectionAttemptCount++;
            if (_enableSerialLogs)
                Serial.printf("MQTT!: Failed MQTT connection count: %i \n", _failedMQTTConnectionAttemptCount);
            if (_handleWiFi && _failedMQTTConnectionAttemptCount == 8) {
                if (_enableSerialLogs)
                    Serial.println("MQTT!: Can't connect to broker after too many attempt, resetting WiFi ...");
                WiFi.disconnect(true);
                _nextWifiConnectionAttemptMillis = millis() + 500;
                if (!_drasticResetOnConnectionFailures) _failedMQTTConnectionAttemptCount = 0;
            } else if (_drasticResetOnConnectionFailures && _failedMQTTConnectionAttemptCount == 12) {
                if (_enableSerialLogs)
                    Serial.println("MQTT!: Can't connect to broker after too many attempt, resetting board ...");
                ESP.restart();
            }
        }
    }

    if (_mqttConnected != isMqttConnected) {
        _mqttConnected = isMqttConnected;
        return true;
    }
    return false;
}

void EspMQTTClient::onWiFiConnectionEstablished() {
    if (_enableSerialLogs)
        Serial.printf("WiFi: Connected (%fs), ip : %s \n", seconds_now(), WiFi.localIP().toString().c_str());
}

void EspMQTTClient::onWiFiConnectionLost() {
    if (_enableSerialLogs) Serial.printf("WiFi! Lost connection (%fs). \n", seconds_now());
    if (_handleWiFi) WiFi.disconnect(true);
}

void EspMQTTClient::onMQTTConnectionEstablished() {
    _connectionEstablishedCount++;
    if (_connectionEstablishedCallback) {
        _connectionEstablishedCallback();
    } else if (auto* sketch_callback = dev(_device).on_connection_established; sketch_callback != nullptr) {
        sketch_callback();
    }
}

void EspMQTTClient::onMQTTConnectionLost() {
    if (_enableSerialLogs) {
        Serial.printf("MQTT! Lost connection (%fs). \n", seconds_now());
        Serial.printf("MQTT: Retrying to connect in %i seconds. \n", _mqttReconnectionAttemptDelay / 1000);
    }
}

bool EspMQTTClient::setMaxPacketSize(const uint16_t size) {
    const bool success = _mqttClient.setBufferSize(size);
    if (!success && _enableSerialLogs) Serial.println("MQTT! failed to set the max packet size.");
    return success;
}

bool EspMQTTClient::publish(const String& topic, const String& payload, bool retain) {
    if (!isConnected()) {
        if (_enableSerialLogs) Serial.println("MQTT! Trying to publish when disconnected, skipping.");
        return false;
    }
    const bool success = _mqttClient.publish(topic.c_str(), payload.c_str(), retain);
    if (_enableSerialLogs) {
        if (success) {
            Serial.printf("MQTT << [%s] %s\n", topic.c_str(), payload.c_str());
        } else {
            Serial.println("MQTT! publish failed, is the message too long ? (see setMaxPacketSize())");
        }
    }
    return success;
}

bool EspMQTTClient::publish(const String& topic, const uint8_t* payload, unsigned int plength, bool retain) {
    if (!isConnected()) {
        if (_enableSerialLogs) Serial.println("MQTT! Trying to publish when disconnected, skipping.");
        return false;
    }
    const bool success = _mqttClient.publish(topic.c_str(), payload, plength, retain);
    if (_enableSerialLogs) {
        if (success) {
            Serial.printf("MQTT << [%s] (%u bytes)\n", topic.c_str(), plength);
        } else {
            Serial.println("MQTT! publish failed, is the message too long ? (see setMaxPacketSize())");
        }
    }
    return success;
}

bool EspMQTTClient::subscribe(const String& topic, MessageReceivedCallback messageReceivedCallback, uint8_t qos) {
    if (!isConnected()) {
        if (_enableSerialLogs) Serial.println("MQTT! Trying to subscribe when disconnected, skipping.");
        return false;
    }
    const bool success = _mqttClient.subscribe(topic.c_str(), qos);
    if (success) {
        bool found = false;
        for (std::size_t i = 0; i < _topicSubscriptionList.size() && !found; i++) {
            found = _topicSubscriptionList[i].topic.equals(topic);
        }
        if (!found) _topicSubscriptionList.push_back({topic, messageReceivedCallback, nullptr});
    }
    if (_enableSerialLogs) {
        if (success) {
            Serial.printf("MQTT: Subscribed to [%s]\n", topic.c_str());
        } else {
            Serial.println("MQTT! subscribe failed");
        }
    }
    return success;
}

bool EspMQTTClient::subscribe(const String& topic, MessageReceivedCallbackWithTopic messageReceivedCallback,
                              uint8_t qos) {
    if (subscribe(topic, MessageReceivedCallback(nullptr), qos)) {
        for (auto& record : _topicSubscriptionList) {
            if (record.topic.equals(topic)) record.callbackWithTopic = messageReceivedCallback;
        }
        return true;
    }
    return false;
}

bool EspMQTTClient::unsubscribe(const String& topic) {
    if (!isConnected()) {
        if (_enableSerialLogs) Serial.println("MQTT! Trying to unsubscribe when disconnected, skipping.");
        return false;
    }
    for (std::size_t i = 0; i < _topicSubscriptionList.size(); i++) {
        if (_topicSubscriptionList[i].topic.equals(topic)) {
            if (_mqttClient.unsubscribe(topic.c_str())) {
                _topicSubscriptionList.erase(_topicSubscriptionList.begin() + static_cast<std::ptrdiff_t>(i));
                i--;
                if (_enableSerialLogs) Serial.printf("MQTT: Unsubscribed from %s\n", topic.c_str());
            } else {
                if (_enableSerialLogs) Serial.println("MQTT! unsubscribe failed");
                return false;
            }
        }
    }
    return true;
}

void EspMQTTClient::setKeepAlive(uint16_t keepAliveSeconds) { _mqttClient.setKeepAlive(keepAliveSeconds); }

void EspMQTTClient::executeDelayed(const unsigned long delay, DelayedExecutionCallback callback) {
    _delayedExecutionList.push_back({millis() + delay, callback});
}

void EspMQTTClient::connectToWifi() {
    WiFi.mode(WIFI_STA);
    WiFi.setHostname(_mqttClientName);
    WiFi.begin(_wifiSsid, _wifiPassword);
    if (_enableSerialLogs) Serial.printf("\nWiFi: Connecting to %s ... (%fs) \n", _wifiSsid, seconds_now());
}

bool EspMQTTClient::connectToMqttBroker() {
    const std::string name = dev(_device).client_id_for(_mqttClientName);
    if (_enableSerialLogs)
        Serial.printf("MQTT: Connecting to broker \"%s\" with client name \"%s\" ... (%fs)",
                      _mqttServerIp != nullptr ? _mqttServerIp : "", name.c_str(), seconds_now());

    const bool success = _mqttClient.connect(_mqttClientName, _mqttUsername, _mqttPassword, _mqttLastWillTopic, 0,
                                             _mqttLastWillRetain, _mqttLastWillMessage, _mqttCleanSession);
    if (_enableSerialLogs) {
        if (success) {
            Serial.printf(" - ok. (%fs) \n", seconds_now());
        } else {
            Serial.printf("unable to connect (%fs), reason: ", seconds_now());
            switch (_mqttClient.state()) {
                case -4: Serial.println("MQTT_CONNECTION_TIMEOUT"); break;
                case -3: Serial.println("MQTT_CONNECTION_LOST"); break;
                case -2: Serial.println("MQTT_CONNECT_FAILED"); break;
                case -1: Serial.println("MQTT_DISCONNECTED"); break;
                case 1: Serial.println("MQTT_CONNECT_BAD_PROTOCOL"); break;
                case 2: Serial.println("MQTT_CONNECT_BAD_CLIENT_ID"); break;
                case 3: Serial.println("MQTT_CONNECT_UNAVAILABLE"); break;
                case 4: Serial.println("MQTT_CONNECT_BAD_CREDENTIALS"); break;
                case 5: Serial.println("MQTT_CONNECT_UNAUTHORIZED"); break;
                default: Serial.println(_mqttClient.state()); break;
            }
            Serial.printf("MQTT: Retrying to connect in %i seconds.\n", _mqttReconnectionAttemptDelay / 1000);
        }
    }
    return success;
}

void EspMQTTClient::processDelayedExecutionRequests() {
    if (_delayedExecutionList.empty()) return;
    const unsigned long currentMillis = millis();
    for (std::size_t i = 0; i < _delayedExecutionList.size(); i++) {
        if (_delayedExecutionList[i].targetMillis <= currentMillis) {
            auto callback = _delayedExecutionList[i].callback;  // the callback may schedule another one
            _delayedExecutionList.erase(_delayedExecutionList.begin() + static_cast<std::ptrdiff_t>(i));
            i--;
            callback();
        }
    }
}

// The library's matching: one wildcard, '#' anywhere or '+' for a single level.
bool EspMQTTClient::mqttTopicMatch(const String& topic1, const String& topic2) {
    int i = 0;
    if ((i = topic1.indexOf('#')) >= 0) {
        const String t1a = topic1.substring(0, static_cast<unsigned int>(i));
        const String t1b = topic1.substring(static_cast<unsigned int>(i + 1));
        if ((t1a.length() == 0 || topic2.startsWith(t1a)) && (t1b.length() == 0 || topic2.endsWith(t1b))) return true;
    } else if ((i = topic1.indexOf('+')) >= 0) {
        const String t1a = topic1.substring(0, static_cast<unsigned int>(i));
        const String t1b = topic1.substring(static_cast<unsigned int>(i + 1));
        if ((t1a.length() == 0 || topic2.startsWith(t1a)) && (t1b.length() == 0 || topic2.endsWith(t1b))) {
            if (topic2.substring(t1a.length(), topic2.length() - t1b.length()).indexOf('/') == -1) return true;
        }
    } else {
        return topic1.equals(topic2);
    }
    return false;
}

void EspMQTTClient::mqttMessageReceivedCallback(char* topic, uint8_t* payload, unsigned int length) {
    // The payload sits at the end of PubSubClient's buffer; terminating it may cut its last byte, and the library
    // says so.
    unsigned int strTerminationPos = length;
    if (std::strlen(topic) + length + 9 >= _mqttClient.getBufferSize()) {
        strTerminationPos = length > 0 ? length - 1 : 0;
        if (_enableSerialLogs)
            Serial.print("MQTT! Your message may be truncated, please set setMaxPacketSize() to a higher value.\n");
    }
    const char* text = reinterpret_cast<const char*>(payload);
    const String payloadStr(text, static_cast<unsigned int>(strnlen(text, strTerminationPos)));  // up to a NUL, too
    const String topicStr(topic);
    if (_enableSerialLogs) Serial.printf("MQTT >> [%s] %s\n", topic, payloadStr.c_str());

    // Copy: a callback may subscribe or unsubscribe.
    const auto subscriptions = _topicSubscriptionList;
    for (const auto& record : subscriptions) {
        if (mqttTopicMatch(record.topic, topicStr)) {
            if (record.callback) record.callback(payloadStr);
            if (record.callbackWithTopic) record.callbackWithTopic(topicStr, payloadStr);
        }
    }
}
