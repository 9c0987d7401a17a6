#include "knn.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "blas.hpp"
#include "simd.hpp"

namespace tsne {
namespace {

// Rows per query block and columns per reference block: a block's product
// (kQueryBlock x kReferenceBlock) stays in L2/L3 while its row heaps are updated.
constexpr std::int64_t kQueryBlock = 384;
constexpr std::int64_t kReferenceBlock = 2048;

// Extra candidates kept beyond k, so that near-ties misordered by rounding in the
// GEMM-based keys are settled by the exact distances.
std::int64_t candidate_count(std::int64_t n, std::int64_t k) {
    return std::min(n - 1, k + std::max<std::int64_t>(16, k / 4));
}

// A fixed-capacity max-heap of (key, index): the worst kept candidate on top.
template <class T>
class TopK {
public:
    TopK(T* keys, std::int64_t* ids, std::int64_t capacity)
        : keys_(keys), ids_(ids), capacity_(capacity) {
        std::fill(keys_, keys_ + capacity_, std::numeric_limits<T>::infinity());
        std::fill(ids_, ids_ + capacity_, std::int64_t{-1});
    }

    T worst() const { return keys_[0]; }

    void replace_worst(T key, std::int64_t id) {
        std::int64_t hole = 0;
        for (;;) {
            std::int64_t child = 2 * hole + 1;
            if (child >= capacity_) break;
            if (child + 1 < capacity_ && keys_[child + 1] > keys_[child]) ++child;
            if (keys_[child] <= key) break;
            keys_[hole] = keys_[child];
            ids_[hole] = ids_[child];
            hole = child;
        }
        keys_[hole] = key;
        ids_[hole] = id;
    }

private:
    T* keys_;
    std::int64_t* ids_;
    std::int64_t capacity_;
};

// The ranking key of reference row j for a fixed query row is
// offset[j] + scale[j] * dot(query, row j): ||y||^2 - 2 x.y for Euclidean
// (||x||^2 is constant per query), -x.y / ||y|| for cosine (||x|| likewise).
template <class T>
struct RankingTerms {
    std::vector<T> offset;
    std::vector<T> scale;
    std::vector<double> norms;  // ||row||, exact in double
};

template <class T>
RankingTerms<T> ranking_terms(const T* x, std::int64_t n, std::int64_t d, Metric metric,
                              int n_threads) {
    RankingTerms<T> terms{std::vector<T>(n), std::vector<T>(n), std::vector<double>(n)};
    std::int64_t zero_row = n;  // the first all-zero row, if any (cosine only)
#pragma omp parallel for schedule(static) num_threads(n_threads) reduction(min : zero_row)
    for (std::int64_t i = 0; i < n; ++i) {
        const T* row = x + i * d;
        double squared = 0.0;
        for (std::int64_t c = 0; c < d; ++c) squared += double(row[c]) * double(row[c]);
        terms.norms[i] = std::sqrt(squared);
        if (metric == Metric::euclidean) {
            terms.offset[i] = static_cast<T>(squared);
            terms.scale[i] = T(-2);
        } else {
            if (squared == 0.0) zero_row = std::min(zero_row, i);
            terms.offset[i] = T(0);
            terms.scale[i] = squared > 0.0 ? static_cast<T>(-1.0 / terms.norms[i]) : T(0);
        }
    }
    if (zero_row < n) {
        throw std::invalid_argument("cosine distance is undefined for an all-zero row (row " +
                                    std::to_string(zero_row) + ")");
    }
    return terms;
}

template <class T>
TSNE_VECTOR_CLONES double squared_difference(const T* a, const T* b, std::int64_t d) {
    double partial[kLanes] = {};
    for_each_lane(d, [&](std::int64_t c, std::int64_t lane) {
        const double diff = double(a[c]) - double(b[c]);
        partial[lane] += diff * diff;
    });
    return combine_lanes(partial);
}

template <class T>
TSNE_VECTOR_CLONES double dot_product(const T* a, const T* b, std::int64_t d) {
    double partial[kLanes] = {};
    for_each_lane(d, [&](std::int64_t c, std::int64_t lane) {
        partial[lane] += double(a[c]) * double(b[c]);
    });
    return combine_lanes(partial);
}

template <class T>
double exact_distance(const T* a, const T* b, std::int64_t d, Metric metric, double norm_a,
                      double norm_b) {
    if (metric == Metric::euclidean) return std::sqrt(squared_difference(a, b, d));
    return std::max(0.0, 1.0 - dot_product(a, b, d) / (norm_a * norm_b));
}

// Per-thread scratch space for one query block.
template <class T>
struct BlockScratch {
    std::vector<T> products;       // kQueryBlock x kReferenceBlock
    std::vector<T> keys;           // kQueryBlock x candidates
    std::vector<std::int64_t> ids; // kQueryBlock x candidates
    std::vector<std::pair<double, std::int64_t>> ranked;
};

template <class T>
void search_query_block(const T* x, std::int64_t n, std::int64_t d, std::int64_t k,
                        std::int64_t candidates, Metric metric, const RankingTerms<T>& terms,
                        std::int64_t first_row, BlockScratch<T>& scratch, ParallelGuard& guard,
                        std::int64_t* indices, double* distances) {
    const std::int64_t rows = std::min(kQueryBlock, n - first_row);
    std::vector<TopK<T>> heaps;
    heaps.reserve(rows);
    for (std::int64_t r = 0; r < rows; ++r) {
        heaps.emplace_back(scratch.keys.data() + r * candidates,
                           scratch.ids.data() + r * candidates, candidates);
    }

    for (std::int64_t first_ref = 0; first_ref < n; first_ref += kReferenceBlock) {
        if (guard.checkpoint()) return;
        const std::int64_t refs = std::min(kReferenceBlock, n - first_ref);
        gemm_abt(x + first_row * d, x + first_ref * d, scratch.products.data(), rows, refs, d,
                 kReferenceBlock);
        const T* offset = terms.offset.data() + first_ref;
        const T* scale = terms.scale.data() + first_ref;
        for (std::int64_t r = 0; r < rows; ++r) {
            const T* dots = scratch.products.data() + r * kReferenceBlock;
            const std::int64_t self = first_row + r - first_ref;
            TopK<T>& heap = heaps[r];
            T worst = heap.worst();
            for (std::int64_t j = 0; j < refs; ++j) {
                const T key = offset[j] + scale[j] * dots[j];
                if (key < worst && j != self) {
                    heap.replace_worst(key, first_ref + j);
                    worst = heap.worst();
                }
            }
        }
    }

    for (std::int64_t r = 0; r < rows; ++r) {
        const std::int64_t i = first_row + r;
        const std::int64_t* ids = scratch.ids.data() + r * candidates;
        scratch.ranked.clear();
        for (std::int64_t c = 0; c < candidates; ++c) {
            const std::int64_t j = ids[c];
            if (j < 0) continue;  // a key was not finite: reported below
            scratch.ranked.emplace_back(
                exact_distance(x + i * d, x + j * d, d, metric, terms.norms[i], terms.norms[j]),
                j);
        }
        if (static_cast<std::int64_t>(scratch.ranked.size()) < k) {
            throw std::invalid_argument("distances of row " + std::to_string(i) +
                                        " are not finite (values too large?)");
        }
        std::partial_sort(scratch.ranked.begin(), scratch.ranked.begin() + k,
                          scratch.ranked.end());
        for (std::int64_t c = 0; c < k; ++c) {
            distances[i * k + c] = scratch.ranked[c].first;
            indices[i * k + c] = scratch.ranked[c].second;
        }
    }
}

}  // namespace

template <class T>
void exact_knn(const T* x, std::int64_t n, std::int64_t d, std::int64_t k, Metric metric,
               std::int64_t* indices, double* distances, const RunOptions& options) {
    if (n < 2) throw std::invalid_argument("need at least 2 rows, got " + std::to_string(n));
    if (d < 1) throw std::invalid_argument("need at least 1 column, got " + std::to_string(d));
    if (k < 1 || k >= n) {
        throw std::invalid_argument("k must be in [1, n - 1] = [1, " + std::to_string(n - 1) +
                                    "], got " + std::to_string(k));
    }
    if (d > std::numeric_limits<int>::max() || n > std::numeric_limits<int>::max()) {
        throw std::invalid_argument("data too large for 32-bit BLAS dimensions");
    }

    const int n_threads = std::max(1, options.n_threads);
    const RankingTerms<T> terms = ranking_terms(x, n, d, metric, n_threads);
    const std::int64_t candidates = candidate_count(n, k);
    const std::int64_t blocks = (n + kQueryBlock - 1) / kQueryBlock;
    SingleThreadedBlas single_threaded_blas;
    ParallelGuard guard(options);

#pragma omp parallel num_threads(n_threads)
    {
        BlockScratch<T> scratch;
        guard.run([&] {
            scratch.products.resize(kQueryBlock * kReferenceBlock);
            scratch.keys.resize(kQueryBlock * candidates);
            scratch.ids.resize(kQueryBlock * candidates);
            scratch.ranked.reserve(candidates);
        });
#pragma omp for schedule(dynamic, 1)
        for (std::int64_t b = 0; b < blocks; ++b) {
            guard.run([&] {
                search_query_block(x, n, d, k, candidates, metric, terms, b * kQueryBlock,
                                   scratch, guard, indices, distances);
            });
        }
    }
    guard.rethrow();
}

template void exact_knn<float>(const float*, std::int64_t, std::int64_t, std::int64_t, Metric,
                               std::int64_t*, double*, const RunOptions&);
template void exact_knn<double>(const double*, std::int64_t, std::int64_t, std::int64_t, Metric,
                                std::int64_t*, double*, const RunOptions&);

}  // namespace tsne
