// The authorization hook (an HTTP authorize_url): asked at each PUBLISH and SUBSCRIBE the ACL let through, it may
// answer later. The packet then waits whole: its bytes are kept, the connection's input is paused (so that what the
// client sends next keeps its order), and once every answer is in the packet is decoded and handled again, the
// answers consulted instead of asking twice. Nothing about the packet has happened before that: no routing, no
// acknowledgement, no subscription. Denials are the ACL's (deny_publish, SUBACK 0x87 / 0x80).
#include "broker/core.hpp"
#include "broker/util.hpp"
#include "codec/decoder.hpp"
#include "codec/topic.hpp"

namespace moth::broker {

Core::HookVerdict Core::ask_hook(Connection& c, Access access, std::string_view topic, codec::QoS qos, bool retain) {
    for (const auto& [a, t, ok] : hook_answers_) {
        if (a == access && t == topic) return ok ? HookVerdict::Allowed : HookVerdict::Denied;
    }
    const IdentityPtr who = c.session->tag->identity();
    auto& rare = c.rare_state();
    const HookCheck check{topic, access, qos, retain, c.remote};
    const auto answer = shared_.authorizer->check_hook(
        *who, check,
        [host = &host_, w = index_, id = c.id, round = rare.hook_round, access, t = std::string(topic)](bool ok) {
            host->post(w, [id, round, access, t, ok](Core& core, TimePoint now) {
                core.hook_answered(id, round, access, t, ok, now);
            });
        });
    if (answer) {
        hook_answers_.emplace_back(access, std::string(topic), *answer);
        return *answer ? HookVerdict::Allowed : HookVerdict::Denied;
    }
    if (rare.hook_waiting == 0) rare.hook_packet.emplace(current_raw_.begin(), current_raw_.end());
    ++rare.hook_waiting;
    return HookVerdict::Waiting;
}

bool Core::hook_clears(Connection& c, const codec::Subscribe& p) {
    bool waiting = false;
    for (const auto& sub : p.subscriptions) {
        const auto share = codec::parse_shared_filter(sub.filter);
        const std::string_view f = share ? share->filter : sub.filter;
        // What subscribe_one refuses anyway is not worth a question.
        if (codec::validate_topic_filter(sub.filter) != codec::TopicError::None) continue;
        if (!may(*c.session, f, Access::Subscribe)) continue;
        waiting |= ask_hook(c, Access::Subscribe, f, sub.options.qos, false) == HookVerdict::Waiting;
    }
    return !waiting;
}

void Core::settle_hook(Connection& c) {
    if (c.rare && c.rare->hook_waiting != 0) {
        auto& kept = c.rare->hook_answers;
        kept.insert(kept.end(), std::make_move_iterator(hook_answers_.begin()),
                    std::make_move_iterator(hook_answers_.end()));
    }
    hook_answers_.clear();
}

void Core::hook_answered(ConnectionId id, std::uint32_t round, Access access, std::string topic, bool ok,
                         TimePoint now) {
    now_ = now;
    Connection* c = find_connection(id);
    if (c == nullptr || c->state != Connection::State::Connected || !c->rare) return;
    auto& rare = *c->rare;
    if (rare.hook_round != round || rare.hook_waiting == 0 || !rare.hook_packet) return;
    rare.hook_answers.emplace_back(access, std::move(topic), ok);
    if (--rare.hook_waiting != 0) return;
    // Every answer is in: the packet again, from its bytes, with the answers known (a later round asks anew).
    const auto raw = std::move(*rare.hook_packet);
    rare.hook_packet.reset();
    hook_answers_ = std::move(rare.hook_answers);
    rare.hook_answers.clear();
    ++rare.hook_round;
    codec::Decoder decoder{codec::DecoderOptions{codec::Role::Server, codec::kMaxPacketSize}};
    decoder.set_max_packet_size(c->max_packet_in);
    decoder.set_version(c->decoder_version);
    auto r = decoder.decode(raw);
    in_input_ = id;
    if (r.status == codec::DecodeStatus::Ok) {
        current_raw_ = raw;
        replaying_ = true;
        handle_packet(*c, r.packet, now);
        replaying_ = false;
        current_raw_ = {};
    }
    settle_hook(*c);
    in_input_ = 0;
    if (c->state != Connection::State::Closed && !c->input_held()) host_.resume_input(id);
}

}  // namespace moth::broker
