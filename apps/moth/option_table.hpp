#pragma once
// Inside the option parser (options.cpp): which options take a value, the words as regrouped for CLI11, and the
// CLI11 declarations (flags, --help text). mosquitto's clients do not parse getopt style: every option that takes
// a value takes the next word, whatever it looks like ("-m -5" publishes "-5"), and -D takes three or four words.
// So the words are first regrouped (value options taken out with their values, -D whole), then CLI11 does the
// rest: flags, duplicates, unknown options and --help text.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "options.hpp"

namespace CLI {
class App;
}

namespace moth::cli {

// The command line before it is checked: each value option's last value (as the word was given), and what
// CLI11 set for the flags.
struct RawOptions {
    std::map<std::string, std::vector<std::string>> values;  // value options by long name, in order
    std::vector<std::string> words;                          // everything else, for CLI11

    std::string host, port, url, unix_socket, bind_address, id, id_prefix, username, password, keepalive, version,
        session_expiry, will_topic, will_payload, will_qos, qos, message, file, repeat, repeat_delay, max_inflight,
        format, count, timeout, response_topic, single_topic, auth_method;
    std::vector<std::string> topics, filter_out, unsub;
    bool will_retain = false, nodelay = false, stdin_whole = false, stdin_lines = false, null_message = false,
         verbose = false, no_eol = false, json = false, persistent = false;
    int debug = 0;

    [[nodiscard]] bool has(const char* key) const { return values.count(key) > 0; }
    [[nodiscard]] std::string last(const char* key) const {
        const auto it = values.find(key);
        return it == values.end() ? std::string() : it->second.back();
    }
};

// Step 1: sorts `args` into raw.values and raw.words, and applies each -D to o.props. Returns the error text
// (without the usage hint) for a value option without its value or a bad -D.
[[nodiscard]] std::optional<std::string> regroup(Tool tool, const std::vector<std::string>& args, Options& o,
                                                 RawOptions& raw);

// Step 2: declares `tool`'s options on `app`, bound to `raw` and `o`. Value options are declared for the help
// text only: their values come from raw.values (take_values).
void declare_options(CLI::App& app, Tool tool, RawOptions& raw, Options& o);

// After CLI11 has parsed raw.words: the value options' last values into `raw` and `o`.
void take_values(RawOptions& raw, Options& o);

}  // namespace moth::cli
