// What the config tests share: a config parsed from text, its errors as the lines mothd prints.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace moth::config::test {

using Strings = std::vector<std::string>;

inline Strings messages(const std::vector<ConfigError>& errors) {
    Strings out;
    for (const auto& e : errors) out.push_back(e.to_string());
    return out;
}

// The errors of `text` as "t.toml:line: key: message".
inline Strings parse_errors(std::string_view text) { return messages(parse_config(text, "t.toml").errors); }

// `text` parsed; a failure of the test when it has errors.
inline Config parse_ok(std::string_view text) {
    LoadResult r = parse_config(text, "t.toml");
    EXPECT_TRUE(r.ok()) << testing::PrintToString(messages(r.errors));
    return r.config;
}

}  // namespace moth::config::test
