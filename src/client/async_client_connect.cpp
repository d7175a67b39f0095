// AsyncClient, connecting: CONNECT, enhanced authentication, CONNACK; the handshake watchdog.
#include <exception>
#include <string>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/system/system_error.hpp>

#include "client/async_client_impl.hpp"
#include "codec/encoder.hpp"

namespace moth {

asio::awaitable<Result<ConnectResult>> AsyncClient::Impl::connect(std::shared_ptr<Impl> self) {
    // One connection attempt at a time: a user's connect() waits for a reconnect attempt in progress.
    while (connecting_) co_await state_waiters_.wait();
    if (current_) co_return current_->connack;
    user_closed_ = false;
    reconnecting_ = false;
    state_waiters_.notify_all();
    co_return co_await attempt(self);
}

asio::awaitable<Result<ConnectResult>> AsyncClient::Impl::attempt(std::shared_ptr<Impl> self) {
    connecting_ = true;
    auto r = co_await attempt_inner(self);
    connecting_ = false;
    state_waiters_.notify_all();
    co_return r;
}

asio::awaitable<Result<ConnectResult>> AsyncClient::Impl::attempt_inner(std::shared_ptr<Impl> self) {
    if (opts_.version != ProtocolVersion::V5 && client_id_.empty() && !opts_.clean_start) {
        co_return make_error(Error::Kind::InvalidArgument,
                             "MQTT 3.x needs a client id for a persistent session (clean_start = false)");
    }
    auto url = net::parse_url(opts_.url);
    if (!url) co_return make_error(Error::Kind::InvalidArgument, "bad URL \"" + opts_.url + "\": " + url.error());
    net::ConnectSettings settings;
    settings.url = *url;
    settings.tls = {opts_.tls.ca_file,  opts_.tls.ca_path,  opts_.tls.cert_file, opts_.tls.key_file,
                    opts_.tls.sni,      opts_.tls.insecure, opts_.tls.version};
    settings.ws_subprotocol = opts_.version == ProtocolVersion::V3_1 ? "mqttv3.1" : "mqtt";
    settings.timeout = opts_.connect_timeout;

    auto c = std::make_shared<Connection>();
    c->version = to_codec(opts_.version);
    c->decoder.set_version(c->version);
    if (opts_.maximum_packet_size != 0 && v5()) c->decoder.set_max_packet_size(opts_.maximum_packet_size);
    try {
        c->stream = co_await factory_(ex_, settings);
    } catch (const std::exception& e) {
        co_return client::network_error(e, "cannot connect to " + net::to_string(*url));
    }
    if (user_closed_) {
        c->stream->cancel();
        co_return make_error(Error::Kind::Closed, "disconnected while connecting");
    }
    asio::co_spawn(ex_, watchdog(self, c, Clock::now() + opts_.connect_timeout), asio::detached);
    auto r = co_await handshake(*c);
    c->handshake_done = true;
    c->wake.notify_all();
    if (!r) {
        c->closed = true;
        c->stream->cancel();
        co_return r.error();
    }
    if (user_closed_) {
        c->closed = true;
        c->stream->cancel();
        co_return make_error(Error::Kind::Closed, "disconnected while connecting");
    }
    established(self, c);
    co_return c->connack;
}

asio::awaitable<void> AsyncClient::Impl::watchdog([[maybe_unused]] std::shared_ptr<Impl> self,
                                                  std::shared_ptr<Connection> c, Clock::time_point deadline) {
    while (!c->handshake_done) {
        const bool woken = co_await c->wake.wait_until(deadline);
        if (!woken) {
            if (!c->handshake_done) {
                c->timed_out = true;
                c->stream->cancel();
            }
            co_return;
        }
    }
}

codec::Connect AsyncClient::Impl::make_connect(std::vector<codec::UserProperty>& user,
                                               std::vector<codec::UserProperty>& will_user,
                                               codec::Bytes& password) const {
    codec::Connect p;
    p.version = to_codec(opts_.version);
    p.clean_start = opts_.clean_start;
    p.bridge = opts_.bridge;  // the encoder writes the bit for 3.1 and 3.1.1 only
    p.keep_alive_s = opts_.keep_alive_s;
    p.client_id = client_id_;
    if (opts_.will) {
        const Will& w = *opts_.will;
        codec::Will cw;
        cw.topic = w.topic;
        cw.payload = w.payload;
        cw.qos = to_codec(w.qos);
        cw.retain = w.retain;
        cw.properties = client::view_message_properties(w.properties, will_user);
        cw.properties.will_delay_interval = w.delay_interval;
        p.will = cw;
    }
    if (opts_.username) p.username = *opts_.username;
    if (opts_.password) {
        password = client::as_bytes(*opts_.password);
        p.password = password;
    }
    if (v5()) {
        auto& pr = p.properties;
        if (opts_.session_expiry_interval != 0) pr.session_expiry_interval = opts_.session_expiry_interval;
        if (opts_.receive_maximum != 65535) pr.receive_maximum = opts_.receive_maximum;
        if (opts_.maximum_packet_size != 0) pr.maximum_packet_size = opts_.maximum_packet_size;
        if (opts_.topic_alias_maximum != 0) pr.topic_alias_maximum = opts_.topic_alias_maximum;
        if (opts_.request_response_information) {
            pr.request_response_information = static_cast<std::uint8_t>(*opts_.request_response_information);
        }
        if (opts_.request_problem_information) {
            pr.request_problem_information = static_cast<std::uint8_t>(*opts_.request_problem_information);
        }
        pr.user_properties = client::view_user_properties(opts_.user_properties, user);
        if (!opts_.authentication_method.empty()) {
            pr.authentication_method = opts_.authentication_method;
            if (!opts_.authentication_data.empty()) pr.authentication_data = codec::Bytes(opts_.authentication_data);
        }
    }
    return p;
}

asio::awaitable<void> AsyncClient::Impl::write_now(Connection& c, const codec::Packet& p) {
    std::vector<std::byte> bytes;
    if (!codec::encode_append(p, c.version, bytes)) {
        throw boost::system::system_error(
            make_error_code(boost::system::errc::invalid_argument),
            "cannot encode " + std::string(codec::packet_type_name(codec::packet_type(p))));
    }
    co_await c.stream->write(bytes);
    c.last_sent = Clock::now();
}

asio::awaitable<Result<ConnectResult>> AsyncClient::Impl::handshake(Connection& c) {
    try {
        {
            std::vector<codec::UserProperty> user, will_user;
            codec::Bytes password;
            co_await write_now(c, make_connect(user, will_user, password));
        }
        for (;;) {
            auto r = co_await next_packet(c);
            if (r.status == codec::DecodeStatus::Error) {
                co_return make_error(Error::Kind::Protocol,
                                     "bad packet from the broker: " + std::string(r.message),
                                     static_cast<std::uint8_t>(r.reason));
            }
            if (auto* auth = std::get_if<codec::Auth>(&r.packet)) {
                if (auth->reason != ReasonCode::ContinueAuthentication || !opts_.on_auth) {
                    co_return make_error(Error::Kind::Protocol, "unexpected AUTH during connect");
                }
                auto answer = opts_.on_auth(auth->properties.authentication_data.value_or(codec::Bytes{}));
                if (!answer) co_return answer.error();
                codec::Auth reply;
                reply.reason = ReasonCode::ContinueAuthentication;
                reply.properties.authentication_method = opts_.authentication_method;
                reply.properties.authentication_data = codec::Bytes(*answer);
                co_await write_now(c, reply);
                continue;
            }
            auto* ack = std::get_if<codec::Connack>(&r.packet);
            if (!ack) {
                co_return make_error(Error::Kind::Protocol,
                                     "expected CONNACK, got " +
                                         std::string(codec::packet_type_name(codec::packet_type(r.packet))));
            }
            if (codec::is_error(ack->reason) || (ack->reason != ReasonCode::Success && !v5())) {
                co_return client::refused(ack->reason, PacketType::Connack, ack->properties.reason_string);
            }
            if (auto verdict = auth_complete(ack->properties.authentication_data); !verdict) {
                co_return verdict.error();
            }
            fill_connack(c, *ack);
            co_return c.connack;
        }
    } catch (const std::exception& e) {
        if (c.timed_out) {
            co_return make_error(Error::Kind::Timeout,
                                 "no CONNACK within " + std::to_string(opts_.connect_timeout.count()) + " ms");
        }
        co_return client::network_error(e, "connecting to " + opts_.url);
    }
}

Result<void> AsyncClient::Impl::auth_complete(std::optional<codec::Bytes> data) const {
    if (!v5() || opts_.authentication_method.empty()) return {};
    // on_auth_complete hears the final word even without Authentication Data, so that a method which must check
    // it (SCRAM's server-final) can refuse a broker that left it out. on_auth only ever heard data, as before.
    if (opts_.on_auth_complete) return opts_.on_auth_complete(data.value_or(codec::Bytes{}));
    if (data && opts_.on_auth) {
        auto answer = opts_.on_auth(*data);
        if (!answer) return answer.error();
    }
    return {};
}

void AsyncClient::Impl::fill_connack(Connection& c, const codec::Connack& ack) {
    ConnectResult r;
    const auto& p = ack.properties;
    r.session_present = ack.session_present;
    r.reason = static_cast<std::uint8_t>(ack.reason);
    if (p.assigned_client_identifier) {
        r.assigned_client_id = std::string(*p.assigned_client_identifier);
        client_id_ = r.assigned_client_id;
    }
    r.server_keep_alive = p.server_keep_alive;
    r.receive_maximum = p.receive_maximum.value_or(65535);
    r.maximum_packet_size = p.maximum_packet_size.value_or(0);
    r.topic_alias_maximum = p.topic_alias_maximum.value_or(0);
    r.maximum_qos = p.maximum_qos.value_or(2);
    r.retain_available = p.retain_available.value_or(1) != 0;
    r.wildcard_subscription_available = p.wildcard_subscription_available.value_or(1) != 0;
    r.subscription_identifier_available = p.subscription_identifier_available.value_or(1) != 0;
    r.shared_subscription_available = p.shared_subscription_available.value_or(1) != 0;
    if (p.response_information) r.response_information = std::string(*p.response_information);
    if (p.server_reference) r.server_reference = std::string(*p.server_reference);
    if (p.reason_string) r.reason_string = std::string(*p.reason_string);
    r.user_properties = client::copy_user_properties(p.user_properties);
    c.connack = std::move(r);
    c.keep_alive = std::chrono::seconds(p.server_keep_alive.value_or(opts_.keep_alive_s));
}

}  // namespace moth
