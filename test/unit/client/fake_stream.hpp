#pragma once
// An in-memory net::Stream for the client's unit tests, and the test's side of it (FakeBroker): the test reads
// the packets the client wrote and answers (or does not) with packets of its own. Everything runs on one
// io_context driven by the test thread; waits are on conditions with deadlines, never sleeps.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/system/system_error.hpp>

#include <moth/client.hpp>

#include "client/waiters.hpp"
#include "codec/decoder.hpp"
#include "codec/encoder.hpp"
#include "net/stream.hpp"

namespace moth::test {

namespace asio = boost::asio;
using namespace std::chrono_literals;

struct Pipe {
    std::vector<std::byte> to_client;
    std::vector<std::byte> from_client;
    bool closed = false;
    client::Waiters readers;
    std::optional<codec::ProtocolVersion> version;  // learnt from the CONNECT
};

class FakeStream final : public net::Stream {
public:
    explicit FakeStream(std::shared_ptr<Pipe> pipe) : pipe_(std::move(pipe)) {}
    ~FakeStream() override { cancel(); }
    asio::awaitable<std::size_t> read_some(std::span<std::byte> buffer) override {
        auto p = pipe_;
        while (p->to_client.empty()) {
            if (p->closed) throw boost::system::system_error(asio::error::eof);
            co_await p->readers.wait();
        }
        const std::size_t n = std::min(buffer.size(), p->to_client.size());
        std::copy_n(p->to_client.begin(), n, buffer.begin());
        p->to_client.erase(p->to_client.begin(), p->to_client.begin() + static_cast<std::ptrdiff_t>(n));
        co_return n;
    }
    asio::awaitable<void> write(std::span<const std::byte> bytes) override {
        if (pipe_->closed) throw boost::system::system_error(asio::error::broken_pipe);
        pipe_->from_client.insert(pipe_->from_client.end(), bytes.begin(), bytes.end());
        co_return;
    }
    asio::awaitable<void> close() override {
        cancel();
        co_return;
    }
    void cancel() noexcept override {
        pipe_->closed = true;
        pipe_->readers.notify_all();
    }
    [[nodiscard]] std::string remote() const override { return "fake:1883"; }
    [[nodiscard]] int release() noexcept override { return -1; }

private:
    std::shared_ptr<Pipe> pipe_;
};

// A packet the client sent, with the bytes its views point into.
struct Received {
    std::vector<std::byte> bytes;
    codec::Decoder decoder{codec::DecoderOptions{.role = codec::Role::Server}};
    codec::Packet packet;
    template <class T>
    [[nodiscard]] const T& as() const {
        return std::get<T>(packet);
    }
    template <class T>
    [[nodiscard]] bool is() const {
        return std::holds_alternative<T>(packet);
    }
};

class ClientHarness : public ::testing::Test {
protected:
    asio::io_context ioc;
    std::vector<std::shared_ptr<Pipe>> pipes;
    bool refuse = false;  // the next connection attempts fail with "connection refused"
    int attempts = 0;

    AsyncClient::StreamFactory factory() {
        return [this](asio::any_io_executor, const net::ConnectSettings&) -> asio::awaitable<std::unique_ptr<net::Stream>> {
            ++attempts;
            if (refuse) throw boost::system::system_error(asio::error::connection_refused);
            auto p = std::make_shared<Pipe>();
            pipes.push_back(p);
            co_return std::make_unique<FakeStream>(p);
        };
    }

    std::unique_ptr<AsyncClient> make_client(ConnectOptions o) {
        return std::make_unique<AsyncClient>(ioc.get_executor(), std::move(o), factory());
    }

    // Runs the io_context until `pred` holds or `timeout` passes.
    bool run_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout = 5000ms) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (!pred()) {
            if (std::chrono::steady_clock::now() >= deadline) return false;
            if (ioc.stopped()) ioc.restart();
            ioc.run_one_for(10ms);
        }
        return true;
    }
    void run_for(std::chrono::milliseconds d) {
        const auto deadline = std::chrono::steady_clock::now() + d;
        while (std::chrono::steady_clock::now() < deadline) {
            if (ioc.stopped()) ioc.restart();
            ioc.run_one_for(5ms);
        }
    }

    // Starts a coroutine; its result lands in the returned optional.
    template <class T>
    std::shared_ptr<std::optional<T>> start(asio::awaitable<T> a) {
        auto out = std::make_shared<std::optional<T>>();
        asio::co_spawn(ioc, std::move(a), [out](std::exception_ptr e, T v) {
            if (e) std::rethrow_exception(e);
            out->emplace(std::move(v));
        });
        return out;
    }
    std::shared_ptr<bool> start(asio::awaitable<void> a) {
        auto out = std::make_shared<bool>(false);
        asio::co_spawn(ioc, std::move(a), [out](std::exception_ptr e) {
            if (e) std::rethrow_exception(e);
            *out = true;
        });
        return out;
    }
    template <class T>
    T wait(const std::shared_ptr<std::optional<T>>& r, std::chrono::milliseconds timeout = 5000ms) {
        EXPECT_TRUE(run_until([&] { return r->has_value(); }, timeout)) << "operation did not complete";
        if (!r->has_value()) throw std::runtime_error("operation did not complete");
        return std::move(**r);
    }

    // The next packet the client wrote on `pipe`, or nullptr after `timeout`.
    std::unique_ptr<Received> next(Pipe& pipe, std::chrono::milliseconds timeout = 5000ms) {
        std::unique_ptr<Received> out;
        run_until(
            [&] {
                if (pipe.from_client.empty()) return false;
                auto r = std::make_unique<Received>();
                if (pipe.version) r->decoder.set_version(*pipe.version);
                auto d = r->decoder.decode(pipe.from_client);
                if (d.status == codec::DecodeStatus::NeedMore) return false;
                EXPECT_EQ(d.status, codec::DecodeStatus::Ok) << d.message;
                if (d.status != codec::DecodeStatus::Ok) return true;
                r->bytes.assign(pipe.from_client.begin(),
                                pipe.from_client.begin() + static_cast<std::ptrdiff_t>(d.consumed));
                pipe.from_client.erase(pipe.from_client.begin(),
                                       pipe.from_client.begin() + static_cast<std::ptrdiff_t>(d.consumed));
                if (!pipe.version) pipe.version = r->decoder.version();
                auto again = r->decoder.decode(r->bytes);
                r->packet = again.packet;
                out = std::move(r);
                return true;
            },
            timeout);
        return out;
    }

    template <class T>
    std::unique_ptr<Received> expect(Pipe& pipe, std::chrono::milliseconds timeout = 5000ms) {
        auto r = next(pipe, timeout);
        if (!r) {
            ADD_FAILURE() << "no packet from the client";
            throw std::runtime_error("no packet");
        }
        if (!r->is<T>()) {
            ADD_FAILURE() << "unexpected " << codec::packet_type_name(codec::packet_type(r->packet));
            throw std::runtime_error("unexpected packet");
        }
        return r;
    }

    void send(Pipe& pipe, const codec::Packet& p) {
        auto r = codec::encode_append(p, pipe.version.value_or(codec::ProtocolVersion::V5), pipe.to_client);
        ASSERT_TRUE(r.has_value());
        pipe.readers.notify_all();
    }
    // The broker goes away: the client's read ends with EOF.
    void drop(Pipe& pipe) {
        pipe.closed = true;
        pipe.readers.notify_all();
    }

    // Connects `c` on a new pipe: expects CONNECT, answers `connack`.
    Result<ConnectResult> handshake(AsyncClient& c, codec::Connack connack = {}) {
        auto r = start(c.connect());
        EXPECT_TRUE(run_until([&] { return !pipes.empty() && !pipes.back()->from_client.empty(); }));
        auto& pipe = *pipes.back();
        expect<codec::Connect>(pipe);
        send(pipe, connack);
        return wait(r);
    }
};

}  // namespace moth::test
