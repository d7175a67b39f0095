#include "broker/store.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <unordered_map>

namespace moth::broker {

// ---------------------------------------------------------------------------------------------------------
// Encoding

namespace {

class Writer {
public:
    explicit Writer(std::string& out) : out_(out) {}
    void u8(std::uint8_t v) { out_.push_back(static_cast<char>(v)); }
    void u16(std::uint16_t v) { fixed(v, 2); }
    void u32(std::uint32_t v) { fixed(v, 4); }
    void u64(std::uint64_t v) { fixed(v, 8); }
    void str(std::string_view s) {
        u32(static_cast<std::uint32_t>(s.size()));
        out_.append(s);
    }
    void bytes(const std::vector<std::byte>& b) {
        u32(static_cast<std::uint32_t>(b.size()));
        out_.append(reinterpret_cast<const char*>(b.data()), b.size());
    }

private:
    void fixed(std::uint64_t v, int n) {
        for (int i = n - 1; i >= 0; --i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
    }
    std::string& out_;
};

class Reader {
public:
    explicit Reader(std::string_view in) : in_(in) {}
    std::uint8_t u8() { return static_cast<std::uint8_t>(fixed(1)); }
    std::uint16_t u16() { return static_cast<std::uint16_t>(fixed(2)); }
    std::uint32_t u32() { return static_cast<std::uint32_t>(fixed(4)); }
    std::uint64_t u64() { return fixed(8); }
    std::string str() {
        const auto n = u32();
        need(n);
        std::string s(in_.substr(0, n));
        in_.remove_prefix(n);
        return s;
    }
    std::vector<std::byte> bytes() {
        const auto n = u32();
        need(n);
        const auto* p = reinterpret_cast<const std::byte*>(in_.data());
        std::vector<std::byte> b(p, p + n);
        in_.remove_prefix(n);
        return b;
    }
    void finish() const {
        if (!in_.empty()) throw StoreCorrupt("trailing bytes");
    }

private:
    void need(std::size_t n) const {
        if (in_.size() < n) throw StoreCorrupt("truncated value");
    }
    std::uint64_t fixed(std::size_t n) {
        need(n);
        std::uint64_t v = 0;
        for (std::size_t i = 0; i < n; ++i) v = (v << 8) | static_cast<std::uint8_t>(in_[i]);
        in_.remove_prefix(n);
        return v;
    }
    std::string_view in_;
};

constexpr char kSession = 's', kDelivery = 'q', kMark = 'p', kIncoming = 'i', kWill = 'w', kRetained = 'r',
               kTotals = 't';

std::string client_key(char tag, std::string_view client_id) {
    std::string k(1, tag);
    k.append(client_id);
    return k;
}

std::string client_prefix(char tag, std::string_view client_id) {
    std::string k = client_key(tag, client_id);
    k.push_back('\0');  // client ids never contain U+0000 [MQTT-1.5.4-2]
    return k;
}

std::string seq_key(char tag, std::string_view client_id, std::uint64_t seq) {
    std::string k = client_prefix(tag, client_id);
    Writer(k).u64(seq);  // big endian: key order is seq order
    return k;
}

void write_message(Writer& w, const Message& m, TimePoint now) {
    w.str(m.topic);
    w.bytes(m.payload);
    w.u8(static_cast<std::uint8_t>(m.qos));
    w.u8(m.retain ? 1 : 0);
    const std::uint8_t flags =
        static_cast<std::uint8_t>((m.payload_format_indicator ? 1 : 0) | (m.content_type ? 2 : 0) |
                                  (m.response_topic ? 4 : 0) | (m.correlation_data ? 8 : 0) | (m.expires_at ? 16 : 0));
    w.u8(flags);
    if (m.payload_format_indicator) w.u8(*m.payload_format_indicator);
    if (m.content_type) w.str(*m.content_type);
    if (m.response_topic) w.str(*m.response_topic);
    if (m.correlation_data) w.bytes(*m.correlation_data);
    if (m.expires_at) w.u64(static_cast<std::uint64_t>(to_unix_ms(*m.expires_at, now)));
    w.u32(static_cast<std::uint32_t>(m.user_properties.size()));
    for (const auto up : m.user_properties) {
        w.str(up.key);
        w.str(up.value);
    }
}

MessagePtr read_message(Reader& r, TimePoint now) {
    auto m = std::make_shared<Message>();
    m->topic = r.str();
    m->payload = r.bytes();
    const auto qos = r.u8();
    if (qos > 2) throw StoreCorrupt("bad QoS");
    m->qos = static_cast<codec::QoS>(qos);
    m->retain = r.u8() != 0;
    const auto flags = r.u8();
    if ((flags & 1) != 0) m->payload_format_indicator = r.u8();
    if ((flags & 2) != 0) m->content_type = r.str();
    if ((flags & 4) != 0) m->response_topic = r.str();
    if ((flags & 8) != 0) m->correlation_data = r.bytes();
    if ((flags & 16) != 0) m->expires_at = from_unix_ms(static_cast<std::int64_t>(r.u64()), now);
    const auto n = r.u32();
    for (std::uint32_t i = 0; i < n; ++i) {
        auto k = r.str();
        auto v = r.str();
        if (k.size() > 65535 || v.size() > 65535) throw StoreCorrupt("user property too long");
        m->user_properties.add(k, v);
    }
    m->seal();
    return m;
}

void put(std::vector<StoreOp>& ops, std::string key, std::string value) {
    ops.push_back({StoreOp::Kind::Put, std::move(key), std::move(value)});
}

}  // namespace

std::int64_t to_unix_ms(TimePoint t, TimePoint now) {
    const auto sys =
        std::chrono::system_clock::now() + std::chrono::duration_cast<std::chrono::system_clock::duration>(t - now);
    return std::chrono::duration_cast<std::chrono::milliseconds>(sys.time_since_epoch()).count();
}

TimePoint from_unix_ms(std::int64_t ms, TimePoint now) {
    const auto sys_now =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch());
    return now + std::chrono::milliseconds(ms - sys_now.count());
}

void StoreBatch::put_session(const StoredSession& s) {
    std::string v;
    Writer w(v);
    w.u8(s.version);
    w.u32(s.expiry_s);
    w.u32(static_cast<std::uint32_t>(s.subscriptions.size()));
    for (const auto& sub : s.subscriptions) {
        w.str(sub.filter);
        w.u8(static_cast<std::uint8_t>(sub.qos | (sub.no_local ? 4 : 0) | (sub.retain_as_published ? 8 : 0) |
                                       (sub.retain_handling << 4)));
        w.u32(sub.identifier);
    }
    put(ops_, client_key(kSession, s.client_id), std::move(v));
}

void StoreBatch::erase_session(std::string_view client_id) {
    ops_.push_back({StoreOp::Kind::Erase, client_key(kSession, client_id), {}});
    ops_.push_back({StoreOp::Kind::Erase, client_key(kWill, client_id), {}});
    for (char tag : {kDelivery, kMark, kIncoming}) {
        ops_.push_back({StoreOp::Kind::ErasePrefix, client_prefix(tag, client_id), {}});
    }
}

void StoreBatch::put_delivery(std::string_view client_id, const StoredDelivery& d) {
    std::string v;
    Writer w(v);
    w.u8(d.qos);
    w.u8(d.retain ? 1 : 0);
    w.u32(static_cast<std::uint32_t>(d.subscription_ids.size()));
    for (auto id : d.subscription_ids) w.u32(id);
    w.str(d.share);
    write_message(w, *d.message, now_);
    put(ops_, seq_key(kDelivery, client_id, d.seq), std::move(v));
}

void StoreBatch::mark_delivery(std::string_view client_id, std::uint64_t seq, std::uint16_t packet_id, bool pubrec) {
    std::string v;
    Writer w(v);
    w.u16(packet_id);
    w.u8(pubrec ? 1 : 0);
    put(ops_, seq_key(kMark, client_id, seq), std::move(v));
}

void StoreBatch::erase_delivery(std::string_view client_id, std::uint64_t seq) {
    ops_.push_back({StoreOp::Kind::Erase, seq_key(kDelivery, client_id, seq), {}});
    ops_.push_back({StoreOp::Kind::Erase, seq_key(kMark, client_id, seq), {}});
}

void StoreBatch::put_incoming(std::string_view client_id, std::uint16_t packet_id) {
    std::string k = client_prefix(kIncoming, client_id);
    Writer(k).u16(packet_id);
    put(ops_, std::move(k), {});
}

void StoreBatch::erase_incoming(std::string_view client_id, std::uint16_t packet_id) {
    std::string k = client_prefix(kIncoming, client_id);
    Writer(k).u16(packet_id);
    ops_.push_back({StoreOp::Kind::Erase, std::move(k), {}});
}

void StoreBatch::put_will(std::string_view client_id, const StoredWillRecord& wr) {
    std::string v;
    Writer w(v);
    w.u64(static_cast<std::uint64_t>(wr.due_unix_ms));
    w.u32(wr.delay_s);
    w.u8(wr.expiry_s ? 1 : 0);
    w.u32(wr.expiry_s.value_or(0));
    write_message(w, *wr.message, now_);
    put(ops_, client_key(kWill, client_id), std::move(v));
}

void StoreBatch::erase_will(std::string_view client_id) {
    ops_.push_back({StoreOp::Kind::Erase, client_key(kWill, client_id), {}});
}

void StoreBatch::put_retained(const Message& m) {
    std::string v;
    Writer w(v);
    write_message(w, m, now_);
    put(ops_, client_key(kRetained, m.topic), std::move(v));
}

void StoreBatch::erase_retained(std::string_view topic) {
    ops_.push_back({StoreOp::Kind::Erase, client_key(kRetained, topic), {}});
}

void StoreBatch::put_totals(const StoredTotals& t) {
    std::string v;
    Writer w(v);
    for (auto x : {t.messages_received, t.messages_sent, t.publish_received, t.publish_sent, t.messages_dropped,
                   t.bytes_received, t.bytes_sent}) {
        w.u64(x);
    }
    put(ops_, std::string(1, kTotals), std::move(v));
}

// ---------------------------------------------------------------------------------------------------------
// Loading

namespace {

// The value of a 'q' record (the seq is in the key).
StoredDelivery read_delivery(std::uint64_t seq, std::string_view value, TimePoint now) {
    Reader r(value);
    StoredDelivery d;
    d.seq = seq;
    d.qos = r.u8();
    d.retain = r.u8() != 0;
    const auto n = r.u32();
    for (std::uint32_t i = 0; i < n; ++i) d.subscription_ids.push_back(r.u32());
    d.share = r.str();
    d.message = read_message(r, now);
    r.finish();
    return d;
}

std::uint64_t key_seq(std::string_view seqb) {
    Reader sr(seqb);
    const auto seq = sr.u64();
    sr.finish();
    return seq;
}

}  // namespace

std::vector<StoredDelivery> read_deliveries(StoreBackend& backend, std::string_view client_id,
                                            const DeliveryRange& range, TimePoint now) {
    std::vector<StoredDelivery> out;
    if (range.max == 0 || range.to < range.from) return out;
    const std::string prefix = client_prefix(kDelivery, client_id);
    const std::string end = range.to == std::numeric_limits<std::uint64_t>::max()
                                ? prefix.substr(0, prefix.size() - 1) + '\x01'  // just past the client's prefix
                                : seq_key(kDelivery, client_id, range.to + 1);
    backend.scan_from(seq_key(kDelivery, client_id, range.from), end, [&](std::string_view key, std::string_view value) {
        if (!key.starts_with(prefix)) return false;
        const auto seq = key_seq(key.substr(prefix.size()));
        if (seq > range.to) return false;
        if (range.worker != kAnySeqWorker && seq_worker(seq) != range.worker) return true;
        try {
            out.push_back(read_delivery(seq, value, now));
        } catch (const StoreCorrupt& e) {
            throw StoreCorrupt("delivery " + std::to_string(out.size()) + " of \"" + std::string(client_id) +
                               "\": " + e.what());
        }
        return out.size() < range.max;
    });
    if (out.empty()) return out;
    // QoS 2 marks ('p' records) of the range read.
    const std::string mprefix = client_prefix(kMark, client_id);
    const auto last = out.back().seq;
    std::size_t i = 0;
    backend.scan_from(seq_key(kMark, client_id, out.front().seq), seq_key(kMark, client_id, last + 1),
                      [&](std::string_view key, std::string_view value) {
                          if (!key.starts_with(mprefix)) return false;
                          const auto seq = key_seq(key.substr(mprefix.size()));
                          if (seq > last) return false;
                          while (i < out.size() && out[i].seq < seq) ++i;
                          if (i < out.size() && out[i].seq == seq) {
                              Reader r(value);
                              out[i].packet_id = r.u16();
                              out[i].pubrec = r.u8() != 0;
                              r.finish();
                          }
                          return true;
                      });
    return out;
}

RestoredState load_state(StoreBackend& backend, TimePoint now, std::size_t cache) {
    RestoredState out;
    std::map<std::string, RestoredSession, std::less<>> sessions;
    struct Mark {
        std::uint16_t packet_id;
        bool pubrec;
    };
    std::map<std::pair<std::string, std::uint64_t>, Mark> marks;
    std::map<std::string, std::vector<StoredDelivery>, std::less<>> deliveries;
    struct Spill {
        std::uint64_t kept = 0;  // not past PUBREC, kept in memory
        std::uint64_t count = 0, bytes = 0, from = 0, to = 0;
    };
    std::map<std::string, Spill, std::less<>> spills;
    std::map<std::string, std::vector<std::uint16_t>, std::less<>> incoming;
    std::map<std::string, StoredWillRecord, std::less<>> wills;
    auto split = [](std::string_view rest, std::string_view key) {
        const auto nul = rest.find('\0');
        if (nul == std::string_view::npos) throw StoreCorrupt("key without separator: " + std::string(key));
        return std::pair{rest.substr(0, nul), rest.substr(nul + 1)};
    };
    backend.scan([&](std::string_view key, std::string_view value) {
        if (key.empty()) return;
        const std::string_view rest = key.substr(1);
        try {
            Reader r(value);
            switch (key[0]) {
                case kSession: {
                    RestoredSession rs;
                    rs.session.client_id = std::string(rest);
                    rs.session.version = r.u8();
                    rs.session.expiry_s = r.u32();
                    const auto n = r.u32();
                    for (std::uint32_t i = 0; i < n; ++i) {
                        StoredSubscription sub;
                        sub.filter = r.str();
                        const auto o = r.u8();
                        sub.qos = o & 3;
                        sub.no_local = (o & 4) != 0;
                        sub.retain_as_published = (o & 8) != 0;
                        sub.retain_handling = static_cast<std::uint8_t>((o >> 4) & 3);
                        sub.identifier = r.u32();
                        rs.session.subscriptions.push_back(std::move(sub));
                    }
                    r.finish();
                    sessions.emplace(rs.session.client_id, std::move(rs));
                    break;
                }
                case kDelivery: {
                    auto [client, seqb] = split(rest, key);
                    StoredDelivery d = read_delivery(key_seq(seqb), value, now);
                    // 'p' sorts before 'q': the marks of this client are known. Past the cache, a message not past
                    // PUBREC is only counted (decoded one at a time: memory stays bounded).
                    auto& list = deliveries[std::string(client)];
                    const bool marked = marks.contains({std::string(client), d.seq});
                    auto& sp = spills[std::string(client)];
                    out.next_seq = std::max(out.next_seq, d.seq + 1);
                    if (!marked && (sp.count != 0 || sp.kept >= cache)) {
                        if (sp.count == 0) sp.from = d.seq;
                        sp.to = d.seq;
                        ++sp.count;
                        sp.bytes += d.message->memory_size();  // as the core counts (message_size)
                        break;
                    }
                    if (!marked) ++sp.kept;
                    list.push_back(std::move(d));
                    break;
                }
                case kMark: {
                    auto [client, seqb] = split(rest, key);
                    Reader sr(seqb);
                    const auto seq = sr.u64();
                    sr.finish();
                    Mark m{r.u16(), r.u8() != 0};
                    r.finish();
                    marks.emplace(std::pair{std::string(client), seq}, m);
                    break;
                }
                case kIncoming: {
                    auto [client, idb] = split(rest, key);
                    Reader ir(idb);
                    incoming[std::string(client)].push_back(ir.u16());
                    ir.finish();
                    break;
                }
                case kWill: {
                    StoredWillRecord w;
                    w.due_unix_ms = static_cast<std::int64_t>(r.u64());
                    w.delay_s = r.u32();
                    const bool has_expiry = r.u8() != 0;
                    const auto expiry = r.u32();
                    if (has_expiry) w.expiry_s = expiry;
                    w.message = read_message(r, now);
                    r.finish();
                    wills.emplace(std::string(rest), std::move(w));
                    break;
                }
                case kRetained: {
                    auto m = read_message(r, now);
                    r.finish();
                    out.retained.push_back(std::move(m));
                    break;
                }
                case kTotals: {
                    auto& t = out.totals;
                    for (auto* x : {&t.messages_received, &t.messages_sent, &t.publish_received, &t.publish_sent,
                                    &t.messages_dropped, &t.bytes_received, &t.bytes_sent}) {
                        *x = r.u64();
                    }
                    r.finish();
                    break;
                }
                default:
                    throw StoreCorrupt("unknown record type");
            }
        } catch (const StoreCorrupt& e) {
            std::string printable;
            for (char ch : key) printable += (ch >= 0x20 && ch < 0x7F) ? ch : '.';
            throw StoreCorrupt("record \"" + printable + "\": " + e.what());
        }
    });
    // Attach what belongs to each session; what belongs to none is left over from a session that ended while
    // its last writes were queued: erased.
    StoreBatch orphans{now};
    for (auto& [client, list] : deliveries) {
        auto it = sessions.find(client);
        if (it == sessions.end()) {
            for (const auto& d : list) orphans.erase_delivery(client, d.seq);
            out.orphans += list.size();
            if (auto sp = spills.find(client); sp != spills.end() && sp->second.count != 0) {
                orphans.erase_session(client);  // the spilled ones too
                out.orphans += sp->second.count;
            }
            continue;
        }
        if (auto sp = spills.find(client); sp != spills.end()) {
            it->second.spilled = sp->second.count;
            it->second.spilled_bytes = sp->second.bytes;
            it->second.spill_from = sp->second.from;
            it->second.spill_to = sp->second.to;
        }
        for (auto& d : list) {
            if (auto m = marks.find({client, d.seq}); m != marks.end()) {
                d.packet_id = m->second.packet_id;
                d.pubrec = m->second.pubrec;
            }
        }
        it->second.deliveries = std::move(list);
    }
    for (auto& [client, ids] : incoming) {
        auto it = sessions.find(client);
        if (it == sessions.end()) {
            for (auto id : ids) orphans.erase_incoming(client, id);
            out.orphans += ids.size();
            continue;
        }
        it->second.incoming_qos2 = std::move(ids);
    }
    for (auto& [client, w] : wills) {
        auto it = sessions.find(client);
        if (it == sessions.end()) {
            orphans.erase_will(client);
            ++out.orphans;
            continue;
        }
        it->second.will = std::move(w);
    }
    for (auto& [client, rs] : sessions) out.sessions.push_back(std::move(rs));
    if (!orphans.empty()) {
        auto ops = orphans.take();
        (void)backend.write({&ops}, true);
    }
    return out;
}

}  // namespace moth::broker
