// The options of `moth device` (and of a program built with moth_add_sketch) that shape the devices.
#include <charconv>
#include <cmath>
#include <string>
#include <string_view>

#include "arduino/device.hpp"

namespace moth::arduino {
namespace {

bool parse_double(std::string_view s, double& out) {
    if (s.empty()) return false;
    const std::string copy(s);
    char* end = nullptr;
    out = std::strtod(copy.c_str(), &end);
    return end != copy.c_str() && *end == '\0' && std::isfinite(out);
}

template <typename T>
bool parse_unsigned(std::string_view s, T& out) {
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size();
}

std::string parse_sensor(SensorOptions& sensor, std::string_view kv) {
    const auto eq = kv.find('=');
    if (eq == std::string_view::npos) return "--sensor expects KEY=VALUE, got '" + std::string(kv) + "'";
    const std::string_view key = kv.substr(0, eq);
    const std::string_view value = kv.substr(eq + 1);
    if (key == "csv") {
        if (value.empty()) return "--sensor csv= needs a file name";
        sensor.csv = std::string(value);
        return {};
    }
    if (key != "temperature" && key != "humidity" && key != "noise" && key != "drift" && key != "drift-period" &&
        key != "failure-rate") {
        return "unknown --sensor key '" + std::string(key) +
               "' (temperature, humidity, noise, drift, drift-period, failure-rate, csv)";
    }
    double v = 0;
    if (!parse_double(value, v)) return "--sensor " + std::string(key) + ": '" + std::string(value) + "' is not a number";
    if (key == "temperature") {
        sensor.temperature = v;
    } else if (key == "humidity") {
        if (v < 0 || v > 100) return "--sensor humidity must be within 0..100";
        sensor.humidity = v;
    } else if (key == "noise") {
        if (v < 0) return "--sensor noise must not be negative";
        sensor.noise = v;
    } else if (key == "drift") {
        if (v < 0) return "--sensor drift must not be negative";
        sensor.drift = v;
    } else if (key == "drift-period") {
        if (v <= 0) return "--sensor drift-period must be positive";
        sensor.drift_period_s = v;
    } else if (key == "failure-rate") {
        if (v < 0 || v > 1) return "--sensor failure-rate must be within 0..1";
        sensor.failure_rate = v;
    } else {
        return "unknown --sensor key '" + std::string(key) +
               "' (temperature, humidity, noise, drift, drift-period, failure-rate, csv)";
    }
    return {};
}

}  // namespace

std::string device_options_help() {
    return "Device options:\n"
           "  --broker HOST[:PORT]     connect to HOST:PORT (default port 1883) instead of the broker the sketch names\n"
           "  --client-id ID           MQTT client id instead of the sketch's\n"
           "  --count N                run a fleet of N devices in this process; ids get -0001, -0002, ...\n"
           "  --speed X                run simulated time X times faster (millis, delay, keepalive, retry delays)\n"
           "  --duration SECONDS       stop after this many (real) seconds\n"
           "  --sensor KEY=VALUE       simulated DHT: temperature=22 humidity=45 noise=0.3 drift=1 drift-period=600\n"
           "                           failure-rate=0 (0..1), csv=FILE (lines: seconds,temperature,humidity)\n"
           "  --seed N                 seed of the random generators (device i uses N+i; default: the clock)\n"
           "  --disconnect-on-exit     on stop, send DISCONNECT (no will); default: cut the power (the will is sent)\n"
           "  --no-pin-log             do not log pinMode/digitalWrite on standard error\n"
           "  --stack KIB              stack size of each device's thread\n";
}

std::string parse_device_options(const std::vector<std::string>& args, DeviceOptions& o,
                                 std::vector<std::string>& positional) {
    for (std::size_t i = 0; i < args.size(); ++i) {
        std::string name = args[i];
        std::string value;
        bool inline_value = false;
        if (name.rfind("--", 0) == 0) {
            if (const auto eq = name.find('='); eq != std::string::npos) {
                value = name.substr(eq + 1);
                name.resize(eq);
                inline_value = true;
            }
        } else {
            positional.push_back(name);
            continue;
        }
        const auto take = [&]() -> bool {
            if (inline_value) return true;
            if (i + 1 >= args.size()) return false;
            value = args[++i];
            return true;
        };
        if (name == "--disconnect-on-exit") {
            o.disconnect_on_exit = true;
        } else if (name == "--no-pin-log") {
            o.log_pins = false;
        } else if (name == "--broker" || name == "--client-id" || name == "--count" || name == "--speed" ||
                   name == "--duration" || name == "--sensor" || name == "--seed" || name == "--stack") {
            if (!take()) return name + " needs a value";
            if (name == "--broker") {
                std::string host = value;
                std::string port;
                if (!host.empty() && host[0] == '[') {  // [::1]:1883
                    const auto close = host.find(']');
                    if (close == std::string::npos) return "--broker: missing ']' in '" + value + "'";
                    if (close + 1 < host.size() && host[close + 1] == ':') port = host.substr(close + 2);
                    host = host.substr(1, close - 1);
                } else if (const auto colon = host.rfind(':'); colon != std::string::npos) {
                    port = host.substr(colon + 1);
                    host.resize(colon);
                }
                if (host.empty()) return "--broker: no host in '" + value + "'";
                o.broker_host = host;
                o.broker_port = 1883;
                if (!port.empty() && (!parse_unsigned(port, o.broker_port) || o.broker_port == 0)) {
                    return "--broker: bad port in '" + value + "'";
                }
            } else if (name == "--client-id") {
                if (value.empty()) return "--client-id must not be empty";
                o.client_id = value;
            } else if (name == "--count") {
                if (!parse_unsigned(value, o.count) || o.count == 0 || o.count > 100000) {
                    return "--count must be within 1..100000";
                }
            } else if (name == "--speed") {
                if (!parse_double(value, o.speed) || o.speed <= 0 || o.speed > 10000) {
                    return "--speed must be a number within (0, 10000]";
                }
            } else if (name == "--duration") {
                if (!parse_double(value, o.duration_s) || o.duration_s <= 0) return "--duration must be positive";
            } else if (name == "--sensor") {
                if (auto err = parse_sensor(o.sensor, value); !err.empty()) return err;
            } else if (name == "--seed") {
                if (!parse_unsigned(value, o.seed)) return "--seed must be a non-negative integer";
            } else if (name == "--stack") {
                if (!parse_unsigned(value, o.stack_kib) || o.stack_kib < 64) return "--stack must be at least 64 (KiB)";
            }
        } else {
            return "unknown option '" + args[i] + "'";
        }
    }
    return {};
}

}  // namespace moth::arduino
