// PubSubClient 2.8's behaviour over our Client: the same packet layout, buffer limits, states and timings.
#include "PubSubClient.h"

#include <cstdlib>
#include <cstring>

#include "WiFiClient.h"
#include "arduino/device.hpp"

using moth::arduino::current_device;
using moth::arduino::Device;

namespace {

Device& dev(void* p) { return *static_cast<Device*>(p); }

// Waits (real time) for the client to have data, at most a few ms, so the blocking reads of the library do not
// spin; `millis()` deadlines stay the library's.
void wait_a_little(Client* client, Device& device) {
    if (auto* wifi = dynamic_cast<WiFiClient*>(client); wifi != nullptr) {
        wifi->wait_readable(5);
        return;
    }
    device.delay(1.0);
}

}  // namespace

PubSubClient::PubSubClient() : device_(&current_device()) {
    setBufferSize(MQTT_MAX_PACKET_SIZE);
    dev(device_).add_mqtt(this);
}

PubSubClient::PubSubClient(Client& client) : PubSubClient() { setClient(client); }

PubSubClient::PubSubClient(IPAddress addr, uint16_t port, Client& client) : PubSubClient() {
    setServer(addr, port);
    setClient(client);
}

PubSubClient::PubSubClient(IPAddress addr, uint16_t port, MQTT_CALLBACK_SIGNATURE, Client& client)
    : PubSubClient(addr, port, client) {
    setCallback(std::move(callback));
}

PubSubClient::PubSubClient(uint8_t* ip, uint16_t port, Client& client) : PubSubClient() {
    setServer(ip, port);
    setClient(client);
}

PubSubClient::PubSubClient(uint8_t* ip, uint16_t port, MQTT_CALLBACK_SIGNATURE, Client& client)
    : PubSubClient(ip, port, client) {
    setCallback(std::move(callback));
}

PubSubClient::PubSubClient(const char* domain, uint16_t port, Client& client) : PubSubClient() {
    setServer(domain, port);
    setClient(client);
}

PubSubClient::PubSubClient(const char* domain, uint16_t port, MQTT_CALLBACK_SIGNATURE, Client& client)
    : PubSubClient(domain, port, client) {
    setCallback(std::move(callback));
}

PubSubClient::~PubSubClient() {
    dev(device_).remove_mqtt(this);
    std::free(buffer_);
}

PubSubClient& PubSubClient::setServer(IPAddress ip, uint16_t port) {
    ip_ = ip;
    port_ = port;
    domain_ = nullptr;
    return *this;
}

PubSubClient& PubSubClient::setServer(uint8_t* ip, uint16_t port) { return setServer(IPAddress(ip), port); }

PubSubClient& PubSubClient::setServer(const char* domain, uint16_t port) {
    domain_ = domain;
    port_ = port;
    return *this;
}

PubSubClient& PubSubClient::setCallback(MQTT_CALLBACK_SIGNATURE) {
    callback_ = std::move(callback);
    return *this;
}

PubSubClient& PubSubClient::setClient(Client& client) {
    client_ = &client;
    return *this;
}

PubSubClient& PubSubClient::setStream(Stream&) { return *this; }

PubSubClient& PubSubClient::setKeepAlive(uint16_t keep_alive) {
    keep_alive_ = keep_alive;
    return *this;
}

PubSubClient& PubSubClient::setSocketTimeout(uint16_t timeout) {
    socket_timeout_ = timeout;
    return *this;
}

bool PubSubClient::setBufferSize(uint16_t size) {
    if (size == 0) return false;  // the library refuses it; EspMQTTClient reports "failed to set"
    auto* grown = static_cast<uint8_t*>(std::realloc(buffer_, size));
    if (grown == nullptr) return false;
    buffer_ = grown;
    buffer_size_ = size;
    return true;
}

uint16_t PubSubClient::getBufferSize() { return buffer_size_; }

bool PubSubClient::connect(const char* id) { return connect(id, nullptr, nullptr, nullptr, 0, false, nullptr, true); }

bool PubSubClient::connect(const char* id, const char* user, const char* pass) {
    return connect(id, user, pass, nullptr, 0, false, nullptr, true);
}

bool PubSubClient::connect(const char* id, const char* will_topic, uint8_t will_qos, bool will_retain,
                           const char* will_message) {
    return connect(id, nullptr, nullptr, will_topic, will_qos, will_retain, will_message, true);
}

bool PubSubClient::connect(const char* id, const char* user, const char* pass, const char* will_topic,
                           uint8_t will_qos, bool will_retain, const char* will_message) {
    return connect(id, user, pass, will_topic, will_qos, will_retain, will_message, true);
}

bool PubSubClient::connect_client() {
    if (client_ == nullptr) return false;
    if (domain_ != nullptr) return client_->connect(domain_, port_) == 1;
    return client_->connect(ip_, port_) == 1;
}

bool PubSubClient::connect(const char* id_in, const char* user, const char* pass, const char* will_topic,
                           uint8_t will_qos, bool will_retain, const char* will_message, bool clean_session) {
    if (connected()) return true;
    auto& device = dev(device_);
    device.name_from(id_in);
    const std::string id = device.client_id_for(id_in);
    if (!connect_client()) {
        state_ = MQTT_CONNECT_FAILED;
        return false;
    }
    next_msg_id_ = 1;
    uint16_t length = MQTT_MAX_HEADER_SIZE;
    const uint8_t header[] = {0x00, 0x04, 'M', 'Q', 'T', 'T', MQTT_VERSION};
    for (uint8_t b : header) buffer_[length++] = b;

    uint8_t flags = 0;
    if (will_topic != nullptr) {
        flags = static_cast<uint8_t>(0x04 | (will_qos << 3) | (will_retain ? 0x20 : 0));
    }
    if (clean_session) flags |= 0x02;
    if (user != nullptr) {
        flags |= 0x80;
        if (pass != nullptr) flags |= 0x40;
    }
    buffer_[length++] = flags;
    buffer_[length++] = static_cast<uint8_t>(keep_alive_ >> 8);
    buffer_[length++] = static_cast<uint8_t>(keep_alive_ & 0xff);

    // Like the library: a string that does not fit the buffer drops the connection attempt.
    const auto fits = [&](const char* s) { return length + 2 + std::strlen(s) <= buffer_size_; };
    const auto add = [&](const char* s) {
        if (!fits(s)) {
            client_->stop();
            return false;
        }
        length = write_string(s, buffer_, length);
        return true;
    };
    if (!add(id.c_str())) return false;
    if (will_topic != nullptr) {
        if (!add(will_topic) || !add(will_message != nullptr ? will_message : "")) return false;
    }
    if (user != nullptr) {
        if (!add(user)) return false;
        if (pass != nullptr && !add(pass)) return false;
    }
    write_packet(MQTTCONNECT, buffer_, static_cast<uint16_t>(length - MQTT_MAX_HEADER_SIZE));

    last_in_activity_ = last_out_activity_ = millis();
    while (client_->available() == 0) {
        if (millis() - last_in_activity_ >= socket_timeout_ * 1000UL || !client_->connected()) {
            state_ = client_->connected() ? MQTT_CONNECTION_TIMEOUT : MQTT_CONNECT_FAILED;
            client_->stop();
            return false;
        }
        wait_a_little(client_, device);
    }
    uint8_t llen = 0;
    const uint32_t len = read_packet(&llen);
    if (len == 4) {
        if (buffer_[3] == 0) {
            last_in_activity_ = millis();
            ping_outstanding_ = false;
            state_ = MQTT_CONNECTED;
            return true;
        }
        state_ = buffer_[3];
    } else {
        state_ = MQTT_CONNECT_FAILED;
    }
    client_->stop();
    return false;
}

bool PubSubClient::read_byte(uint8_t* result) {
    const unsigned long previous = millis();
    while (client_->available() == 0) {
        if (millis() - previous >= socket_timeout_ * 1000UL || !client_->connected()) return false;
        wait_a_little(client_, dev(device_));
    }
    const int c = client_->read();
    if (c < 0) return false;
    *result = static_cast<uint8_t>(c);
    return true;
}

// Reads one packet into the buffer; returns its length (0: nothing, or a packet bigger than the buffer, which
// is read to its end and dropped, as the library does).
uint32_t PubSubClient::read_packet(uint8_t* length_length) {
    uint32_t len = 0;
    if (!read_byte(&buffer_[len++])) return 0;
    const bool is_publish = (buffer_[0] & 0xF0) == MQTTPUBLISH;
    uint32_t multiplier = 1;
    uint32_t length = 0;
    uint8_t digit = 0;
    uint32_t start = 0;
    do {
        if (len == 5) {  // more than 4 length bytes: invalid
            state_ = MQTT_DISCONNECTED;
            client_->stop();
            return 0;
        }
        if (!read_byte(&digit)) return 0;
        buffer_[len++] = digit;
        length += (digit & 127) * multiplier;
        multiplier <<= 7;
    } while ((digit & 128) != 0);
    *length_length = static_cast<uint8_t>(len - 1);

    if (is_publish) {
        // Read the topic length first, to know where the payload starts.
        if (!read_byte(&buffer_[len++]) || !read_byte(&buffer_[len++])) return 0;
        start = 2;
    }
    for (uint32_t i = start; i < length; ++i) {
        if (!read_byte(&digit)) return 0;
        if (len < buffer_size_) buffer_[len] = digit;
        ++len;
    }
    return len > buffer_size_ ? 0 : len;  // too big for the buffer: dropped
}

bool PubSubClient::loop() {
    if (!connected()) return false;
    const unsigned long t = millis();
    if (keep_alive_ != 0 &&
        (t - last_in_activity_ > keep_alive_ * 1000UL || t - last_out_activity_ > keep_alive_ * 1000UL)) {
        if (ping_outstanding_) {
            state_ = MQTT_CONNECTION_TIMEOUT;
            client_->stop();
            return false;
        }
        buffer_[0] = MQTTPINGREQ;
        buffer_[1] = 0;
        client_->write(buffer_, 2);
        last_out_activity_ = t;
        last_in_activity_ = t;
        ping_outstanding_ = true;
    }
    if (client_->available() > 0) {
        uint8_t llen = 0;
        const uint32_t len = read_packet(&llen);
        if (len > 0) {
            last_in_activity_ = t;
            const uint8_t type = buffer_[0] & 0xF0;
            if (type == MQTTPUBLISH) {
                if (callback_) {
                    const uint16_t tl = static_cast<uint16_t>((buffer_[llen + 1] << 8) + buffer_[llen + 2]);
                    std::memmove(buffer_ + llen + 2, buffer_ + llen + 3, tl);  // shift the topic for its '\0'
                    buffer_[llen + 2 + tl] = 0;
                    char* topic = reinterpret_cast<char*>(buffer_ + llen + 2);
                    if ((buffer_[0] & 0x06) == MQTTQOS1) {
                        const uint16_t msg_id =
                            static_cast<uint16_t>((buffer_[llen + 3 + tl] << 8) + buffer_[llen + 3 + tl + 1]);
                        uint8_t* payload = buffer_ + llen + 3 + tl + 2;
                        callback_(topic, payload, len - llen - 3 - tl - 2);
                        uint8_t ack[4] = {MQTTPUBACK, 2, static_cast<uint8_t>(msg_id >> 8),
                                          static_cast<uint8_t>(msg_id & 0xff)};
                        client_->write(ack, 4);
                        last_out_activity_ = t;
                    } else {
                        uint8_t* payload = buffer_ + llen + 3 + tl;
                        callback_(topic, payload, len - llen - 3 - tl);
                    }
                }
            } else if (type == MQTTPINGREQ) {
                buffer_[0] = MQTTPINGRESP;
                buffer_[1] = 0;
                client_->write(buffer_, 2);
            } else if (type == MQTTPINGRESP) {
                ping_outstanding_ = false;
            }
        } else if (!connected()) {
            return false;
        }
    }
    return true;
}

bool PubSubClient::publish(const char* topic, const char* payload) {
    return publish(topic, reinterpret_cast<const uint8_t*>(payload),
                   payload != nullptr ? static_cast<unsigned int>(strnlen(payload, buffer_size_)) : 0, false);
}

bool PubSubClient::publish(const char* topic, const char* payload, bool retained) {
    return publish(topic, reinterpret_cast<const uint8_t*>(payload),
                   payload != nullptr ? static_cast<unsigned int>(strnlen(payload, buffer_size_)) : 0, retained);
}

bool PubSubClient::publish(const char* topic, const uint8_t* payload, unsigned int plength) {
    return publish(topic, payload, plength, false);
}

bool PubSubClient::publish(const char* topic, const uint8_t* payload, unsigned int plength, bool retained) {
    if (!connected()) return false;
    if (buffer_size_ < MQTT_MAX_HEADER_SIZE + 2 + strnlen(topic, buffer_size_) + plength) return false;  // too long
    uint16_t length = write_string(topic, buffer_, MQTT_MAX_HEADER_SIZE);
    for (unsigned int i = 0; i < plength; ++i) buffer_[length++] = payload[i];
    const uint8_t header = static_cast<uint8_t>(MQTTPUBLISH | (retained ? 1 : 0));
    return write_packet(header, buffer_, static_cast<uint16_t>(length - MQTT_MAX_HEADER_SIZE));
}

bool PubSubClient::publish_P(const char* topic, const char* payload, bool retained) {
    return publish(topic, payload, retained);
}

bool PubSubClient::publish_P(const char* topic, const uint8_t* payload, unsigned int plength, bool retained) {
    return publish(topic, payload, plength, retained);
}

bool PubSubClient::beginPublish(const char* topic, unsigned int plength, bool retained) {
    if (!connected()) return false;
    const uint16_t tlen = static_cast<uint16_t>(std::strlen(topic));
    uint8_t header[MQTT_MAX_HEADER_SIZE + 2];
    size_t hlen = build_header(static_cast<uint8_t>(MQTTPUBLISH | (retained ? 1 : 0)), header,
                               static_cast<uint16_t>(plength + 2 + tlen));
    uint8_t start[MQTT_MAX_HEADER_SIZE + 2];
    std::memcpy(start, header, hlen);
    start[hlen++] = static_cast<uint8_t>(tlen >> 8);
    start[hlen++] = static_cast<uint8_t>(tlen & 0xff);
    size_t rc = client_->write(start, hlen);
    rc += client_->write(reinterpret_cast<const uint8_t*>(topic), tlen);
    last_out_activity_ = millis();
    return rc == hlen + tlen;
}

int PubSubClient::endPublish() { return 1; }

size_t PubSubClient::write(uint8_t data) {
    last_out_activity_ = millis();
    return client_ != nullptr ? client_->write(data) : 0;
}

size_t PubSubClient::write(const uint8_t* buffer, size_t size) {
    last_out_activity_ = millis();
    return client_ != nullptr ? client_->write(buffer, size) : 0;
}

size_t PubSubClient::build_header(uint8_t header, uint8_t* buf, uint16_t length) {
    uint8_t lenbuf[4];
    uint8_t llen = 0;
    uint16_t len = length;
    do {
        uint8_t digit = len & 127;
        len = static_cast<uint16_t>(len >> 7);
        if (len > 0) digit |= 0x80;
        lenbuf[llen++] = digit;
    } while (len > 0);
    buf[0] = header;
    for (int i = 0; i < llen; ++i) buf[1 + i] = lenbuf[i];
    return llen + 1u;
}

// The packet's body starts at buf + MQTT_MAX_HEADER_SIZE; its fixed header is written right before it.
bool PubSubClient::write_packet(uint8_t header, uint8_t* buf, uint16_t length) {
    uint8_t hdr[MQTT_MAX_HEADER_SIZE];
    const size_t hlen = build_header(header, hdr, length);
    uint8_t* start = buf + (MQTT_MAX_HEADER_SIZE - hlen);
    std::memcpy(start, hdr, hlen);
    const size_t rc = client_->write(start, length + hlen);
    last_out_activity_ = millis();
    return rc == length + hlen;
}

uint16_t PubSubClient::write_string(const char* string, uint8_t* buf, uint16_t pos) {
    const uint16_t start = pos;
    pos = static_cast<uint16_t>(pos + 2);
    uint16_t i = 0;
    for (const char* p = string; *p != '\0' && pos < buffer_size_; ++p, ++i) buf[pos++] = static_cast<uint8_t>(*p);
    buf[start] = static_cast<uint8_t>(i >> 8);
    buf[start + 1] = static_cast<uint8_t>(i & 0xff);
    return pos;
}

bool PubSubClient::subscribe(const char* topic) { return subscribe(topic, 0); }

bool PubSubClient::subscribe(const char* topic, uint8_t qos) {
    if (qos > 1) return false;
    if (buffer_size_ < 9 + strnlen(topic, buffer_size_)) return false;  // too long
    if (!connected()) return false;
    uint16_t length = MQTT_MAX_HEADER_SIZE;
    if (++next_msg_id_ == 0) next_msg_id_ = 1;
    buffer_[length++] = static_cast<uint8_t>(next_msg_id_ >> 8);
    buffer_[length++] = static_cast<uint8_t>(next_msg_id_ & 0xff);
    length = write_string(topic, buffer_, length);
    buffer_[length++] = qos;
    return write_packet(MQTTSUBSCRIBE | MQTTQOS1, buffer_, static_cast<uint16_t>(length - MQTT_MAX_HEADER_SIZE));
}

bool PubSubClient::unsubscribe(const char* topic) {
    if (buffer_size_ < 9 + strnlen(topic, buffer_size_)) return false;
    if (!connected()) return false;
    uint16_t length = MQTT_MAX_HEADER_SIZE;
    if (++next_msg_id_ == 0) next_msg_id_ = 1;
    buffer_[length++] = static_cast<uint8_t>(next_msg_id_ >> 8);
    buffer_[length++] = static_cast<uint8_t>(next_msg_id_ & 0xff);
    length = write_string(topic, buffer_, length);
    return write_packet(MQTTUNSUBSCRIBE | MQTTQOS1, buffer_, static_cast<uint16_t>(length - MQTT_MAX_HEADER_SIZE));
}

void PubSubClient::disconnect() {
    buffer_[0] = MQTTDISCONNECT;
    buffer_[1] = 0;
    if (client_ != nullptr) {
        client_->write(buffer_, 2);
        client_->flush();
        client_->stop();
    }
    state_ = MQTT_DISCONNECTED;
    last_in_activity_ = last_out_activity_ = millis();
}

bool PubSubClient::connected() {
    if (client_ == nullptr) return false;
    if (client_->connected() == 0) {
        if (state_ == MQTT_CONNECTED) {
            state_ = MQTT_CONNECTION_LOST;
            client_->flush();
            client_->stop();
        }
        return false;
    }
    return state_ == MQTT_CONNECTED;
}

int PubSubClient::state() { return state_; }
