#pragma once
// [storage] durability: how durable the broker's state is (docs/configuration.md, docs/durability.md). Its own
// small header because the broker's store (broker/store.hpp) runs the same modes (broker::Durability is an alias)
// and should not need the whole Config to name them.
#include <string_view>

namespace moth::config {

// sync: PUBACK/PUBREC after the fsync of the write that holds the message; batched: written in the background,
// fsynced every flush interval (the loss window); memory: nothing on disk.
enum class Durability { Sync, Batched, Memory };
[[nodiscard]] std::string_view to_string(Durability d) noexcept;  // "sync", "batched", "memory"

}  // namespace moth::config
