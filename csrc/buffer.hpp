// A std::vector whose resize leaves numbers uninitialized: the large outputs
// are written in full right after allocation, and zero-filling them first cost
// as much as the writes (page faults plus a memset).
#pragma once

#include <memory>
#include <new>
#include <utility>
#include <vector>

namespace tsne {

template <class T, class Base = std::allocator<T>>
class DefaultInitAllocator : public Base {
public:
    template <class U>
    struct rebind {
        using other =
            DefaultInitAllocator<U, typename std::allocator_traits<Base>::template rebind_alloc<U>>;
    };
    using Base::Base;

    template <class U>
    void construct(U* p) noexcept(std::is_nothrow_default_constructible<U>::value) {
        ::new (static_cast<void*>(p)) U;
    }
    template <class U, class... Args>
    void construct(U* p, Args&&... args) {
        std::allocator_traits<Base>::construct(static_cast<Base&>(*this), p,
                                               std::forward<Args>(args)...);
    }
};

template <class T>
using Buffer = std::vector<T, DefaultInitAllocator<T>>;

}  // namespace tsne
