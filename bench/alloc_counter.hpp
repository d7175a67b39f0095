#pragma once
// Heap allocation counter for the benchmarks: alloc_counter.cpp replaces every form of the global
// operator new, so linking it into a benchmark binary counts every C++ heap allocation made in it.
#include <cstdint>

namespace moth::bench {

// Allocations made through any global operator new since the program started, on any thread.
[[nodiscard]] std::uint64_t allocation_count() noexcept;

}  // namespace moth::bench
