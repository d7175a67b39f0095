// PubSubClient (knolleary/pubsubclient 2.8) API for the virtual device: MQTT 3.1.1 over a Client, blocking connect,
// QoS 0/1 subscriptions, QoS 0 publishing, keepalive with PINGREQ, one buffer of getBufferSize() bytes that bounds
// both what can be published and what can be received (bigger incoming packets are read and dropped). Times
// (keepalive, socket timeout) follow millis(), so `moth device --speed` scales them.
#ifndef MOTH_ARDUINO_PUBSUBCLIENT_H
#define MOTH_ARDUINO_PUBSUBCLIENT_H

#include <functional>

#include "Arduino.h"
#include "Client.h"
#include "IPAddress.h"
#include "Stream.h"

#define MQTT_VERSION_3_1 3
#define MQTT_VERSION_3_1_1 4
#ifndef MQTT_VERSION
#define MQTT_VERSION MQTT_VERSION_3_1_1
#endif
#ifndef MQTT_MAX_PACKET_SIZE
#define MQTT_MAX_PACKET_SIZE 256
#endif
#ifndef MQTT_KEEPALIVE
#define MQTT_KEEPALIVE 15
#endif
#ifndef MQTT_SOCKET_TIMEOUT
#define MQTT_SOCKET_TIMEOUT 15
#endif
#define MQTT_MAX_HEADER_SIZE 5

#define MQTT_CONNECTION_TIMEOUT -4
#define MQTT_CONNECTION_LOST -3
#define MQTT_CONNECT_FAILED -2
#define MQTT_DISCONNECTED -1
#define MQTT_CONNECTED 0
#define MQTT_CONNECT_BAD_PROTOCOL 1
#define MQTT_CONNECT_BAD_CLIENT_ID 2
#define MQTT_CONNECT_UNAVAILABLE 3
#define MQTT_CONNECT_BAD_CREDENTIALS 4
#define MQTT_CONNECT_UNAUTHORIZED 5

#define MQTTCONNECT 1 << 4
#define MQTTCONNACK 2 << 4
#define MQTTPUBLISH 3 << 4
#define MQTTPUBACK 4 << 4
#define MQTTPUBREC 5 << 4
#define MQTTPUBREL 6 << 4
#define MQTTPUBCOMP 7 << 4
#define MQTTSUBSCRIBE 8 << 4
#define MQTTSUBACK 9 << 4
#define MQTTUNSUBSCRIBE 10 << 4
#define MQTTUNSUBACK 11 << 4
#define MQTTPINGREQ 12 << 4
#define MQTTPINGRESP 13 << 4
#define MQTTDISCONNECT 14 << 4
#define MQTTReserved 15 << 4

#define MQTTQOS0 (0 << 1)
#define MQTTQOS1 (1 << 1)
#define MQTTQOS2 (2 << 1)

#define MQTT_CALLBACK_SIGNATURE std::function<void(char*, uint8_t*, unsigned int)> callback

class PubSubClient : public Print {
public:
    PubSubClient();
    explicit PubSubClient(Client& client);
    PubSubClient(IPAddress addr, uint16_t port, Client& client);
    PubSubClient(IPAddress addr, uint16_t port, MQTT_CALLBACK_SIGNATURE, Client& client);
    PubSubClient(uint8_t* ip, uint16_t port, Client& client);
    PubSubClient(uint8_t* ip, uint16_t port, MQTT_CALLBACK_SIGNATURE, Client& client);
    PubSubClient(const char* domain, uint16_t port, Client& client);
    PubSubClient(const char* domain, uint16_t port, MQTT_CALLBACK_SIGNATURE, Client& client);
    ~PubSubClient() override;
    PubSubClient(const PubSubClient&) = delete;
    PubSubClient& operator=(const PubSubClient&) = delete;

    PubSubClient& setServer(IPAddress ip, uint16_t port);
    PubSubClient& setServer(uint8_t* ip, uint16_t port);
    PubSubClient& setServer(const char* domain, uint16_t port);
    PubSubClient& setCallback(MQTT_CALLBACK_SIGNATURE);
    PubSubClient& setClient(Client& client);
    PubSubClient& setStream(Stream& stream);
    PubSubClient& setKeepAlive(uint16_t keep_alive);
    PubSubClient& setSocketTimeout(uint16_t timeout);

    bool setBufferSize(uint16_t size);
    uint16_t getBufferSize();

    bool connect(const char* id);
    bool connect(const char* id, const char* user, const char* pass);
    bool connect(const char* id, const char* will_topic, uint8_t will_qos, bool will_retain, const char* will_message);
    bool connect(const char* id, const char* user, const char* pass, const char* will_topic, uint8_t will_qos,
                 bool will_retain, const char* will_message);
    bool connect(const char* id, const char* user, const char* pass, const char* will_topic, uint8_t will_qos,
                 bool will_retain, const char* will_message, bool clean_session);
    void disconnect();

    bool publish(const char* topic, const char* payload);
    bool publish(const char* topic, const char* payload, bool retained);
    bool publish(const char* topic, const uint8_t* payload, unsigned int plength);
    bool publish(const char* topic, const uint8_t* payload, unsigned int plength, bool retained);
    bool publish_P(const char* topic, const char* payload, bool retained);
    bool publish_P(const char* topic, const uint8_t* payload, unsigned int plength, bool retained);
    // Streamed publish: beginPublish(), then write() the payload, then endPublish().
    bool beginPublish(const char* topic, unsigned int plength, bool retained);
    int endPublish();
    size_t write(uint8_t data) override;
    size_t write(const uint8_t* buffer, size_t size) override;
    using Print::write;

    bool subscribe(const char* topic);
    bool subscribe(const char* topic, uint8_t qos);
    bool unsubscribe(const char* topic);
    bool loop();
    bool connected();
    int state();
    // Moth extensions, for tests: the current settings.
    uint16_t getKeepAlive() const { return keep_alive_; }
    uint16_t getSocketTimeout() const { return socket_timeout_; }

private:
    uint32_t read_packet(uint8_t* length_length);
    bool read_byte(uint8_t* result);
    bool write_packet(uint8_t header, uint8_t* buf, uint16_t length);
    uint16_t write_string(const char* string, uint8_t* buf, uint16_t pos);
    size_t build_header(uint8_t header, uint8_t* buf, uint16_t length);
    bool connect_client();

    void* device_;
    Client* client_ = nullptr;
    uint8_t* buffer_ = nullptr;
    uint16_t buffer_size_ = 0;
    uint16_t keep_alive_ = MQTT_KEEPALIVE;
    uint16_t socket_timeout_ = MQTT_SOCKET_TIMEOUT;
    uint16_t next_msg_id_ = 0;
    unsigned long last_out_activity_ = 0;
    unsigned long last_in_activity_ = 0;
    bool ping_outstanding_ = false;
    std::function<void(char*, uint8_t*, unsigned int)> callback_;
    IPAddress ip_;
    const char* domain_ = nullptr;
    uint16_t port_ = 0;
    int state_ = MQTT_DISCONNECTED;
};

#endif
