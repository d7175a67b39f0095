#pragma once
// A nats-server child process for the cluster bus tests: JetStream in a temp dir, client port chosen by the server
// (-1) and read back from its ports file. Path from $NATS_SERVER, else /usr/bin or /usr/sbin/nats-server. No GoogleTest here.
#include <sys/types.h>

#include <chrono>
#include <string>

namespace moth::test {

class NatsServer {
public:
    NatsServer();  // starts it; throws std::runtime_error when it does not come up within 10 s
    ~NatsServer();
    NatsServer(const NatsServer&) = delete;
    NatsServer& operator=(const NatsServer&) = delete;

    [[nodiscard]] const std::string& url() const { return url_; }
    // SIGKILL (a crash: what was in flight stays unanswered); waits for the process.
    void kill();
    // SIGTERM and waits; true when it exited.
    bool stop();

private:
    std::string dir_, url_;
    pid_t pid_ = -1;
};

}  // namespace moth::test
