// The nearest centroids of every row (nearest_centroids): the probes of the
// inverted file, and the k-means assignments that make its clusters.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "blas.hpp"
#include "knn.hpp"
#include "knn_common.hpp"

namespace tsne {

using namespace knn_detail;

namespace {

// Rows whose keys against every centroid are computed together: 64 rows of
// 8,000 centroids (2 MB) stay in L2/L3 between the GEMM and the selection.
constexpr std::int64_t kCentroidRows = 64;
// A row's keys are taken in strides of this many (two vector registers): the
// smallest key of each stride position within each run of kStride^2 keys is
// one of the row's minima.
constexpr std::int64_t kStride = 16;
constexpr std::int64_t kMinimaRun = kStride * kStride;

// The dot products of `rows` rows with all m centroids, row-major with
// leading dimension m.
void centroid_dots(const float* x, std::int64_t rows, std::int64_t d, const float* centroids,
                   std::int64_t m, float* dots) {
    for (std::int64_t first = 0; first < m; first += kReferenceBlock) {
        const std::int64_t columns = std::min(kReferenceBlock, m - first);
        gemm_abt(x, centroids + first * d, dots + first, rows, columns, d, m);
    }
}

// The number of a row's minima (+inf where a run has fewer keys).
std::int64_t minima_count(std::int64_t m) {
    return (m + kMinimaRun - 1) / kMinimaRun * kStride;
}

// Turns one row's m dot products into its ranking keys ||c_j||^2 - 2 x.c_j
// (||x||^2 is the same for every centroid), in place, and writes its
// minima: minima[r * kStride + l] is the smallest key j with j % kStride == l
// among keys r * kMinimaRun .. (r + 1) * kMinimaRun - 1.  They are disjoint
// sets' smallest keys, so the count-th smallest of them bounds the row's
// count-th smallest key from above: a tight bound, since each set is drawn
// across the centroids.  Returns the centroid of the smallest key (the first
// of equal ones).
TSNE_VECTOR_CLONES std::int64_t keys_and_minima(float* row, const RankingTerms<float>& terms,
                                                std::int64_t m, float* minima) {
    constexpr float kInf = std::numeric_limits<float>::infinity();
    const Floats8 infinite = {kInf, kInf, kInf, kInf, kInf, kInf, kInf, kInf};
    const float* offset = terms.offset.data();
    const float* scale = terms.scale.data();
    std::fill_n(minima, minima_count(m), kInf);
    std::int64_t j = 0;
    for (; j + kStride <= m; j += kStride) {
        Floats8* smallest = reinterpret_cast<Floats8*>(minima + j / kMinimaRun * kStride);
        for (std::int64_t h = 0; h < kStride / 8; ++h) {
            Floats8& keys = *reinterpret_cast<Floats8*>(row + j + 8 * h);
            keys = *reinterpret_cast<const Floats8*>(offset + j + 8 * h) +
                   *reinterpret_cast<const Floats8*>(scale + j + 8 * h) * keys;
            smallest[h] = keys < smallest[h] ? keys : smallest[h];
        }
    }
    for (; j < m; ++j) {
        row[j] = offset[j] + scale[j] * row[j];
        float& smallest = minima[j / kMinimaRun * kStride + j % kStride];
        smallest = std::min(smallest, row[j]);
    }
    Floats8 overall = infinite;
    for (std::int64_t t = 0; t < minima_count(m); t += 8) {
        const Floats8 lanes = *reinterpret_cast<const Floats8*>(minima + t);
        overall = lanes < overall ? lanes : overall;
    }
    const float best = *std::min_element(&overall[0], &overall[0] + 8);
    if (!(best < kInf)) {
        throw std::invalid_argument("distances to the centroids are not finite "
                                    "(values too large?)");
    }
    // The first run holding the smallest key holds its first occurrence.
    const std::int64_t run = (std::find(minima, minima + minima_count(m), best) - minima) / kStride;
    float* first = row + run * kMinimaRun;
    return std::find(first, row + std::min(m, (run + 1) * kMinimaRun), best) - row;
}

// How many of the `count` values (a multiple of 8) are at most `limit`.
TSNE_VECTOR_CLONES std::int64_t count_at_most(const float* values, std::int64_t count,
                                              float limit) {
    Ints8 lanes = {};
    for (std::int64_t t = 0; t < count; t += 8) {
        lanes -= *reinterpret_cast<const Floats8*>(values + t) <= limit;  // true is -1
    }
    std::int64_t total = 0;
    for (std::int64_t lane = 0; lane < 8; ++lane) total += lanes[lane];
    return total;
}

// A value that at least `count` of a row's minima (keys_and_minima) are at
// most, found by bisection a little above their count-th smallest (within
// 2^-kBisections of their range; a selection such as nth_element took longer,
// as its branches were mispredicted), or +inf when fewer are finite.
float minima_bound(const float* minima, std::int64_t n_minima, std::int64_t count) {
    constexpr int kBisections = 10;
    constexpr float kInf = std::numeric_limits<float>::infinity();
    float low = kInf, high = -kInf;
    for (std::int64_t t = 0; t < n_minima; ++t) {
        if (minima[t] < kInf) {
            low = std::min(low, minima[t]);
            high = std::max(high, minima[t]);
        }
    }
    if (count_at_most(minima, n_minima, high) < count) return kInf;
    if (count_at_most(minima, n_minima, low) >= count) return low;
    for (int step = 0; step < kBisections; ++step) {
        const float middle = low + (high - low) / 2;
        (count_at_most(minima, n_minima, middle) >= count ? high : low) = middle;
    }
    return high;
}

// Per-thread scratch space.
struct CentroidScratch {
    std::vector<float> keys;    // kCentroidRows x m
    std::vector<float> minima;  // one row's
    std::vector<std::uint64_t> words;  // PackedCandidates' storage
};

// The centroids whose keys (m of them) are below the threshold of `best`,
// offered to it: sixteen keys are compared at a time in vector registers,
// and only those below are visited, by the bits of a mask (a lane-by-lane
// loop over every chunk with a key below cost more).
TSNE_VECTOR_CLONES void offer_keys(const float* keys, std::int64_t m, PackedCandidates& best) {
    const Ints8 low_bits = {1 << 0, 1 << 1, 1 << 2, 1 << 3, 1 << 4, 1 << 5, 1 << 6, 1 << 7};
    const Ints8 high_bits = low_bits << 8;
    std::int64_t j = 0;
    for (; j + kStride <= m; j += kStride) {
        const float threshold = best.threshold();
        const Ints8 bits = ((*reinterpret_cast<const Floats8*>(keys + j) < threshold) & low_bits) |
                           ((*reinterpret_cast<const Floats8*>(keys + j + 8) < threshold) &
                            high_bits);
        if (!any_lane(bits)) continue;
        unsigned below = 0;
        for (std::int64_t lane = 0; lane < 8; ++lane) below |= static_cast<unsigned>(bits[lane]);
        while (below != 0) {
            const std::int64_t c = j + __builtin_ctz(below);
            below &= below - 1;
            if (keys[c] < best.threshold()) best.offer(keys[c], c);
        }
    }
    for (; j < m; ++j) {
        if (keys[j] < best.threshold()) best.offer(keys[j], j);
    }
}

// Writes the `count` smallest of one row's m keys, smallest first (ties by
// smaller centroid), to out, given the row's minima (keys_and_minima): only
// the keys up to about their count-th smallest are offered (without a bound,
// the first keys offered set the threshold, and it falls slowly).
void write_smallest(const float* keys, std::int64_t m, std::int64_t count,
                    CentroidScratch& scratch, std::int64_t* out) {
    // Candidates take keys strictly below the bound: the limit itself is let in.
    const float bound = std::nextafter(minima_bound(scratch.minima.data(), minima_count(m), count),
                                       std::numeric_limits<float>::infinity());
    PackedCandidates best(scratch.words.data(), count, bound);
    offer_keys(keys, m, best);
    if (best.best(out, /*nearest_first=*/true) < count) {
        throw std::invalid_argument("distances to the centroids are not finite "
                                    "(values too large?)");
    }
}

// The `count` nearest centroids of the n rows of x, nearest first.
void search_centroids(const float* x, std::int64_t n, std::int64_t d, const float* centroids,
                      std::int64_t m, std::int64_t count, std::int64_t* nearest,
                      const RunOptions& options) {
    const RankingTerms<float> terms =
        ranking_terms(centroids, m, d, Metric::euclidean, std::max(1, options.n_threads));
    const std::int64_t n_blocks = (n + kCentroidRows - 1) / kCentroidRows;
    SingleThreadedBlas single_threaded_blas;
    for_each_block<CentroidScratch>(
        n_blocks, options,
        [&](CentroidScratch& scratch) {
            scratch.keys.resize(kCentroidRows * m);
            scratch.minima.resize(minima_count(m));
            scratch.words.resize(2 * count + PackedCandidates::kSlack);
        },
        [&](std::int64_t b, CentroidScratch& scratch, ParallelGuard& guard) {
            if (guard.checkpoint()) return;
            const std::int64_t first = b * kCentroidRows;
            const std::int64_t rows = std::min(kCentroidRows, n - first);
            centroid_dots(x + first * d, rows, d, centroids, m, scratch.keys.data());
            for (std::int64_t r = 0; r < rows; ++r) {
                float* keys = scratch.keys.data() + r * m;
                std::int64_t* out = nearest + (first + r) * count;
                const std::int64_t smallest = keys_and_minima(keys, terms, m,
                                                              scratch.minima.data());
                if (count == 1) {
                    out[0] = smallest;
                } else {
                    write_smallest(keys, m, count, scratch, out);
                }
            }
        });
}

}  // namespace

void nearest_centroids(const float* x, std::int64_t n, std::int64_t d, const float* centroids,
                       std::int64_t m, std::int64_t count, std::int64_t* nearest,
                       const RunOptions& options) {
    if (n < 0 || d < 1 || m < 1 || count < 1 || count > m) {
        throw std::invalid_argument("need at least one column and centroid, and 1 <= count <= " +
                                    std::to_string(m) + " centroids, got count " +
                                    std::to_string(count));
    }
    check_blas_size(std::max(d, m));
    search_centroids(x, n, d, centroids, m, count, nearest, options);
}

}  // namespace tsne
