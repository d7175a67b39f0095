#pragma once
// `moth passwd`: mosquitto_passwd's flags, messages and exit codes for Mosquitto-format password files, writing
// argon2id by default (-H sha512-pbkdf2 for entries Mosquitto reads), plus `--check` to test a password.
#include <string>
#include <vector>

namespace moth::cli {

// `args` are the words after "passwd". Returns the process exit code.
[[nodiscard]] int run_passwd(const std::vector<std::string>& args);

}  // namespace moth::cli
