#pragma once
// An application message as the broker routes it: decoded once from the publisher's PUBLISH, owned,
// immutable, and shared (by shared_ptr) by every queue and every worker that delivers it.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "codec/packets.hpp"

namespace moth::broker {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;

// A message's User Properties kept as the wire has them (each: 0x26, key, value as length-prefixed UTF-8), in one
// block: a PUBLISH of 140,000 tiny properties costs its wire size here, not 140,000 pairs of strings (issue 16).
// The encoder copies the block verbatim (codec::Properties::encoded_user_properties); iteration decodes views.
class UserProperties {
public:
    UserProperties() = default;
    UserProperties(std::initializer_list<std::pair<std::string_view, std::string_view>> list) {
        for (const auto& [k, v] : list) add(k, v);
    }
    // Keys and values must be at most 65535 bytes (as any MQTT string).
    void add(std::string_view key, std::string_view value) {
        blob_.push_back(std::byte{0x26});
        put(key);
        put(value);
        ++count_;
    }
    void reserve_bytes(std::size_t n) { blob_.reserve(n); }
    void shrink_to_fit() { blob_.shrink_to_fit(); }
    [[nodiscard]] std::size_t size() const noexcept { return count_; }
    [[nodiscard]] bool empty() const noexcept { return count_ == 0; }
    [[nodiscard]] std::span<const std::byte> encoded() const noexcept { return blob_; }
    [[nodiscard]] std::size_t capacity_bytes() const noexcept { return blob_.capacity(); }

    class iterator {
    public:
        using iterator_category = std::forward_iterator_tag;
        using value_type = codec::UserProperty;
        using difference_type = std::ptrdiff_t;
        using pointer = void;
        using reference = value_type;
        iterator() = default;
        iterator(const std::byte* p) : p_(p) {}
        value_type operator*() const {
            const auto key = str(p_ + 1);
            return {key, str(key.data() + key.size())};
        }
        iterator& operator++() {
            const auto v = (**this).value;
            p_ = reinterpret_cast<const std::byte*>(v.data() + v.size());
            return *this;
        }
        iterator operator++(int) {
            auto old = *this;
            ++*this;
            return old;
        }
        friend bool operator==(const iterator&, const iterator&) = default;

    private:
        static std::string_view str(const void* at) {
            const auto* b = static_cast<const unsigned char*>(at);
            const auto n = static_cast<std::size_t>((b[0] << 8) | b[1]);
            return {reinterpret_cast<const char*>(b + 2), n};
        }
        const std::byte* p_ = nullptr;
    };
    [[nodiscard]] iterator begin() const noexcept { return {blob_.data()}; }
    [[nodiscard]] iterator end() const noexcept { return {blob_.data() + blob_.size()}; }

    friend bool operator==(const UserProperties&, const UserProperties&) = default;

private:
    void put(std::string_view s) {
        blob_.push_back(static_cast<std::byte>((s.size() >> 8) & 0xFFU));
        blob_.push_back(static_cast<std::byte>(s.size() & 0xFFU));
        const auto* b = reinterpret_cast<const std::byte*>(s.data());
        blob_.insert(blob_.end(), b, b + s.size());
    }
    std::vector<std::byte> blob_;
    std::uint32_t count_ = 0;
};

struct Message {
    std::string topic;
    std::vector<std::byte> payload;
    codec::QoS qos = codec::QoS::AtMostOnce;
    bool retain = false;
    // MQTT 5.0 properties passed through to subscribers [MQTT-3.3.2-15..20 area].
    std::optional<std::uint8_t> payload_format_indicator;
    std::optional<std::string> content_type;
    std::optional<std::string> response_topic;
    std::optional<std::vector<std::byte>> correlation_data;
    UserProperties user_properties;
    // Absolute deadline from the Message Expiry Interval; forwarded with the time left [MQTT-3.3.2-6].
    std::optional<TimePoint> expires_at;
    std::uint64_t origin_session = 0;  // for No Local
    // What the message occupies in memory (see memory_size()), set by seal() once it is built.
    std::size_t footprint = 0;

    [[nodiscard]] bool expired(TimePoint now) const { return expires_at && now >= *expires_at; }

    // The bytes this message holds in memory: the object and its shared_ptr control block, topic, payload and every
    // property. What queue and buffer limits count (limits.max_queued_bytes): not the payload alone, since a
    // message's weight may be all in its properties. Computed once by seal(); a message built without it (tests)
    // is measured on each call.
    [[nodiscard]] std::size_t measure() const noexcept {
        constexpr std::size_t kControlBlock = 2 * sizeof(void*) + 2 * sizeof(long);
        auto opt = [](const auto& o) -> std::size_t { return o ? o->size() : 0; };
        return sizeof(Message) + kControlBlock + heap(topic) + payload.capacity() + heap_opt(content_type) +
               heap_opt(response_topic) + opt(correlation_data) + user_properties.capacity_bytes();
    }
    [[nodiscard]] std::size_t memory_size() const noexcept { return footprint != 0 ? footprint : measure(); }
    // Call when the message is complete, before it is shared: trims spare capacity and records memory_size().
    void seal() {
        payload.shrink_to_fit();
        user_properties.shrink_to_fit();
        footprint = measure();
    }

private:
    static std::size_t heap(const std::string& s) noexcept { return s.capacity() > 15 ? s.capacity() + 1 : 0; }
    static std::size_t heap_opt(const std::optional<std::string>& s) noexcept { return s ? heap(*s) : 0; }
};

using MessagePtr = std::shared_ptr<const Message>;

// Copies what a decoded PUBLISH (views into a read buffer) carries into an owned Message.
[[nodiscard]] inline std::shared_ptr<Message> make_message(const codec::Publish& p, std::string_view topic,
                                                           TimePoint now) {
    auto m = std::make_shared<Message>();
    m->topic.assign(topic);
    m->payload.assign(p.payload.begin(), p.payload.end());
    m->qos = p.qos;
    m->retain = p.retain;
    const auto& pr = p.properties;
    m->payload_format_indicator = pr.payload_format_indicator;
    if (pr.content_type) m->content_type.emplace(*pr.content_type);
    if (pr.response_topic) m->response_topic.emplace(*pr.response_topic);
    if (pr.correlation_data) m->correlation_data.emplace(pr.correlation_data->begin(), pr.correlation_data->end());
    std::size_t props = 0;
    for (const auto& up : pr.user_properties) props += 5 + up.key.size() + up.value.size();
    m->user_properties.reserve_bytes(props);
    for (const auto& up : pr.user_properties) m->user_properties.add(up.key, up.value);
    if (pr.message_expiry_interval) m->expires_at = now + std::chrono::seconds(*pr.message_expiry_interval);
    m->seal();
    return m;
}

}  // namespace moth::broker
