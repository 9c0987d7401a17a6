// Helpers for loops the compiler vectorizes, with results that are the same
// bits whatever the thread count or the arrays' alignment.
#pragma once

#include <cstdint>

// AVX2/FMA clones of a hot function, chosen at load time: the default build
// must run on any x86-64, so it takes no -march flags.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define TSNE_VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define TSNE_VECTOR_CLONES
#endif

namespace tsne {

// Eight floats, or four doubles, in a vector register where the target has
// them (two SSE registers otherwise): GCC's vector extension, so that one
// source serves the AVX2 clone and the portable one.  Loaded from float or
// double arrays, hence unaligned and may_alias (as the intrinsics' own
// __m256 is).
typedef float Floats8 __attribute__((vector_size(32), aligned(4), may_alias));
typedef std::int32_t Ints8 __attribute__((vector_size(32), aligned(4)));
typedef std::int64_t Words4 __attribute__((vector_size(32), aligned(4)));
typedef double Doubles4 __attribute__((vector_size(32), aligned(8), may_alias));

// Helpers that take or return those vectors are always inlined: called from
// the AVX2 clone, a copy compiled for the portable target would pass them in
// the other target's registers (GCC's -Wpsabi note).
#define TSNE_VECTOR_INLINE __attribute__((always_inline)) inline

TSNE_VECTOR_INLINE bool any_lane(Ints8 mask) {
    const Words4 words = reinterpret_cast<Words4>(mask);
    return (words[0] | words[1] | words[2] | words[3]) != 0;
}

// Partial sums kept per lane: the inner lane loop vectorizes without
// reassociating additions (unlike an `omp simd` reduction, whose peeling for
// alignment changes the order of the sum with the address of the data).
constexpr std::int64_t kLanes = 8;

// Calls term(c, lane) for c < count, lane = the partial sum c belongs to.
template <class Term>
inline void for_each_lane(std::int64_t count, Term term) {
    std::int64_t c = 0;
    for (; c + kLanes <= count; c += kLanes) {
        for (std::int64_t lane = 0; lane < kLanes; ++lane) term(c + lane, lane);
    }
    for (std::int64_t lane = 0; c < count; ++c, ++lane) term(c, lane);
}

inline double combine_lanes(const double (&partial)[kLanes]) {
    double sum = 0.0;
    for (std::int64_t lane = 0; lane < kLanes; ++lane) sum += partial[lane];
    return sum;
}

}  // namespace tsne
