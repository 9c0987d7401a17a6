#include "symmetrize.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>

namespace tsne {
namespace {

constexpr std::int64_t kRowBlock = 1024;
// Reverse entries whose values are prefetched ahead of their use.
constexpr std::int64_t kValuesAhead = 32;

// Where the entries of P(i|j) lie, by row i: the input positions e = j * k + c
// with neighbors[e] == i, in ascending order, so by ascending j (= e / k).
// Positions only, not (column, value) pairs: a third of the memory, whose
// first touch costs more than the reads it saves.
template <class Position>
struct Reverse {
    Buffer<std::int64_t> indptr;  // n + 1
    Buffer<Position> positions;   // n * k
};

// The transpose of the n x k neighbour lists, by a counting sort.  Each thread
// scatters a contiguous range of source rows into slots reserved after those
// of the lower ranges, so the result does not depend on the thread count.
template <class Position>
Reverse<Position> transpose(std::int64_t n, std::int64_t k, const std::int64_t* neighbors,
                            int n_threads) {
    const int parts =
        static_cast<int>(std::max<std::int64_t>(1, std::min<std::int64_t>(n_threads, n)));
    // counts[p][j]: entries of column j among the rows of part p; then reused
    // as part p's write cursor into row j of the transpose.
    std::vector<std::vector<std::int64_t>> counts(parts, std::vector<std::int64_t>(n, 0));
    auto first_entry = [&](int part) { return n * part / parts * k; };

#pragma omp parallel for schedule(static, 1) num_threads(parts)
    for (int part = 0; part < parts; ++part) {
        std::int64_t* count = counts[part].data();
        for (std::int64_t e = first_entry(part); e < first_entry(part + 1); ++e) {
            ++count[neighbors[e]];
        }
    }
    Reverse<Position> reverse{Buffer<std::int64_t>(n + 1), Buffer<Position>(n * k)};
    std::int64_t offset = 0;
    for (std::int64_t j = 0; j < n; ++j) {
        reverse.indptr[j] = offset;
        for (int part = 0; part < parts; ++part) {
            const std::int64_t c = counts[part][j];
            counts[part][j] = offset;
            offset += c;
        }
    }
    reverse.indptr[n] = offset;

#pragma omp parallel for schedule(static, 1) num_threads(parts)
    for (int part = 0; part < parts; ++part) {
        std::int64_t* cursor = counts[part].data();
        for (std::int64_t e = first_entry(part); e < first_entry(part + 1); ++e) {
            reverse.positions[cursor[neighbors[e]]++] = static_cast<Position>(e);
        }
    }
    return reverse;
}

void check_row(const std::int64_t* neighbors, const double* conditional, std::int64_t i,
               std::int64_t n, std::int64_t k) {
    for (std::int64_t c = 0; c < k; ++c) {
        const std::int64_t j = neighbors[c];
        if (j < 0 || j >= n) {
            throw std::invalid_argument("neighbour index " + std::to_string(j) + " in row " +
                                        std::to_string(i) + " is outside [0, " +
                                        std::to_string(n) + ")");
        }
        if (j == i) {
            throw std::invalid_argument("row " + std::to_string(i) +
                                        " lists the point itself as a neighbour");
        }
        const double p = conditional[c];
        if (!(p >= 0.0) || !std::isfinite(p)) {
            throw std::invalid_argument("conditional probabilities must be finite and "
                                        "non-negative; row " + std::to_string(i) + " has " +
                                        std::to_string(p));
        }
    }
}

// Per-thread scratch space: `marks[j] == i` while row i is counted says that
// row i lists j; `sorted` holds a row's neighbours as words column << 32 | c
// (its c-th neighbour), sorted: by column, as integers.
struct RowScratch {
    std::vector<std::int32_t> marks;
    std::vector<std::uint64_t> sorted;
};

// Runs body(i, scratch) for every row, in parallel blocks of rows.
template <class Body>
void for_each_row(std::int64_t n, const RunOptions& options, Body&& body) {
    for_each_block<RowScratch>(
        block_count(n, kRowBlock), options, [](RowScratch&) {},
        [&](std::int64_t b, RowScratch& scratch, ParallelGuard&) {
            const std::int64_t end = std::min(n, (b + 1) * kRowBlock);
            for (std::int64_t i = b * kRowBlock; i < end; ++i) body(i, scratch);
        });
}

// The entries of row i of P's numerator: its k neighbours and the rows that
// list i, counted once where both do (j lists i and i lists j).  Throws for a
// neighbour that row i lists twice.
template <class Position>
std::int64_t row_size(const std::int64_t* neighbors, std::int64_t k,
                      const Reverse<Position>& reverse, std::int64_t i, RowScratch& scratch) {
    if (scratch.marks.empty()) scratch.marks.assign(reverse.indptr.size() - 1, -1);
    for (std::int64_t c = 0; c < k; ++c) {
        std::int32_t& mark = scratch.marks[neighbors[i * k + c]];
        if (mark == i) {
            throw std::invalid_argument("row " + std::to_string(i) + " lists neighbour " +
                                        std::to_string(neighbors[i * k + c]) + " twice");
        }
        mark = static_cast<std::int32_t>(i);
    }
    std::int64_t size = k;
    for (std::int64_t e = reverse.indptr[i]; e < reverse.indptr[i + 1]; ++e) {
        size += scratch.marks[reverse.positions[e] / k] != i;
    }
    return size;
}

// Writes row i of P's numerator, columns ascending, to columns and values:
// P(j|i) + P(i|j), summed in that order where both exist.  Returns the sum of
// the row's values.
template <class Position>
double write_row(const std::int64_t* neighbors, const double* conditional, std::int64_t k,
                 const Reverse<Position>& reverse, std::int64_t i, RowScratch& scratch,
                 std::int32_t* columns, double* values) {
    scratch.sorted.resize(k);
    std::uint64_t* forward = scratch.sorted.data();
    const std::int64_t* listed = neighbors + i * k;
    for (std::int64_t c = 0; c < k; ++c) {
        forward[c] = std::uint64_t(listed[c]) << 32 | std::uint64_t(c);
    }
    std::sort(forward, forward + k);
    std::int64_t x = 0, y = reverse.indptr[i], count = 0;
    const std::int64_t y_end = reverse.indptr[i + 1], last = reverse.indptr.back();
    double sum = 0.0;
    while (x < k || y < y_end) {
        // The reverse entries' values are scattered over the input: asked for
        // ahead (in this row or the next ones), they have come from memory when read.
        if (y + kValuesAhead < last) {
            __builtin_prefetch(conditional + reverse.positions[y + kValuesAhead]);
        }
        const std::int64_t forward_column =
            x < k ? static_cast<std::int64_t>(forward[x] >> 32)
                  : std::numeric_limits<std::int64_t>::max();
        const std::int64_t reverse_column =
            y < y_end ? static_cast<std::int64_t>(reverse.positions[y]) / k
                      : std::numeric_limits<std::int64_t>::max();
        const std::int64_t column = std::min(forward_column, reverse_column);
        double value = 0.0;
        if (forward_column == column) value = conditional[i * k + (forward[x++] & 0xffffffffu)];
        if (reverse_column == column) value += conditional[reverse.positions[y++]];
        columns[count] = static_cast<std::int32_t>(column);
        values[count] = value;
        sum += value;
        ++count;
    }
    return sum;
}

template <class Position>
CsrMatrix symmetrize_with(const std::int64_t* neighbors, const double* conditional,
                          std::int64_t n, std::int64_t k, const RunOptions& options) {
    const Reverse<Position> reverse = transpose<Position>(n, k, neighbors, options.n_threads);
    CsrMatrix p;
    p.indptr.assign(n + 1, 0);
    for_each_row(n, options, [&](std::int64_t i, RowScratch& scratch) {
        p.indptr[i + 1] = row_size(neighbors, k, reverse, i, scratch);
    });
    for (std::int64_t i = 0; i < n; ++i) p.indptr[i + 1] += p.indptr[i];

    p.indices.resize(p.indptr[n]);
    p.data.resize(p.indptr[n]);
    std::vector<double> row_sums(n);
    for_each_row(n, options, [&](std::int64_t i, RowScratch& scratch) {
        row_sums[i] = write_row(neighbors, conditional, k, reverse, i, scratch,
                                p.indices.data() + p.indptr[i], p.data.data() + p.indptr[i]);
    });

    double total = 0.0;  // summed in row order, so independent of the thread count
    for (double s : row_sums) total += s;
    if (!(total > 0.0)) throw std::invalid_argument("conditional probabilities sum to zero");
    const double scale = 1.0 / total;
    const std::int64_t nnz = p.indptr[n];
#pragma omp parallel for schedule(static) num_threads(std::max(1, options.n_threads))
    for (std::int64_t e = 0; e < nnz; ++e) p.data[e] *= scale;
    return p;
}

}  // namespace

CsrMatrix symmetrize(const std::int64_t* neighbors, const double* conditional, std::int64_t n,
                     std::int64_t k, const RunOptions& options) {
    if (n < 1 || k < 1) throw std::invalid_argument("need at least one row and one neighbour");
    if (n > std::numeric_limits<std::int32_t>::max()) {
        throw std::invalid_argument("more than 2^31 - 1 points are not supported");
    }
    for_each_block(block_count(n, kRowBlock), options, [&](std::int64_t b, ParallelGuard&) {
        for (std::int64_t i = b * kRowBlock; i < std::min(n, (b + 1) * kRowBlock); ++i) {
            check_row(neighbors + i * k, conditional + i * k, i, n, k);
        }
    });
    // Positions in 32 bits where they fit: half the memory of the transpose.
    if (n * k <= std::int64_t{std::numeric_limits<std::uint32_t>::max()}) {
        return symmetrize_with<std::uint32_t>(neighbors, conditional, n, k, options);
    }
    return symmetrize_with<std::int64_t>(neighbors, conditional, n, k, options);
}

}  // namespace tsne
