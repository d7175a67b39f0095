// The MQTT-SN client's socket-free bookkeeping: topic ids, the QoS 2 duplicate filter, QoS 1 duplicate counting,
// DUP on resends, and the retry book's deadlines and give-up.
#include <chrono>
#include <string>
#include <vector>

#include <boost/asio/any_completion_handler.hpp>
#include <gtest/gtest.h>

#include "sn_state.hpp"

namespace moth::cli::sn {
namespace {

using mqttsn::TopicIdType;
using namespace std::chrono_literals;
using TimePoint = std::chrono::steady_clock::time_point;

TEST(SnTopics, ResolvesEachTopicIdType) {
    TopicRegistry r;
    r.learn(5, "a/b");
    EXPECT_EQ(r.resolve(TopicIdType::Normal, 5), "a/b");
    // An id the gateway never REGISTERed: the PUBLISH is refused with "invalid topic id" (section 6.7).
    EXPECT_EQ(r.resolve(TopicIdType::Normal, 6), std::nullopt);
    // Section 5.3.11: a short name travels as its two characters in the TopicId field.
    EXPECT_EQ(r.resolve(TopicIdType::Short, 0x6162), "ab");
    EXPECT_EQ(r.resolve(TopicIdType::Predefined, 9), "9");
    r.predefine(9, "sensors/9");
    EXPECT_EQ(r.resolve(TopicIdType::Predefined, 9), "sensors/9");
    EXPECT_EQ(r.id_of("a/b"), 5);
    EXPECT_EQ(r.id_of("a/c"), std::nullopt);
    r.learn(5, "a/c");  // the gateway reassigned the id (a new session)
    EXPECT_EQ(r.resolve(TopicIdType::Normal, 5), "a/c");
}

TEST(SnTopics, ShortIdRoundTrip) {
    EXPECT_EQ(short_id("ab"), 0x6162);
    EXPECT_EQ(short_name(short_id("zZ")), "zZ");
    EXPECT_EQ(short_id("\xff\x01"), 0xFF01);
}

TEST(SnDuplicates, Qos2DeliveredOnceUntilPubrel) {
    Qos2Filter f;
    EXPECT_TRUE(f.first_arrival(7));
    EXPECT_FALSE(f.first_arrival(7));  // the resend (DUP) before PUBREL: answered with PUBREC, not printed
    EXPECT_TRUE(f.first_arrival(8));
    EXPECT_EQ(f.pending(), 2u);
    f.released(7);
    EXPECT_TRUE(f.first_arrival(7));  // after PUBREL the id is a new message
    f.released(99);                   // a PUBREL for an id never seen is harmless (PUBCOMP is still sent)
    EXPECT_EQ(f.pending(), 2u);
}

TEST(SnDuplicates, Qos1RecentWindow) {
    RecentIds r;
    EXPECT_FALSE(r.seen(1));
    EXPECT_TRUE(r.seen(1));
    for (std::uint16_t i = 2; i < 2 + RecentIds::kWindow; ++i) EXPECT_FALSE(r.seen(i));
    EXPECT_FALSE(r.seen(1));  // fell out of the window: an honest reuse of the id
}

mqttsn::Buffer bytes(std::vector<int> v) {
    mqttsn::Buffer b;
    for (int x : v) b.push_back(static_cast<std::byte>(x));
    return b;
}

TEST(SnDup, SetsTheFlagsBitOfPublishAndSubscribeOnly) {
    // PUBLISH: Length 8, MsgType 0x0C, Flags 0x20 (QoS 1), TopicId 0x0001, MsgId 0x0002, "x"
    auto p = bytes({0x08, 0x0C, 0x20, 0x00, 0x01, 0x00, 0x02, 'x'});
    set_dup(p);
    EXPECT_EQ(p[2], std::byte{0xA0});
    // The same with the three-octet Length (0x01, 0x00, 0x0A)
    auto l = bytes({0x01, 0x00, 0x0A, 0x0C, 0x20, 0x00, 0x01, 0x00, 0x02, 'x'});
    set_dup(l);
    EXPECT_EQ(l[4], std::byte{0xA0});
    // SUBSCRIBE: Length 6, 0x12, Flags 0x00, MsgId 0x0001, "a"
    auto s = bytes({0x06, 0x12, 0x00, 0x00, 0x01, 'a'});
    set_dup(s);
    EXPECT_EQ(s[2], std::byte{0x80});
    // REGISTER has no Flags: untouched
    auto r = bytes({0x07, 0x0A, 0x00, 0x00, 0x00, 0x01, 'a'});
    const auto before = r;
    set_dup(r);
    EXPECT_EQ(r, before);
}

TEST(SnAnswers, KeysByTypeAndMsgId) {
    auto k = answer_key(mqttsn::Packet{mqttsn::Regack{3, 17, mqttsn::ReturnCode::Accepted}});
    ASSERT_TRUE(k);
    EXPECT_EQ(k->await, Await::Regack);
    EXPECT_EQ(k->msg_id, 17);
    k = answer_key(mqttsn::Packet{mqttsn::PingResp{}});
    ASSERT_TRUE(k);
    EXPECT_EQ(k->await, Await::PingResp);
    EXPECT_FALSE(answer_key(mqttsn::Packet{mqttsn::Publish{}}));  // a PUBLISH answers nothing
    EXPECT_EQ(await_name(Await::Connack), "CONNACK");
}

TEST(SnRetryBook, ResendsWithDupThenGivesUp) {
    RetryBook<int> book(1000ms, 3);
    const TimePoint t0{};
    book.add(Await::Puback, 2, bytes({0x08, 0x0C, 0x20, 0x00, 0x01, 0x00, 0x02, 'x'}), t0, 42);
    EXPECT_EQ(book.next_deadline(), t0 + 1000ms);
    std::vector<mqttsn::Buffer> sent;
    std::vector<int> failed;
    const auto resend = [&](const mqttsn::Buffer& d) { sent.push_back(d); };
    const auto fail = [&](auto& e) { failed.push_back(e.handler); };
    EXPECT_EQ(book.expire(t0 + 999ms, resend, fail), 0u);   // not yet due
    EXPECT_EQ(book.expire(t0 + 1000ms, resend, fail), 1u);  // second send
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_EQ(sent[0][2], std::byte{0xA0});  // DUP set on the resend
    EXPECT_EQ(book.next_deadline(), t0 + 2000ms);
    EXPECT_EQ(book.expire(t0 + 2000ms, resend, fail), 1u);  // third send: the last
    EXPECT_TRUE(failed.empty());
    EXPECT_EQ(book.expire(t0 + 3000ms, resend, fail), 0u);  // no answer to three sends: failed
    EXPECT_EQ(failed, std::vector<int>{42});
    EXPECT_EQ(book.size(), 0u);
    EXPECT_FALSE(book.next_deadline());
}

TEST(SnRetryBook, AnswerTakesTheEntryAndProgressRestartsIt) {
    RetryBook<int> book(100ms, 2);
    const TimePoint t0{};
    book.add(Await::Pubrec, 9, bytes({0x08, 0x0C, 0x40, 0x00, 0x01, 0x00, 0x09, 'x'}), t0, 1);
    book.add(Await::Suback, 10, bytes({0x06, 0x12, 0x00, 0x00, 0x0A, 'a'}), t0 + 50ms, 2);
    EXPECT_TRUE(book.in_use(9));
    EXPECT_FALSE(book.take(Await::Puback, 9));  // keyed by what it waits for
    auto e = book.take(Await::Pubrec, 9);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->handler, 1);
    EXPECT_FALSE(book.in_use(9));
    EXPECT_EQ(book.next_deadline(), t0 + 150ms);
    auto* s = book.find(Await::Suback, 10);
    ASSERT_NE(s, nullptr);
    book.progress(*s, t0 + 500ms);  // e.g. CONNECT answered by WILLTOPICREQ: tries start again
    EXPECT_EQ(book.next_deadline(), t0 + 600ms);
    int failures = 0;
    book.clear([&](auto&) { ++failures; });
    EXPECT_EQ(failures, 1);
}

TEST(SnRetryBook, MessageIdsSkipZeroAndOutstanding) {
    RetryBook<int> book(100ms, 2);
    book.add(Await::Puback, 1, {}, TimePoint{}, 0);
    EXPECT_EQ(next_msg_id(0, book), 2);
    EXPECT_EQ(next_msg_id(65535, book), 2);  // wraps past 0 and the outstanding 1
    EXPECT_EQ(next_msg_id(5, book), 6);
}

TEST(SnEndpoint, Text) {
    EXPECT_EQ(endpoint_text("127.0.0.1", 1884), "127.0.0.1:1884");
    EXPECT_EQ(endpoint_text("::1", 1885), "[::1]:1885");
}

// Regression: with Boost 1.81, erasing a retry-book entry move-assigned the any_completion_handlers after it,
// which recursed without end (`moth sn bench` died of a stack overflow once PINGREQs were outstanding beside
// PUBLISHes). Answers taken out of order must leave the other handlers intact and callable.
TEST(SnRetryBook, TakingOneEntryKeepsTheOthersHandlersCallable) {
    using Done = boost::asio::any_completion_handler<void(int)>;
    RetryBook<HandlerSlot<Done>> book(1000ms, 3);
    std::vector<int> completed;
    const TimePoint t0{};
    for (std::uint16_t id = 1; id <= 3; ++id) {
        book.add(Await::Puback, id, mqttsn::Buffer{}, t0, Done([&completed](int v) { completed.push_back(v); }));
    }
    auto first = book.take(Await::Puback, 1);  // erase(begin): entries 2 and 3 are move-assigned down
    ASSERT_TRUE(first.has_value());
    first->handler.take()(1);
    auto third = book.take(Await::Puback, 3);
    ASSERT_TRUE(third.has_value());
    third->handler.take()(3);
    book.clear([](auto& e) { e.handler.take()(2); });
    EXPECT_EQ(completed, (std::vector<int>{1, 3, 2}));
    EXPECT_EQ(book.size(), 0U);
}

}  // namespace
}  // namespace moth::cli::sn
