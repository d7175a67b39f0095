#pragma once
// VerifyPool: password verification (slow on purpose: PBKDF2, argon2id) on a few threads of its own, so that no
// network worker ever runs a hash. A worker submits (user, password, encoded hash, done) and gets on with its other
// connections; `done(ok)` comes later on a pool thread, and the worker posts the decision back to itself.
//
// A reconnect storm costs one hash per user, not one per connect:
//   - successful verifications are cached, keyed by (user, SHA-256 of the password, encoded hash); a hit answers in
//     submit() itself. The key holds the encoded hash, so an entry can only match while the file still holds that
//     very hash: clear() on reload frees memory, correctness does not depend on it. Failures are never cached (a
//     wrong-password flood cannot fill the cache, and a corrected password works at once).
//   - a submit whose key equals a job already queued or running joins that job instead of queuing another.
//
// Thread-safety: submit() and clear() may be called from any thread, concurrently. `done` runs exactly once per
// accepted submit, without any pool lock held (so it may submit again), on:
//   - the submitting thread, inside submit(), on a cache hit;
//   - a pool thread, when the job ran;
//   - the destroying thread, with false, for jobs that were still waiting when the pool was destroyed.
// `done` must not throw (it may run on a pool thread). The destructor must not run on a pool thread (from inside a
// `done`); it waits for running jobs to finish.
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

namespace moth::auth {

class VerifyPool {
public:
    using Done = std::function<void(bool ok)>;
    // The check itself; verify_password by default. Tests put a controllable one in.
    using Verifier = std::function<bool(std::string_view encoded, std::string_view password)>;

    struct Options {
        std::size_t threads = 2;
        std::size_t max_queued = 1024;       // jobs waiting for a thread; more is refused (the CONNECT: server busy)
        std::size_t cache_entries = 10'000;  // successful verifications remembered, least recently used dropped
        Verifier verifier;                   // empty: verify_password
        // A job whose newest submit is older than this when a thread gets to it is answered false without hashing:
        // the connect timeout has closed every connection waiting for it (a storm must not leave the pool hashing
        // for clients long gone). Zero: every job is checked.
        std::chrono::steady_clock::duration max_wait{};
        // The pool's threads run at this nice value (Linux: per thread), so that a storm of logins takes the CPU
        // the network workers leave over instead of delaying their messages. 0: the process's own priority.
        int nice = 0;
    };

    VerifyPool();
    explicit VerifyPool(Options options);
    ~VerifyPool();
    VerifyPool(const VerifyPool&) = delete;
    VerifyPool& operator=(const VerifyPool&) = delete;

    // Verifies `password` against `encoded` for `username`. Returns false, calling nothing, when max_queued jobs
    // are already waiting (a submit that joins an identical waiting job, or hits the cache, is always accepted).
    [[nodiscard]] bool submit(std::string username, std::string password, std::string encoded, Done done);

    // Forgets every cached success (the password file was reloaded). Jobs in flight are not affected.
    void clear();

    // For metrics and tests.
    [[nodiscard]] std::size_t queued() const;
    [[nodiscard]] std::size_t cached() const;
    [[nodiscard]] std::size_t skipped() const;  // jobs answered false unchecked (max_wait)

private:
    struct Job {
        std::string key;
        std::string password;
        std::string encoded;
        std::vector<Done> waiters;
        std::chrono::steady_clock::time_point latest;  // the newest submit for this job
    };

    void run();
    void remember(const std::string& key);              // needs mutex_
    [[nodiscard]] bool lookup(const std::string& key);  // needs mutex_

    Options options_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::deque<std::shared_ptr<Job>> queue_;
    std::unordered_map<std::string, std::shared_ptr<Job>> pending_;  // queued or running, by key
    std::list<std::string> lru_;                                     // most recent first
    std::unordered_map<std::string, std::list<std::string>::iterator> cache_;
    std::vector<std::thread> threads_;
    std::size_t skipped_ = 0;
};

}  // namespace moth::auth
