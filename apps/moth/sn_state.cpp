// The MQTT-SN client's bookkeeping (sn_state.hpp).
#include "sn_state.hpp"

#include <type_traits>

namespace moth::cli::sn {

void TopicRegistry::learn(std::uint16_t id, std::string name) {
    normal_[id] = std::move(name);
}

void TopicRegistry::predefine(std::uint16_t id, std::string name) {
    predefined_[id] = std::move(name);
}

std::optional<std::string> TopicRegistry::resolve(mqttsn::TopicIdType type, std::uint16_t id) const {
    switch (type) {
        case mqttsn::TopicIdType::Short:
            return short_name(id);
        case mqttsn::TopicIdType::Predefined: {
            const auto it = predefined_.find(id);
            return it == predefined_.end() ? std::to_string(id) : it->second;
        }
        case mqttsn::TopicIdType::Normal: {
            const auto it = normal_.find(id);
            if (it == normal_.end()) return std::nullopt;
            return it->second;
        }
    }
    return std::nullopt;
}

std::optional<std::uint16_t> TopicRegistry::id_of(std::string_view name) const {
    for (const auto& [id, n] : normal_) {
        if (n == name) return id;
    }
    return std::nullopt;
}

std::uint16_t short_id(std::string_view two) noexcept {
    return static_cast<std::uint16_t>((static_cast<unsigned char>(two[0]) << 8) | static_cast<unsigned char>(two[1]));
}

std::string short_name(std::uint16_t id) {
    return std::string{static_cast<char>(id >> 8), static_cast<char>(id & 0xFF)};
}

bool Qos2Filter::first_arrival(std::uint16_t msg_id) {
    return ids_.insert(msg_id).second;
}

void Qos2Filter::released(std::uint16_t msg_id) {
    ids_.erase(msg_id);
}

bool RecentIds::seen(std::uint16_t msg_id) {
    const bool dup = std::find(ids_.begin(), ids_.begin() + static_cast<std::ptrdiff_t>(size_), msg_id) !=
                     ids_.begin() + static_cast<std::ptrdiff_t>(size_);
    ids_[next_] = msg_id;
    next_ = (next_ + 1) % kWindow;
    size_ = std::min(size_ + 1, kWindow);
    return dup;
}

std::string_view await_name(Await a) noexcept {
    switch (a) {
        case Await::Connack:
            return "CONNACK";
        case Await::Regack:
            return "REGACK";
        case Await::Puback:
            return "PUBACK";
        case Await::Pubrec:
            return "PUBREC";
        case Await::Pubcomp:
            return "PUBCOMP";
        case Await::Suback:
            return "SUBACK";
        case Await::Unsuback:
            return "UNSUBACK";
        case Await::PingResp:
            return "PINGRESP";
        case Await::Disconnect:
            return "DISCONNECT";
    }
    return "answer";
}

std::optional<AnswerKey> answer_key(const mqttsn::Packet& p) noexcept {
    return std::visit(
        [](const auto& m) -> std::optional<AnswerKey> {
            using T = std::decay_t<decltype(m)>;
            if constexpr (std::is_same_v<T, mqttsn::Connack>)
                return AnswerKey{Await::Connack, 0};
            else if constexpr (std::is_same_v<T, mqttsn::Regack>)
                return AnswerKey{Await::Regack, m.msg_id};
            else if constexpr (std::is_same_v<T, mqttsn::Puback>)
                return AnswerKey{Await::Puback, m.msg_id};
            else if constexpr (std::is_same_v<T, mqttsn::Pubrec>)
                return AnswerKey{Await::Pubrec, m.msg_id};
            else if constexpr (std::is_same_v<T, mqttsn::Pubcomp>)
                return AnswerKey{Await::Pubcomp, m.msg_id};
            else if constexpr (std::is_same_v<T, mqttsn::Suback>)
                return AnswerKey{Await::Suback, m.msg_id};
            else if constexpr (std::is_same_v<T, mqttsn::Unsuback>)
                return AnswerKey{Await::Unsuback, m.msg_id};
            else if constexpr (std::is_same_v<T, mqttsn::PingResp>)
                return AnswerKey{Await::PingResp, 0};
            else if constexpr (std::is_same_v<T, mqttsn::Disconnect>)
                return AnswerKey{Await::Disconnect, 0};
            else
                return std::nullopt;
        },
        p);
}

void set_dup(mqttsn::Buffer& d) noexcept {
    // Length is one octet, or 0x01 and two more (section 5.2.1); MsgType follows, then Flags.
    const std::size_t type_at = !d.empty() && d[0] == std::byte{0x01} ? 3 : 1;
    if (d.size() <= type_at + 1) return;
    const auto type = static_cast<mqttsn::MsgType>(d[type_at]);
    if (type != mqttsn::MsgType::Publish && type != mqttsn::MsgType::Subscribe) return;
    d[type_at + 1] |= std::byte{0x80};
}

std::string endpoint_text(std::string_view address, std::uint16_t port) {
    const bool v6 = address.find(':') != std::string_view::npos;
    std::string out = v6 ? "[" + std::string(address) + "]" : std::string(address);
    return out + ":" + std::to_string(port);
}

}  // namespace moth::cli::sn
