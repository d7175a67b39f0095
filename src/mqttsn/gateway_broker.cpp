// The core's output for the internal connection: MQTT 5.0 bytes, decoded here and turned into MQTT-SN messages.
#include "codec/decoder.hpp"
#include "mqttsn/gateway_impl.hpp"

namespace moth::mqttsn {

void GatewaySession::Impl::on_broker(Bytes mqtt) {
    if (!internal_open) return;  // bytes of a connection this session ended: nobody reads them
    inbuf.insert(inbuf.end(), mqtt.begin(), mqtt.end());
    std::size_t at = 0;
    while (at < inbuf.size() && internal_open) {
        const codec::DecodeResult r = decoder.decode(Bytes(inbuf).subspan(at));
        if (r.status == codec::DecodeStatus::NeedMore) break;
        if (r.status == codec::DecodeStatus::Error) {
            // The core's own encoding is never malformed; if it were, nothing after it could be trusted.
            inbuf.clear();
            drop();
            lost();
            return;
        }
        // The packet's views point into inbuf, which stays put until the loop ends.
        on_core_packet(r.packet);
        at += r.consumed;
    }
    inbuf.erase(inbuf.begin(), inbuf.begin() + static_cast<std::ptrdiff_t>(std::min(at, inbuf.size())));
}

void GatewaySession::Impl::on_core_packet(const codec::Packet& p) {
    std::visit(
        [&](const auto& m) {
            using T = std::decay_t<decltype(m)>;
            if constexpr (std::is_same_v<T, codec::Connack>)
                on_core_connack(m);
            else if constexpr (std::is_same_v<T, codec::Publish>)
                on_core_publish(m);
            else if constexpr (std::is_same_v<T, codec::Puback>)
                on_core_puback(m);
            else if constexpr (std::is_same_v<T, codec::Pubrec>)
                on_core_pubrec(m);
            else if constexpr (std::is_same_v<T, codec::Pubrel>)
                on_core_pubrel(m);
            else if constexpr (std::is_same_v<T, codec::Pubcomp>)
                on_core_pubcomp(m);
            else if constexpr (std::is_same_v<T, codec::Suback>)
                on_core_suback(m);
            else if constexpr (std::is_same_v<T, codec::Unsuback>)
                on_core_unsuback(m);
            else if constexpr (std::is_same_v<T, codec::Disconnect>) {
                // Whatever the reason (take-over, administrative, server shutting down): the client hears
                // DISCONNECT; the session is forgotten when the core closes the connection.
                send(Disconnect{});
                state() = State::Ended;
            } else {
                // PINGRESP (never asked for: keep alive is 0) and AUTH (no enhanced authentication) mean nothing
                // here; the decoder of the client role yields no other packet.
            }
        },
        p);
}

// 6.2: the core's answer to the internal CONNECT is the client's CONNACK.
void GatewaySession::Impl::on_core_connack(const codec::Connack& c) {
    if (state() != State::Connecting) {
        drop();
        return;
    }
    if (!codec::is_error(c.reason)) {
        send(Connack{ReturnCode::Accepted});
        state() = State::Active;
        pump();
        return;
    }
    using R = codec::ReasonCode;
    const bool busy =
        c.reason == R::ServerBusy || c.reason == R::QuotaExceeded || c.reason == R::ConnectionRateExceeded;
    send(Connack{busy ? ReturnCode::Congestion : ReturnCode::NotSupported});
    state() = State::Ended;  // the core closes the connection next: on_broker_closed forgets the session
}

}  // namespace moth::mqttsn
