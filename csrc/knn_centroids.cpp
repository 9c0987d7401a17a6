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
constexpr std::int64_t kSeedsPerCount = 2;

// The dot products of `rows` rows with all m centroids, row-major with
// leading dimension m.
void centroid_dots(const float* x, std::int64_t rows, std::int64_t d, const float* centroids,
                   std::int64_t m, float* dots) {
    for (std::int64_t first = 0; first < m; first += kReferenceBlock) {
        const std::int64_t columns = std::min(kReferenceBlock, m - first);
        gemm_abt(x, centroids + first * d, dots + first, rows, columns, d, m);
    }
}

// Turns one row's m dot products into its ranking keys ||c_j||^2 - 2 x.c_j
// (||x||^2 is the same for every centroid), in place, and returns the
// centroid of the smallest key (the first of equal ones).  Minima are kept
// per lane, so that the loop vectorizes.
TSNE_VECTOR_CLONES std::int64_t keys_and_smallest(float* row, const RankingTerms<float>& terms,
                                                  std::int64_t m) {
    constexpr std::int64_t kKeyLanes = 16;
    float lanes[kKeyLanes];
    std::fill_n(lanes, kKeyLanes, std::numeric_limits<float>::infinity());
    const float* offset = terms.offset.data();
    const float* scale = terms.scale.data();
    std::int64_t j = 0;
    for (; j + kKeyLanes <= m; j += kKeyLanes) {
        for (std::int64_t lane = 0; lane < kKeyLanes; ++lane) {
            const float key = offset[j + lane] + scale[j + lane] * row[j + lane];
            row[j + lane] = key;
            lanes[lane] = key < lanes[lane] ? key : lanes[lane];
        }
    }
    for (std::int64_t lane = 0; j < m; ++j, ++lane) {
        row[j] = offset[j] + scale[j] * row[j];
        lanes[lane] = row[j] < lanes[lane] ? row[j] : lanes[lane];
    }
    const float smallest = *std::min_element(lanes, lanes + kKeyLanes);
    const std::int64_t found = std::find(row, row + m, smallest) - row;
    if (found == m) {
        throw std::invalid_argument("distances to the centroids are not finite "
                                    "(values too large?)");
    }
    return found;
}

// Per-thread scratch space.
struct CentroidScratch {
    std::vector<float> keys;  // kCentroidRows x m
    std::vector<float> seed_keys;
    std::vector<Candidates<float>::Entry> entries;
};

// Keys are offered as they are: a dot product of 1 with a zero offset.
struct UnitTerms {
    std::vector<float> zeros, ones;
};

// Writes the `count` smallest of one row's m keys, smallest first (ties by
// smaller centroid), to out.  `seeds`, when given, are `n_seeds` >= count
// centroids whose count-th smallest key bounds the row's count-th smallest
// from above, so that only the keys under that bound are ever offered
// (without it, the first keys offered set the threshold, and it falls slowly).
void write_smallest(const float* keys, std::int64_t m, std::int64_t count,
                    const std::int64_t* seeds, std::int64_t n_seeds, const UnitTerms& unit,
                    CentroidScratch& scratch, std::int64_t* out) {
    float bound = std::numeric_limits<float>::infinity();
    if (seeds != nullptr) {
        scratch.seed_keys.resize(n_seeds);
        for (std::int64_t s = 0; s < n_seeds; ++s) scratch.seed_keys[s] = keys[seeds[s]];
        std::nth_element(scratch.seed_keys.begin(), scratch.seed_keys.begin() + count - 1,
                         scratch.seed_keys.end());
        // Candidates take keys strictly below the bound: the seeds' own count-th is let in.
        bound = std::nextafter(scratch.seed_keys[count - 1],
                               std::numeric_limits<float>::infinity());
    }
    Candidates<float> best(scratch.entries.data(), count, bound);
    offer_block_row(keys, unit.zeros.data(), unit.ones.data(), m, 0, -1, best);
    const auto [entries, found] = best.best();
    if (found < count) {
        throw std::invalid_argument("distances to the centroids are not finite "
                                    "(values too large?)");
    }
    Candidates<float>::Entry* sorted = scratch.entries.data();
    std::sort(sorted, sorted + count);
    for (std::int64_t s = 0; s < count; ++s) out[s] = sorted[s].id;
}

// The `count` nearest centroids of the n rows of x.  With `neighborhoods`
// (m x width: each centroid's nearest centroids), a row's seeds are those of
// the centroid with its smallest key.
void search_centroids(const float* x, std::int64_t n, std::int64_t d, const float* centroids,
                      std::int64_t m, std::int64_t count, const std::int64_t* neighborhoods,
                      std::int64_t width, std::int64_t* nearest, const RunOptions& options) {
    const RankingTerms<float> terms =
        ranking_terms(centroids, m, d, Metric::euclidean, std::max(1, options.n_threads));
    const UnitTerms unit{std::vector<float>(m, 0.0f), std::vector<float>(m, 1.0f)};
    const std::int64_t n_blocks = (n + kCentroidRows - 1) / kCentroidRows;
    SingleThreadedBlas single_threaded_blas;
    for_each_block<CentroidScratch>(
        n_blocks, options,
        [&](CentroidScratch& scratch) {
            scratch.keys.resize(kCentroidRows * m);
            scratch.entries.resize(2 * count);
        },
        [&](std::int64_t b, CentroidScratch& scratch, ParallelGuard& guard) {
            if (guard.checkpoint()) return;
            const std::int64_t first = b * kCentroidRows;
            const std::int64_t rows = std::min(kCentroidRows, n - first);
            centroid_dots(x + first * d, rows, d, centroids, m, scratch.keys.data());
            for (std::int64_t r = 0; r < rows; ++r) {
                float* keys = scratch.keys.data() + r * m;
                std::int64_t* out = nearest + (first + r) * count;
                const std::int64_t smallest = keys_and_smallest(keys, terms, m);
                if (count == 1) {
                    out[0] = smallest;
                    continue;
                }
                const std::int64_t* seeds =
                    neighborhoods == nullptr ? nullptr : neighborhoods + smallest * width;
                write_smallest(keys, m, count, seeds, width, unit, scratch, out);
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
    if (count == 1 || n <= m) {
        search_centroids(x, n, d, centroids, m, count, nullptr, 0, nearest, options);
        return;
    }
    // A row's count nearest centroids are mostly among the kSeedsPerCount *
    // count nearest of its nearest centroid; the count-th of those is then a
    // tight bound (the count-th of only count of them was the farthest of a
    // few strays, and let several times count keys through).
    const std::int64_t width = std::min(m, kSeedsPerCount * count);
    std::vector<std::int64_t> neighborhoods(static_cast<std::size_t>(m * width));
    search_centroids(centroids, m, d, centroids, m, width, nullptr, 0, neighborhoods.data(),
                     options);
    search_centroids(x, n, d, centroids, m, count, neighborhoods.data(), width, nearest,
                     options);
}

}  // namespace tsne
