#pragma once
// Grants (auth/grants.hpp) from JSON, as an HTTP hook's "acl" member and a JWT's acl claim carry them:
//   {"pub": ["devices/%c/#"], "sub": ["cmd/%c"], "all": ["shared/#"]}
// Every key is optional; each is an array of valid topic filters (no "$share/"). Anything else is an error: a rule
// the broker cannot read must not silently grant less (or more) than its author meant.
#include <optional>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "auth/grants.hpp"

namespace moth::auth {

// The grants `rules` describe (superuser false), or nullopt with `error` saying what is wrong ("sub[1]: not a valid
// topic filter").
[[nodiscard]] std::optional<Grants> grants_from_json(const nlohmann::json& rules, std::string& error);

}  // namespace moth::auth
