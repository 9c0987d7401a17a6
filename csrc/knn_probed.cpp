// The probed search (probed_knn): candidate neighbours from an inverted file.
#include <algorithm>
#include <cstdint>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "blas.hpp"
#include "knn.hpp"
#include "knn_common.hpp"

namespace tsne {

using namespace knn_detail;

namespace {

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

// `homes[i]` is row i's home cluster.
InvertedFile invert(const float* x, std::int64_t n, std::int64_t d, const std::int64_t* homes,
                    std::int64_t m) {
    InvertedFile file{group_by_cluster(n, m, [&](std::int64_t i) { return homes[i]; }),
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

// The queries of a probed search: query t is row rows[t] of `points` (d
// columns) and probes the clusters probes[t * p .. + p), its home first.
// When `in_file`, the points are the file's own rows and a query never finds
// itself.
struct ProbedQueries {
    const float* points;
    const std::int64_t* rows;
    std::int64_t count;
    const std::int64_t* probes;
    std::int64_t p;
    bool in_file;
};

// The queries grouped by home cluster, cut into blocks of at most kQueryBlock.
// A block holds one home's queries, or, while it has fewer than `fill`, those
// of the next homes too: queries that are not rows of the file are few per
// home, and one GEMM per probed cluster then serves several homes' queries.
std::vector<QueryBlock> query_blocks(const Groups& by_home, std::int64_t fill) {
    std::vector<QueryBlock> blocks;
    std::int64_t first = 0;
    for (std::size_t j = 0; j + 1 < by_home.starts.size(); ++j) {
        const std::int64_t end = by_home.starts[j + 1];
        while (end - first > kQueryBlock) {
            blocks.push_back({first, kQueryBlock});
            first += kQueryBlock;
        }
        if (end - first >= fill) {
            if (end > first) blocks.push_back({first, end - first});
            first = end;
        }
    }
    if (by_home.items.size() > static_cast<std::size_t>(first)) {
        blocks.push_back({first, static_cast<std::int64_t>(by_home.items.size()) - first});
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

// `numbers`: the query number of each of the block's `size` queries.
void list_probes(const std::int64_t* probes, std::int64_t p, const std::int64_t* numbers,
                 std::int64_t size, ProbeLists& lists) {
    lists.clusters.clear();
    lists.distinct.resize(size * p);
    for (std::int64_t r = 0; r < size; ++r) {
        for (std::int64_t col = 0; col < p; ++col) {
            const std::int64_t j = probes[numbers[r] * p + col];
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
void search_probed_block(const InvertedFile& file, std::int64_t d, std::int64_t c,
                         const RankingTerms<float>& terms, const ProbedQueries& queries,
                         const std::int64_t* numbers, std::int64_t size,
                         ProbeScratch& scratch, ParallelGuard& guard, std::int64_t* candidates) {
    scratch.rows.resize(size);
    std::vector<Candidates<float>> best;
    best.reserve(size);
    for (std::int64_t r = 0; r < size; ++r) {
        scratch.rows[r] = queries.rows[numbers[r]];
        best.emplace_back(scratch.entries.data() + 2 * r * c, c);
    }
    ProbeLists& lists = scratch.lists;
    list_probes(queries.probes, queries.p, numbers, size, lists);
    for (std::size_t u = 0; u < lists.clusters.size(); ++u) {
        if (guard.checkpoint()) return;
        const std::int64_t* members = lists.members.data() + lists.starts[u];
        const std::int64_t count = lists.starts[u + 1] - lists.starts[u];
        for (std::int64_t q = 0; q < count; ++q) {
            std::copy_n(queries.points + scratch.rows[members[q]] * d, d,
                        scratch.gathered.data() + q * d);
        }
        const std::int64_t cluster_start = file.rows.starts[lists.clusters[u]];
        const std::int64_t cluster_end = file.rows.starts[lists.clusters[u] + 1];
        for (std::int64_t first_ref = cluster_start; first_ref < cluster_end;
             first_ref += kReferenceBlock) {
            const std::int64_t refs = std::min(kReferenceBlock, cluster_end - first_ref);
            gemm_abt(scratch.gathered.data(), file.x.data() + first_ref * d,
                     scratch.products.data(), count, refs, d, kReferenceBlock);
            for (std::int64_t q = 0; q < count; ++q) {
                const std::int64_t self =
                    queries.in_file ? file.positions[scratch.rows[members[q]]] : -1;
                offer_block_row(scratch.products.data() + q * kReferenceBlock,
                                terms.offset.data() + first_ref, terms.scale.data() + first_ref,
                                refs, first_ref, self, best[members[q]]);
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

void check_homes(const std::int64_t* homes, std::int64_t n, std::int64_t m) {
    if (m < 1) throw std::invalid_argument("need at least one cluster");
    check_in_range(homes, n, m, [&](std::int64_t i) {
        return "home " + std::to_string(homes[i]) + " of row " + std::to_string(i) +
               " is not a cluster number";
    });
}

void check_probes(const std::int64_t* probes, std::int64_t n_queries, std::int64_t p,
                  std::int64_t m) {
    if (p < 1) throw std::invalid_argument("need at least one probe");
    check_in_range(probes, n_queries * p, m, [&](std::int64_t t) {
        return "probe " + std::to_string(probes[t]) + " of query " + std::to_string(t / p) +
               " is not a cluster number";
    });
}

void check_queries(const std::int64_t* queries, std::int64_t n_queries, std::int64_t n) {
    check_in_range(queries, n_queries, n, [&](std::int64_t t) {
        return "query " + std::to_string(queries[t]) + " is not a row number";
    });
}

// The c nearest candidates of each query among the file's rows.
void search_probed(const InvertedFile& file, std::int64_t n, std::int64_t d, std::int64_t m,
                   const ProbedQueries& queries, std::int64_t c, std::int64_t* candidates,
                   const RunOptions& options) {
    const int n_threads = std::max(1, options.n_threads);
    const RankingTerms<float> terms = ranking_terms(file.x.data(), n, d, Metric::euclidean,
                                                    n_threads);
    const Groups by_home = group_by_cluster(queries.count, m, [&](std::int64_t t) {
        return queries.probes[t * queries.p];
    });
    const std::vector<QueryBlock> blocks = query_blocks(by_home, queries.in_file ? 1 : kQueryBlock);
    SingleThreadedBlas single_threaded_blas;
    for_each_block<ProbeScratch>(
        static_cast<std::int64_t>(blocks.size()), options,
        [&](ProbeScratch& scratch) {
            scratch.lists.counts.assign(m, 0);
            scratch.lists.rank_totals.assign(m, 0);
            scratch.lists.last_query.assign(m, -1);
            scratch.gathered.resize(kQueryBlock * d);
            scratch.products.resize(kQueryBlock * kReferenceBlock);
            scratch.entries.resize(2 * kQueryBlock * c);
        },
        [&](std::int64_t b, ProbeScratch& scratch, ParallelGuard& guard) {
            search_probed_block(file, d, c, terms, queries,
                                by_home.items.data() + blocks[b].first, blocks[b].size, scratch,
                                guard, candidates);
        });
}

}  // namespace

void probed_knn(const float* x, std::int64_t n, std::int64_t d, const std::int64_t* homes,
                std::int64_t m, const std::int64_t* queries, std::int64_t n_queries,
                const std::int64_t* probes, std::int64_t p, std::int64_t c,
                std::int64_t* candidates, const RunOptions& options) {
    check_sizes(n, d, c);
    check_homes(homes, n, m);
    check_queries(queries, n_queries, n);
    check_probes(probes, n_queries, p, m);
    check_blas_size(d);
    search_probed(invert(x, n, d, homes, m), n, d, m,
                  {x, queries, n_queries, probes, p, true}, c, candidates, options);
}

void probed_query_knn(const float* x, std::int64_t n, std::int64_t d, const std::int64_t* homes,
                      std::int64_t m, const float* queries, std::int64_t n_queries,
                      const std::int64_t* probes, std::int64_t p, std::int64_t c,
                      std::int64_t* candidates, const RunOptions& options) {
    if (n < 1 || d < 1 || c < 1 || c > n || n_queries < 0) {
        throw std::invalid_argument("need 1 <= c <= n rows, at least one column and queries");
    }
    check_homes(homes, n, m);
    check_probes(probes, n_queries, p, m);
    check_blas_size(d);
    std::vector<std::int64_t> rows(static_cast<std::size_t>(n_queries));
    std::iota(rows.begin(), rows.end(), std::int64_t{0});
    search_probed(invert(x, n, d, homes, m), n, d, m,
                  {queries, rows.data(), n_queries, probes, p, false}, c, candidates, options);
}

}  // namespace tsne
