#pragma once
// LazyDeque: a std::deque that allocates nothing until its first element. libstdc++'s deque allocates its map and
// a 512-byte block as soon as it is constructed, even empty; a session has two (inflight and queue), which was
// about 1.2 kB of every idle connection. Once used, the deque is kept (no churn for a session with traffic).
// Only the members the broker core uses are forwarded.
#include <cstddef>
#include <deque>
#include <memory>
#include <utility>

namespace moth::broker {

template <class T>
class LazyDeque {
public:
    using Deque = std::deque<T>;
    using iterator = typename Deque::iterator;
    using const_iterator = typename Deque::const_iterator;
    using reverse_iterator = typename Deque::reverse_iterator;
    using const_reverse_iterator = typename Deque::const_reverse_iterator;

    LazyDeque() = default;
    LazyDeque(LazyDeque&&) noexcept = default;
    LazyDeque& operator=(LazyDeque&&) noexcept = default;
    LazyDeque(const LazyDeque& o) : d_(o.d_ ? std::make_unique<Deque>(*o.d_) : nullptr) {}
    LazyDeque& operator=(const LazyDeque& o) {
        if (this != &o) d_ = o.d_ ? std::make_unique<Deque>(*o.d_) : nullptr;
        return *this;
    }
    ~LazyDeque() = default;

    [[nodiscard]] bool empty() const noexcept { return !d_ || d_->empty(); }
    [[nodiscard]] std::size_t size() const noexcept { return d_ ? d_->size() : 0; }
    T& front() { return d_->front(); }
    const T& front() const { return d_->front(); }
    void push_back(T v) { get().push_back(std::move(v)); }
    void push_front(T v) { get().push_front(std::move(v)); }
    void pop_front() { d_->pop_front(); }
    iterator erase(const_iterator it) { return d_->erase(it); }
    iterator erase(const_iterator first, const_iterator last) { return d_ ? d_->erase(first, last) : iterator(); }
    void clear() noexcept {
        if (d_) d_->clear();
    }

    // An empty, never used LazyDeque has value-initialised iterators: begin() == end(), as for any empty range.
    iterator begin() noexcept { return d_ ? d_->begin() : iterator(); }
    iterator end() noexcept { return d_ ? d_->end() : iterator(); }
    const_iterator begin() const noexcept { return d_ ? d_->cbegin() : const_iterator(); }
    const_iterator end() const noexcept { return d_ ? d_->cend() : const_iterator(); }
    reverse_iterator rbegin() noexcept { return reverse_iterator(end()); }
    reverse_iterator rend() noexcept { return reverse_iterator(begin()); }
    const_reverse_iterator rbegin() const noexcept { return const_reverse_iterator(end()); }
    const_reverse_iterator rend() const noexcept { return const_reverse_iterator(begin()); }

private:
    Deque& get() {
        if (!d_) d_ = std::make_unique<Deque>();
        return *d_;
    }
    std::unique_ptr<Deque> d_;
};

}  // namespace moth::broker
