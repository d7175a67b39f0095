// AsyncClient, the connection loop: reader, gathered writer, keepalive.
#include <algorithm>
#include <cstring>
#include <exception>

#include "client/async_client_impl.hpp"
#include "codec/encoder.hpp"

namespace moth {

bool AsyncClient::Impl::send(Connection& c, const codec::Packet& p) {
    if (c.closed) return false;
    const auto r = codec::encode_append(p, c.version, c.out);
    if (!r) return false;
    c.wake.notify_all();
    return true;
}

asio::awaitable<codec::DecodeResult> AsyncClient::Impl::next_packet(Connection& c) {
    c.in_begin += c.last_consumed;
    c.last_consumed = 0;
    for (;;) {
        auto r = c.decoder.decode(std::span<const std::byte>(c.in.data() + c.in_begin, c.in_end - c.in_begin));
        if (r.status == codec::DecodeStatus::Ok) {
            c.last_consumed = r.consumed;
            co_return r;
        }
        if (r.status == codec::DecodeStatus::Error) co_return r;
        // Make room: drop consumed bytes, then grow to the packet's size when known.
        if (c.in_begin > 0) {
            std::memmove(c.in.data(), c.in.data() + c.in_begin, c.in_end - c.in_begin);
            c.in_end -= c.in_begin;
            c.in_begin = 0;
        }
        const std::size_t want = std::max(r.needed, c.in_end + 1);
        if (want > c.in.size()) c.in.resize(std::max(want, c.in.size() * 2));
        const std::size_t n =
            co_await c.stream->read_some(std::span<std::byte>(c.in.data() + c.in_end, c.in.size() - c.in_end));
        c.in_end += n;
    }
}

asio::awaitable<void> AsyncClient::Impl::run_reader([[maybe_unused]] std::shared_ptr<Impl> self,
                                                    std::shared_ptr<Connection> c) {
    try {
        while (!c->closed) {
            auto r = co_await next_packet(*c);
            if (c->closed) break;
            if (r.status == codec::DecodeStatus::Error) {
                fail_connection(*c, r.reason,
                                make_error(Error::Kind::Protocol,
                                           "bad packet from the broker: " + std::string(r.message),
                                           static_cast<std::uint8_t>(r.reason)));
                break;
            }
            if (!handle(*c, r.packet)) break;
        }
    } catch (const std::exception& e) {
        if (!c->error) c->error = client::network_error(e, "connection lost");
    }
    if (!c->closed && c->error && (!c->out.empty() || c->writing_now)) {
        co_await flush(*c, Clock::now() + std::chrono::seconds(1));
    }
    lost(c);
}

asio::awaitable<void> AsyncClient::Impl::run_writer([[maybe_unused]] std::shared_ptr<Impl> self,
                                                    std::shared_ptr<Connection> c) {
    while (!c->closed) {
        if (c->out.empty()) {
            co_await c->wake.wait();
            continue;
        }
        c->writing.clear();
        std::swap(c->writing, c->out);
        c->writing_now = true;
        try {
            co_await c->stream->write(c->writing);
        } catch (const std::exception& e) {
            c->writing_now = false;
            if (!c->error) c->error = client::network_error(e, "connection lost");
            lost(c);
            co_return;
        }
        c->writing_now = false;
        c->last_sent = Clock::now();
        c->wake.notify_all();
    }
}

asio::awaitable<void> AsyncClient::Impl::run_keepalive([[maybe_unused]] std::shared_ptr<Impl> self,
                                                       std::shared_ptr<Connection> c) {
    const auto ka = std::chrono::duration_cast<Clock::duration>(c->keep_alive);
    if (ka.count() == 0) co_return;
    while (!c->closed) {
        const auto now = Clock::now();
        if (c->ping_outstanding && now - c->ping_sent >= ka) {
            if (!c->error) c->error = make_error(Error::Kind::Timeout, "no PINGRESP within the keep alive");
            lost(c);
            co_return;
        }
        if (!c->ping_outstanding && now - c->last_sent >= ka) {
            send(*c, codec::Pingreq{});
            c->ping_outstanding = true;
            c->ping_sent = now;
        }
        const auto next = c->ping_outstanding ? c->ping_sent + ka : c->last_sent + ka;
        co_await c->wake.wait_until(next);
    }
}

asio::awaitable<void> AsyncClient::Impl::flush(Connection& c, Clock::time_point deadline) {
    while (!c.closed && (!c.out.empty() || c.writing_now)) {
        const bool woken = co_await c.wake.wait_until(deadline);
        if (!woken) break;
    }
}

void AsyncClient::Impl::fail_connection(Connection& c, ReasonCode reason, Error err) {
    if (!c.error) c.error = std::move(err);
    if (c.version == codec::ProtocolVersion::V5) {
        codec::Disconnect d;
        d.reason = reason;
        send(c, d);
    }
}

}  // namespace moth
