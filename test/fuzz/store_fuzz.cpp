// libFuzzer target for the store loader (src/broker/store.hpp: load_state, read_deliveries) on damaged stores.
// The input builds records with the store's own writers (sessions, deliveries, marks, wills, retained messages,
// totals), then damages some of their values and keys byte by byte, as a torn or corrupted disk would. Loading
// must either succeed or throw StoreCorrupt naming a key (or StoreFormatTooNew, for a "v" record damaged into a
// larger version): never crash, hang or throw anything else.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "broker/store.hpp"
#include "store/memory/memory_store.hpp"

using namespace moth::broker;

namespace {

class Input {
public:
    Input(const std::uint8_t* d, std::size_t n) : d_(d), n_(n) {}
    [[nodiscard]] bool empty() const { return at_ >= n_; }
    std::uint8_t byte() { return at_ < n_ ? d_[at_++] : 0; }
    std::uint32_t u32() { return static_cast<std::uint32_t>(byte()) | (static_cast<std::uint32_t>(byte()) << 8); }
    std::string text(std::size_t max) {
        std::string s;
        const std::size_t len = byte() % (max + 1);
        for (std::size_t i = 0; i < len && !empty(); ++i) s.push_back(static_cast<char>(byte()));
        return s;
    }

private:
    const std::uint8_t* d_;
    std::size_t n_;
    std::size_t at_ = 0;
};

MessagePtr message(Input& in) {
    auto m = std::make_shared<Message>();
    m->topic = "t/" + in.text(8);
    const auto payload = in.text(16);
    for (const char c : payload) m->payload.push_back(static_cast<std::byte>(c));
    m->qos = static_cast<moth::codec::QoS>(in.byte() % 3);
    m->retain = (in.byte() & 1U) != 0;
    return m;
}

void build(Input& in, StoreBatch& b) {
    const std::string ids[] = {"a", "b", "client-c"};
    for (int ops = 0; ops < 32 && !in.empty(); ++ops) {
        const auto& id = ids[in.byte() % 3];
        switch (in.byte() % 7) {
            case 0: {
                StoredSession s{id, static_cast<std::uint8_t>(3 + in.byte() % 3), in.u32(), {}, std::nullopt};
                if (in.byte() % 2 == 0) s.username = "user-" + id;
                b.put_session(s);
                break;
            }
            case 1: {
                StoredDelivery d;
                d.seq = make_seq(in.u32(), in.byte() % 2);
                d.message = message(in);
                d.qos = static_cast<std::uint8_t>(1 + in.byte() % 2);
                b.put_delivery(id, d);
                break;
            }
            case 2: b.mark_delivery(id, make_seq(in.u32(), 0), static_cast<std::uint16_t>(in.u32()), in.byte() & 1U); break;
            case 3: b.put_incoming(id, static_cast<std::uint16_t>(in.u32())); break;
            case 4: b.put_will(id, {message(in), in.u32(), std::nullopt, in.u32()}); break;
            case 5: b.put_retained(*message(in)); break;
            default: b.put_totals({}); break;
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    Input in(data, size);
    StoreBatch b{Clock::now()};
    build(in, b);
    auto ops = b.take();
    // Damage: each remaining pair of bytes picks a record and overwrites, truncates or extends its value or key.
    while (!in.empty() && !ops.empty()) {
        auto& op = ops[in.byte() % ops.size()];
        std::string& target = (in.byte() & 1U) != 0 ? op.value : op.key;
        const std::uint8_t how = in.byte();
        if (target.empty() || how % 4 == 0) {
            target.push_back(static_cast<char>(in.byte()));
        } else if (how % 4 == 1) {
            target.resize(in.byte() % target.size());
        } else {
            target[in.byte() % target.size()] = static_cast<char>(in.byte());
        }
    }
    moth::store::MemoryBackend backend;
    if (!backend.write({&ops}, false)) return 0;
    try {
        auto state = load_state(backend, Clock::now(), 2);
        for (const auto& rs : state.sessions) {
            (void)read_deliveries(backend, rs.session.client_id, {0, ~std::uint64_t{0}, kAnySeqWorker}, Clock::now());
        }
    } catch (const StoreCorrupt&) {
        // A damaged record is reported, naming its key: what mothd turns into its store error.
    } catch (const StoreFormatTooNew&) {
        // Damage that made the "v" record's value a larger version: refused as a newer store would be.
    } catch (...) {
        std::abort();
    }
    return 0;
}
