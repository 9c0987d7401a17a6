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

// A sparse matrix under construction: rows of (column, value), each row's
// columns ascending.
struct SortedRows {
    Buffer<std::int64_t> indptr;
    Buffer<std::int32_t> columns;
    Buffer<double> values;
};

// The transpose of the n x n matrix whose row i holds columns[indptr[i] ..
// indptr[i + 1]) and their values.  A counting sort: the rows of the result
// list their columns in ascending order whatever the input order was.  Each
// thread scatters a contiguous range of source rows into slots reserved after
// those of the lower ranges, so the result does not depend on the thread count.
SortedRows transpose(std::int64_t n, const std::int64_t* indptr, const std::int64_t* columns,
                     const double* values, int n_threads) {
    const std::int64_t nnz = indptr[n];
    const int parts =
        static_cast<int>(std::max<std::int64_t>(1, std::min<std::int64_t>(n_threads, n)));
    // counts[p][j]: entries of column j among the rows of part p; then reused
    // as part p's write cursor into row j of the transpose.
    std::vector<std::vector<std::int64_t>> counts(parts, std::vector<std::int64_t>(n, 0));
    auto first_row = [&](int part) { return n * part / parts; };

#pragma omp parallel for schedule(static, 1) num_threads(parts)
    for (int part = 0; part < parts; ++part) {
        std::int64_t* count = counts[part].data();
        for (std::int64_t e = indptr[first_row(part)]; e < indptr[first_row(part + 1)]; ++e) {
            ++count[columns[e]];
        }
    }
    SortedRows t{Buffer<std::int64_t>(n + 1), Buffer<std::int32_t>(nnz), Buffer<double>(nnz)};
    std::int64_t offset = 0;
    for (std::int64_t j = 0; j < n; ++j) {
        t.indptr[j] = offset;
        for (int part = 0; part < parts; ++part) {
            const std::int64_t c = counts[part][j];
            counts[part][j] = offset;
            offset += c;
        }
    }
    t.indptr[n] = offset;

#pragma omp parallel for schedule(static, 1) num_threads(parts)
    for (int part = 0; part < parts; ++part) {
        std::int64_t* cursor = counts[part].data();
        for (std::int64_t i = first_row(part); i < first_row(part + 1); ++i) {
            for (std::int64_t e = indptr[i]; e < indptr[i + 1]; ++e) {
                const std::int64_t slot = cursor[columns[e]]++;
                t.columns[slot] = static_cast<std::int32_t>(i);
                t.values[slot] = values[e];
            }
        }
    }
    return t;
}

// Runs body(i) for every row, in parallel blocks of rows.
template <class Body>
void for_each_row(std::int64_t n, const RunOptions& options, Body&& body) {
    for_each_block(block_count(n, kRowBlock), options, [&](std::int64_t b, ParallelGuard&) {
        const std::int64_t end = std::min(n, (b + 1) * kRowBlock);
        for (std::int64_t i = b * kRowBlock; i < end; ++i) body(i);
    });
}

// The n x n matrix with k entries per row, row i holding columns[i * k + c]
// and values[i * k + c], with each row's columns put in ascending order.
SortedRows sort_rows(std::int64_t n, std::int64_t k, const std::int64_t* columns,
                     const double* values, const RunOptions& options) {
    SortedRows rows{Buffer<std::int64_t>(n + 1), Buffer<std::int32_t>(n * k),
                    Buffer<double>(n * k)};
    for (std::int64_t i = 0; i <= n; ++i) rows.indptr[i] = i * k;
    for_each_row(n, options, [&](std::int64_t i) {
        const std::int64_t* row_columns = columns + i * k;
        std::int32_t* out_columns = rows.columns.data() + i * k;
        double* out_values = rows.values.data() + i * k;
        for (std::int64_t c = 0; c < k; ++c) out_columns[c] = static_cast<std::int32_t>(c);
        // Positions by column; ties (repeated neighbours) are rejected later.
        std::sort(out_columns, out_columns + k, [&](std::int32_t a, std::int32_t b) {
            return row_columns[a] < row_columns[b];
        });
        for (std::int64_t c = 0; c < k; ++c) {
            const std::int32_t position = out_columns[c];
            out_values[c] = values[i * k + position];
            out_columns[c] = static_cast<std::int32_t>(row_columns[position]);
        }
    });
    return rows;
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

void check_no_repeats(const SortedRows& rows, std::int64_t i) {
    for (std::int64_t e = rows.indptr[i] + 1; e < rows.indptr[i + 1]; ++e) {
        if (rows.columns[e] == rows.columns[e - 1]) {
            throw std::invalid_argument("row " + std::to_string(i) + " lists neighbour " +
                                        std::to_string(rows.columns[e]) + " twice");
        }
    }
}

// Merges row i of a and b (both sorted).  With `columns` and `values` null it
// only counts the distinct columns; otherwise it writes the summed entries
// there.  Returns (count, sum of the values).
std::pair<std::int64_t, double> merge_rows(const SortedRows& a, const SortedRows& b,
                                           std::int64_t i, std::int32_t* columns,
                                           double* values) {
    std::int64_t x = a.indptr[i], y = b.indptr[i], count = 0;
    const std::int64_t x_end = a.indptr[i + 1], y_end = b.indptr[i + 1];
    double sum = 0.0;
    while (x < x_end || y < y_end) {
        std::int32_t column;
        double value;
        if (y == y_end || (x < x_end && a.columns[x] < b.columns[y])) {
            column = a.columns[x];
            value = a.values[x++];
        } else if (x == x_end || b.columns[y] < a.columns[x]) {
            column = b.columns[y];
            value = b.values[y++];
        } else {
            column = a.columns[x];
            value = a.values[x++] + b.values[y++];
        }
        if (columns) {
            columns[count] = column;
            values[count] = value;
        }
        sum += value;
        ++count;
    }
    return {count, sum};
}

}  // namespace

CsrMatrix symmetrize(const std::int64_t* neighbors, const double* conditional, std::int64_t n,
                     std::int64_t k, const RunOptions& options) {
    if (n < 1 || k < 1) throw std::invalid_argument("need at least one row and one neighbour");
    if (n > std::numeric_limits<std::int32_t>::max()) {
        throw std::invalid_argument("more than 2^31 - 1 points are not supported");
    }
    for_each_row(n, options, [&](std::int64_t i) {
        check_row(neighbors + i * k, conditional + i * k, i, n, k);
    });
    // P(j|i) by row i with columns sorted (each row sorted where it lies), and
    // P(i|j) by row i (a transpose: one scattered write per entry); the input
    // has forward's row bounds, k entries a row.
    const SortedRows forward = sort_rows(n, k, neighbors, conditional, options);
    const SortedRows reverse =
        transpose(n, forward.indptr.data(), neighbors, conditional, options.n_threads);

    CsrMatrix p;
    p.indptr.assign(n + 1, 0);
    for_each_row(n, options, [&](std::int64_t i) {
        check_no_repeats(forward, i);
        p.indptr[i + 1] = merge_rows(forward, reverse, i, nullptr, nullptr).first;
    });
    for (std::int64_t i = 0; i < n; ++i) p.indptr[i + 1] += p.indptr[i];

    p.indices.resize(p.indptr[n]);
    p.data.resize(p.indptr[n]);
    std::vector<double> row_sums(n);
    for_each_row(n, options, [&](std::int64_t i) {
        row_sums[i] = merge_rows(forward, reverse, i, p.indices.data() + p.indptr[i],
                                 p.data.data() + p.indptr[i]).second;
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

}  // namespace tsne
