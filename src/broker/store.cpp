#include "broker/store.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <optional>
#include <tuple>
#include <unordered_map>

namespace moth::broker {

// ---------------------------------------------------------------------------------------------------------
// Encoding

namespace {

using Writer = ByteWriter;
using Reader = ByteReader;

constexpr char kSession = 's', kDelivery = 'q', kMark = 'p', kIncoming = 'i', kWill = 'w', kRetained = 'r',
               kTotals = 't', kFormat = 'v', kBan = 'b', kApplied = 'x';

// A ban's key: 'b', its kind's first letter ('c'lient id, 'u'sername, 'a'ddress), its value.
std::string ban_key(limits::Ban::Kind kind, std::string_view value) {
    std::string k(1, kBan);
    k.push_back(to_string(kind).front());
    k.append(value);
    return k;
}

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

// Runs one decoding step of a record: the codec's CodecError becomes StoreCorrupt, the store's error for a record
// it cannot read (load_state then names the key).
template <class F>
auto decoding(F&& f) -> decltype(f()) {
    try {
        return f();
    } catch (const CodecError& e) {
        throw StoreCorrupt(e.what());
    }
}

void put(std::vector<StoreOp>& ops, std::string key, std::string value) {
    ops.push_back({StoreOp::Kind::Put, std::move(key), std::move(value)});
}

}  // namespace

StoreFormatTooNew::StoreFormatTooNew(std::string_view where, std::uint32_t found, std::uint32_t supported)
    : std::runtime_error("store " + (where.empty() ? std::string() : std::string(where) + ": ") + "format version " +
                         std::to_string(found) + " is newer than this mothd reads (" + std::to_string(supported) +
                         "); use a newer mothd or move the directory away"),
      found_(found),
      supported_(supported) {}

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
    w.u8(s.username ? 1 : 0);  // format 2: the identity
    if (s.username) w.str(*s.username);
    put(ops_, client_key(kSession, s.client_id), std::move(v));
}

void StoreBatch::erase_session(std::string_view client_id) {
    ops_.push_back({StoreOp::Kind::Erase, client_key(kSession, client_id), {}});
    ops_.push_back({StoreOp::Kind::Erase, client_key(kWill, client_id), {}});
    for (char tag : {kDelivery, kMark, kIncoming}) {
        ops_.push_back({StoreOp::Kind::ErasePrefix, client_prefix(tag, client_id), {}});
    }
}

void StoreBatch::forget_session(std::string_view client_id) {
    const auto from = ops_.size();
    erase_session(client_id);
    for (auto i = from; i < ops_.size(); ++i) {
        ops_[i].kind = ops_[i].kind == StoreOp::Kind::Erase ? StoreOp::Kind::Forget : StoreOp::Kind::ForgetPrefix;
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
    encode_message(w, *d.message, now_);
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
    encode_message(w, *wr.message, now_);
    put(ops_, client_key(kWill, client_id), std::move(v));
}

void StoreBatch::erase_will(std::string_view client_id) {
    ops_.push_back({StoreOp::Kind::Erase, client_key(kWill, client_id), {}});
}

void StoreBatch::put_retained(const Message& m) {
    std::string v;
    Writer w(v);
    encode_message(w, m, now_);
    put(ops_, client_key(kRetained, m.topic), std::move(v));
}

void StoreBatch::erase_retained(std::string_view topic) {
    ops_.push_back({StoreOp::Kind::Erase, client_key(kRetained, topic), {}});
}

void StoreBatch::put_format_version(std::uint32_t version) {
    std::string v;
    Writer(v).u32(version);
    put(ops_, std::string(1, kFormat), std::move(v));
}

void StoreBatch::put_ban(const limits::Ban& ban) {
    std::string v;
    Writer w(v);
    w.u8(static_cast<std::uint8_t>(ban.source));
    w.u64(static_cast<std::uint64_t>(ban.created));
    w.u8(ban.until ? 1 : 0);
    w.u64(static_cast<std::uint64_t>(ban.until.value_or(0)));
    w.str(ban.reason);
    put(ops_, ban_key(ban.kind, ban.value), std::move(v));
}

void StoreBatch::erase_ban(limits::Ban::Kind kind, std::string_view value) {
    ops_.push_back({StoreOp::Kind::Erase, ban_key(kind, value), {}});
}

void StoreBatch::put_applied(std::string_view id) {
    std::string v;
    Writer w(v);
    w.u64(static_cast<std::uint64_t>(to_unix_ms(now_, Clock::now())));  // the batch's time, as wall-clock time
    put(ops_, std::string(1, kApplied).append(id), std::move(v));
}

void StoreBatch::erase_applied(std::string_view id) {
    ops_.push_back({StoreOp::Kind::Erase, std::string(1, kApplied).append(id), {}});
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
    return decoding([&] {
        Reader r(value);
        StoredDelivery d;
        d.seq = seq;
        d.qos = r.u8();
        d.retain = r.u8() != 0;
        const auto n = r.u32();
        for (std::uint32_t i = 0; i < n; ++i) d.subscription_ids.push_back(r.u32());
        d.share = r.str();
        d.message = decode_message(r, now);
        r.finish();
        return d;
    });
}

std::uint64_t key_seq(std::string_view seqb) {
    return decoding([&] {
        Reader sr(seqb);
        const auto seq = sr.u64();
        sr.finish();
        return seq;
    });
}

// The value of a 'p' record: packet identifier, past PUBREC.
std::pair<std::uint16_t, bool> read_mark(std::string_view value) {
    return decoding([&] {
        Reader r(value);
        const auto packet_id = r.u16();
        const bool pubrec = r.u8() != 0;
        r.finish();
        return std::pair{packet_id, pubrec};
    });
}

constexpr std::string_view kFormatKey{&kFormat, 1};

// The version in the store's "v" record, if it has one. Read on its own before anything else: a newer layout's
// records must not be mistaken for damage (and moved aside).
std::optional<std::uint32_t> read_format(StoreBackend& backend) {
    std::optional<std::uint32_t> found;
    backend.scan_from(kFormatKey, std::string(kFormatKey) + '\0', [&](std::string_view key, std::string_view value) {
        if (key != kFormatKey) return false;
        try {
            ByteReader r(value);
            found = r.u32();
            r.finish();
        } catch (const CodecError& e) {
            throw StoreCorrupt(std::string("record \"v\": format version: ") + e.what());
        }
        return false;
    });
    if (found && *found == 0) throw StoreCorrupt("record \"v\": format version 0");
    if (found && *found > kStoreFormatVersion) throw StoreFormatTooNew(backend.where(), *found, kStoreFormatVersion);
    return found;
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
                              std::tie(out[i].packet_id, out[i].pubrec) = read_mark(value);
                          }
                          return true;
                      });
    return out;
}

namespace {

// load_state's pass over every record: each kind is collected by client, then attached to its session (attach());
// what belongs to no session is erased as an orphan.
class Loader {
public:
    Loader(RestoredState& out, TimePoint now, std::size_t cache) : out_(out), now_(now), cache_(cache) {}

    void read(std::string_view key, std::string_view value) {
        any_record_ = true;
        if (key.empty()) return;
        try {
            read_record(key[0], key.substr(1), key, value);
        } catch (const StoreCorrupt& e) {
            throw name_key(key, e.what());
        } catch (const CodecError& e) {
            throw name_key(key, e.what());
        }
    }

    // Attaches what was read to the sessions; erasures of orphans (and the format record) go into `b`.
    void attach(StoreBatch& b);
    [[nodiscard]] bool any_record() const { return any_record_; }

private:
    struct Mark {
        std::uint16_t packet_id;
        bool pubrec;
    };
    struct Spill {
        std::uint64_t kept = 0;  // not past PUBREC, kept in memory
        std::uint64_t count = 0, bytes = 0, from = 0, to = 0;
    };

    static std::pair<std::string_view, std::string_view> split(std::string_view rest, std::string_view key) {
        const auto nul = rest.find('\0');
        if (nul == std::string_view::npos) throw StoreCorrupt("key without separator: " + std::string(key));
        return {rest.substr(0, nul), rest.substr(nul + 1)};
    }
    static StoreCorrupt name_key(std::string_view key, const char* what) {
        std::string printable;
        for (char ch : key) printable += (ch >= 0x20 && ch < 0x7F) ? ch : '.';
        return StoreCorrupt("record \"" + printable + "\": " + what);
    }

    void read_record(char kind, std::string_view rest, std::string_view key, std::string_view value);
    void read_session(std::string_view client, Reader& r);
    void read_delivery_record(std::string_view rest, std::string_view key, std::string_view value);
    void read_will(std::string_view client, Reader& r);
    void read_totals(Reader& r);
    void read_ban(std::string_view rest, Reader& r);
    void attach_deliveries(StoreBatch& b);
    std::vector<std::string> stale_applied_;  // "x" records older than kAppliedKeep

    RestoredState& out_;
    TimePoint now_;
    std::size_t cache_;
    bool any_record_ = false;
    std::map<std::string, RestoredSession, std::less<>> sessions_;
    std::map<std::pair<std::string, std::uint64_t>, Mark> marks_;
    std::map<std::string, std::vector<StoredDelivery>, std::less<>> deliveries_;
    std::map<std::string, Spill, std::less<>> spills_;
    std::map<std::string, std::vector<std::uint16_t>, std::less<>> incoming_;
    std::map<std::string, StoredWillRecord, std::less<>> wills_;
};

void Loader::read_record(char kind, std::string_view rest, std::string_view key, std::string_view value) {
    Reader r(value);
    switch (kind) {
        case kSession: read_session(rest, r); break;
        case kDelivery: read_delivery_record(rest, key, value); break;
        case kMark: {
            auto [client, seqb] = split(rest, key);
            const auto [packet_id, pubrec] = read_mark(value);
            marks_.emplace(std::pair{std::string(client), key_seq(seqb)}, Mark{packet_id, pubrec});
            break;
        }
        case kIncoming: {
            auto [client, idb] = split(rest, key);
            Reader ir(idb);
            incoming_[std::string(client)].push_back(ir.u16());
            ir.finish();
            break;
        }
        case kWill: read_will(rest, r); break;
        case kRetained: {
            auto m = decode_message(r, now_);
            r.finish();
            out_.retained.push_back(std::move(m));
            break;
        }
        case kTotals: read_totals(r); break;
        case kBan: read_ban(rest, r); break;
        case kApplied: {
            const auto at = static_cast<std::int64_t>(r.u64());
            r.finish();
            if (to_unix_ms(now_, now_) - at <= std::chrono::milliseconds(kAppliedKeep).count()) {
                out_.cluster_applied.emplace_back(rest);
            } else {
                stale_applied_.emplace_back(rest);  // erased by attach()
            }
            break;
        }
        case kFormat:  // read first, by read_format
            if (!rest.empty()) throw StoreCorrupt("unknown record type");
            break;
        default: throw StoreCorrupt("unknown record type");
    }
}

void Loader::read_session(std::string_view client, Reader& r) {
    RestoredSession rs;
    rs.session.client_id = std::string(client);
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
    if (!r.at_end() && r.u8() != 0) rs.session.username = r.str();  // format 1 records end before it
    r.finish();
    sessions_.emplace(rs.session.client_id, std::move(rs));
}

void Loader::read_delivery_record(std::string_view rest, std::string_view key, std::string_view value) {
    auto [client, seqb] = split(rest, key);
    StoredDelivery d = read_delivery(key_seq(seqb), value, now_);
    // 'p' sorts before 'q': the marks of this client are known. Past the cache, a message not past PUBREC is only
    // counted (decoded one at a time: memory stays bounded).
    auto& list = deliveries_[std::string(client)];
    const bool marked = marks_.contains({std::string(client), d.seq});
    auto& sp = spills_[std::string(client)];
    out_.next_seq = std::max(out_.next_seq, d.seq + 1);
    if (!marked && (sp.count != 0 || sp.kept >= cache_)) {
        if (sp.count == 0) sp.from = d.seq;
        sp.to = d.seq;
        ++sp.count;
        sp.bytes += d.message->memory_size();  // as the core counts (message_size)
        return;
    }
    if (!marked) ++sp.kept;
    list.push_back(std::move(d));
}

void Loader::read_will(std::string_view client, Reader& r) {
    StoredWillRecord w;
    w.due_unix_ms = static_cast<std::int64_t>(r.u64());
    w.delay_s = r.u32();
    const bool has_expiry = r.u8() != 0;
    const auto expiry = r.u32();
    if (has_expiry) w.expiry_s = expiry;
    w.message = decode_message(r, now_);
    r.finish();
    wills_.emplace(std::string(client), std::move(w));
}

void Loader::read_ban(std::string_view rest, Reader& r) {
    std::optional<limits::Ban::Kind> kind;
    for (auto k : {limits::Ban::Kind::ClientId, limits::Ban::Kind::Username, limits::Ban::Kind::Address}) {
        if (!rest.empty() && rest.front() == to_string(k).front()) kind = k;
    }
    if (!kind) throw StoreCorrupt("unknown ban kind");
    std::string why;
    auto ban = limits::make_ban(*kind, rest.substr(1), &why);
    if (!ban) throw StoreCorrupt(why);
    const auto source = r.u8();
    if (source > static_cast<std::uint8_t>(limits::Ban::Source::Flapping)) throw StoreCorrupt("unknown ban source");
    ban->source = static_cast<limits::Ban::Source>(source);
    ban->created = static_cast<std::int64_t>(r.u64());
    const bool has_until = r.u8() != 0;
    const auto until = static_cast<std::int64_t>(r.u64());
    if (has_until) ban->until = until;
    ban->reason = r.str();
    r.finish();
    out_.bans.push_back(std::move(*ban));
}

void Loader::read_totals(Reader& r) {
    auto& t = out_.totals;
    for (auto* x : {&t.messages_received, &t.messages_sent, &t.publish_received, &t.publish_sent, &t.messages_dropped,
                    &t.bytes_received, &t.bytes_sent}) {
        *x = r.u64();
    }
    r.finish();
}

void Loader::attach_deliveries(StoreBatch& b) {
    for (auto& [client, list] : deliveries_) {
        auto it = sessions_.find(client);
        if (it == sessions_.end()) {
            for (const auto& d : list) b.erase_delivery(client, d.seq);
            out_.orphans += list.size();
            if (auto sp = spills_.find(client); sp != spills_.end() && sp->second.count != 0) {
                b.erase_session(client);  // the spilled ones too
                out_.orphans += sp->second.count;
            }
            continue;
        }
        if (auto sp = spills_.find(client); sp != spills_.end()) {
            it->second.spilled = sp->second.count;
            it->second.spilled_bytes = sp->second.bytes;
            it->second.spill_from = sp->second.from;
            it->second.spill_to = sp->second.to;
        }
        for (auto& d : list) {
            if (auto m = marks_.find({client, d.seq}); m != marks_.end()) {
                d.packet_id = m->second.packet_id;
                d.pubrec = m->second.pubrec;
            }
        }
        it->second.deliveries = std::move(list);
    }
}

void Loader::attach(StoreBatch& b) {
    // What belongs to no session is left over from a session that ended while its last writes were queued: erased.
    attach_deliveries(b);
    for (const auto& id : stale_applied_) b.erase_applied(id);  // past any redelivery: not worth keeping
    for (auto& [client, ids] : incoming_) {
        auto it = sessions_.find(client);
        if (it == sessions_.end()) {
            for (auto id : ids) b.erase_incoming(client, id);
            out_.orphans += ids.size();
            continue;
        }
        it->second.incoming_qos2 = std::move(ids);
    }
    for (auto& [client, w] : wills_) {
        auto it = sessions_.find(client);
        if (it == sessions_.end()) {
            b.erase_will(client);
            ++out_.orphans;
            continue;
        }
        it->second.will = std::move(w);
    }
    for (auto& [client, rs] : sessions_) out_.sessions.push_back(std::move(rs));
}

}  // namespace

RestoredState load_state(StoreBackend& backend, TimePoint now, std::size_t cache) {
    RestoredState out;
    const auto format = read_format(backend);
    Loader loader(out, now, cache);
    backend.scan([&](std::string_view key, std::string_view value) { loader.read(key, value); });
    StoreBatch b{now};
    loader.attach(b);
    if (!format) {
        // A new store, or one from before the record (its layout is format 1): from now on it says what it is.
        b.put_format_version(kStoreFormatVersion);
        out.format = loader.any_record() ? FormatRecord::AddedToOld : FormatRecord::AddedToEmpty;
    } else if (*format < kStoreFormatVersion) {
        // Read as it is; what is written from now on is the current format, so the record says so (an older mothd
        // then refuses the store clearly instead of taking the new records for damage).
        b.put_format_version(kStoreFormatVersion);
        out.format = FormatRecord::Upgraded;
    }
    if (!b.empty()) {
        auto ops = b.take();
        (void)backend.write({&ops}, true);
    }
    return out;
}

}  // namespace moth::broker
