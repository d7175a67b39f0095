#include "support/mothd_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <system_error>
#include <thread>

extern char** environ;

namespace moth::test {
namespace {

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

std::filesystem::path make_temp_dir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "mothd-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
        throw std::system_error(errno, std::generic_category(), "mkdtemp " + pattern);
    }
    return pattern;
}

// Polls `done` until it returns true or `deadline` passes, backing off from 1 ms to 50 ms between polls.
template <typename Predicate>
bool poll_until(MothdProcess::Clock::time_point deadline, Predicate done) {
    auto pause = std::chrono::milliseconds(1);
    while (true) {
        if (done()) {
            return true;
        }
        const auto now = MothdProcess::Clock::now();
        if (now >= deadline) {
            return false;
        }
        std::this_thread::sleep_for(std::min<MothdProcess::Clock::duration>(pause, deadline - now));
        pause = std::min(pause * 2, std::chrono::milliseconds(50));
    }
}

void check_spawn(int rc, const char* what) {
    if (rc != 0) {
        throw std::system_error(rc, std::generic_category(), what);
    }
}

}  // namespace

std::string ExitStatus::describe() const {
    if (exited) {
        return "exit code " + std::to_string(code);
    }
    return "killed by signal " + std::to_string(signal) + " (" + ::strsignal(signal) + ")";
}

MothdProcess::MothdProcess(std::filesystem::path binary, std::vector<std::string> args)
    : dir_(make_temp_dir()), stdout_path_(dir_ / "stdout.log"), stderr_path_(dir_ / "stderr.log") {
    std::vector<std::string> argv_storage;
    argv_storage.push_back(binary.string());
    argv_storage.insert(argv_storage.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& arg : argv_storage) {
        argv.push_back(arg.data());
    }
    argv.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    check_spawn(::posix_spawn_file_actions_init(&actions), "posix_spawn_file_actions_init");
    // No O_CLOEXEC here: these become the child's fds 0-2 and must survive the exec.
    const int flags = O_WRONLY | O_CREAT | O_TRUNC;
    int rc = ::posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    if (rc == 0) {
        rc = ::posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, stdout_path_.c_str(), flags, 0644);
    }
    if (rc == 0) {
        rc = ::posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, stderr_path_.c_str(), flags, 0644);
    }
    if (rc == 0) {
        rc = ::posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    }
    ::posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
        pid_ = -1;
        std::error_code ignored;
        std::filesystem::remove_all(dir_, ignored);
        throw std::system_error(rc, std::generic_category(), "posix_spawn " + argv_storage.front());
    }
}

MothdProcess::~MothdProcess() {
    if (pid_ > 0 && !exit_status_) {
        ::kill(pid_, SIGKILL);
        int status = 0;
        while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
        }
    }
    if (std::getenv("MOTH_KEEP_TEST_LOGS") == nullptr) {
        std::error_code ignored;
        std::filesystem::remove_all(dir_, ignored);
    }
}

bool MothdProcess::try_reap() {
    if (exit_status_) {
        return true;
    }
    int status = 0;
    pid_t rc = 0;
    do {
        rc = ::waitpid(pid_, &status, WNOHANG);
    } while (rc < 0 && errno == EINTR);
    if (rc == 0) {
        return false;
    }
    if (rc < 0) {
        throw std::system_error(errno, std::generic_category(), "waitpid");
    }
    ExitStatus exit;
    if (WIFEXITED(status)) {
        exit.exited = true;
        exit.code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        exit.signal = WTERMSIG(status);
    }
    exit_status_ = exit;
    return true;
}

bool MothdProcess::running() { return !try_reap(); }

bool MothdProcess::wait_for_log(std::string_view needle, std::chrono::milliseconds timeout) {
    bool found = false;
    poll_until(Clock::now() + timeout, [&] {
        // Check for exit first, then read: output written just before exiting is still seen.
        const bool exited = try_reap();
        found = read_file(stderr_path_).find(needle) != std::string::npos;
        return found || exited;
    });
    return found;
}

void MothdProcess::send_signal(int signo) {
    if (exit_status_) {
        throw std::system_error(ESRCH, std::generic_category(), "mothd already exited, cannot signal it");
    }
    if (::kill(pid_, signo) != 0) {
        throw std::system_error(errno, std::generic_category(), "kill");
    }
}

std::optional<ExitStatus> MothdProcess::wait_for_exit(std::chrono::milliseconds timeout) {
    poll_until(Clock::now() + timeout, [&] { return try_reap(); });
    return exit_status_;
}

std::string MothdProcess::stderr_text() const { return read_file(stderr_path_); }

std::string MothdProcess::stdout_text() const { return read_file(stdout_path_); }

}  // namespace moth::test
