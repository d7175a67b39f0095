#pragma once
// LazyContainer: a std::map, unordered_map or unordered_set that takes one pointer until its first element. Empty,
// a libstdc++ hash container is 56 bytes inline and a map 48; a connection and a session carry some that many
// clients never use (topic aliases, QoS 2 receive state, subscriptions), so on an idle connection they are only
// overhead. Once used, the container is kept. Only the members the broker core uses are forwarded.
#include <cstddef>
#include <memory>
#include <utility>

namespace moth::broker {

template <class C>
class LazyContainer {
public:
    using iterator = typename C::iterator;
    using const_iterator = typename C::const_iterator;

    LazyContainer() = default;
    LazyContainer(LazyContainer&&) noexcept = default;
    LazyContainer& operator=(LazyContainer&&) noexcept = default;
    LazyContainer(const LazyContainer& o) : c_(o.c_ ? std::make_unique<C>(*o.c_) : nullptr) {}
    LazyContainer& operator=(const LazyContainer& o) {
        if (this != &o) c_ = o.c_ ? std::make_unique<C>(*o.c_) : nullptr;
        return *this;
    }
    ~LazyContainer() = default;

    [[nodiscard]] bool empty() const noexcept { return !c_ || c_->empty(); }
    [[nodiscard]] std::size_t size() const noexcept { return c_ ? c_->size() : 0; }

    // A never used LazyContainer hands out value-initialised iterators: find() == end(), as for any empty container.
    iterator begin() noexcept { return c_ ? c_->begin() : iterator(); }
    iterator end() noexcept { return c_ ? c_->end() : iterator(); }
    const_iterator begin() const noexcept { return c_ ? c_->cbegin() : const_iterator(); }
    const_iterator end() const noexcept { return c_ ? c_->cend() : const_iterator(); }

    template <class K>
    iterator find(const K& k) {
        return c_ ? c_->find(k) : iterator();
    }
    template <class K>
    const_iterator find(const K& k) const {
        return c_ ? c_->find(k) : const_iterator();
    }
    template <class K>
    [[nodiscard]] std::size_t count(const K& k) const {
        return c_ ? c_->count(k) : 0;
    }
    template <class K>
    std::size_t erase(const K& k) {
        return c_ ? c_->erase(k) : 0;
    }
    iterator erase(iterator it) { return c_->erase(it); }  // `it` is an element: the container exists
    template <class... Args>
    auto insert(Args&&... args) {
        return get().insert(std::forward<Args>(args)...);
    }
    template <class... Args>
    auto emplace(Args&&... args) {
        return get().emplace(std::forward<Args>(args)...);
    }
    template <class K, class V>
    auto insert_or_assign(K&& k, V&& v) {
        return get().insert_or_assign(std::forward<K>(k), std::forward<V>(v));
    }
    template <class K>
    auto& operator[](K&& k) {
        return get()[std::forward<K>(k)];
    }
    void clear() noexcept {
        if (c_) c_->clear();
    }

private:
    C& get() {
        if (!c_) c_ = std::make_unique<C>();
        return *c_;
    }
    std::unique_ptr<C> c_;
};

// BoxedOptional: an optional kept out of line, one pointer while empty. For what few connections and sessions
// carry (a will: about 40 B inline as a std::optional). Only the members the broker core uses are provided.
template <class T>
class BoxedOptional {
public:
    BoxedOptional() = default;
    BoxedOptional(BoxedOptional&&) noexcept = default;
    BoxedOptional& operator=(BoxedOptional&&) noexcept = default;
    BoxedOptional(const BoxedOptional& o) : p_(o.p_ ? std::make_unique<T>(*o.p_) : nullptr) {}
    BoxedOptional& operator=(const BoxedOptional& o) {
        if (this != &o) p_ = o.p_ ? std::make_unique<T>(*o.p_) : nullptr;
        return *this;
    }
    BoxedOptional& operator=(T v) {
        if (p_) {
            *p_ = std::move(v);
        } else {
            p_ = std::make_unique<T>(std::move(v));
        }
        return *this;
    }
    ~BoxedOptional() = default;

    [[nodiscard]] bool has_value() const noexcept { return p_ != nullptr; }
    explicit operator bool() const noexcept { return p_ != nullptr; }
    T& operator*() { return *p_; }
    const T& operator*() const { return *p_; }
    T* operator->() { return p_.get(); }
    const T* operator->() const { return p_.get(); }
    void reset() noexcept { p_.reset(); }

private:
    std::unique_ptr<T> p_;
};

}  // namespace moth::broker
