// AsyncClient against an in-memory stream: the test plays the broker packet by packet.
#include "client/convert.hpp"
#include "unit/client/fake_stream.hpp"

namespace moth::test {
namespace {

using codec::ReasonCode;

codec::Bytes text_bytes(std::string_view s) { return client::as_bytes(s); }
std::string as_string(codec::Bytes b) { return std::string(client::as_text(b)); }

ConnectOptions v5_options() {
    ConnectOptions o;
    o.client_id = "unit";
    o.keep_alive_s = 0;
    o.connect_timeout = 2000ms;
    return o;
}

codec::Publish publish_packet(std::string_view topic, std::string_view payload, codec::QoS qos, std::uint16_t id = 0) {
    codec::Publish p;
    p.topic = topic;
    p.payload = text_bytes(payload);
    p.qos = qos;
    p.packet_id = id;
    return p;
}

template <class Ack>
Ack ack(std::uint16_t id, ReasonCode reason = ReasonCode::Success) {
    Ack a;
    a.packet_id = id;
    a.reason = reason;
    return a;
}

using AsyncClientTest = ClientHarness;

TEST_F(AsyncClientTest, ConnectSendsOptionsAndReportsTheConnack) {
    auto o = v5_options();
    o.keep_alive_s = 30;
    o.clean_start = false;
    o.session_expiry_interval = 3600;
    o.username = "user";
    o.password = "secret";
    o.user_properties = {{"k", "v"}};
    o.request_response_information = true;
    Will w;
    w.topic = "will/t";
    w.payload = {std::byte{'x'}};
    w.qos = QoS::AtLeastOnce;
    w.delay_interval = 5;
    w.properties.content_type = "text/plain";
    o.will = w;
    auto c = make_client(o);
    auto r = start(c->connect());
    ASSERT_TRUE(run_until([&] { return !pipes.empty() && !pipes[0]->from_client.empty(); }));
    auto connect = expect<codec::Connect>(*pipes[0]);
    const auto& p = connect->as<codec::Connect>();
    EXPECT_EQ(p.client_id, "unit");
    EXPECT_FALSE(p.clean_start);
    EXPECT_EQ(p.keep_alive_s, 30);
    EXPECT_EQ(p.username, "user");
    ASSERT_TRUE(p.password);
    EXPECT_EQ(as_string(*p.password), "secret");
    EXPECT_EQ(p.properties.session_expiry_interval, 3600U);
    EXPECT_EQ(p.properties.topic_alias_maximum, 16);
    EXPECT_EQ(p.properties.request_response_information, 1);
    ASSERT_EQ(p.properties.user_properties.size(), 1U);
    EXPECT_EQ(p.properties.user_properties[0].key, "k");
    ASSERT_TRUE(p.will);
    EXPECT_EQ(p.will->topic, "will/t");
    EXPECT_EQ(p.will->qos, codec::QoS::AtLeastOnce);
    EXPECT_EQ(p.will->properties.will_delay_interval, 5U);
    EXPECT_EQ(p.will->properties.content_type, "text/plain");

    codec::Connack ack;
    ack.session_present = true;
    ack.properties.receive_maximum = 10;
    ack.properties.topic_alias_maximum = 5;
    ack.properties.maximum_qos = 1;
    ack.properties.server_keep_alive = 20;
    ack.properties.response_information = "resp/";
    const codec::UserProperty up{"srv", "x"};
    ack.properties.user_properties = std::span(&up, 1);
    send(*pipes[0], ack);
    auto result = wait(r);
    ASSERT_TRUE(result) << result.error().message;
    EXPECT_TRUE(result->session_present);
    EXPECT_EQ(result->receive_maximum, 10);
    EXPECT_EQ(result->topic_alias_maximum, 5);
    EXPECT_EQ(result->maximum_qos, 1);
    EXPECT_EQ(result->server_keep_alive, 20);
    EXPECT_EQ(result->response_information, "resp/");
    ASSERT_EQ(result->user_properties.size(), 1U);
    EXPECT_EQ(result->user_properties[0].value, "x");
    EXPECT_TRUE(c->connected());
}

TEST_F(AsyncClientTest, RefusedConnectIsAnErrorWithTheReasonName) {
    auto c = make_client(v5_options());
    codec::Connack ack;
    ack.reason = ReasonCode::NotAuthorized;
    ack.properties.reason_string = "no way";
    auto r = handshake(*c, ack);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, Error::Kind::Refused);
    EXPECT_EQ(r.error().reason, 0x87);
    EXPECT_EQ(r.error().message, "Not authorized: no way");
    EXPECT_EQ(r.error().kind_name(), "refused");
    EXPECT_FALSE(c->connected());
}

TEST_F(AsyncClientTest, V311ReturnCodeIsMappedToTheReasonCode) {
    auto o = v5_options();
    o.version = ProtocolVersion::V3_1_1;
    auto c = make_client(o);
    codec::Connack ack;
    ack.reason = ReasonCode::BadUserNameOrPassword;  // return code 4 on the wire
    auto r = handshake(*c, ack);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().reason, 0x86);
    EXPECT_EQ(reason_name(r.error().reason), "Bad User Name or Password");
}

TEST_F(AsyncClientTest, NoConnackInTimeIsATimeout) {
    auto o = v5_options();
    o.connect_timeout = 200ms;
    auto c = make_client(o);
    auto r = start(c->connect());
    auto result = wait(r);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().kind, Error::Kind::Timeout);
}

TEST_F(AsyncClientTest, RefusedTcpConnectionIsANetworkError) {
    refuse = true;
    auto c = make_client(v5_options());
    auto result = wait(start(c->connect()));
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().kind, Error::Kind::Network);
}

TEST_F(AsyncClientTest, PublishWithoutConnectionIsNotConnected) {
    auto c = make_client(v5_options());
    auto r = wait(start(c->publish(Message::text("a", "b"))));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, Error::Kind::NotConnected);
    auto bad = wait(start(c->publish(Message::text("a/#", "b"))));
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().kind, Error::Kind::InvalidArgument);
}

TEST_F(AsyncClientTest, QoS0And1And2PublishFlows) {
    auto c = make_client(v5_options());
    ASSERT_TRUE(handshake(*c));
    auto& pipe = *pipes[0];

    auto q0 = wait(start(c->publish(Message::text("t/0", "zero"))));
    ASSERT_TRUE(q0);
    auto p0 = expect<codec::Publish>(pipe);
    EXPECT_EQ(p0->as<codec::Publish>().qos, codec::QoS::AtMostOnce);
    EXPECT_EQ(as_string(p0->as<codec::Publish>().payload), "zero");

    auto q1 = start(c->publish(Message::text("t/1", "one", QoS::AtLeastOnce)));
    auto p1 = expect<codec::Publish>(pipe);
    const auto id1 = p1->as<codec::Publish>().packet_id;
    EXPECT_NE(id1, 0);
    EXPECT_FALSE(q1->has_value());
    send(pipe, ack<codec::Puback>(id1, ReasonCode::NoMatchingSubscribers));
    auto r1 = wait(q1);
    ASSERT_TRUE(r1);
    EXPECT_EQ(r1->reason, 0x10);

    auto q2 = start(c->publish(Message::text("t/2", "two", QoS::ExactlyOnce)));
    auto p2 = expect<codec::Publish>(pipe);
    const auto id2 = p2->as<codec::Publish>().packet_id;
    send(pipe, ack<codec::Pubrec>(id2));
    auto rel = expect<codec::Pubrel>(pipe);
    EXPECT_EQ(rel->as<codec::Pubrel>().packet_id, id2);
    run_for(20ms);
    EXPECT_FALSE(q2->has_value()) << "QoS 2 completes on PUBCOMP, not PUBREC";
    send(pipe, ack<codec::Pubcomp>(id2));
    ASSERT_TRUE(wait(q2));

    auto q1bad = start(c->publish(Message::text("t/1", "no", QoS::AtLeastOnce)));
    auto p3 = expect<codec::Publish>(pipe);
    send(pipe, ack<codec::Puback>(p3->as<codec::Publish>().packet_id, ReasonCode::NotAuthorized));
    auto r3 = wait(q1bad);
    ASSERT_FALSE(r3);
    EXPECT_EQ(r3.error().kind, Error::Kind::Refused);
    EXPECT_EQ(r3.error().message, "Not authorized");
}

TEST_F(AsyncClientTest, MessagePropertiesGoOnTheWire) {
    auto c = make_client(v5_options());
    ASSERT_TRUE(handshake(*c));
    Message m = Message::text("req", "q", QoS::AtMostOnce);
    m.properties.response_topic = "resp/1";
    m.properties.correlation_data = std::vector<std::byte>{std::byte{1}, std::byte{2}};
    m.properties.user_properties = {{"a", "1"}, {"a", "2"}};
    m.properties.message_expiry_interval = 60;
    m.properties.payload_format_indicator = 1;
    ASSERT_TRUE(wait(start(c->publish(m))));
    auto p = expect<codec::Publish>(*pipes[0]);
    const auto& props = p->as<codec::Publish>().properties;
    EXPECT_EQ(props.response_topic, "resp/1");
    ASSERT_TRUE(props.correlation_data);
    EXPECT_EQ(props.correlation_data->size(), 2U);
    ASSERT_EQ(props.user_properties.size(), 2U);
    EXPECT_EQ(props.user_properties[1].value, "2");
    EXPECT_EQ(props.message_expiry_interval, 60U);
    EXPECT_EQ(props.payload_format_indicator, 1);
}

TEST_F(AsyncClientTest, InboundQoS1IsAcknowledgedAndReceived) {
    auto c = make_client(v5_options());
    ASSERT_TRUE(handshake(*c));
    auto& pipe = *pipes[0];
    auto pub = publish_packet("in/1", "hello", codec::QoS::AtLeastOnce, 5);
    const std::uint32_t sid = 9;
    pub.properties.subscription_identifiers = std::span(&sid, 1);
    send(pipe, pub);
    auto m = wait(start(c->receive()));
    ASSERT_TRUE(m);
    EXPECT_EQ(m->topic, "in/1");
    EXPECT_EQ(m->payload_text(), "hello");
    EXPECT_EQ(m->qos, QoS::AtLeastOnce);
    ASSERT_EQ(m->properties.subscription_identifiers.size(), 1U);
    EXPECT_EQ(m->properties.subscription_identifiers[0], 9U);
    auto a = expect<codec::Puback>(pipe);
    EXPECT_EQ(a->as<codec::Puback>().packet_id, 5);
}

TEST_F(AsyncClientTest, InboundQoS2IsDeliveredOnceUntilPubrel) {
    auto c = make_client(v5_options());
    ASSERT_TRUE(handshake(*c));
    auto& pipe = *pipes[0];
    std::vector<std::string> got;
    c->on_message([&](const Message& m) { got.push_back(std::string(m.payload_text())); });
    send(pipe, publish_packet("in/2", "first", codec::QoS::ExactlyOnce, 7));
    EXPECT_EQ(expect<codec::Pubrec>(pipe)->as<codec::Pubrec>().packet_id, 7);
    auto dup = publish_packet("in/2", "first", codec::QoS::ExactlyOnce, 7);
    dup.dup = true;
    send(pipe, dup);
    EXPECT_EQ(expect<codec::Pubrec>(pipe)->as<codec::Pubrec>().packet_id, 7);
    EXPECT_EQ(got.size(), 1U);
    send(pipe, ack<codec::Pubrel>(7));
    auto comp = expect<codec::Pubcomp>(pipe);
    EXPECT_EQ(comp->as<codec::Pubcomp>().reason, ReasonCode::Success);
    send(pipe, publish_packet("in/2", "second", codec::QoS::ExactlyOnce, 7));
    expect<codec::Pubrec>(pipe);
    EXPECT_EQ(got, (std::vector<std::string>{"first", "second"}));
}

TEST_F(AsyncClientTest, InflightWindowHonoursTheBrokersReceiveMaximum) {
    auto c = make_client(v5_options());
    codec::Connack ack_packet;
    ack_packet.properties.receive_maximum = 2;
    ASSERT_TRUE(handshake(*c, ack_packet));
    auto& pipe = *pipes[0];
    auto a = start(c->publish(Message::text("w", "1", QoS::AtLeastOnce)));
    auto b = start(c->publish(Message::text("w", "2", QoS::ExactlyOnce)));
    auto d = start(c->publish(Message::text("w", "3", QoS::AtLeastOnce)));
    auto pa = expect<codec::Publish>(pipe);
    auto pb = expect<codec::Publish>(pipe);
    EXPECT_EQ(next(pipe, 100ms), nullptr) << "a third PUBLISH beyond Receive Maximum 2";
    send(pipe, ack<codec::Puback>(pa->as<codec::Publish>().packet_id));
    auto pd = expect<codec::Publish>(pipe);
    EXPECT_EQ(as_string(pd->as<codec::Publish>().payload), "3");
    ASSERT_TRUE(wait(a));
    send(pipe, ack<codec::Pubrec>(pb->as<codec::Publish>().packet_id));
    expect<codec::Pubrel>(pipe);
    send(pipe, ack<codec::Pubcomp>(pb->as<codec::Publish>().packet_id));
    send(pipe, ack<codec::Puback>(pd->as<codec::Publish>().packet_id));
    ASSERT_TRUE(wait(b));
    ASSERT_TRUE(wait(d));
}

TEST_F(AsyncClientTest, KeepalivePingsAndClosesWithoutPingresp) {
    auto o = v5_options();
    o.keep_alive_s = 1;
    auto c = make_client(o);
    std::optional<Error> lost;
    c->on_disconnected([&](const Error& e) { lost = e; });
    ASSERT_TRUE(handshake(*c));
    auto& pipe = *pipes[0];
    const auto t0 = std::chrono::steady_clock::now();
    expect<codec::Pingreq>(pipe, 3000ms);
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 800ms);
    send(pipe, codec::Pingresp{});
    expect<codec::Pingreq>(pipe, 3000ms);
    // No answer this time: the connection is closed within another keep alive.
    ASSERT_TRUE(run_until([&] { return lost.has_value(); }, 3000ms));
    EXPECT_EQ(lost->kind, Error::Kind::Timeout);
    EXPECT_FALSE(c->connected());
    auto r = wait(start(c->receive()));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, Error::Kind::Closed);
}

TEST_F(AsyncClientTest, SubscribeWithOptionsAndUnsubscribe) {
    auto c = make_client(v5_options());
    ASSERT_TRUE(handshake(*c));
    auto& pipe = *pipes[0];
    Subscription s{"a/+", {QoS::ExactlyOnce, true, true, 2}};
    auto r = start(c->subscribe({s, {"b/#", {}}}, 42, {{"u", "p"}}));
    auto sub = expect<codec::Subscribe>(pipe);
    const auto& sp = sub->as<codec::Subscribe>();
    ASSERT_EQ(sp.subscriptions.size(), 2U);
    EXPECT_EQ(sp.subscriptions[0].filter, "a/+");
    EXPECT_EQ(sp.subscriptions[0].options.qos, codec::QoS::ExactlyOnce);
    EXPECT_TRUE(sp.subscriptions[0].options.no_local);
    EXPECT_TRUE(sp.subscriptions[0].options.retain_as_published);
    EXPECT_EQ(sp.subscriptions[0].options.retain_handling, 2);
    ASSERT_EQ(sp.properties.subscription_identifiers.size(), 1U);
    EXPECT_EQ(sp.properties.subscription_identifiers[0], 42U);
    ASSERT_EQ(sp.properties.user_properties.size(), 1U);
    codec::Suback suback;
    suback.packet_id = sp.packet_id;
    const ReasonCode codes[] = {ReasonCode::GrantedQoS2, ReasonCode::NotAuthorized};
    suback.reason_codes = codes;
    send(pipe, suback);
    auto result = wait(r);
    ASSERT_TRUE(result);
    EXPECT_EQ(result->reason_codes, (std::vector<std::uint8_t>{2, 0x87}));

    auto denied = start(c->subscribe({{"x", {}}}));
    auto sub2 = expect<codec::Subscribe>(pipe);
    codec::Suback no;
    no.packet_id = sub2->as<codec::Subscribe>().packet_id;
    const ReasonCode nocode[] = {ReasonCode::NotAuthorized};
    no.reason_codes = nocode;
    send(pipe, no);
    auto dr = wait(denied);
    ASSERT_FALSE(dr);
    EXPECT_EQ(dr.error().kind, Error::Kind::Refused);
    EXPECT_EQ(dr.error().reason, 0x87);

    auto u = start(c->unsubscribe({"a/+"}));
    auto unsub = expect<codec::Unsubscribe>(pipe);
    codec::Unsuback ua;
    ua.packet_id = unsub->as<codec::Unsubscribe>().packet_id;
    const ReasonCode ucodes[] = {ReasonCode::Success};
    ua.reason_codes = ucodes;
    send(pipe, ua);
    auto ur = wait(u);
    ASSERT_TRUE(ur);
    EXPECT_EQ(ur->reason_codes, (std::vector<std::uint8_t>{0}));

    auto bad = wait(start(c->subscribe({{"a/#/b", {}}})));
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().kind, Error::Kind::InvalidArgument);
}

TEST_F(AsyncClientTest, OutboundTopicAliasesWithinTheBrokersMaximum) {
    auto c = make_client(v5_options());
    codec::Connack ca;
    ca.properties.topic_alias_maximum = 1;
    ASSERT_TRUE(handshake(*c, ca));
    auto& pipe = *pipes[0];
    for (const char* t : {"long/topic", "long/topic", "other"}) ASSERT_TRUE(wait(start(c->publish(Message::text(t, "x")))));
    auto a = expect<codec::Publish>(pipe);
    EXPECT_EQ(a->as<codec::Publish>().topic, "long/topic");
    EXPECT_EQ(a->as<codec::Publish>().properties.topic_alias, 1);
    auto b = expect<codec::Publish>(pipe);
    EXPECT_EQ(b->as<codec::Publish>().topic, "");
    EXPECT_EQ(b->as<codec::Publish>().properties.topic_alias, 1);
    auto d = expect<codec::Publish>(pipe);
    EXPECT_EQ(d->as<codec::Publish>().topic, "other");
    EXPECT_FALSE(d->as<codec::Publish>().properties.topic_alias);
}

TEST_F(AsyncClientTest, InboundTopicAliasesAndAnAliasBeyondOurMaximum) {
    auto c = make_client(v5_options());
    std::optional<Error> lost;
    c->on_disconnected([&](const Error& e) { lost = e; });
    ASSERT_TRUE(handshake(*c));
    auto& pipe = *pipes[0];
    auto p = publish_packet("aliased/topic", "1", codec::QoS::AtMostOnce);
    p.properties.topic_alias = 3;
    send(pipe, p);
    auto p2 = publish_packet("", "2", codec::QoS::AtMostOnce);
    p2.properties.topic_alias = 3;
    send(pipe, p2);
    auto m1 = wait(start(c->receive()));
    auto m2 = wait(start(c->receive()));
    ASSERT_TRUE(m1 && m2);
    EXPECT_EQ(m2->topic, "aliased/topic");
    EXPECT_EQ(m2->payload_text(), "2");
    auto bad = publish_packet("x", "3", codec::QoS::AtMostOnce);
    bad.properties.topic_alias = 17;  // our maximum is 16
    send(pipe, bad);
    auto d = expect<codec::Disconnect>(pipe);
    EXPECT_EQ(d->as<codec::Disconnect>().reason, ReasonCode::TopicAliasInvalid);
    ASSERT_TRUE(run_until([&] { return lost.has_value(); }));
    EXPECT_EQ(lost->kind, Error::Kind::Protocol);
}

TEST_F(AsyncClientTest, ReconnectResendsUnacknowledgedPublishAndPubrel) {
    auto o = v5_options();
    o.clean_start = false;
    o.session_expiry_interval = 600;
    o.auto_reconnect = true;
    o.reconnect_min = 10ms;
    o.reconnect_max = 40ms;
    auto c = make_client(o);
    int connected = 0;
    int disconnected = 0;
    c->on_connected([&](const ConnectResult&) { ++connected; });
    c->on_disconnected([&](const Error&) { ++disconnected; });
    ASSERT_TRUE(handshake(*c));
    auto& first = *pipes[0];
    auto q1 = start(c->publish(Message::text("r/1", "one", QoS::AtLeastOnce)));
    auto q2 = start(c->publish(Message::text("r/2", "two", QoS::ExactlyOnce)));
    const auto id1 = expect<codec::Publish>(first)->as<codec::Publish>().packet_id;
    const auto id2 = expect<codec::Publish>(first)->as<codec::Publish>().packet_id;
    send(first, ack<codec::Pubrec>(id2));
    expect<codec::Pubrel>(first);
    // Inbound QoS 2 half done: the dedup state survives too.
    send(first, publish_packet("in", "once", codec::QoS::ExactlyOnce, 9));
    expect<codec::Pubrec>(first);
    drop(first);

    ASSERT_TRUE(run_until([&] { return pipes.size() == 2 && !pipes[1]->from_client.empty(); }));
    auto& second = *pipes[1];
    auto connect = expect<codec::Connect>(second);
    EXPECT_FALSE(connect->as<codec::Connect>().clean_start);
    codec::Connack present;
    present.session_present = true;
    send(second, present);
    auto re1 = expect<codec::Publish>(second);
    EXPECT_TRUE(re1->as<codec::Publish>().dup);
    EXPECT_EQ(re1->as<codec::Publish>().packet_id, id1);
    EXPECT_EQ(re1->as<codec::Publish>().topic, "r/1");
    auto re2 = expect<codec::Pubrel>(second);
    EXPECT_EQ(re2->as<codec::Pubrel>().packet_id, id2);
    auto dup_in = publish_packet("in", "once", codec::QoS::ExactlyOnce, 9);
    dup_in.dup = true;
    send(second, dup_in);
    expect<codec::Pubrec>(second);
    send(second, ack<codec::Puback>(id1));
    send(second, ack<codec::Pubcomp>(id2));
    ASSERT_TRUE(wait(q1));
    ASSERT_TRUE(wait(q2));
    auto m = wait(start(c->receive()));
    ASSERT_TRUE(m);
    EXPECT_EQ(m->payload_text(), "once");
    auto none = wait(start(c->receive(50ms)));
    ASSERT_FALSE(none) << "the duplicate was delivered again";
    EXPECT_EQ(none.error().kind, Error::Kind::Timeout);
    EXPECT_EQ(connected, 2);
    EXPECT_EQ(disconnected, 1);
}

TEST_F(AsyncClientTest, ReconnectWithoutSessionResubscribesAndSendsAgain) {
    auto o = v5_options();
    o.auto_reconnect = true;
    o.reconnect_min = 10ms;
    o.reconnect_max = 40ms;
    auto c = make_client(o);
    ASSERT_TRUE(handshake(*c));
    auto& first = *pipes[0];
    auto s = start(c->subscribe({{"keep/#", {QoS::AtLeastOnce}}}, 3));
    auto sub = expect<codec::Subscribe>(first);
    codec::Suback sa;
    sa.packet_id = sub->as<codec::Subscribe>().packet_id;
    const ReasonCode granted[] = {ReasonCode::GrantedQoS1};
    sa.reason_codes = granted;
    send(first, sa);
    ASSERT_TRUE(wait(s));
    auto q1 = start(c->publish(Message::text("r/1", "one", QoS::AtLeastOnce)));
    expect<codec::Publish>(first);
    drop(first);

    ASSERT_TRUE(run_until([&] { return pipes.size() == 2 && !pipes[1]->from_client.empty(); }));
    auto& second = *pipes[1];
    expect<codec::Connect>(second);
    send(second, codec::Connack{});  // session_present = 0
    auto resub = expect<codec::Subscribe>(second);
    ASSERT_EQ(resub->as<codec::Subscribe>().subscriptions.size(), 1U);
    EXPECT_EQ(resub->as<codec::Subscribe>().subscriptions[0].filter, "keep/#");
    EXPECT_EQ(resub->as<codec::Subscribe>().properties.subscription_identifiers[0], 3U);
    auto again = expect<codec::Publish>(second);
    EXPECT_FALSE(again->as<codec::Publish>().dup) << "a new session gets a new message, not a duplicate";
    send(second, ack<codec::Puback>(again->as<codec::Publish>().packet_id));
    ASSERT_TRUE(wait(q1));
}

TEST_F(AsyncClientTest, OfflineBufferDropsOldestQoS0ThenRefuses) {
    auto o = v5_options();
    o.auto_reconnect = true;
    o.reconnect_min = 20ms;
    o.reconnect_max = 40ms;
    o.offline_buffer_limit = 2;
    auto c = make_client(o);
    ASSERT_TRUE(handshake(*c));
    refuse = true;
    drop(*pipes[0]);
    ASSERT_TRUE(run_until([&] { return !c->connected(); }));
    ASSERT_TRUE(wait(start(c->publish(Message::text("o", "a")))));
    auto q1 = start(c->publish(Message::text("o", "b", QoS::AtLeastOnce)));
    ASSERT_TRUE(wait(start(c->publish(Message::text("o", "c")))));  // drops "a"
    auto full = start(c->publish(Message::text("o", "d", QoS::AtLeastOnce)));  // "b" and "c": "c" goes
    auto q3 = start(c->publish(Message::text("o", "e", QoS::AtLeastOnce)));   // only QoS 1 left: refused
    auto r3 = wait(q3);
    ASSERT_FALSE(r3);
    EXPECT_EQ(r3.error().kind, Error::Kind::NotConnected);
    const int before = attempts;
    ASSERT_TRUE(run_until([&] { return attempts >= before + 2; })) << "keeps trying with backoff";
    refuse = false;
    ASSERT_TRUE(run_until([&] { return pipes.size() == 2 && !pipes[1]->from_client.empty(); }));
    auto& second = *pipes[1];
    expect<codec::Connect>(second);
    send(second, codec::Connack{});
    auto pb = expect<codec::Publish>(second);
    EXPECT_EQ(as_string(pb->as<codec::Publish>().payload), "b");
    auto pd = expect<codec::Publish>(second);
    EXPECT_EQ(as_string(pd->as<codec::Publish>().payload), "d");
    send(second, ack<codec::Puback>(pb->as<codec::Publish>().packet_id));
    send(second, ack<codec::Puback>(pd->as<codec::Publish>().packet_id));
    ASSERT_TRUE(wait(q1));
    ASSERT_TRUE(wait(full));
}

TEST_F(AsyncClientTest, EnhancedAuthenticationAndReauthentication) {
    auto o = v5_options();
    o.authentication_method = "TEST";
    o.authentication_data = {std::byte{'a'}};
    std::vector<std::string> challenges;
    o.on_auth = [&](std::span<const std::byte> data) -> Result<std::vector<std::byte>> {
        challenges.emplace_back(client::as_text(data));
        const std::string answer = "answer-" + challenges.back();
        const auto bytes = client::as_bytes(answer);
        return std::vector<std::byte>(bytes.begin(), bytes.end());
    };
    auto c = make_client(o);
    auto r = start(c->connect());
    ASSERT_TRUE(run_until([&] { return !pipes.empty() && !pipes[0]->from_client.empty(); }));
    auto& pipe = *pipes[0];
    auto connect = expect<codec::Connect>(pipe);
    EXPECT_EQ(connect->as<codec::Connect>().properties.authentication_method, "TEST");
    codec::Auth challenge;
    challenge.reason = ReasonCode::ContinueAuthentication;
    challenge.properties.authentication_method = "TEST";
    challenge.properties.authentication_data = text_bytes("c1");
    send(pipe, challenge);
    auto reply = expect<codec::Auth>(pipe);
    EXPECT_EQ(reply->as<codec::Auth>().reason, ReasonCode::ContinueAuthentication);
    EXPECT_EQ(as_string(*reply->as<codec::Auth>().properties.authentication_data), "answer-c1");
    codec::Connack ok;
    ok.properties.authentication_method = "TEST";
    send(pipe, ok);
    ASSERT_TRUE(wait(r));

    auto re = start(c->reauthenticate({std::byte{'z'}}));
    auto a19 = expect<codec::Auth>(pipe);
    EXPECT_EQ(a19->as<codec::Auth>().reason, ReasonCode::ReAuthenticate);
    send(pipe, challenge);
    expect<codec::Auth>(pipe);
    codec::Auth done;
    done.reason = ReasonCode::Success;
    done.properties.authentication_method = "TEST";
    send(pipe, done);
    ASSERT_TRUE(wait(re));
    EXPECT_EQ(challenges.size(), 2U);
}

TEST_F(AsyncClientTest, DisconnectSendsReasonAndSessionExpiryThenReceiveFailsClosed) {
    auto c = make_client(v5_options());
    ASSERT_TRUE(handshake(*c));
    auto& pipe = *pipes[0];
    auto pending = start(c->receive());
    auto d = start(c->disconnect(0x04, 0));
    auto packet = expect<codec::Disconnect>(pipe);
    EXPECT_EQ(packet->as<codec::Disconnect>().reason, ReasonCode::DisconnectWithWillMessage);
    EXPECT_EQ(packet->as<codec::Disconnect>().properties.session_expiry_interval, 0U);
    ASSERT_TRUE(run_until([&] { return *d; }));
    auto r = wait(pending);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, Error::Kind::Closed);
    EXPECT_FALSE(c->connected());
}

TEST_F(AsyncClientTest, BrokerDisconnectIsReportedWithItsReason) {
    auto c = make_client(v5_options());
    std::optional<Error> lost;
    c->on_disconnected([&](const Error& e) { lost = e; });
    ASSERT_TRUE(handshake(*c));
    codec::Disconnect d;
    d.reason = ReasonCode::SessionTakenOver;
    send(*pipes[0], d);
    ASSERT_TRUE(run_until([&] { return lost.has_value(); }));
    EXPECT_EQ(lost->kind, Error::Kind::Refused);
    EXPECT_EQ(lost->reason, 0x8E);
    EXPECT_EQ(lost->message, "disconnected by the broker: Session taken over");
}

}  // namespace
}  // namespace moth::test
