#pragma once
// Shared by the AccessControl tests (access_control_test.cpp, access_control_scram_test.cpp): temp files written
// with the project's own hash functions, configs built in code, and a CONNECT put through authenticate() that waits
// for a Pending answer (the password pool answers on its own thread) on a condition variable with a deadline.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "auth/password_file.hpp"
#include "server/access_control.hpp"
#include "unit/auth/jwt_signer.hpp"

namespace moth::server::test {

using broker::AuthDecision;
using broker::AuthRequest;
using codec::ReasonCode;
using Kind = AuthDecision::Kind;

inline const std::string kSecret = "access control secret, 32 bytes!";
inline const std::string kOtherSecret = "another secret, after the reload";

// Overwrites `path` with `text` (what an operator does before SIGHUP).
inline void rewrite(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

// "user:hash\n" for each (user, password), hashed as `kind` by auth::hash_password (PBKDF2-SHA512 with Mosquitto's
// iteration count by default: fast enough under ASan).
inline std::string password_lines(const std::vector<std::pair<std::string, std::string>>& users,
                                  auth::HashKind kind = auth::HashKind::Sha512Pbkdf2) {
    std::string text = "# written by access_control tests\n";
    for (const auto& [user, password] : users) text += user + ":" + auth::hash_password(password, kind) + "\n";
    return text;
}

// A log that keeps its lines; written from the pool's threads too.
class LogLines {
public:
    AccessControl::Log sink() {
        return [this](int, const std::string& line) {
            std::lock_guard lock(mutex_);
            lines_.push_back(line);
        };
    }
    [[nodiscard]] bool contains(std::string_view part) {
        std::lock_guard lock(mutex_);
        for (const auto& l : lines_) {
            if (l.find(part) != std::string::npos) return true;
        }
        return false;
    }

private:
    std::mutex mutex_;
    std::vector<std::string> lines_;
};

// One CONNECT's credentials; owns what AuthRequest only views.
struct Login {
    std::optional<std::string> username{};
    std::optional<std::string> password{};
    std::string listener = "mqtt";
    bool certificate = false;  // `username` is a verified certificate's CN
    std::string client_id = "c1";
};

// The decision for `login` at CONNECT (step 0). A Pending answer is waited for (10 s: a PBKDF2 hash under ASan
// takes milliseconds); `later` must not have been called when the answer came at once.
inline AuthDecision connect(AccessControl& ac, const Login& login) {
    struct Box {
        std::mutex mutex;
        std::condition_variable cv;
        std::optional<AuthDecision> decision;
        int calls = 0;
    };
    auto box = std::make_shared<Box>();  // outlives a test that gave up waiting
    AuthRequest r;
    r.client_id = login.client_id;
    if (login.username) r.username = *login.username;
    if (login.password) {
        r.password = codec::Bytes(reinterpret_cast<const std::byte*>(login.password->data()), login.password->size());
    }
    r.remote = "192.0.2.1:5000";
    r.listener = login.listener;
    r.certificate_identity = login.certificate;
    r.later = [box](AuthDecision d) {
        std::lock_guard lock(box->mutex);
        box->decision = std::move(d);
        ++box->calls;
        box->cv.notify_all();
    };
    AuthDecision now = ac.authenticate(r, 0);
    std::unique_lock lock(box->mutex);
    if (now.kind != Kind::Pending) {
        EXPECT_EQ(box->calls, 0) << "an answer given at once must not come through later as well";
        return now;
    }
    if (!box->cv.wait_for(lock, std::chrono::seconds(10), [&] { return box->decision.has_value(); })) {
        ADD_FAILURE() << "authenticate() answered Pending and never called later";
        return AuthDecision::deny(ReasonCode::UnspecifiedError);
    }
    EXPECT_NE(box->decision->kind, Kind::Pending);
    return *box->decision;
}

// An AccessControl stopped as mothd stops it: shutdown() before it is destroyed. Destroying one without shutdown()
// while a password check's answer is still unwinding on a pool thread ends the process (DestroyWithoutShutdown in
// access_control_test.cpp), which would make every test here flaky.
struct Running {
    Running(const config::Config& config, AccessControl::Log log) : ac(config, std::move(log)) {}
    ~Running() { ac.shutdown(); }
    Running(const Running&) = delete;
    Running& operator=(const Running&) = delete;
    AccessControl ac;
};

inline config::Listener listener(std::string name, std::optional<bool> anonymous = std::nullopt,
                                 std::optional<std::vector<std::string>> providers = std::nullopt) {
    config::Listener l;
    l.name = std::move(name);
    l.bind = "127.0.0.1";
    l.port = 0;
    l.allow_anonymous = anonymous;
    l.auth_providers = std::move(providers);
    return l;
}

}  // namespace moth::server::test
