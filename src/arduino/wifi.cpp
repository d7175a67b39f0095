// WiFi that connects at once, and WiFiClient over a POSIX TCP socket.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "WiFi.h"
#include "WiFiClient.h"
#include "arduino/device.hpp"

using moth::arduino::current_device;
using moth::arduino::Device;

namespace {

Device& dev(void* p) { return *static_cast<Device*>(p); }

constexpr int kConnectTimeoutMs = 3000;  // the ESP32 WiFiClient's default

}  // namespace

WiFiClass WiFi;

wl_status_t WiFiClass::begin(const char* ssid, const char*, int32_t, const uint8_t*, bool connect) {
    auto& device = current_device();
    device.ssid = ssid != nullptr ? ssid : "";
    if (connect) device.wifi_status = WL_CONNECTED;
    return static_cast<wl_status_t>(device.wifi_status);
}

wl_status_t WiFiClass::begin() {
    current_device().wifi_status = WL_CONNECTED;
    return WL_CONNECTED;
}

bool WiFiClass::disconnect(bool, bool) {
    current_device().wifi_status = WL_DISCONNECTED;
    return true;
}

bool WiFiClass::reconnect() {
    current_device().wifi_status = WL_CONNECTED;
    return true;
}

wl_status_t WiFiClass::status() { return static_cast<wl_status_t>(current_device().wifi_status); }

bool WiFiClass::mode(wifi_mode_t mode) {
    current_device().wifi_mode = mode;
    return true;
}

wifi_mode_t WiFiClass::getMode() { return static_cast<wifi_mode_t>(current_device().wifi_mode); }

bool WiFiClass::setHostname(const char* hostname) {
    current_device().hostname = hostname != nullptr ? hostname : "";
    return true;
}

const char* WiFiClass::getHostname() { return current_device().hostname.c_str(); }

IPAddress WiFiClass::localIP() {
    auto& device = current_device();
    if (device.wifi_status != WL_CONNECTED) return IPAddress();
    const unsigned n = device.index() + 2;  // 10.77.0.2, 10.77.0.3, ...
    return IPAddress(10, 77, static_cast<uint8_t>(n / 256), static_cast<uint8_t>(n % 256));
}

IPAddress WiFiClass::gatewayIP() { return IPAddress(10, 77, 0, 1); }
IPAddress WiFiClass::subnetMask() { return IPAddress(255, 255, 0, 0); }
IPAddress WiFiClass::dnsIP(uint8_t) { return IPAddress(10, 77, 0, 1); }

String WiFiClass::macAddress() {
    const unsigned n = current_device().index();
    char buf[18];
    snprintf(buf, sizeof buf, "24:0A:C4:%02X:%02X:%02X", (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff);
    return String(buf);
}

String WiFiClass::SSID() { return String(current_device().ssid.c_str()); }
int32_t WiFiClass::RSSI() { return current_device().wifi_status == WL_CONNECTED ? -55 : 0; }

uint8_t WiFiClass::waitForConnectResult(unsigned long) { return static_cast<uint8_t>(status()); }

int WiFiClass::hostByName(const char* host, IPAddress& result) {
    addrinfo hints{};
    hints.ai_family = AF_INET;
    addrinfo* res = nullptr;
    if (host == nullptr || getaddrinfo(host, nullptr, &hints, &res) != 0 || res == nullptr) return 0;
    const auto* sin = reinterpret_cast<const sockaddr_in*>(res->ai_addr);
    result = IPAddress(static_cast<uint32_t>(sin->sin_addr.s_addr));
    freeaddrinfo(res);
    return 1;
}

// ---- WiFiClient ----------------------------------------------------------------------------------------------------

WiFiClient::WiFiClient() : device_(&current_device()) {}

WiFiClient::~WiFiClient() { stop(); }

int WiFiClient::connect(IPAddress ip, uint16_t port) { return connect(ip.toString().c_str(), port); }

int WiFiClient::connect(const char* host, uint16_t port) { return connect(host, port, kConnectTimeoutMs); }

int WiFiClient::connect(const char* host_in, uint16_t port_in, int32_t timeout_ms) {
    stop();
    auto& device = dev(device_);
    if (device.wifi_status != WL_CONNECTED) return 0;
    std::string host = host_in != nullptr ? host_in : "";
    uint16_t port = port_in;
    device.remap(host, port);

    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    const std::string service = std::to_string(port);
    if (const int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &res); rc != 0) {
        device.log("cannot resolve " + host + ": " + gai_strerror(rc));
        return 0;
    }
    int fd = -1;
    for (addrinfo* ai = res; ai != nullptr && fd < 0; ai = ai->ai_next) {
        fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) continue;
        int rc = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (rc != 0 && errno == EINPROGRESS) {
            pollfd p{fd, POLLOUT, 0};
            rc = ::poll(&p, 1, timeout_ms) == 1 ? 0 : -1;
            if (rc == 0) {
                int err = 0;
                socklen_t len = sizeof err;
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) rc = -1;
            }
        }
        if (rc != 0) {
            ::close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) return 0;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fd_ = fd;
    peeked_ = -1;
    peer_closed_ = false;
    device.add_socket(fd_);
    return 1;
}

size_t WiFiClient::write(uint8_t c) { return write(&c, 1); }

size_t WiFiClient::write(const uint8_t* buf, size_t size) {
    if (fd_ < 0) return 0;
    size_t done = 0;
    while (done < size) {
        const ssize_t n = ::send(fd_, buf + done, size - done, MSG_NOSIGNAL);
        if (n > 0) {
            done += static_cast<size_t>(n);
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            pollfd p{fd_, POLLOUT, 0};
            if (::poll(&p, 1, kConnectTimeoutMs) == 1) continue;
        } else if (n < 0 && errno == EINTR) {
            continue;
        }
        peer_closed_ = true;
        break;
    }
    return done;
}

int WiFiClient::available() {
    if (fd_ < 0) return 0;
    int n = 0;
    if (ioctl(fd_, FIONREAD, &n) != 0) n = 0;
    return n + (peeked_ >= 0 ? 1 : 0);
}

int WiFiClient::read() {
    uint8_t c = 0;
    return read(&c, 1) == 1 ? c : -1;
}

int WiFiClient::read(uint8_t* buf, size_t size) {
    if (fd_ < 0 || size == 0) return -1;
    size_t done = 0;
    if (peeked_ >= 0) {
        buf[done++] = static_cast<uint8_t>(peeked_);
        peeked_ = -1;
    }
    if (done < size) {
        const ssize_t n = ::recv(fd_, buf + done, size - done, MSG_DONTWAIT);
        if (n > 0) done += static_cast<size_t>(n);
        if (n == 0) peer_closed_ = true;
    }
    if (done > 0) dev(device_).note_received();
    return done > 0 ? static_cast<int>(done) : -1;
}

int WiFiClient::peek() {
    if (peeked_ < 0) {
        uint8_t c = 0;
        if (fd_ >= 0 && ::recv(fd_, &c, 1, MSG_DONTWAIT) == 1) peeked_ = c;
    }
    return peeked_;
}

void WiFiClient::stop() {
    if (fd_ < 0) return;
    dev(device_).remove_socket(fd_);
    ::close(fd_);
    fd_ = -1;
    peeked_ = -1;
}

uint8_t WiFiClient::connected() {
    if (fd_ < 0) return 0;
    if (available() > 0) return 1;  // like the ESP32: unread data keeps it "connected"
    if (peer_closed_) return 0;
    uint8_t c = 0;
    const ssize_t n = ::recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) {
        peer_closed_ = true;
        return 0;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        peer_closed_ = true;
        return 0;
    }
    return 1;
}

int WiFiClient::wait_readable(int timeout_ms) {
    if (fd_ < 0) return 0;
    return dev(device_).wait_readable(fd_, timeout_ms) ? 1 : 0;
}
