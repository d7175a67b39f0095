#pragma once
// The MQTT-SN client's bookkeeping, free of sockets and clocks so that it is unit tested directly: which topic id
// names which topic, which QoS 2 PUBLISHes wait for their PUBREL (so that a resent one is not delivered twice),
// which QoS 1 message ids came recently (to count duplicates), and the requests that wait for an answer and are
// resent every retry interval until they get one or run out of tries.
//
// Thread affinity: none; each client owns its own instances and uses them from its io_context's thread.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "mqttsn/packets.hpp"

namespace moth::cli::sn {

// ---- topic ids ---------------------------------------------------------------------------------------------------
class TopicRegistry {
public:
    // A normal topic id and its name: from our REGISTER's REGACK, the gateway's REGISTER, or a SUBACK for a name
    // without wildcards (section 6.9: the gateway then returns the id it will publish with).
    void learn(std::uint16_t id, std::string name);
    // A predefined id's name, when the user told us; unknown predefined ids print as their decimal number.
    void predefine(std::uint16_t id, std::string name);
    // The topic name a PUBLISH's TopicId field stands for; nullopt for an unknown normal id (answered with PUBACK
    // "invalid topic id", section 6.7).
    [[nodiscard]] std::optional<std::string> resolve(mqttsn::TopicIdType type, std::uint16_t id) const;
    [[nodiscard]] std::optional<std::uint16_t> id_of(std::string_view name) const;

private:
    std::unordered_map<std::uint16_t, std::string> normal_;
    std::unordered_map<std::uint16_t, std::string> predefined_;
};

// "ab" <-> 0x6162: the short topic name in the two-octet TopicId field (section 5.3.11).
[[nodiscard]] std::uint16_t short_id(std::string_view two_chars) noexcept;  // precondition: size() == 2
[[nodiscard]] std::string short_name(std::uint16_t id);

// ---- duplicates ----------------------------------------------------------------------------------------------------
// QoS 2 receipt (section 6.7, as MQTT's method B): a PUBLISH is delivered on first arrival and its msg id held
// until PUBREL; the same msg id arriving again before that is a resend (DUP) and is answered but not delivered.
class Qos2Filter {
public:
    // True the first time; false while `msg_id` waits for its PUBREL.
    [[nodiscard]] bool first_arrival(std::uint16_t msg_id);
    void released(std::uint16_t msg_id);  // PUBREL arrived: the id may be reused
    [[nodiscard]] std::size_t pending() const noexcept { return ids_.size(); }

private:
    std::unordered_set<std::uint16_t> ids_;
};

// QoS 1 may deliver twice (the PUBACK was lost); a message id seen among the last kWindow QoS 1 ids is counted
// as a duplicate. Gateways count msg ids upwards, so an honest reuse is 65,535 messages away.
class RecentIds {
public:
    static constexpr std::size_t kWindow = 32;
    // True if `msg_id` is among the recent ones (a duplicate); records it either way.
    bool seen(std::uint16_t msg_id);

private:
    std::array<std::uint16_t, kWindow> ids_{};
    std::size_t next_ = 0;
    std::size_t size_ = 0;
};

// ---- requests awaiting an answer ---------------------------------------------------------------------------------
// What an outstanding request waits for. A QoS 2 PUBLISH waits for PUBREC, then (as PUBREL) for PUBCOMP.
enum class Await : std::uint8_t { Connack, Regack, Puback, Pubrec, Pubcomp, Suback, Unsuback, PingResp, Disconnect };

[[nodiscard]] std::string_view await_name(Await a) noexcept;  // "CONNACK", ...

// The (Await, msg id) an incoming message answers; nullopt for a message that answers no request. A PUBACK is
// keyed as Puback; the client also tries it against a QoS 2 PUBLISH (Pubrec), which a gateway rejects by PUBACK.
struct AnswerKey {
    Await await;
    std::uint16_t msg_id;
};
[[nodiscard]] std::optional<AnswerKey> answer_key(const mqttsn::Packet& p) noexcept;

// Sets the DUP flag of an encoded PUBLISH or SUBSCRIBE (their Flags octet follows MsgType, section 5.3.4), so a
// resend is the same datagram with one bit changed. Other messages are left alone.
void set_dup(mqttsn::Buffer& datagram) noexcept;

// Boost 1.81's any_completion_handler move-assigns through `any_completion_handler(other)` with `other` an
// lvalue, which its unconstrained converting constructor takes for a new handler to wrap, whose construction
// wraps it again, without end: a stack overflow (fixed in Boost 1.82). std::vector::erase move-assigns every
// entry after the erased one, so the retry book holds its handlers in this, whose move assignment only
// move-constructs (the real move constructor) and swaps.
template <class Handler>
class HandlerSlot {
public:
    HandlerSlot(Handler h) noexcept : h_(std::move(h)) {}  // NOLINT(google-explicit-constructor): add(..., done)
    HandlerSlot(HandlerSlot&& o) noexcept : h_(std::move(o.h_)) {}
    HandlerSlot& operator=(HandlerSlot&& o) noexcept {
        Handler taken(std::move(o.h_));
        h_.swap(taken);
        return *this;
    }
    HandlerSlot(const HandlerSlot&) = delete;
    HandlerSlot& operator=(const HandlerSlot&) = delete;
    ~HandlerSlot() = default;
    // The handler, moved out (the slot is left empty).
    [[nodiscard]] Handler take() noexcept { return std::move(h_); }

private:
    Handler h_;
};

// The outstanding requests of one client, each with its encoded datagram, its deadline and the sends so far.
// `Handler` is what completes the request (the socket client keeps Asio completion handlers here).
template <class Handler>
class RetryBook {
public:
    using TimePoint = std::chrono::steady_clock::time_point;
    struct Entry {
        Await await;
        std::uint16_t msg_id;
        mqttsn::Buffer datagram;
        TimePoint deadline;
        std::uint32_t sends;
        Handler handler;
    };

    RetryBook(std::chrono::milliseconds interval, std::uint32_t max_sends) : interval_(interval), max_(max_sends) {}

    // After the first send at `now`.
    void add(Await a, std::uint16_t msg_id, mqttsn::Buffer datagram, TimePoint now, Handler h) {
        entries_.push_back(Entry{a, msg_id, std::move(datagram), now + interval_, 1, std::move(h)});
    }
    [[nodiscard]] Entry* find(Await a, std::uint16_t msg_id) noexcept {
        auto it = std::find_if(entries_.begin(), entries_.end(),
                               [&](const Entry& e) { return e.await == a && e.msg_id == msg_id; });
        return it == entries_.end() ? nullptr : &*it;
    }
    // Removes and returns the entry an answer completes.
    [[nodiscard]] std::optional<Entry> take(Await a, std::uint16_t msg_id) {
        auto it = std::find_if(entries_.begin(), entries_.end(),
                               [&](const Entry& e) { return e.await == a && e.msg_id == msg_id; });
        if (it == entries_.end()) return std::nullopt;
        std::optional<Entry> out(std::move(*it));
        entries_.erase(it);
        return out;
    }
    // The exchange moved on (a will request, a PUBREC): the entry's count and deadline start again.
    void progress(Entry& e, TimePoint now) noexcept {
        e.sends = 1;
        e.deadline = now + interval_;
    }
    // Every entry due at `now`: resent (resend(datagram), DUP set where the message has one) while sends remain,
    // else removed and handed to fail(entry). Returns the number resent.
    template <class Resend, class Fail>
    std::size_t expire(TimePoint now, Resend&& resend, Fail&& fail) {
        std::size_t resent = 0;
        std::vector<Entry> failed;
        for (auto it = entries_.begin(); it != entries_.end();) {
            if (it->deadline > now) {
                ++it;
            } else if (it->sends < max_) {
                set_dup(it->datagram);
                ++it->sends;
                it->deadline = now + interval_;
                resend(it->datagram);
                ++resent;
                ++it;
            } else {
                failed.push_back(std::move(*it));
                it = entries_.erase(it);
            }
        }
        for (auto& e : failed) fail(e);  // after the loop: a failure handler may add new entries
        return resent;
    }
    [[nodiscard]] std::optional<TimePoint> next_deadline() const noexcept {
        std::optional<TimePoint> d;
        for (const auto& e : entries_) {
            if (!d || e.deadline < *d) d = e.deadline;
        }
        return d;
    }
    [[nodiscard]] bool in_use(std::uint16_t msg_id) const noexcept {
        return std::any_of(entries_.begin(), entries_.end(), [&](const Entry& e) { return e.msg_id == msg_id; });
    }
    [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }
    [[nodiscard]] std::uint32_t max_sends() const noexcept { return max_; }
    // Removes every entry (closing): each goes to fail(entry).
    template <class Fail>
    void clear(Fail&& fail) {
        auto all = std::move(entries_);
        entries_.clear();
        for (auto& e : all) fail(e);
    }

private:
    std::vector<Entry> entries_;
    std::chrono::milliseconds interval_;
    std::uint32_t max_;
};

// The next message id after `last` that no outstanding request uses (ids run 1..65535; 0 is not an id).
template <class Book>
[[nodiscard]] std::uint16_t next_msg_id(std::uint16_t last, const Book& book) noexcept {
    std::uint16_t id = last;
    for (int i = 0; i < 65535; ++i) {
        id = static_cast<std::uint16_t>(id == 65535 ? 1 : id + 1);
        if (!book.in_use(id)) return id;
    }
    return static_cast<std::uint16_t>(last == 65535 ? 1 : last + 1);  // 65,535 outstanding: cannot happen here
}

// "127.0.0.1:1884", "[::1]:1884": how error messages name the gateway.
[[nodiscard]] std::string endpoint_text(std::string_view address, std::uint16_t port);

}  // namespace moth::cli::sn
