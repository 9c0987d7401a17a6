// The probed search (probed_knn): candidate neighbours from an inverted file.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "knn.hpp"
#include "knn_common.hpp"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#include <immintrin.h>
// The bfloat16 kernel: AVX512-BF16 intrinsics, compiled for that target alone
// and called only where the CPU has it.
#define TSNE_BFLOAT16_KERNEL 1
#endif

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

// Rows per panel of the inverted file, and queries per tile of the search:
// a tile's 4 x 16 dot products stay in eight 8-float vector registers
// while the panel's rows stream past (per-cluster GEMM calls re-packed each
// small cluster on every call; bench/RESULTS.md has the times).  The
// bfloat16 kernel's 8 x 16 fill eight 16-float registers.
constexpr std::int64_t kPanelRows = 16;
constexpr std::int64_t kTileQueries = 4;
constexpr std::int64_t kBfloat16TileQueries = 8;
// Queries a block gathers from neighbouring homes before it is searched.
constexpr std::int64_t kBlockFill = 192;
// A panel's keys are appended to PackedCandidates by whole-register stores.
static_assert(PackedCandidates::kSlack >= kPanelRows);

// bfloat16 values: a float's upper 16 bits, rounded to nearest (even on a tie).
std::uint32_t bfloat16_bits(float value) {
    std::uint32_t bits;
    std::memcpy(&bits, &value, sizeof bits);
    return (bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16;
}

float bfloat16_value(std::uint32_t bfloat16) {
    const std::uint32_t bits = bfloat16 << 16;
    float value;
    std::memcpy(&value, &bits, sizeof value);
    return value;
}

// Words of bfloat16 pairs in a row of d values (the last padded with a zero).
std::int64_t pair_count(std::int64_t d) { return (d + 1) / 2; }

// Values col and col + 1 of a row, rounded, as the bfloat16 kernel multiplies them.
std::uint32_t bfloat16_pair(const float* row, std::int64_t col, std::int64_t d) {
    return bfloat16_bits(row[col]) | (col + 1 < d ? bfloat16_bits(row[col + 1]) << 16 : 0u);
}

// The rows of x grouped by home cluster, as the probed search reads them:
// each cluster's rows fill whole panels of kPanelRows slots, padded with
// slots whose key is +inf, and a panel holds its rows dimension by dimension
// (d x kPanelRows, or pair_count(d) x kPanelRows words of two bfloat16
// values), the layout the tile kernels load.
struct InvertedFile {
    std::vector<std::int64_t> cluster_starts;  // m + 1: each cluster's first slot
    std::vector<std::int64_t> slot_rows;       // the caller's row in each slot, -1 for padding
    std::vector<std::int64_t> row_slots;       // the slot of each of the caller's rows
    bool bfloat16;                             // which of the two layouts holds the rows
    std::vector<float> panels;                 // float32: slots x d
    std::vector<std::uint32_t> pairs;          // bfloat16: slots x pair_count(d)
    std::vector<float> squared_norms;          // per slot: ||row||^2 as multiplied; +inf: padding
};

// `homes[i]` is row i's home cluster; `bfloat16` chooses the layout.
InvertedFile invert(const float* x, std::int64_t n, std::int64_t d, const std::int64_t* homes,
                    std::int64_t m, bool bfloat16) {
    const Groups rows = group_by_cluster(n, m, [&](std::int64_t i) { return homes[i]; });
    InvertedFile file;
    file.cluster_starts.assign(m + 1, 0);
    for (std::int64_t j = 0; j < m; ++j) {
        const std::int64_t size = rows.starts[j + 1] - rows.starts[j];
        file.cluster_starts[j + 1] =
            file.cluster_starts[j] + (size + kPanelRows - 1) / kPanelRows * kPanelRows;
    }
    const std::int64_t slots = file.cluster_starts[m];
    if (slots > std::int64_t{std::numeric_limits<std::uint32_t>::max()}) {
        // PackedCandidates keeps a slot in 32 bits.
        throw std::invalid_argument("too many rows for the inverted file");
    }
    file.slot_rows.assign(slots, -1);
    file.row_slots.resize(n);
    file.bfloat16 = bfloat16;
    const std::int64_t words = pair_count(d);
    if (bfloat16) {
        file.pairs.assign(slots * words, 0u);
    } else {
        file.panels.assign(slots * d, 0.0f);
    }
    file.squared_norms.assign(slots, std::numeric_limits<float>::infinity());
    for (std::int64_t j = 0; j < m; ++j) {
        for (std::int64_t t = rows.starts[j]; t < rows.starts[j + 1]; ++t) {
            const std::int64_t i = rows.items[t];
            const std::int64_t slot = file.cluster_starts[j] + (t - rows.starts[j]);
            const std::int64_t lane = slot % kPanelRows;
            file.slot_rows[slot] = i;
            file.row_slots[i] = slot;
            const float* row = x + i * d;
            double squared = 0.0;
            if (bfloat16) {
                std::uint32_t* panel = file.pairs.data() + (slot - lane) * words;
                for (std::int64_t col = 0; col < d; col += 2) {
                    const std::uint32_t pair = bfloat16_pair(row, col, d);
                    panel[col / 2 * kPanelRows + lane] = pair;
                    const double low = bfloat16_value(pair & 0xffffu);
                    const double high = bfloat16_value(pair >> 16);
                    squared += low * low + high * high;
                }
            } else {
                float* panel = file.panels.data() + (slot - lane) * d;
                for (std::int64_t col = 0; col < d; ++col) {
                    panel[col * kPanelRows + lane] = row[col];
                    squared += double(row[col]) * double(row[col]);
                }
            }
            file.squared_norms[slot] = static_cast<float>(squared);
        }
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
// of the next homes too (in the order of `by_home`'s groups, which puts
// neighbouring homes next to each other): their probes overlap, so that each
// probed cluster, brought from memory once per block, serves more queries.
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

// Each home cluster's place in a walk through them that goes from each home
// to the nearest one not yet visited among those probed by one of its
// queries (its probes are nearest first), or else to the lowest-numbered
// one left: homes near each other get near places.
std::vector<std::int64_t> walk_ranks(const ProbedQueries& queries, std::int64_t m) {
    std::vector<std::int64_t> guide(m, -1);  // one query of each home, if it has any
    for (std::int64_t t = 0; t < queries.count; ++t) guide[queries.probes[t * queries.p]] = t;
    std::vector<std::int64_t> ranks(m, -1);
    std::int64_t lowest_left = 0, current = -1;
    for (std::int64_t rank = 0; rank < m; ++rank) {
        std::int64_t next = -1;
        if (current >= 0 && guide[current] >= 0) {
            const std::int64_t* probes = queries.probes + guide[current] * queries.p;
            for (std::int64_t col = 1; col < queries.p && next < 0; ++col) {
                if (ranks[probes[col]] < 0) next = probes[col];
            }
        }
        if (next < 0) {
            while (ranks[lowest_left] >= 0) ++lowest_left;
            next = lowest_left;
        }
        ranks[next] = rank;
        current = next;
    }
    return ranks;
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
    std::vector<std::uint32_t> block_pairs;   // their values as bfloat16 pairs
    std::vector<float> gathered;              // the queries probing one cluster, whole tiles
    std::vector<std::uint32_t> gathered_pairs;  // the same as bfloat16 pairs
    std::vector<PackedCandidates*> best;      // their candidates
    std::vector<std::int64_t> selves;         // their own slots (-1: not rows of the file)
    std::vector<std::uint64_t> words;         // per block query: its candidates' storage
    std::vector<std::int64_t> found;          // one query's best slots
};

// Offers the 16 rows of the panel at `slot`, with their keys, to one query's
// candidates (but the query itself, slot `self`).
inline void offer_panel(const float* keys, std::int64_t slot, std::int64_t self,
                        PackedCandidates& candidates) {
    for (std::int64_t lane = 0; lane < kPanelRows; ++lane) {
        const std::int64_t id = slot + lane;
        if (keys[lane] < candidates.threshold() && id != self) candidates.offer(keys[lane], id);
    }
}

// Offers the rows of one cluster (slots [first, end), whole panels) to
// `count` queries: gathered rows (kTileQueries-padded, d columns), their
// candidates and their own slots.  The key of a slot is ||y||^2 - 2 x.y
// (||x||^2 is the same per query); a tile's keys are compared with each
// query's threshold in vector registers, and only those below it are offered.
TSNE_VECTOR_CLONES void offer_cluster(const InvertedFile& file, std::int64_t first,
                                      std::int64_t end, std::int64_t d, const float* gathered,
                                      std::int64_t count, PackedCandidates* const* best,
                                      const std::int64_t* selves) {
    constexpr std::int64_t kHalves = kPanelRows / 8;
    // Panel by panel, all the queries' tiles: the panel stays in L1 (the
    // whole cluster did not, tile after tile, and its loads stalled).
    for (std::int64_t slot = first; slot < end; slot += kPanelRows) {
        const float* panel = file.panels.data() + slot * d;
        Floats8 norms[kHalves];
        for (std::int64_t h = 0; h < kHalves; ++h) {
            norms[h] = *reinterpret_cast<const Floats8*>(file.squared_norms.data() + slot + 8 * h);
        }
        for (std::int64_t tile = 0; tile < count; tile += kTileQueries) {
            const float* queries = gathered + tile * d;
            Floats8 dots[kTileQueries][kHalves];
            for (std::int64_t q = 0; q < kTileQueries; ++q) {
                for (std::int64_t h = 0; h < kHalves; ++h) dots[q][h] = Floats8{};
            }
            for (std::int64_t col = 0; col < d; ++col) {
                Floats8 rows[kHalves];
                for (std::int64_t h = 0; h < kHalves; ++h) {
                    rows[h] = *reinterpret_cast<const Floats8*>(panel + col * kPanelRows + 8 * h);
                }
                for (std::int64_t q = 0; q < kTileQueries; ++q) {
                    const float value = queries[q * d + col];
                    for (std::int64_t h = 0; h < kHalves; ++h) dots[q][h] += value * rows[h];
                }
            }
            // A constant trip count (not the queries left) keeps `dots` in registers.
            for (std::int64_t q = 0; q < kTileQueries; ++q) {
                if (tile + q == count) break;
                PackedCandidates& candidates = *best[tile + q];
                const float threshold = candidates.threshold();
                Floats8 keys[kHalves];
                Ints8 below = {};
                for (std::int64_t h = 0; h < kHalves; ++h) {
                    keys[h] = norms[h] - 2.0f * dots[q][h];
                    below |= keys[h] < threshold;
                }
                if (!any_lane(below)) continue;
                float lanes[kPanelRows];
                for (std::int64_t lane = 0; lane < kPanelRows; ++lane) {
                    lanes[lane] = keys[lane / 8][lane % 8];
                }
                offer_panel(lanes, slot, selves[tile + q], candidates);
            }
        }
    }
}

#ifdef TSNE_BFLOAT16_KERNEL
// Appends the keys of the 16 rows of the panel at `slot` that are below the
// threshold (but the query itself, slot `self`) to one query's candidates,
// packed and compressed in vector registers: no branch per row.
__attribute__((target("avx512f,avx512bf16"), always_inline)) inline void append_panel(
    __m512 keys, std::int64_t slot, std::int64_t self, PackedCandidates& candidates) {
    const __m512i lanes = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    const __m512i slots = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int>(slot)), lanes);
    __mmask16 below = _mm512_cmp_ps_mask(keys, _mm512_set1_ps(candidates.threshold()),
                                         _CMP_LT_OQ);
    below &= _mm512_cmpneq_epi32_mask(slots, _mm512_set1_epi32(static_cast<int>(self)));
    if (below == 0) return;
    // PackedCandidates::ordered_bits, sixteen at a time.
    const __m512i bits = _mm512_castps_si512(keys);
    const __m512i ordered = _mm512_xor_si512(
        bits, _mm512_or_si512(_mm512_srai_epi32(bits, 31), _mm512_set1_epi32(INT32_MIN)));
    for (int half = 0; half < 2; ++half) {
        const __mmask8 mask = static_cast<__mmask8>(below >> (8 * half));
        const __m256i key_half = half ? _mm512_extracti64x4_epi64(ordered, 1)
                                      : _mm512_castsi512_si256(ordered);
        const __m256i slot_half = half ? _mm512_extracti64x4_epi64(slots, 1)
                                       : _mm512_castsi512_si256(slots);
        const __m512i words = _mm512_or_si512(
            _mm512_slli_epi64(_mm512_cvtepu32_epi64(key_half), 32),
            _mm512_cvtepu32_epi64(slot_half));
        // Compressed in a register, then stored whole (into PackedCandidates'
        // slack): a compress straight to memory is microcoded, and slow, on AMD Zen 4.
        _mm512_storeu_si512(candidates.end(), _mm512_maskz_compress_epi64(mask, words));
        candidates.appended(__builtin_popcount(mask));
    }
}

// offer_cluster for a file of bfloat16 pairs, the queries gathered as pairs
// too (kBfloat16TileQueries-padded, pair_count(d) words each): each
// instruction multiplies 16 rows by a query's pair of values, twice the
// products of a float32 multiply-add.
__attribute__((target("avx512f,avx512bf16"))) void offer_cluster_bfloat16(
    const InvertedFile& file, std::int64_t first, std::int64_t end, std::int64_t d,
    const std::uint32_t* gathered, std::int64_t count, PackedCandidates* const* best,
    const std::int64_t* selves) {
    const std::int64_t words = pair_count(d);
    for (std::int64_t slot = first; slot < end; slot += kPanelRows) {
        const std::uint32_t* panel = file.pairs.data() + slot * words;
        const __m512 norms = _mm512_loadu_ps(file.squared_norms.data() + slot);
        for (std::int64_t tile = 0; tile < count; tile += kBfloat16TileQueries) {
            const std::uint32_t* queries = gathered + tile * words;
            __m512 dots[kBfloat16TileQueries];
            for (std::int64_t q = 0; q < kBfloat16TileQueries; ++q) dots[q] = _mm512_setzero_ps();
            for (std::int64_t word = 0; word < words; ++word) {
                const __m512bh rows = (__m512bh)_mm512_loadu_si512(panel + word * kPanelRows);
                for (std::int64_t q = 0; q < kBfloat16TileQueries; ++q) {
                    const __m512bh pair = (__m512bh)_mm512_set1_epi32(
                        static_cast<int>(queries[q * words + word]));
                    dots[q] = _mm512_dpbf16_ps(dots[q], pair, rows);
                }
            }
            for (std::int64_t q = 0; q < kBfloat16TileQueries; ++q) {
                if (tile + q == count) break;
                const __m512 keys = _mm512_fnmadd_ps(_mm512_set1_ps(2.0f), dots[q], norms);
                append_panel(keys, slot, selves[tile + q], *best[tile + q]);
            }
        }
    }
}
#endif

// The values of the block's queries (rows of `points`, d columns) as the
// file's kernel reads them: for bfloat16, rounded to pairs once per block
// (scratch.block_pairs), not once per cluster probed.
void prepare_block_queries(const InvertedFile& file, const float* points, std::int64_t d,
                           ProbeScratch& scratch) {
    if (!file.bfloat16) return;
    const std::int64_t words = pair_count(d);
    scratch.block_pairs.resize(scratch.rows.size() * words);
    for (std::size_t r = 0; r < scratch.rows.size(); ++r) {
        const float* row = points + scratch.rows[r] * d;
        for (std::int64_t col = 0; col < d; col += 2) {
            scratch.block_pairs[r * words + col / 2] = bfloat16_pair(row, col, d);
        }
    }
}

// Gathers the values of the `count` block queries `members` probing one
// cluster in the layout the file's kernel reads, padded with zeros to whole
// tiles.
void gather_queries(const InvertedFile& file, const float* points, std::int64_t d,
                    const std::int64_t* members, std::int64_t count, ProbeScratch& scratch) {
    if (file.bfloat16) {
        const std::int64_t words = pair_count(d);
        const std::int64_t padded = block_count(count, kBfloat16TileQueries) *
                                    kBfloat16TileQueries;
        scratch.gathered_pairs.resize(padded * words);
        std::fill(scratch.gathered_pairs.begin() + count * words, scratch.gathered_pairs.end(),
                  0u);
        for (std::int64_t q = 0; q < count; ++q) {
            std::copy_n(scratch.block_pairs.data() + members[q] * words, words,
                        scratch.gathered_pairs.data() + q * words);
        }
        return;
    }
    const std::int64_t padded = block_count(count, kTileQueries) * kTileQueries;
    scratch.gathered.resize(padded * d);
    std::fill(scratch.gathered.begin() + count * d, scratch.gathered.end(), 0.0f);
    for (std::int64_t q = 0; q < count; ++q) {
        std::copy_n(points + scratch.rows[members[q]] * d, d, scratch.gathered.data() + q * d);
    }
}

// Searches the `size` queries numbered numbers[0 .. size) in the caller's list.
void search_probed_block(const InvertedFile& file, std::int64_t d, std::int64_t c,
                         const ProbedQueries& queries, const std::int64_t* numbers,
                         std::int64_t size, ProbeScratch& scratch, ParallelGuard& guard,
                         std::int64_t* candidates) {
    scratch.rows.resize(size);
    std::vector<PackedCandidates> best;
    best.reserve(size);
    for (std::int64_t r = 0; r < size; ++r) {
        scratch.rows[r] = queries.rows[numbers[r]];
        best.emplace_back(scratch.words.data() + r * (2 * c + PackedCandidates::kSlack), c);
    }
    prepare_block_queries(file, queries.points, d, scratch);
    ProbeLists& lists = scratch.lists;
    list_probes(queries.probes, queries.p, numbers, size, lists);
    for (std::size_t u = 0; u < lists.clusters.size(); ++u) {
        if (guard.checkpoint()) return;
        const std::int64_t* members = lists.members.data() + lists.starts[u];
        const std::int64_t count = lists.starts[u + 1] - lists.starts[u];
        scratch.best.resize(count);
        scratch.selves.resize(count);
        for (std::int64_t q = 0; q < count; ++q) {
            const std::int64_t row = scratch.rows[members[q]];
            scratch.best[q] = &best[members[q]];
            scratch.selves[q] = queries.in_file ? file.row_slots[row] : -1;
        }
        gather_queries(file, queries.points, d, members, count, scratch);
        const std::int64_t first = file.cluster_starts[lists.clusters[u]];
        const std::int64_t end = file.cluster_starts[lists.clusters[u] + 1];
#ifdef TSNE_BFLOAT16_KERNEL
        if (file.bfloat16) {
            offer_cluster_bfloat16(file, first, end, d, scratch.gathered_pairs.data(), count,
                                   scratch.best.data(), scratch.selves.data());
            continue;
        }
#endif
        offer_cluster(file, first, end, d, scratch.gathered.data(), count, scratch.best.data(),
                      scratch.selves.data());
    }
    for (std::int64_t r = 0; r < size; ++r) {
        const std::int64_t count = best[r].best(scratch.found.data());
        std::int64_t* out = candidates + numbers[r] * c;
        for (std::int64_t col = 0; col < c; ++col) {
            out[col] = col < count ? file.slot_rows[scratch.found[col]] : -1;
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
void search_probed(const InvertedFile& file, std::int64_t d, std::int64_t m,
                   const ProbedQueries& queries, std::int64_t c, std::int64_t* candidates,
                   const RunOptions& options) {
    const std::vector<std::int64_t> ranks = walk_ranks(queries, m);
    const Groups by_home = group_by_cluster(queries.count, m, [&](std::int64_t t) {
        return ranks[queries.probes[t * queries.p]];
    });
    const std::vector<QueryBlock> blocks = query_blocks(by_home, kBlockFill);
    for_each_block<ProbeScratch>(
        static_cast<std::int64_t>(blocks.size()), options,
        [&](ProbeScratch& scratch) {
            scratch.lists.counts.assign(m, 0);
            scratch.lists.rank_totals.assign(m, 0);
            scratch.lists.last_query.assign(m, -1);
            scratch.words.resize(kQueryBlock * (2 * c + PackedCandidates::kSlack));
            scratch.found.resize(c);
        },
        [&](std::int64_t b, ProbeScratch& scratch, ParallelGuard& guard) {
            search_probed_block(file, d, c, queries,
                                by_home.items.data() + blocks[b].first, blocks[b].size, scratch,
                                guard, candidates);
        });
}

}  // namespace

void probed_knn(const float* x, std::int64_t n, std::int64_t d, const std::int64_t* homes,
                std::int64_t m, const std::int64_t* queries, std::int64_t n_queries,
                const std::int64_t* probes, std::int64_t p, std::int64_t c,
                std::int64_t* candidates, bool bfloat16, const RunOptions& options) {
    check_sizes(n, d, c);
    check_homes(homes, n, m);
    check_queries(queries, n_queries, n);
    check_probes(probes, n_queries, p, m);
    search_probed(invert(x, n, d, homes, m, bfloat16 && native_bfloat16()), d, m,
                  {x, queries, n_queries, probes, p, true}, c, candidates, options);
}

void probed_query_knn(const float* x, std::int64_t n, std::int64_t d, const std::int64_t* homes,
                      std::int64_t m, const float* queries, std::int64_t n_queries,
                      const std::int64_t* probes, std::int64_t p, std::int64_t c,
                      std::int64_t* candidates, bool bfloat16, const RunOptions& options) {
    if (n < 1 || d < 1 || c < 1 || c > n || n_queries < 0) {
        throw std::invalid_argument("need 1 <= c <= n rows, at least one column and queries");
    }
    check_homes(homes, n, m);
    check_probes(probes, n_queries, p, m);
    std::vector<std::int64_t> rows(static_cast<std::size_t>(n_queries));
    std::iota(rows.begin(), rows.end(), std::int64_t{0});
    search_probed(invert(x, n, d, homes, m, bfloat16 && native_bfloat16()), d, m,
                  {queries, rows.data(), n_queries, probes, p, false}, c, candidates, options);
}

bool native_bfloat16() {
#ifdef TSNE_BFLOAT16_KERNEL
    static const bool available =
        __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bf16");
    return available;
#else
    return false;
#endif
}

}  // namespace tsne
