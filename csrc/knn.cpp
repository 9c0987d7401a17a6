#include "knn.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "blas.hpp"
#include "simd.hpp"

namespace tsne {
namespace {

// Rows per query block and columns per reference block: a block's product
// (kQueryBlock x kReferenceBlock) stays in L2/L3 while its rows' candidates are updated.
constexpr std::int64_t kQueryBlock = 384;
constexpr std::int64_t kReferenceBlock = 2048;

// Extra candidates kept beyond k, so that near-ties misordered by rounding in the
// GEMM-based keys are settled by the exact distances.
std::int64_t candidate_count(std::int64_t n, std::int64_t k) {
    return std::min(n - 1, k + std::max<std::int64_t>(16, k / 4));
}

// The `capacity` best (smallest key, then smallest index) candidates of one
// query row.  Keys below the threshold are appended; when the buffer (twice the
// capacity) is full, the best `capacity` are kept and the threshold drops to the
// worst of them.  Amortized O(1) per offer: a heap's sift touched O(log c)
// scattered entries per offer, which dominated the search when d is small.
template <class T>
class Candidates {
public:
    struct Entry {
        T key;
        std::int64_t id;
        bool operator<(const Entry& other) const {
            return key < other.key || (key == other.key && id < other.id);
        }
    };

    Candidates(Entry* storage, std::int64_t capacity) : entries_(storage), capacity_(capacity) {}

    T threshold() const { return threshold_; }

    void offer(T key, std::int64_t id) {
        entries_[count_++] = {key, id};
        if (count_ == 2 * capacity_) shrink();
    }

    // The best candidates kept (at most `capacity`, in no particular order).
    std::pair<const Entry*, std::int64_t> best() {
        if (count_ > capacity_) shrink();
        return {entries_, count_};
    }

private:
    void shrink() {
        std::nth_element(entries_, entries_ + capacity_ - 1, entries_ + count_);
        count_ = capacity_;
        threshold_ = entries_[capacity_ - 1].key;
    }

    Entry* entries_;
    std::int64_t capacity_;
    std::int64_t count_ = 0;
    T threshold_ = std::numeric_limits<T>::infinity();
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

// Writes the k nearest of `ranked` (distance, row) pairs, nearest first and
// ties by smaller row; reorders `ranked`.
void write_nearest(std::vector<std::pair<double, std::int64_t>>& ranked, std::int64_t k,
                   std::int64_t* indices, double* distances) {
    std::partial_sort(ranked.begin(), ranked.begin() + k, ranked.end());
    for (std::int64_t c = 0; c < k; ++c) {
        distances[c] = ranked[c].first;
        indices[c] = ranked[c].second;
    }
}

// Offers reference rows first_ref .. first_ref + refs - 1 to query row `self`'s
// candidates, given their dot products with the query.  Keys are computed and
// compared with the threshold a chunk at a time in vector registers; only the
// keys below it are then looked at one by one (the threshold only drops, so
// the others could not be taken).
template <class T>
TSNE_VECTOR_CLONES void offer_block_row(const T* dots, const T* offset, const T* scale,
                                        std::int64_t refs, std::int64_t first_ref,
                                        std::int64_t self, Candidates<T>& best) {
    constexpr std::int64_t kChunk = 16;
    T keys[kChunk];
    for (std::int64_t start = 0; start < refs; start += kChunk) {
        const std::int64_t count = std::min(kChunk, refs - start);
        for (std::int64_t c = 0; c < count; ++c) {
            keys[c] = offset[start + c] + scale[start + c] * dots[start + c];
        }
        const T threshold = best.threshold();
        unsigned below = 0;
        for (std::int64_t c = 0; c < count; ++c) below |= unsigned(keys[c] < threshold) << c;
        while (below != 0) {
            const int c = __builtin_ctz(below);
            below &= below - 1;
            const std::int64_t id = first_ref + start + c;
            if (keys[c] < best.threshold() && id != self) best.offer(keys[c], id);
        }
    }
}

// Per-thread scratch space for one query block.
template <class T>
struct BlockScratch {
    std::vector<T> products;                             // kQueryBlock x kReferenceBlock
    std::vector<typename Candidates<T>::Entry> entries;  // kQueryBlock x 2 candidates
    std::vector<std::pair<double, std::int64_t>> ranked;
};

template <class T>
void search_query_block(const T* x, std::int64_t n, std::int64_t d, std::int64_t k,
                        std::int64_t candidates, Metric metric, const RankingTerms<T>& terms,
                        std::int64_t first_row, BlockScratch<T>& scratch, ParallelGuard& guard,
                        std::int64_t* indices, double* distances) {
    const std::int64_t rows = std::min(kQueryBlock, n - first_row);
    std::vector<Candidates<T>> best;
    best.reserve(rows);
    for (std::int64_t r = 0; r < rows; ++r) {
        best.emplace_back(scratch.entries.data() + 2 * r * candidates, candidates);
    }

    for (std::int64_t first_ref = 0; first_ref < n; first_ref += kReferenceBlock) {
        if (guard.checkpoint()) return;
        const std::int64_t refs = std::min(kReferenceBlock, n - first_ref);
        gemm_abt(x + first_row * d, x + first_ref * d, scratch.products.data(), rows, refs, d,
                 kReferenceBlock);
        for (std::int64_t r = 0; r < rows; ++r) {
            offer_block_row(scratch.products.data() + r * kReferenceBlock,
                            terms.offset.data() + first_ref, terms.scale.data() + first_ref,
                            refs, first_ref, first_row + r, best[r]);
        }
    }

    for (std::int64_t r = 0; r < rows; ++r) {
        const std::int64_t i = first_row + r;
        const auto [entries, count] = best[r].best();
        scratch.ranked.clear();
        for (std::int64_t c = 0; c < count; ++c) {  // fewer than k: keys were not finite
            const std::int64_t j = entries[c].id;
            scratch.ranked.emplace_back(
                exact_distance(x + i * d, x + j * d, d, metric, terms.norms[i], terms.norms[j]),
                j);
        }
        if (static_cast<std::int64_t>(scratch.ranked.size()) < k) {
            throw std::invalid_argument("distances of row " + std::to_string(i) +
                                        " are not finite (values too large?)");
        }
        write_nearest(scratch.ranked, k, indices + i * k, distances + i * k);
    }
}

void check_sizes(std::int64_t n, std::int64_t d, std::int64_t k) {
    if (n < 2) throw std::invalid_argument("need at least 2 rows, got " + std::to_string(n));
    if (d < 1) throw std::invalid_argument("need at least 1 column, got " + std::to_string(d));
    if (k < 1 || k >= n) {
        throw std::invalid_argument("k must be in [1, n - 1] = [1, " + std::to_string(n - 1) +
                                    "], got " + std::to_string(k));
    }
}

// Rows re-ranked between two interrupt checks.
constexpr std::int64_t kRerankBlock = 256;

// Throws std::invalid_argument, with the message `describe(t)`, for the first
// t < count with values[t] outside [0, limit).
template <class Describe>
void check_in_range(const std::int64_t* values, std::int64_t count, std::int64_t limit,
                    Describe describe) {
    for (std::int64_t t = 0; t < count; ++t) {
        if (values[t] < 0 || values[t] >= limit) throw std::invalid_argument(describe(t));
    }
}

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
template <class T>
void prefetch_row(const T* row, std::int64_t d) {
    constexpr std::int64_t kLine = 64 / sizeof(T);
    for (std::int64_t c = 0; c < d; c += kLine) __builtin_prefetch(row + c);
}

template <class T>
void rerank_row(const T* x, std::int64_t d, const std::int64_t* candidates, std::int64_t c,
                std::int64_t k, Metric metric, const std::vector<double>& norms, std::int64_t i,
                std::vector<std::pair<double, std::int64_t>>& ranked, std::int64_t* indices,
                double* distances) {
    ranked.clear();
    for (std::int64_t col = 0; col < c; ++col) {
        const std::int64_t j = candidates[i * c + col];
        if (col + 2 < c) prefetch_row(x + candidates[i * c + col + 2] * d, d);
        if (j == i) continue;
        ranked.emplace_back(exact_distance(x + i * d, x + j * d, d, metric, norms[i], norms[j]),
                            j);
    }
    std::sort(ranked.begin(), ranked.end());
    ranked.erase(std::unique(ranked.begin(), ranked.end()), ranked.end());
    if (static_cast<std::int64_t>(ranked.size()) < k) {
        throw std::invalid_argument("row " + std::to_string(i) + " has fewer than k = " +
                                    std::to_string(k) + " distinct candidates");
    }
    write_nearest(ranked, k, indices + i * k, distances + i * k);
}

// Items 0 .. count - 1 grouped by cluster (a counting sort): cluster j holds
// items[starts[j] .. starts[j + 1]), in increasing order.
struct Groups {
    std::vector<std::int64_t> starts;  // m + 1
    std::vector<std::int64_t> items;
};

template <class ClusterOf>
Groups group_by_cluster(std::int64_t count, std::int64_t m, ClusterOf cluster_of) {
    Groups groups{std::vector<std::int64_t>(m + 1, 0), std::vector<std::int64_t>(count)};
    for (std::int64_t t = 0; t < count; ++t) ++groups.starts[cluster_of(t) + 1];
    for (std::int64_t j = 0; j < m; ++j) groups.starts[j + 1] += groups.starts[j];
    std::vector<std::int64_t> next(groups.starts.begin(), groups.starts.end() - 1);
    for (std::int64_t t = 0; t < count; ++t) groups.items[next[cluster_of(t)]++] = t;
    return groups;
}

// The rows of x grouped by home cluster, as the probed search reads them.
struct InvertedFile {
    Groups rows;                          // the caller's rows, cluster by cluster
    std::vector<std::int64_t> positions;  // the sorted position of each caller's row
    std::vector<float> x;                 // the rows in sorted order (n x d)
};

InvertedFile invert(const float* x, std::int64_t n, std::int64_t d, const std::int64_t* probes,
                    std::int64_t p, std::int64_t m) {
    InvertedFile file{group_by_cluster(n, m, [&](std::int64_t i) { return probes[i * p]; }),
                      std::vector<std::int64_t>(n), std::vector<float>(n * d)};
    for (std::int64_t position = 0; position < n; ++position) {
        const std::int64_t i = file.rows.items[position];
        file.positions[i] = position;
        std::copy_n(x + i * d, d, file.x.data() + position * d);
    }
    return file;
}

// A block of queries searched together: order[first .. first + size), the
// numbers (into the caller's list of queries) of some queries of one home cluster.
struct QueryBlock {
    std::int64_t first;
    std::int64_t size;
};

// The queries grouped by home cluster, cut into blocks of at most kQueryBlock.
std::vector<QueryBlock> query_blocks(const Groups& by_home) {
    std::vector<QueryBlock> blocks;
    for (std::size_t j = 0; j + 1 < by_home.starts.size(); ++j) {
        const std::int64_t end = by_home.starts[j + 1];
        for (std::int64_t first = by_home.starts[j]; first < end; first += kQueryBlock) {
            blocks.push_back({first, std::min(kQueryBlock, end - first)});
        }
    }
    return blocks;
}

// The work of one query block: the clusters its queries probe, and for each
// the block's queries that probe it, as offsets into the block:
// members[starts[u] .. starts[u + 1]) probe clusters[u].
struct ProbeLists {
    std::vector<std::int64_t> clusters;
    std::vector<std::int64_t> starts;
    std::vector<std::int64_t> members;
    std::vector<std::int64_t> counts;       // per cluster of the file; all zero between blocks
    std::vector<std::int64_t> rank_totals;  // per cluster; all zero between blocks
    std::vector<std::int64_t> last_query;   // per cluster: the last query that listed it
    std::vector<std::int64_t> distinct;     // the block's probes, repeats within a row as -1
};

// `rows` and `numbers`: the caller's row and query number of each of the
// block's `size` queries.
void list_probes(const std::int64_t* probes, std::int64_t p, const std::int64_t* rows,
                 const std::int64_t* numbers, std::int64_t size, ProbeLists& lists) {
    lists.clusters.clear();
    lists.distinct.resize(size * p);
    for (std::int64_t r = 0; r < size; ++r) {
        for (std::int64_t col = 0; col < p; ++col) {
            const std::int64_t j = probes[rows[r] * p + col];
            const bool repeat = lists.last_query[j] == numbers[r];
            lists.distinct[r * p + col] = repeat ? -1 : j;
            if (repeat) continue;
            lists.last_query[j] = numbers[r];
            if (lists.counts[j]++ == 0) lists.clusters.push_back(j);
            lists.rank_totals[j] += col - p;
        }
    }
    // Clusters nearest to the block's rows first (by the sum of their ranks in
    // the rows' probes, p for a row that does not probe one): their rows lower
    // the candidates' thresholds soonest, so that fewer later keys are offered.
    std::sort(lists.clusters.begin(), lists.clusters.end(),
              [&](std::int64_t a, std::int64_t b) {
                  return lists.rank_totals[a] < lists.rank_totals[b] ||
                         (lists.rank_totals[a] == lists.rank_totals[b] && a < b);
              });
    lists.starts.assign(1, 0);
    for (const std::int64_t j : lists.clusters) {
        lists.starts.push_back(lists.starts.back() + lists.counts[j]);
        lists.counts[j] = lists.starts[lists.starts.size() - 2];  // next free slot of j
    }
    lists.members.resize(lists.starts.back());
    for (std::int64_t r = 0; r < size; ++r) {
        for (std::int64_t col = 0; col < p; ++col) {
            const std::int64_t j = lists.distinct[r * p + col];
            if (j >= 0) lists.members[lists.counts[j]++] = r;
        }
    }
    for (const std::int64_t j : lists.clusters) lists.counts[j] = lists.rank_totals[j] = 0;
}

// Per-thread scratch space of the probed search.
struct ProbeScratch {
    ProbeLists lists;
    std::vector<std::int64_t> rows;           // the caller's row of each of the block's queries
    std::vector<float> gathered;              // the queries probing one cluster
    std::vector<float> products;              // kQueryBlock x kReferenceBlock
    std::vector<Candidates<float>::Entry> entries;
};

// Searches the `size` queries numbered numbers[0 .. size) in the caller's list.
void search_probed_block(const float* x, const InvertedFile& file, std::int64_t d,
                         const std::int64_t* probes, std::int64_t p, std::int64_t c,
                         const RankingTerms<float>& terms, const std::int64_t* queries,
                         const std::int64_t* numbers, std::int64_t size,
                         ProbeScratch& scratch, ParallelGuard& guard, std::int64_t* candidates) {
    scratch.rows.resize(size);
    std::vector<Candidates<float>> best;
    best.reserve(size);
    for (std::int64_t r = 0; r < size; ++r) {
        scratch.rows[r] = queries[numbers[r]];
        best.emplace_back(scratch.entries.data() + 2 * r * c, c);
    }
    ProbeLists& lists = scratch.lists;
    list_probes(probes, p, scratch.rows.data(), numbers, size, lists);
    for (std::size_t u = 0; u < lists.clusters.size(); ++u) {
        if (guard.checkpoint()) return;
        const std::int64_t* members = lists.members.data() + lists.starts[u];
        const std::int64_t count = lists.starts[u + 1] - lists.starts[u];
        for (std::int64_t q = 0; q < count; ++q) {
            std::copy_n(x + scratch.rows[members[q]] * d, d, scratch.gathered.data() + q * d);
        }
        const std::int64_t cluster_start = file.rows.starts[lists.clusters[u]];
        const std::int64_t cluster_end = file.rows.starts[lists.clusters[u] + 1];
        for (std::int64_t first_ref = cluster_start; first_ref < cluster_end;
             first_ref += kReferenceBlock) {
            const std::int64_t refs = std::min(kReferenceBlock, cluster_end - first_ref);
            gemm_abt(scratch.gathered.data(), file.x.data() + first_ref * d,
                     scratch.products.data(), count, refs, d, kReferenceBlock);
            for (std::int64_t q = 0; q < count; ++q) {
                offer_block_row(scratch.products.data() + q * kReferenceBlock,
                                terms.offset.data() + first_ref, terms.scale.data() + first_ref,
                                refs, first_ref, file.positions[scratch.rows[members[q]]],
                                best[members[q]]);
            }
        }
    }
    for (std::int64_t r = 0; r < size; ++r) {
        const auto [entries, count] = best[r].best();
        std::int64_t* out = candidates + numbers[r] * c;
        for (std::int64_t col = 0; col < c; ++col) {
            out[col] = col < count ? file.rows.items[entries[col].id] : -1;
        }
    }
}

void check_probes(const std::int64_t* probes, std::int64_t n, std::int64_t p, std::int64_t m) {
    if (m < 1 || p < 1) throw std::invalid_argument("need at least one cluster and one probe");
    check_in_range(probes, n * p, m, [&](std::int64_t t) {
        return "probe " + std::to_string(probes[t]) + " of row " + std::to_string(t / p) +
               " is not a cluster number";
    });
}

void check_queries(const std::int64_t* queries, std::int64_t n_queries, std::int64_t n) {
    check_in_range(queries, n_queries, n, [&](std::int64_t t) {
        return "query " + std::to_string(queries[t]) + " is not a row number";
    });
}

}  // namespace

void probed_knn(const float* x, std::int64_t n, std::int64_t d, const std::int64_t* probes,
                std::int64_t p, std::int64_t m, const std::int64_t* queries,
                std::int64_t n_queries, std::int64_t c, std::int64_t* candidates,
                const RunOptions& options) {
    check_sizes(n, d, c);
    check_probes(probes, n, p, m);
    check_queries(queries, n_queries, n);
    if (d > std::numeric_limits<int>::max()) {
        throw std::invalid_argument("data too large for 32-bit BLAS dimensions");
    }
    const int n_threads = std::max(1, options.n_threads);
    const InvertedFile file = invert(x, n, d, probes, p, m);
    const RankingTerms<float> terms = ranking_terms(file.x.data(), n, d, Metric::euclidean,
                                                    n_threads);
    const Groups by_home = group_by_cluster(
        n_queries, m, [&](std::int64_t t) { return probes[queries[t] * p]; });
    const std::vector<QueryBlock> blocks = query_blocks(by_home);
    const std::int64_t n_blocks = static_cast<std::int64_t>(blocks.size());
    SingleThreadedBlas single_threaded_blas;
    ParallelGuard guard(options);

#pragma omp parallel num_threads(n_threads)
    {
        ProbeScratch scratch;
        guard.run([&] {
            scratch.lists.counts.assign(m, 0);
            scratch.lists.rank_totals.assign(m, 0);
            scratch.lists.last_query.assign(m, -1);
            scratch.gathered.resize(kQueryBlock * d);
            scratch.products.resize(kQueryBlock * kReferenceBlock);
            scratch.entries.resize(2 * kQueryBlock * c);
        });
#pragma omp for schedule(dynamic, 1)
        for (std::int64_t b = 0; b < n_blocks; ++b) {
            guard.run([&] {
                search_probed_block(x, file, d, probes, p, c, terms, queries,
                                    by_home.items.data() + blocks[b].first, blocks[b].size,
                                    scratch, guard, candidates);
            });
        }
    }
    guard.rethrow();
}

template <class T>
void rerank_knn(const T* x, std::int64_t n, std::int64_t d, const std::int64_t* candidates,
                std::int64_t c, std::int64_t k, Metric metric, std::int64_t* indices,
                double* distances, const RunOptions& options) {
    check_sizes(n, d, k);
    check_candidates(candidates, n, c);
    const int n_threads = std::max(1, options.n_threads);
    const std::vector<double> norms = ranking_terms(x, n, d, metric, n_threads).norms;
    const std::vector<std::int64_t> order = breadth_first_order(candidates, n, c);
    const std::int64_t blocks = (n + kRerankBlock - 1) / kRerankBlock;
    ParallelGuard guard(options);

#pragma omp parallel num_threads(n_threads)
    {
        std::vector<std::pair<double, std::int64_t>> ranked;
        guard.run([&] { ranked.reserve(c); });
#pragma omp for schedule(dynamic, 1)
        for (std::int64_t b = 0; b < blocks; ++b) {
            guard.run([&] {
                const std::int64_t end = std::min(n, (b + 1) * kRerankBlock);
                for (std::int64_t position = b * kRerankBlock; position < end; ++position) {
                    rerank_row(x, d, candidates, c, k, metric, norms, order[position], ranked,
                               indices, distances);
                }
            });
        }
    }
    guard.rethrow();
}

template <class T>
void exact_knn(const T* x, std::int64_t n, std::int64_t d, std::int64_t k, Metric metric,
               std::int64_t* indices, double* distances, const RunOptions& options) {
    check_sizes(n, d, k);
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
            scratch.entries.resize(2 * kQueryBlock * candidates);
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
template void rerank_knn<float>(const float*, std::int64_t, std::int64_t, const std::int64_t*,
                                std::int64_t, std::int64_t, Metric, std::int64_t*, double*,
                                const RunOptions&);
template void rerank_knn<double>(const double*, std::int64_t, std::int64_t, const std::int64_t*,
                                 std::int64_t, std::int64_t, Metric, std::int64_t*, double*,
                                 const RunOptions&);

}  // namespace tsne
