#pragma once
// Inside the output formatter: %j and %J of -F (format.cpp), which print the message as one JSON object the way
// mosquitto_sub 2.0.11 prints it through cJSON (number formats, tabs in --pretty layout, key order).
#include <string>

#include "format.hpp"

namespace moth::cli {

// Appends the object for `m` received at `when` to `out`: %j (`escaped`: the payload as a JSON string) or %J (the
// payload parsed as JSON and embedded). Returns false, appending nothing, when %J's payload is not JSON.
bool mosquitto_json(std::string& out, const Message& m, const Timestamp& when, bool escaped, bool pretty);

}  // namespace moth::cli
