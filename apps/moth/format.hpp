#pragma once
// Output of received messages, byte for byte as mosquitto_sub 2.0.11 prints them: payload only (the default),
// -v ("topic payload"), -F format strings, and moth's own --json (one object per line).
#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

#include <moth/client.hpp>

namespace moth::cli {

enum class OutputMode : std::uint8_t { Payload, Verbose, Format, Json };

struct OutputOptions {
    OutputMode mode = OutputMode::Payload;
    std::string format;  // -F, already checked with check_format()
    bool eol = true;     // false with -N
    bool pretty = false; // --pretty: indented %j/%J and --json
};

// When the message arrived. Local time is used for %I, %j, %J and @ specifiers, as mosquitto_sub does.
struct Timestamp {
    std::time_t seconds = 0;
    long nanoseconds = 0;
    [[nodiscard]] static Timestamp now();
};

// Checks a -F format string the way mosquitto_sub does before it connects. Returns the error text
// ("Invalid format specifier 'z'.") or nullopt when the format is usable.
[[nodiscard]] std::optional<std::string> check_format(std::string_view format);

// Appends what mosquitto_sub would print for `message` to `out` (including the end of line unless -N);
// problems (a %J payload that is not JSON) are appended to `err`, one line each.
void render(const OutputOptions& options, const Message& message, const Timestamp& when, std::string& out,
            std::string& err);

// moth's --json line (without the newline): topic, payload as text when it is valid UTF-8, else base64 with
// "encoding":"base64", qos, retain, and the MQTT 5.0 properties when there are any.
[[nodiscard]] std::string to_json(const Message& message, bool pretty);

}  // namespace moth::cli
