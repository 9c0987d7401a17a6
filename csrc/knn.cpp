// Exact search (exact_knn) and re-ranking of candidates by their exact
// distance (rerank_knn); the probed search is in knn_probed.cpp.
#include "knn.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "blas.hpp"
#include "knn_common.hpp"
#include "simd.hpp"

namespace tsne {

using namespace knn_detail;

namespace {

// Extra candidates kept beyond k, so that near-ties misordered by rounding in the
// GEMM-based keys are settled by the exact distances.
std::int64_t candidate_count(std::int64_t n, std::int64_t k) {
    return std::min(n - 1, k + std::max<std::int64_t>(16, k / 4));
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

// The norms are read only for cosine: b's, read for every candidate, would
// miss the cache as often as its row (and re-ranking waited on it most).
template <class T>
double exact_distance(const T* a, const T* b, std::int64_t d, Metric metric, double norm_a,
                      const double* norm_b) {
    if (metric == Metric::euclidean) return std::sqrt(squared_difference(a, b, d));
    return std::max(0.0, 1.0 - dot_product(a, b, d) / (norm_a * *norm_b));
}

// (exact distance, row) pairs of one query row's candidates.
using Ranked = std::vector<std::pair<double, std::int64_t>>;

// Writes the first k of `ranked` pairs.
void write_first(const Ranked& ranked, std::int64_t k, std::int64_t* indices,
                 double* distances) {
    for (std::int64_t c = 0; c < k; ++c) {
        distances[c] = ranked[c].first;
        indices[c] = ranked[c].second;
    }
}

// Writes the k nearest of `ranked` pairs, nearest first and ties by smaller
// row; reorders `ranked`.
void write_nearest(Ranked& ranked, std::int64_t k, std::int64_t* indices, double* distances) {
    std::partial_sort(ranked.begin(), ranked.begin() + k, ranked.end());
    write_first(ranked, k, indices, distances);
}

// Per-thread scratch space for one query block.
template <class T>
struct BlockScratch {
    std::vector<T> products;                             // kQueryBlock x kReferenceBlock
    std::vector<typename Candidates<T>::Entry> entries;  // kQueryBlock x 2 candidates
    std::vector<T> gathered;                             // kQueryBlock x d, when gathered
    Ranked ranked;
};

// One block of queries, rows of x: query r is row query_rows[r], whose
// values are query_points[r * d ..] (x's own row, or a copy of it), and whose
// k neighbours go to indices[r * k ..] and distances[r * k ..].
template <class T>
struct QueryBlockRows {
    const T* query_points;
    const std::int64_t* query_rows;
    std::int64_t rows;
    std::int64_t* indices;
    double* distances;
};

template <class T>
void search_query_block(const T* x, std::int64_t n, std::int64_t d, std::int64_t k,
                        std::int64_t candidates, Metric metric, const RankingTerms<T>& terms,
                        const QueryBlockRows<T>& block, BlockScratch<T>& scratch,
                        ParallelGuard& guard) {
    const std::int64_t rows = block.rows;
    std::vector<Candidates<T>> best;
    best.reserve(rows);
    for (std::int64_t r = 0; r < rows; ++r) {
        best.emplace_back(scratch.entries.data() + 2 * r * candidates, candidates);
    }

    for (std::int64_t first_ref = 0; first_ref < n; first_ref += kReferenceBlock) {
        if (guard.checkpoint()) return;
        const std::int64_t refs = std::min(kReferenceBlock, n - first_ref);
        gemm_abt(block.query_points, x + first_ref * d, scratch.products.data(), rows, refs, d,
                 kReferenceBlock);
        for (std::int64_t r = 0; r < rows; ++r) {
            offer_block_row(scratch.products.data() + r * kReferenceBlock,
                            terms.offset.data() + first_ref, terms.scale.data() + first_ref,
                            refs, first_ref, block.query_rows[r], best[r]);
        }
    }

    for (std::int64_t r = 0; r < rows; ++r) {
        const std::int64_t i = block.query_rows[r];
        const auto [entries, count] = best[r].best();
        scratch.ranked.clear();
        for (std::int64_t c = 0; c < count; ++c) {  // fewer than k: keys were not finite
            const std::int64_t j = entries[c].id;
            scratch.ranked.emplace_back(
                exact_distance(x + i * d, x + j * d, d, metric, terms.norms[i], &terms.norms[j]),
                j);
        }
        if (static_cast<std::int64_t>(scratch.ranked.size()) < k) {
            throw std::invalid_argument("distances of row " + std::to_string(i) +
                                        " are not finite (values too large?)");
        }
        write_nearest(scratch.ranked, k, block.indices + r * k, block.distances + r * k);
    }
}

// The k nearest other rows of the rows query_rows[0 .. n_queries) of x, each
// found by exact_knn's blocked search; `gather` says the queries are not
// consecutive rows of x, so that each block copies its queries' values.
template <class T>
void search_rows(const T* x, std::int64_t n, std::int64_t d, const std::int64_t* query_rows,
                 std::int64_t n_queries, bool gather, std::int64_t k, Metric metric,
                 std::int64_t* indices, double* distances, const RunOptions& options) {
    const int n_threads = std::max(1, options.n_threads);
    const RankingTerms<T> terms = ranking_terms(x, n, d, metric, n_threads);
    const std::int64_t candidates = candidate_count(n, k);
    SingleThreadedBlas single_threaded_blas;
    for_each_block<BlockScratch<T>>(
        block_count(n_queries, kQueryBlock), options,
        [&](BlockScratch<T>& scratch) {
            scratch.products.resize(kQueryBlock * kReferenceBlock);
            scratch.entries.resize(2 * kQueryBlock * candidates);
            scratch.ranked.reserve(candidates);
            if (gather) scratch.gathered.resize(kQueryBlock * d);
        },
        [&](std::int64_t b, BlockScratch<T>& scratch, ParallelGuard& guard) {
            const std::int64_t first = b * kQueryBlock;
            const std::int64_t rows = std::min(kQueryBlock, n_queries - first);
            const std::int64_t* block_rows = query_rows + first;
            if (gather) {
                for (std::int64_t r = 0; r < rows; ++r) {
                    std::copy_n(x + block_rows[r] * d, d, scratch.gathered.data() + r * d);
                }
            }
            const T* points = gather ? scratch.gathered.data() : x + block_rows[0] * d;
            search_query_block(x, n, d, k, candidates, metric, terms,
                               {points, block_rows, rows, indices + first * k,
                                distances + first * k},
                               scratch, guard);
        });
}

// Rows re-ranked between two interrupt checks.
constexpr std::int64_t kRerankBlock = 256;

void check_candidates(const std::int64_t* candidates, std::int64_t n, std::int64_t c) {
    check_in_range(candidates, n * c, n, [&](std::int64_t t) {
        return "candidate " + std::to_string(candidates[t]) + " of row " + std::to_string(t / c) +
               " is not a row number";
    });
}

// The rows in breadth-first order of the candidate graph.  Re-ranking reads c
// scattered rows of x per row; in this order consecutive rows share most of
// their candidates, which then come from cache instead of memory.
std::vector<std::int64_t> breadth_first_order(const std::int64_t* candidates, std::int64_t n,
                                              std::int64_t c) {
    std::vector<std::int64_t> order;
    order.reserve(n);
    std::vector<char> seen(n, 0);
    for (std::int64_t root = 0; root < n; ++root) {
        if (seen[root]) continue;
        seen[root] = 1;
        order.push_back(root);
        for (std::size_t next = order.size() - 1; next < order.size(); ++next) {
            const std::int64_t* row = candidates + order[next] * c;
            for (std::int64_t col = 0; col < c; ++col) {
                if (!seen[row[col]]) {
                    seen[row[col]] = 1;
                    order.push_back(row[col]);
                }
            }
        }
    }
    return order;
}

// Asks for a row's cache lines ahead of use: re-ranking jumps between
// scattered rows, and the hardware prefetcher only follows a row once begun.
// Asked this many candidates ahead, a row has come from memory when used.
constexpr std::int64_t kPrefetchAhead = 8;
template <class T>
void prefetch_row(const T* row, std::int64_t d) {
    constexpr std::int64_t kLine = 64 / sizeof(T);
    for (std::int64_t c = 0; c < d; c += kLine) __builtin_prefetch(row + c);
}

// The k nearest of one query's c candidates (rows of x) by exact distance.
// `excluded` is the query's own row of x (skipped), or -1; `label` names the
// query in errors.
template <class T>
void rerank_row(const T* x, std::int64_t d, const T* query, double query_norm,
                const std::int64_t* row_candidates, std::int64_t c, std::int64_t k,
                Metric metric, const std::vector<double>& norms, std::int64_t excluded,
                const char* label, std::int64_t number, Ranked& ranked, std::int64_t* indices,
                double* distances) {
    ranked.clear();
    for (std::int64_t col = 0; col < std::min(c, kPrefetchAhead); ++col) {
        prefetch_row(x + row_candidates[col] * d, d);
    }
    for (std::int64_t col = 0; col < c; ++col) {
        const std::int64_t j = row_candidates[col];
        const std::int64_t ahead = col + kPrefetchAhead;
        if (ahead < c) prefetch_row(x + row_candidates[ahead] * d, d);
        if (j == excluded) continue;
        ranked.emplace_back(exact_distance(query, x + j * d, d, metric, query_norm, &norms[j]), j);
    }
    std::sort(ranked.begin(), ranked.end());
    ranked.erase(std::unique(ranked.begin(), ranked.end()), ranked.end());
    if (static_cast<std::int64_t>(ranked.size()) < k) {
        throw std::invalid_argument(std::string(label) + " " + std::to_string(number) +
                                    " has fewer than k = " + std::to_string(k) +
                                    " distinct candidates");
    }
    write_first(ranked, k, indices, distances);
}

}  // namespace

template <class T>
void rerank_knn(const T* x, std::int64_t n, std::int64_t d, const std::int64_t* candidates,
                std::int64_t c, std::int64_t k, Metric metric, std::int64_t* indices,
                double* distances, const RunOptions& options) {
    check_sizes(n, d, k);
    check_candidates(candidates, n, c);
    const int n_threads = std::max(1, options.n_threads);
    const std::vector<double> norms = ranking_terms(x, n, d, metric, n_threads).norms;
    const std::vector<std::int64_t> order = breadth_first_order(candidates, n, c);
    for_each_block<Ranked>(
        block_count(n, kRerankBlock), options, [&](Ranked& ranked) { ranked.reserve(c); },
        [&](std::int64_t b, Ranked& ranked, ParallelGuard&) {
            const std::int64_t end = std::min(n, (b + 1) * kRerankBlock);
            for (std::int64_t position = b * kRerankBlock; position < end; ++position) {
                const std::int64_t i = order[position];
                rerank_row(x, d, x + i * d, norms[i], candidates + i * c, c, k, metric, norms, i,
                           "row", i, ranked, indices + i * k, distances + i * k);
            }
        });
}

template <class T>
void rerank_query_knn(const T* x, std::int64_t n, std::int64_t d, const T* queries,
                      std::int64_t n_queries, const std::int64_t* candidates, std::int64_t c,
                      std::int64_t k, Metric metric, std::int64_t* indices, double* distances,
                      const RunOptions& options) {
    if (n < 1 || d < 1 || k < 1 || k > n || n_queries < 0) {
        throw std::invalid_argument("need 1 <= k <= n rows, at least one column and queries");
    }
    check_in_range(candidates, n_queries * c, n, [&](std::int64_t t) {
        return "candidate " + std::to_string(candidates[t]) + " of query " +
               std::to_string(t / c) + " is not a row number";
    });
    const int n_threads = std::max(1, options.n_threads);
    const std::vector<double> norms = ranking_terms(x, n, d, metric, n_threads).norms;
    const std::vector<double> query_norms =
        ranking_terms(queries, n_queries, d, metric, n_threads).norms;
    for_each_block<Ranked>(
        block_count(n_queries, kRerankBlock), options, [&](Ranked& ranked) { ranked.reserve(c); },
        [&](std::int64_t b, Ranked& ranked, ParallelGuard&) {
            const std::int64_t end = std::min(n_queries, (b + 1) * kRerankBlock);
            for (std::int64_t t = b * kRerankBlock; t < end; ++t) {
                rerank_row(x, d, queries + t * d, query_norms[t], candidates + t * c, c, k,
                           metric, norms, -1, "query", t, ranked, indices + t * k,
                           distances + t * k);
            }
        });
}

template <class T>
void exact_knn(const T* x, std::int64_t n, std::int64_t d, std::int64_t k, Metric metric,
               std::int64_t* indices, double* distances, const RunOptions& options) {
    check_sizes(n, d, k);
    check_blas_size(std::max(n, d));
    std::vector<std::int64_t> rows(static_cast<std::size_t>(n));
    std::iota(rows.begin(), rows.end(), std::int64_t{0});
    search_rows(x, n, d, rows.data(), n, false, k, metric, indices, distances, options);
}

template <class T>
void exact_knn_of_rows(const T* x, std::int64_t n, std::int64_t d, const std::int64_t* rows,
                       std::int64_t n_rows, std::int64_t k, Metric metric,
                       std::int64_t* indices, double* distances, const RunOptions& options) {
    check_sizes(n, d, k);
    check_blas_size(std::max(n, d));
    if (n_rows < 0) throw std::invalid_argument("need a non-negative number of rows");
    check_in_range(rows, n_rows, n, [&](std::int64_t t) {
        return "row " + std::to_string(rows[t]) + " (query " + std::to_string(t) +
               ") is not a row number";
    });
    search_rows(x, n, d, rows, n_rows, true, k, metric, indices, distances, options);
}

template void exact_knn<float>(const float*, std::int64_t, std::int64_t, std::int64_t, Metric,
                               std::int64_t*, double*, const RunOptions&);
template void exact_knn<double>(const double*, std::int64_t, std::int64_t, std::int64_t, Metric,
                                std::int64_t*, double*, const RunOptions&);
template void exact_knn_of_rows<float>(const float*, std::int64_t, std::int64_t,
                                       const std::int64_t*, std::int64_t, std::int64_t, Metric,
                                       std::int64_t*, double*, const RunOptions&);
template void exact_knn_of_rows<double>(const double*, std::int64_t, std::int64_t,
                                        const std::int64_t*, std::int64_t, std::int64_t, Metric,
                                        std::int64_t*, double*, const RunOptions&);
template void rerank_knn<float>(const float*, std::int64_t, std::int64_t, const std::int64_t*,
                                std::int64_t, std::int64_t, Metric, std::int64_t*, double*,
                                const RunOptions&);
template void rerank_knn<double>(const double*, std::int64_t, std::int64_t, const std::int64_t*,
                                 std::int64_t, std::int64_t, Metric, std::int64_t*, double*,
                                 const RunOptions&);

template void rerank_query_knn<float>(const float*, std::int64_t, std::int64_t, const float*,
                                      std::int64_t, const std::int64_t*, std::int64_t,
                                      std::int64_t, Metric, std::int64_t*, double*,
                                      const RunOptions&);
template void rerank_query_knn<double>(const double*, std::int64_t, std::int64_t, const double*,
                                       std::int64_t, const std::int64_t*, std::int64_t,
                                       std::int64_t, Metric, std::int64_t*, double*,
                                       const RunOptions&);

}  // namespace tsne
