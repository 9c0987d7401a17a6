// A std::vector whose resize leaves numbers uninitialized: the large outputs
// are written in full right after allocation, and zero-filling them first cost
// as much as the writes (page faults plus a memset).  Large ones are aligned
// to 2 MB and, on Linux, advised to use transparent huge pages, as numpy does
// for its arrays: their first touch then faults in 2 MB at a time, not 4 KB.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>
#include <utility>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

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

    static constexpr std::size_t kHugePage = std::size_t{1} << 21;
    // Smaller buffers come from the ordinary allocator.
    static constexpr std::size_t kHugeBufferBytes = std::size_t{1} << 24;

    T* allocate(std::size_t n) {
        const std::size_t bytes = n * sizeof(T);
        if (bytes < kHugeBufferBytes) return Base::allocate(n);
        const std::size_t rounded = (bytes + kHugePage - 1) / kHugePage * kHugePage;
        void* p = std::aligned_alloc(kHugePage, rounded);
        if (p == nullptr) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
        madvise(p, rounded, MADV_HUGEPAGE);  // advice only: failure changes nothing
#endif
        return static_cast<T*>(p);
    }

    void deallocate(T* p, std::size_t n) {
        if (n * sizeof(T) < kHugeBufferBytes) {
            Base::deallocate(p, n);
        } else {
            std::free(p);
        }
    }

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
