#pragma once
// MothdProcess: runs the real mothd binary for integration tests.
//
// The process's stdout and stderr go to files in a private temp directory, so a test can wait for a log line,
// signal the broker, and wait for its exit, each with a deadline. Waiting polls the log file or the process
// state with a short back-off until the condition holds or the deadline passes: no fixed sleeps stand in for
// synchronisation.
//
// Not thread-safe: one test thread owns an instance. The destructor kills (SIGKILL) and reaps a process that
// is still running, and removes the temp directory unless MOTH_KEEP_TEST_LOGS is set in the environment.

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace moth::test {

struct ExitStatus {
    bool exited = false;  // true: normal exit with `code`; false: killed by `signal`
    int code = -1;
    int signal = 0;

    [[nodiscard]] bool success() const { return exited && code == 0; }
    [[nodiscard]] std::string describe() const;  // "exit code 0", "killed by signal 9 (Killed)"
};

class MothdProcess {
public:
    using Clock = std::chrono::steady_clock;

    // Starts `binary` with `args` (argv[0] is added). Throws std::system_error if it cannot be spawned.
    explicit MothdProcess(std::filesystem::path binary, std::vector<std::string> args = {});
    ~MothdProcess();
    MothdProcess(const MothdProcess&) = delete;
    MothdProcess& operator=(const MothdProcess&) = delete;
    MothdProcess(MothdProcess&&) = delete;
    MothdProcess& operator=(MothdProcess&&) = delete;

    // True once stderr contains `needle`; false if the deadline passes or the process exits without it.
    [[nodiscard]] bool wait_for_log(std::string_view needle, std::chrono::milliseconds timeout);

    // Sends `signo` to the process. Throws std::system_error if it cannot (for instance, already reaped).
    void send_signal(int signo);

    // The exit status once the process has exited; std::nullopt if it is still running at the deadline.
    [[nodiscard]] std::optional<ExitStatus> wait_for_exit(std::chrono::milliseconds timeout);

    [[nodiscard]] bool running();
    [[nodiscard]] pid_t pid() const { return pid_; }
    [[nodiscard]] std::string stderr_text() const;
    [[nodiscard]] std::string stdout_text() const;
    [[nodiscard]] const std::filesystem::path& stderr_path() const { return stderr_path_; }

private:
    // Reaps the child without blocking if it has exited; returns true once it has.
    bool try_reap();

    pid_t pid_ = -1;
    std::optional<ExitStatus> exit_status_;
    std::filesystem::path dir_;
    std::filesystem::path stdout_path_;
    std::filesystem::path stderr_path_;
};

}  // namespace moth::test
