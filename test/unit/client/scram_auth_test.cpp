// ScramAuthenticator (include/moth/scram.hpp) against a broker played by the test with the real ScramServer: the
// CONNECT exchange, re-authentication, and a broker that does not prove itself (no or a wrong server-final), which
// must fail the connect: SCRAM authenticates both ends (RFC 5802 section 1).
#include <moth/scram.hpp>

#include "auth/scram.hpp"
#include "client/convert.hpp"
#include "unit/client/fake_stream.hpp"

namespace moth::test {
namespace {

using codec::ReasonCode;

std::string as_string(codec::Bytes b) {
    return std::string(client::as_text(b));
}

ConnectOptions scram_options() {
    ConnectOptions o;
    o.client_id = "unit";
    o.keep_alive_s = 0;
    o.connect_timeout = 2000ms;
    return o;
}

auth::ScramServer alice_server() {
    static const auth::ScramCredential alice = auth::scram_credential("secret", "0123456789abcdef", 4096);
    return auth::ScramServer(
        [](std::string_view user) { return user == "alice" ? std::optional(alice) : std::nullopt; }, "k");
}

codec::Auth auth_packet(ReasonCode reason, const std::string& data) {
    codec::Auth a;
    a.reason = reason;
    a.properties.authentication_method = auth::kScramSha256;
    a.properties.authentication_data = client::as_bytes(data);
    return a;
}

class ScramAuthTest : public ClientHarness {
protected:
    // Plays the broker from CONNECT (or AUTH 0x19) to the server-final; returns the server's last step.
    auth::ScramServer::Step exchange(Pipe& pipe, const std::string& client_first) {
        auto server = alice_server();
        const auto first = server.first(client_first);
        EXPECT_EQ(first.status, auth::ScramServer::Status::Continue) << first.message;
        send(pipe, auth_packet(ReasonCode::ContinueAuthentication, first.message));
        auto answer = expect<codec::Auth>(pipe);
        const auto& a = answer->as<codec::Auth>();
        EXPECT_EQ(a.reason, ReasonCode::ContinueAuthentication);
        EXPECT_EQ(a.properties.authentication_method, "SCRAM-SHA-256");
        return server.final(as_string(a.properties.authentication_data.value_or(codec::Bytes{})));
    }

    // Starts a SCRAM connect and runs the exchange up to the CONNACK, which the caller sends.
    std::shared_ptr<std::optional<Result<ConnectResult>>> connect_until_connack(AsyncClient& c, std::string& final) {
        auto r = start(c.connect());
        EXPECT_TRUE(run_until([&] { return !pipes.empty() && !pipes.back()->from_client.empty(); }));
        auto connect = expect<codec::Connect>(*pipes.back());
        const auto& p = connect->as<codec::Connect>();
        EXPECT_EQ(p.properties.authentication_method, "SCRAM-SHA-256");
        EXPECT_FALSE(p.password) << "the password never goes to the broker";
        const auto step = exchange(*pipes.back(), as_string(p.properties.authentication_data.value_or(codec::Bytes{})));
        EXPECT_EQ(step.status, auth::ScramServer::Status::Success) << step.message;
        final = step.message;
        return r;
    }
};

TEST_F(ScramAuthTest, ConfigureFillsTheOptions) {
    auto o = scram_options();
    o.username = "alice";
    o.password = "secret";
    const auto scram = ScramAuthenticator::configure(o, "alice", "secret");
    EXPECT_EQ(o.authentication_method, "SCRAM-SHA-256");
    const std::string first(reinterpret_cast<const char*>(o.authentication_data.data()), o.authentication_data.size());
    EXPECT_TRUE(first.starts_with("n,,n=alice,r=")) << first;
    EXPECT_FALSE(o.password);
    EXPECT_EQ(o.username, "alice") << "left as the caller set it";
    EXPECT_TRUE(o.on_auth);
    EXPECT_TRUE(o.on_auth_complete);
    EXPECT_FALSE(scram.verified());
}

TEST_F(ScramAuthTest, ConnectsAndReauthenticatesVerifyingTheBrokerEachTime) {
    auto o = scram_options();
    auto scram = ScramAuthenticator::configure(o, "alice", "secret");
    auto c = make_client(o);
    std::string final;
    auto r = connect_until_connack(*c, final);
    codec::Connack ack;
    ack.properties.authentication_method = auth::kScramSha256;
    ack.properties.authentication_data = client::as_bytes(final);
    send(*pipes[0], ack);
    const auto connected = wait(r);
    ASSERT_TRUE(connected) << connected.error().message;
    EXPECT_TRUE(scram.verified());

    // MQTT 5.0 section 4.12.1: AUTH 0x19 with the same method, then AUTH 0x18 both ways, then AUTH 0x00.
    auto re = start(c->reauthenticate(scram.reauthentication_data()));
    EXPECT_FALSE(scram.verified()) << "a new exchange is under way";
    auto a19 = expect<codec::Auth>(*pipes[0]);
    EXPECT_EQ(a19->as<codec::Auth>().reason, ReasonCode::ReAuthenticate);
    const auto first = as_string(a19->as<codec::Auth>().properties.authentication_data.value_or(codec::Bytes{}));
    const auto step = exchange(*pipes[0], first);
    ASSERT_EQ(step.status, auth::ScramServer::Status::Success) << step.message;
    send(*pipes[0], auth_packet(ReasonCode::Success, step.message));
    const auto reauthenticated = wait(re);
    EXPECT_TRUE(reauthenticated) << (reauthenticated ? "" : reauthenticated.error().message);
    EXPECT_TRUE(scram.verified());
    EXPECT_TRUE(c->connected());
}

TEST_F(ScramAuthTest, ConnectFailsWhenTheConnackHasNoServerFinal) {
    auto o = scram_options();
    auto scram = ScramAuthenticator::configure(o, "alice", "secret");
    auto c = make_client(o);
    std::string final;
    auto r = connect_until_connack(*c, final);
    send(*pipes[0], codec::Connack{});  // success, but nothing proves the broker knows alice's credential
    const auto result = wait(r);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().kind, Error::Kind::Protocol);
    EXPECT_NE(result.error().message.find("server-final"), std::string::npos) << result.error().message;
    EXPECT_FALSE(c->connected());
    EXPECT_FALSE(scram.verified());
}

TEST_F(ScramAuthTest, ConnectFailsWhenTheServerSignatureIsWrong) {
    auto o = scram_options();
    auto scram = ScramAuthenticator::configure(o, "alice", "secret");
    auto c = make_client(o);
    std::string final;
    auto r = connect_until_connack(*c, final);
    final[3] = final[3] == 'A' ? 'B' : 'A';
    codec::Connack ack;
    ack.properties.authentication_method = auth::kScramSha256;
    ack.properties.authentication_data = client::as_bytes(final);
    send(*pipes[0], ack);
    const auto result = wait(r);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().kind, Error::Kind::Protocol);
    EXPECT_FALSE(c->connected());
}

TEST_F(ScramAuthTest, ConnectFailsWhenTheBrokerSkipsTheExchange) {
    // A broker that answers CONNECT with a CONNACK at once, even one carrying a well-formed server-first, has
    // proved nothing: the client must not answer it and call itself connected.
    auto o = scram_options();
    auto scram = ScramAuthenticator::configure(o, "alice", "secret");
    auto c = make_client(o);
    auto r = start(c->connect());
    ASSERT_TRUE(run_until([&] { return !pipes.empty() && !pipes[0]->from_client.empty(); }));
    auto connect = expect<codec::Connect>(*pipes[0]);
    auto server = alice_server();
    const auto first = server.first(
        as_string(connect->as<codec::Connect>().properties.authentication_data.value_or(codec::Bytes{})));
    codec::Connack ack;
    ack.properties.authentication_method = auth::kScramSha256;
    ack.properties.authentication_data = client::as_bytes(first.message);
    send(*pipes[0], ack);
    const auto result = wait(r);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().kind, Error::Kind::Protocol);
    EXPECT_FALSE(c->connected());
    EXPECT_FALSE(scram.verified());
}

TEST_F(ScramAuthTest, ReauthenticationWithoutServerFinalClosesTheConnection) {
    auto o = scram_options();
    auto scram = ScramAuthenticator::configure(o, "alice", "secret");
    auto c = make_client(o);
    std::string final;
    auto r = connect_until_connack(*c, final);
    codec::Connack ack;
    ack.properties.authentication_method = auth::kScramSha256;
    ack.properties.authentication_data = client::as_bytes(final);
    send(*pipes[0], ack);
    ASSERT_TRUE(wait(r));

    auto re = start(c->reauthenticate(scram.reauthentication_data()));
    auto a19 = expect<codec::Auth>(*pipes[0]);
    const auto first = as_string(a19->as<codec::Auth>().properties.authentication_data.value_or(codec::Bytes{}));
    (void)exchange(*pipes[0], first);
    codec::Auth done;
    done.reason = ReasonCode::Success;
    done.properties.authentication_method = auth::kScramSha256;
    send(*pipes[0], done);
    const auto result = wait(re);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().kind, Error::Kind::Protocol);
    auto d = expect<codec::Disconnect>(*pipes[0]);
    EXPECT_EQ(d->as<codec::Disconnect>().reason, ReasonCode::NotAuthorized);
    EXPECT_TRUE(run_until([&] { return !c->connected(); }));
}

}  // namespace
}  // namespace moth::test
