#pragma once
// Heap allocation counter for benchmarks and allocation tests: alloc_counter.cpp replaces every form of the
// global operator new, so linking it into a binary counts every C++ heap allocation made in it. Link it only
// into executables of their own (the codec and topic alloc tests, the benchmarks).
#include <cstdint>

namespace moth::test {

// Allocations made through any global operator new since the program started, on any thread.
[[nodiscard]] std::uint64_t allocation_count() noexcept;

}  // namespace moth::test
