#include "auth/verify_pool.hpp"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <stdexcept>
#include <utility>

#include "auth/password_file.hpp"

namespace moth::auth {
namespace {

// (user, SHA-256 of the password, encoded hash) as one string. The user is length-prefixed and the digest has a
// fixed size, so two different triples never make the same key. The password itself is not kept.
std::string cache_key(std::string_view user, std::string_view password, std::string_view encoded) {
    unsigned char digest[32];
    unsigned int length = 0;
    if (EVP_Digest(password.data(), password.size(), digest, &length, EVP_sha256(), nullptr) != 1 || length != 32) {
        throw std::runtime_error("SHA-256 failed");
    }
    std::string key = std::to_string(user.size());
    key += ':';
    key += user;
    key.append(reinterpret_cast<const char*>(digest), length);
    key += encoded;
    return key;
}

}  // namespace

VerifyPool::VerifyPool() : VerifyPool(Options{}) {}

VerifyPool::VerifyPool(Options options) : options_(std::move(options)) {
    if (!options_.verifier)
        options_.verifier = [](std::string_view e, std::string_view p) { return verify_password(e, p); };
    if (options_.threads == 0) options_.threads = 1;
    threads_.reserve(options_.threads);
    for (std::size_t i = 0; i < options_.threads; ++i) threads_.emplace_back([this] { run(); });
}

VerifyPool::~VerifyPool() {
    std::deque<std::shared_ptr<Job>> abandoned;
    {
        const std::lock_guard lock(mutex_);
        stopping_ = true;
        abandoned.swap(queue_);
        for (const auto& job : abandoned) pending_.erase(job->key);
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
    for (const auto& job : abandoned) {
        for (auto& done : job->waiters) done(false);
    }
}

bool VerifyPool::submit(std::string username, std::string password, std::string encoded, Done done) {
    std::string key = cache_key(username, password, encoded);
    {
        std::unique_lock lock(mutex_);
        if (!lookup(key)) {
            if (const auto it = pending_.find(key); it != pending_.end()) {
                it->second->waiters.push_back(std::move(done));
                it->second->latest = std::chrono::steady_clock::now();
                return true;
            }
            if (stopping_ || queue_.size() >= options_.max_queued) return false;
            auto job = std::make_shared<Job>(
                Job{key, std::move(password), std::move(encoded), {}, std::chrono::steady_clock::now()});
            job->waiters.push_back(std::move(done));
            pending_.emplace(std::move(key), job);
            queue_.push_back(std::move(job));
            lock.unlock();
            wake_.notify_one();
            return true;
        }
    }
    done(true);
    return true;
}

void VerifyPool::run() {
    if (options_.nice != 0) {
        // Linux applies setpriority to the calling thread when given its thread id. Failing (e.g. not allowed to
        // lower a nice value) changes nothing but the priority: ignored.
        (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)), options_.nice);
    }
    for (;;) {
        std::shared_ptr<Job> job;
        bool stale = false;
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) return;  // stopping, and the destructor answers what was left
            job = std::move(queue_.front());
            queue_.pop_front();
            stale = options_.max_wait.count() > 0 && std::chrono::steady_clock::now() - job->latest > options_.max_wait;
            if (stale) ++skipped_;
        }
        bool ok = false;
        try {
            ok = !stale && options_.verifier(job->encoded, job->password);
        } catch (...) {
            ok = false;  // a failing hash library refuses the login rather than ending the process
        }
        std::vector<Done> waiters;
        {
            const std::lock_guard lock(mutex_);
            pending_.erase(job->key);
            waiters.swap(job->waiters);  // under the lock: submit() may have been appending until the erase
            if (ok) remember(job->key);
        }
        for (auto& done : waiters) done(ok);
    }
}

bool VerifyPool::lookup(const std::string& key) {
    const auto it = cache_.find(key);
    if (it == cache_.end()) return false;
    lru_.splice(lru_.begin(), lru_, it->second);
    return true;
}

void VerifyPool::remember(const std::string& key) {
    if (options_.cache_entries == 0 || lookup(key)) return;
    if (cache_.size() >= options_.cache_entries) {
        cache_.erase(lru_.back());
        lru_.pop_back();
    }
    lru_.push_front(key);
    cache_.emplace(key, lru_.begin());
}

void VerifyPool::clear() {
    const std::lock_guard lock(mutex_);
    cache_.clear();
    lru_.clear();
}

std::size_t VerifyPool::queued() const {
    const std::lock_guard lock(mutex_);
    return queue_.size();
}

std::size_t VerifyPool::cached() const {
    const std::lock_guard lock(mutex_);
    return cache_.size();
}

std::size_t VerifyPool::skipped() const {
    const std::lock_guard lock(mutex_);
    return skipped_;
}

}  // namespace moth::auth
